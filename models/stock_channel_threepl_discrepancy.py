from datetime import timedelta

from odoo import api, fields, models
from odoo.exceptions import UserError

from ..adapters.x12 import REASONS
from ..services import retention

CAUSES = [
    ("unknown_sku", "Unknown SKU"),
    ("in_flight", "Events in flight"),
    ("not_in_snapshot", "Not in the snapshot"),
    ("adjustment", "After a 3PL adjustment"),
]


class StockChannelThreeplDiscrepancy(models.Model):
    """A SKU whose quantity at a 3PL differs from Odoo's on hand there,
    found by comparing a snapshot. One open row per connection and product
    (or SKU, for one Odoo does not know): later snapshots refresh it while
    the difference lasts and resolve it once it is gone; with the *apply*
    policy it is booked as an inventory adjustment and becomes *Applied*.
    Written by the snapshot job in SQL; read-only to every user."""

    _name = "stock.channel.threepl.discrepancy"
    _inherit = ["stock.channel.threepl.owned.mixin"]
    _description = "3PL Discrepancy"
    _order = "state, detected_at desc, id desc"
    _rec_name = "sku"

    kind = fields.Selection(
        [("threepl_drift", "3PL Drift")],
        required=True,
        default="threepl_drift",
        readonly=True,
        help="3PL Drift: the 3PL's count of a SKU differs from Odoo's on hand "
        "at the connection's locations.",
    )
    snapshot_id = fields.Many2one(
        "stock.channel.threepl.snapshot",
        string="Snapshot",
        index="btree_not_null",
        ondelete="set null",
        readonly=True,
        help="The last snapshot that found it.",
    )
    as_of = fields.Datetime(
        related="snapshot_id.as_of", string="Counted At", readonly=True
    )
    drift_key = fields.Char(
        readonly=True,
        required=True,
        help="Technical: product:<id>, or sku:<SKU> for a SKU Odoo does not know.",
    )
    product_id = fields.Many2one("product.product", readonly=True, index=True)
    sku = fields.Char(string="SKU", readonly=True)
    odoo_qty = fields.Float(
        string="Odoo On Hand",
        digits="Product Unit of Measure",
        readonly=True,
        help="Odoo's quants at the 3PL stock location and its hold location "
        "(children included) when the snapshot was compared.",
    )
    threepl_qty = fields.Float(
        string="3PL On Hand",
        digits="Product Unit of Measure",
        readonly=True,
        help="What the 3PL counted (0 for a product the snapshot leaves out).",
    )
    difference = fields.Float(
        digits="Product Unit of Measure",
        readonly=True,
        aggregator="sum",
        help="3PL minus Odoo: above zero the 3PL has more than Odoo knows.",
    )
    in_snapshot = fields.Boolean(
        string="Listed by the 3PL",
        readonly=True,
        help="Off: Odoo has stock the 3PL's snapshot does not list (it says 0).",
    )
    in_flight_count = fields.Integer(
        string="Events After the Count",
        readonly=True,
        help="Events of this product at this connection that occurred after "
        "the snapshot time and are applied in Odoo: the 3PL had not counted "
        "them yet.",
    )
    pending_event_count = fields.Integer(
        string="Events Not Applied",
        readonly=True,
        help="Events of this product that occurred before the snapshot time and "
        "are not applied in Odoo yet (waiting or in error).",
    )
    last_event_at = fields.Datetime(
        string="Last Event",
        readonly=True,
        help="When the last applied event of this product at this connection "
        "occurred.",
    )
    last_event_age = fields.Float(
        string="Hours Since Last Event",
        compute="_compute_last_event_age",
        digits=(16, 1),
    )
    last_reason_code = fields.Char(
        string="Last Adjustment Reason",
        readonly=True,
        help="X12 W19-01 reason code of the last applied adjustment.",
    )
    cause_kind = fields.Selection(CAUSES, string="Cause Type", readonly=True)
    cause = fields.Char(
        compute="_compute_cause",
        help="What may explain the difference, from the connection's events.",
    )
    state = fields.Selection(
        [("open", "Open"), ("resolved", "Resolved"), ("applied", "Applied")],
        required=True,
        default="open",
        readonly=True,
        index=True,
        help="Open: the last snapshot still shows it. Resolved: a later snapshot "
        "did not (or resolved by hand). Applied: booked as an inventory "
        "adjustment (apply policy).",
    )
    detected_at = fields.Datetime(readonly=True, help="First found.")
    last_seen_at = fields.Datetime(readonly=True, help="Last snapshot that found it.")
    resolved_at = fields.Datetime(readonly=True)
    applied_at = fields.Datetime(readonly=True)
    move_id = fields.Many2one(
        "stock.move",
        string="Adjustment",
        readonly=True,
        help="The inventory move that booked it (apply policy).",
    )

    def init(self):
        # The snapshot job upserts on it: one open row per connection and
        # product (or unknown SKU).
        self.env.cr.execute(
            "CREATE UNIQUE INDEX IF NOT EXISTS"
            " stock_channel_threepl_discrepancy_open_uniq"
            " ON stock_channel_threepl_discrepancy (connection_id, drift_key)"
            " WHERE state = 'open'"
        )

    @api.depends("last_event_at")
    def _compute_last_event_age(self):
        now = fields.Datetime.now()
        for row in self:
            row.last_event_age = (
                (now - row.last_event_at).total_seconds() / 3600
                if row.last_event_at
                else 0.0
            )

    @api.depends(
        "cause_kind",
        "in_flight_count",
        "pending_event_count",
        "last_reason_code",
        "connection_id.sku_field",
    )
    def _compute_cause(self):
        for row in self:
            row.cause = row._cause_text()

    def _cause_text(self):
        env = self.env
        kind = self.cause_kind
        if kind == "unknown_sku":
            field = self.connection_id._fields["sku_field"]
            mapping = dict(field._description_selection(env)).get(
                self.connection_id.sku_field, ""
            )
            return env._(
                "unknown SKU: no storable product has this %(field)s",
                field=mapping.lower(),
            )
        if kind == "in_flight":
            texts = []
            if self.in_flight_count:
                texts.append(
                    env._(
                        "%s event(s) received after the snapshot time still in "
                        "flight (applied in Odoo, not counted by the 3PL yet)",
                        self.in_flight_count,
                    )
                )
            if self.pending_event_count:
                texts.append(
                    env._(
                        "%s event(s) up to the snapshot time not applied in Odoo "
                        "yet",
                        self.pending_event_count,
                    )
                )
            return "; ".join(texts)
        if kind == "not_in_snapshot":
            return env._("not in the 3PL's snapshot: the 3PL says 0")
        if kind == "adjustment":
            label = REASONS.get(self.last_reason_code, (None, None))[1]
            return env._(
                "last adjustment reason %(code)s %(label)s",
                code=self.last_reason_code,
                label=label or "",
            ).strip()
        return ""

    def action_resolve(self):
        """Managers: close open rows by hand (e.g. a SKU the 3PL lists that
        Odoo will never sell). A later snapshot that still finds the
        difference opens a new row."""
        if not self.env.user.has_group("stock_channel_sync.group_channel_manager"):
            raise UserError(self.env._("Only Channel Sync managers can resolve."))
        # sudo(): discrepancies are read-only to every user (only the
        # snapshot job writes them); narrow: these open rows, which this
        # manager just read through the record rules, their state only.
        self.filtered(lambda d: d.state == "open").sudo().write(
            {"state": "resolved", "resolved_at": fields.Datetime.now()}
        )

    def action_view_events(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id(
            "stock_channel_sync.stock_channel_threepl_event_action"
        )
        action["domain"] = [
            ("connection_id", "=", self.connection_id.id),
            ("product_id", "=", self.product_id.id),
        ]
        return action

    @api.autovacuum
    def _gc_closed(self):
        """Resolved and applied rows older than the retention."""
        self.env.cr.execute(
            "DELETE FROM stock_channel_threepl_discrepancy"
            " WHERE state IN ('resolved', 'applied')"
            " AND write_date < %s",
            [
                fields.Datetime.now()
                - timedelta(days=retention.retention_days(self.env))
            ],
        )
