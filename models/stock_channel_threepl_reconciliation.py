from datetime import timedelta

from odoo import api, fields, models
from odoo.exceptions import UserError, ValidationError

from odoo.addons.queue_job.exception import RetryableJobError

from ..adapters import outbound, threepl
from ..adapters.base import PermanentError, TransientError
from ..services import jobs, threepl_snapshot
from ..services.retries import retry_contention
from .stock_channel import MANAGER_GROUP

# The hourly cron reads a connection whose last snapshot is this much short
# of its interval too: a read takes seconds, and the next run comes an hour
# after this one, not after the read.
CRON_SLACK = timedelta(minutes=10)


class StockChannelThreepl(models.Model):
    """Snapshots: the 3PL's count of its whole inventory, pushed (JSON
    ``snapshot`` event, X12 846) or read from its API on a schedule, compared
    with Odoo's on hand per SKU; the differences reported as drift or
    booked as inventory adjustments (``services/threepl_snapshot.py``)."""

    # mail.thread: the connection's form has a chatter, which failed to
    # load without it (/mail/thread/data: no _get_thread_with_access).
    _name = "stock.channel.threepl"
    _inherit = ["stock.channel.threepl", "mail.thread"]

    snapshot_policy = fields.Selection(
        [("report", "Report drift"), ("apply", "Apply as inventory adjustment")],
        string="Snapshot Policy",
        required=True,
        default="report",
        help="What a snapshot does with a difference between the 3PL's count "
        "and Odoo's on hand. Report drift: listed as a 3PL discrepancy, Odoo's "
        "stock unchanged. Apply as inventory adjustment: also booked as an "
        'inventory move (reason "3PL snapshot") at the 3PL stock location, '
        "so that Odoo matches the 3PL; a difference that events in flight may "
        "explain, or of a SKU Odoo does not know, is only reported.",
    )
    snapshot_interval = fields.Integer(
        string="Read Snapshot Every",
        default=1,
        help="Hours: polled snapshots are read this often (Polled JSON snapshot "
        "protocol). 0 turns the scheduled read off; Read Snapshot Now still "
        "works.",
    )
    last_snapshot_at = fields.Datetime(
        string="Last Snapshot",
        readonly=True,
        copy=False,
        help="When the 3PL counted the last snapshot compared.",
    )
    last_applied_snapshot_at = fields.Datetime(
        string="Last Applied Snapshot",
        readonly=True,
        copy=False,
        help="When the 3PL counted the last snapshot applied as inventory "
        "adjustments: an adjustment event that occurred before it is in that "
        "count already.",
    )
    snapshot_error = fields.Text(
        readonly=True,
        copy=False,
        help="Why the last snapshot read failed for good (a refused token, a "
        "wrong URL); cleared by the next snapshot compared.",
    )
    snapshot_ids = fields.One2many(
        "stock.channel.threepl.snapshot", "connection_id", string="Snapshots"
    )
    snapshot_count = fields.Integer(compute="_compute_drift_counts")
    drift_count = fields.Integer(
        string="Open Drift",
        compute="_compute_drift_counts",
        help="SKUs whose last snapshot differs from Odoo's on hand.",
    )

    def _compute_drift_counts(self):
        drift = dict(
            self.env["stock.channel.threepl.discrepancy"]._read_group(
                [("connection_id", "in", self.ids), ("state", "=", "open")],
                ["connection_id"],
                ["__count"],
            )
        )
        snapshots = dict(
            self.env["stock.channel.threepl.snapshot"]._read_group(
                [("connection_id", "in", self.ids)], ["connection_id"], ["__count"]
            )
        )
        for connection in self:
            connection.drift_count = drift.get(connection, 0)
            connection.snapshot_count = snapshots.get(connection, 0)

    @api.constrains("snapshot_interval")
    def _check_snapshot_interval(self):
        if any(connection.snapshot_interval < 0 for connection in self):
            raise ValidationError(
                self.env._("The snapshot interval cannot be negative.")
            )

    def action_read_snapshot(self):
        """Managers: read the 3PL's inventory now, whatever the schedule."""
        if not self.env.user.has_group(MANAGER_GROUP):
            raise UserError(
                self.env._("Only Channel Sync managers can read a snapshot.")
            )
        polled = self.filtered(lambda c: c.protocol == "poll")
        if not polled:
            raise UserError(
                self.env._(
                    "Only connections whose protocol is Polled JSON snapshot are "
                    "read; the others post their snapshots."
                )
            )
        polled._enqueue_snapshot_read()
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "message": self.env._("Snapshot read queued."),
                "type": "success",
                "sticky": False,
            },
        }

    def action_view_drift(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id(
            "stock_channel_sync.stock_channel_threepl_discrepancy_action"
        )
        action["domain"] = [("connection_id", "=", self.id)]
        return action

    def action_view_snapshots(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id(
            "stock_channel_sync.stock_channel_threepl_snapshot_action"
        )
        action["domain"] = [("connection_id", "=", self.id)]
        return action

    def _enqueue_snapshot_read(self):
        """One job per connection (identity key), as its technical user."""
        jobs.enqueue("threepl_snapshot_read", self)

    def _threepl_adapter(self, session=None):
        """The API adapter of this connection (the caller runs as its
        technical user, a manager: the token is readable). ``session``
        replaces the HTTP session (tests, benchmarks)."""
        self.ensure_one()
        config = threepl.ThreeplConfig(
            code=self.code,
            protocol=self.protocol,
            provider=self.provider or "",
            api_url=self.api_url or "",
            api_token=self.api_token or "",
            # sudo: system parameters are readable by administrators only;
            # this one is a list of host names, no secret.
            allowed_hosts=outbound.allowed_hosts(
                self.env["ir.config_parameter"]
                .sudo()
                .get_param(outbound.ALLOWED_HOSTS_PARAM, "")
            ),
        )
        if not config.api_url:
            raise PermanentError(
                f"3PL {self.code}: no 3PL API URL to read the inventory from"
            )
        return threepl.get_adapter(config, session or outbound.new_session())

    def _read_snapshot(self):
        """Job: read the 3PL's whole inventory from its API, store it as a
        snapshot and compare it (apply it with the *apply* policy), in one
        transaction. Transient failures (timeouts, 5xx, 429) are retried,
        the 3PL's Retry-After first; a permanent one (a refused token, a
        wrong URL, a broken answer) fails the job and shows on the
        connection."""
        self.ensure_one()
        threepl_snapshot.lock_connection(self)
        as_of = fields.Datetime.now()
        correlation = self.env.context.get("job_uuid") or f"read-{self.code}"
        try:
            levels = self._threepl_adapter().fetch_levels(correlation)
            snapshot = threepl_snapshot.validate_snapshot(
                _document(as_of, levels.values()),
                max_lines=threepl_snapshot.MAX_SKUS,
            )
        except TransientError as exc:
            raise RetryableJobError(str(exc), seconds=exc.retry_after) from exc
        except PermanentError as exc:
            self._keep_snapshot_error(str(exc))
            raise UserError(str(exc)) from exc
        except threepl_snapshot.InvalidSnapshot as exc:
            message = self.env._(
                "3PL %(code)s: its inventory is not a snapshot Odoo can compare: "
                "%(problems)s",
                code=self.code,
                problems="; ".join(
                    f"{d['field']}: {d['message']}" for d in exc.details[:5]
                ),
            )
            self._keep_snapshot_error(message)
            raise UserError(message) from exc
        stored = threepl_snapshot.store(self, snapshot, "poll", enqueue_compare=False)
        if stored.status != "accepted":
            return f"nothing new: {stored.status}"
        record = self.env["stock.channel.threepl.snapshot"].browse(stored.snapshot_id)
        try:
            with self.env.cr.savepoint():
                return threepl_snapshot.process(record)
        except Exception as exc:
            retry_contention(exc, as_of)

    def _keep_snapshot_error(self, message):
        """Record why the read failed in its own transaction: the job's own
        is rolled back when it fails."""
        with self.env.registry.cursor() as cr:
            cr.execute(
                "UPDATE stock_channel_threepl SET snapshot_error = %s WHERE id = %s",
                [message, self.id],
            )
        self.invalidate_recordset(["snapshot_error"])

    @api.model
    def _cron_read_snapshots(self):
        """Enqueue the polled connections whose snapshot interval has
        elapsed (one job per connection: its identity key)."""
        now = fields.Datetime.now()
        due = self.search(
            [("protocol", "=", "poll"), ("snapshot_interval", ">", 0)]
        ).filtered(
            lambda c: not c.last_snapshot_at
            or c.last_snapshot_at + timedelta(hours=c.snapshot_interval) - CRON_SLACK
            <= now
        )
        due._enqueue_snapshot_read()


def _document(as_of, levels):
    """A polled read as the JSON contract's snapshot document."""
    moment = f"{as_of:%Y-%m-%dT%H:%M:%S}Z"
    return {
        "id": f"poll/{moment}",
        "type": threepl_snapshot.TYPE,
        "occurred_at": moment,
        "lines": [
            {"sku": level.sku, "quantity": level.on_hand, "available": level.available}
            for level in levels
        ],
    }
