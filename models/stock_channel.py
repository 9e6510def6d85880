import re

from odoo import _, api, fields, models
from odoo.exceptions import ValidationError

CODE_PATTERN = re.compile(r"^[a-z0-9_-]+$")
MANAGER_GROUP = "stock_channel_sync.group_channel_manager"


class StockChannel(models.Model):
    """A sales channel (marketplace, web store, B2B portal) that sells the
    stock of some of the company's warehouses."""

    _name = "stock.channel"
    _description = "Sales Channel"
    _order = "sequence, name, id"
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
        [("webhook", "Generic webhook")],
        required=True,
        default="webhook",
        help="How this channel is talked to. 'Generic webhook' follows the JSON "
        "contract documented in the module README.",
    )
    base_url = fields.Char(
        string="Base URL",
        help="Root URL of the channel's API, e.g. https://shop.example.com/api.",
    )
    api_key = fields.Char(string="API Key", groups=MANAGER_GROUP, copy=False)
    api_secret = fields.Char(string="API Secret", groups=MANAGER_GROUP, copy=False)
    webhook_secret = fields.Char(
        groups=MANAGER_GROUP,
        copy=False,
        help="Shared secret used to sign what Odoo sends and to verify what the "
        "channel posts.",
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
        groups = self.env["stock.channel.listing"]._read_group(
            [("channel_id", "in", self.ids)],
            ["channel_id", "pending"],
            ["__count"],
        )
        totals, pendings = {}, {}
        for channel, pending, count in groups:
            totals[channel.id] = totals.get(channel.id, 0) + count
            if pending:
                pendings[channel.id] = count
        for channel in self:
            channel.listing_count = totals.get(channel.id, 0)
            channel.pending_listing_count = pendings.get(channel.id, 0)

    @api.constrains("code")
    def _check_code(self):
        for channel in self:
            if not CODE_PATTERN.match(channel.code or ""):
                raise ValidationError(
                    _(
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
                    _(
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
                    _(
                        "Channel %(channel)s belongs to %(company)s and cannot "
                        "sell the stock of warehouse %(warehouses)s of another "
                        "company.",
                        channel=channel.display_name,
                        company=channel.company_id.display_name,
                        warehouses=", ".join(foreign.mapped("display_name")),
                    )
                )

    @api.constrains("batch_interval")
    def _check_batch_interval(self):
        if any(channel.batch_interval < 1 for channel in self):
            raise ValidationError(_("The batch interval is at least one minute."))

    def write(self, vals):
        res = super().write(vals)
        if {"warehouse_ids", "active", "company_id"} & vals.keys():
            self.env["stock.channel.listing"]._mark_pending_for_channels(self.ids)
        return res

    def action_view_listings(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id(
            "stock_channel_sync.stock_channel_listing_action"
        )
        action["domain"] = [("channel_id", "=", self.id)]
        action["context"] = {"default_channel_id": self.id}
        return action

    def action_view_pending_listings(self):
        action = self.action_view_listings()
        action["context"] = dict(action["context"], search_default_pending=1)
        return action
