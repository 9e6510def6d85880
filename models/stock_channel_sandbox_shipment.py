from odoo import fields, models


class StockChannelSandboxShipment(models.Model):
    """A shipment as the sandbox marketplace received it."""

    _name = "stock.channel.sandbox.shipment"
    _inherit = ["stock.channel.owned.mixin"]
    _description = "Sandbox Shipment"
    _order = "id desc"

    channel_id = fields.Many2one(readonly=True)
    company_id = fields.Many2one(index=True)
    external_id = fields.Char(string="Order", readonly=True)
    carrier = fields.Char(readonly=True)
    tracking_ref = fields.Char(string="Tracking Reference", readonly=True)
    lines = fields.Text(readonly=True, help="SKUs and quantities shipped (JSON).")
