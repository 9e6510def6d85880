from odoo import models

# Fields of res.users that change a user's groups: the field itself and the
# user form's per-application fields (``in_group_<id>``, ``sel_groups_<ids>``).
GROUP_FIELD_PREFIXES = ("in_group_", "sel_groups_")


class ResUsers(models.Model):
    _inherit = "res.users"

    def write(self, vals):
        """A channel's technical user promoted to administrator would run its
        jobs with every access rule skipped: refused (see
        ``stock.channel._check_promoted_technical_users``)."""
        if not any(
            key == "groups_id" or key.startswith(GROUP_FIELD_PREFIXES) for key in vals
        ):
            return super().write(vals)
        Channel = self.env["stock.channel"]
        unfit = Channel._unfit_technical_users()
        res = super().write(vals)
        Channel._check_promoted_technical_users(unfit)
        return res
