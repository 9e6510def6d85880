from datetime import timedelta

from odoo import api, fields, models
from odoo.exceptions import UserError

from odoo.addons.queue_job.exception import RetryableJobError

from ..adapters.base import PermanentError, TransientError
from ..services.reconciler import Reconciler
from .stock_channel import JOB_CHANNEL


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

    def _enqueue_reconciliation(self):
        """One job per channel (identity key), as its technical user, on the
        channel's own job channel like its publications."""
        for channel in self:
            channel.with_user(channel.user_id).with_company(
                channel.company_id
            ).with_delay(
                description=self.env._("Reconcile channel %s", channel.code),
                channel=f"{JOB_CHANNEL}.{channel.code}",
                identity_key=f"stock_channel_sync.reconcile.{channel.id}",
            )._reconcile()

    def _reconcile(self):
        """Job: one reconciliation run."""
        self.ensure_one()
        try:
            return Reconciler(self, self.env.context.get("job_uuid")).run()
        except TransientError as exc:
            raise RetryableJobError(str(exc), seconds=exc.retry_after) from exc
        except PermanentError as exc:
            raise UserError(str(exc)) from exc

    @api.model
    def _cron_reconcile(self):
        """Enqueue the channels whose reconciliation interval has elapsed."""
        now = fields.Datetime.now()
        due = self.search([("reconcile_interval", ">", 0)]).filtered(
            lambda c: not c.last_reconciled_at
            or c.last_reconciled_at + timedelta(minutes=c.reconcile_interval) <= now
        )
        due._enqueue_reconciliation()
