import logging
from datetime import timedelta

from odoo import api, fields, models

from ..services import retention
from ..services.jobs import CHANNEL_FIELD

_logger = logging.getLogger(__name__)


class QueueJob(models.Model):
    """A job tied to the sales channel it works for, whatever its kind and
    its identity key: the health figures, *Retry Failed* and retention of a
    channel select its jobs by this field."""

    _inherit = "queue.job"

    stock_channel_id = fields.Many2one(
        "stock.channel",
        string="Sales Channel",
        compute="_compute_stock_channel_id",
        store=True,
        readonly=True,
        index="btree_not_null",
        ondelete="set null",
    )

    @api.depends("model_name", "records")
    def _compute_stock_channel_id(self):
        """Once, when the job is created (queue_job never rewrites its
        records), or for every existing job when the addon is installed.
        Set-based: one read per model of the registry. queue_job creates
        its rows as superuser, so the records are readable; one may have
        been deleted since (``exists()``)."""
        ids_by_model = {}
        for job in self:
            if job.model_name in CHANNEL_FIELD:
                ids_by_model.setdefault(job.model_name, set()).update(job.records.ids)
        channel_of = {}
        for model, ids in ids_by_model.items():
            records = self.env[model].browse(ids).exists()
            field = CHANNEL_FIELD[model]
            for record in records:
                channel_of[model, record.id] = (
                    record.id if field == "id" else record[field].id
                )
        for job in self:
            ids = job.records.ids if job.model_name in CHANNEL_FIELD else []
            channel_id = channel_of.get((job.model_name, ids[0])) if ids else None
            job.stock_channel_id = channel_id or False

    @api.autovacuum
    def _gc_failed_channel_jobs(self):
        """Failed jobs of every kind, of every channel (archived ones too),
        older than the retention: queue_job vacuums only finished ones."""
        failed = self.search(
            [
                ("stock_channel_id", "!=", False),
                ("state", "=", "failed"),
                (
                    "date_created",
                    "<",
                    fields.Datetime.now()
                    - timedelta(days=retention.retention_days(self.env)),
                ),
            ]
        )
        failed.unlink()
        _logger.info("Retention: %s failed channel jobs removed", len(failed))
