from odoo import fields, models


class StockChannelOrderLine(models.Model):
    """A resolved line of a marketplace order: until its sale order exists,
    its quantity counts as promised demand in every sharing channel's ATP."""

    _name = "stock.channel.order.line"
    _description = "Channel Order Line"
    _order = "order_id, id"

    order_id = fields.Many2one(
        "stock.channel.order", required=True, index=True, ondelete="cascade"
    )
    company_id = fields.Many2one(related="order_id.company_id", store=True)
    listing_id = fields.Many2one("stock.channel.listing", ondelete="set null")
    product_id = fields.Many2one(
        "product.product", required=True, index=True, ondelete="restrict"
    )
    sku = fields.Char(string="SKU", required=True)
    external_line_id = fields.Char(
        string="Marketplace Line ID",
        readonly=True,
        help="The marketplace's id of this line (Shopify's and WooCommerce's "
        "line item id), which its refunds name.",
    )
    channel_qty = fields.Float(
        string="Ordered", digits="Product Unit of Measure", help="In channel units."
    )
    product_qty = fields.Float(
        string="Quantity",
        digits="Product Unit of Measure",
        help="In product units: ordered quantity times the listing's pack size.",
    )
    unit_price = fields.Float(digits="Product Price")

    def _product_unit_price(self):
        """The channel's price is per channel unit (a case of 6): per product
        unit it is divided by the pack size."""
        self.ensure_one()
        if not self.product_qty:
            return self.unit_price
        return self.unit_price * self.channel_qty / self.product_qty
