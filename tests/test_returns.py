import json

from odoo import Command
from odoo.exceptions import AccessError, UserError
from odoo.tests import Form, new_test_user, tagged

from odoo.addons.queue_job.tests.common import trap_jobs

from .common import TECHNICAL_USER_GROUPS, OrderCase, answered

INSPECTOR_GROUPS = "base.group_user,stock.group_stock_user"


class ReturnCase(OrderCase):
    """A sandbox channel on the main warehouse whose orders ship, a
    warehouse user who inspects, and helpers for the whole return flow."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.shop = cls._create_channel(
            "ret-shop", cls.wh_main, adapter="sandbox", user_id=cls.robot.id
        )
        cls.shop_listing = cls._create_listing(cls.shop, cls.product)
        cls.inspector = new_test_user(
            cls.env, login="ret_inspector", groups=INSPECTOR_GROUPS
        )

    def _order_body(self, external_id, quantity=3, sku=None):
        return {
            "external_id": external_id,
            "customer": {"name": "Ret Buyer", "email": "ret@example.com"},
            "lines": [
                {
                    "sku": sku or self.shop_listing.external_sku,
                    "quantity": quantity,
                    "unit_price": 10.0,
                }
            ],
        }

    def _confirmed_order(self, external_id, quantity=3):
        status, answer = self._receive(
            self.shop, self._order_body(external_id, quantity)
        )
        self.assertEqual(status, 202, answer)
        order = self._channel_order(self.shop, external_id)
        order.with_user(self.robot)._process()
        self.assertEqual(order.state, "done", order.error_message)
        return order

    def _delivered_order(self, external_id, quantity=3):
        order = self._confirmed_order(external_id, quantity)
        picking = order.sale_order_id.picking_ids
        picking.move_ids.picked = True
        picking.button_validate()
        self.assertEqual(picking.state, "done")
        return order

    def _return(self, order, return_id, lines):
        """What the returns endpoint does once the signature is checked;
        the job enqueued is trapped, not run."""
        body = json.dumps({"return_id": return_id, "lines": lines}).encode()
        with trap_jobs() as trap:
            outcome = order.with_user(self.robot)._receive_return(body)
            if outcome.kind == "accepted":
                trap.assert_jobs_count(1, only=order._process_return)
            else:
                trap.assert_jobs_count(0)
        return outcome

    def _run_return(self, order, return_id):
        channel_return = self._stored(order, return_id)
        order.with_user(self.robot)._process_return(channel_return.id)
        return channel_return

    def _stored(self, order, return_id):
        return self.env["stock.channel.return"].search(
            [("order_id", "=", order.id), ("external_id", "=", return_id)]
        )

    def _validate(self, picking, user=None):
        picking = picking.with_user(user or self.inspector)
        picking.move_ids.picked = True
        picking.button_validate()
        self.assertEqual(picking.state, "done")

    def _marketplace_refund(self, order, return_id, items):
        """A marketplace refund (``restock_type`` given) stored as Shopify's."""
        outcome = self._marketplace_refund_outcome(order, return_id, items)
        self.assertEqual(outcome.kind, "accepted", outcome.answer)
        return outcome

    def _marketplace_refund_outcome(self, order, return_id, items):
        from ..services import return_intake
        from ..services.return_payloads import validate_return

        canonical = {
            "return_id": return_id,
            "lines": [
                {
                    "sku": self.shop_listing.external_sku,
                    "quantity": quantity,
                    "restock_type": restock_type,
                }
                for quantity, restock_type in items
            ],
        }
        with trap_jobs():
            return return_intake.store(
                order.with_user(self.robot), validate_return(canonical), "shopify"
            )

    def _line(self, quantity=1, restock=True, sku=None, reason="too small"):
        return {
            "sku": sku or self.shop_listing.external_sku,
            "quantity": quantity,
            "reason": reason,
            "restock": restock,
        }


@tagged("post_install", "-at_install")
class TestReturnFlow(ReturnCase):
    """A generic return from the endpoint's intake to sellable stock."""

    def test_returns_location_is_created_once_and_not_sellable(self):
        """Per warehouse, on demand, internal under its view, not sellable,
        in the warehouse's company; the damaged location likewise."""
        warehouse = self.wh_other.with_user(self.inspector)
        location = warehouse._channel_returns_location()
        self.assertEqual(location, warehouse._channel_returns_location())
        self.assertEqual(location.usage, "internal")
        self.assertFalse(location.channel_sellable)
        self.assertEqual(location.location_id, self.wh_other.view_location_id)
        self.assertEqual(location.company_id, self.wh_other.company_id)
        other = self.env["res.company"].create({"name": "Returns Loc Co"})
        other_wh = self.env["stock.warehouse"].search([("company_id", "=", other.id)])
        self.assertEqual(other_wh._channel_returns_location().company_id, other)
        damaged = warehouse._channel_damaged_location()
        self.assertFalse(damaged.channel_sellable)
        self.assertNotEqual(damaged, location)
        self.assertEqual(self.wh_other.channel_damaged_location_id, damaged)

    def test_generic_return_end_to_end(self):
        """Stored once -> job -> Ready receipt into the returns location ->
        validated: ATP unchanged -> accepted: ATP up, listing pending,
        published on the sandbox shelf."""
        order = self._delivered_order("R-100", 3)
        self.assertEqual(self._atp(self.shop_listing), 27)
        outcome = self._return(order, "RET-1", [self._line(2)])
        self.assertEqual(outcome.kind, "accepted", outcome.answer)
        self.assertEqual(outcome.answer["return_id"], "RET-1")
        channel_return = self._run_return(order, "RET-1")
        self.assertEqual(channel_return.state, "open")
        receipt = channel_return.picking_ids
        self.assertEqual(len(receipt), 1)
        self.assertEqual(receipt.state, "assigned", "Ready, not validated")
        returns_location = self.wh_main.channel_returns_location_id
        self.assertEqual(receipt.location_dest_id, returns_location)
        self.assertEqual(receipt.return_id, order.sale_order_id.picking_ids[:1])
        line = channel_return.line_ids
        self.assertEqual(line.state, "to_receive")
        self.assertEqual(line.receipt_picking_id, receipt)
        self.assertEqual(line.reason, "too small")

        self._validate(receipt)
        self.assertEqual(line.state, "to_inspect")
        self.assertTrue(line.received_at)
        self.assertEqual(
            self.env["stock.quant"]._get_available_quantity(
                self.product, returns_location
            ),
            2,
        )
        self.assertEqual(self._atp(self.shop_listing), 27, "not sellable yet")
        self.assertEqual(self.shop.return_to_inspect_count, 1)
        self.assertEqual(self.shop.oldest_return_age, 0)

        self._clear_pending()
        line.with_user(self.inspector).action_accept()
        self.assertEqual(line.state, "accepted")
        self.assertEqual(line.inspection_move_id.state, "done")
        self.assertEqual(line.inspection_move_id.location_dest_id, self.stock_main)
        self.assertEqual(line.inspected_by_id, self.inspector)
        self.assertEqual(channel_return.state, "done")
        self._flush_marks()
        self.shop_listing.invalidate_recordset()
        self.assertTrue(self.shop_listing.pending)
        self.assertEqual(self._atp(self.shop_listing), 29)
        self.shop._as_technical_user().with_context(
            job_uuid="ret-job"
        )._publish_pending()
        shelf = self.env["stock.channel.sandbox.shelf"].search(
            [("channel_id", "=", self.shop.id)]
        )
        self.assertEqual(shelf.quantity, 29)

    def test_replay_is_a_duplicate(self):
        """The same return_id again: 200 duplicate, nothing more written."""
        order = self._delivered_order("R-101", 3)
        self.assertEqual(self._return(order, "RET-2", [self._line(1)]).kind, "accepted")
        again = self._return(order, "RET-2", [self._line(1)])
        self.assertEqual(again.kind, "duplicate")
        self.assertEqual(again.answer["return_id"], "RET-2")
        self.assertEqual(len(order.return_ids), 1)
        self.assertEqual(len(order.return_ids.line_ids), 1)

    def test_more_than_delivered_is_refused_and_nothing_written(self):
        """Delivered 3, returned 2 already: 2 more is refused (422 details),
        an unknown SKU too, every problem at once; nothing is stored."""
        order = self._delivered_order("R-102", 3)
        self._return(order, "RET-3", [self._line(2)])
        outcome = self._return(
            order, "RET-4", [self._line(2), self._line(1, sku="NOT-ON-ORDER")]
        )
        self.assertEqual(outcome.kind, "invalid_return")
        self.assertEqual(
            [detail["field"] for detail in outcome.answer["details"]],
            ["lines[0].quantity", "lines[1].sku"],
        )
        self.assertIn("(1)", outcome.answer["details"][0]["message"])
        self.assertFalse(self._stored(order, "RET-4"))
        self.assertEqual(len(order.return_ids.line_ids), 1)

    def test_return_of_an_undelivered_order_is_refused(self):
        """Confirmed but not shipped: nothing can come back."""
        order = self._confirmed_order("R-103", 3)
        outcome = self._return(order, "RET-5", [self._line(1)])
        self.assertEqual(outcome.kind, "invalid_return")
        self.assertIn("delivered", outcome.answer["details"][0]["message"])
        self.assertFalse(order.return_ids)

    def test_structural_errors(self):
        """Missing return_id, no lines, non-finite or negative quantity,
        restock not a boolean, too many lines: 422, all at once."""
        order = self._delivered_order("R-104", 3)
        body = json.dumps(
            {
                "lines": [
                    {"sku": "X", "quantity": -1},
                    {"sku": "X", "quantity": "1", "restock": "yes"},
                ]
            }
        ).encode()
        outcome = order.with_user(self.robot)._receive_return(body)
        self.assertEqual(outcome.kind, "invalid_return")
        fields = {detail["field"] for detail in outcome.answer["details"]}
        self.assertEqual(
            fields,
            {
                "return_id",
                "lines[0].quantity",
                "lines[1].quantity",
                "lines[1].restock",
            },
        )
        many = [self._line(1)] * 251
        outcome = self._return(order, "RET-MANY", many)
        self.assertEqual(outcome.answer["details"][0]["field"], "lines")
        nan = order.with_user(self.robot)._receive_return(
            b'{"return_id": "N", "lines": [{"sku": "X", "quantity": NaN}]}'
        )
        self.assertEqual(nan.kind, "invalid_json")
        self.assertFalse(order.return_ids)

    def test_no_restock_is_recorded_only(self):
        """restock false: recorded, no receipt, nothing to inspect."""
        order = self._delivered_order("R-105", 3)
        self._return(order, "RET-6", [self._line(1, restock=False)])
        channel_return = self._run_return(order, "RET-6")
        self.assertFalse(channel_return.picking_ids)
        self.assertEqual(channel_return.line_ids.state, "recorded")
        self.assertEqual(channel_return.line_ids.restock_type, "no_restock")
        self.assertEqual(channel_return.state, "done")

    def test_damaged_and_scrapped(self):
        """One line to the damaged location, one scrapped; neither sellable,
        the reasons kept; bulk on a mixed selection is refused."""
        order = self._delivered_order("R-106", 3)
        self._return(
            order, "RET-7", [self._line(1, reason="torn"), self._line(1, reason="wet")]
        )
        channel_return = self._run_return(order, "RET-7")
        self._validate(channel_return.picking_ids)
        torn, wet = channel_return.line_ids
        self.assertEqual((torn.state, wet.state), ("to_inspect", "to_inspect"))
        torn.with_user(self.inspector).action_damaged()
        with self.assertRaises(UserError):
            (torn | wet).with_user(self.inspector).action_scrap()
        wet.with_user(self.inspector).action_scrap()
        self.assertEqual(torn.state, "damaged")
        damaged = self.wh_main.channel_damaged_location_id
        self.assertEqual(torn.inspection_move_id.location_dest_id, damaged)
        self.assertFalse(damaged.channel_sellable)
        self.assertEqual(wet.state, "scrapped")
        self.assertEqual(wet.scrap_id.state, "done")
        self.assertEqual(wet.reason, "wet")
        self.assertEqual(self._atp(self.shop_listing), 27)
        self.assertEqual(channel_return.state, "done")

    def test_partial_receipts(self):
        """2 returned, 1 arrives with a backorder: still to receive until the
        backorder is done; then inspected with what arrived. 1 arrives and
        the rest is given up: 1 to inspect."""
        order = self._delivered_order("R-108", 5)
        self._return(order, "RET-9", [self._line(2)])
        line = self._run_return(order, "RET-9").line_ids
        receipt = line.receipt_picking_id
        receipt.move_ids.quantity = 1
        receipt.move_ids.picked = True
        receipt.with_user(self.inspector).with_context(
            skip_backorder=True
        ).button_validate()
        self.assertEqual(line.state, "to_receive")
        self._validate(receipt.backorder_ids)
        self.assertEqual((line.state, line.received_qty), ("to_inspect", 2))

        self._return(order, "RET-10", [self._line(1, reason="a"), self._line(1)])
        first, second = self._run_return(order, "RET-10").line_ids
        receipt = first.receipt_picking_id
        receipt.move_ids.quantity = 1
        receipt.move_ids.picked = True
        receipt.with_user(self.inspector).with_context(
            skip_backorder=True, picking_ids_not_to_backorder=receipt.ids
        ).button_validate()
        self.assertEqual((first.state, first.received_qty), ("to_inspect", 1))
        self.assertEqual(second.state, "cancelled")
        first.with_user(self.inspector).action_accept()
        self.assertEqual(first.inspection_move_id.quantity, 1)

    def test_goods_shipped_in_two_deliveries_come_back_in_two_receipts(self):
        """3 shipped as 2 + 1 (a backorder): a return of 3 makes one receipt
        per delivery; the line waits until both are validated, then holds
        all 3."""
        order = self._confirmed_order("R-109", 3)
        first = order.sale_order_id.picking_ids
        first.move_ids.quantity = 2
        first.move_ids.picked = True
        first.with_context(skip_backorder=True).button_validate()
        first.backorder_ids.move_ids.picked = True
        first.backorder_ids.button_validate()
        self.assertEqual(order.sale_order_id.picking_ids.mapped("state"), ["done"] * 2)
        self._return(order, "RET-11", [self._line(3)])
        line = self._run_return(order, "RET-11").line_ids
        receipts = line.receipt_move_ids.picking_id
        self.assertEqual(len(receipts), 2)
        self._validate(receipts[0])
        self.assertEqual(line.state, "to_receive")
        self._validate(receipts[1])
        self.assertEqual((line.state, line.received_qty), ("to_inspect", 3))

    def test_error_state_when_the_receipt_cannot_be_built(self):
        """The delivery was returned by hand meanwhile: the return goes to
        error with a to-do, nothing half done; Reprocess enqueues again."""
        order = self._delivered_order("R-107", 2)
        self._return(order, "RET-8", [self._line(2)])
        delivery = order.sale_order_id.picking_ids
        wizard = (
            self.env["stock.return.picking"]
            .with_context(active_id=delivery.id, active_model="stock.picking")
            .create({})
        )
        wizard.product_return_moves.quantity = 2
        wizard.action_create_returns()
        channel_return = self._run_return(order, "RET-8")
        self.assertEqual(channel_return.state, "error")
        self.assertTrue(channel_return.error_message)
        self.assertFalse(channel_return.picking_ids)
        self.assertTrue(order.activity_ids)
        with trap_jobs() as trap:
            channel_return.with_user(self.robot).action_reprocess()
            trap.assert_jobs_count(1, only=order._process_return)
        self.assertEqual(channel_return.state, "received")


@tagged("post_install", "-at_install")
class TestReturnCancellation(ReturnCase):
    """Refunded before shipping: fewer left to deliver, promise released."""

    def test_cancel_before_the_sale_order_releases_the_promise(self):
        """No sale order yet: the promised lines shrink, ATP rises."""
        status, answer = self._receive(self.shop, self._order_body("C-1", 5))
        self.assertEqual(status, 202, answer)
        order = self._channel_order(self.shop, "C-1")
        self.assertEqual(self._atp(self.shop_listing), 25)
        canonical = {
            "return_id": "REF-C1",
            "lines": [
                {
                    "sku": self.shop_listing.external_sku,
                    "quantity": 2,
                    "restock_type": "cancel",
                }
            ],
        }
        from ..services import return_intake
        from ..services.return_payloads import validate_return

        robot_order = order.with_user(self.robot)
        with trap_jobs():
            outcome = return_intake.store(
                robot_order, validate_return(canonical), "shopify"
            )
        self.assertEqual(outcome.kind, "accepted", outcome.answer)
        self._run_return(order, "REF-C1")
        self.assertEqual(order.line_ids.product_qty, 3)
        self.assertEqual(self._atp(self.shop_listing), 27)
        line = self._stored(order, "REF-C1").line_ids
        self.assertTrue(line.applied)
        self.assertEqual(line.state, "recorded")
        too_many = dict(canonical, return_id="REF-C2")
        too_many["lines"] = [dict(canonical["lines"][0], quantity=4)]
        with trap_jobs():
            outcome = return_intake.store(
                robot_order, validate_return(too_many), "shopify"
            )
        self.assertEqual(outcome.kind, "invalid_return")

    def test_cancel_after_confirmation_reduces_the_delivery(self):
        """Sale order confirmed, nothing shipped: its line and its delivery
        ask for less."""
        order = self._confirmed_order("C-2", 5)
        from ..services import return_intake
        from ..services.return_payloads import validate_return

        canonical = {
            "return_id": "REF-C3",
            "lines": [
                {
                    "sku": self.shop_listing.external_sku,
                    "quantity": 2,
                    "restock_type": "cancel",
                }
            ],
        }
        with trap_jobs():
            return_intake.store(
                order.with_user(self.robot), validate_return(canonical), "shopify"
            )
        self._run_return(order, "REF-C3")
        sale_line = order.sale_order_id.order_line.filtered(
            lambda s: s.product_id == self.product
        )
        self.assertEqual(sale_line.product_uom_qty, 3)
        delivery = order.sale_order_id.picking_ids.filtered(
            lambda p: p.state not in ("done", "cancel")
        )
        self.assertEqual(sum(delivery.move_ids.mapped("product_uom_qty")), 3)
        self.assertEqual(self._atp(self.shop_listing), 27)

    def test_released_promise_publishes_on_sharing_channels(self):
        """Before the sale order: a refunded, unshipped line releases its
        promise on every channel sharing the warehouse (ATP 7 -> 9 on the
        sandbox channel), whose listing is marked and publishes 9."""
        sharing = self._create_channel(
            "ret-sharing", self.wh_main, adapter="sandbox", user_id=self.robot.id
        )
        sharing_listing = self._create_listing(
            sharing, self.product, external_sku="RET-SHARED"
        )
        status, answer = self._receive(self.shop, self._order_body("C-4", 23))
        self.assertEqual(status, 202, answer)
        order = self._channel_order(self.shop, "C-4")
        self.assertEqual(self._atp(sharing_listing), 7)
        self._clear_pending()
        self._marketplace_refund(order, "REF-C5", [(2, "cancel")])
        self._run_return(order, "REF-C5")
        self._flush_marks()
        (sharing_listing | self.shop_listing).invalidate_recordset()
        self.assertEqual(self._atp(sharing_listing), 9)
        self.assertTrue(sharing_listing.pending)
        self.assertTrue(self.shop_listing.pending)
        sharing._as_technical_user().with_context(
            job_uuid="ret-sharing-job"
        )._publish_pending()
        shelf = self.env["stock.channel.sandbox.shelf"].search(
            [("channel_id", "=", sharing.id)]
        )
        self.assertEqual(shelf.quantity, 9)


@tagged("post_install", "-at_install")
class TestReturnCreditNote(ReturnCase):
    """An invoiced order gets a draft credit note for the refunded lines."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        if not cls.env["account.journal"].search(
            [("type", "=", "sale"), ("company_id", "=", cls.company.id)], limit=1
        ):
            cls.env["account.chart.template"].try_loading(
                "generic_coa", cls.company, install_demo=False
            )

    def test_draft_credit_note_when_invoiced(self):
        """Posted invoice -> draft out_refund of the returned quantity at the
        sale price, linked to the sale line; never posted."""
        order = self._delivered_order("I-1", 3)
        sale = order.sale_order_id
        invoice = sale._create_invoices()
        invoice.action_post()
        self._return(order, "RET-I1", [self._line(1)])
        channel_return = self._run_return(order, "RET-I1")
        credit_note = channel_return.credit_note_id
        self.assertEqual(credit_note.move_type, "out_refund")
        self.assertEqual(credit_note.state, "draft")
        self.assertEqual(credit_note.reversed_entry_id, invoice)
        self.assertEqual(credit_note.invoice_line_ids.quantity, 1)
        self.assertEqual(credit_note.invoice_line_ids.price_unit, 10.0)
        self.assertEqual(
            credit_note.invoice_line_ids.sale_line_ids, sale.order_line[:1]
        )
        self.assertEqual(channel_return.line_ids.credit_note_id, credit_note)

    def test_credit_note_leaves_out_lines_never_shipped(self):
        """Invoiced on order (5), shipped 3: a refund of 2 unshipped, 1
        returned and 1 refunded without return credits the 2 delivered
        only; the unshipped ones lowered the sale order's quantity, which
        Odoo's own invoicing settles (crediting them too would credit the
        customer twice)."""
        self.product.invoice_policy = "order"
        order = self._confirmed_order("I-3", 5)
        sale = order.sale_order_id
        delivery = sale.picking_ids
        delivery.move_ids.quantity = 3
        delivery.move_ids.picked = True
        delivery.with_context(skip_backorder=True).button_validate()
        invoice = sale._create_invoices()
        invoice.action_post()
        self.assertEqual(sum(invoice.invoice_line_ids.mapped("quantity")), 5)
        self._marketplace_refund(
            order, "REF-I3", [(2, "cancel"), (1, "return"), (1, "no_restock")]
        )
        channel_return = self._run_return(order, "REF-I3")
        unshipped = channel_return.line_ids.filtered("unshipped")
        self.assertEqual((unshipped.restock_type, unshipped.product_qty), ("cancel", 2))
        sale_line = sale.order_line.filtered(lambda s: s.product_id == self.product)
        self.assertEqual(sale_line.product_uom_qty, 3)
        credit_note = channel_return.credit_note_id
        self.assertEqual(credit_note.state, "draft")
        self.assertEqual(credit_note.invoice_line_ids.mapped("quantity"), [1, 1])
        self.assertEqual(sum(credit_note.invoice_line_ids.mapped("quantity")), 2)

    def test_no_credit_note_without_posted_invoice(self):
        order = self._delivered_order("I-2", 3)
        self._return(order, "RET-I2", [self._line(1)])
        self.assertFalse(self._run_return(order, "RET-I2").credit_note_id)


@tagged("post_install", "-at_install")
class TestReturnAccess(ReturnCase):
    """Stock users read and inspect returns of their companies only; other
    users see none."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.other_company = cls.env["res.company"].create({"name": "Returns Other Co"})
        cls.outsider = new_test_user(
            cls.env, login="ret_outsider", groups="base.group_user"
        )

    def test_stock_user_reads_and_inspects_own_company_only(self):
        order = self._delivered_order("A-1", 3)
        self._return(order, "RET-A1", [self._line(1)])
        channel_return = self._run_return(order, "RET-A1")
        line = channel_return.line_ids
        Line = self.env["stock.channel.return.line"].with_user(self.inspector)
        self.assertEqual(Line.search([("id", "=", line.id)]), line)
        with self.assertRaises(AccessError):
            Line.create(
                {
                    "channel_return_id": channel_return.id,
                    "product_id": self.product.id,
                    "sku": "X",
                    "restock_type": "return",
                }
            )
        with self.assertRaises(AccessError):
            self.env["stock.channel.return.line"].with_user(self.outsider).search([])
        with self.assertRaises(AccessError):
            self.env["stock.channel.return"].with_user(self.outsider).search([])

    def test_validation_by_a_user_without_return_rights(self):
        """Whoever validates a return receipt (a POS or manufacturing user
        through their own flows) needs no rights on returns."""
        order = self._delivered_order("A-4", 3)
        self._return(order, "RET-A4", [self._line(1)])
        line = self._run_return(order, "RET-A4").line_ids
        receipt = line.receipt_picking_id
        receipt.move_ids.picked = True
        receipt.button_validate()
        line.state = "to_receive"
        self.env["stock.channel.return.line"].with_user(self.outsider)._receipts_done(
            receipt
        )
        self.assertEqual(line.state, "to_inspect")

    def test_stock_user_opens_returns_to_inspect(self):
        """The list and form load for a warehouse user without channel
        rights, the channel order's name included."""
        order = self._delivered_order("A-3", 3)
        self._return(order, "RET-A3", [self._line(1)])
        self._run_return(order, "RET-A3")
        Line = self.env["stock.channel.return.line"].with_user(self.inspector)
        views = Line.get_views([(False, "list"), (False, "form"), (False, "search")])
        self.assertIn("list", views["views"])
        action = self.env.ref(
            "stock_channel_sync.stock_channel_return_line_action_inspect"
        )
        self.assertEqual(action.res_model, Line._name)
        rows = Line.web_search_read(
            [("order_id", "=", order.id)],
            {
                "order_id": {"fields": {"display_name": {}}},
                "channel_id": {"fields": {"display_name": {}}},
                "receipt_picking_id": {"fields": {"display_name": {}}},
                "return_external_id": {},
                "credit_note_id": {"fields": {"display_name": {}}},
                "state": {},
            },
        )["records"]
        self.assertEqual(rows[0]["order_id"]["display_name"], "A-3")
        self.assertEqual(rows[0]["return_external_id"], "RET-A3")

    def test_other_company_rule(self):
        """A line of another company is invisible to this company's users."""
        order = self._delivered_order("A-2", 3)
        self._return(order, "RET-A2", [self._line(1)])
        channel_return = self._run_return(order, "RET-A2")
        self.inspector.company_ids |= self.other_company
        lines = (
            self.env["stock.channel.return.line"]
            .with_user(self.inspector)
            .with_context(allowed_company_ids=[self.other_company.id])
            .search([("id", "in", channel_return.line_ids.ids)])
        )
        self.assertFalse(lines)


@tagged("post_install", "-at_install")
class TestReturnMultiCompany(ReturnCase):
    """A return of another company's channel: its receipt, locations and
    lines stay in that company; its warehouse users inspect it, this
    company's do not see it."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company_b = cls.env["res.company"].create({"name": "Returns Co B"})
        cls.wh_b = cls.env["stock.warehouse"].search(
            [("company_id", "=", cls.company_b.id)], limit=1
        )
        b_only = {
            "company_id": cls.company_b.id,
            "company_ids": [Command.set(cls.company_b.ids)],
        }
        cls.robot_b = new_test_user(
            cls.env, login="ret_robot_b", groups=TECHNICAL_USER_GROUPS, **b_only
        )
        cls.inspector_b = new_test_user(
            cls.env, login="ret_inspector_b", groups=INSPECTOR_GROUPS, **b_only
        )
        cls.channel_b = (
            cls.env["stock.channel"]
            .with_company(cls.company_b)
            .create(
                {
                    "name": "Returns B",
                    "code": "ret-b",
                    "adapter": "sandbox",
                    "company_id": cls.company_b.id,
                    "warehouse_ids": [Command.set(cls.wh_b.ids)],
                    "user_id": cls.robot_b.id,
                }
            )
        )
        cls.listing_b = cls._create_listing(cls.channel_b, cls.product)
        cls.env["stock.quant"]._update_available_quantity(
            cls.product, cls.wh_b.lot_stock_id, 10
        )

    def test_return_stays_in_its_company(self):
        channel = self.channel_b.with_user(self.robot_b).with_company(self.company_b)
        body = json.dumps(
            dict(
                self._order_body("B-1", 2),
                lines=[
                    {
                        "sku": self.listing_b.external_sku,
                        "quantity": 2,
                        "unit_price": 5.0,
                    }
                ],
            )
        ).encode()
        status, answer = answered(
            channel.env["stock.channel.order"]._receive(channel, "create", body)
        )
        self.assertEqual(status, 202, answer)
        order = self._channel_order(self.channel_b, "B-1")
        order.with_user(self.robot_b).with_company(self.company_b)._process()
        self.assertEqual(order.state, "done", order.error_message)
        delivery = order.sale_order_id.picking_ids
        delivery.move_ids.picked = True
        delivery.button_validate()
        robot_order = order.with_user(self.robot_b).with_company(self.company_b)
        with trap_jobs():
            outcome = robot_order._receive_return(
                json.dumps(
                    {
                        "return_id": "RB-1",
                        "lines": [{"sku": self.listing_b.external_sku, "quantity": 1}],
                    }
                ).encode()
            )
        self.assertEqual(outcome.kind, "accepted", outcome.answer)
        channel_return = self._stored(order, "RB-1")
        robot_order._process_return(channel_return.id)
        receipt = channel_return.picking_ids
        self.assertEqual(receipt.company_id, self.company_b)
        location = self.wh_b.channel_returns_location_id
        self.assertEqual(receipt.location_dest_id, location)
        self.assertEqual(location.company_id, self.company_b)
        self.assertEqual(channel_return.company_id, self.company_b)
        self._validate(receipt, user=self.inspector_b)
        line = channel_return.line_ids
        self.assertFalse(
            self.env["stock.channel.return.line"]
            .with_user(self.inspector)
            .search([("id", "=", line.id)])
        )
        with self.assertRaises(AccessError):
            line.with_user(self.inspector).read(["sku"])
        line.with_user(self.inspector_b).action_accept()
        self.assertEqual(line.state, "accepted")
        self.assertEqual(
            line.inspection_move_id.location_dest_id, self.wh_b.lot_stock_id
        )
        self.assertEqual(self._atp(self.listing_b), 9)


@tagged("post_install", "-at_install")
class TestReturnToMappedLocation(ReturnCase):
    """On a channel that publishes per location, an item coming back to
    another marketplace location than it shipped from goes to that
    location's warehouse, and its ATP there rises once accepted."""

    def test_returned_to_the_mapped_warehouse(self):
        nodes = self._create_channel(
            "ret-nodes",
            self.wh_main | self.wh_other,
            adapter="sandbox",
            user_id=self.robot.id,
            publish_per_location=True,
            location_ids=[
                Command.create(
                    {"warehouse_id": self.wh_main.id, "location_ref": "east"}
                ),
                Command.create(
                    {"warehouse_id": self.wh_other.id, "location_ref": "west"}
                ),
            ],
        )
        listing = self._create_listing(nodes, self.product, external_sku="RET-NODE")
        body = dict(self._order_body("R-NODE", 2, sku="RET-NODE"), location="east")
        status, answer = self._receive(nodes, body)
        self.assertEqual(status, 202, answer)
        order = self._channel_order(nodes, "R-NODE")
        order.with_user(self.robot)._process()
        self.assertEqual(order.sale_order_id.warehouse_id, self.wh_main)
        self._validate(order.sale_order_id.picking_ids, self.env.user)

        line = dict(self._line(1, sku="RET-NODE"), location="west")
        outcome = self._return(order, "RET-NODE-1", [line])
        self.assertEqual(outcome.kind, "accepted", outcome.answer)
        channel_return = self._run_return(order, "RET-NODE-1")
        returned = channel_return.line_ids
        self.assertEqual(
            (returned.location_ref, returned.return_warehouse_id),
            ("west", self.wh_other),
        )
        receipt = channel_return.picking_ids
        self.assertEqual(
            receipt.location_dest_id, self.wh_other.channel_returns_location_id
        )
        self._validate(receipt)
        west = listing.node_ids.filtered(lambda n: n.location_ref == "west")
        self.assertEqual(west.atp_qty, 0, "not sellable before inspection")
        returned.with_user(self.inspector).action_accept()
        self.assertEqual(returned.inspection_move_id.location_dest_id, self.stock_other)
        west.invalidate_recordset()
        self.assertEqual(west.atp_qty, 1)


@tagged("post_install", "-at_install")
class TestSimulateReturn(ReturnCase):
    """Simulate Return on a sandbox order, as a manager who is not an
    administrator: a signed generic return through the real intake."""

    def _wizard(self, manager, order, quantity):
        action = order.with_user(manager).action_simulate_return()
        wizard = Form(
            self.env[action["res_model"]]
            .with_user(manager)
            .with_context(action["context"])
        )
        with wizard.line_ids.edit(0) as line:
            line.quantity = quantity
        return wizard.save()

    def test_simulated_return_goes_through_the_real_intake(self):
        manager = new_test_user(
            self.env,
            login="ret_sim_manager",
            groups="base.group_user,stock_channel_sync.group_channel_manager",
        )
        self.shop.webhook_secret = "whsec-simulated-return-0123"
        order = self._delivered_order("SIM-R1", 3)
        with trap_jobs() as trap:
            action = self._wizard(manager, order, 2).action_post()
            trap.assert_jobs_count(1, only=order._process_return)
        channel_return = self.env["stock.channel.return"].browse(action["res_id"])
        self.assertTrue(channel_return.external_id.startswith("SIM-RET-"))
        self.assertEqual(channel_return.order_id, order)
        self.assertEqual(channel_return.line_ids.product_qty, 2)
        self.assertEqual(channel_return.create_uid, self.robot)
        # More than is left to return: refused with the intake's answer.
        with self.assertRaisesRegex(UserError, "refused the return \\(422\\)"):
            self._wizard(manager, order, 2).action_post()
        returns = self.env["stock.channel.return"].search([("order_id", "=", order.id)])
        self.assertEqual(returns, channel_return)


@tagged("post_install", "-at_install")
class TestReturnLedgerGuard(ReturnCase):
    """The ledger (a return's lines, their state and quantities) is written
    by the addon's own code only, and every line of it counts."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.manager = new_test_user(
            cls.env,
            login="ret_guard_manager",
            groups="base.group_user,stock.group_stock_user,"
            "stock_channel_sync.group_channel_manager",
        )

    def _received_lines(self, external_id, return_id):
        """Delivered 3; returned 1 + 1, of which only 1 arrives: the first
        line waits for inspection, the second is cancelled."""
        order = self._delivered_order(external_id, 3)
        self._return(order, return_id, [self._line(1, reason="a"), self._line(1)])
        first, second = self._run_return(order, return_id).line_ids
        receipt = first.receipt_picking_id
        receipt.move_ids.quantity = 1
        receipt.move_ids.picked = True
        receipt.with_user(self.inspector).with_context(
            skip_backorder=True, picking_ids_not_to_backorder=receipt.ids
        ).button_validate()
        self.assertEqual((first.state, second.state), ("to_inspect", "cancelled"))
        return order, first, second

    def test_cancelled_line_still_counts(self):
        """A line of which nothing arrived still took its goods: of 3
        delivered, 2 were returned (1 arrived), so only 1 more can be."""
        order, _first, _second = self._received_lines("G-1", "RET-G1")
        outcome = self._return(order, "RET-G2", [self._line(2)])
        self.assertEqual(outcome.kind, "invalid_return", outcome.answer)
        self.assertIn("(1)", outcome.answer["details"][0]["message"])
        self.assertEqual(
            self._return(order, "RET-G3", [self._line(1)]).kind, "accepted"
        )

    def test_users_cannot_write_the_ledger(self):
        """An inspector and a Channel Sync manager: state, quantities and
        links are refused with the fields named, nothing written; the
        inspector still writes the note of a line waiting for inspection
        and inspects it; creating or deleting lines or returns is refused."""
        order, first, second = self._received_lines("G-2", "RET-G4")
        channel_return = first.channel_return_id
        for user in (self.inspector, self.manager):
            for vals in (
                {"state": "cancelled"},
                {"received_qty": 5},
                {"inspection_note": "fine", "product_qty": 0},
            ):
                with self.assertRaisesRegex(AccessError, "cannot be written"):
                    first.with_user(user).write(vals)
            with self.assertRaisesRegex(AccessError, "State cannot be written"):
                channel_return.with_user(user).write({"state": "done"})
            with self.assertRaisesRegex(AccessError, "cannot be written"):
                second.with_user(user).inspection_note = "not to inspect"
        with self.assertRaisesRegex(AccessError, "created only by"):
            self.env["stock.channel.return.line"].with_user(self.manager).create(
                {
                    "channel_return_id": channel_return.id,
                    "product_id": self.product.id,
                    "sku": "X",
                    "restock_type": "return",
                    "product_qty": 3,
                }
            )
        with self.assertRaisesRegex(AccessError, "cannot be deleted"):
            second.with_user(self.manager).unlink()
        with self.assertRaisesRegex(AccessError, "cannot be deleted"):
            channel_return.with_user(self.manager).unlink()
        with self.assertRaisesRegex(AccessError, "created only by"):
            self.env["stock.channel.return"].with_user(self.manager).create(
                {"channel_id": self.shop.id, "order_id": order.id, "external_id": "F"}
            )
        with self.assertRaises(AccessError):
            order.with_user(self.manager).write(
                {"return_ids": [Command.unlink(channel_return.id)]}
            )
        self.env.invalidate_all()
        self.assertEqual((first.state, first.received_qty), ("to_inspect", 1))
        self.assertEqual((second.state, second.product_qty), ("cancelled", 1))
        self.assertEqual(channel_return.state, "open")
        first.with_user(self.inspector).inspection_note = "box dented"
        first.with_user(self.inspector).action_accept()
        self.assertEqual(
            (first.state, first.inspection_note), ("accepted", "box dented")
        )
        self.assertEqual(channel_return.state, "done")

    def test_migration_marks_cancel_lines_unshipped(self):
        """18.0.1.3.0: existing cancel lines become unshipped lines (the
        ledger reads the flag); other lines are left as recorded."""
        from .test_migrations import load_migration

        order = self._delivered_order("G-3", 3)
        self._return(order, "RET-G5", [self._line(1, restock=False)])
        recorded = self._run_return(order, "RET-G5").line_ids
        status, answer = self._receive(self.shop, self._order_body("G-4", 2))
        self.assertEqual(status, 202, answer)
        pending = self._channel_order(self.shop, "G-4")
        self._marketplace_refund(pending, "RET-G6", [(1, "cancel")])
        cancel = self._stored(pending, "RET-G6").line_ids
        self.assertTrue(cancel.unshipped)
        self.env.flush_all()
        self.env.cr.execute(
            "UPDATE stock_channel_return_line SET unshipped = NULL WHERE id = ANY(%s)",
            [(cancel | recorded).ids],
        )
        load_migration("18.0.1.3.0", "post-return-lines-unshipped.py").migrate(
            self.env.cr, "18.0.1.2.0"
        )
        (cancel | recorded).invalidate_recordset()
        self.assertTrue(cancel.unshipped)
        self.assertFalse(recorded.unshipped)


@tagged("post_install", "-at_install")
class TestReturnCancellationTwoSteps(ReturnCase):
    """Pick then ship (``delivery_steps`` ``pick_ship``): a refund of
    unshipped units shrinks the step that holds the goods."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.wh_main.delivery_steps = "pick_ship"

    def _moves(self, order):
        """``{picking type: [(state, demand, reserved)]}`` of the sale
        order's pickings, for the assertions' messages."""
        result = {}
        for picking in order.sale_order_id.picking_ids.sorted("id"):
            for move in picking.move_ids:
                result.setdefault(picking.picking_type_id.name, []).append(
                    (move.state, move.product_uom_qty, move.quantity)
                )
        return result

    def test_cancel_before_the_pick_shrinks_the_pick(self):
        """Nothing picked: Odoo 18 has only the pick yet (the ship step is
        pushed when the pick is done); the refund lowers its demand and
        reservation, ATP rises at once."""
        order = self._confirmed_order("P-1", 5)
        sale = order.sale_order_id
        self.assertEqual(self._atp(self.shop_listing), 25, self._moves(order))
        self._marketplace_refund(order, "REF-P1", [(2, "cancel")])
        self._run_return(order, "REF-P1")
        self.assertEqual(self._atp(self.shop_listing), 27, self._moves(order))
        pick = sale.picking_ids.filtered(
            lambda p: p.picking_type_id == self.wh_main.pick_type_id
            and p.state != "cancel"
        )
        self.assertEqual(sum(pick.move_ids.mapped("product_uom_qty")), 3)
        self.assertEqual(sum(pick.move_ids.mapped("quantity")), 3)

    def test_cancel_after_the_pick_shrinks_the_ship(self):
        """Picked, not shipped: the ship step asks for less, and Odoo puts
        the units picked for nothing back to stock with a transfer from
        Output that reserves them: ATP rises when the warehouse validates
        it (they are not on the shelf before)."""
        order = self._confirmed_order("P-2", 5)
        sale = order.sale_order_id
        self._validate(sale.picking_ids, self.env.user)
        self.assertEqual(self._atp(self.shop_listing), 25, self._moves(order))
        self._marketplace_refund(order, "REF-P2", [(2, "cancel")])
        self._run_return(order, "REF-P2")
        output = self.wh_main.wh_output_stock_loc_id
        ship = sale.picking_ids.filtered(
            lambda p: p.picking_type_id == self.wh_main.out_type_id
        )
        moves = self._moves(order)
        self.assertEqual(ship.move_ids.mapped("product_uom_qty"), [3], moves)
        put_back = sale.picking_ids.filtered(
            lambda p: p.location_id == output and p.location_dest_id == self.stock_main
        )
        self.assertEqual(put_back.move_ids.mapped("product_uom_qty"), [2])
        self.assertEqual(put_back.state, "assigned")
        self.assertEqual(self._atp(self.shop_listing), 25)
        self._validate(put_back, self.env.user)
        self.assertEqual(self._atp(self.shop_listing), 27)
        self._validate(ship, self.env.user)
        self.assertEqual(order.sale_order_id.order_line.qty_delivered, 3)

    def test_cancel_after_part_of_the_pick(self):
        """3 of 5 picked (a backorder picks the other 2), 4 refunded unshipped:
        both steps count as still to deliver, once each; Odoo drops the
        backorder, ships 1 and puts 2 back to stock."""
        order = self._confirmed_order("P-3", 5)
        sale = order.sale_order_id
        pick = sale.picking_ids
        pick.move_ids.quantity = 3
        pick.move_ids.picked = True
        pick.with_context(skip_backorder=True).button_validate()
        self.assertEqual(len(sale.picking_ids), 3, self._moves(order))
        self._marketplace_refund(order, "REF-P3", [(4, "cancel")])
        self._run_return(order, "REF-P3")
        open_moves = sale.picking_ids.move_ids.filtered(
            lambda m: m.state not in ("done", "cancel")
        )
        to_customer = open_moves.filtered(
            lambda m: m.location_final_id.usage == "customer"
            or m.location_dest_id.usage == "customer"
        )
        moves = self._moves(order)
        self.assertEqual(sum(to_customer.mapped("product_uom_qty")), 1, moves)
        put_back = open_moves.filtered(lambda m: m.location_dest_id == self.stock_main)
        self.assertEqual(put_back.mapped("product_uom_qty"), [2], self._moves(order))
        self._validate(put_back.picking_id, self.env.user)
        self.assertEqual(self._atp(self.shop_listing), 29, self._moves(order))
        outcome = self._marketplace_refund_outcome(order, "REF-P4", [(2, "cancel")])
        self.assertEqual(outcome.kind, "invalid_return")
