from odoo import api, models
from odoo.exceptions import ValidationError
from odoo.tools import SQL


def technical_user_problem(user, company):
    """Why ``user`` (read as superuser) cannot run the jobs of a record of
    ``company``, or None: least privilege, jobs never run as a superuser or
    an administrator, whose rights would skip every access rule. Channels
    and 3PL connections alike."""
    env = user.env
    if user == env.ref("base.user_root") or user._is_superuser():
        return env._("OdooBot runs with every access rule skipped")
    if not user.active or user.share:
        return env._("it must be an active internal user")
    if user.has_group("base.group_system") or user.has_group("base.group_erp_manager"):
        return env._("administrators may not be technical users")
    if company not in user.company_ids:
        return env._("it must belong to the channel's company")
    return None


def check_technical_users(records, title, noun):
    """Refuse ``records`` (channels, 3PL connections: ``user_id``,
    ``active``, ``company_id``) whose technical user is missing while
    active, or unfit (:func:`technical_user_problem`). ``title`` / ``noun``
    name the kind of record in the messages."""
    env = records.env
    for record in records:
        user = record.user_id.sudo()
        if not user:
            if record.active:
                raise ValidationError(
                    env._(
                        "%(kind)s %(record)s needs a technical user before it is "
                        "active.",
                        kind=title,
                        record=record.display_name,
                    )
                )
            continue
        problem = technical_user_problem(user, record.company_id)
        if problem:
            raise ValidationError(
                env._(
                    "%(user)s cannot be the technical user of %(kind)s "
                    "%(record)s: %(problem)s.",
                    user=user.display_name,
                    kind=noun,
                    record=record.display_name,
                    problem=problem,
                )
            )


class StockChannelTechnicalUser(models.Model):
    """The user a channel's jobs and orders run as, and why it may never be
    an administrator."""

    _inherit = "stock.channel"

    @api.constrains("user_id", "active", "company_id")
    def _check_technical_user(self):
        """Least privilege: jobs and orders never run as a superuser or an
        administrator, whose rights would skip every access rule."""
        check_technical_users(self, self.env._("Channel"), self.env._("channel"))

    @api.model
    def _unfit_technical_users(self):
        """The technical users of active channels whose groups now bar them
        (administrators, portal users): what a change of groups is checked
        against, before and after. Read in SQL after a flush: ``has_group``'s
        cache may not have seen implied groups added in SQL yet, and whoever
        edits users' rights may have no channel rights."""
        self.env["res.users"].flush_model(["groups_id", "share"])
        self.env["res.groups"].flush_model(["users", "implied_ids"])
        self.flush_model(["user_id", "active"])
        admin_groups = self.env.ref("base.group_system") | self.env.ref(
            "base.group_erp_manager"
        )
        self.env.cr.execute(
            SQL(
                """
                SELECT DISTINCT u.id
                  FROM stock_channel c JOIN res_users u ON u.id = c.user_id
                 WHERE c.active
                   AND (u.share OR EXISTS (
                        SELECT 1 FROM res_groups_users_rel r
                         WHERE r.uid = u.id AND r.gid = ANY(%s)))
                """,
                admin_groups.ids,
            )
        )
        return {row[0] for row in self.env.cr.fetchall()}

    @api.model
    def _check_promoted_technical_users(self, unfit_before):
        """After a change of groups: refuse it when it made the technical user
        of an active channel an administrator or a portal user (the rule of
        ``_check_technical_user``). Users already unfit before are left to
        the 18.0.1.3.0 migration, which archives their channels: an upgrade's
        own group data must not fail on them. Refused rather than archiving
        the channel behind the promoter's back: an archived channel stops
        publishing and taking orders, and the marketplace keeps selling its
        last quantities. Archived channels are checked when reactivated."""
        promoted = self._unfit_technical_users() - unfit_before
        if not promoted:
            return
        # sudo(): the channel's name, for the message, to someone who may
        # have no channel rights.
        channel = self.sudo().search([("user_id", "in", list(promoted))], limit=1)
        raise ValidationError(
            self.env._(
                "%(user)s is the technical user of channel %(channel)s and may "
                "not become an administrator or a portal user: the channel's "
                "jobs would run with their rights. Choose another technical "
                "user for the channel first (Inventory > Configuration > Sales "
                "Channels), then change this user's rights.",
                user=channel.user_id.name,
                channel=channel.display_name,
            )
        )

    def _as_technical_user(self):
        """This channel as its technical user, in its company: how jobs and
        orders run."""
        self.ensure_one()
        return (
            self.env["stock.channel"]
            .with_user(self.user_id)
            .with_company(self.company_id)
            .browse(self.id)
        )
