from odoo import fields, models

# Location fields that decide whether (and for which warehouse) stock counts.
SELLABLE_FIELDS = {"channel_sellable", "usage", "location_id", "active"}


class StockLocation(models.Model):
    _inherit = "stock.location"

    channel_sellable = fields.Boolean(
        string="Sellable on Channels",
        default=True,
        help="Stock here (and in sublocations) may be offered on sales "
        "channels. Untick it for quality hold, returns inspection or damaged "
        "goods.",
    )

    def write(self, vals):
        touches = SELLABLE_FIELDS & vals.keys()
        if touches:
            # Before: channels of the old warehouse; after: of the new one.
            self._mark_channel_listings_pending()
        res = super().write(vals)
        if touches:
            self._mark_channel_listings_pending()
        return res

    def _mark_channel_listings_pending(self):
        """Mark the listings of every product stored in these locations or
        their sublocations, in two statements whatever their number."""
        self.flush_model(["channel_sellable", "usage", "location_id", "parent_path"])
        self.env["stock.quant"].flush_model(["product_id", "location_id"])
        self.env.cr.execute(
            """
            SELECT DISTINCT q.product_id, q.location_id
              FROM stock_quant q
              JOIN stock_location loc ON loc.id = q.location_id
              JOIN stock_location root ON starts_with(loc.parent_path, root.parent_path)
             WHERE root.id = ANY(%s)
            """,
            [self.ids],
        )
        pairs = self.env.cr.fetchall()
        return self.env["stock.channel.listing"]._mark_pending_for_stock(pairs)
