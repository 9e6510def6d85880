from odoo import fields, models


class SaleOrder(models.Model):
    _inherit = "sale.order"

    channel_id = fields.Many2one(
        "stock.channel", string="Sales Channel", index="btree_not_null", copy=False
    )
    channel_external_id = fields.Char(
        string="Channel Order Reference", index="btree_not_null", copy=False
    )
