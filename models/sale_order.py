from odoo import fields, models


class SaleOrder(models.Model):
    _inherit = "sale.order"

    channel_id = fields.Many2one(
        "stock.channel", string="Sales Channel", index="btree_not_null", copy=False
    )
    channel_external_id = fields.Char(
        string="Channel Order Reference", index="btree_not_null", copy=False
    )

    def action_view_channel_order(self):
        self.ensure_one()
        order = self.env["stock.channel.order"].search(
            [("sale_order_id", "=", self.id)], limit=1
        )
        return {
            "type": "ir.actions.act_window",
            "res_model": "stock.channel.order",
            "res_id": order.id,
            "view_mode": "form",
        }
