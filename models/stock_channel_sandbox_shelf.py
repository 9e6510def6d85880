from odoo import fields, models


class StockChannelSandboxShelf(models.Model):
    """What a sandbox channel shows its buyers: one quantity per SKU, as the
    last publication left it (or as a manager edited it to see drift
    detected and healed)."""

    _name = "stock.channel.sandbox.shelf"
    _description = "Sandbox Shelf Quantity"
    _order = "channel_id, external_sku"

    channel_id = fields.Many2one(
        "stock.channel", required=True, ondelete="cascade", index=True, readonly=True
    )
    company_id = fields.Many2one(
        "res.company", required=True, index=True, readonly=True
    )
    listing_id = fields.Many2one(
        "stock.channel.listing", ondelete="set null", readonly=True
    )
    external_sku = fields.Char(string="SKU", required=True, readonly=True)
    location_ref = fields.Char(
        string="Location",
        readonly=True,
        help="The marketplace location of a channel that publishes per "
        "location; empty for one summed quantity.",
    )
    quantity = fields.Integer(
        help="What the sandbox marketplace shows. Edit it to simulate a change "
        "made on the marketplace: the next reconciliation finds the drift and, "
        "with Auto Heal, publishes the right quantity again.",
    )
    batch_id = fields.Char(
        string="Batch", readonly=True, help="The publication batch it came in."
    )
    received_at = fields.Datetime(
        string="Received", readonly=True, help="When the last publication arrived."
    )
    edited = fields.Boolean(
        string="Edited by Hand",
        readonly=True,
        help="Changed on the shelf since the last publication.",
    )

    def init(self):
        # One quantity per SKU and location, "no location" (NULL, a summed
        # channel) counting as one location: COALESCE rather than NULLS NOT
        # DISTINCT, which needs PostgreSQL 15. The sandbox upserts on it.
        self.env.cr.execute(
            "CREATE UNIQUE INDEX IF NOT EXISTS stock_channel_sandbox_shelf_sku_uniq"
            " ON stock_channel_sandbox_shelf"
            " (channel_id, external_sku, COALESCE(location_ref, ''))"
        )

    def write(self, vals):
        if "quantity" in vals:
            vals = dict(vals, edited=True)
        return super().write(vals)
