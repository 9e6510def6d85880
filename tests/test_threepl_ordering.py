from datetime import timedelta

from odoo import fields
from odoo.exceptions import UserError
from odoo.tests import new_test_user, tagged

from .test_threepl_events import SECRET, ThreeplCase


@tagged("post_install", "-at_install")
class TestThreeplOrdering(ThreeplCase):
    """Events that arrive out of order: what needs another event's stock
    waits for it, an adjustment a booked snapshot already counted is not
    booked again; nothing is applied twice or dropped."""

    def _held(self):
        return self.env["stock.quant"]._get_available_quantity(self.product, self.hold)

    def test_release_before_its_hold_waits_then_follows_it(self):
        """A release posted before its hold waits (no negative quant at the
        hold location), and is applied as soon as the hold is."""
        self._post(self._adjustment("R-1", 4, "55"))
        self._apply_all()
        (release,) = self._events()
        self.assertEqual(release.state, "waiting")
        self.assertTrue(release.waiting_since)
        self.assertIn("Hold", release.error_message)
        self.assertFalse(release.move_ids)
        self.assertEqual(self._atp(), 20)
        self._post(self._adjustment("H-1", 4, "05"))
        self._apply_all()
        self.assertEqual(set(self._events().mapped("state")), {"done"})
        self.assertEqual(self._held(), 0)
        self.assertEqual(self._atp(), 20)

    def test_waiting_events_retried_hourly_and_flagged_after_a_day(self):
        """The hourly sweep tries every waiting event again; one waiting
        for more than a day gets a to-do for the technical user."""
        self._post(self._adjustment("R-2", 3, "55"))
        self._apply_all()
        (release,) = self._events()
        release.sudo().waiting_since = fields.Datetime.now() - timedelta(days=2)
        # The stock arrives another way (booked by hand at the hold location).
        self.env["stock.quant"]._update_available_quantity(self.product, self.hold, 3)
        self.env["stock.channel.threepl.event"]._cron_retry_waiting()
        self.assertEqual(release.state, "received")
        self.assertTrue(release.activity_ids)
        self._apply_all()
        self.assertEqual(release.state, "done")
        self.assertEqual(self._held(), 0)

    def test_reprocess_a_waiting_event_is_for_managers(self):
        self._post(self._adjustment("R-3", 1, "55"))
        self._apply_all()
        (release,) = self._events()
        clerk = new_test_user(
            self.env,
            login="tpl_clerk",
            groups="stock.group_stock_user,stock_channel_sync.group_channel_user",
        )
        with self.assertRaises(UserError):
            release.with_user(clerk).action_reprocess()
        release.with_user(self.robot).action_reprocess()
        self.assertEqual(release.state, "received")

    def test_adjustment_older_than_an_applied_snapshot_is_not_booked(self):
        """The snapshot booked at 10:00 counted the 09:00 damage: booking
        it again would count it twice; a later one is booked."""
        self.connection.sudo().last_applied_snapshot_at = "2026-12-03 10:00:00"
        self._post(self._adjustment("OLD-1", -2, "AU"))  # 09:00
        late = dict(
            self._adjustment("NEW-1", -1, "AU"), occurred_at="2026-12-03T11:00:00Z"
        )
        self._post(late)
        self._apply_all()
        states = {e.business_id: e.state for e in self._events()}
        self.assertEqual(states, {"OLD-1": "superseded", "NEW-1": "done"})
        self.assertEqual(self._atp(), 19)


@tagged("post_install", "-at_install")
class TestThreeplConnectionSettings(ThreeplCase):
    """Secret rotation, SKU mapping and the operations a 3PL drives."""

    def test_rotation_keeps_the_previous_secret_for_the_overlap(self):
        action = self.connection.with_user(self.robot).action_rotate_secret()
        new = self.connection.webhook_secret
        self.assertNotEqual(new, SECRET)
        self.assertIn(new, action["params"]["message"])
        self.assertEqual(
            self._post(self._adjustment("A-1"), secret=new).status_code, 202
        )
        self.assertEqual(
            self._post(self._adjustment("A-2"), secret=SECRET).status_code, 202
        )
        self.connection.sudo().previous_secret_valid_until = (
            fields.Datetime.now() - timedelta(seconds=1)
        )
        self.assertEqual(
            self._post(self._adjustment("A-3"), secret=SECRET).status_code, 401
        )
        self.assertEqual(len(self._events()), 2)

    def test_rotation_for_managers_only(self):
        clerk = new_test_user(
            self.env,
            login="tpl_clerk_rotate",
            groups="stock.group_stock_user,stock_channel_sync.group_channel_user",
        )
        with self.assertRaises(UserError):
            self.connection.with_user(clerk).action_rotate_secret()

    def test_skus_matched_by_barcode(self):
        self.product.barcode = "4006381333931"
        self.connection.sku_field = "barcode"
        refused = self._post(self._adjustment("B-1"))  # the internal reference
        self.assertEqual(refused.status_code, 422)
        self.assertIn("barcode", refused.json()["details"][0]["message"])
        accepted = self._post(self._adjustment("B-2", sku="4006381333931"))
        self.assertEqual(accepted.status_code, 202, accepted.text)
        self.assertEqual(self._events().product_id, self.product)

    def test_adjustments_refused_where_the_3pl_does_not_drive_them(self):
        self.connection.drive_adjustments = False
        response = self._post(self._adjustment("D-1"))
        self.assertEqual(response.status_code, 422)
        self.assertEqual(response.json()["details"][0]["field"], "events[0].type")
        self.assertFalse(self._events())
