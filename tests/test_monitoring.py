from datetime import timedelta

from odoo import fields
from odoo.tests import tagged
from odoo.tools import SQL

from .common import ChannelCase


@tagged("post_install", "-at_install")
class TestMonitoring(ChannelCase):
    """Health figures, threshold alerts and traceability."""

    def setUp(self):
        super().setUp()
        self._clear_pending()
        self.now = fields.Datetime.now()

    def _age(self, table, record_ids, column, delta):
        self.env.flush_all()
        self.env.cr.execute(
            SQL(
                "UPDATE %s SET %s = %s WHERE id = ANY(%s)",
                SQL.identifier(table),
                SQL.identifier(column),
                self.now - delta,
                list(record_ids),
            )
        )
        self.env.invalidate_all()

    def _discrepancy(
        self, state="open", listing=None, kind="channel_drift", difference=0
    ):
        listing = listing or self.listing
        return self.env["stock.channel.discrepancy"].create(
            {
                "listing_id": listing.id,
                "channel_id": listing.channel_id.id,
                "kind": kind,
                "state": state,
                "detected_at": self.now,
                "difference": difference,
            }
        )

    def _publication(self, state="sent"):
        return self.env["stock.channel.publication"].create(
            {
                "listing_id": self.listing.id,
                "channel_id": self.channel.id,
                "quantity": 1,
                "state": state,
            }
        )

    def _order(self, external_id, state):
        return self.env["stock.channel.order"].create(
            {"channel_id": self.channel.id, "external_id": external_id, "state": state}
        )

    def _failed_job(self, key):
        job = self.channel.with_delay(identity_key=key)._reconcile()
        self.env["queue.job"].search([("uuid", "=", job.uuid)]).state = "failed"

    def test_dashboard_figures_match_hand_counts(self):
        """Every figure against what the rows say, hand counted."""
        self.listing._mark_pending(SQL("l.id = %s", self.listing.id))
        self.env.cr.execute(
            "UPDATE stock_channel_listing_change SET changed_at = %s"
            " WHERE listing_id = %s",
            [self.now - timedelta(minutes=30), self.listing.id],
        )
        recent = self._publication() | self._publication()
        old = self._publication()
        self._publication(state="failed")
        self._age(
            "stock_channel_publication", old.ids, "create_date", timedelta(days=2)
        )
        self._failed_job(f"stock_channel_sync.publish.{self.channel.id}")
        self._failed_job(f"stock_channel_sync.reconcile.{self.channel.id}")
        self._failed_job(f"stock_channel_sync.publish.{self.channel_both.id}")
        self._discrepancy(difference=5)
        self._discrepancy(kind="unknown_on_channel", difference=-3)
        self._discrepancy(state="resolved", kind="unpublished_change", difference=9)
        self._order("A", "received")
        self._order("B", "error")
        late = self._order("C", "error")
        self._age("stock_channel_order", late.ids, "create_date", timedelta(days=3))

        channel = self.channel
        channel.invalidate_recordset()
        self.assertEqual(channel.listing_count, 1)
        self.assertEqual(channel.pending_listing_count, 1)
        self.assertIn(channel.publication_lag, (29, 30, 31))
        self.assertEqual(channel.publication_count_24h, 2)
        self.assertEqual(channel.last_publication_at, max(recent.mapped("create_date")))
        self.assertEqual(channel.failed_job_count, 2)
        self.assertEqual(channel.open_discrepancy_count, 2)
        self.assertEqual(channel.oversell_risk_qty, 5)  # open, above zero only
        self.assertEqual(channel.order_count_24h, 2)
        self.assertEqual(channel.order_error_count_24h, 1)
        self.assertEqual(channel.health_state, "alert")  # lag 30 > 15
        self.assertEqual(self.channel_both.failed_job_count, 1)

    def test_health_states(self):
        """Healthy, then needs attention (below thresholds), then alert."""
        channel = self.channel
        channel.alert_max_discrepancies = 1
        self.assertEqual(channel.health_state, "ok")
        self._discrepancy()
        channel.invalidate_recordset()
        self.assertEqual(channel.health_state, "warning")
        self._discrepancy(kind="unknown_on_channel")
        channel.invalidate_recordset()
        self.assertEqual(channel.health_state, "alert")

    def test_threshold_alert_raised_once_and_closed_on_recovery(self):
        """Crossing raises one alert with one to-do, however often checked;
        recovery closes both; crossing again opens a new one."""
        channel = self.channel
        channel.write({"alert_max_discrepancies": 0, "responsible_id": self.env.uid})
        Alert = self.env["stock.channel.alert"]
        drift = self._discrepancy(difference=4)
        for _check in range(3):
            self.env["stock.channel"]._cron_check_alerts()
        alert = Alert.search([("channel_id", "=", channel.id)])
        self.assertEqual(len(alert), 1)
        self.assertEqual((alert.kind, alert.state, alert.value), ("drift", "open", 1))
        self.assertEqual(len(channel.activity_ids), 1)
        self.assertEqual(channel.activity_ids, alert.activity_id)
        self.assertEqual(channel.activity_ids.user_id, self.env.user)
        self.assertIn("4 units", str(channel.activity_ids.note))

        drift.action_resolve()
        self.env["stock.channel"]._cron_check_alerts()
        self.assertEqual(alert.state, "closed")
        self.assertTrue(alert.closed_at)
        self.assertFalse(channel.activity_ids)

        self._discrepancy()
        self.env["stock.channel"]._cron_check_alerts()
        alerts = Alert.search([("channel_id", "=", channel.id)])
        self.assertEqual(len(alerts), 2)
        self.assertEqual(alerts.filtered(lambda a: a.state == "open").kind, "drift")

    def test_lag_and_failure_alerts_and_switch_off(self):
        channel = self.channel
        channel.write({"alert_max_lag": 10, "alert_max_failed_jobs": 0})
        self.listing._mark_pending(SQL("l.id = %s", self.listing.id))
        self.env.cr.execute(
            "UPDATE stock_channel_listing_change SET changed_at = %s"
            " WHERE listing_id = %s",
            [self.now - timedelta(minutes=20), self.listing.id],
        )
        self._failed_job(f"stock_channel_sync.reconcile.{channel.id}")
        self.env["stock.channel"]._cron_check_alerts()
        alerts = self.env["stock.channel.alert"].search(
            [("channel_id", "=", channel.id), ("state", "=", "open")]
        )
        self.assertEqual(sorted(alerts.mapped("kind")), ["failures", "lag"])
        self.assertEqual(len(channel.activity_ids), 2)
        channel.alerts_enabled = False
        self.env["stock.channel"]._cron_check_alerts()
        self.assertEqual(set(alerts.mapped("state")), {"closed"})
        self.assertFalse(channel.activity_ids)

    def test_publication_leads_to_its_triggering_moves(self):
        """A delivery's moves are traced under its transaction's correlation
        id, which the publication carries."""
        self._set_stock(self.product, self.stock_main, 10)
        self._clear_pending()
        picking = self._create_delivery(self.product, 3)
        picking.move_ids.picked = True
        picking.button_validate()
        self._flush_marks()
        correlation = self.listing.correlation_id
        self.assertTrue(correlation)
        publication = self._publication()
        publication.correlation_id = correlation
        action = publication.action_view_moves()
        moves = self.env["stock.move"].search(action["domain"])
        self.assertEqual(moves, picking.move_ids)
        self.assertEqual(publication.action_view_listing()["res_id"], self.listing.id)
        history = publication.action_view_publications()
        self.assertEqual(
            self.env["stock.channel.publication"].search(history["domain"]),
            self.listing.publication_ids,
        )
