from odoo import fields, models


class StockChannelListingMixin(models.AbstractModel):
    """A row about one listing of a channel (a publication, a discrepancy):
    the same links, stored for grouping, and the way back to the listing."""

    _name = "stock.channel.listing.mixin"
    _inherit = ["stock.channel.owned.mixin"]
    _description = "Row About a Channel Listing"

    listing_id = fields.Many2one(
        "stock.channel.listing", required=True, index=True, ondelete="cascade"
    )
    product_id = fields.Many2one(related="listing_id.product_id", store=True)
    external_sku = fields.Char(string="External SKU")

    def action_view_listing(self):
        self.ensure_one()
        return self.listing_id.get_formview_action()

    def action_view_publications(self):
        """The listing's publication history."""
        self.ensure_one()
        return self.listing_id.action_view_publications()
