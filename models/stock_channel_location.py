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
        required=True,
        ondelete="cascade",
        check_company=True,
        help="The fulfillment node: its sellable stock is published to the "
        "marketplace location next to it.",
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
                        mapping.warehouse_id.display_name,
                    )
                )
        # A row edited on its own is checked against its siblings.
        self.channel_id._check_location_refs()

    @api.model_create_multi
    def create(self, vals_list):
        mappings = super().create(vals_list)
        mappings.channel_id._sync_listing_nodes()
        return mappings

    def unlink(self):
        channels = self.channel_id
        res = super().unlink()
        channels._check_location_mapping()
        return res

    def write(self, vals):
        res = super().write(vals)
        if {"warehouse_id", "location_ref"} & vals.keys():
            # The marketplace location changed: every quantity is sent again.
            self.env["stock.channel.listing"]._mark_pending(
                SQL("l.channel_id = ANY(%s)", self.channel_id.ids), force=True
            )
        return res
