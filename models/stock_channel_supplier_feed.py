from datetime import timedelta

from odoo import api, fields, models
from odoo.exceptions import AccessError, ValidationError

from .stock_channel import CODE_PATTERN, MANAGER_GROUP
from .stock_channel_technical_user import technical_user_problem

# What imports and the staleness cron record on a feed, in SQL: never
# written through the ORM (a forged "last update" would keep a dead feed's
# quantities on sale, a forged "generated at" would refuse every new file).
JOB_FIELDS = frozenset(
    {
        "last_update",
        "last_generated_at",
        "rows_read",
        "unknown_count",
        "unknown_skus",
        "zeroed_count",
        "last_error",
        "stale_notified",
        "last_poll_at",
    }
)
# Settings that change every product's effective quantity of the feed.
EFFECTIVE_FIELDS = frozenset(
    {"active", "buffer_type", "buffer_value", "freshness_hours", "lead_time_days"}
)


class StockChannelSupplierFeed(models.Model):
    """A vendor's stock, as the vendor reports it, for drop-ship sales: one
    feed per vendor and company, its quantities per product in
    ``stock.channel.supplier.stock``. Sellable only while fresh."""

    _name = "stock.channel.supplier.feed"
    _inherit = ["stock.channel.secret.mixin", "mail.thread"]
    _description = "Supplier Stock Feed"
    _order = "name, id"
    _check_company_auto = True
    _sql_constraints = [
        (
            "code_company_uniq",
            "UNIQUE (company_id, code)",
            "The supplier feed code must be unique per company.",
        ),
        (
            "buffer_value_positive",
            "CHECK (buffer_value >= 0)",
            "The vendor buffer cannot be negative.",
        ),
        (
            "lead_time_positive",
            "CHECK (lead_time_days >= 0)",
            "The drop-ship lead time cannot be negative.",
        ),
    ]

    name = fields.Char(required=True, help="What the feed is called in Odoo.")
    code = fields.Char(
        required=True,
        help="Short technical name, unique in the company: lowercase letters, "
        "digits, '-' and '_'. It appears in the URL a pushing vendor posts "
        "to: /stock_channel_sync/supplier_feed/<code>.",
    )
    partner_id = fields.Many2one(
        "res.partner",
        string="Vendor",
        required=True,
        check_company=True,
        tracking=True,
        help="The supplier whose stock this feed reports. Its vendor codes "
        "(Purchase tab of the product, vendor pricelist lines) are matched "
        "against the feed's SKUs.",
    )
    company_id = fields.Many2one(
        "res.company",
        required=True,
        default=lambda self: self.env.company,
        help="The company selling this vendor's stock.",
    )
    active = fields.Boolean(
        default=True,
        tracking=True,
        help="An archived feed counts as 0 everywhere and takes no file.",
    )
    source = fields.Selection(
        [
            ("upload", "File uploaded in Odoo"),
            ("push", "Signed POST from the vendor"),
            ("poll", "URL polled on a schedule"),
        ],
        required=True,
        default="upload",
        tracking=True,
        help="How the quantities arrive. File uploaded in Odoo: a manager "
        "uploads the vendor's CSV or JSON file (Upload Feed). Signed POST: "
        "the vendor posts the file to /stock_channel_sync/supplier_feed/<code>, "
        "signed with the webhook secret (signature v2). URL polled: Odoo "
        "fetches Poll URL every Poll Interval, through the outbound guard.",
    )
    poll_url = fields.Char(
        string="Poll URL",
        help="Where the vendor publishes its feed file (https, answers at "
        "most 4 MiB). Plain http or a private address only for hosts listed "
        "in the system parameter stock_channel_sync.allowed_http_hosts.",
    )
    poll_token = fields.Char(
        groups=MANAGER_GROUP,
        copy=False,
        help="Optional bearer token sent with each poll (Authorization header). "
        "Managers only; never logged.",
    )
    poll_interval_minutes = fields.Integer(
        string="Poll Interval (min)",
        default=60,
        help="Minutes between two polls of Poll URL.",
    )
    match_by = fields.Selection(
        [
            ("vendor_code", "Vendor code, else internal reference"),
            ("default_code", "Internal reference"),
            ("barcode", "Barcode"),
        ],
        required=True,
        default="vendor_code",
        help="What the feed's SKUs are. Vendor code: the product's code on its "
        "vendor pricelist line for this vendor (Vendor Product Code), else its "
        "internal reference. Internal reference or barcode: that field of "
        "the product.",
    )
    freshness_hours = fields.Integer(
        string="Freshness (h)",
        default=24,
        help="Hours a feed stays valid after its last successful import; "
        "older, every quantity of this vendor counts as 0 on the channels.",
    )
    zero_when_missing = fields.Boolean(
        string="Zero When Missing",
        default=True,
        help="A product this feed reported before and absent from a new file "
        "gets 0 (suppliers usually leave out what they do not have). Off: "
        "its last quantity is kept.",
    )
    buffer_type = fields.Selection(
        [("fixed", "Fixed units"), ("percent", "Percentage")],
        string="Vendor Buffer Type",
        required=True,
        default="fixed",
        help="How the vendor buffer is taken off the vendor's figures: a "
        "number of units, or a percentage of each figure.",
    )
    buffer_value = fields.Float(
        string="Vendor Buffer",
        default=0.0,
        help="Units (fixed) or percent (percentage) held back from each of this "
        "vendor's quantities, because its figures lag behind its own sales. "
        "Never below 0.",
    )
    lead_time_days = fields.Integer(
        string="Lead Time (days)",
        default=3,
        help="Handling time published with this vendor's drop-ship quantities "
        "where the marketplace takes one (Amazon's lead_time_to_ship_max_days).",
    )
    user_id = fields.Many2one(
        "res.users",
        string="Technical User",
        domain="[('share', '=', False), ('company_ids', 'in', company_id)]",
        help="Signed posts and polls are imported as this user: an active "
        "internal user of this company with Channel Sync: Manager, never an "
        "administrator nor OdooBot. Required for the push and poll sources.",
    )
    webhook_secret = fields.Char(
        help="Shared secret the vendor signs its posts with (signature v2). A "
        "strong random one is generated for a new feed; Rotate Secret replaces "
        "it without downtime.",
    )
    last_update = fields.Datetime(
        readonly=True,
        copy=False,
        help="When the last file was applied successfully; the freshness "
        "window counts from it.",
    )
    last_generated_at = fields.Datetime(
        string="Last File Generated At",
        readonly=True,
        copy=False,
        help="The generated_at of the last JSON file applied: an older file "
        "is refused as a replay.",
    )
    rows_read = fields.Integer(
        readonly=True, copy=False, help="SKU rows in the last file applied."
    )
    unknown_count = fields.Integer(
        string="Unknown SKUs",
        readonly=True,
        copy=False,
        help="SKUs of the last file that match no product of this company.",
    )
    unknown_skus = fields.Text(
        string="Unknown SKU Sample",
        readonly=True,
        copy=False,
        help="Up to 20 of the unknown SKUs, in file order: give them a vendor "
        "code or an internal reference.",
    )
    zeroed_count = fields.Integer(
        string="Quantities Zeroed",
        readonly=True,
        copy=False,
        help="Quantities set to 0 by the last file (products absent from it, "
        "Zero When Missing) and by staleness since (the feed went past its "
        "freshness window).",
    )
    last_error = fields.Text(
        readonly=True,
        copy=False,
        help="Why the last file was refused (cleared by the next one applied).",
    )
    stale_notified = fields.Boolean(
        readonly=True,
        copy=False,
        help="Technical: the channels were told this feed went stale.",
    )
    is_fresh = fields.Boolean(
        string="Fresh",
        compute="_compute_is_fresh",
        help="The last update is within the freshness window: its quantities " "count.",
    )
    health_state = fields.Selection(
        [("ok", "Healthy"), ("warning", "Needs Attention"), ("alert", "Alert")],
        compute="_compute_is_fresh",
        help="Alert: stale, never imported, or the last file was refused. Needs "
        "attention: some SKUs are unknown.",
    )
    stock_ids = fields.One2many(
        "stock.channel.supplier.stock", "feed_id", string="Vendor Stock"
    )
    stock_count = fields.Integer(
        compute="_compute_stock_count", help="Products this feed reports."
    )

    @api.depends("last_update", "freshness_hours", "active", "last_error")
    def _compute_is_fresh(self):
        now = fields.Datetime.now()
        for feed in self:
            feed.is_fresh = bool(
                feed.active
                and feed.last_update
                and feed.last_update >= now - timedelta(hours=feed.freshness_hours)
            )
            if not feed.is_fresh or feed.last_error:
                feed.health_state = "alert"
            elif feed.unknown_count:
                feed.health_state = "warning"
            else:
                feed.health_state = "ok"

    def _compute_stock_count(self):
        counts = dict(
            self.env["stock.channel.supplier.stock"]._read_group(
                [("feed_id", "in", self.ids)], ["feed_id"], ["__count"]
            )
        )
        for feed in self:
            feed.stock_count = counts.get(feed, 0)

    @api.constrains("code")
    def _check_code(self):
        for feed in self:
            if not CODE_PATTERN.match(feed.code or ""):
                raise ValidationError(
                    self.env._(
                        "Supplier feed code '%s' may only contain lowercase "
                        "letters, digits, '-' and '_'.",
                        feed.code,
                    )
                )

    @api.constrains("freshness_hours", "poll_interval_minutes", "source", "poll_url")
    def _check_schedule(self):
        for feed in self:
            if feed.freshness_hours < 1:
                raise ValidationError(
                    self.env._("The freshness window is at least 1 hour.")
                )
            if feed.poll_interval_minutes < 1:
                raise ValidationError(
                    self.env._("The poll interval is at least 1 minute.")
                )
            if feed.source == "poll" and not feed.poll_url:
                raise ValidationError(
                    self.env._(
                        "Supplier feed %s is polled: give it a Poll URL.",
                        feed.display_name,
                    )
                )

    @api.constrains("user_id", "active", "company_id", "source")
    def _check_technical_user(self):
        """Least privilege, as for channels: pushed and polled files are
        imported as the feed's technical user, never an administrator."""
        for feed in self:
            user = feed.user_id.sudo()
            if not user:
                if feed.active and feed.source in ("push", "poll"):
                    raise ValidationError(
                        self.env._(
                            "Supplier feed %s needs a technical user to take "
                            "pushed or polled files.",
                            feed.display_name,
                        )
                    )
                continue
            problem = technical_user_problem(user, feed.company_id)
            if problem:
                raise ValidationError(
                    self.env._(
                        "%(user)s cannot be the technical user of supplier feed "
                        "%(feed)s: %(problem)s.",
                        user=user.display_name,
                        feed=feed.display_name,
                        problem=problem,
                    )
                )

    @api.model_create_multi
    def create(self, vals_list):
        for vals in vals_list:
            self._check_job_fields(vals)
        return super().create(vals_list)

    def write(self, vals):
        self._check_job_fields(vals)
        if EFFECTIVE_FIELDS & vals.keys():
            # Every product of the feeds may change: published again.
            products = self.env["stock.channel.supplier.stock"].search(
                [("feed_id", "in", self.ids)]
            )
            result = super().write(vals)
            if products:
                self.env["stock.channel.listing"]._mark_pending_for_products(
                    products.product_id.ids
                )
            return result
        return super().write(vals)

    def _check_job_fields(self, vals):
        if JOB_FIELDS & vals.keys() and not self.env.su:
            raise AccessError(
                self.env._(
                    "%s are recorded by the feed imports only.",
                    ", ".join(sorted(JOB_FIELDS & vals.keys())),
                )
            )

    def action_view_stock(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id(
            "stock_channel_sync.stock_channel_supplier_stock_action"
        )
        action["domain"] = [("feed_id", "=", self.id)]
        action["context"] = {"default_feed_id": self.id}
        return action

    def _as_technical_user(self):
        """This feed as its technical user, in its company: how pushed and
        polled files are imported."""
        self.ensure_one()
        return self.with_user(self.user_id).with_company(self.company_id)
