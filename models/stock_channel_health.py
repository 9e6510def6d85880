from datetime import timedelta

from odoo import api, fields, models
from odoo.exceptions import ValidationError
from odoo.tools import SQL

from ..adapters import ADAPTERS
from .stock_channel_alert import ALERT_KINDS


class StockChannel(models.Model):
    """Health figures, thresholds and alerts of a channel."""

    _name = "stock.channel"
    _inherit = ["stock.channel", "mail.thread", "mail.activity.mixin"]

    alerts_enabled = fields.Boolean(
        string="Alerts",
        default=True,
        help="Give the responsible a to-do when a threshold below is crossed, "
        "and close it when the channel recovers.",
    )
    alert_max_lag = fields.Integer(
        string="Max Publication Lag (min)",
        default=15,
        help="Alert when the oldest unpublished change is older than this.",
    )
    alert_max_failed_jobs = fields.Integer(
        string="Max Failed Jobs",
        default=0,
        help="Alert when more of this channel's jobs (of every kind) have "
        "failed (0: at the first one).",
    )
    alert_max_discrepancies = fields.Integer(
        string="Max Open Discrepancies",
        default=10,
        help="Alert when reconciliation leaves more discrepancies open.",
    )
    alert_max_order_refusals = fields.Integer(
        string="Max Refused Orders",
        default=10,
        help="Alert when more pulled orders are kept refused (each one also "
        "gets its own to-do when first refused).",
    )
    alert_ids = fields.One2many(
        "stock.channel.alert", "channel_id", string="Alert History"
    )
    oldest_pending_at = fields.Datetime(
        string="Oldest Unpublished Change", compute="_compute_health"
    )
    publication_lag = fields.Integer(
        string="Publication Lag (min)",
        compute="_compute_health",
        help="Age of the oldest change not yet published.",
    )
    publication_count_24h = fields.Integer(
        string="Publications (24 h)", compute="_compute_health"
    )
    last_publication_at = fields.Datetime(
        string="Last Successful Publication", compute="_compute_health"
    )
    failed_job_count = fields.Integer(
        string="Failed Jobs",
        compute="_compute_health",
        help="Failed jobs of this channel, of every kind: publications, "
        "reconciliations, order pulls, feed follow-ups, order confirmations, "
        "shipments, returns and refund reads.",
    )
    open_discrepancy_count = fields.Integer(
        string="Open Discrepancies", compute="_compute_health"
    )
    oversell_risk_qty = fields.Integer(
        string="Oversell Risk (units)",
        compute="_compute_health",
        help="Units the channel offers beyond what is available to sell, summed "
        "over the open discrepancies: what customers may buy and not get.",
    )
    order_count_24h = fields.Integer(string="Orders (24 h)", compute="_compute_health")
    order_error_count_24h = fields.Integer(
        string="Orders in Error (24 h)", compute="_compute_health"
    )
    order_recovered_count_24h = fields.Integer(
        string="Recovered by Pulling (24 h)",
        compute="_compute_health",
        help="Orders of the last 24 hours that the order pull stored because "
        "no webhook had delivered them: more than none means the "
        "marketplace's webhooks are failing or missing. Always 0 on a channel "
        "whose marketplace posts no orders (Amazon): pulling is its only way "
        "in, not a recovery.",
    )
    # Refused pulled orders (order_refusal_count, declared with the order
    # pull) are one of the figures below, counted in _health_figures.
    health_state = fields.Selection(
        [("ok", "Healthy"), ("warning", "Needs Attention"), ("alert", "Alert")],
        compute="_compute_health",
        help="Alert: a threshold is crossed. Needs attention: something is "
        "late, failed, refused or different, below the thresholds.",
    )

    @api.constrains(
        "alert_max_lag",
        "alert_max_failed_jobs",
        "alert_max_discrepancies",
        "alert_max_order_refusals",
        "reconcile_interval",
    )
    def _check_monitoring_values(self):
        for channel in self:
            if (
                min(
                    channel.alert_max_lag,
                    channel.alert_max_failed_jobs,
                    channel.alert_max_discrepancies,
                    channel.alert_max_order_refusals,
                    channel.reconcile_interval,
                )
                < 0
            ):
                raise ValidationError(
                    self.env._(
                        "Alert thresholds and the reconciliation interval cannot "
                        "be negative."
                    )
                )

    def _compute_health(self):
        figures = self._health_figures()
        for channel in self:
            values = figures.get(channel.id, {})
            for name in HEALTH_FIELDS:
                channel[name] = values.get(name) or (
                    False if name.endswith("_at") else 0
                )
            crossed = [kind for kind, _v, _t in channel._crossed_thresholds()]
            if crossed:
                channel.health_state = "alert"
            elif (
                channel.publication_lag
                or channel.failed_job_count
                or channel.open_discrepancy_count
                or channel.order_error_count_24h
                or channel.order_recovered_count_24h
                or channel.order_refusal_count
            ):
                channel.health_state = "warning"
            else:
                channel.health_state = "ok"

    def _health_figures(self):
        """``{channel id: {figure: value}}`` in six queries for any number
        of channels (the dashboard shows them all)."""
        ids = [channel_id for channel_id in self.ids if channel_id]
        if not ids:
            return {}
        now = fields.Datetime.now()
        since = now - timedelta(hours=24)
        figures = {channel_id: {} for channel_id in ids}
        cr = self.env.cr
        self.env["stock.channel.publication"].flush_model()
        self.env["stock.channel.discrepancy"].flush_model()
        self.env["stock.channel.order.refusal"].flush_model(["channel_id"])
        self.env["stock.channel.order"].flush_model(
            ["state", "channel_id", "received_via"]
        )
        self.flush_model(["adapter"])
        self.env["queue.job"].flush_model(["state", "stock_channel_id"])
        queries = {
            ("oldest_pending_at",): SQL(
                """SELECT channel_id, MIN(changed_at)
                     FROM stock_channel_listing_change
                    WHERE channel_id = ANY(%s) GROUP BY channel_id""",
                ids,
            ),
            ("publication_count_24h", "last_publication_at"): SQL(
                """SELECT channel_id,
                          COUNT(*) FILTER (WHERE create_date >= %s),
                          MAX(create_date)
                     FROM stock_channel_publication
                    WHERE channel_id = ANY(%s) AND state = 'sent'
                 GROUP BY channel_id""",
                since,
                ids,
            ),
            ("open_discrepancy_count", "oversell_risk_qty"): SQL(
                """SELECT channel_id, COUNT(*), SUM(GREATEST(difference, 0))
                     FROM stock_channel_discrepancy
                    WHERE channel_id = ANY(%s) AND state = 'open'
                 GROUP BY channel_id""",
                ids,
            ),
            (
                "order_count_24h",
                "order_error_count_24h",
                "order_recovered_count_24h",
            ): SQL(
                """SELECT o.channel_id, COUNT(*),
                          COUNT(*) FILTER (WHERE o.state = 'error'),
                          COUNT(*) FILTER (WHERE o.received_via = 'pull'
                                             AND c.adapter <> ALL(%s::varchar[]))
                     FROM stock_channel_order o
                     JOIN stock_channel c ON c.id = o.channel_id
                    WHERE o.channel_id = ANY(%s) AND o.create_date >= %s
                 GROUP BY o.channel_id""",
                # Pulled orders of a marketplace that posts none are no
                # recovery: the pull is its only way in.
                [code for code, cls in ADAPTERS.items() if not cls.posts_orders],
                ids,
                since,
            ),
            # Refused pulled orders kept (not stored, each with its error
            # and to-do) until stored on a retry or dismissed.
            ("order_refusal_count",): SQL(
                """SELECT channel_id, COUNT(*) FROM stock_channel_order_refusal
                    WHERE channel_id = ANY(%s) GROUP BY channel_id""",
                ids,
            ),
        }
        for names, query in queries.items():
            cr.execute(query)
            for channel_id, *values in cr.fetchall():
                figures[channel_id].update(zip(names, values, strict=True))
        # In SQL over the same jobs as _channel_jobs (every kind, tied to
        # the channel by stock_channel_id): figures for every channel in one
        # query, whatever the reader's queue_job rights.
        cr.execute(
            SQL(
                """SELECT stock_channel_id, COUNT(*) FROM queue_job
                    WHERE state = 'failed' AND stock_channel_id = ANY(%s)
                 GROUP BY stock_channel_id""",
                ids,
            )
        )
        for channel_id, count in cr.fetchall():
            figures[channel_id]["failed_job_count"] = count
        for channel_figures in figures.values():
            oldest = channel_figures.get("oldest_pending_at")
            channel_figures["publication_lag"] = (
                int((now - oldest).total_seconds() // 60) if oldest else 0
            )
        return figures

    def _crossed_thresholds(self):
        """``[(alert kind, value, threshold)]`` crossed now."""
        self.ensure_one()
        if not self.alerts_enabled:
            return []
        checks = [
            ("lag", self.publication_lag, self.alert_max_lag),
            ("failures", self.failed_job_count, self.alert_max_failed_jobs),
            ("drift", self.open_discrepancy_count, self.alert_max_discrepancies),
            ("refusals", self.order_refusal_count, self.alert_max_order_refusals),
        ]
        return [(kind, value, limit) for kind, value, limit in checks if value > limit]

    @api.model
    def _cron_check_alerts(self):
        """Open one alert per crossed threshold, refresh the open ones,
        close those that recovered."""
        channels = self.search([])
        # Fresh figures, not what this transaction computed before.
        channels.invalidate_recordset([*HEALTH_FIELDS, "health_state"])
        Alert = self.env["stock.channel.alert"]
        open_alerts = {
            (alert.channel_id.id, alert.kind): alert
            # Only the threshold kinds: anomalies have their own check
            # (stock_channel_anomaly.py).
            for alert in Alert.search(
                [
                    ("state", "=", "open"),
                    ("kind", "in", [kind for kind, _label in ALERT_KINDS]),
                ]
            )
        }
        for channel in channels:
            crossed = {
                kind: (value, limit)
                for kind, value, limit in channel._crossed_thresholds()
            }
            for kind, (value, limit) in crossed.items():
                alert = open_alerts.pop((channel.id, kind), None)
                if alert:
                    alert.write({"value": value, "threshold": limit})
                else:
                    Alert._open(channel, kind, value, limit)
        # What is left recovered, or belongs to an archived channel.
        Alert.union(*open_alerts.values())._close()

    def action_view_alerts(self):
        return self._channel_action("stock_channel_alert_action")


HEALTH_FIELDS = (
    "oldest_pending_at",
    "publication_lag",
    "publication_count_24h",
    "last_publication_at",
    "failed_job_count",
    "open_discrepancy_count",
    "oversell_risk_qty",
    "order_count_24h",
    "order_error_count_24h",
    "order_recovered_count_24h",
    "order_refusal_count",
)
