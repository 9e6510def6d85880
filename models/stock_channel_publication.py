import logging

from odoo import api, fields, models
from odoo.exceptions import UserError

from ..services import retention

_logger = logging.getLogger(__name__)


class StockChannelPublication(models.Model):
    """Audit trail: one row per listing quantity sent to a channel."""

    _name = "stock.channel.publication"
    _inherit = ["stock.channel.listing.mixin"]
    _description = "Channel Publication"
    _order = "id desc"

    location_ref = fields.Char(
        string="Marketplace Location",
        help="The marketplace location the quantity was sent to, on a channel "
        "that publishes per location; empty for one summed quantity.",
    )
    quantity = fields.Integer(help="Quantity sent, in channel units.")
    previous_qty = fields.Integer(
        string="Previous Quantity", help="What the channel was told before."
    )
    state = fields.Selection(
        [("sent", "Sent"), ("failed", "Failed")], required=True, index=True
    )
    batch_id = fields.Char(
        index=True, help="Sent as Idempotency-Key: a retried batch keeps it."
    )
    job_uuid = fields.Char(string="Job UUID", index=True)
    correlation_id = fields.Char(
        index=True, help="Identifies the stock change that triggered the push."
    )
    http_status = fields.Integer(string="HTTP Status")
    response_excerpt = fields.Text(help="Start of the answer, secrets removed.")
    latency_ms = fields.Integer(
        string="Latency (ms)",
        aggregator="avg",
        help="From the oldest unpublished stock change to the channel's answer.",
    )

    @api.model
    def _action_for(self, domain):
        """The Publications window, narrowed to ``domain``."""
        action = self.env["ir.actions.act_window"]._for_xml_id(
            "stock_channel_sync.stock_channel_publication_action"
        )
        action["domain"] = domain
        return action

    def action_view_job(self):
        self.ensure_one()
        return self._job_action(self.job_uuid)

    @api.model
    def _job_action(self, job_uuid):
        """The queue job's form (publication or reconciliation run). A
        Channel Sync manager reads this addon's jobs through a record rule,
        so the link works without queue_job rights."""
        job = self.env["queue.job"].search([("uuid", "=", job_uuid)], limit=1)
        if not job:
            raise UserError(
                self.env._("The job %s no longer exists (retention).", job_uuid)
            )
        return {
            "type": "ir.actions.act_window",
            "res_model": "queue.job",
            "res_id": job.id,
            "view_mode": "form",
        }

    def action_view_moves(self):
        """The stock moves of the transaction that triggered this push."""
        self.ensure_one()
        self.env.cr.execute(
            "SELECT move_id FROM stock_channel_move_trace WHERE correlation_id = %s",
            [self.correlation_id or ""],
        )
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Stock Moves of %s", self.correlation_id),
            "res_model": "stock.move",
            "view_mode": "list,form",
            "domain": [("id", "in", [row[0] for row in self.env.cr.fetchall()])],
        }

    @api.autovacuum
    def _gc_old_publications(self):
        removed = self._gc_publications(retention.retention_days(self.env))
        _logger.info("Retention: %s publications removed", removed)

    def _gc_publications(self, days):
        """Delete audit rows older than ``days``, in one statement."""
        self.env.cr.execute(
            "DELETE FROM stock_channel_publication WHERE create_date"
            " < (now() at time zone 'UTC') - make_interval(days => %s)",
            [days],
        )
        return self.env.cr.rowcount
