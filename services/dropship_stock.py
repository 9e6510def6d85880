"""Drop-ship stock: what vendors hold, from their supplier feeds, as the ATP
engine counts it for a channel that sells drop-ship stock.

A vendor's quantity counts for a product when the product ships drop-ship
(a route of the product or of its category, parents included, with an
active rule from a vendor location to a customer location: Odoo's
``stock_dropshipping`` route, or any route doing the same) and the vendor's
feed is active, of the listing's company and fresh (updated within its
freshness window; an older feed counts 0). Each vendor's own buffer applies
to its figure first; the figures of several vendors are summed; the
listing's buffer rule then applies to own stock plus drop-ship stock
(ChannelAdvisor's order: buffers after the sum).
"""

from typing import NamedTuple

from odoo.tools import SQL

from .buffer import floor_qty


class VendorStock(NamedTuple):
    """The vendors' sellable quantity of one product, and the longest
    handling time among the vendors that offer some."""

    qty: float
    lead_time_days: int


def vendor_buffer(qty, buffer_type, buffer_value):
    """A vendor's figure after its feed's buffer: fixed subtracts, percent
    keeps ``(100 - value) %`` rounded down; never negative."""
    if buffer_type == "percent":
        qty = floor_qty(qty * (100.0 - (buffer_value or 0.0)) / 100.0)
    else:
        qty -= buffer_value or 0.0
    return max(qty, 0.0)


DROPSHIP_ROUTE_SQL = SQL(
    """EXISTS (
        SELECT 1
          FROM stock_rule ru
          JOIN stock_route r ON r.id = ru.route_id AND r.active
          JOIN stock_location src ON src.id = ru.location_src_id
                                 AND src.usage = 'supplier'
          JOIN stock_location dst ON dst.id = ru.location_dest_id
                                 AND dst.usage = 'customer'
         WHERE ru.active
           AND (ru.company_id IS NULL OR ru.company_id = f.company_id)
           AND (EXISTS (SELECT 1 FROM stock_route_product rp
                         WHERE rp.route_id = r.id AND rp.product_id = pt.id)
                OR EXISTS (SELECT 1
                             FROM stock_route_categ rc
                             JOIN product_category c ON c.id = rc.categ_id
                            WHERE rc.route_id = r.id
                              AND starts_with(pc.parent_path, c.parent_path))))"""
)


def fetch_vendor_stock(env, product_array, company_ids):
    """``{(product, company): VendorStock}`` for the drop-ship products among
    ``product_array`` (a ``%s::int[]`` literal), in one query."""
    for model in (
        "stock.channel.supplier.feed",
        "stock.channel.supplier.stock",
        "product.template",
        "product.category",
        "stock.route",
        "stock.rule",
    ):
        env[model].flush_model()
    env.cr.execute(
        SQL(
            """
            SELECT s.product_id, f.company_id, s.quantity::float8, f.buffer_type,
                   COALESCE(f.buffer_value, 0)::float8,
                   COALESCE(f.lead_time_days, 0)
              FROM stock_channel_supplier_stock s
              JOIN stock_channel_supplier_feed f ON f.id = s.feed_id
              JOIN product_product pp ON pp.id = s.product_id
              JOIN product_template pt ON pt.id = pp.product_tmpl_id
              JOIN product_category pc ON pc.id = pt.categ_id
             WHERE s.product_id = ANY(%s::int[])
               AND s.quantity > 0
               AND f.active
               AND f.company_id = ANY(%s)
               AND f.last_update >= (now() AT TIME ZONE 'UTC')
                                    - f.freshness_hours * interval '1 hour'
               AND %s
            """,
            product_array,
            list(company_ids),
            DROPSHIP_ROUTE_SQL,
        )
    )
    stock = {}
    for product_id, company_id, qty, buffer_type, value, lead in env.cr.fetchall():
        qty = vendor_buffer(qty, buffer_type, value)
        if qty <= 0:
            continue
        key = (product_id, company_id)
        known = stock.get(key)
        stock[key] = (
            VendorStock(known.qty + qty, max(known.lead_time_days, lead))
            if known
            else VendorStock(qty, lead)
        )
    return stock
