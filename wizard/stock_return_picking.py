from odoo import models


class StockReturnPicking(models.TransientModel):
    _inherit = "stock.return.picking"

    def _prepare_picking_default_values(self):
        """A channel return is received into the warehouse's returns
        location (``channel_return_location_id`` in the context), not its
        sellable stock: the goods wait there for inspection."""
        vals = super()._prepare_picking_default_values()
        location_id = self.env.context.get("channel_return_location_id")
        if location_id:
            vals["location_dest_id"] = location_id
        return vals
