from odoo import fields, models


class StockChannelListing(models.Model):
    """The quantity the anomaly check last saw, the baseline of the next."""

    _inherit = "stock.channel.listing"

    anomaly_atp_qty = fields.Integer(
        string="ATP at Last Anomaly Check",
        readonly=True,
        copy=False,
        help="Available to sell when the anomaly check last ran: a fall from "
        "it that orders and deliveries do not explain raises an alert. Empty "
        "before the first check, which compares with the last published "
        "quantity instead.",
    )
