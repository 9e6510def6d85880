from datetime import datetime, time, timedelta

from odoo import Command, fields
from odoo.exceptions import AccessError
from odoo.tests import new_test_user, tagged
from odoo.tools import SQL

from ..services.digest import TOTAL, ChannelDigest
from .common import ChannelCase


@tagged("post_install", "-at_install")
class TestDigest(ChannelCase):
    """The digest's figures against rows the test makes, in and out of the
    day window, and its posting by a Channel Sync manager."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.manager = new_test_user(
            cls.env,
            login="scs_digest_manager",
            email="digest.manager@example.com",
            groups="base.group_user,stock.group_stock_user,"
            "stock_channel_sync.group_channel_manager",
        )
        cls.channel.responsible_id = cls.manager

    def setUp(self):
        super().setUp()
        self.now = fields.Datetime.now()
        self.start = self.now - timedelta(hours=12)
        self.end = self.now + timedelta(minutes=5)

    def _age(self, table, ids, column, delta):
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

    def _publication(self, state="sent", latency=0, channel=None):
        channel = channel or self.channel
        return self.env["stock.channel.publication"].create(
            {
                "listing_id": channel.listing_ids[:1].id,
                "channel_id": channel.id,
                "quantity": 1,
                "state": state,
                "latency_ms": latency,
            }
        )

    def _order(self, external_id, state="done", channel=None):
        return self.env["stock.channel.order"].create(
            {
                "channel_id": (channel or self.channel).id,
                "external_id": external_id,
                "state": state,
            }
        )

    def _discrepancy(
        self, detected_ago, resolved=False, healed=False, kind="channel_drift"
    ):
        return self.env["stock.channel.discrepancy"].create(
            {
                "listing_id": self.listing.id,
                "channel_id": self.channel.id,
                "kind": kind,
                "state": "resolved" if resolved else "open",
                "detected_at": self.now - detected_ago,
                "resolved_at": self.now if resolved else False,
                "healed": healed,
            }
        )

    def _return_line(self, order, state):
        channel_return = self.env["stock.channel.return"].create(
            {
                "channel_id": order.channel_id.id,
                "order_id": order.id,
                "external_id": f"RET-{order.external_id}-{state}",
                "line_ids": [
                    Command.create(
                        {
                            "product_id": self.product.id,
                            "sku": self.listing.external_sku,
                            "channel_qty": 1,
                            "product_qty": 1,
                            "restock_type": "return",
                        }
                    )
                ],
            }
        )
        self.env.flush_all()
        self.env.cr.execute(
            "UPDATE stock_channel_return_line SET state = %s"
            " WHERE channel_return_id = %s",
            [state, channel_return.id],
        )
        self.env.invalidate_all()

    def _make_day(self):
        """The day's rows, and some outside it that must not count."""
        old = self._publication(latency=9000) | self._publication("failed")
        self._age(
            "stock_channel_publication", old.ids, "create_date", timedelta(days=2)
        )
        self._publication("failed")  # delivered by the next ones
        for latency in (100, 200, 300):
            self._publication(latency=latency)
        self._publication("failed")  # not delivered yet

        job = self.channel.with_delay(identity_key="digest-test")._reconcile()
        self.env["queue.job"].search([("uuid", "=", job.uuid)]).state = "failed"

        self._discrepancy(timedelta(hours=1))
        self._discrepancy(timedelta(hours=2), resolved=True, healed=True)
        self._discrepancy(timedelta(days=3), resolved=True)
        # Neither found nor resolved today.
        self._discrepancy(timedelta(days=3), kind="unknown_on_channel")

        done = self._order("DIGEST-1")
        self._order("DIGEST-2", state="error")
        self._order("DIGEST-3", state="received")
        late = self._order("DIGEST-OLD", state="error")
        self._age("stock_channel_order", late.ids, "create_date", timedelta(days=2))
        self._order("DIGEST-B2B", channel=self.channel_both)

        self._return_line(done, "to_inspect")
        self._return_line(late, "to_inspect")
        self._return_line(done, "accepted")

        self.env["stock.channel.alert"].create(
            {
                "channel_id": self.channel.id,
                "kind": "atp_drop",
                "state": "closed",
                "opened_at": self.now - timedelta(hours=3),
                "revenue_at_risk": 150.0,
            }
        )
        self.env["stock.channel.alert"].create(
            {
                "channel_id": self.channel.id,
                "kind": "order_gap",
                "state": "closed",
                "opened_at": self.now - timedelta(days=2),
                "revenue_at_risk": 999.0,
            }
        )

    def test_figures_match_the_day(self):
        """Every figure against the rows made for it, per channel and for
        both channels together."""
        self._make_day()
        channels = self.channel | self.channel_both
        figures = ChannelDigest(self.env, channels, self.start, self.end).figures()
        day = figures[self.channel.id]
        self.assertEqual(day["published"], 3)
        self.assertAlmostEqual(day["latency_p50"], 200)
        self.assertAlmostEqual(day["latency_p95"], 290)
        self.assertEqual(day["failed"], 2)
        self.assertEqual(day["failed_delivered_later"], 1)
        self.assertEqual(day["failed_undelivered"], 1)
        self.assertEqual(day["jobs_failed"], 1)
        self.assertEqual(day["discrepancies"], 2)
        self.assertEqual(day["discrepancies_resolved"], 2)
        self.assertEqual(day["discrepancies_healed"], 1)
        self.assertEqual(day["orders"], 3)
        self.assertEqual(day["orders_error"], 1)
        self.assertEqual(day["returns_to_inspect"], 2)
        self.assertEqual(day["anomaly_alerts"], 1)
        self.assertAlmostEqual(day["revenue_at_risk"], 150.0)
        both = figures[self.channel_both.id]
        self.assertEqual((both["orders"], both["published"]), (1, 0))
        total = figures[TOTAL]
        self.assertEqual(total["orders"], 4)
        self.assertEqual(total["published"], 3)
        self.assertAlmostEqual(total["revenue_at_risk"], 150.0)
        if "cause" in self.env["stock.channel.discrepancy"]._fields:
            self.assertEqual(sum(day["causes"].values()), 2)
        else:
            self.assertEqual(day["causes"], {})

    def test_manager_sends_the_digest_now(self):
        """A Channel Sync manager (no administrator) posts today's digest of
        the channel and of all the company's channels; E-mail Digest sends
        it to the responsible too."""
        self.assertFalse(self.manager.has_group("base.group_system"))
        self._make_day()
        self.channel.digest_email = True
        before = self.env["mail.message"].search([]).ids
        self.channel.with_user(self.manager).action_send_digest_now()
        posted = self.env["mail.message"].search(
            [("id", "not in", before), ("model", "=", "stock.channel")]
        )
        own = posted.filtered(lambda m: m.res_id == self.channel.id)
        body = "\n".join(own.mapped("body"))
        self.assertIn(f"Daily digest of {self.channel.name}", body)
        self.assertIn("(UTC)", body)
        self.assertIn("Orders: 3 received, 1 in error.", body)
        self.assertIn("revenue at risk 150.00", body)
        summary = posted.filtered(lambda m: "all channels of" in m.body)
        self.assertEqual(len(summary), 1)
        first = self.env["stock.channel"].search(
            [("company_id", "=", self.channel.company_id.id)], limit=1
        )
        self.assertEqual(summary.res_id, first.id)
        mails = self.env["mail.mail"].search(
            [("model", "=", "stock.channel"), ("res_id", "=", self.channel.id)]
        )
        self.assertIn(self.manager.partner_id, mails.recipient_ids)
        self.assertTrue(any("Daily digest" in m.subject for m in mails))

    def test_only_managers_send_it(self):
        """A Channel Sync user may not send the digest."""
        user = new_test_user(
            self.env,
            login="scs_digest_user",
            groups="base.group_user,stock_channel_sync.group_channel_user",
        )
        with self.assertRaises(AccessError):
            self.channel.with_user(user).action_send_digest_now()

    def test_cron_covers_yesterday_utc(self):
        """The cron's window is yesterday's whole UTC day: rows of today are
        not in it; without E-mail Digest nothing is e-mailed."""
        self._order("DIGEST-TODAY")
        messages = self.env["mail.message"].search([]).ids
        self.env["stock.channel"]._cron_send_digest()
        posted = self.env["mail.message"].search(
            [
                ("id", "not in", messages),
                ("res_id", "=", self.channel.id),
                ("model", "=", "stock.channel"),
            ]
        )
        today = datetime.combine(self.now.date(), time.min)
        yesterday = (today - timedelta(days=1)).strftime("%Y-%m-%d 00:00")
        own = posted.filtered(
            lambda m: f"Daily digest of {self.channel.name}" in m.body
        )
        self.assertEqual(len(own), 1)
        self.assertIn(yesterday, own.body)
        self.assertIn("Orders: 0 received", own.body)
        mails = self.env["mail.mail"].search(
            [("model", "=", "stock.channel"), ("res_id", "=", self.channel.id)]
        )
        self.assertFalse(mails, "no e-mail unless E-mail Digest")
