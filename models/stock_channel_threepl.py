from odoo import api, fields, models
from odoo.exceptions import AccessError, ValidationError

from .stock_channel import CODE_PATTERN, MANAGER_GROUP
from .stock_channel_technical_user import check_technical_users

# What the addon's own jobs record on a connection, in SQL: never written
# through the ORM (a manager's JSON-RPC write of a forged "last applied
# snapshot" would silently drop every adjustment older than it).
JOB_FIELDS = frozenset(
    {
        "ack_control_number",
        "last_snapshot_at",
        "last_applied_snapshot_at",
        "snapshot_error",
    }
)


class StockChannelThreepl(models.Model):
    """A warehouse whose execution (receiving, shipping, counting, holding)
    happens in a third-party logistics provider's system: its inventory
    events reach Odoo through this connection and are applied as real stock
    operations, exactly once."""

    _name = "stock.channel.threepl"
    _inherit = ["stock.channel.secret.mixin"]
    _description = "3PL Connection"
    _order = "name, id"
    _check_company_auto = True
    _sql_constraints = [
        (
            "code_company_uniq",
            "UNIQUE (company_id, code)",
            "The 3PL connection code must be unique per company.",
        ),
    ]

    name = fields.Char(required=True)
    code = fields.Char(
        required=True,
        help="Short technical name, unique in the company: lowercase letters, "
        "digits, '-' and '_'. It appears in the URL the 3PL posts to: "
        "/stock_channel_sync/3pl/<code>/events.",
    )
    active = fields.Boolean(default=True)
    company_id = fields.Many2one(
        "res.company", required=True, default=lambda self: self.env.company
    )
    provider = fields.Char(help="The 3PL or WMS, e.g. ShipHero, ShipBob.")
    protocol = fields.Selection(
        [
            ("json", "JSON events"),
            ("x12", "X12 EDI files"),
            ("poll", "Polled JSON snapshot"),
        ],
        required=True,
        default="json",
        help="How the 3PL reports its inventory: JSON events posted to "
        "/stock_channel_sync/3pl/<code>/events, or X12 interchanges posted to "
        "/stock_channel_sync/3pl/<code>/edi (944, 945, 947, 846), both "
        "signed like every other endpoint (signature v2), or nothing pushed "
        "and its inventory read from its API (Polled JSON snapshot).",
    )
    api_url = fields.Char(
        string="3PL API URL",
        help="Base URL of the 3PL's API (https): snapshots are read from it "
        "and shipping orders sent to it.",
    )
    api_token = fields.Char(
        string="API Token",
        groups=MANAGER_GROUP,
        copy=False,
        help="Bearer token for the 3PL's API. Managers only; never logged.",
    )
    sku_field = fields.Selection(
        [("default_code", "Internal Reference"), ("barcode", "Barcode")],
        string="SKU Mapping",
        required=True,
        default="default_code",
        help="Which product field the 3PL's SKUs are matched against.",
    )
    drive_receipts = fields.Boolean(
        string="Drives Receipts",
        default=True,
        help="The 3PL's goods-received events (944) validate Odoo receipts.",
    )
    drive_deliveries = fields.Boolean(
        string="Drives Deliveries",
        default=True,
        help="The 3PL's shipment events (945) validate Odoo deliveries, and "
        "deliveries ready at this warehouse are sent to the 3PL as shipping "
        "orders.",
    )
    drive_adjustments = fields.Boolean(
        string="Drives Adjustments",
        default=True,
        help="The 3PL's adjustments (947: counts, damages, holds) are booked "
        "as inventory moves.",
    )
    warehouse_id = fields.Many2one(
        "stock.warehouse",
        required=True,
        check_company=True,
        help="The warehouse the 3PL runs.",
    )
    location_id = fields.Many2one(
        "stock.location",
        string="3PL Stock Location",
        required=True,
        check_company=True,
        compute="_compute_location_id",
        store=True,
        readonly=False,
        precompute=True,
        domain="[('usage', '=', 'internal'), ('warehouse_id', '=', warehouse_id)]",
        help="Where the 3PL's sellable stock is in Odoo: adjustments are "
        "booked here. Defaults to the warehouse's stock location.",
    )
    hold_location_id = fields.Many2one(
        "stock.location",
        string="Hold Location",
        check_company=True,
        domain="[('usage', '=', 'internal'), ('warehouse_id', '=', warehouse_id)]",
        help="Where stock the 3PL puts on hold (reason code 05) goes, and "
        "comes back from when released (55). Mark it not sellable on "
        "channels. Without it, hold and release events are refused.",
    )
    damaged_location_id = fields.Many2one(
        "stock.location",
        string="Damaged Location",
        check_company=True,
        domain="[('usage', '=', 'internal'), ('warehouse_id', '=', warehouse_id), "
        "('channel_sellable', '=', False)]",
        help="Where the units a 3PL receives damaged (944 W13 condition 01, "
        "``damaged`` of a goods-received line) are put: an internal location "
        "of the warehouse, not sellable on channels (it or a parent has "
        "Sellable on Channels off), so damaged goods never count in any "
        "channel's available-to-sell. Without it, a receipt with damaged "
        "units is refused (Error).",
    )
    user_id = fields.Many2one(
        "res.users",
        string="Technical User",
        domain="[('share', '=', False), ('company_ids', 'in', company_id)]",
        help="The 3PL's events are applied as this user: an active internal "
        "user of this company with Inventory: User and Channel Sync: "
        "Manager, never an administrator nor OdooBot.",
    )
    webhook_secret = fields.Char(
        help="Shared secret the 3PL signs its requests with (signature v2). "
        "A strong random one is generated for a new connection; Rotate "
        "Secret replaces it without downtime.",
    )
    ack_control_number = fields.Integer(
        string="Last Interchange Control Number",
        readonly=True,
        copy=False,
        help="X12: the control number (ISA13, GS06) of the last interchange "
        "sent to this 3PL, a functional acknowledgment (997) or a shipping "
        "order (940); each takes the next one. One counter for both: a 3PL "
        "refuses an interchange number it has already seen from us.",
    )
    event_ids = fields.One2many(
        "stock.channel.threepl.event", "connection_id", string="Events"
    )
    event_count = fields.Integer(compute="_compute_event_counts")
    error_event_count = fields.Integer(
        string="Events in Error", compute="_compute_event_counts"
    )

    @api.depends("warehouse_id")
    def _compute_location_id(self):
        for connection in self:
            connection.location_id = connection.warehouse_id.lot_stock_id

    def _compute_event_counts(self):
        groups = self.env["stock.channel.threepl.event"]._read_group(
            [("connection_id", "in", self.ids)], ["connection_id", "state"], ["__count"]
        )
        counts = {}
        for connection, state, count in groups:
            total, errors = counts.get(connection.id, (0, 0))
            counts[connection.id] = (
                total + count,
                errors + (count if state == "error" else 0),
            )
        for connection in self:
            connection.event_count, connection.error_event_count = counts.get(
                connection.id, (0, 0)
            )

    @api.constrains("code")
    def _check_code(self):
        for connection in self:
            if not CODE_PATTERN.match(connection.code or ""):
                raise ValidationError(
                    self.env._(
                        "3PL connection code '%s' may only contain lowercase "
                        "letters, digits, '-' and '_'.",
                        connection.code,
                    )
                )

    @api.constrains("user_id", "active", "company_id")
    def _check_technical_user(self):
        check_technical_users(
            self, self.env._("3PL connection"), self.env._("3PL connection")
        )

    @api.constrains("location_id", "hold_location_id", "damaged_location_id")
    def _check_locations(self):
        for connection in self:
            if connection.hold_location_id == connection.location_id:
                raise ValidationError(
                    self.env._(
                        "The hold location of 3PL connection %s must differ from "
                        "its stock location.",
                        connection.display_name,
                    )
                )
            damaged = connection.damaged_location_id
            if damaged and not connection._damaged_location_fit():
                raise ValidationError(
                    self.env._(
                        "The damaged location of 3PL connection %(connection)s "
                        "must be an internal location of warehouse "
                        "%(warehouse)s, other than its stock location, that is "
                        "not sellable on channels (Sellable "
                        "on Channels off on it or a parent): damaged goods must "
                        "never count in a channel's available-to-sell.",
                        connection=connection.display_name,
                        warehouse=connection.warehouse_id.display_name,
                    )
                )

    def _damaged_location_fit(self):
        """Whether the damaged location is an internal location of the
        connection's warehouse whose stock no channel sells (the ATP
        engine's rule: it or an ancestor has ``channel_sellable`` off)."""
        self.ensure_one()
        damaged = self.damaged_location_id
        chain = self.env["stock.location"].search([("id", "parent_of", damaged.id)])
        return (
            damaged != self.location_id
            and damaged.usage == "internal"
            and damaged.warehouse_id == self.warehouse_id
            and not all(chain.mapped("channel_sellable"))
        )

    @api.model_create_multi
    def create(self, vals_list):
        for vals in vals_list:
            self._check_job_fields(vals)
        return super().create(vals_list)

    def write(self, vals):
        self._check_job_fields(vals)
        return super().write(vals)

    def _check_job_fields(self, vals):
        if JOB_FIELDS & vals.keys() and not self.env.su:
            raise AccessError(
                self.env._(
                    "%s are recorded by the 3PL jobs only.",
                    ", ".join(sorted(JOB_FIELDS & vals.keys())),
                )
            )

    def action_view_events(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id(
            "stock_channel_sync.stock_channel_threepl_event_action"
        )
        action["domain"] = [("connection_id", "=", self.id)]
        return action

    def _next_ack_control_number(self):
        """The next control number of an interchange sent to this 3PL (a
        997, a 940), taken in one UPDATE: concurrent files never share one
        (the row lock orders them)."""
        self.ensure_one()
        self.env.cr.execute(
            "UPDATE stock_channel_threepl"
            " SET ack_control_number = COALESCE(ack_control_number, 0) %% 999999999 + 1"
            " WHERE id = %s RETURNING ack_control_number",
            [self.id],
        )
        self.invalidate_recordset(["ack_control_number"])
        return self.env.cr.fetchone()[0]

    def _as_technical_user(self):
        self.ensure_one()
        return self.with_user(self.user_id).with_company(self.company_id)
