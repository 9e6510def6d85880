from odoo import api, models

from ..services import supplier_feed_stale


class StockChannelSupplierFeedStale(models.Model):
    """Staleness: the cron's entry point (``services/supplier_feed_stale.py``)
    and the to-do that tells someone, as the 3PL alerts do: opened when a
    feed goes stale or its last file was refused, marked done when it
    recovers."""

    _name = "stock.channel.supplier.feed"
    _inherit = ["stock.channel.supplier.feed", "mail.activity.mixin"]

    @api.model
    def _cron_mark_stale(self):
        """Tell the channels about the feeds that went stale since the last
        run (their products' listings are published again, with 0), then
        open or close the feeds' to-dos."""
        handled = supplier_feed_stale.mark_stale(self.env)
        self.search([])._sync_alerts()
        return handled

    def _alert_summary(self):
        return self.env._("Supplier feed %s: stale or refused", self.code)

    def _sync_alerts(self):
        """One to-do per feed in alert (stale, never imported after a
        file was expected, or its last file refused), for its technical
        user or else whoever created it; done once healthy again."""
        self.invalidate_recordset()
        for feed in self:
            summary = feed._alert_summary()
            todo = feed.activity_ids.filtered(lambda a, s=summary: a.summary == s)
            failing = feed.active and feed.last_update and not feed.is_fresh
            failing = failing or bool(feed.last_error)
            if failing and not todo:
                feed.activity_schedule(
                    "mail.mail_activity_data_todo",
                    summary=summary,
                    note=feed.last_error
                    or self.env._(
                        "No file applied for more than %s hours: its quantities "
                        "count as 0 on the channels.",
                        feed.freshness_hours,
                    ),
                    user_id=(feed.user_id or feed.create_uid).id or self.env.uid,
                )
            elif not failing and todo:
                todo.action_feedback(
                    feedback=self.env._("Recovered: a file was applied in time.")
                )
