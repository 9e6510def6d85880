from datetime import timedelta

from odoo import api, fields, models
from odoo.exceptions import UserError

from odoo.addons.queue_job.exception import RetryableJobError

from ..adapters.base import PermanentError, TransientError
from ..services import jobs
from ..services.reconciler import Reconciler

# After a run healed listings, one more run this much later checks that the
# channel took the republished quantities (and resolves the rows) instead of
# leaving them open until the next scheduled run.
FOLLOW_UP_SECONDS = 120


class StockChannel(models.Model):
    """Reconciliation: what the channel shows against what Odoo says."""

    _inherit = "stock.channel"

    auto_heal = fields.Boolean(
        default=True,
        help="When a run finds the channel showing a wrong quantity, publish "
        "the right one again. Odoo is the system of record: leave it on unless "
        "the channel's quantities are corrected by hand on purpose.",
    )
    reconcile_interval = fields.Integer(
        string="Reconcile Every",
        default=60,
        help="Minutes between two scheduled reconciliation runs; 0 turns the "
        "scheduled run off (Reconcile Now still works).",
    )
    last_reconciled_at = fields.Datetime(
        string="Last Reconciliation", readonly=True, copy=False
    )
    discrepancy_ids = fields.One2many(
        "stock.channel.discrepancy", "channel_id", string="Discrepancies"
    )

    def action_reconcile_now(self):
        self._check_manager()
        self._enqueue_reconciliation()
        return self._notify(self.env._("Reconciliation queued."))

    def action_view_discrepancies(self):
        return self._channel_action("stock_channel_discrepancy_action")

    def _enqueue_reconciliation(self, eta=None, follow_up=False):
        """One job per channel (identity key), as its technical user; its
        job channel and retry pattern come from queue.job.function data."""
        jobs.enqueue(
            "reconcile",
            self,
            eta=eta,
            variant="follow_up" if follow_up else None,
            follow_up=follow_up,
        )

    def _reconcile(self, follow_up=False):
        """Job: one reconciliation run; after healing, one follow-up run
        (which never schedules another: a channel that ignores the
        republished quantities must not be hammered)."""
        self.ensure_one()
        reconciler = Reconciler(self, self.env.context.get("job_uuid"))
        try:
            summary = reconciler.run()
        except TransientError as exc:
            raise RetryableJobError(str(exc), seconds=exc.retry_after) from exc
        except PermanentError as exc:
            raise UserError(str(exc)) from exc
        if reconciler.healed and not follow_up:
            self._enqueue_reconciliation(eta=FOLLOW_UP_SECONDS, follow_up=True)
            summary += f"; follow-up run in {FOLLOW_UP_SECONDS} s"
        return summary

    @api.model
    def _cron_reconcile(self):
        """Enqueue the channels whose reconciliation interval has elapsed."""
        now = fields.Datetime.now()
        due = self.search([("reconcile_interval", ">", 0)]).filtered(
            lambda c: not c.last_reconciled_at
            or c.last_reconciled_at + timedelta(minutes=c.reconcile_interval) <= now
        )
        due._enqueue_reconciliation()
