from datetime import timedelta

from odoo import Command, fields
from odoo.tests import new_test_user, tagged
from odoo.tools import SQL

from ..services.anomalies import AnomalyDetector
from ..services.kits import related_product_ids
from .common import ChannelCase


@tagged("post_install", "-at_install")
class TestAnomalyAlerts(ChannelCase):
    """Anomalies against a channel's own history, with the revenue at risk,
    through the threshold alerts' to-dos and an optional e-mail."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.responsible = new_test_user(
            cls.env,
            login="scs_anomaly_responsible",
            email="anomaly.responsible@example.com",
            groups="base.group_user,stock_channel_sync.group_channel_user",
        )
        cls.product.lst_price = 12.5
        cls.channel.responsible_id = cls.responsible
        # Only the channel under test is checked.
        cls.env["stock.channel"].search([("id", "!=", cls.channel.id)]).write(
            {"alerts_enabled": False}
        )

    def setUp(self):
        super().setUp()
        self._clear_pending()
        self.now = fields.Datetime.now()
        self.Alert = self.env["stock.channel.alert"]

    # -- helpers -------------------------------------------------------------

    def _check(self):
        self.env["stock.channel"]._cron_check_anomalies()

    def _open(self, kind):
        return self.Alert.search(
            [
                ("channel_id", "=", self.channel.id),
                ("kind", "=", kind),
                ("state", "=", "open"),
            ]
        )

    def _mails(self):
        return self.env["mail.mail"].search(
            [("model", "=", "stock.channel"), ("res_id", "=", self.channel.id)]
        )

    def _age(self, table, ids, delta, column="create_date"):
        self.env.flush_all()
        self.env.cr.execute(
            SQL(
                "UPDATE %s SET %s = %s WHERE id = ANY(%s)",
                SQL.identifier(table),
                SQL.identifier(column),
                self.now - delta,
                list(ids),
            )
        )
        self.env.invalidate_all()

    def _publications(self, count, state="sent", latency=100, age=None):
        rows = self.env["stock.channel.publication"].create(
            [
                {
                    "listing_id": self.listing.id,
                    "channel_id": self.channel.id,
                    "quantity": 1,
                    "state": state,
                    "latency_ms": latency,
                }
                for _i in range(count)
            ]
        )
        if age:
            self._age("stock_channel_publication", rows.ids, age)
        return rows

    def _order(self, external_id, qty=2, age=None):
        order = self.env["stock.channel.order"].create(
            {
                "channel_id": self.channel.id,
                "external_id": external_id,
                "state": "done",
                "line_ids": [
                    Command.create(
                        {
                            "listing_id": self.listing.id,
                            "product_id": self.product.id,
                            "sku": self.listing.external_sku,
                            "channel_qty": qty,
                            "product_qty": qty,
                        }
                    )
                ],
            }
        )
        if age:
            self._age("stock_channel_order", order.ids, age)
        return order

    def _stock_checked(self, quantity):
        """``quantity`` in stock, seen by a first check an hour ago."""
        self._set_stock(self.product, self.stock_main, quantity)
        self._check()
        self.assertEqual(self.listing.anomaly_atp_qty, quantity)
        self._age(
            "stock_channel", self.channel.ids, timedelta(hours=1), "anomaly_checked_at"
        )

    # -- (a) stock falls -----------------------------------------------------

    def test_unexplained_fall_alerts_with_revenue_and_recovers(self):
        """80 of 100 units vanish (no move, no order): one alert and one
        to-do stating 80 units and 1,000.00 at risk; a further fall adds to
        it; restocking closes both."""
        self._stock_checked(100)
        self._set_stock(self.product, self.stock_main, -80)
        for _again in range(2):
            self._check()
        alert = self._open("atp_drop")
        self.assertEqual(len(alert), 1)
        self.assertEqual(alert.units_at_risk, 80)
        self.assertAlmostEqual(alert.revenue_at_risk, 1000.0)
        activity = alert.activity_id
        self.assertEqual(activity.user_id, self.responsible)
        self.assertIn("80 units", str(activity.note))
        self.assertIn("1000.00", str(activity.note))
        self.assertIn(self.listing.external_sku, str(activity.note))
        self.assertFalse(self._mails(), "no e-mail unless E-mail Alerts")

        # 10 of the 20 left vanish too: the same alert, the fall added.
        self._set_stock(self.product, self.stock_main, -10)
        self._check()
        self.assertEqual(self._open("atp_drop"), alert)
        self.assertEqual(alert.units_at_risk, 90)
        self.assertAlmostEqual(alert.revenue_at_risk, 1125.0)
        self.assertEqual(len(self.channel.activity_ids), 1)

        self._set_stock(self.product, self.stock_main, 90)
        self._check()
        self.assertEqual(alert.state, "closed")
        self.assertFalse(activity.exists())

    def test_fall_priced_with_the_channel_pricelist(self):
        """A channel pricelist prices the units at risk, not the product."""
        self.channel.pricelist_id = self.env["product.pricelist"].create(
            {
                "name": "Anomaly Test Prices",
                "item_ids": [
                    Command.create(
                        {
                            "applied_on": "0_product_variant",
                            "product_id": self.product.id,
                            "compute_price": "fixed",
                            "fixed_price": 20.0,
                        }
                    )
                ],
            }
        )
        self._stock_checked(100)
        self._set_stock(self.product, self.stock_main, -60)
        self._check()
        self.assertAlmostEqual(self._open("atp_drop").revenue_at_risk, 60 * 20.0)

    def test_fall_explained_by_a_delivery_or_an_order_does_not_alert(self):
        """A reserved delivery, then a channel order, take 80 units each:
        the fall is explained and no alert opens."""
        self._stock_checked(200)
        self._create_delivery(self.product, 80)
        self._check()
        self.assertFalse(self._open("atp_drop"))
        self._age(
            "stock_channel", self.channel.ids, timedelta(hours=1), "anomaly_checked_at"
        )
        self.env["stock.channel.order"].create(
            {
                "channel_id": self.channel.id,
                "external_id": "ANOMALY-PROMISED",
                "line_ids": [
                    Command.create(
                        {
                            "listing_id": self.listing.id,
                            "product_id": self.product.id,
                            "sku": self.listing.external_sku,
                            "channel_qty": 80,
                            "product_qty": 80,
                        }
                    )
                ],
            }
        )
        self._check()
        self.assertEqual(self.listing.anomaly_atp_qty, 40)
        self.assertFalse(self._open("atp_drop"))

    def test_small_fall_and_switch_off_do_not_alert(self):
        """Below the share or the units, or with alerts off: no alert."""
        self.channel.anomaly_atp_drop_min_units = 50
        self._stock_checked(100)
        self._set_stock(self.product, self.stock_main, -45)
        self._check()
        self.assertFalse(self._open("atp_drop"))
        self.channel.alerts_enabled = False
        self._set_stock(self.product, self.stock_main, -55)
        self._check()
        self.assertFalse(self._open("atp_drop"))

    def test_e_mail_when_configured(self):
        """E-mail Alerts: the responsible also gets the alert by e-mail."""
        self.channel.alert_email = True
        self._stock_checked(100)
        self._set_stock(self.product, self.stock_main, -80)
        self._check()
        mail = self._mails()
        self.assertEqual(len(mail), 1)
        self.assertEqual(mail.recipient_ids, self.responsible.partner_id)
        self.assertIn("Unexplained Stock Fall", mail.subject)
        self.assertIn("1000.00", mail.body_html)

    def test_done_to_do_closes_a_fall_that_stays(self):
        """A real loss acknowledged: marking the to-do done closes the
        alert at the next check though the stock never comes back."""
        self._stock_checked(100)
        self._set_stock(self.product, self.stock_main, -80)
        self._check()
        alert = self._open("atp_drop")
        alert.activity_id.action_feedback(feedback="Counted: broken shelf")
        self._check()
        self.assertEqual(alert.state, "closed")

    # -- (b) publication lag and failures ----------------------------------

    def test_failure_rate_jump_with_pending_units_and_recovery(self):
        """Half of the last hour failed against none in 7 days: alert with
        the unpublished units priced; an hour later it closes."""
        self._publications(20, age=timedelta(days=2))
        self._publications(5)
        recent_failed = self._publications(5, state="failed")
        self._set_stock(self.product, self.stock_main, 100)
        self.listing.last_published_qty = 40
        self.listing._mark_pending(SQL("l.id = %s", self.listing.id))
        self._check()
        alert = self._open("failure_jump")
        self.assertEqual((alert.value, alert.threshold), (50, 20))
        self.assertEqual(alert.units_at_risk, 60)
        self.assertAlmostEqual(alert.revenue_at_risk, 60 * 12.5)
        self.assertFalse(self._open("lag_jump"))

        self._age("stock_channel_publication", recent_failed.ids, timedelta(hours=2))
        self._check()
        self.assertEqual(alert.state, "closed")
        self.assertFalse(alert.activity_id)

    def test_lag_jump_against_the_channel_baseline(self):
        """A median latency five times the 7-day median alerts; the same
        latency on a channel always that slow does not."""
        self._publications(10, latency=1000, age=timedelta(days=1))
        self._publications(5, latency=5000)
        self._check()
        alert = self._open("lag_jump")
        self.assertEqual((alert.value, alert.threshold), (5000, 3000))
        self.assertFalse(self._open("failure_jump"))

        self._publications(30, latency=5000, age=timedelta(days=1))
        self._check()
        self.assertEqual(alert.state, "closed")

    # -- (c) orders stopped --------------------------------------------------

    def test_order_gap_alerts_with_usual_sales_and_recovers(self):
        """Six orders an hour apart, then five silent hours (3 x the median
        gap of 1 h): alert with the 6 units and 75.00 usually sold in that
        time; an order closes it."""
        for hours in range(5, 11):
            self._order(f"GAP-{hours}", qty=2, age=timedelta(hours=hours))
        self._check()
        alert = self._open("order_gap")
        self.assertEqual(alert.threshold, 180)
        self.assertIn(alert.value, (299, 300, 301))
        # 12 units over the 10 h since the first order: 6 in 5 h.
        self.assertEqual(alert.units_at_risk, 6)
        self.assertAlmostEqual(alert.revenue_at_risk, 75.0, places=0)

        self._order("GAP-NOW")
        self._check()
        self.assertEqual(alert.state, "closed")

    def test_regular_orders_and_threshold_check_leave_anomalies_alone(self):
        """Orders at their usual pace raise nothing, and the threshold
        alert check does not close an open anomaly alert."""
        for hours in range(0, 6):
            self._order(f"PACE-{hours}", age=timedelta(hours=hours, minutes=1))
        self._check()
        self.assertFalse(self._open("order_gap"))
        self._stock_checked(100)
        self._set_stock(self.product, self.stock_main, -80)
        self._check()
        self.env["stock.channel"]._cron_check_alerts()
        self.assertTrue(self._open("atp_drop"))

    def test_query_count_does_not_grow_with_listings(self):
        """Set-based: the stock-fall check issues as many queries for
        seven falling listings as for one."""
        self._stock_checked(100)

        def count_queries():
            self._set_stock(self.product, self.stock_main, -80)
            self.env.flush_all()
            self.env.invalidate_all()
            detector = AnomalyDetector(self.env, self.channel, fields.Datetime.now())
            # New products change the kit graph's signature: its one-off
            # re-read (with mrp) is not the check's own cost.
            related_product_ids(self.env, [])
            before = self.env.cr.sql_log_count
            drops, _baselines = detector.atp_drops()
            self.assertEqual(len(drops), 1)
            return self.env.cr.sql_log_count - before

        count_queries()  # warm: what a first check reads once (caches)
        self._set_stock(self.product, self.stock_main, 80)
        one = count_queries()
        for number in range(6):
            product = self._create_product(f"Anomaly Count {number}", lst_price=3.0)
            listing = self._create_listing(self.channel, product)
            self._set_stock(product, self.stock_main, 100)
            self.env.flush_all()
            self.env.cr.execute(
                "UPDATE stock_channel_listing SET anomaly_atp_qty = 100 WHERE id = %s",
                [listing.id],
            )
            self._set_stock(product, self.stock_main, -80)
        self._set_stock(self.product, self.stock_main, 80)
        seven = count_queries()
        self.assertEqual(seven, one)
