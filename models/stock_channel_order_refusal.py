from markupsafe import Markup

from odoo import api, fields, models
from odoo.tools import SQL

from ..services import retention


class StockChannelOrderRefusal(models.Model):
    """A pulled order the intake refused (it fails validation: an unknown
    SKU, currency or country), kept with its error so that it no longer
    holds the pull's watermark. Every later pull tries it again and drops it
    once it is stored; a newer version listed by a pull replaces it; a
    manager may dismiss it (``services/order_pull.py``). A new refusal gets
    one to-do for the channel's responsible, removed with the refusal."""

    _name = "stock.channel.order.refusal"
    _inherit = ["stock.channel.owned.mixin", "mail.thread", "mail.activity.mixin"]
    _description = "Refused Pulled Order"
    _order = "last_tried_at desc, id desc"
    _rec_name = "external_id"
    _sql_constraints = [
        (
            "channel_external_uniq",
            "UNIQUE (channel_id, external_id)",
            "A channel keeps one refusal per marketplace order.",
        ),
    ]

    external_id = fields.Char(string="External ID", required=True, readonly=True)
    action = fields.Selection(
        [("create", "Order"), ("cancel", "Cancellation")],
        required=True,
        readonly=True,
        help="What the pull handed to the intake.",
    )
    changed_at = fields.Datetime(
        string="Changed on Marketplace",
        readonly=True,
        help="The marketplace's last change of the order, as listed.",
    )
    error_message = fields.Text(
        string="Error",
        readonly=True,
        help="Why the intake refused it, one problem a line: fix the cause "
        "(create the SKU or listing, activate the currency) and the next pull "
        "stores it.",
    )
    payload = fields.Text(
        readonly=True,
        groups="stock_channel_sync.group_channel_manager",
        help="The order as listed (names, addresses), for managers only; "
        "removed with the refusal, and cleared once it is older than "
        "stock_channel_sync.payload_retention_days (default 30): the refusal "
        "then stays with its error but is no longer tried again.",
    )
    listed_at = fields.Datetime(
        string="Last Listed",
        readonly=True,
        help="When a pull last listed the order: the stored order dates from "
        "then (the payload retention counts from it).",
    )
    tries = fields.Integer(readonly=True, help="Pulls that refused it.")
    last_tried_at = fields.Datetime(string="Last Tried", readonly=True)

    def action_dismiss(self):
        """Stop trying (a test order, an order handled by hand)."""
        self.channel_id._check_manager()
        self.unlink()
        return {"type": "ir.actions.client", "tag": "soft_reload"}

    def _schedule_todos(self):
        """One to-do per new refusal for its channel's responsible (else
        its technical user), in one create: a retry or a newer version of
        the order schedules nothing (the to-do is the refusal's, and goes
        when the order is stored or the refusal dismissed)."""
        if not self:
            return
        todo = self.env.ref("mail.mail_activity_data_todo")
        model_id = self.env["ir.model"]._get_id(self._name)
        today = fields.Date.context_today(self)
        self.env["mail.activity"].create(
            [
                {
                    "activity_type_id": todo.id,
                    "res_model_id": model_id,
                    "res_id": refusal.id,
                    "automated": True,
                    "date_deadline": today,
                    "user_id": (
                        refusal.channel_id.responsible_id or refusal.channel_id.user_id
                    ).id,
                    "summary": self.env._(
                        "Pulled order %(order)s of %(channel)s was refused",
                        order=refusal.external_id,
                        channel=refusal.channel_id.name,
                    ),
                    # Escaped: the reasons quote what the marketplace sent.
                    "note": Markup("<p>%s</p>")
                    % self.env._(
                        "Odoo did not store this order: %(reasons)s. Fix the "
                        "cause (create the SKU or listing, activate the "
                        "currency) and the next pull stores it; or dismiss "
                        "the refused order if it is handled by hand.",
                        reasons="; ".join((refusal.error_message or "").splitlines()),
                    ),
                }
                for refusal in self
            ]
        )

    @api.autovacuum
    def _gc_old_payloads(self):
        self._gc_payloads(retention.payload_retention_days(self.env))

    def _gc_payloads(self, days):
        """Personal data is kept no longer than needed: the stored order of
        a refusal last listed more than ``days`` days ago is cleared; the
        refusal stays with its error and to-do (a pull that lists the order
        again stores a fresh copy)."""
        self.flush_model(["payload", "listed_at"])
        self.env.cr.execute(
            SQL(
                """
                UPDATE stock_channel_order_refusal
                   SET payload = NULL
                 WHERE payload IS NOT NULL
                   AND COALESCE(listed_at, create_date)
                       < (now() at time zone 'UTC') - make_interval(days => %s)
                """,
                days,
            )
        )
        cleared = self.env.cr.rowcount
        self.invalidate_model(["payload"])
        return cleared
