import base64
from datetime import timedelta

from odoo import fields
from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.tests import new_test_user, tagged

from .test_threepl_events import SECRET, EdiCase, ThreeplCase
from .threepl_poster import LosingProxy, ThreeplPoster


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

    def test_job_fields_cannot_be_forged_over_json_rpc(self):
        """A manager's write of what the jobs record (a forged last applied
        snapshot would drop every older adjustment) is refused."""
        for field, value in (
            ("last_applied_snapshot_at", "2030-01-01 00:00:00"),
            ("ack_control_number", 7),
            ("last_snapshot_at", "2030-01-01 00:00:00"),
        ):
            with self.assertRaises(AccessError):
                self.connection.with_user(self.robot).write({field: value})
        self.assertFalse(self.connection.last_applied_snapshot_at)
        self.assertFalse(self.connection.ack_control_number)

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


@tagged("post_install", "-at_install")
class TestThreeplHealth(ThreeplCase):
    """Each connection's figures (received, applied, in error, waiting, lag)
    and its threshold alerts: one to-do per crossed threshold, done on
    recovery."""

    def _now_event(self, event_id, quantity, reason):
        now = fields.Datetime.now().isoformat() + "Z"
        return dict(self._adjustment(event_id, quantity, reason), occurred_at=now)

    def _todos(self):
        return self.connection.activity_ids.filtered(
            lambda a: "over threshold" in (a.summary or "")
        )

    def test_figures_and_an_alert_that_recovers(self):
        self._post(self._now_event("OK-1", -1, "AU"))
        self._post(self._now_event("HOLD-1", 2, "05"))
        hold = self.connection.hold_location_id
        self.connection.hold_location_id = False  # removed after intake
        self._apply_all()
        connection = self.connection.with_user(self.robot)
        connection.invalidate_recordset()
        self.assertEqual(
            (
                connection.received_event_count_24h,
                connection.applied_event_count_24h,
                connection.error_event_count,
                connection.waiting_event_count,
                connection.event_lag_p95,
            ),
            (2, 1, 1, 0, 0),
        )
        self.assertEqual(connection.health_state, "alert")
        Connection = self.env["stock.channel.threepl"]
        Connection._cron_check_alerts()
        Connection._cron_check_alerts()  # no alert storm
        self.assertEqual(len(self._todos()), 1)
        self.assertEqual(self._todos().user_id, self.robot)
        self.connection.hold_location_id = hold
        self._events().filtered(lambda e: e.state == "error").with_user(
            self.robot
        ).action_reprocess()
        self._apply_all()
        Connection._cron_check_alerts()
        self.assertFalse(self._todos())
        self.connection.invalidate_recordset()
        self.assertEqual(self.connection.health_state, "ok")

    def test_lag_from_business_time_to_application(self):
        """An event applied three hours after it happened: p95 lag 180 min,
        above the 30 min threshold."""
        self._post(self._adjustment("LATE-1", -1, "AU"))
        event = self._events()
        event.sudo().occurred_at = fields.Datetime.now() - timedelta(hours=3)
        self._apply_all()
        self.connection.invalidate_recordset()
        self.assertAlmostEqual(self.connection.event_lag_p95, 180, delta=2)
        self.assertIn("event_lag_p95", self.connection._crossed_thresholds())

    def test_thresholds_cannot_be_negative(self):
        with self.assertRaises(ValidationError):
            self.connection.alert_max_event_lag = -1


@tagged("post_install", "-at_install")
class TestThreeplFiles(EdiCase):
    """The same X12 file sent again is recognised before its events are
    read: by sender, interchange control number and date, then by its
    bytes."""

    def _files(self):
        return self.env["stock.channel.threepl.file"].search(
            [("connection_id", "=", self.connection.id)]
        )

    def test_the_same_file_again_is_a_duplicate_with_its_997(self):
        body = self._sample("947_adjustment.edi")
        self.assertEqual(self._post_edi(body).status_code, 202)
        (taken,) = self._files()
        self.assertEqual(
            (taken.sender, taken.control_number, taken.event_count),
            ("ZZ:ACME3PL", "000001203", 4),
        )
        # Even with its events gone (retention), the file is known.
        self._events().sudo().unlink()
        again = self._post_edi(body)
        self.assertEqual(again.status_code, 200, again.text)
        self.assertEqual(
            (again.json()["status"], again.json()["file"]),
            ("duplicate", "already received"),
        )
        self.assertIn("AK9*A", again.json()["ack"][0])
        self.assertFalse(self._events())
        self.assertEqual(len(self._files()), 1)

    def test_a_reused_control_number_with_other_content_is_refused(self):
        body = self._sample("947_adjustment.edi")
        self._post_edi(body)
        other = body.replace(b"W19*AA*3*EA", b"W19*AA*4*EA")
        response = self._post_edi(other)
        self.assertEqual(response.status_code, 422, response.text)
        self.assertIn("already received with other content", response.text)
        self.assertIn("AK5*R", response.json()["ack"][0])
        self.assertEqual(len(self._events()), 4)
        # The same number on another day is another file.
        next_day = other.replace(b"*240504*1800*", b"*240505*1800*").replace(
            b"ADJ-3001", b"ADJ-3002"
        )
        self.assertEqual(self._post_edi(next_day).status_code, 202)
        self.assertEqual(len(self._files()), 2)

    def test_a_refused_file_is_not_remembered(self):
        """Nothing is written for a refused file: corrected, it is taken."""
        body = self._sample("947_adjustment.edi")
        self.assertEqual(
            self._post_edi(body.replace(b"V-300", b"V-999")).status_code, 422
        )
        self.assertFalse(self._files())
        self.assertEqual(self._post_edi(body).status_code, 202)


@tagged("post_install", "-at_install")
class TestThreeplUploadEdi(EdiCase):
    """Upload EDI File: a file received by mail or SFTP taken like a post
    to /edi (same checks, same exactly-once storage, its 997 shown)."""

    def _upload(self, body, user=None):
        wizard = (
            self.env["stock.channel.threepl.upload.edi"]
            .with_user(user or self.robot)
            .create(
                {
                    "connection_id": self.connection.id,
                    "edi_file": base64.b64encode(body),
                    "filename": "in.edi",
                }
            )
        )
        wizard.action_upload()
        return wizard

    def test_upload_takes_the_file_once_and_shows_its_997(self):
        wizard = self._upload(self._sample("947_adjustment.edi"))
        self.assertEqual(wizard.state, "done")
        self.assertIn("4 new event(s)", wizard.result)
        self.assertIn("AK9*A", wizard.ack)
        self.assertEqual(len(self._events()), 4)
        again = self._upload(self._sample("947_adjustment.edi"))
        self.assertIn("the same file again", again.result)
        self.assertEqual(len(self._events()), 4)

    def test_a_bad_file_is_refused_with_its_problems_and_nothing_written(self):
        body = self._sample("947_adjustment.edi").replace(b"SE*8*0042", b"SE*5*0042")
        with self.assertRaisesRegex(UserError, "nothing was written"):
            self._upload(body)
        self.assertFalse(self._events())
        with self.assertRaises(UserError):
            self._upload(b"")

    def test_upload_is_for_managers(self):
        clerk = new_test_user(
            self.env,
            login="tpl_clerk_upload",
            groups="stock.group_stock_user,stock_channel_sync.group_channel_user",
        )
        with self.assertRaises(AccessError):
            self._upload(self._sample("947_adjustment.edi"), user=clerk)
        self.assertFalse(self._events())


@tagged("post_install", "-at_install")
class TestThreeplPoster(ThreeplCase):
    """A 3PL that posts its events again when an answer is lost: each is
    stored and applied once, the retry answered as a duplicate."""

    def test_a_lost_answer_retried_is_stored_once(self):
        proxy = LosingProxy(self.base_url(), lose=1).start()
        self.addCleanup(proxy.stop)
        poster = ThreeplPoster(
            f"{proxy.url}/stock_channel_sync/3pl/east-3pl/events", SECRET
        )
        events = [self._adjustment("P-1", -1, "AU"), self._adjustment("P-2", 2, "05")]
        response = poster.post(events)
        self.assertEqual(poster.attempts, 2)
        self.assertEqual(proxy.forwarded, 2)
        self.assertEqual(response.status_code, 200, response.text)
        self.assertEqual(
            [e["status"] for e in response.json()["events"]],
            ["duplicate", "duplicate"],
        )
        self.assertEqual(len(self._events()), 2)
        self._apply_all()
        self.assertEqual(set(self._events().mapped("state")), {"done"})
        self.assertEqual(self._atp(), 17)


@tagged("post_install", "-at_install")
class TestThreeplHealthSnapshots(ThreeplCase):
    """Snapshot age and units in drift on the health figures."""

    def test_snapshot_age_and_drift_units(self):
        connection = self.connection
        connection.sudo().last_snapshot_at = fields.Datetime.now() - timedelta(hours=5)
        self.env["stock.channel.threepl.discrepancy"].sudo().create(
            [
                {
                    "connection_id": connection.id,
                    "drift_key": f"product:{self.product.id}",
                    "product_id": self.product.id,
                    "sku": "TPL-LAMP",
                    "odoo_qty": 20,
                    "threepl_qty": 8,
                    "difference": -12,
                }
            ]
        )
        connection.invalidate_recordset()
        self.assertEqual((connection.snapshot_age, connection.drift_units), (5, 12))
        crossed = connection._crossed_thresholds()
        self.assertIn("snapshot_age", crossed)
        self.assertIn("drift_units", crossed)
        self.assertEqual(connection.health_state, "alert")

    def test_no_snapshot_age_alert_for_a_pushing_connection_without_any(self):
        self.env.cr.execute(
            "UPDATE stock_channel_threepl SET create_date = %s WHERE id = %s",
            [fields.Datetime.now() - timedelta(days=2), self.connection.id],
        )
        self.connection.invalidate_recordset()
        self.assertGreaterEqual(self.connection.snapshot_age, 47)
        self.assertNotIn("snapshot_age", self.connection._crossed_thresholds())
