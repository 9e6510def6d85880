from datetime import timedelta

from odoo import api, fields, models
from odoo.exceptions import ValidationError


class StockChannelReplay(models.TransientModel):
    """Republish every listing of a channel that changed in a time window:
    after an incident, what the marketplace may have missed or lost goes
    out again, with today's quantities."""

    _name = "stock.channel.replay"
    _description = "Replay a Channel's Publications"

    channel_id = fields.Many2one(
        "stock.channel", required=True, help="The channel whose listings go out."
    )
    date_from = fields.Datetime(
        string="From",
        required=True,
        default=lambda self: fields.Datetime.now() - timedelta(hours=1),
        help="Start of the window: listings published or changed from then on.",
    )
    date_to = fields.Datetime(
        string="To",
        required=True,
        default=fields.Datetime.now,
        help="End of the window.",
    )

    @api.constrains("date_from", "date_to")
    def _check_window(self):
        if any(wizard.date_from > wizard.date_to for wizard in self):
            raise ValidationError(self.env._("The window ends before it starts."))

    def action_replay(self):
        """Mark the window's listings to be sent again (forced) and queue
        the channel's publication."""
        self.ensure_one()
        count = self.channel_id._replay(self.date_from, self.date_to)
        return self.channel_id._notify(
            self.env._("%s listing(s) queued for publication.", count)
        )
