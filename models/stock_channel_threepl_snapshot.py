from datetime import timedelta

from odoo import api, fields, models

from ..services import jobs, retention, threepl_snapshot
from ..services.retries import retry_contention

# Lines (the 3PL's figure of every SKU) are kept this many days by default:
# an hourly 50,000-SKU read stores 1.2 million a day. The header, its counts
# and its discrepancies follow the addon's retention.
LINE_RETENTION_PARAM = "stock_channel_sync.snapshot_line_retention_days"
LINE_RETENTION_DAYS = 7


class StockChannelThreeplSnapshot(models.Model):
    """A 3PL's count of its whole inventory for the depositor at one moment,
    stored once per (connection, snapshot id) whatever the number of
    deliveries, and compared with Odoo's on hand by a job."""

    _name = "stock.channel.threepl.snapshot"
    _inherit = ["stock.channel.threepl.owned.mixin"]
    _description = "3PL Inventory Snapshot"
    _order = "as_of desc, id desc"
    _rec_name = "business_id"
    _sql_constraints = [
        (
            "connection_business_uniq",
            "UNIQUE (connection_id, business_id)",
            "A 3PL snapshot is stored once per connection and id.",
        ),
    ]

    business_id = fields.Char(
        string="Snapshot ID",
        required=True,
        readonly=True,
        help="The 3PL's id of the snapshot (846: BIA-03; polled: poll/<time>): "
        "what makes it stored once.",
    )
    source = fields.Selection(
        [
            ("json", "JSON snapshot event"),
            ("x12", "X12 846"),
            ("poll", "Polled API"),
        ],
        required=True,
        readonly=True,
    )
    as_of = fields.Datetime(
        string="Counted At",
        required=True,
        readonly=True,
        index=True,
        help="When the 3PL counted (the snapshot's occurred_at; 846: BIA-04/05; "
        "polled: when the read started). Events after it are in flight.",
    )
    received_at = fields.Datetime(readonly=True)
    page_count = fields.Integer(
        string="Pages", readonly=True, help="How many pages the 3PL announced."
    )
    pages_received = fields.Integer(readonly=True)
    line_count = fields.Integer(string="SKUs", readonly=True)
    state = fields.Selection(
        [
            ("receiving", "Receiving Pages"),
            ("received", "Received"),
            ("compared", "Compared"),
            ("applied", "Applied"),
            ("superseded", "Superseded"),
        ],
        required=True,
        default="receiving",
        readonly=True,
        index=True,
        help="Receiving Pages: pages are missing, nothing is compared. "
        "Received: complete, its comparison is queued. Compared: drift "
        "reported. Applied: drift reported and the differences booked as "
        "inventory adjustments. Superseded: a later snapshot was compared "
        "first; this one is not.",
    )
    policy = fields.Selection(
        [("report", "Report drift"), ("apply", "Apply as inventory adjustment")],
        readonly=True,
        help="The connection's policy when the snapshot was compared.",
    )
    compared_at = fields.Datetime(readonly=True)
    drift_count = fields.Integer(
        string="Differences", readonly=True, help="SKUs whose quantities differ."
    )
    new_drift_count = fields.Integer(
        string="New Differences", readonly=True, help="Not open before."
    )
    unknown_sku_count = fields.Integer(
        string="Unknown SKUs", readonly=True, help="SKUs Odoo has no product for."
    )
    resolved_count = fields.Integer(
        string="Resolved",
        readonly=True,
        help="Open differences this one no longer shows.",
    )
    applied_count = fields.Integer(
        string="Adjustments",
        readonly=True,
        help="Inventory moves booked (apply policy).",
    )
    line_ids = fields.One2many(
        "stock.channel.threepl.snapshot.line", "snapshot_id", string="Lines"
    )
    discrepancy_ids = fields.One2many(
        "stock.channel.threepl.discrepancy", "snapshot_id", string="Differences Found"
    )

    def _enqueue_compare(self):
        jobs.enqueue("threepl_snapshot", self)

    def _process(self):
        """Job: compare a complete snapshot with Odoo's on hand once (and,
        with the *apply* policy, book the differences). One run per
        connection at a time (its lock); stock contention retried without
        limit."""
        self.ensure_one()
        threepl_snapshot.lock_connection(self.connection_id)
        state = self._locked_state()
        if state != "received":
            return f"nothing to do: {state}"
        try:
            with self.env.cr.savepoint():
                return threepl_snapshot.process(self)
        except Exception as exc:
            retry_contention(exc, self.create_date)

    def _locked_state(self):
        """The snapshot's state, its row locked for the rest of the job (the
        same snapshot's job run twice at once waits, then finds it done)."""
        self.flush_recordset(["state"])
        self.env.cr.execute(
            "SELECT state FROM stock_channel_threepl_snapshot WHERE id = %s FOR UPDATE",
            [self.id],
        )
        self.invalidate_recordset(["state"])
        return self.env.cr.fetchone()[0]

    def action_view_discrepancies(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id(
            "stock_channel_sync.stock_channel_threepl_discrepancy_action"
        )
        action["domain"] = [("snapshot_id", "=", self.id)]
        action["context"] = {}
        return action

    @api.autovacuum
    def _gc_snapshots(self):
        """Lines of snapshots older than the line retention, and snapshots
        older than the addon's retention; a connection's latest snapshot is
        always kept whole."""
        now = fields.Datetime.now()
        # sudo: a number of days, no secret (system parameters are
        # readable by administrators only).
        line_days = int(
            self.env["ir.config_parameter"]
            .sudo()
            .get_param(LINE_RETENTION_PARAM, LINE_RETENTION_DAYS)
        )
        self.env.cr.execute(
            """
            WITH latest AS (
                SELECT DISTINCT ON (connection_id) id
                  FROM stock_channel_threepl_snapshot
                 ORDER BY connection_id, as_of DESC, id DESC
            ), old AS (
                SELECT id FROM stock_channel_threepl_snapshot
                 WHERE as_of < %s AND id NOT IN (SELECT id FROM latest)
            )
            DELETE FROM stock_channel_threepl_snapshot_line
             WHERE snapshot_id IN (SELECT id FROM old)
            """,
            [now - timedelta(days=line_days)],
        )
        # Discrepancies keep their snapshot link while open (set null after).
        self.env.cr.execute(
            """
            WITH latest AS (
                SELECT DISTINCT ON (connection_id) id
                  FROM stock_channel_threepl_snapshot
                 ORDER BY connection_id, as_of DESC, id DESC
            )
            DELETE FROM stock_channel_threepl_snapshot s
             WHERE s.as_of < %s AND s.id NOT IN (SELECT id FROM latest)
               AND NOT EXISTS (
                   SELECT 1 FROM stock_channel_threepl_discrepancy d
                    WHERE d.snapshot_id = s.id AND d.state = 'open')
            """,
            [now - timedelta(days=retention.retention_days(self.env))],
        )
