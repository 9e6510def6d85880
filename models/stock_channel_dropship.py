from odoo import api, fields, models
from odoo.exceptions import ValidationError


class StockChannelDropship(models.Model):
    """The channel option that sells vendors' drop-ship stock: orders beyond
    the warehouse's own stock are confirmed with the rest on the dropship
    route (``services/dropship_split.py``)."""

    _inherit = "stock.channel"

    sell_dropship = fields.Boolean(
        string="Sell drop-ship stock",
        default=False,
        help="Listings of products with the dropship route add their vendors' "
        "fresh feed quantities to what the channel may sell. Orders beyond the "
        "warehouse's own stock are confirmed with the rest on the dropship "
        "route, so that Odoo creates the purchase order to the vendor. Needs "
        "Odoo's Dropship module (stock_dropshipping); without it nothing "
        "changes.",
    )
    own_lead_time_days = fields.Integer(
        string="Own Handling Time (days)",
        default=2,
        help="On a channel selling drop-ship stock, published with quantities "
        "that own stock covers (Amazon's lead_time_to_ship_max_days, the "
        "generic contract's lead_time_days); a quantity that needs vendors' "
        "stock goes with their feed's handling time instead, so a handling "
        "time once raised for drop-ship comes back down.",
    )

    @api.constrains("own_lead_time_days")
    def _check_own_lead_time(self):
        for channel in self:
            if not 0 <= channel.own_lead_time_days <= 365:
                raise ValidationError(
                    self.env._(
                        "The handling time of channel %s must be between 0 and "
                        "365 days.",
                        channel.display_name,
                    )
                )

    def write(self, vals):
        """Another source of sellable stock changes every listing's quantity:
        mark the listings of the channels whose option changes."""
        changed = self.browse()
        if "sell_dropship" in vals:
            changed = self.filtered(
                lambda c: c.sell_dropship != bool(vals["sell_dropship"])
            )
        if "own_lead_time_days" in vals:
            changed |= self.filtered(
                lambda c: c.sell_dropship
                and c.own_lead_time_days != vals["own_lead_time_days"]
            )
        res = super().write(vals)
        if changed:
            self.env["stock.channel.listing"]._mark_pending_for_channels(changed.ids)
        return res
