from odoo import models


class ResGroups(models.Model):
    _inherit = "res.groups"

    def write(self, vals):
        """Adding users to a group, or making it imply another (its users
        then get that one too), can make a technical user an administrator:
        refused like a promotion on the user (``res.users.write``)."""
        if not (vals.get("users") or vals.get("implied_ids")):
            return super().write(vals)
        Channel = self.env["stock.channel"]
        unfit = Channel._unfit_technical_users()
        res = super().write(vals)
        Channel._check_promoted_technical_users(unfit)
        return res
