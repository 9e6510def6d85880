from odoo import fields, models


class StockPicking(models.Model):
    _inherit = "stock.picking"

    channel_carrier_name = fields.Char(
        string="Carrier (3PL)",
        readonly=True,
        copy=False,
        help="The carrier a 3PL reported shipping this delivery with: sent to "
        "the sales channels with the shipment when the delivery module gives "
        "no carrier.",
    )
    channel_tracking_ref = fields.Char(
        string="Tracking Reference (3PL)",
        readonly=True,
        copy=False,
        help="The tracking number a 3PL reported for this delivery: sent to "
        "the sales channels with the shipment when the delivery module gives "
        "none.",
    )

    def _action_done(self):
        res = super()._action_done()
        # Deliveries of channel orders are confirmed back to the channel.
        self.env["stock.channel.order"]._enqueue_shipments(self)
        # Return receipts of channel returns: their lines await inspection.
        self.env["stock.channel.return.line"]._receipts_done(self)
        return res
