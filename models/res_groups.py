from odoo import models


class ResGroups(models.Model):
    _inherit = "res.groups"

    def write(self, vals):
        """Adding users to a group, or making it imply another (its users
        then get that one too), can make a technical user an administrator:
        refused like a promotion on the user (``res.users.write``)."""
        res = super().write(vals)
        if vals.get("users") or vals.get("implied_ids"):
            users = self.with_context(active_test=False).users
            self.env["stock.channel"]._check_technical_user_rights(users)
        return res
