import re
from datetime import timedelta

from odoo import api, fields, models
from odoo.exceptions import UserError, ValidationError
from odoo.tools import SQL

from ..adapters import outbound
from ..adapters.base import (
    ChannelConfig,
    get_adapter,
)
from ..services import breaker
from ..services.sandbox import SandboxShelf
from .stock_channel_secret_mixin import MANAGER_GROUP

CODE_PATTERN = re.compile(r"^[a-z0-9_-]+$")
# First path segments of the addon's other endpoints (3PL connections,
# supplier feeds): a channel named so would share their URLs.
RESERVED_CODES = frozenset({"3pl", "supplier_feed"})


class StockChannel(models.Model):
    """A sales channel (marketplace, web store, B2B portal) that sells the
    stock of some of the company's warehouses."""

    _name = "stock.channel"
    _inherit = ["stock.channel.secret.mixin"]
    _description = "Sales Channel"
    _order = "sequence, name, id"
    _check_company_auto = True
    _sql_constraints = [
        # Deferred: the Python check below gives the clear message, this one
        # guards against two transactions racing past it.
        (
            "code_company_uniq",
            "UNIQUE (company_id, code) DEFERRABLE INITIALLY DEFERRED",
            "The channel code must be unique per company.",
        ),
    ]
    name = fields.Char(required=True, translate=False)
    code = fields.Char(
        required=True,
        help="Short technical name, unique in the company: lowercase letters, "
        "digits, '-' and '_'. It appears in the URLs marketplaces call.",
    )
    sequence = fields.Integer(default=10)
    active = fields.Boolean(default=True)
    company_id = fields.Many2one(
        "res.company",
        required=True,
        default=lambda self: self.env.company,
        index=True,
    )
    adapter = fields.Selection(
        [
            ("webhook", "Generic webhook"),
            ("shopify", "Shopify"),
            ("woocommerce", "WooCommerce"),
            ("amazon", "Amazon (SP-API)"),
            ("sandbox", "Sandbox (no network)"),
        ],
        required=True,
        default="webhook",
        help="How this channel is talked to. 'Generic webhook' follows the JSON "
        "contract documented in the module README; Shopify uses the Admin "
        "GraphQL API (access token in API Secret); WooCommerce the REST API v3 "
        "(consumer key and secret); Amazon the Selling Partner API (seller "
        "account, marketplaces, Login with Amazon credentials). 'Sandbox' needs "
        "no marketplace: what is published lands on the channel's shelf in "
        "Odoo, and Simulate Order posts signed orders through the real intake, "
        "to try everything out.",
    )
    user_id = fields.Many2one(
        "res.users",
        string="Technical User",
        domain="[('share', '=', False), ('company_ids', 'in', company_id)]",
        help="Publication jobs and orders run as this user (no default: choose "
        "one before activating the channel). It reads the credentials, writes "
        "the audit, the orders, customers and sale orders: an active internal "
        "user of this company with Channel Sync: Manager, Sales: User, "
        "Inventory: User and Contact Creation, never an administrator nor "
        "OdooBot.",
    )
    request_timeout = fields.Integer(
        default=30,
        help="Seconds to wait for the channel's answer before retrying later "
        "(1 to 120).",
    )
    responsible_id = fields.Many2one(
        "res.users",
        string="Responsible",
        help="Gets a to-do when an order of this channel cannot be processed. "
        "Defaults to the technical user.",
    )
    order_count = fields.Integer(compute="_compute_order_count")
    debounce_seconds = fields.Integer(
        string="Debounce",
        default=1,
        help="Seconds a real-time channel waits after a change before "
        "publishing, so that a burst of changes makes one request.",
    )
    last_batch_at = fields.Datetime(string="Last Batch Run", readonly=True, copy=False)
    publication_ids = fields.One2many(
        "stock.channel.publication", "channel_id", string="Publications"
    )
    failed_publication_count = fields.Integer(
        compute="_compute_failed_publication_count"
    )
    warehouse_ids = fields.Many2many(
        "stock.warehouse",
        "stock_channel_warehouse_rel",
        "channel_id",
        "warehouse_id",
        string="Fulfillment Warehouses",
        compute="_compute_warehouse_ids",
        store=True,
        readonly=False,
        precompute=True,
        domain="[('company_id', '=', company_id)]",
        help="Warehouses whose sellable stock this channel may sell. Their "
        "quantities are added up. Defaults to every warehouse of the company.",
    )
    sync_mode = fields.Selection(
        [("realtime", "Real time"), ("batch", "Batch")],
        required=True,
        default="realtime",
        help="Real time: changes are published within seconds. "
        "Batch: changes are collected and published every batch interval.",
    )
    batch_interval = fields.Integer(
        default=15,
        help="Minutes between two publications in batch mode.",
    )
    listing_ids = fields.One2many(
        "stock.channel.listing", "channel_id", string="Listings"
    )
    buffer_rule_ids = fields.One2many(
        "stock.channel.buffer.rule",
        "channel_id",
        string="Buffer Rules",
        help="Rules that only apply to this channel. Rules without a channel "
        "apply to every channel of the company.",
    )
    shelf_count = fields.Integer(
        string="On the Shelf",
        compute="_compute_shelf_count",
        help="Sandbox channels: SKUs the sandbox marketplace shows.",
    )
    listing_count = fields.Integer(compute="_compute_listing_counts")
    pending_listing_count = fields.Integer(
        compute="_compute_listing_counts",
        help="Listings whose stock changed since they were last published.",
    )

    @api.depends("company_id")
    def _compute_warehouse_ids(self):
        for channel in self:
            channel.warehouse_ids = self.env["stock.warehouse"].search(
                [("company_id", "=", channel.company_id.id)]
            )

    def _compute_listing_counts(self):
        self.env["stock.channel.listing"].flush_model(["channel_id"])
        self.env.cr.execute(
            SQL(
                """
                SELECT l.channel_id, COUNT(*),
                       COUNT(*) FILTER (WHERE EXISTS (
                           SELECT 1 FROM stock_channel_listing_change ch
                            WHERE ch.listing_id = l.id))
                  FROM stock_channel_listing l
                 WHERE l.channel_id = ANY(%s) AND l.active
              GROUP BY l.channel_id
                """,
                self.ids,
            )
        )
        counts = {row[0]: row[1:] for row in self.env.cr.fetchall()}
        for channel in self:
            channel.listing_count, channel.pending_listing_count = counts.get(
                channel.id, (0, 0)
            )

    @api.constrains("code")
    def _check_code(self):
        for channel in self:
            if not CODE_PATTERN.match(channel.code or ""):
                raise ValidationError(
                    self.env._(
                        "Channel code '%s' may only contain lowercase letters, "
                        "digits, '-' and '_'.",
                        channel.code,
                    )
                )
            if channel.code in RESERVED_CODES:
                raise ValidationError(
                    self.env._(
                        "Channel code '%s' is reserved: the addon's other "
                        "endpoints use it in their URLs.",
                        channel.code,
                    )
                )
        groups = self.with_context(active_test=False)._read_group(
            [
                ("code", "in", self.mapped("code")),
                ("company_id", "in", self.company_id.ids),
            ],
            ["company_id", "code"],
            ["__count"],
        )
        for company, code, count in groups:
            if count > 1:
                raise ValidationError(
                    self.env._(
                        "Another channel of %(company)s already uses the code "
                        "'%(code)s'.",
                        company=company.display_name,
                        code=code,
                    )
                )

    @api.constrains("warehouse_ids", "company_id")
    def _check_warehouse_company(self):
        for channel in self:
            foreign = channel.warehouse_ids.filtered(
                lambda wh, c=channel: wh.company_id != c.company_id
            )
            if foreign:
                raise ValidationError(
                    self.env._(
                        "Channel %(channel)s belongs to %(company)s and cannot "
                        "sell the stock of warehouse %(warehouses)s of another "
                        "company.",
                        channel=channel.display_name,
                        company=channel.company_id.display_name,
                        warehouses=", ".join(foreign.mapped("display_name")),
                    )
                )

    def _compute_shelf_count(self):
        groups = self.env["stock.channel.sandbox.shelf"]._read_group(
            [("channel_id", "in", self.ids)], ["channel_id"], ["__count"]
        )
        counts = {channel.id: count for channel, count in groups}
        for channel in self:
            channel.shelf_count = counts.get(channel.id, 0)

    def _compute_order_count(self):
        groups = self.env["stock.channel.order"]._read_group(
            [("channel_id", "in", self.ids)], ["channel_id"], ["__count"]
        )
        counts = {channel.id: count for channel, count in groups}
        for channel in self:
            channel.order_count = counts.get(channel.id, 0)

    def action_view_orders(self):
        return self._channel_action("stock_channel_order_action")

    def _channel_action(self, xmlid, **context):
        """One of this addon's windows, narrowed to this channel."""
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id(
            f"stock_channel_sync.{xmlid}"
        )
        action["domain"] = [("channel_id", "=", self.id)]
        if context:
            action["context"] = context
        return action

    def _compute_failed_publication_count(self):
        since = fields.Datetime.now() - timedelta(days=1)
        groups = self.env["stock.channel.publication"]._read_group(
            [
                ("channel_id", "in", self.ids),
                ("state", "=", "failed"),
                ("create_date", ">=", since),
            ],
            ["channel_id"],
            ["__count"],
        )
        counts = {channel.id: count for channel, count in groups}
        for channel in self:
            channel.failed_publication_count = counts.get(channel.id, 0)

    @api.constrains("request_timeout")
    def _check_request_timeout(self):
        low, high = outbound.MIN_TIMEOUT, outbound.MAX_TIMEOUT
        if any(not low <= channel.request_timeout <= high for channel in self):
            raise ValidationError(
                self.env._(
                    "The request timeout is between %(low)s and %(high)s seconds.",
                    low=low,
                    high=high,
                )
            )

    @api.constrains("batch_interval")
    def _check_batch_interval(self):
        if any(channel.batch_interval < 1 for channel in self):
            raise ValidationError(
                self.env._("The batch interval is at least one minute.")
            )

    def write(self, vals):
        res = super().write(vals)
        # A change of per-location publication marks every listing itself
        # (stock_channel_per_location.py).
        if "publish_per_location" not in vals and (
            {"warehouse_ids", "active", "company_id"} & vals.keys()
        ):
            self.env["stock.channel.listing"]._mark_pending_for_channels(self.ids)
        return res

    def unlink(self):
        # Listings go by cascade in the database, their change log here.
        self.env.cr.execute(
            "DELETE FROM stock_channel_listing_change WHERE channel_id = ANY(%s)",
            [self.ids],
        )
        return super().unlink()

    def action_view_listings(self):
        return self._channel_action(
            "stock_channel_listing_action", default_channel_id=self.id
        )

    def action_view_pending_listings(self):
        action = self.action_view_listings()
        action["context"] = dict(action["context"], search_default_pending=1)
        return action

    def action_view_shelf(self):
        return self._channel_action("stock_channel_sandbox_shelf_action")

    def action_view_sandbox_shipments(self):
        return self._channel_action("stock_channel_sandbox_shipment_action")

    def action_simulate_order(self):
        """Open the wizard that posts a signed order to this sandbox channel."""
        self.ensure_one()
        self._check_manager()
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Simulate Order"),
            "res_model": "stock.channel.simulate.order",
            "view_mode": "form",
            "target": "new",
            "context": {"default_channel_id": self.id},
        }

    def action_view_publications(self):
        return self._channel_action("stock_channel_publication_action")

    def _check_manager(self):
        if not self.env.user.has_group(MANAGER_GROUP):
            raise UserError(
                self.env._(
                    "Only Channel Sync managers can publish or reconcile channels."
                )
            )

    def _notify(self, message):
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {"message": message, "type": "success", "sticky": False},
        }

    def _adapter_config(self):
        """What an adapter needs of this channel, credentials included (the
        caller runs as the technical user, a manager)."""
        self.ensure_one()
        return ChannelConfig(**self._adapter_config_values())

    def _adapter_config_values(self):
        """The :class:`ChannelConfig` fields; each marketplace's file adds
        its own (``stock_channel_amazon.py``)."""
        return {
            "code": self.code,
            "adapter": self.adapter,
            "channel_id": self._origin.id or 0,
            "company_id": self.company_id.id or 0,
            "base_url": self.base_url or "",
            "api_key": self.api_key or "",
            "api_secret": self.api_secret or "",
            "webhook_secret": self.webhook_secret or "",
            "api_version": self.api_version or "",
            "location_ref": self.location_ref or "",
            "timeout": self.request_timeout or 30,
            "allowed_hosts": self._allowed_http_hosts(),
        }

    def _adapter_label(self):
        """The adapter's name as the user reads it (e.g. "Shopify")."""
        selection = self._fields["adapter"]._description_selection(self.env)
        return dict(selection)[self.adapter]

    def _get_adapter(self, session=None):
        """This channel's adapter. ``session`` replaces the HTTP session (the
        tests' and benchmarks' hook); a sandbox channel talks to its shelf."""
        self.ensure_one()
        if self.adapter == "sandbox":
            session = SandboxShelf(self)
        adapter = get_adapter(self._adapter_config(), session)
        if self._origin.id:
            # Every call's outcome counts for the channel's circuit breaker.
            adapter.observer = breaker.Recorder(self)
        return adapter
