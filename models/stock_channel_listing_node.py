from odoo import fields, models

from ..services.atp import NO_ATP, AtpEngine


class StockChannelListingNode(models.Model):
    """A listing at one fulfillment node of a channel that publishes per
    location: what it offers there now, and what was last published there.
    Rows are created set-based for every (listing, mapped warehouse) of
    such a channel (``stock.channel._sync_listing_nodes``)."""

    _name = "stock.channel.listing.node"
    _description = "Channel Listing per Location"
    _order = "listing_id, location_id"
    _sql_constraints = [
        (
            "listing_location_uniq",
            "UNIQUE (listing_id, location_id)",
            "A listing has one row per channel location.",
        ),
    ]

    listing_id = fields.Many2one(
        "stock.channel.listing", required=True, index=True, ondelete="cascade"
    )
    location_id = fields.Many2one(
        "stock.channel.location",
        string="Channel Location",
        required=True,
        index=True,
        ondelete="cascade",
    )
    company_id = fields.Many2one(related="listing_id.company_id", store=True)
    warehouse_id = fields.Many2one(related="location_id.warehouse_id")
    location_ref = fields.Char(related="location_id.location_ref")
    atp_qty = fields.Integer(
        string="Available to Sell",
        compute="_compute_atp",
        help="What would be published at this location now: the warehouse's "
        "sellable stock minus reservations, open demand and the orders that "
        "will ship from it, after the buffer rule and the pack size.",
    )
    atp_sellable_qty = fields.Float(
        string="Sellable Before Buffer",
        compute="_compute_atp",
        digits="Product Unit of Measure",
    )
    last_published_qty = fields.Integer(readonly=True, copy=False)
    last_published_at = fields.Datetime(readonly=True, copy=False)

    def _compute_atp(self):
        results = AtpEngine(self.env).compute_nodes(self.listing_id.ids)
        for node in self:
            result = results.get(
                (node.listing_id.id, node.location_id.warehouse_id.id), NO_ATP
            )
            node.atp_qty = result.qty
            node.atp_sellable_qty = result.sellable_qty
