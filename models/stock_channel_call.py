import logging

from odoo import api, fields, models

from ..services import retention

_logger = logging.getLogger(__name__)

CALL_KINDS = [
    ("ok", "Answered"),
    ("timeout", "Timeout"),
    ("connection", "Connection Failed"),
    ("server", "Server Error (5xx)"),
    ("rate_limit", "Rate Limited (429)"),
    ("answer", "Answer Too Large or Too Slow"),
]


class StockChannelCall(models.Model):
    """Insert-only log of a channel's marketplace calls and how they ended:
    what its circuit breaker counts (``services/breaker.py``).

    Each row is written by the call's own short transaction, committed at
    once: it survives the rollback of the job that made the call, parallel
    jobs of the channel see it at once, and inserts never conflict, so no
    job fails to serialize over it. Trimmed by the retention."""

    _name = "stock.channel.call"
    _inherit = ["stock.channel.owned.mixin"]
    _description = "Channel Marketplace Call"
    _order = "id desc"
    _log_access = False

    called_at = fields.Datetime(
        required=True, readonly=True, index=True, help="When the call was made."
    )
    ok = fields.Boolean(
        string="Answered",
        readonly=True,
        help="The marketplace answered (a refusal of one item included). "
        "Not answered: a timeout, a refused connection, a 5xx, a 429 or an "
        "answer too large or too slow, which the circuit breaker counts as "
        "failures.",
    )
    kind = fields.Selection(
        CALL_KINDS,
        string="Outcome",
        required=True,
        readonly=True,
        help="Answered, or how the call failed.",
    )
    http_status = fields.Integer(
        string="HTTP Status", readonly=True, help="0: no answer at all."
    )
    summary = fields.Char(
        string="Request", readonly=True, help="Method and path, never the query."
    )
    message = fields.Char(readonly=True, help="Why it failed, secrets removed.")
    duration_ms = fields.Integer(
        string="Duration (ms)",
        readonly=True,
        help="From sending the request to the end of the answer, or the failure.",
    )

    def init(self):
        # The breaker's window: the channel's latest calls, newest first.
        self.env.cr.execute(
            "CREATE INDEX IF NOT EXISTS stock_channel_call_channel_id_id_idx"
            " ON stock_channel_call (channel_id, id DESC)"
        )

    @api.autovacuum
    def _gc_old_calls(self):
        """Calls older than the retention: the breaker only reads the last
        window of each channel."""
        self.env.cr.execute(
            "DELETE FROM stock_channel_call WHERE called_at"
            " < (now() at time zone 'UTC') - make_interval(days => %s)",
            [retention.retention_days(self.env)],
        )
        _logger.info("Retention: %s marketplace calls removed", self.env.cr.rowcount)
