from odoo import models


class ProductProduct(models.Model):
    _inherit = "product.product"

    def write(self, vals):
        res = super().write(vals)
        if "active" in vals:
            # An archived product publishes 0; a restored one its stock again.
            self.env["stock.channel.listing"]._mark_pending_for_products(self.ids)
        return res
