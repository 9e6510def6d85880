from odoo import api, fields, models
from odoo.exceptions import ValidationError
from odoo.tools import SQL

from ..services import breaker
from .stock_channel_breaker_state import BREAKER_STATES

# Failing calls shown on the channel's Monitoring tab.
RECENT_FAILED_CALLS = 10


class StockChannel(models.Model):
    """A channel's circuit breaker: its parameters, where it stands and the
    recent failing calls (the logic: ``services/breaker.py``)."""

    _inherit = "stock.channel"

    breaker_failure_rate = fields.Integer(
        string="Failure Share (%)",
        default=breaker.DEFAULT_FAILURE_RATE,
        help="The circuit breaker opens when at least this percentage of the "
        "channel's last calls failed (timeouts, refused connections, 5xx, "
        "429). A marketplace refusing one item (a 4xx) is no failure.",
    )
    breaker_window = fields.Integer(
        string="Window (calls)",
        default=breaker.DEFAULT_WINDOW,
        help="How many of the channel's latest marketplace calls the failure "
        "share is computed over.",
    )
    breaker_min_calls = fields.Integer(
        string="Minimum Calls",
        default=breaker.DEFAULT_MIN_CALLS,
        help="Calls made since the breaker last closed before it may open: a "
        "few failures of a quiet channel do not open it.",
    )
    breaker_wait_seconds = fields.Integer(
        string="Open Wait (s)",
        default=breaker.DEFAULT_WAIT_SECONDS,
        help="Seconds the breaker stays open before one probe call is let "
        "through (half-open): answered, it closes and every pending listing is "
        "published; failed, it opens for another wait.",
    )
    breaker_state = fields.Selection(
        BREAKER_STATES,
        string="Circuit Breaker",
        compute="_compute_breaker",
        help="Closed: publication calls the marketplace. Open: the marketplace "
        "failed too often; publication jobs end without calling it and the "
        "changes stay pending. Half-open: one probe call is on its way.",
    )
    breaker_since = fields.Datetime(
        string="Breaker State Since",
        compute="_compute_breaker",
        help="When the circuit breaker entered its current state (empty: never "
        "opened).",
    )
    breaker_failure_share = fields.Integer(
        string="Recent Failure Share (%)",
        compute="_compute_breaker",
        help="Failed share of the calls in the breaker's window now.",
    )
    breaker_window_calls = fields.Integer(
        string="Calls in Window",
        compute="_compute_breaker",
        help="Marketplace calls the failure share is computed over now (since "
        "the breaker last closed, at most the window).",
    )
    failed_call_ids = fields.Many2many(
        "stock.channel.call",
        string="Recent Failing Calls",
        compute="_compute_failed_call_ids",
        help="The channel's latest marketplace calls that failed (at most "
        "ten; All Calls lists every one).",
    )

    @api.constrains(
        "breaker_failure_rate",
        "breaker_window",
        "breaker_min_calls",
        "breaker_wait_seconds",
    )
    def _check_breaker(self):
        for channel in self:
            if not 1 <= channel.breaker_failure_rate <= 100:
                raise ValidationError(
                    self.env._("The breaker's failure share is 1 to 100 %.")
                )
            if min(channel.breaker_window, channel.breaker_wait_seconds) < 1 or (
                not 1 <= channel.breaker_min_calls <= channel.breaker_window
            ):
                raise ValidationError(
                    self.env._(
                        "The breaker's window, minimum calls and open wait are "
                        "at least 1, and the minimum calls at most the window."
                    )
                )

    def _compute_breaker(self):
        ids = [channel_id for channel_id in self.ids if channel_id]
        found = breaker.states(self.env, ids) if ids else {}
        shares = self._breaker_window_counts(found)
        for channel in self:
            state = found.get(channel.id, breaker.CLOSED)
            channel.breaker_state = state.state
            channel.breaker_since = state.since
            total, failed = shares.get(channel.id, (0, 0))
            channel.breaker_window_calls = total
            channel.breaker_failure_share = 100 * failed // total if total else 0

    def _compute_failed_call_ids(self):
        """The latest few only: an outage leaves thousands."""
        Call = self.env["stock.channel.call"]
        for channel in self:
            channel.failed_call_ids = (
                Call.search(
                    [("channel_id", "=", channel.id), ("ok", "=", False)],
                    limit=RECENT_FAILED_CALLS,
                )
                if channel.id
                else Call
            )

    def _breaker_window_counts(self, found):
        """``{channel id: (calls, failed)}`` of each breaker's window, in one
        query (the dashboard shows every channel)."""
        ids = [channel_id for channel_id in self.ids if channel_id]
        if not ids:
            return {}
        self.flush_model(["breaker_window"])
        self.env.cr.execute(
            SQL(
                """
                SELECT c.id, COUNT(w.ok), COUNT(w.ok) FILTER (WHERE NOT w.ok)
                  FROM stock_channel c
             LEFT JOIN stock_channel_breaker_state b ON b.channel_id = c.id
             LEFT JOIN LATERAL (
                        SELECT ok FROM stock_channel_call k
                         WHERE k.channel_id = c.id
                           AND k.id > COALESCE(b.reset_call_id, 0)
                      ORDER BY k.id DESC LIMIT c.breaker_window) w ON TRUE
                 WHERE c.id = ANY(%s)
              GROUP BY c.id
                """,
                ids,
            )
        )
        return {row[0]: row[1:] for row in self.env.cr.fetchall()}

    def action_view_calls(self):
        return self._channel_action("stock_channel_call_action")
