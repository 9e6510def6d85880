from odoo import api, models

# Move fields that change the open demand the channels see.
DEMAND_FIELDS = {"state", "product_uom_qty", "product_qty", "location_id", "product_id"}


class StockMove(models.Model):
    _inherit = "stock.move"

    @api.model_create_multi
    def create(self, vals_list):
        moves = super().create(vals_list)
        moves.filtered(lambda m: m.state != "draft")._channel_collect_changes()
        return moves

    def write(self, vals):
        if {"location_id", "product_id"} & vals.keys():
            self._channel_collect_changes()
        res = super().write(vals)
        if DEMAND_FIELDS & vals.keys():
            self._channel_collect_changes()
        return res

    def _channel_collect_changes(self):
        """Queue the (product, source location) pairs of these moves: their
        state decides whether they count as demand (assign, unreserve, done,
        cancel)."""
        moves = self.filtered(lambda m: m.state != "draft")
        if moves:
            self.env["stock.channel.listing"]._collect_stock_changes(
                {(move.product_id.id, move.location_id.id) for move in moves},
                moves.ids,
            )
