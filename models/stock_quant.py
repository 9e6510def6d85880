from odoo import api, models

# Quant fields that change what can be sold.
ATP_FIELDS = {"quantity", "reserved_quantity", "location_id", "product_id"}


class StockQuant(models.Model):
    _inherit = "stock.quant"

    @api.model_create_multi
    def create(self, vals_list):
        quants = super().create(vals_list)
        quants.filtered(
            lambda q: q.quantity or q.reserved_quantity
        )._channel_collect_changes()
        return quants

    def write(self, vals):
        moved = {"location_id", "product_id"} & vals.keys()
        if moved:
            self._channel_collect_changes()
        res = super().write(vals)
        if ATP_FIELDS & vals.keys():
            self._channel_collect_changes()
        return res

    def _channel_collect_changes(self):
        """Queue the touched (product, location) pairs for channel marking."""
        if self:
            self.env["stock.channel.listing"]._collect_stock_changes(
                {(quant.product_id.id, quant.location_id.id) for quant in self}
            )
