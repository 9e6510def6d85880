from odoo import fields, models


class StockChannelSupplierStock(models.Model):
    """What one vendor's feed says it holds of one product: the raw figure,
    before the vendor buffer and freshness (the ATP engine applies both,
    joining this table to its feed). Written by the feed imports only, in
    SQL (``services/supplier_feed_import.py``)."""

    _name = "stock.channel.supplier.stock"
    _description = "Supplier Stock Level"
    _order = "feed_id, product_id"
    _sql_constraints = [
        (
            "feed_product_uniq",
            "UNIQUE (feed_id, product_id)",
            "A supplier feed reports each product once.",
        ),
        (
            "quantity_positive",
            "CHECK (quantity >= 0)",
            "A vendor quantity cannot be negative.",
        ),
    ]

    feed_id = fields.Many2one(
        "stock.channel.supplier.feed",
        string="Supplier Feed",
        required=True,
        ondelete="cascade",
        index=True,
        readonly=True,
        help="The vendor feed that reported this quantity.",
    )
    product_id = fields.Many2one(
        "product.product",
        required=True,
        index=True,
        readonly=True,
        ondelete="cascade",
        help="The product the feed's SKU was matched to.",
    )
    company_id = fields.Many2one(
        related="feed_id.company_id",
        store=True,
        index=True,
        help="The feed's company.",
    )
    partner_id = fields.Many2one(
        related="feed_id.partner_id", string="Vendor", help="The feed's vendor."
    )
    vendor_code = fields.Char(
        readonly=True, help="The SKU as the vendor's feed names the product."
    )
    quantity = fields.Float(
        digits="Product Unit of Measure",
        readonly=True,
        help="The vendor's figure as the last file gave it, before the vendor "
        "buffer; it counts as 0 while the feed is stale.",
    )
    updated_at = fields.Datetime(readonly=True, help="When this quantity last changed.")
