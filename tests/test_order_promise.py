from odoo.tests import tagged

from odoo.addons.queue_job.tests.common import trap_jobs

from .common import OrderCase


@tagged("post_install", "-at_install")
class TestPromisedUntilFulfilled(OrderCase):
    """An accepted order is promised demand until its sale order exists, in
    every state on the way, and every state change marks the listings of
    every channel sharing its warehouse."""

    def _intake(self, external_id="P1", quantity=4):
        status, answer = self._receive(
            self.channel,
            {
                "external_id": external_id,
                "customer": {"name": "Promise Keeper", "email": "pk@example.com"},
                "lines": [
                    {
                        "sku": self.listing.external_sku,
                        "quantity": quantity,
                        "unit_price": 5,
                    }
                ],
            },
        )
        self.assertEqual(status, 202, answer)
        return self._channel_order(self.channel, external_id)

    def _assert_marked(self):
        """Both listings of the product (sharing the main warehouse) are
        pending; the marks are then cleared for the next transition."""
        listings = self.listing | self.listing_both
        listings.invalidate_recordset(["pending"])
        self.assertEqual(listings.filtered("pending"), listings)
        self._clear_pending()

    def _fail_processing(self, order):
        """A technical user without sales rights: the order goes to error."""
        self.robot.groups_id -= self.env.ref("sales_team.group_sale_salesman")
        order.with_user(self.robot)._process()
        self.robot.groups_id |= self.env.ref("sales_team.group_sale_salesman")
        self.assertEqual(order.state, "error")

    def setUp(self):
        super().setUp()
        self.before = self._atp(self.listing)
        self._clear_pending()

    def test_received_promises_and_marks(self):
        """Intake: 4 promised at once, listings marked."""
        self._intake()
        self.assertEqual(self._atp(self.listing), self.before - 4)
        self.assertEqual(self._atp(self.listing_both), self.before - 4)
        self._assert_marked()

    def test_error_still_promised(self):
        """received -> error: still owed to the customer, still promised."""
        order = self._intake()
        self._clear_pending()
        self._fail_processing(order)
        self.assertEqual(self._atp(self.listing), self.before - 4)
        self._assert_marked()

    def test_reprocessing_still_promised(self):
        """error -> received (Reprocess): promised throughout, marked; then
        done: the sale order's reservation carries the same demand."""
        order = self._intake()
        self._fail_processing(order)
        self._clear_pending()
        with trap_jobs():
            order.action_reprocess()
        self.assertEqual(order.state, "received")
        self.assertEqual(self._atp(self.listing), self.before - 4)
        self._assert_marked()
        order.with_user(self.robot)._process()
        self.assertEqual(order.state, "done")
        self.assertEqual(self._atp(self.listing), self.before - 4)
        self._assert_marked()

    def test_done_hands_over_to_the_sale_order(self):
        """received -> done: counted once, by the moves, and marked."""
        order = self._intake()
        self._clear_pending()
        order.with_user(self.robot)._process()
        self.assertEqual(order.state, "done")
        self.assertEqual(self._atp(self.listing), self.before - 4)
        self._assert_marked()

    def test_cancel_from_error_releases(self):
        """error -> cancelled: the promise stops, listings marked."""
        order = self._intake()
        self._fail_processing(order)
        self._clear_pending()
        order._cancel_from_channel()
        self.assertEqual(order.state, "cancelled")
        self.assertEqual(self._atp(self.listing), self.before)
        self._assert_marked()

    def test_cancel_from_received_releases(self):
        """received -> cancelled: the promise stops, listings marked."""
        order = self._intake()
        self._clear_pending()
        order._cancel_from_channel()
        self.assertEqual(self._atp(self.listing), self.before)
        self._assert_marked()

    def test_cancel_after_done_releases_the_reservation(self):
        """done -> cancelled: the sale order is cancelled, stock released."""
        order = self._intake()
        order.with_user(self.robot)._process()
        self._clear_pending()
        order._cancel_from_channel()
        self.assertEqual(order.sale_order_id.state, "cancel")
        self.assertEqual(self._atp(self.listing), self.before)
        self._assert_marked()
