from odoo import fields, models


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

    def write(self, vals):
        """Another source of sellable stock changes every listing's quantity:
        mark the listings of the channels whose option changes."""
        changed = self.browse()
        if "sell_dropship" in vals:
            changed = self.filtered(
                lambda c: c.sell_dropship != bool(vals["sell_dropship"])
            )
        res = super().write(vals)
        if changed:
            self.env["stock.channel.listing"]._mark_pending_for_channels(changed.ids)
        return res
