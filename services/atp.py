"""The one place that knows what "available to sell" means.

For a set of listings the engine issues a fixed number of grouped queries
(listings, channel warehouses, sellable locations, free stock, open demand,
rules), whatever the number of listings, then resolves rules in Python over
the grouped rows. Everything that needs a channel quantity (the listing form,
publication, reconciliation, benchmarks) calls :meth:`AtpEngine.compute`.

Definition (README.rst has a worked example), per listing:

* free stock: sum of ``quantity - reserved_quantity`` of the quants in the
  internal locations of the channel's warehouses that are sellable (neither
  the location nor any parent has ``channel_sellable`` unset);
* minus open demand: the not yet reserved part of the moves waiting for stock
  (``confirmed`` / ``partially_available``) that take it from one of those
  sellable locations and either leave the warehouse or feed a further move
  (the pick step of a multi-step delivery). Chained moves still ``waiting``
  are not counted: their demand is carried by the move they wait for;
* minus promised demand: lines of accepted channel orders whose sale order
  does not exist yet (``received``, ``error``, and again ``received`` while
  reprocessing: the order is owed to the customer until it is done or
  cancelled), on every channel sharing a warehouse with the order's channel;
* incoming receipts are never counted: only quants are supply;
* then the listing's safety-buffer rule, pack size and rounding
  (:func:`.buffer.apply_buffer`).

A channel that sells drop-ship stock adds, for products shipping
drop-ship, their vendors' fresh feed quantities after their vendors'
buffers (:mod:`.dropship_stock`) to the sellable quantity before the
listing's rule; per location, they are one more node (``None``: the
marketplace location mapped to drop-ship stock).

A kit (a kit-type BoM, when ``mrp`` is installed: :mod:`.kits`) has no stock
of its own: per warehouse, the definition above gives each component's
sellable quantity and the kit offers what they make
(:meth:`.kits.Kit.quantity`), summed over the warehouses (a kit is not built
from two warehouses' parts), then its own rule and pack size. An accepted
order of a kit promises its components, so it lowers the components'
listings and every kit sharing one.

A channel that publishes per location gets the same definition per
fulfillment node (one of its warehouses): free stock and open demand of that
warehouse, promised demand of the orders that will ship from it, then the
rule and the pack size per node (:meth:`AtpEngine.compute_nodes`).
"""

from typing import NamedTuple

from odoo.tools import SQL

from ..adapters.base import location_key_sql
from .buffer import BufferRule, RuleBook, apply_buffer
from .dropship_stock import fetch_vendor_stock
from .kits import KitBook

# Models whose pending ORM writes the queries below must see.
_READ_MODELS = (
    "stock.quant",
    "stock.move",
    "stock.move.line",
    "stock.location",
    "stock.warehouse",
    "stock.channel",
    "stock.channel.location",
    "stock.channel.listing",
    "stock.channel.buffer.rule",
    "stock.channel.order",
    "stock.channel.order.line",
    "product.product",
)


class AtpResult(NamedTuple):
    """The published quantity and how it was reached, for display."""

    free_qty: float = 0.0
    demand_qty: float = 0.0
    rule_id: int | None = None
    qty: int = 0
    # A kit's component with the least stock for it, and per component
    # (id, units per kit, sellable units): what the listing form explains.
    limiting_id: int | None = None
    kit_parts: tuple = ()
    # Drop-ship: the vendors' quantity counted in, and the handling time
    # published with the quantity (None: the channel does not say one).
    dropship_qty: float = 0.0
    lead_time_days: int | None = None

    @property
    def sellable_qty(self):
        return self.free_qty - self.demand_qty + self.dropship_qty


# What a listing that offers nothing (or is not saved yet) shows.
NO_ATP = AtpResult()

# Channel order states whose lines are promised demand until their sale
# order exists: an order in error is still owed to the customer.
PROMISED_STATES = ("received", "error")

# The node key of the drop-ship stock of a channel publishing per location.
DROPSHIP_NODE = None


def id_array(ids):
    """A PostgreSQL array literal of integer ids, for ``%s::int[]``."""
    return "{" + ",".join(map(str, map(int, ids))) + "}"


class ListingRow(NamedTuple):
    """What the engine reads of one listing."""

    listing_id: int
    channel_id: int
    product_id: int
    pack_size: float
    company_id: int
    live: bool
    categ_id: int | None
    per_location: bool
    # Sells drop-ship stock (and, per location, has a location for it):
    # the handling time of own stock, else None.
    own_lead_time: int | None


class AtpEngine:
    """Set-based ATP computation over ``stock.channel.listing`` ids."""

    def __init__(self, env):
        self.env = env
        self.cr = env.cr

    def compute(self, listing_ids):
        """Return ``{listing_id: AtpResult}`` for the given listing ids. A
        listing of a channel that publishes per location gets the sum of its
        nodes (what the channel offers in all)."""
        return self._compute(listing_ids, per_node=False)

    def compute_nodes(self, listing_ids):
        """Return ``{(listing_id, warehouse_id): AtpResult}`` for the
        listings of channels that publish per location: the same definition
        per fulfillment node, buffer rule and pack size applied per node.
        One computation for all nodes (the grouped rows are already per
        warehouse)."""
        return self._compute(listing_ids, per_node=True)

    def _compute(self, listing_ids, per_node):
        """``compute`` (``per_node`` False) or ``compute_nodes``."""
        listing_ids = list(listing_ids)
        if not listing_ids:
            return {}
        for model in _READ_MODELS:
            self.env[model].flush_model()
        listing_array = id_array(listing_ids)
        listings = self._fetch_listings(listing_array)
        channel_ids = {row.channel_id for row in listings}
        warehouses_by_channel, location_ids = self._fetch_sellable_locations(
            channel_ids
        )
        kits, product_array, promised_array = self._products(listings)
        vendors = self._fetch_vendor_stock(listings)
        free = self._fetch_free_stock(product_array, location_ids)
        demand = self._fetch_open_demand(product_array, location_ids)
        promised, promised_at = self._fetch_promised(promised_array, kits)
        categ_parents = self._fetch_category_parents({row.categ_id for row in listings})
        rulebook = RuleBook(
            self._fetch_rules(channel_ids, {row.company_id for row in listings})
        )

        results = {}
        nothing = AtpResult()
        free_get, demand_get, promised_get = free.get, demand.get, promised_at.get
        for row in listings:
            listing_id, channel_id, product_id = row[:3]
            if per_node and not row.per_location:
                continue  # a summed channel has no nodes
            warehouses = warehouses_by_channel[channel_id]
            if not row.live:
                if per_node:
                    for warehouse_id in warehouses:
                        results[listing_id, warehouse_id] = nothing
                else:
                    results[listing_id] = nothing
                continue
            rule = rulebook.rule_for(
                channel_id,
                row.company_id,
                product_id,
                row.categ_id,
                categ_parents[row.categ_id],
            )
            kit = kits.get(product_id, row.company_id) if kits else None
            if kit is not None:
                self._kit_results(
                    results,
                    listing_id,
                    kit,
                    _Stock(free_get, demand_get, promised, promised_at),
                    (channel_id, row.per_location, warehouses),
                    (rule, row.pack_size),
                    per_node,
                )
                continue
            vendor = vendors.get((product_id, row.company_id))
            if row.per_location:
                self._located_results(
                    results,
                    row,
                    warehouses,
                    (rule, vendor),
                    (free_get, demand_get, promised_get),
                    per_node,
                )
                continue
            if len(warehouses) == 1:  # the common case, without a loop
                key = (product_id, warehouses[0])
                free_qty, demand_qty = free_get(key, 0.0), demand_get(key, 0.0)
            else:
                free_qty = demand_qty = 0.0
                for warehouse_id in warehouses:
                    key = (product_id, warehouse_id)
                    free_qty += free_get(key, 0.0)
                    demand_qty += demand_get(key, 0.0)
            for order_channel_ids, qty in promised.get(product_id, ()):
                if channel_id in order_channel_ids:
                    demand_qty += qty
            results[listing_id] = self._summed(
                free_qty, demand_qty, vendor, rule, row.pack_size, row.own_lead_time
            )
        return results

    def _products(self, listings):
        """``(kits, products whose stock counts, products whose orders
        count)``: the listed products, with the components of the kits among
        them, and every kit whose orders promise some of that stock."""
        product_ids = {row.product_id for row in listings if row.live}
        kits = KitBook.fetch(self.env, product_ids)
        promised_ids = product_ids
        if kits:
            company_ids = {row.company_id for row in listings}
            components = kits.components_of(product_ids, company_ids)
            kits.load_consumables(self.env, components)
            product_ids = product_ids | components
            promised_ids = product_ids | set(kits.kit_ids())
        return kits, id_array(product_ids), id_array(promised_ids)

    @staticmethod
    def _kit_results(results, listing_id, kit, stock, where, offer, per_node):
        """A kit listing's result(s) into ``results``: per warehouse, what
        the components make; ``where``: (channel, per location, warehouses),
        ``offer``: (rule, pack size)."""
        channel_id, located, warehouses = where
        rule, pack_size = offer
        rule_id = rule and rule.id
        nodes = [
            stock.kit_node(kit, warehouse_id, channel_id, located, warehouses)
            for warehouse_id in warehouses
        ]
        if per_node:
            for warehouse_id, (free_qty, sellable, limiting) in zip(
                warehouses, nodes, strict=True
            ):
                results[listing_id, warehouse_id] = AtpResult(
                    free_qty,
                    free_qty - sellable,
                    rule_id,
                    apply_buffer(sellable, rule, pack_size),
                    limiting,
                )
            return
        free_qty = sum(node[0] for node in nodes)
        sellable = sum(node[1] for node in nodes)
        if located:  # what the channel offers in all: the sum of its nodes
            qty = sum(apply_buffer(node[1], rule, pack_size) for node in nodes)
        else:
            qty = apply_buffer(sellable, rule, pack_size)
        results[listing_id] = AtpResult(
            free_qty,
            free_qty - sellable,
            rule_id,
            qty,
            *stock.kit_parts(kit, channel_id, located, warehouses),
        )

    def _located_results(self, results, row, warehouses, offer, getters, per_node):
        """A listing of a channel publishing per location: one result per
        warehouse (and for the drop-ship location), or their sum;
        ``offer``: (rule, vendors' stock), ``getters``: free, open and
        promised demand by (product, warehouse)."""
        rule, vendor = offer
        free_get, demand_get, promised_get = getters
        listing_id, product_id = row.listing_id, row.product_id
        nodes = [
            self._node(
                free_get((product_id, warehouse_id), 0.0),
                demand_get((product_id, warehouse_id), 0.0)
                + promised_get((product_id, warehouse_id), 0.0),
                rule,
                row.pack_size,
                row.own_lead_time,
            )
            for warehouse_id in warehouses
        ]
        node_keys = list(warehouses)
        if row.own_lead_time is not None:  # the drop-ship location
            nodes.append(
                self._dropship_node(
                    vendor,
                    promised_get((product_id, DROPSHIP_NODE), 0.0),
                    rule,
                    row.pack_size,
                )
            )
            node_keys.append(DROPSHIP_NODE)
        if per_node:
            for key, result in zip(node_keys, nodes, strict=True):
                results[listing_id, key] = result
        else:  # what the channel offers in all: the sum of its nodes
            results[listing_id] = AtpResult(
                sum(r.free_qty for r in nodes),
                sum(r.demand_qty for r in nodes),
                rule and rule.id,
                sum(r.qty for r in nodes),
                dropship_qty=sum(r.dropship_qty for r in nodes),
            )

    @staticmethod
    def _node(free_qty, demand_qty, rule, pack_size, lead_time=None):
        return AtpResult(
            free_qty,
            demand_qty,
            rule and rule.id,
            apply_buffer(free_qty - demand_qty, rule, pack_size),
            lead_time_days=lead_time,
        )

    @staticmethod
    def _dropship_node(vendor, promised_qty, rule, pack_size):
        """The drop-ship location of a channel publishing per location: the
        vendors' quantity, less the orders placed at that location, under
        the listing's rule; the vendors' handling time."""
        if vendor is None:
            return AtpResult(demand_qty=promised_qty, rule_id=rule and rule.id)
        return AtpResult(
            0.0,
            promised_qty,
            rule and rule.id,
            apply_buffer(vendor.qty - promised_qty, rule, pack_size),
            dropship_qty=vendor.qty,
            lead_time_days=vendor.lead_time_days,
        )

    @staticmethod
    def _summed(free_qty, demand_qty, vendor, rule, pack_size, own_lead_time):
        """One quantity for the channel: own sellable stock plus, on a
        channel selling drop-ship stock, the vendors', the rule applied to
        the total; the vendors' handling time when the published quantity
        needs some of theirs, else own stock's."""
        own = free_qty - demand_qty
        qty = apply_buffer(own, rule, pack_size)
        if vendor is None or own_lead_time is None:
            rule_id = rule and rule.id
            return AtpResult(
                free_qty, demand_qty, rule_id, qty, lead_time_days=own_lead_time
            )
        total = apply_buffer(own + vendor.qty, rule, pack_size)
        return AtpResult(
            free_qty,
            demand_qty,
            rule and rule.id,
            total,
            dropship_qty=vendor.qty,
            lead_time_days=vendor.lead_time_days if total > qty else own_lead_time,
        )

    def _fetch_vendor_stock(self, listings):
        """The vendors' stock of the live listings of channels selling
        drop-ship stock (no query when there are none)."""
        rows = [row for row in listings if row.live and row.own_lead_time is not None]
        if not rows:
            return {}
        return fetch_vendor_stock(
            self.env,
            id_array({row.product_id for row in rows}),
            {row.company_id for row in rows},
        )

    # -- grouped reads -----------------------------------------------------
    # Large id lists travel as one text literal: psycopg2 adapting a Python
    # list of 20,000 ints costs ~20 ms, the literal ~1 ms.

    def _fetch_listings(self, listing_array):
        """A :class:`ListingRow` per listing."""
        self.cr.execute(
            SQL(
                """
                SELECT l.id, l.channel_id, l.product_id, l.pack_size::float8,
                       c.company_id, (l.active AND c.active AND pp.active),
                       pt.categ_id, COALESCE(c.publish_per_location, FALSE),
                       CASE WHEN c.sell_dropship AND (
                                 NOT COALESCE(c.publish_per_location, FALSE)
                                 OR EXISTS (SELECT 1 FROM stock_channel_location m
                                             WHERE m.channel_id = c.id AND m.dropship))
                            THEN COALESCE(c.own_lead_time_days, 0) END
                  FROM stock_channel_listing l
                  JOIN stock_channel c ON c.id = l.channel_id
                  JOIN product_product pp ON pp.id = l.product_id
                  JOIN product_template pt ON pt.id = pp.product_tmpl_id
                 WHERE l.id = ANY(%s::int[])
                """,
                listing_array,
            )
        )
        return [ListingRow._make(row) for row in self.cr.fetchall()]

    def _fetch_sellable_locations(self, channel_ids):
        """``({channel: warehouses}, sellable location ids)``: the internal
        locations of the channels' warehouses where no ancestor (itself
        included) is flagged not sellable."""
        self.cr.execute(
            SQL(
                "SELECT channel_id, warehouse_id FROM stock_channel_warehouse_rel"
                " WHERE channel_id = ANY(%s)",
                list(channel_ids),
            )
        )
        warehouses_by_channel = {channel_id: [] for channel_id in channel_ids}
        for channel_id, warehouse_id in self.cr.fetchall():
            warehouses_by_channel[channel_id].append(warehouse_id)
        warehouse_ids = {wh for whs in warehouses_by_channel.values() for wh in whs}
        return warehouses_by_channel, self._sellable_location_ids(warehouse_ids)

    def _sellable_location_ids(self, warehouse_ids):
        """The internal locations of these warehouses where no ancestor
        (itself included) is flagged not sellable."""
        if not warehouse_ids:
            return []
        self.cr.execute(
            SQL(
                """
                SELECT loc.id
                  FROM stock_location loc
                 WHERE loc.warehouse_id = ANY(%s)
                   AND loc.usage = 'internal'
                   AND NOT EXISTS (
                        SELECT 1
                          FROM stock_location hold
                         WHERE hold.channel_sellable = FALSE
                           AND starts_with(loc.parent_path, hold.parent_path)
                   )
                """,
                list(warehouse_ids),
            )
        )
        return [row[0] for row in self.cr.fetchall()]

    def free_stock(self, warehouse_ids, product_ids):
        """``{(product, warehouse): on hand - reserved}`` over the sellable
        locations of these warehouses: the definition's free stock alone
        (what the drop-ship split leaves on own stock)."""
        for model in ("stock.quant", "stock.location", "stock.warehouse"):
            self.env[model].flush_model()
        return self._fetch_free_stock(
            id_array(product_ids), self._sellable_location_ids(set(warehouse_ids))
        )

    def _fetch_free_stock(self, product_array, location_ids):
        """``{(product, warehouse): on hand - reserved}`` over sellable
        locations, for the products of the listings."""
        if not location_ids:
            return {}
        self.cr.execute(
            SQL(
                """
                SELECT q.product_id, loc.warehouse_id,
                       COALESCE(SUM(COALESCE(q.quantity, 0)
                                    - COALESCE(q.reserved_quantity, 0)), 0)::float8
                  FROM stock_quant q
                  JOIN stock_location loc ON loc.id = q.location_id
                 WHERE q.location_id = ANY(%s)
                   AND q.product_id = ANY(%s::int[])
              GROUP BY q.product_id, loc.warehouse_id
                """,
                location_ids,
                product_array,
            )
        )
        return {(p, w): qty for p, w, qty in self.cr.fetchall()}

    def _fetch_open_demand(self, product_array, location_ids):
        """``{(product, warehouse): not yet reserved demand}`` of the moves
        waiting for stock in sellable locations that leave the warehouse or
        feed a further step."""
        if not location_ids:
            return {}
        self.cr.execute(
            SQL(
                """
                SELECT m.product_id, src.warehouse_id,
                       SUM(GREATEST(COALESCE(m.product_qty, 0) - COALESCE(
                           (SELECT SUM(ml.quantity_product_uom)
                              FROM stock_move_line ml
                             WHERE ml.move_id = m.id), 0), 0))::float8
                  FROM stock_move m
                  JOIN stock_location src ON src.id = m.location_id
                  JOIN stock_location dst ON dst.id = m.location_dest_id
                 WHERE m.state IN ('confirmed', 'partially_available')
                   AND m.location_id = ANY(%s)
                   AND m.product_id = ANY(%s::int[])
                   AND (dst.warehouse_id IS DISTINCT FROM src.warehouse_id
                        OR EXISTS (SELECT 1 FROM stock_move_move_rel chain
                                    WHERE chain.move_orig_id = m.id))
              GROUP BY m.product_id, src.warehouse_id
                """,
                location_ids,
                product_array,
            )
        )
        return {(p, w): qty for p, w, qty in self.cr.fetchall()}

    def _fetch_promised(self, product_array, kits):
        """Lines of accepted channel orders whose sale order does not exist
        yet, twice: ``{product: [(channels sharing a warehouse with the
        order's channel, quantity)]}`` for summed channels, and
        ``{(product, warehouse): quantity}`` by the warehouse the order's sale
        order will ship from (the one mapped to its ``location``, else its
        channel's first), for nodes. A kit's line promises its components
        (``kits``: a :class:`.kits.KitBook`)."""
        self.cr.execute(
            SQL(
                """
                SELECT ol.product_id, o.company_id, SUM(ol.product_qty)::float8,
                       ARRAY(SELECT DISTINCT other.channel_id
                               FROM stock_channel_warehouse_rel mine
                               JOIN stock_channel_warehouse_rel other
                                 ON other.warehouse_id = mine.warehouse_id
                              WHERE mine.channel_id = o.channel_id),
                       COALESCE(
                           (SELECT m.warehouse_id
                              FROM stock_channel_location m
                             WHERE m.channel_id = o.channel_id
                               AND %s),
                           (SELECT rel.warehouse_id
                              FROM stock_channel_warehouse_rel rel
                              JOIN stock_warehouse wh ON wh.id = rel.warehouse_id
                             WHERE rel.channel_id = o.channel_id
                          ORDER BY wh.sequence, wh.id
                             LIMIT 1))
                  FROM stock_channel_order_line ol
                  JOIN (SELECT id, channel_id, company_id,
                               canonical_order->>'location' AS location
                          FROM stock_channel_order
                         WHERE state IN %s AND sale_order_id IS NULL) o
                    ON o.id = ol.order_id
                 WHERE ol.product_id = ANY(%s::int[])
              GROUP BY ol.product_id, o.channel_id, o.company_id, o.location
                """,
                SQL(
                    f"{location_key_sql('m.location_ref')}"
                    f" = {location_key_sql('o.location')}"
                ),
                PROMISED_STATES,
                product_array,
            )
        )
        promised, promised_at = {}, {}
        for product_id, company_id, qty, sharing, home in self.cr.fetchall():
            sharing = set(sharing)
            kit = kits.exploded(product_id, company_id) if kits else None
            parts = (
                [(c, qty * kit.per_kit(c)) for c in kit.components]
                if kit is not None
                else [(product_id, qty)]
            )
            for part_id, part_qty in parts:
                promised.setdefault(part_id, []).append((sharing, part_qty))
                key = (part_id, home)
                promised_at[key] = promised_at.get(key, 0) + part_qty
        return promised, promised_at

    def _fetch_category_parents(self, categ_ids):
        """``{category id: (itself and its parents' ids)}``."""
        categ_ids = [c for c in categ_ids if c]
        parents = {None: ()}
        if categ_ids:
            self.cr.execute(
                SQL(
                    "SELECT id, parent_path FROM product_category WHERE id = ANY(%s)",
                    categ_ids,
                )
            )
            for categ_id, path in self.cr.fetchall():
                parents[categ_id] = tuple(int(c) for c in (path or "").split("/") if c)
        return parents

    def _fetch_rules(self, channel_ids, company_ids):
        self.cr.execute(
            SQL(
                """
                SELECT r.id, r.channel_id, r.categ_id, r.product_id, r.company_id,
                       r.buffer_type, r.buffer_value, r.zero_below,
                       r.max_quantity, r.sequence, pc.parent_path
                  FROM stock_channel_buffer_rule r
             LEFT JOIN product_category pc ON pc.id = r.categ_id
                 WHERE r.active
                   AND (r.channel_id IS NULL OR r.channel_id = ANY(%s))
                   AND (r.company_id IS NULL OR r.company_id = ANY(%s))
                """,
                list(channel_ids),
                list(company_ids),
            )
        )
        return [
            BufferRule(
                id=row[0],
                channel_id=row[1],
                categ_id=row[2],
                product_id=row[3],
                company_id=row[4],
                buffer_type=row[5],
                buffer_value=row[6] or 0.0,
                zero_below=row[7] or 0.0,
                max_quantity=row[8] or 0.0,
                sequence=row[9] or 0,
                categ_depth=(row[10] or "").count("/"),
            )
            for row in self.cr.fetchall()
        ]


class _Stock:
    """A component's sellable quantity per warehouse, from the grouped
    rows, for kits."""

    __slots__ = ("free_get", "demand_get", "promised", "promised_at")

    def __init__(self, free_get, demand_get, promised, promised_at):
        self.free_get = free_get
        self.demand_get = demand_get
        self.promised = promised
        self.promised_at = promised_at

    def sellable(self, product_id, warehouse_id, channel_id, located, warehouses):
        """Free minus open and promised demand at one warehouse. A summed
        channel of one warehouse counts every promised order of a channel
        sharing it, as for its plain listings; otherwise the orders that
        ship from that warehouse."""
        key = (product_id, warehouse_id)
        qty = self.free_get(key, 0.0) - self.demand_get(key, 0.0)
        if located or len(warehouses) > 1:
            return qty - self.promised_at.get(key, 0.0)
        return qty - sum(
            promised_qty
            for sharing, promised_qty in self.promised.get(product_id, ())
            if channel_id in sharing
        )

    def kit_node(self, kit, warehouse_id, channel_id, located, warehouses):
        """``(kits from free stock, kits sellable, limiting component)`` at
        one warehouse."""

        def sellable(c):
            return self.sellable(c, warehouse_id, channel_id, located, warehouses)

        return (
            kit.quantity(lambda c: self.free_get((c, warehouse_id), 0.0)),
            kit.quantity(sellable),
            kit.limiting(sellable),
        )

    def kit_parts(self, kit, channel_id, located, warehouses):
        """``(limiting component, ((component, units per kit, sellable
        units), ...))`` over all the warehouses."""
        sellable = {
            c: sum(
                self.sellable(c, w, channel_id, located, warehouses) for w in warehouses
            )
            for c in kit.components
        }
        return kit.limiting(sellable.__getitem__), tuple(
            (c, kit.per_kit(c), qty) for c, qty in sellable.items()
        )
