from datetime import timedelta

from odoo import api, fields, models
from odoo.exceptions import ValidationError
from odoo.tools import SQL

# Figure -> (threshold field, to-do summary) of the 3PL alerts.
ALERTS = {
    "error_event_count": ("alert_max_event_errors", "events in error"),
    "waiting_event_count": ("alert_max_waiting_events", "events waiting"),
    "event_lag_p95": ("alert_max_event_lag", "event lag (min)"),
    "snapshot_age": ("alert_max_snapshot_age", "snapshot age (h)"),
    "drift_units": ("alert_max_drift_units", "units in drift"),
}


class StockChannelThreeplHealth(models.Model):
    """Health figures, thresholds and alerts of a 3PL connection: whether
    its events arrive, are applied and how late."""

    _name = "stock.channel.threepl"
    _inherit = ["stock.channel.threepl", "mail.thread", "mail.activity.mixin"]

    alerts_enabled = fields.Boolean(
        string="Alerts",
        default=True,
        help="Give the technical user a to-do when a threshold below is "
        "crossed, and close it when the connection recovers.",
    )
    alert_max_event_errors = fields.Integer(
        string="Max Events in Error",
        default=0,
        help="Alert when more of this 3PL's events are in Error (0: at the "
        "first one).",
    )
    alert_max_waiting_events = fields.Integer(
        string="Max Waiting Events",
        default=10,
        help="Alert when more events wait for another one (a release before "
        "its hold, a shipment before its receipt).",
    )
    alert_max_event_lag = fields.Integer(
        string="Max Event Lag (min)",
        default=30,
        help="Alert when the 95th percentile of the last 24 hours' lag, from "
        "an event's business time to its application in Odoo, is above this.",
    )
    alert_max_snapshot_age = fields.Integer(
        string="Max Snapshot Age (h)",
        default=3,
        help="Alert when the last snapshot compared (or, without any, the "
        "connection itself) is older than this: webhooks may not fire, a "
        "periodic snapshot is what catches what they missed.",
    )
    alert_max_drift_units = fields.Integer(
        string="Max Units in Drift",
        default=10,
        help="Alert when the open 3PL discrepancies add up to more units "
        "than this (either way).",
    )
    snapshot_age = fields.Integer(
        string="Snapshot Age (h)",
        compute="_compute_health",
        help="Hours since the 3PL counted the last snapshot compared (since "
        "the connection was created, without any).",
    )
    drift_units = fields.Float(
        string="Units in Drift",
        digits="Product Unit of Measure",
        compute="_compute_health",
        help="Sum of the open 3PL discrepancies' differences, either way.",
    )
    received_event_count_24h = fields.Integer(
        string="Events Received (24 h)", compute="_compute_health"
    )
    applied_event_count_24h = fields.Integer(
        string="Events Applied (24 h)", compute="_compute_health"
    )
    waiting_event_count = fields.Integer(
        string="Waiting Events", compute="_compute_health"
    )
    event_lag_p95 = fields.Integer(
        string="Event Lag p95 (min)",
        compute="_compute_health",
        help="95th percentile, over the events applied in the last 24 hours, "
        "of the time from the event's business time (occurred at) to its "
        "application in Odoo.",
    )
    last_event_at = fields.Datetime(
        string="Last Event Received", compute="_compute_health"
    )
    health_state = fields.Selection(
        [("ok", "Healthy"), ("warning", "Needs Attention"), ("alert", "Alert")],
        compute="_compute_health",
        help="Alert: a threshold is crossed. Needs attention: events wait or "
        "are in error, below the thresholds.",
    )

    @api.constrains(
        "alert_max_event_errors",
        "alert_max_waiting_events",
        "alert_max_event_lag",
        "alert_max_snapshot_age",
        "alert_max_drift_units",
    )
    def _check_alert_thresholds(self):
        for connection in self:
            if min(connection[field] for field, _label in ALERTS.values()) < 0:
                raise ValidationError(
                    self.env._("Alert thresholds cannot be negative.")
                )

    def _compute_health(self):
        figures = self._health_figures()
        now = fields.Datetime.now()
        for connection in self:
            values = figures.get(connection.id, {})
            connection.received_event_count_24h = values.get("received", 0)
            connection.applied_event_count_24h = values.get("applied", 0)
            connection.waiting_event_count = values.get("waiting", 0)
            connection.event_lag_p95 = values.get("lag", 0)
            connection.last_event_at = values.get("last")
            connection.drift_units = values.get("drift", 0)
            counted = connection.last_snapshot_at or connection.create_date
            connection.snapshot_age = (
                int((now - counted).total_seconds() // 3600) if counted else 0
            )
            if connection._crossed_thresholds():
                connection.health_state = "alert"
            elif (
                connection.error_event_count
                or connection.waiting_event_count
                or connection.drift_units
            ):
                connection.health_state = "warning"
            else:
                connection.health_state = "ok"

    def _health_figures(self):
        """``{connection id: {figure: value}}`` in two queries for any
        number of connections."""
        ids = [connection_id for connection_id in self.ids if connection_id]
        if not ids:
            return {}
        self.env["stock.channel.threepl.event"].flush_model()
        self.env.cr.execute(
            SQL(
                """
                SELECT connection_id,
                       COUNT(*) FILTER (WHERE received_at >= %(since)s),
                       COUNT(*) FILTER (WHERE applied_at >= %(since)s),
                       COUNT(*) FILTER (WHERE state = 'waiting'),
                       percentile_cont(0.95) WITHIN GROUP (
                           ORDER BY EXTRACT(EPOCH FROM applied_at - occurred_at)
                       ) FILTER (WHERE applied_at >= %(since)s),
                       MAX(received_at)
                  FROM stock_channel_threepl_event
                 WHERE connection_id = ANY(%(ids)s)
              GROUP BY connection_id
                """,
                since=fields.Datetime.now() - timedelta(hours=24),
                ids=ids,
            )
        )
        figures = {
            connection_id: {
                "received": received,
                "applied": applied,
                "waiting": waiting,
                "lag": max(int((lag or 0) // 60), 0),
                "last": last,
            }
            for connection_id, received, applied, waiting, lag, last in (
                self.env.cr.fetchall()
            )
        }
        self.env["stock.channel.threepl.discrepancy"].flush_model()
        self.env.cr.execute(
            SQL(
                """
                SELECT connection_id, SUM(ABS(difference))
                  FROM stock_channel_threepl_discrepancy
                 WHERE connection_id = ANY(%s) AND state = 'open'
              GROUP BY connection_id
                """,
                ids,
            )
        )
        for connection_id, drift in self.env.cr.fetchall():
            figures.setdefault(connection_id, {})["drift"] = drift or 0
        return figures

    def _crossed_thresholds(self):
        """``{figure: (value, threshold)}`` crossed now."""
        self.ensure_one()
        if not self.alerts_enabled:
            return {}
        crossed = {}
        # A connection pushing events, that never sent a snapshot, is not
        # late with one; a polled one, or one that sends them, is.
        expects_snapshots = self.protocol == "poll" or self.last_snapshot_at
        for figure, (threshold, _label) in ALERTS.items():
            if figure == "snapshot_age" and not expects_snapshots:
                continue
            if self[figure] > self[threshold]:
                crossed[figure] = (self[figure], self[threshold])
        return crossed

    @api.model
    def _cron_check_alerts(self):
        """One to-do per crossed threshold and connection for its technical
        user, kept while the threshold stays crossed (no alert storm) and
        marked done when the connection recovers."""
        connections = self.search([])
        # Fresh figures, not what this transaction computed before.
        connections.invalidate_recordset()
        for connection in connections:
            crossed = connection._crossed_thresholds()
            for figure, (_threshold, label) in ALERTS.items():
                summary = self.env._(
                    "3PL %(code)s: %(what)s over threshold",
                    code=connection.code,
                    what=label,
                )
                todo = connection.activity_ids.filtered(
                    lambda a, s=summary: a.summary == s
                )
                if figure in crossed and not todo:
                    value, limit = crossed[figure]
                    connection.activity_schedule(
                        "mail.mail_activity_data_todo",
                        summary=summary,
                        note=self.env._(
                            "%(value)s, above the threshold of %(limit)s.",
                            value=value,
                            limit=limit,
                        ),
                        user_id=connection.user_id.id or self.env.uid,
                    )
                elif figure not in crossed and todo:
                    todo.action_feedback(
                        feedback=self.env._("Recovered: back within its threshold.")
                    )
