from odoo import fields, models

from ..services.atp import NO_ATP, AtpEngine


class StockChannelListingNode(models.Model):
    """A listing at one fulfillment node of a channel that publishes per
    location: what it offers there now, and what was last published there.
    Rows are created set-based for every (listing, mapped warehouse) of
    such a channel (``stock.channel._sync_listing_nodes``).

    A node outlives its mapping, *retired* (no Channel Location): when the
    mapping is removed (its warehouse left the channel) or remapped to
    another marketplace location, or when the channel switches back to one
    summed quantity (then every node retires). The marketplace location it
    was published at would keep selling its last quantity: the next
    publication sends it 0 once (``Publisher._retired_nodes``), then
    deletes the node. A Shopify channel switched to per location leaves
    one retired node per listing at its former Channel Location."""

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
        index=True,
        # The mapping gone, the node stays, retired, until 0 is sent there.
        ondelete="set null",
        help="Empty: retired, the marketplace location is no longer mapped "
        "and gets 0 at the next publication.",
    )
    company_id = fields.Many2one(related="listing_id.company_id", store=True)
    warehouse_id = fields.Many2one(related="location_id.warehouse_id")
    location_ref = fields.Char(
        string="Marketplace Location",
        readonly=True,
        help="Where this node's quantity is published: its mapping's "
        "marketplace location, kept when the mapping goes.",
    )
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
            mapping = node.location_id
            # The drop-ship location has no warehouse (the engine's None).
            result = (
                results.get((node.listing_id.id, mapping.warehouse_id.id or None))
                if mapping
                else None
            ) or NO_ATP
            node.atp_qty = result.qty
            node.atp_sellable_qty = result.sellable_qty
