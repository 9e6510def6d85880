from odoo import fields, models

BREAKER_STATES = [
    ("closed", "Closed"),
    ("open", "Open"),
    ("half_open", "Half-Open"),
]


class StockChannelBreakerState(models.Model):
    """Where a channel's circuit breaker stands: one row per channel, written
    only by ``services/breaker.py``, each time in a short transaction of its
    own with a compare-and-set UPDATE (the row lock decides which of two
    racing jobs takes the probe). Kept apart from the channel's row, which
    jobs and managers write: a breaker transition never makes them fail to
    serialize."""

    _name = "stock.channel.breaker.state"
    _inherit = ["stock.channel.owned.mixin"]
    _description = "Channel Circuit Breaker State"
    _log_access = False
    _sql_constraints = [
        ("channel_uniq", "UNIQUE (channel_id)", "One breaker per channel."),
    ]

    state = fields.Selection(
        BREAKER_STATES,
        required=True,
        default="closed",
        readonly=True,
        help="Closed: calls go out. Open: publication does not call the "
        "marketplace. Half-open: one probe call is on its way.",
    )
    since = fields.Datetime(readonly=True, help="When it entered this state.")
    probe_job_uuid = fields.Char(
        readonly=True, help="Half-open: the publication job let through to probe."
    )
    reset_call_id = fields.Integer(
        readonly=True,
        help="The window counts calls after this one (the newest call when the "
        "breaker last closed).",
    )
