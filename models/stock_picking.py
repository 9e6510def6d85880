from odoo import models


class StockPicking(models.Model):
    _inherit = "stock.picking"

    def _action_done(self):
        res = super()._action_done()
        # Deliveries of channel orders are confirmed back to the channel.
        self.env["stock.channel.order"]._enqueue_shipments(self)
        # Return receipts of channel returns: their lines await inspection.
        self.env["stock.channel.return.line"]._receipts_done(self)
        return res
