from markupsafe import Markup, escape

from odoo import Command, api, fields, models
from odoo.exceptions import ValidationError
from odoo.tools import SQL

from ..services.anomalies import ANOMALY_KINDS, AnomalyDetector


class StockChannel(models.Model):
    """Anomaly thresholds of a channel, their check, and e-mail alerts."""

    _inherit = "stock.channel"

    alert_email = fields.Boolean(
        string="E-mail Alerts",
        help="Also e-mail the responsible (else the technical user) when an "
        "anomaly alert opens; the to-do is given either way.",
    )
    anomaly_atp_drop_percent = fields.Integer(
        string="Stock Fall Alert (%)",
        default=50,
        help="Alert when a listing's available-to-sell quantity falls by at "
        "least this share since the last check, beyond what the channel "
        "orders and customer deliveries of the window explain.",
    )
    anomaly_atp_drop_min_units = fields.Integer(
        string="Stock Fall Alert (units)",
        default=10,
        help="... and by at least this many channel units, so that a small "
        "listing's last units do not alert.",
    )
    anomaly_jump_factor = fields.Float(
        string="Jump Factor",
        default=3.0,
        help="Alert when the last hour's median publication latency or failure "
        "rate is this many times the channel's own over the previous 7 days.",
    )
    anomaly_min_publications = fields.Integer(
        string="Min Publications for a Jump",
        default=5,
        help="Publications needed in the last hour (and, for latency, in the "
        "7 days before) to judge a jump.",
    )
    anomaly_min_failure_rate = fields.Integer(
        string="Min Failure Rate (%)",
        default=20,
        help="A failure-rate jump also needs at least this share of the last "
        "hour's publications failed (a channel that never fails would "
        "otherwise alert at its first failure).",
    )
    anomaly_order_gap_factor = fields.Float(
        string="Order Gap Factor",
        default=3.0,
        help="Alert when the channel has had no order for this many times its "
        "median gap between orders over the last 14 days.",
    )
    anomaly_min_orders = fields.Integer(
        string="Min Orders for a Gap",
        default=5,
        help="Orders needed over 14 days for the channel to have a usual gap.",
    )
    anomaly_checked_at = fields.Datetime(
        string="Last Anomaly Check",
        readonly=True,
        copy=False,
        help="Start of the window the next check explains falls with.",
    )

    @api.constrains(
        "anomaly_atp_drop_percent",
        "anomaly_atp_drop_min_units",
        "anomaly_jump_factor",
        "anomaly_min_publications",
        "anomaly_min_failure_rate",
        "anomaly_order_gap_factor",
        "anomaly_min_orders",
    )
    def _check_anomaly_thresholds(self):
        for channel in self:
            if (
                min(
                    channel.anomaly_atp_drop_min_units,
                    channel.anomaly_min_publications,
                    channel.anomaly_min_orders,
                )
                < 1
                or not 0 < channel.anomaly_atp_drop_percent <= 100
                or not 0 <= channel.anomaly_min_failure_rate <= 100
                or min(channel.anomaly_jump_factor, channel.anomaly_order_gap_factor)
                <= 1
            ):
                raise ValidationError(
                    self.env._(
                        "Anomaly thresholds: counts of at least 1, shares between "
                        "1 and 100 %, factors above 1."
                    )
                )

    @api.model
    def _cron_check_anomalies(self):
        """Open, refresh or close the anomaly alerts of every channel with
        alerts, in a fixed number of queries."""
        channels = self.search([("alerts_enabled", "=", True)])
        now = fields.Datetime.now()
        detector = AnomalyDetector(self.env, channels, now)
        drops, baselines = detector.atp_drops()
        findings = {
            (finding.channel_id, finding.kind): finding
            for finding in [
                *drops,
                *detector.publication_jumps(),
                *detector.order_gaps(),
            ]
        }
        Alert = self.env["stock.channel.alert"]
        open_alerts = {
            (alert.channel_id.id, alert.kind): alert
            for alert in Alert.search(
                [
                    ("state", "=", "open"),
                    ("kind", "in", [kind for kind, _label in ANOMALY_KINDS]),
                ]
            )
        }
        by_id = {channel.id: channel for channel in channels}
        for key, finding in findings.items():
            channel = by_id[finding.channel_id]
            alert = open_alerts.pop(key, None)
            if alert:
                alert._refresh_anomaly(finding, alert._anomaly_note(channel, finding))
            else:
                Alert._open_anomaly(channel, finding)
        recovered = [
            alert
            for alert in open_alerts.values()
            if not alert._still_fallen(detector, channels)
        ]
        Alert.union(*recovered)._close()
        self._keep_anomaly_baselines(channels, baselines, now)

    def _keep_anomaly_baselines(self, channels, baselines, now):
        """The ATP seen now, the next check's baseline, in two statements."""
        if baselines:
            self.env["stock.channel.listing"].flush_model(["anomaly_atp_qty"])
            self.env.cr.execute(
                SQL(
                    """UPDATE stock_channel_listing l SET anomaly_atp_qty = v.qty
                         FROM unnest(%s::int[], %s::int[]) AS v(id, qty)
                        WHERE l.id = v.id""",
                    list(baselines),
                    list(baselines.values()),
                )
            )
            self.env["stock.channel.listing"].invalidate_model(["anomaly_atp_qty"])
        if channels:
            self.flush_model(["anomaly_checked_at"])
            self.env.cr.execute(
                SQL(
                    "UPDATE stock_channel SET anomaly_checked_at = %s"
                    " WHERE id = ANY(%s)",
                    now,
                    channels.ids,
                )
            )
            self.invalidate_model(["anomaly_checked_at"])

    def _send_channel_email(self, subject, text):
        """E-mail ``text`` (plain, one paragraph a line, or Markup) to the
        responsible through Odoo's mail queue. Sudo: a Channel Sync manager
        may not create mail.mail, and the recipient is the channel's own."""
        self.ensure_one()
        partner = (self.responsible_id or self.user_id).partner_id
        if not partner.email:
            return self.env["mail.mail"]
        if not isinstance(text, Markup):
            text = Markup("<p>%s</p>") % Markup("<br/>").join(
                escape(line) for line in text.split("\n")
            )
        mail_sudo = self.env["mail.mail"].sudo()
        return mail_sudo.create(
            {
                "subject": subject,
                "body_html": text,
                "recipient_ids": [Command.link(partner.id)],
                "email_from": self.company_id.email_formatted
                or self.env.user.email_formatted,
                "model": self._name,
                "res_id": self.id,
                "auto_delete": True,
            }
        )
