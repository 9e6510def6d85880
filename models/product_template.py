from odoo import models


class ProductTemplate(models.Model):
    _inherit = "product.template"

    def write(self, vals):
        res = super().write(vals)
        if "categ_id" in vals:
            # Category rules may no longer (or newly) apply.
            self.env["stock.channel.listing"]._mark_pending_for_products(
                self.with_context(active_test=False).product_variant_ids.ids
            )
        return res
