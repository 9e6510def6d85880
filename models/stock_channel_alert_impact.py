from markupsafe import Markup

from odoo import fields, models

from ..services.anomalies import ANOMALY_KINDS


class StockChannelAlert(models.Model):
    """Anomaly alerts: the threshold alerts' mechanism (one open alert and
    one to-do per channel and kind, closed on recovery) with what is at
    stake, in units and money, and an optional e-mail."""

    _inherit = "stock.channel.alert"

    kind = fields.Selection(
        selection_add=ANOMALY_KINDS, ondelete={k: "cascade" for k, _l in ANOMALY_KINDS}
    )
    units_at_risk = fields.Integer(
        readonly=True,
        help="Channel units concerned: the unexplained fall, the unpublished "
        "differences, or the units usually sold during the silence.",
    )
    currency_id = fields.Many2one(related="company_id.currency_id")
    revenue_at_risk = fields.Monetary(
        readonly=True,
        help="Units at risk times the listing's price (the channel's pricelist, "
        "else the product's sales price, times the pack size).",
    )
    details = fields.Text(readonly=True, help="What the last check found.")
    watch = fields.Json(
        readonly=True,
        help="Unexplained stock fall: the quantity each listing must climb back "
        "to for the alert to close.",
    )

    def _anomaly_note(self, channel, finding):
        """The to-do's and the e-mail's words."""
        _ = self.env._
        what = {
            "atp_drop": _(
                "%(units)s units fell without an order or a delivery to explain "
                "them (at least %(min)s units and %(pct)s%% of a listing).",
                units=finding.value,
                min=finding.threshold,
                pct=channel.anomaly_atp_drop_percent,
            ),
            "lag_jump": _(
                "Median publication latency of the last hour is %(value)s ms, "
                "above %(limit)s ms (its 7-day median times the jump factor).",
                value=finding.value,
                limit=finding.threshold,
            ),
            "failure_jump": _(
                "%(value)s%% of the last hour's publications failed, above "
                "%(limit)s%% (its 7-day rate times the jump factor, or the "
                "minimum rate).",
                value=finding.value,
                limit=finding.threshold,
            ),
            "order_gap": _(
                "No order for %(value)s minutes, longer than %(limit)s minutes "
                "(its median gap over 14 days times the factor).",
                value=finding.value,
                limit=finding.threshold,
            ),
        }[finding.kind]
        # Formatted outside the translated call (the term extractor chokes
        # on an f-string among its arguments).
        revenue = format(finding.revenue, ".2f")
        impact = _(
            "At risk: %(units)s units, %(revenue)s %(currency)s.",
            units=finding.units,
            revenue=revenue,
            currency=channel.company_id.currency_id.name,
        )
        lines = [
            _(
                "%(sku)s: %(before)s before, %(now)s now, %(unexplained)s "
                "unexplained",
                sku=sku,
                before=before,
                now=now,
                unexplained=unexplained,
            )
            for sku, before, now, unexplained in finding.lines
        ]
        return "\n".join([what, impact, *lines])

    def _open_anomaly(self, channel, finding):
        """A new anomaly alert, its to-do, and the e-mail if configured."""
        label = dict(ANOMALY_KINDS)[finding.kind]
        note = self._anomaly_note(channel, finding)
        responsible = channel.responsible_id or channel.user_id
        summary = self.env._("%(channel)s: %(what)s", channel=channel.name, what=label)
        activity = channel.activity_schedule(
            "mail.mail_activity_data_todo",
            summary=summary,
            note=Markup("<br/>").join(note.split("\n")),
            user_id=responsible.id,
        )
        alert = self.create(
            {
                "channel_id": channel.id,
                "kind": finding.kind,
                "open_key": finding.kind,
                "opened_at": fields.Datetime.now(),
                "activity_id": activity.id,
                **self._anomaly_values(finding, note),
            }
        )
        if channel.alert_email:
            channel._send_channel_email(summary, note)
        return alert

    def _refresh_anomaly(self, finding, note):
        """The last check's figures; a further stock fall adds to the
        earlier ones (each check sees the fall since the one before)."""
        values = self._anomaly_values(finding, note)
        if finding.kind == "atp_drop":
            values["units_at_risk"] += self.units_at_risk
            values["revenue_at_risk"] += self.revenue_at_risk
            values["watch"] = {
                **{str(k): v for k, v in finding.watch.items()},
                **(self.watch or {}),
            }
        self.write(values)

    def _anomaly_values(self, finding, note):
        return {
            "value": finding.value,
            "threshold": finding.threshold,
            "units_at_risk": finding.units,
            "revenue_at_risk": finding.revenue,
            "details": note,
            "watch": {str(k): v for k, v in (finding.watch or {}).items()},
        }

    def _still_fallen(self, detector, channels):
        """An unexplained stock fall lasts until every listing climbs back
        to its watch level, or the responsible marks the to-do done (the
        loss is known: a count, a theft); other anomalies end with the
        condition that raised them."""
        self.ensure_one()
        if self.kind != "atp_drop" or not self.activity_id:
            return False
        if self.channel_id not in channels:
            return False
        watch = {int(k): v for k, v in (self.watch or {}).items()}
        atp = detector.atp(list(watch))
        return any(atp[listing_id] < level for listing_id, level in watch.items())
