import uuid

from odoo import api, fields, models, tools
from odoo.exceptions import UserError, ValidationError
from odoo.tools import SQL

from ..services.atp import NO_ATP, AtpEngine, id_array
from ..services.kits import kit_holders, related_product_ids

# Key of the (product, location) pairs touched by stock operations in the
# current transaction, kept in the cursor's precommit data.
TOUCHED_KEY = "stock_channel_sync.touched"
CORRELATION_KEY = "stock_channel_sync.correlation_id"
MOVES_KEY = "stock_channel_sync.moves"

# Listing fields whose change alters what the listing publishes.
PUBLISHED_FIELDS = {"product_id", "channel_id", "pack_size", "active"}


class StockChannelListing(models.Model):
    """A product offered on a channel, with the quantity the channel shows."""

    _name = "stock.channel.listing"
    _inherit = ["stock.channel.owned.mixin"]
    _description = "Channel Listing"
    _order = "channel_id, external_sku, id"
    _rec_name = "external_sku"
    _sql_constraints = [
        (
            "external_sku_channel_uniq",
            "UNIQUE (channel_id, external_sku) DEFERRABLE INITIALLY DEFERRED",
            "The external SKU must be unique per channel.",
        ),
    ]

    # Precomputed (the mixin's field, with the listing's index): creating
    # listings in bulk reads it before the first flush.
    company_id = fields.Many2one(
        related="channel_id.company_id", store=True, index=True, precompute=True
    )
    product_id = fields.Many2one(
        "product.product",
        required=True,
        index=True,
        ondelete="restrict",
        domain="[('is_storable', '=', True), "
        "('company_id', 'in', (False, company_id))]",
        help="Only products that track inventory can be listed.",
    )
    categ_id = fields.Many2one(related="product_id.categ_id", string="Product Category")
    external_sku = fields.Char(
        string="External SKU",
        compute="_compute_external_sku",
        store=True,
        readonly=False,
        precompute=True,
        help="The SKU the channel knows this product by. Defaults to the "
        "product's internal reference; unique per channel.",
    )
    external_ref = fields.Char(
        string="External Reference",
        help="The channel's own id for this item (e.g. an inventory item or "
        "product id), when its API needs one.",
    )
    pack_size = fields.Float(
        default=1.0,
        digits="Product Unit of Measure",
        help="Product units in one channel unit: 6 when a case of 6 is sold as "
        "one item. The published quantity is divided by it, rounded down.",
    )
    active = fields.Boolean(default=True)
    atp_qty = fields.Integer(
        string="Available to Sell",
        compute="_compute_atp",
        help="What would be published now: sellable stock of the channel's "
        "warehouses minus reservations and open demand, after the buffer rule "
        "and the pack size.",
    )
    atp_sellable_qty = fields.Float(
        string="Sellable Before Buffer",
        compute="_compute_atp",
        digits="Product Unit of Measure",
        help="Free sellable stock minus open demand, before the buffer rule "
        "and the pack size.",
    )
    atp_rule_id = fields.Many2one(
        "stock.channel.buffer.rule",
        string="Applied Buffer Rule",
        compute="_compute_atp",
        help="The most specific active rule that matches this listing.",
    )
    atp_limiting_product_id = fields.Many2one(
        "product.product",
        string="Limiting Component",
        compute="_compute_atp",
        help="For a kit (a kit-type bill of materials): the component whose "
        "sellable stock makes the fewest kits.",
    )
    atp_kit_explanation = fields.Text(
        string="Kit Components",
        compute="_compute_atp",
        help="For a kit: each component's sellable quantity in the channel's "
        "warehouses and how many one kit takes. A kit is built from one "
        "warehouse's components, so the kits per warehouse are summed.",
    )
    last_published_qty = fields.Integer(readonly=True, copy=False)
    last_published_at = fields.Datetime(readonly=True, copy=False)
    pending = fields.Boolean(
        compute="_compute_pending",
        search="_search_pending",
        help="Stock or configuration changed since the last publication.",
    )
    pending_since = fields.Datetime(
        compute="_compute_pending",
        help="When the oldest unpublished change happened.",
    )
    correlation_id = fields.Char(
        compute="_compute_pending",
        help="Identifies the oldest unpublished change; sent as X-Correlation-Id "
        "and kept on the publication rows.",
    )
    node_ids = fields.One2many(
        "stock.channel.listing.node",
        "listing_id",
        string="Per Location",
        help="On a channel that publishes per location: what each fulfillment "
        "warehouse offers at its marketplace location, and what was last "
        "published there.",
    )
    publish_per_location = fields.Boolean(related="channel_id.publish_per_location")
    publication_ids = fields.One2many(
        "stock.channel.publication", "listing_id", string="Publications"
    )
    channel_adapter = fields.Selection(related="channel_id.adapter")
    amazon_product_type = fields.Char(
        string="Amazon Product Type",
        copy=False,
        help="The product type Amazon files this SKU under, which every "
        "quantity update must name. Looked up from Amazon before the first "
        "publication and kept; clear it if the listing changes type.",
    )
    amazon_fba = fields.Boolean(
        string="Fulfilled by Amazon",
        copy=False,
        help="The offer is fulfilled by Amazon (FBA): its stock is in Amazon's "
        "warehouses and Amazon counts it, so it is never published to (nor "
        "reconciled). Set when Amazon shows no merchant-fulfilled quantity for "
        "the SKU; tick it to leave an offer alone.",
    )
    feed_ref = fields.Char(
        string="Feed in Progress",
        readonly=True,
        copy=False,
        index="btree_not_null",
        help="The marketplace feed carrying this listing's quantity, while it "
        "is processed: the listing is not sent again until its result is in.",
    )
    feed_qty = fields.Integer(readonly=True, copy=False)
    feed_change_id = fields.Integer(readonly=True, copy=False)
    feed_submitted_at = fields.Datetime(readonly=True, copy=False)

    def init(self):
        # Stock marking looks listings up by (product, channel).
        tools.create_index(
            self.env.cr,
            "stock_channel_listing_product_channel_index",
            self._table,
            ["product_id", "channel_id"],
        )

    def _compute_pending(self):
        changes = self._pending_changes(self._origin.ids)
        for listing in self:
            since, correlation = changes.get(listing._origin.id, (False, False))
            listing.pending = bool(since)
            listing.pending_since = since
            listing.correlation_id = correlation

    def _search_pending(self, operator, value):
        if operator not in ("=", "!=") or not isinstance(value, bool):
            raise UserError(self.env._("Unsupported search on 'pending'."))
        wanted = (operator == "=") == value
        query = SQL("(SELECT listing_id FROM stock_channel_listing_change)")
        return [("id", "in" if wanted else "not in", query)]

    @api.model
    def _pending_changes(self, listing_ids):
        """``{listing id: (oldest change time, its correlation id)}``."""
        if not listing_ids:
            return {}
        self.env.cr.execute(
            SQL(
                """
                SELECT DISTINCT ON (listing_id) listing_id, changed_at, correlation_id
                  FROM stock_channel_listing_change
                 WHERE listing_id = ANY(%s::int[])
              ORDER BY listing_id, id
                """,
                id_array(listing_ids),
            )
        )
        return {row[0]: (row[1], row[2]) for row in self.env.cr.fetchall()}

    @api.depends("product_id")
    def _compute_external_sku(self):
        for listing in self:
            if not listing.external_sku and listing.product_id.default_code:
                listing.external_sku = listing.product_id.default_code

    @api.depends("product_id", "channel_id", "pack_size", "active")
    def _compute_atp(self):
        results = AtpEngine(self.env).compute(self._origin.ids)
        for listing in self:
            result = results.get(listing._origin.id, NO_ATP)
            listing.atp_qty = result.qty
            listing.atp_sellable_qty = result.sellable_qty
            listing.atp_rule_id = result.rule_id or False
            listing.atp_limiting_product_id = result.limiting_id or False
            listing.atp_kit_explanation = self._kit_explanation(result)

    def _kit_explanation(self, result):
        """One line per component of a kit result, the limiting one first."""
        if not result.kit_parts:
            return False
        products = self.env["product.product"].browse(
            [part[0] for part in result.kit_parts]
        )
        names = dict(zip(products.ids, products.mapped("display_name"), strict=True))
        parts = sorted(result.kit_parts, key=lambda p: p[0] != result.limiting_id)
        # Numbers formatted outside the translated call: the term extractor
        # reads its arguments and chokes on an f-string.
        return "\n".join(
            self.env._(
                "%(component)s: %(sellable)s sellable, %(per_kit)s per kit",
                component=names[component_id],
                sellable=format(sellable, "g"),
                per_kit=format(per_kit, "g"),
            )
            for component_id, per_kit, sellable in parts
        )

    @api.constrains("product_id", "channel_id")
    def _check_product(self):
        for listing in self:
            product = listing.product_id
            if not product.is_storable:
                raise ValidationError(
                    self.env._(
                        "%s does not track inventory and cannot be listed on a "
                        "channel.",
                        product.display_name,
                    )
                )
            if product.company_id and product.company_id != listing.company_id:
                raise ValidationError(
                    self.env._(
                        "%(product)s belongs to another company than channel "
                        "%(channel)s.",
                        product=product.display_name,
                        channel=listing.channel_id.display_name,
                    )
                )

    @api.constrains("external_sku", "channel_id")
    def _check_external_sku(self):
        for listing in self:
            if not (listing.external_sku or "").strip():
                raise ValidationError(
                    self.env._(
                        "Listing of %s needs an external SKU: give the product "
                        "an internal reference or type the SKU.",
                        listing.product_id.display_name,
                    )
                )
        groups = self.with_context(active_test=False)._read_group(
            [
                ("channel_id", "in", self.channel_id.ids),
                ("external_sku", "in", self.mapped("external_sku")),
            ],
            ["channel_id", "external_sku"],
            ["__count"],
        )
        for channel, sku, count in groups:
            if count > 1:
                raise ValidationError(
                    self.env._(
                        "SKU '%(sku)s' is listed twice on channel %(channel)s.",
                        sku=sku,
                        channel=channel.display_name,
                    )
                )

    @api.constrains("pack_size")
    def _check_pack_size(self):
        for listing in self:
            if listing.pack_size <= 0:
                raise ValidationError(
                    self.env._(
                        "The pack size of %s must be greater than zero.",
                        listing.display_name,
                    )
                )

    @api.model_create_multi
    def create(self, vals_list):
        listings = super().create(vals_list)
        listings.channel_id.filtered("publish_per_location")._sync_listing_nodes(
            listings.ids
        )
        listings._mark_pending(SQL("l.id = ANY(%s)", listings.ids))
        return listings

    def unlink(self):
        # The change log has no foreign key (see its model): clean it here.
        self.env.cr.execute(
            "DELETE FROM stock_channel_listing_change WHERE listing_id = ANY(%s)",
            [self.ids],
        )
        return super().unlink()

    def action_view_publications(self):
        self.ensure_one()
        return self.env["stock.channel.publication"]._action_for(
            [("listing_id", "=", self.id)]
        )

    def write(self, vals):
        res = super().write(vals)
        if PUBLISHED_FIELDS & vals.keys():
            self._mark_pending(SQL("l.id = ANY(%s)", self.ids))
        return res

    # -- marking -------------------------------------------------------------
    # Marking sits on every stock operation: each entry point is one UPDATE,
    # whatever the number of listings, and stock operations are coalesced to
    # one UPDATE per transaction through the cursor's precommit hook.

    @api.model
    def _mark_pending(self, condition, source=None, schedule=True, force=False):
        """Log a change for the listings matching ``condition`` (SQL over alias
        ``l`` and the optional extra ``source`` relation) in one INSERT, and
        schedule their channels' publication; return the ids of the channels
        touched. ``force``: publish them even if their quantity did not
        change (the channel shows something else)."""
        self.flush_model(["active", "channel_id", "product_id"])
        self.env.cr.execute(
            SQL(
                """
                INSERT INTO stock_channel_listing_change
                            (listing_id, channel_id, company_id, changed_at,
                             correlation_id, force)
                SELECT DISTINCT l.id, l.channel_id, c.company_id, %(now)s,
                       %(correlation)s, %(force)s
                  FROM stock_channel_listing l
                  JOIN stock_channel c ON c.id = l.channel_id %(source)s
                 WHERE c.active
                   AND %(condition)s
             RETURNING channel_id
                """,
                now=fields.Datetime.now(),
                correlation=self._correlation_id(),
                force=force,
                source=SQL(", %s", source) if source else SQL(),
                condition=condition,
            )
        )
        channel_ids = {row[0] for row in self.env.cr.fetchall()}
        if channel_ids:
            self.invalidate_model(["pending", "pending_since", "correlation_id"])
            if schedule:
                self.env["stock.channel"]._schedule_publication(channel_ids)
        return channel_ids

    @api.model
    def _correlation_id(self):
        """One id per transaction, from the change to the channel's request."""
        data = self.env.cr.precommit.data
        if CORRELATION_KEY not in data:
            data[CORRELATION_KEY] = uuid.uuid4().hex[:16]
        return data[CORRELATION_KEY]

    @api.model
    def _mark_pending_for_channels(self, channel_ids):
        return self._mark_pending(
            SQL("l.active AND l.channel_id = ANY(%s)", list(channel_ids))
        )

    @api.model
    def _mark_pending_for_products(self, product_ids):
        """Mark the listings of these products, and of the kits whose
        quantity they change (:func:`..services.kits.related_product_ids`)."""
        return self._mark_pending(
            SQL(
                "l.product_id = ANY(%s)",
                list(related_product_ids(self.env, product_ids)),
            )
        )

    @api.model
    def _mark_pending_for_stock(self, pairs):
        """Mark the active listings of the products in ``pairs`` (product id,
        location id) on the channels whose warehouses hold those locations."""
        if not pairs:
            return set()
        self.env["stock.location"].flush_model(["warehouse_id"])
        product_ids, location_ids = zip(*pairs, strict=True)
        # A component's stock is its kits' stock too: the kits holding it
        # (nested ones included) are marked by the same single statement.
        holders = kit_holders(self.env, product_ids)
        if holders:
            extra = [
                (kit_id, location_id)
                for product_id, location_id in pairs
                for kit_id in holders.get(product_id, ())
            ]
            product_ids = (*product_ids, *(p for p, _loc in extra))
            location_ids = (*location_ids, *(loc for _p, loc in extra))
        # An explicit join (not IN): the planner hashes the few touched pairs
        # instead of scanning a channel's listings per pair.
        hits = SQL(
            """(
                SELECT DISTINCT touched.product_id, rel.channel_id
                  FROM unnest(%s::int[], %s::int[]) AS touched(product_id, location_id)
                  JOIN stock_location loc ON loc.id = touched.location_id
                  JOIN stock_channel_warehouse_rel rel
                    ON rel.warehouse_id = loc.warehouse_id
            ) hit""",
            id_array(product_ids),
            id_array(location_ids),
        )
        return self._mark_pending(
            SQL(
                "l.active AND l.product_id = hit.product_id"
                " AND l.channel_id = hit.channel_id"
            ),
            source=hits,
        )

    @api.model
    def _collect_stock_changes(self, pairs, move_ids=()):
        """Remember (product id, location id) pairs touched by a stock
        operation, and its moves; they are marked once, just before the
        transaction commits, so a picking of a thousand lines costs one
        INSERT (and one more tracing its moves)."""
        if not pairs:
            return
        data = self.env.cr.precommit.data
        touched = data.get(TOUCHED_KEY)
        if touched is None:
            touched = data[TOUCHED_KEY] = set()
            data[MOVES_KEY] = set()
            self.env.cr.precommit.add(self._flush_stock_changes)
        touched.update(pairs)
        data[MOVES_KEY].update(move_ids)

    @api.model
    def _flush_stock_changes(self):
        data = self.env.cr.precommit.data
        pairs = data.pop(TOUCHED_KEY, None)
        move_ids = data.pop(MOVES_KEY, None)
        if pairs and self._mark_pending_for_stock(pairs) and move_ids:
            self.env.cr.execute(
                SQL(
                    """INSERT INTO stock_channel_move_trace
                              (correlation_id, move_id, company_id, traced_at)
                       SELECT %s, m.id, m.company_id, now() at time zone 'UTC'
                         FROM stock_move m
                        WHERE m.id = ANY(%s::int[])""",
                    self._correlation_id(),
                    id_array(move_ids),
                )
            )
