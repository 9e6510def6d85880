from datetime import timedelta

from odoo import api, fields, models
from odoo.exceptions import UserError

from odoo.addons.queue_job.exception import RetryableJobError

from ..adapters import outbound
from ..services import jobs, supplier_feed_import, supplier_feed_poll
from .stock_channel import MANAGER_GROUP

# The cron runs every few minutes: a feed whose last poll is this much short
# of its interval is due too, rather than an interval later.
CRON_SLACK = timedelta(minutes=2)
# Seconds before a poll that found another import of its feed running
# tries again (the try not counted).
BUSY_RETRY_SECONDS = 30


class StockChannelSupplierFeedPoll(models.Model):
    """Polled feeds: a cron enqueues one job per due feed (identity key),
    the job fetches the vendor's file through the outbound guard and
    imports it as the feed's technical user."""

    _inherit = "stock.channel.supplier.feed"

    last_poll_at = fields.Datetime(
        string="Last Poll",
        readonly=True,
        copy=False,
        help="When the poll job last fetched Poll URL, successfully or not.",
    )

    def action_poll_now(self):
        """Managers: fetch the vendor's file now, whatever the schedule."""
        if not self.env.user.has_group(MANAGER_GROUP):
            raise UserError(
                self.env._("Only Channel Sync managers can poll a supplier feed.")
            )
        polled = self.filtered(lambda f: f.source == "poll" and f.active)
        if not polled:
            raise UserError(
                self.env._("Only active feeds with the polled source are polled.")
            )
        jobs.enqueue("supplier_feed_poll", polled)
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "message": self.env._("Poll queued."),
                "type": "success",
                "sticky": False,
            },
        }

    @api.model
    def _cron_poll_feeds(self):
        """Enqueue the active polled feeds whose interval has elapsed."""
        now = fields.Datetime.now()
        due = self.search([("source", "=", "poll")]).filtered(
            lambda f: not f.last_poll_at
            or f.last_poll_at + timedelta(minutes=f.poll_interval_minutes) - CRON_SLACK
            <= now
        )
        jobs.enqueue("supplier_feed_poll", due)

    def _poll_source(self):
        # sudo: system parameters are readable by administrators only; this
        # one is a list of host names, no secret.
        allowed = outbound.allowed_hosts(
            self.env["ir.config_parameter"]
            .sudo()
            .get_param(outbound.ALLOWED_HOSTS_PARAM, "")
        )
        return supplier_feed_poll.FeedSource(
            code=self.code,
            url=self.poll_url or "",
            token=self.poll_token or "",
            allowed_hosts=allowed,
        )

    def _poll_feed(self, session=None):
        """Job: fetch the vendor's file and import it. Transient failures
        (timeouts, 5xx, 429) are retried through a day of outage; a refused
        destination, a 4xx or a file that is not a valid feed are recorded
        on the feed (Last Error) and the job ends: the next scheduled poll
        tries again. ``session`` replaces the HTTP session (tests)."""
        self.ensure_one()
        if not self.active or self.source != "poll":
            return "nothing to do: not an active polled feed"
        self._stamp_poll()
        try:
            data = supplier_feed_poll.fetch(self._poll_source(), session)
        except supplier_feed_poll.TransientError as exc:
            raise RetryableJobError(
                supplier_feed_poll.user_message(exc), seconds=exc.retry_after
            ) from exc
        except supplier_feed_poll.PermanentError as exc:
            message = supplier_feed_poll.user_message(exc)
            supplier_feed_import.record_error(self, message)
            return f"refused: {message}"
        try:
            result = supplier_feed_import.import_feed(self, data)
        except supplier_feed_import.FeedFileError as exc:
            supplier_feed_import.record_error(self, str(exc))
            return f"refused: {exc}"
        except supplier_feed_import.FeedBusy as exc:
            raise RetryableJobError(
                str(exc), seconds=BUSY_RETRY_SECONDS, ignore_retry=True
            ) from exc
        except supplier_feed_import.StaleFeed as exc:
            return f"refused: {exc}"
        return (
            f"{result.rows_read} rows read, {result.matched} matched, "
            f"{result.unknown} unknown, {result.zeroed} zeroed, "
            f"{result.changed} products changed"
        )

    def _stamp_poll(self):
        self.env.cr.execute(
            "UPDATE stock_channel_supplier_feed SET last_poll_at = %s WHERE id = %s",
            [fields.Datetime.now(), self.id],
        )
        self.invalidate_recordset(["last_poll_at"])
