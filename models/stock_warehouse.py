from odoo import fields, models


class StockWarehouse(models.Model):
    _inherit = "stock.warehouse"

    channel_returns_location_id = fields.Many2one(
        "stock.location",
        string="Channel Returns Location",
        readonly=True,
        copy=False,
        check_company=True,
        help="Where marketplace returns are received, created with the first "
        "return. Not sellable: returned goods stay out of every channel's "
        "available-to-sell until inspection accepts them.",
    )
    channel_damaged_location_id = fields.Many2one(
        "stock.location",
        string="Channel Damaged Location",
        readonly=True,
        copy=False,
        check_company=True,
        help="Where inspection puts returned goods that cannot be sold (damaged "
        "or on hold), created with the first such line. Not sellable.",
    )

    def _channel_returns_location(self):
        """The returns location, created on demand."""
        return self._channel_hold_location(
            "channel_returns_location_id", self.env._("Channel Returns")
        )

    def _channel_damaged_location(self):
        """The damaged/hold location, created on demand."""
        return self._channel_hold_location(
            "channel_damaged_location_id", self.env._("Channel Damaged")
        )

    def _channel_hold_location(self, field, name):
        """An internal, not sellable location under the warehouse's view
        location. ``sudo()``: the stock user or the channel's technical user
        who needs it may not create locations (a stock manager's right); it
        is created once per warehouse, with the warehouse's company."""
        self.ensure_one()
        if self[field]:
            return self[field]
        warehouse_sudo = self.sudo()
        location = warehouse_sudo.env["stock.location"].create(
            {
                "name": name,
                "usage": "internal",
                "location_id": warehouse_sudo.view_location_id.id,
                "company_id": warehouse_sudo.company_id.id,
                "channel_sellable": False,
            }
        )
        warehouse_sudo[field] = location
        return self[field]
