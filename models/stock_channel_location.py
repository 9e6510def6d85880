from odoo import api, fields, models
from odoo.exceptions import ValidationError
from odoo.tools import SQL


class StockChannelLocation(models.Model):
    """One fulfillment node of a channel that publishes per location: which
    of its warehouses stands for which of the marketplace's locations."""

    _name = "stock.channel.location"
    _description = "Channel Location Mapping"
    _order = "channel_id, sequence, id"
    _check_company_auto = True
    _sql_constraints = [
        (
            "channel_warehouse_uniq",
            "UNIQUE (channel_id, warehouse_id)",
            "Each warehouse is mapped once per channel.",
        ),
        (
            "warehouse_or_dropship",
            "CHECK ((warehouse_id IS NULL) = COALESCE(dropship, FALSE))",
            "A channel location is either a warehouse's or the drop-ship stock's.",
        ),
        (
            "channel_location_ref_uniq",
            "UNIQUE (channel_id, location_ref)",
            "Each marketplace location is mapped once per channel.",
        ),
    ]

    channel_id = fields.Many2one(
        "stock.channel", required=True, index=True, ondelete="cascade"
    )
    company_id = fields.Many2one(related="channel_id.company_id", store=True)
    sequence = fields.Integer(default=10)
    warehouse_id = fields.Many2one(
        "stock.warehouse",
        ondelete="cascade",
        check_company=True,
        help="The fulfillment node: its sellable stock is published to the "
        "marketplace location next to it. Empty on the drop-ship location.",
    )
    dropship = fields.Boolean(
        string="Drop-ship Stock",
        help="This marketplace location shows the vendors' drop-ship stock "
        "(on a channel that sells it), with their handling time, instead of "
        "a warehouse's. At most one per channel.",
    )
    location_ref = fields.Char(
        string="Marketplace Location",
        required=True,
        help="The marketplace's id of the location this warehouse ships from "
        "(Shopify: the location id, numeric or gid://shopify/Location/<id>; "
        "generic webhook and sandbox: any name both sides agree on).",
    )

    @api.constrains("location_ref", "warehouse_id")
    def _check_location_ref(self):
        for mapping in self:
            if not (mapping.location_ref or "").strip():
                raise ValidationError(
                    self.env._(
                        "Warehouse %s needs a marketplace location.",
                        mapping.warehouse_id.display_name
                        or self.env._("Drop-ship stock"),
                    )
                )
        # A row edited on its own is checked against its siblings.
        self.channel_id._check_location_refs()

    @api.model_create_multi
    def create(self, vals_list):
        mappings = super().create(vals_list)
        mappings.channel_id._sync_listing_nodes()
        # A new location to publish to (its nodes were never published).
        self.env["stock.channel.listing"]._mark_pending(
            SQL(
                "l.channel_id = ANY(%s) AND (l.active OR l.last_published_qty <> 0)",
                mappings.channel_id.filtered("publish_per_location").ids,
            )
        )
        return mappings

    def unlink(self):
        """The nodes stay, retired (``ondelete="set null"``): their
        listings are marked, so the next publication sends 0 to the
        marketplace location where they showed something."""
        channels = self.channel_id
        res = super().unlink()
        if not self.env.context.get("stock_channel_sync_mapping_write"):
            channels._check_location_mapping()
        self.env["stock.channel.listing"]._mark_pending(
            SQL(
                """l.channel_id = ANY(%s) AND EXISTS (
                       SELECT FROM stock_channel_listing_node nd
                        WHERE nd.listing_id = l.id AND nd.location_id IS NULL
                          AND nd.last_published_qty <> 0)""",
                channels.ids,
            )
        )
        return res

    def write(self, vals):
        if "location_ref" in vals:
            # The old marketplace location would keep its last quantity: its
            # nodes are retired (kept with their location), new ones made.
            moved = self.filtered(lambda m: m.location_ref != vals["location_ref"])
            if moved:
                self.env["stock.channel.listing.node"].flush_model()
                self.env.cr.execute(
                    SQL(
                        "UPDATE stock_channel_listing_node SET location_id = NULL"
                        " WHERE location_id = ANY(%s)",
                        moved.ids,
                    )
                )
                self.env["stock.channel.listing.node"].invalidate_model()
                self.env["stock.channel.listing"].invalidate_model(["node_ids"])
        res = super().write(vals)
        if "location_ref" in vals:
            self.channel_id._sync_listing_nodes()
        if {"warehouse_id", "location_ref", "dropship"} & vals.keys():
            # The marketplace location changed: every quantity is sent again.
            self.env["stock.channel.listing"]._mark_pending(
                SQL("l.channel_id = ANY(%s)", self.channel_id.ids), force=True
            )
        return res
