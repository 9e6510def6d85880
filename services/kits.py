"""Kits: products sold from their components' stock (a kit-type bill of
materials of Odoo's ``mrp``, ``type = 'phantom'``).

``mrp`` is a soft dependency: without it :func:`kits_installed` is False, the
book is empty and no query names its tables.

The definition is Odoo's own (``mrp`` ``product.product``
``_compute_quantities_dict``): the BoM is exploded once (nested kits
flattened, a line's quantity converted to the component's unit), lines are
grouped per component (the same component on two lines summed), consumable
and zero-quantity lines are skipped, and a kit offers
``floor(min(component quantity / quantity per BoM) x BoM quantity)``; a BoM
with no storable line offers 0. Which BoM applies to a variant is
``_bom_find``'s choice: the active kit BoMs of the variant or of its
template, of no company or the listing's, by sequence, variant-specific
first, then id. Lines restricted to some variants ("Apply on Variants")
count for those variants only; a line restricted to a value of an attribute
that creates no variant never counts, as in Odoo's kit quantities.
"""

from typing import NamedTuple

from odoo.tools import SQL

from .buffer import floor_qty

# Quantities below this are a zero-quantity ("optional") BoM line.
_ZERO = 1e-9


def kits_installed(env):
    """True when ``mrp`` is installed: only then do kits exist."""
    return "mrp.bom" in env.registry


class BomRow(NamedTuple):
    """One line of a kit BoM, as read for one kit variant."""

    kit_id: int
    bom_id: int
    sequence: int
    variant_specific: bool
    company_id: int | None
    bom_qty: float
    bom_uom_factor: float
    line_product_id: int
    line_qty: float
    line_uom_factor: float
    component_uom_factor: float


class Kit(NamedTuple):
    """A kit flattened: ``components`` maps each storable component to its
    quantity per BoM (in the component's unit), for ``bom_qty`` kits."""

    bom_qty: float
    components: dict

    def quantity(self, available):
        """Kits buildable from ``available(component) -> quantity``: Odoo's
        ``floor(min(quantity / per BoM) x BoM quantity)``; 0 without
        storable components, never negative."""
        ratios = [available(c) / per_bom for c, per_bom in self.components.items()]
        if not ratios:
            return 0
        return max(floor_qty(min(ratios) * self.bom_qty), 0)

    def limiting(self, available):
        """The component whose stock limits the kit the most."""
        return min(
            self.components,
            key=lambda c: (available(c) / self.components[c], c),
            default=None,
        )

    def per_kit(self, component_id):
        """Component units one kit takes (what a kit order promises)."""
        return self.components[component_id] / self.bom_qty


def related_product_ids(env, product_ids):
    """The product ids whose channel quantity a change of ``product_ids``
    can alter: themselves, their components when they are kits, and every
    kit holding any of these (nested kits included). Without ``mrp``: the
    ids themselves. Any kit BoM counts, chosen or not: marking one listing
    too many costs one comparison, one too few an oversell."""
    product_ids = set(product_ids)
    if not kits_installed(env):
        return product_ids
    return KitGraph.current(env).related(product_ids)


def kit_holders(env, product_ids):
    """``{product: kits holding it}`` (nested kits included) for the
    products of ``product_ids`` that are on a kit BoM; empty without
    ``mrp``."""
    if not kits_installed(env):
        return {}
    graph = KitGraph.current(env)
    return {p: holders for p in set(product_ids) if (holders := graph.holders(p))}


# Every kit BoM of a database, flattened on demand, by (database, what the
# BoMs look like: see ``_SIGNATURE``): kits change seldom and are read by
# every ATP computation, so one process reads them once per change.
_GRAPHS = {}
_GRAPHS_KEPT = 8

# Has any kit BoM, line, unit, variant or "Apply on Variants" value
# changed? Row counts and the newest row version (``xmin``: every insert or
# update, even in this very transaction or a savepoint, writes a newer one;
# write dates would not tell two edits of one transaction apart). A few
# milliseconds: stock operations ask it when they mark kits.
_SIGNATURE = SQL(
    """
    SELECT concat_ws('|',
               (SELECT count(*) || ',' || COALESCE(max(xmin::text::bigint), 0)
                  FROM mrp_bom),
               (SELECT count(*) || ',' || COALESCE(max(xmin::text::bigint), 0)
                  FROM mrp_bom_line),
               (SELECT max(xmin::text::bigint) FROM uom_uom),
               (SELECT max(id) FROM product_product),
               (SELECT count(*) || ',' || COALESCE(max(xmin::text::bigint), 0)
                  FROM product_template_attribute_value))
    """
)


class KitGraph:
    """Every kit BoM line per kit variant, and the kits flattened so far
    (whatever the components' storability, applied by :class:`KitBook`)."""

    def __init__(self, rows=()):
        self.rows = {}
        self.parents = {}  # component -> kit variants with it on a line
        for row in rows:
            self.rows.setdefault(row.kit_id, []).append(row)
            self.parents.setdefault(row.line_product_id, set()).add(row.kit_id)
        self.flat = {}
        self._holders = {}

    @classmethod
    def current(cls, env):
        """The graph as this transaction sees it: one small query, and one
        more when the kit BoMs changed since this process last read them."""
        for model in ("mrp.bom", "mrp.bom.line", "uom.uom"):
            env[model].flush_model()
        env.cr.execute(_SIGNATURE)
        key = (env.cr.dbname, env.cr.fetchone()[0])
        graph = _GRAPHS.get(key)
        if graph is None:
            graph = cls.load(env)
            if len(_GRAPHS) >= _GRAPHS_KEPT:
                _GRAPHS.pop(next(iter(_GRAPHS)))
            _GRAPHS[key] = graph
        return graph

    def holders(self, product_id):
        """Every kit holding ``product_id``, nested kits included."""
        if product_id not in self._holders:
            found, todo = set(), [product_id]
            while todo:
                for kit in self.parents.get(todo.pop(), ()):
                    if kit not in found:
                        found.add(kit)
                        todo.append(kit)
            self._holders[product_id] = frozenset(found)
        return self._holders[product_id]

    def components(self, product_id):
        """Every product on the kit BoMs of ``product_id``, nested."""
        found, todo = set(), [product_id]
        while todo:
            for row in self.rows.get(todo.pop(), ()):
                if row.line_product_id not in found:
                    found.add(row.line_product_id)
                    todo.append(row.line_product_id)
        return found

    def related(self, product_ids):
        """The products, their components, and every kit holding any."""
        down = set(product_ids)
        for product_id in product_ids:
            if product_id in self.rows:
                down |= self.components(product_id)
        related = set(down)
        for product_id in down:
            related |= self.holders(product_id)
        return related

    @classmethod
    def load(cls, env):
        env.cr.execute(
            SQL(
                """
                SELECT pp.id, b.id, b.sequence, b.product_id IS NOT NULL,
                       b.company_id, b.product_qty::float8, bu.factor::float8,
                       bl.product_id, bl.product_qty::float8, lu.factor::float8,
                       cu.factor::float8
                  FROM mrp_bom b
                  JOIN product_product pp
                    ON pp.product_tmpl_id = b.product_tmpl_id
                   AND (b.product_id IS NULL OR b.product_id = pp.id)
                  JOIN uom_uom bu ON bu.id = b.product_uom_id
                  JOIN mrp_bom_line bl ON bl.bom_id = b.id
                  JOIN uom_uom lu ON lu.id = bl.product_uom_id
                  JOIN product_product cp ON cp.id = bl.product_id
                  JOIN product_template ct ON ct.id = cp.product_tmpl_id
                  JOIN uom_uom cu ON cu.id = ct.uom_id
                 WHERE b.active AND b.type = 'phantom'
                   AND NOT EXISTS (
                       -- "Apply on Variants": every attribute the line names
                       -- must have one of its values on the variant, and no
                       -- value may be of an attribute creating no variant.
                       SELECT 1
                         FROM %(line_values)s r
                         JOIN product_template_attribute_value v
                           ON v.id = r.product_template_attribute_value_id
                         JOIN product_attribute a ON a.id = v.attribute_id
                        WHERE r.mrp_bom_line_id = bl.id
                          AND (a.create_variant = 'no_variant' OR NOT EXISTS (
                               SELECT 1
                                 FROM %(line_values)s r2
                                 JOIN product_template_attribute_value v2
                                   ON v2.id = r2.product_template_attribute_value_id
                                 JOIN product_variant_combination pvc
                                   ON pvc.product_template_attribute_value_id = v2.id
                                WHERE r2.mrp_bom_line_id = bl.id
                                  AND v2.attribute_id = v.attribute_id
                                  AND pvc.product_product_id = pp.id)))
                """,
                line_values=SQL.identifier(
                    "mrp_bom_line_product_template_attribute_value_rel"
                ),
            )
        )
        return cls(BomRow._make(row) for row in env.cr.fetchall())

    def bom_lines(self, product_id, company_id):
        """The lines of the BoM ``_bom_find`` chooses, or None."""
        rows = [
            r
            for r in self.rows.get(product_id, ())
            if r.company_id is None or r.company_id == company_id
        ]
        if not rows:
            return None
        best = min(rows, key=lambda r: (r.sequence, not r.variant_specific, r.bom_id))
        return [r for r in rows if r.bom_id == best.bom_id]

    def flattened(self, product_id, company_id):
        """``Kit`` of a product (every leaf component), or None."""
        key = (product_id, company_id)
        if key not in self.flat:
            self.flat[key] = self._flatten(product_id, company_id, frozenset())
        return self.flat[key]

    def _flatten(self, product_id, company_id, seen):
        """Nested kits exploded (Odoo's ``explode``); a BoM cycle (Odoo
        refuses one) offers nothing."""
        lines = self.bom_lines(product_id, company_id)
        if lines is None or product_id in seen:
            return None if lines is None else Kit(1.0, {})
        seen = seen | {product_id}
        components = {}
        for line in lines:
            if line.line_qty <= _ZERO:
                continue
            sub = self.bom_lines(line.line_product_id, company_id)
            if sub is not None:
                inner = self._flatten(line.line_product_id, company_id, seen)
                # Times the sub-BoM runs for one run of this BoM.
                runs = (
                    line.line_qty
                    / inner.bom_qty
                    / line.line_uom_factor
                    * sub[0].bom_uom_factor
                )
                for component, qty in inner.components.items():
                    components[component] = components.get(component, 0.0) + qty * runs
            else:
                qty = line.line_qty / line.line_uom_factor * line.component_uom_factor
                components[line.line_product_id] = (
                    components.get(line.line_product_id, 0.0) + qty
                )
        return Kit(lines[0].bom_qty, {c: q for c, q in components.items() if q > _ZERO})


class KitBook:
    """The kits of a database as one computation sees them: the (cached)
    graph, less the components that do not track inventory
    (:meth:`load_consumables`, once the computation knows its kits)."""

    def __init__(self, graph=None):
        self._graph = graph or KitGraph()
        self._consumables = frozenset()
        self._kits = {}

    @classmethod
    def fetch(cls, env, product_ids=None):
        """The book, for one computation: one small query, and one more
        when the kit BoMs changed since this process last read them.
        Without ``mrp``: an empty book, no query."""
        if not kits_installed(env):
            return cls()
        return cls(KitGraph.current(env))

    def load_consumables(self, env, component_ids):
        """Which of these components do not track inventory (Odoo skips
        them in a kit's quantity): one query, none without components."""
        if not component_ids:
            return
        env["product.template"].flush_model(["is_storable"])
        env.cr.execute(
            SQL(
                """SELECT pp.id
                     FROM product_product pp
                     JOIN product_template pt ON pt.id = pp.product_tmpl_id
                    WHERE pp.id = ANY(%s::int[])
                      AND NOT COALESCE(pt.is_storable, FALSE)""",
                "{" + ",".join(str(int(i)) for i in component_ids) + "}",
            )
        )
        self._consumables = frozenset(row[0] for row in env.cr.fetchall())
        self._kits.clear()

    def __bool__(self):
        return bool(self._graph.rows)

    def kit_ids(self):
        """Every kit variant of the database."""
        return self._graph.rows.keys()

    def exploded(self, product_id, company_id):
        """The flattened :class:`Kit` with every leaf component, consumable
        or not (what a kit order promises), or None."""
        return self._graph.flattened(product_id, company_id)

    def get(self, product_id, company_id):
        """The flattened :class:`Kit` of a product for a company (storable
        components only), or None when it is not a kit there."""
        key = (product_id, company_id)
        if key not in self._kits:
            kit = self._graph.flattened(product_id, company_id)
            if kit is not None and self._consumables:
                kit = Kit(
                    kit.bom_qty,
                    {
                        c: q
                        for c, q in kit.components.items()
                        if c not in self._consumables
                    },
                )
            self._kits[key] = kit
        return self._kits[key]

    def components_of(self, product_ids, company_ids):
        """Every leaf component of the kits among ``product_ids``."""
        return {
            component
            for product_id in product_ids
            for company_id in company_ids
            if (kit := self.exploded(product_id, company_id))
            for component in kit.components
        }
