import logging
import re
import secrets
from datetime import timedelta

from odoo import api, fields, models
from odoo.exceptions import UserError, ValidationError
from odoo.tools import SQL

from odoo.addons.queue_job.exception import RetryableJobError

from ..adapters import amazon, outbound, shopify, shopify_versions
from ..adapters.base import (
    ADAPTERS,
    ChannelConfig,
    PermanentError,
    TransientError,
    get_adapter,
    location_key,
)
from ..services import jobs, publication_guard
from ..services.publisher import PublicationFailed, Publisher
from ..services.sandbox import SandboxShelf

_logger = logging.getLogger(__name__)

CODE_PATTERN = re.compile(r"^[a-z0-9_-]+$")
MANAGER_GROUP = "stock_channel_sync.group_channel_manager"
# Seconds between two looks at a feed being processed (how many looks: the
# feed job kind's max_retries, services/jobs.py).
FEED_POLL_SECONDS = 60


class StockChannel(models.Model):
    """A sales channel (marketplace, web store, B2B portal) that sells the
    stock of some of the company's warehouses."""

    _name = "stock.channel"
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
    api_version = fields.Char(
        string="API Version",
        default=shopify_versions.DEFAULT_VERSION,
        help="Shopify Admin API stable version (YYYY-MM). New channels get the "
        "newest one this module knows; older versions than it supports are "
        "refused. Shopify retires a version after about a year.",
    )
    location_ref = fields.Char(
        string="Channel Location",
        help="Shopify: the location id whose 'available' quantity is set.",
    )
    publish_per_location = fields.Boolean(
        help="Publish one quantity per marketplace location instead of one "
        "summed quantity: each fulfillment warehouse is mapped to a location "
        "of the marketplace and offers its own stock there (Shopify, generic "
        "webhook and sandbox channels).",
    )
    location_ids = fields.One2many(
        "stock.channel.location",
        "channel_id",
        string="Location Mapping",
        help="Per-location publication: the marketplace location of each "
        "fulfillment warehouse, every warehouse exactly once.",
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
    order_processing = fields.Selection(
        [("async", "In the background"), ("sync", "At once")],
        required=True,
        default="async",
        help="In the background: orders are accepted in milliseconds and "
        "confirmed by a job. At once: the sale order is created in the request "
        "and its name returned (for a B2B portal that needs it).",
    )
    auto_confirm = fields.Boolean(
        default=True, help="Confirm the sale orders of this channel's orders."
    )
    team_id = fields.Many2one("crm.team", string="Sales Team", check_company=True)
    # Who the customer is and on which terms their orders are booked
    # (services/sale_order_builder.py, README "Marketplace orders").
    trust_customer_email = fields.Boolean(
        string="Match Customers by E-mail",
        compute="_compute_customer_policy",
        store=True,
        readonly=False,
        precompute=True,
        help="Book an order on the existing contact with the order's e-mail "
        "address even when the order gives another name. Only for a channel "
        "that proves who its buyers are (a B2B portal whose users log in): a "
        "marketplace buyer can type any e-mail address, e.g. a B2B "
        "customer's, and would be booked on that customer. Off: the contact "
        "is reused only when its name matches too (case, spacing and accents "
        "aside), otherwise a new contact is created. Defaults to on for "
        "generic webhook channels, off for marketplaces.",
    )
    use_customer_terms = fields.Boolean(
        string="Use Customer's Terms",
        compute="_compute_customer_policy",
        store=True,
        readonly=False,
        precompute=True,
        help="Give sale orders the customer's own payment term, fiscal position "
        "and pricelist (those of the matched contact, e.g. negotiated B2B "
        "terms); the channel's fill what the customer has none of. Off: the "
        "channel's Payment Term, Fiscal Position and Pricelist apply, and one "
        "left empty is what Odoo gives a new contact at the delivery address. "
        "Defaults to on for generic webhook channels, off for marketplaces, "
        "whose buyers pay the marketplace and are taxed as consumers.",
    )
    payment_term_id = fields.Many2one(
        "account.payment.term",
        string="Payment Term",
        check_company=True,
        help="Payment term of the channel's sale orders (see Use Customer's "
        "Terms). Empty: a new contact's default.",
    )
    pricelist_id = fields.Many2one(
        "product.pricelist",
        check_company=True,
        help="Pricelist of the channel's sale orders when it is in the order's "
        "currency (see Use Customer's Terms). Empty: a new contact's default "
        "in that currency.",
    )
    fiscal_position_id = fields.Many2one(
        "account.fiscal.position",
        check_company=True,
        help="Fiscal position of the channel's sale orders (see Use Customer's "
        "Terms). Empty: the one Odoo finds for a new contact at the delivery "
        "address.",
    )
    shipping_product_id = fields.Many2one(
        "product.product",
        string="Shipping Product",
        check_company=True,
        domain="[('type', '=', 'service')]",
        default=lambda self: self.env.ref(
            "stock_channel_sync.product_channel_shipping", raise_if_not_found=False
        ),
        help="Bills an order's shipping amount on its sale order.",
    )
    last_batch_at = fields.Datetime(string="Last Batch Run", readonly=True, copy=False)
    publication_ids = fields.One2many(
        "stock.channel.publication", "channel_id", string="Publications"
    )
    failed_publication_count = fields.Integer(
        compute="_compute_failed_publication_count"
    )
    base_url = fields.Char(
        string="Base URL",
        help="Root URL of the channel's API, e.g. https://shop.example.com/api. "
        "It must use https://, unless its host is listed in the system parameter "
        "stock_channel_sync.allowed_http_hosts (an on-premise B2B portal); hosts "
        "at private or loopback addresses must be listed there too. Redirects "
        "are not followed.",
    )
    api_key = fields.Char(string="API Key", groups=MANAGER_GROUP, copy=False)
    api_secret = fields.Char(string="API Secret", groups=MANAGER_GROUP, copy=False)
    webhook_secret = fields.Char(
        groups=MANAGER_GROUP,
        copy=False,
        default=lambda self: secrets.token_urlsafe(32),
        help="Shared secret used to sign what Odoo sends and to verify what the "
        "channel posts. A strong random one is generated for a new channel; "
        "Shopify and WooCommerce channels take the marketplace's own.",
    )
    previous_webhook_secret = fields.Char(
        groups=MANAGER_GROUP,
        copy=False,
        readonly=True,
        help="The secret replaced by the last rotation: inbound requests signed "
        "with it are still accepted until Previous Secret Valid Until.",
    )
    previous_secret_valid_until = fields.Datetime(
        groups=MANAGER_GROUP,
        copy=False,
        readonly=True,
        help="Until then requests signed with the previous secret are accepted, "
        "so the marketplace can be switched to the new one without downtime.",
    )
    secret_overlap_hours = fields.Integer(
        string="Rotation Overlap",
        default=24,
        groups=MANAGER_GROUP,
        help="Hours the previous webhook secret stays valid after Rotate Secret.",
    )
    amazon_seller_id = fields.Char(
        string="Seller ID",
        help="Amazon: the seller account's merchant token (Seller Central, "
        "Settings, Account Info, Merchant Token).",
    )
    amazon_marketplace_ids = fields.Char(
        string="Marketplace IDs",
        help="Amazon: the marketplaces to publish in, comma-separated, e.g. "
        "ATVPDKIKX0DER (United States) or A1PA6795UKMFR9,A13V1IB3VIYZZH "
        "(Germany, France). Quantities are sent to each; product types and "
        "quantities are read in the first.",
    )
    amazon_region = fields.Selection(
        [("na", "North America"), ("eu", "Europe"), ("fe", "Far East")],
        string="Region",
        default="na",
        help="Amazon: the Selling Partner API region of the marketplaces; it "
        "gives the endpoint.",
    )
    amazon_endpoint = fields.Char(
        string="SP-API Endpoint",
        compute="_compute_amazon_endpoint",
        store=True,
        readonly=False,
        precompute=True,
        help="Amazon: the region's Selling Partner API endpoint; change it only "
        "for a sandbox or a test stand-in.",
    )
    amazon_feed_threshold = fields.Integer(
        string="Feed From",
        default=amazon.DEFAULT_FEED_THRESHOLD,
        help="Amazon: from this many changed quantities in one run, they go in "
        "one JSON_LISTINGS_FEED (one request for all, applied when Amazon has "
        "processed it, usually minutes); fewer are sent one PATCH each (5 per "
        "second, accepted at once). 0 never uses a feed.",
    )
    lwa_client_id = fields.Char(
        string="LWA Client ID", groups=MANAGER_GROUP, copy=False
    )
    lwa_client_secret = fields.Char(
        string="LWA Client Secret", groups=MANAGER_GROUP, copy=False
    )
    lwa_refresh_token = fields.Char(
        string="LWA Refresh Token",
        groups=MANAGER_GROUP,
        copy=False,
        help="Amazon: the refresh token the seller's authorisation of the "
        "application gave. Exchanged for one-hour access tokens that are kept "
        "in memory only.",
    )
    lwa_token_url = fields.Char(
        string="LWA Token URL",
        default=amazon.DEFAULT_TOKEN_URL,
        help="Amazon: the Login with Amazon token endpoint.",
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

    @api.depends("adapter")
    def _compute_customer_policy(self):
        """What an order's e-mail address proves depends on the channel: a
        B2B portal (the generic webhook) has logged-in customers, so it trusts
        the address and books the customer's own terms; a marketplace buyer
        types any address and pays the marketplace, so neither applies. A new
        adapter resets both to its default; they can be changed afterwards."""
        for channel in self:
            trusted = channel.adapter == "webhook"
            channel.trust_customer_email = trusted
            channel.use_customer_terms = trusted

    @api.depends("amazon_region")
    def _compute_amazon_endpoint(self):
        for channel in self:
            channel.amazon_endpoint = amazon.REGIONS.get(channel.amazon_region or "na")

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

    @api.constrains("adapter", "api_version")
    def _check_api_version(self):
        """The Shopify documents need ``changeFromQuantity`` and
        ``@idempotent``: a version without them would be refused at the first
        publication, or silently served as another version. Empty means the
        default."""
        for channel in self.filtered(lambda c: c.adapter == "shopify"):
            version = (channel.api_version or "").strip()
            if version and not shopify_versions.is_supported(version):
                raise ValidationError(
                    self.env._(
                        "Shopify API version '%(version)s' is not supported: use "
                        "a stable version (YYYY-MM, month 01, 04, 07 or 10) from "
                        "%(oldest)s on, e.g. %(default)s.",
                        version=version,
                        oldest=shopify_versions.OLDEST_VERSION,
                        default=shopify_versions.DEFAULT_VERSION,
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

    @api.constrains("publish_per_location", "adapter", "warehouse_ids", "location_ids")
    def _check_location_mapping(self):
        for channel in self.filtered("publish_per_location"):
            if not ADAPTERS[channel.adapter].publishes_per_location:
                raise ValidationError(
                    self.env._(
                        "Channel %(channel)s cannot publish per location: "
                        "%(adapter)s has no locations to publish to. Untick "
                        "Publish per Location to publish one summed quantity.",
                        channel=channel.display_name,
                        adapter=dict(
                            self._fields["adapter"]._description_selection(self.env)
                        )[channel.adapter],
                    )
                )
            channel._check_location_refs()
            mapped = channel.location_ids.warehouse_id
            missing = channel.warehouse_ids - mapped
            extra = mapped - channel.warehouse_ids
            if missing or extra or len(mapped) != len(channel.location_ids):
                raise ValidationError(
                    self.env._(
                        "Channel %(channel)s publishes per location: map every "
                        "fulfillment warehouse to a marketplace location exactly "
                        "once. Not mapped: %(missing)s. Mapped but not a "
                        "fulfillment warehouse: %(extra)s.",
                        channel=channel.display_name,
                        missing=", ".join(missing.mapped("display_name")) or "-",
                        extra=", ".join(extra.mapped("display_name")) or "-",
                    )
                )

    def _check_location_refs(self):
        """Each marketplace location mapped once (Shopify: an id and its
        gid are one location), and Shopify's in a form its API takes."""
        for channel in self.filtered("publish_per_location"):
            keys = [location_key(m.location_ref) for m in channel.location_ids]
            if len(set(keys)) != len(keys):
                raise ValidationError(
                    self.env._(
                        "Channel %s maps one marketplace location twice (Shopify: "
                        "an id and its gid:// are the same location).",
                        channel.display_name,
                    )
                )
            if channel.adapter == "shopify":
                bad = [
                    m.location_ref
                    for m in channel.location_ids
                    if not shopify.valid_ref("Location", m.location_ref)
                ]
                if bad:
                    raise ValidationError(
                        self.env._(
                            "Shopify locations are numeric ids or "
                            "gid://shopify/Location/<id>, not %s.",
                            ", ".join(bad),
                        )
                    )

    def _sync_listing_nodes(self, listing_ids=None):
        """Create the missing (listing, location) rows of these channels'
        listings (or of ``listing_ids`` only) in one INSERT; only channels
        that publish per location have nodes."""
        self.env["stock.channel.location"].flush_model()
        self.env["stock.channel.listing"].flush_model(["channel_id", "company_id"])
        self.flush_model(["publish_per_location"])
        self.env.cr.execute(
            SQL(
                """
                INSERT INTO stock_channel_listing_node
                       (listing_id, location_id, location_ref, company_id,
                        create_uid, create_date, write_uid, write_date)
                SELECT l.id, m.id, m.location_ref, l.company_id, %(uid)s,
                       now() at time zone 'UTC', %(uid)s, now() at time zone 'UTC'
                  FROM stock_channel_listing l
                  JOIN stock_channel_location m ON m.channel_id = l.channel_id
                  JOIN stock_channel c
                    ON c.id = l.channel_id AND c.publish_per_location
                 WHERE l.channel_id = ANY(%(channels)s)
                   AND (%(all)s OR l.id = ANY(%(listings)s))
                    ON CONFLICT (listing_id, location_id) DO NOTHING
                """,
                uid=self.env.uid,
                channels=self.ids,
                all=listing_ids is None,
                listings=list(listing_ids or ()),
            )
        )
        self.env["stock.channel.listing.node"].invalidate_model()

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

    @api.constrains("base_url", "adapter", "amazon_endpoint", "lwa_token_url")
    def _check_base_url(self):
        """Every URL the channel calls: https, unless its host is listed in
        stock_channel_sync.allowed_http_hosts (see adapters/outbound.py)."""
        allowed = self._allowed_http_hosts()
        for channel in self.filtered(lambda c: c.adapter != "sandbox"):
            urls = {"Base URL": channel.base_url}
            if channel.adapter == "amazon":
                urls["SP-API Endpoint"] = channel.amazon_endpoint
                urls["LWA Token URL"] = channel.lwa_token_url
            for label, url in urls.items():
                problem = url and outbound.url_problem(url, allowed)
                if problem:
                    raise ValidationError(
                        self.env._(
                            "The %(field)s of channel %(channel)s is refused: "
                            "%(problem)s.",
                            field=label,
                            channel=channel.display_name,
                            problem=problem,
                        )
                    )

    @api.constrains("user_id", "active", "company_id")
    def _check_technical_user(self):
        """Least privilege: jobs and orders never run as a superuser or an
        administrator, whose rights would skip every access rule."""
        for channel in self:
            user = channel.user_id.sudo()
            if not user:
                if channel.active:
                    raise ValidationError(
                        self.env._(
                            "Channel %s needs a technical user before it is " "active.",
                            channel.display_name,
                        )
                    )
                continue
            problem = None
            if user == self.env.ref("base.user_root") or user._is_superuser():
                problem = self.env._("OdooBot runs with every access rule skipped")
            elif not user.active or user.share:
                problem = self.env._("it must be an active internal user")
            elif user.has_group("base.group_system") or user.has_group(
                "base.group_erp_manager"
            ):
                problem = self.env._("administrators may not be technical users")
            elif channel.company_id not in user.company_ids:
                problem = self.env._("it must belong to the channel's company")
            if problem:
                raise ValidationError(
                    self.env._(
                        "%(user)s cannot be the technical user of channel "
                        "%(channel)s: %(problem)s.",
                        user=user.display_name,
                        channel=channel.display_name,
                        problem=problem,
                    )
                )

    @api.model
    def _unfit_technical_users(self):
        """The technical users of active channels whose groups now bar them
        (administrators, portal users): what a change of groups is checked
        against, before and after. Read in SQL after a flush: ``has_group``'s
        cache may not have seen implied groups added in SQL yet, and whoever
        edits users' rights may have no channel rights."""
        self.env["res.users"].flush_model(["groups_id", "share"])
        self.env["res.groups"].flush_model(["users", "implied_ids"])
        self.flush_model(["user_id", "active"])
        admin_groups = self.env.ref("base.group_system") | self.env.ref(
            "base.group_erp_manager"
        )
        self.env.cr.execute(
            SQL(
                """
                SELECT DISTINCT u.id
                  FROM stock_channel c JOIN res_users u ON u.id = c.user_id
                 WHERE c.active
                   AND (u.share OR EXISTS (
                        SELECT 1 FROM res_groups_users_rel r
                         WHERE r.uid = u.id AND r.gid = ANY(%s)))
                """,
                admin_groups.ids,
            )
        )
        return {row[0] for row in self.env.cr.fetchall()}

    @api.model
    def _check_promoted_technical_users(self, unfit_before):
        """After a change of groups: refuse it when it made the technical user
        of an active channel an administrator or a portal user (the rule of
        ``_check_technical_user``). Users already unfit before are left to
        the 18.0.1.3.0 migration, which archives their channels: an upgrade's
        own group data must not fail on them. Refused rather than archiving
        the channel behind the promoter's back: an archived channel stops
        publishing and taking orders, and the marketplace keeps selling its
        last quantities. Archived channels are checked when reactivated."""
        promoted = self._unfit_technical_users() - unfit_before
        if not promoted:
            return
        # sudo(): the channel's name, for the message, to someone who may
        # have no channel rights.
        channel = self.sudo().search([("user_id", "in", list(promoted))], limit=1)
        raise ValidationError(
            self.env._(
                "%(user)s is the technical user of channel %(channel)s and may "
                "not become an administrator or a portal user: the channel's "
                "jobs would run with their rights. Choose another technical "
                "user for the channel first (Inventory > Configuration > Sales "
                "Channels), then change this user's rights.",
                user=channel.user_id.name,
                channel=channel.display_name,
            )
        )

    @api.constrains("secret_overlap_hours")
    def _check_secret_overlap(self):
        if any(not 0 <= c.sudo().secret_overlap_hours <= 24 * 30 for c in self):
            raise ValidationError(
                self.env._("The rotation overlap is between 0 and 720 hours.")
            )

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

    @api.constrains("amazon_feed_threshold")
    def _check_amazon_feed_threshold(self):
        if any(channel.amazon_feed_threshold < 0 for channel in self):
            raise ValidationError(
                self.env._("The Amazon feed threshold cannot be negative.")
            )

    def write(self, vals):
        if vals.get("publish_per_location"):
            self.filtered(lambda c: not c.publish_per_location)._retire_summed()
        # A mapping row replaced in the same save (removed, then added) is
        # checked once, by the constraint, when the whole write is done.
        res = super(
            StockChannel, self.with_context(stock_channel_sync_mapping_write=True)
        ).write(vals)
        if "publish_per_location" in vals:
            if vals["publish_per_location"]:
                self._sync_listing_nodes()
            # Another shape on the marketplace: every quantity is sent again
            # (a 0 to every location no longer published to).
            self.env["stock.channel.listing"]._mark_pending(
                SQL(
                    "l.channel_id = ANY(%s)"
                    " AND (l.active OR l.last_published_qty <> 0)",
                    self.ids,
                ),
                force=True,
            )
        elif {"warehouse_ids", "active", "company_id"} & vals.keys():
            self.env["stock.channel.listing"]._mark_pending_for_channels(self.ids)
        return res

    def _retire_summed(self):
        """Before these channels publish per location: the summed quantity
        they published at a marketplace location (Shopify's Channel
        Location) would stay there. One retired node per listing that shows
        something there, in one INSERT, so the next publication sends it 0
        once (or just drops it when that location is mapped). The generic
        contract's summed item names no location: nothing to retire."""
        summed = {
            channel: ADAPTERS[channel.adapter].summed_location(channel.location_ref)
            for channel in self
        }
        channels = self.filtered(lambda c: summed[c])
        if not channels:
            return
        self.env["stock.channel.listing"].flush_model()
        self.env.cr.execute(
            SQL(
                """
                INSERT INTO stock_channel_listing_node
                       (listing_id, location_ref, last_published_qty,
                        last_published_at, company_id, create_uid, create_date,
                        write_uid, write_date)
                SELECT l.id, s.ref, l.last_published_qty,
                       l.last_published_at, l.company_id, %(uid)s,
                       now() at time zone 'UTC', %(uid)s, now() at time zone 'UTC'
                  FROM unnest(%(channels)s::int[], %(refs)s::varchar[])
                       AS s(channel_id, ref)
                  JOIN stock_channel_listing l ON l.channel_id = s.channel_id
                 WHERE l.last_published_at IS NOT NULL
                   AND l.last_published_qty <> 0
                """,
                uid=self.env.uid,
                channels=channels.ids,
                refs=[summed[c] for c in channels],
            )
        )
        self.env["stock.channel.listing.node"].invalidate_model()
        self.env["stock.channel.listing"].invalidate_model(["node_ids"])

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

    def action_publish_now(self):
        """Publish the pending listings without waiting for debounce or batch."""
        self._check_manager()
        self._enqueue_publication(delay=0)
        return self._notify(self.env._("Publication queued."))

    def action_full_resync(self):
        """Send every listing again, changed or not (e.g. after onboarding)."""
        self._check_manager()
        listings = self.env["stock.channel.listing"]
        listings._mark_pending(
            SQL(
                "l.channel_id = ANY(%s) AND (l.active OR l.last_published_qty <> 0)",
                self.ids,
            ),
            schedule=False,
        )
        self._enqueue_publication(delay=0, force=True)
        return self._notify(self.env._("Full resynchronisation queued."))

    def action_retry_failed(self):
        """Requeue this channel's failed jobs, of every kind (publications,
        reconciliations, pulls, feeds, confirmations, shipments, returns,
        refund reads)."""
        self._check_manager()
        failed = self._channel_jobs(states=["failed"])
        # sudo(): requeuing writes queue.job, which only queue_job managers
        # may write (a job's method and arguments are executed, so Channel
        # Sync managers only read them). Narrow: exactly the failed jobs of
        # the channels this manager just read through the record rules.
        failed.sudo().requeue()
        return self._notify(self.env._("%s failed job(s) requeued.", len(failed)))

    def _job_identity_keys(self):
        """``{identity key: channel id}`` of this channel's channel-wide jobs
        (publication, reconciliation, pull: ``services/jobs.py``)."""
        return jobs.channel_keys(self.ids)

    def _channel_jobs(self, states=None):
        """This channel's ``queue.job`` records of every kind (tied to it by
        ``stock_channel_id``), read as the current user (a Channel Sync
        manager reads this addon's jobs through a record rule)."""
        domain = [("stock_channel_id", "in", self.ids)]
        if states:
            domain.append(("state", "in", states))
        return self.env["queue.job"].search(domain)

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

    # -- publication ---------------------------------------------------------

    @api.model
    def _schedule_publication(self, channel_ids):
        """After marking: real-time channels publish after their debounce;
        batch channels wait for the batch cron. Reads the channels in SQL:
        the stock user who triggered the change needs no channel rights."""
        if not channel_ids:
            return
        self.env.cr.execute(
            SQL(
                """
                SELECT id FROM stock_channel
                 WHERE id = ANY(%s) AND active AND sync_mode = 'realtime'
                """,
                list(channel_ids),
            )
        )
        realtime = [row[0] for row in self.env.cr.fetchall()]
        if realtime:
            self.browse(realtime)._enqueue_publication()

    def _enqueue_publication(
        self, delay=None, force=False, coalesce=True, look_again=True
    ):
        """One job per channel, coalesced by its identity key: a burst of
        changes finds the job still waiting and enqueues nothing more. Merged
        into a waiting job, this transaction's changes are looked at again
        once committed (``publication_guard``): that job may have started
        before they were."""
        self.env.cr.execute(
            SQL(
                """
                SELECT id, debounce_seconds FROM stock_channel WHERE id = ANY(%s)
                """,
                self.ids,
            )
        )
        etas = {
            channel_id: max((debounce if delay is None else delay) or 0, 0)
            for channel_id, debounce in self.env.cr.fetchall()
        }
        variant = "force" if force else None
        if look_again and coalesce:
            merging = jobs.waiting(self.env, "publish", list(etas), variant)
            if merging:
                publication_guard.merged(self.env, merging)
        jobs.enqueue(
            "publish",
            self.browse(list(etas)),
            eta=etas,
            variant=variant,
            coalesce=coalesce,
            force=force,
        )

    def _publish_pending(self, force=False):
        """Job: send the pending listings' quantities to the channel."""
        self.ensure_one()
        job_uuid = self.env.context.get("job_uuid")
        try:
            return Publisher(self, job_uuid).run(force=force)
        except TransientError as exc:
            # A 429's Retry-After wins over the retry pattern's backoff.
            raise RetryableJobError(str(exc), seconds=exc.retry_after) from exc
        except PublicationFailed as exc:
            if exc.audit:
                self._keep_audit(exc.audit)
            raise UserError(str(exc)) from exc

    def _enqueue_feed_check(self, feed_ref, delay=FEED_POLL_SECONDS):
        """The follow-up of a submitted feed: look at it until it is
        processed (each look that finds it unfinished is a retry)."""
        self.ensure_one()
        jobs.enqueue("feed", self, feed_ref, eta=delay)

    def _check_listings_feed(self, feed_ref):
        """Job: when the marketplace has processed feed ``feed_ref``, publish
        its accepted listings and audit the refused ones (they stay
        pending); until then, retry later."""
        self.ensure_one()
        job_uuid = self.env.context.get("job_uuid")
        try:
            summary = Publisher(self, job_uuid).check_feed(feed_ref)
        except TransientError as exc:
            raise RetryableJobError(str(exc), seconds=exc.retry_after) from exc
        except PermanentError as exc:
            # A clear failed job (on the channel's health), not a traceback.
            raise UserError(str(exc)) from exc
        if summary is None:
            raise RetryableJobError(
                self.env._("Feed %s is still being processed.", feed_ref),
                seconds=FEED_POLL_SECONDS,
                ignore_retry=False,
            )
        return summary

    def _adapter_config(self):
        """What an adapter needs of this channel, credentials included (the
        caller runs as the technical user, a manager)."""
        self.ensure_one()
        is_amazon = self.adapter == "amazon"
        return ChannelConfig(
            code=self.code,
            adapter=self.adapter,
            channel_id=self._origin.id or 0,
            company_id=self.company_id.id or 0,
            base_url=(self.amazon_endpoint if is_amazon else self.base_url) or "",
            api_key=self.api_key or "",
            api_secret=self.api_secret or "",
            webhook_secret=self.webhook_secret or "",
            api_version=self.api_version or "",
            location_ref=self.location_ref or "",
            timeout=self.request_timeout or 30,
            allowed_hosts=self._allowed_http_hosts(),
            seller_id=(self.amazon_seller_id or "").strip(),
            marketplace_ids=tuple(
                m.strip()
                for m in (self.amazon_marketplace_ids or "").split(",")
                if m.strip()
            ),
            lwa_client_id=self.lwa_client_id or "",
            lwa_client_secret=self.lwa_client_secret or "",
            lwa_refresh_token=self.lwa_refresh_token or "",
            lwa_token_url=self.lwa_token_url or amazon.DEFAULT_TOKEN_URL,
            feed_threshold=self.amazon_feed_threshold if is_amazon else 0,
        )

    def _allowed_http_hosts(self):
        # sudo: system parameters are readable by administrators only, and
        # this one is a list of host names, no secret.
        return outbound.allowed_hosts(
            self.env["ir.config_parameter"]
            .sudo()
            .get_param(outbound.ALLOWED_HOSTS_PARAM, "")
        )

    def action_rotate_secret(self):
        """Generate a strong new webhook secret, shown once; the previous one
        stays valid for the overlap, so requests signed by a marketplace not
        yet switched over are still accepted. Outbound requests sign with the
        new one at once."""
        self.ensure_one()
        self._check_manager()
        new = secrets.token_urlsafe(32)
        until = fields.Datetime.now() + timedelta(hours=self.secret_overlap_hours)
        self.write(
            {
                "previous_webhook_secret": self.webhook_secret,
                "previous_secret_valid_until": until,
                "webhook_secret": new,
            }
        )
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "title": self.env._("New webhook secret (shown once)"),
                "message": self.env._(
                    "%(secret)s\nThe previous secret is accepted until %(until)s "
                    "(UTC).",
                    secret=new,
                    until=fields.Datetime.to_string(until),
                ),
                "type": "warning",
                "sticky": True,
                "next": {"type": "ir.actions.client", "tag": "soft_reload"},
            },
        }

    def _inbound_secrets(self):
        """The secrets an inbound request may be signed with: the current
        one, and the previous one during a rotation's overlap."""
        self.ensure_one()
        valid = [self.webhook_secret]
        until = self.previous_secret_valid_until
        if self.previous_webhook_secret and until and until > fields.Datetime.now():
            valid.append(self.previous_webhook_secret)
        return [secret for secret in valid if secret]

    def _get_adapter(self, session=None):
        """This channel's adapter. ``session`` replaces the HTTP session (the
        tests' and benchmarks' hook); a sandbox channel talks to its shelf."""
        self.ensure_one()
        if self.adapter == "sandbox":
            session = SandboxShelf(self)
        return get_adapter(self._adapter_config(), session)

    def _as_technical_user(self):
        """This channel as its technical user, in its company: how jobs and
        orders run."""
        self.ensure_one()
        return (
            self.env["stock.channel"]
            .with_user(self.user_id)
            .with_company(self.company_id)
            .browse(self.id)
        )

    def _keep_audit(self, audit):
        """Write failed publication rows in their own transaction: the job's
        own is rolled back when it fails."""
        with self.env.registry.cursor() as cr:
            self.env(cr=cr)["stock.channel.publication"].create(audit)

    @api.model
    def _cron_publish_batch(self):
        """Batch channels: publish those whose interval has elapsed; and the
        net under real-time ones: pending with no publication job waiting or
        running, they get one."""
        now = fields.Datetime.now()
        due = self.search([("sync_mode", "=", "batch")]).filtered(
            lambda c: not c.last_batch_at
            or c.last_batch_at + timedelta(minutes=c.batch_interval) <= now
        )
        due.write({"last_batch_at": now})
        due.filtered("pending_listing_count")._enqueue_publication(delay=0)
        publication_guard.sweep(self.env)

    @api.model
    def _cron_gc_publications(self):
        """Retention: publications, move traces, resolved discrepancies and
        the channels' failed jobs (queue_job vacuums finished ones) older than
        ``stock_channel_sync.retention_days`` (default 90)."""
        days = int(
            self.env["ir.config_parameter"]
            .sudo()
            .get_param("stock_channel_sync.retention_days", 90)
        )
        removed = self.env["stock.channel.publication"]._gc_publications(days)
        self.env["stock.channel.move.trace"]._gc(days)
        self.env["stock.channel.delivery"]._gc()
        payload_days = int(
            self.env["ir.config_parameter"]
            .sudo()
            .get_param("stock_channel_sync.payload_retention_days", 30)
        )
        self.env["stock.channel.order"]._gc_payloads(payload_days)
        self.env["stock.channel.order.refusal"]._gc_payloads(payload_days)
        self.env.cr.execute(
            "DELETE FROM stock_channel_discrepancy WHERE state = 'resolved' AND"
            " resolved_at < (now() at time zone 'UTC') - make_interval(days => %s)",
            [days],
        )
        # Failed jobs of every kind, of every channel (archived ones too).
        failed = self.env["queue.job"].search(
            [
                ("stock_channel_id", "!=", False),
                ("state", "=", "failed"),
                ("date_created", "<", fields.Datetime.now() - timedelta(days=days)),
            ]
        )
        failed.unlink()
        _logger.info(
            "Retention: %s publications, %s jobs removed", removed, len(failed)
        )

    @api.autovacuum
    def _gc_previous_secrets(self):
        """A rotated-out webhook secret is a credential: once its overlap has
        ended (it is no longer accepted, see ``_inbound_secrets``) it is
        erased, with its end date, by Odoo's daily autovacuum."""
        fields_ = ["previous_webhook_secret", "previous_secret_valid_until"]
        self.flush_model(fields_)
        self.env.cr.execute(
            """
            UPDATE stock_channel
               SET previous_webhook_secret = NULL,
                   previous_secret_valid_until = NULL
             WHERE previous_webhook_secret IS NOT NULL
               AND (previous_secret_valid_until IS NULL
                    OR previous_secret_valid_until <= now() at time zone 'UTC')
            """
        )
        erased = self.env.cr.rowcount
        if erased:
            self.invalidate_model(fields_)
            _logger.info("%s expired previous webhook secret(s) erased", erased)
