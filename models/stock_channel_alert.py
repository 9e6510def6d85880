from odoo import fields, models

ALERT_KINDS = [
    ("lag", "Publication Lag"),
    ("failures", "Failed Jobs"),
    ("drift", "Open Discrepancies"),
    ("refusals", "Refused Orders"),
]


class StockChannelAlert(models.Model):
    """A channel threshold crossed: open while it lasts, with one to-do for
    the channel's responsible; closed (and the to-do with it) on recovery.
    At most one open alert per channel and kind, so no alert storm."""

    _name = "stock.channel.alert"
    _inherit = ["stock.channel.owned.mixin"]
    _description = "Channel Alert"
    _order = "state desc, opened_at desc, id desc"
    _rec_name = "kind"
    _sql_constraints = [
        # NULLs are distinct: closed alerts (open_key NULL) never collide.
        (
            "one_open_per_kind",
            "UNIQUE (channel_id, open_key)",
            "A channel has at most one open alert of each kind.",
        ),
    ]

    kind = fields.Selection(ALERT_KINDS, required=True, readonly=True)
    open_key = fields.Char(readonly=True, help="The kind while open, else empty.")
    state = fields.Selection(
        [("open", "Open"), ("closed", "Closed")],
        required=True,
        default="open",
        readonly=True,
        index=True,
    )
    value = fields.Integer(readonly=True, help="The figure when last checked.")
    threshold = fields.Integer(readonly=True)
    opened_at = fields.Datetime(readonly=True)
    closed_at = fields.Datetime(readonly=True)
    activity_id = fields.Many2one("mail.activity", readonly=True, ondelete="set null")

    def _open(self, channel, kind, value, threshold):
        """A new alert and its to-do on the channel."""
        label = dict(ALERT_KINDS)[kind]
        note = self.env._(
            "%(what)s is %(value)s, above the threshold of %(threshold)s.",
            what=label,
            value=value,
            threshold=threshold,
        )
        if kind == "drift" and channel.oversell_risk_qty:
            note += " " + self.env._(
                "The channel offers %s units that are not available to sell.",
                channel.oversell_risk_qty,
            )
        activity = channel.activity_schedule(
            "mail.mail_activity_data_todo",
            summary=self.env._(
                "%(channel)s: %(what)s over threshold", channel=channel.name, what=label
            ),
            note=note,
            user_id=(channel.responsible_id or channel.user_id).id,
        )
        return self.create(
            {
                "channel_id": channel.id,
                "kind": kind,
                "open_key": kind,
                "value": value,
                "threshold": threshold,
                "opened_at": fields.Datetime.now(),
                "activity_id": activity.id,
            }
        )

    def _close(self):
        for alert in self:
            if alert.activity_id:
                alert.activity_id.action_feedback(
                    feedback=self.env._(
                        "Recovered: %s back within its threshold.", alert.kind
                    )
                )
        self.write(
            {"state": "closed", "open_key": False, "closed_at": fields.Datetime.now()}
        )
