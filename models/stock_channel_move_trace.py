from odoo import api, fields, models

from ..services import retention


class StockChannelMoveTrace(models.Model):
    """Which stock moves a transaction's correlation id stands for, so that a
    publication leads back to the moves that triggered it.

    Insert-only, plain integers and no foreign key, like the change log: it
    is written inside stock transactions and must never lock or conflict."""

    _name = "stock.channel.move.trace"
    _description = "Channel Sync Move Trace"
    _log_access = False

    correlation_id = fields.Char(required=True, index=True)
    move_id = fields.Integer(required=True)
    company_id = fields.Integer(index=True, help="The move's company.")
    traced_at = fields.Datetime(required=True)

    @api.autovacuum
    def _gc_old_traces(self):
        self._gc(retention.retention_days(self.env))

    def _gc(self, days):
        self.env.cr.execute(
            "DELETE FROM stock_channel_move_trace WHERE traced_at"
            " < (now() at time zone 'UTC') - make_interval(days => %s)",
            [days],
        )
