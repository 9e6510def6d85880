from odoo import fields, models
from odoo.tools import SQL


class StockChannel(models.Model):
    """Returned goods awaiting inspection, on the channel-health dashboard."""

    _inherit = "stock.channel"

    return_to_inspect_count = fields.Integer(
        string="Returns to Inspect",
        compute="_compute_return_health",
        help="Returned lines received in a returns location and not inspected "
        "yet: stock that is neither sellable nor written off.",
    )
    oldest_return_age = fields.Integer(
        string="Oldest Return to Inspect (h)",
        compute="_compute_return_health",
        help="Hours since the oldest of them was received.",
    )

    def _compute_return_health(self):
        """One query for every channel of the dashboard."""
        figures = {}
        ids = [channel_id for channel_id in self.ids if channel_id]
        if ids:
            self.env["stock.channel.return.line"].flush_model(
                ["channel_id", "state", "received_at"]
            )
            self.env.cr.execute(
                SQL(
                    """SELECT channel_id, COUNT(*),
                              EXTRACT(EPOCH FROM (now() at time zone 'UTC')
                                                 - MIN(received_at)) / 3600
                         FROM stock_channel_return_line
                        WHERE channel_id = ANY(%s) AND state = 'to_inspect'
                     GROUP BY channel_id""",
                    ids,
                )
            )
            figures = {row[0]: row[1:] for row in self.env.cr.fetchall()}
        for channel in self:
            count, hours = figures.get(channel.id, (0, 0))
            channel.return_to_inspect_count = count
            channel.oldest_return_age = int(hours or 0)

    def action_view_returns_to_inspect(self):
        return self._channel_action(
            "stock_channel_return_line_action_inspect", search_default_to_inspect=1
        )
