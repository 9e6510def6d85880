"""Drop-ship orders: what a channel order asks beyond the own stock of its
warehouse is sold on the dropship route.

On a channel that sells drop-ship stock (``sell_dropship``), a sale order
line whose product ships drop-ship (the dropship route on the product or its
category, and a vendor) and whose quantity exceeds the warehouse's free
stock is split in two: the own-stock part on the warehouse's delivery
route, the rest with ``route_id`` the dropship route. Confirming the sale
order then makes Odoo (``purchase_stock``) create the purchase order to the
vendor, as for a drop-ship line entered by hand.

The own-stock part names the delivery route because Odoo prefers a
product's (or category's) routes to the warehouse's: without it, a product
carrying the dropship route would be drop-shipped whole, own stock or not.
So a drop-ship product's line covered by own stock gets the delivery route
too, and nothing else. A product that cannot be drop-shipped is left as it
is (it backorders as before), and so is every line on a channel without the
option (Odoo then routes it as it always does).

Odoo's ``stock_dropshipping`` is a soft dependency: without it (or without a
dropship rule for the company) the lines are returned unchanged, and no query
runs.

Free stock is what the ATP engine counts as free (``services/atp.py``): on
hand minus reserved in the warehouse's internal sellable locations, read for
every product of the order in one query. Lines of the same product share it
in order.
"""

from odoo.tools import float_compare, float_is_zero

from .atp import AtpEngine

DROPSHIP_ROUTE = "stock_dropshipping.route_drop_shipping"


def dropship_route(env, company):
    """The dropship route when ``stock_dropshipping`` is installed and the
    route is active with a rule of ``company``; else ``None``."""
    route = env.ref(DROPSHIP_ROUTE, raise_if_not_found=False)
    if not route or not route.active:
        return None
    rules = route.rule_ids.filtered(
        lambda r: not r.company_id or r.company_id == company
    )
    return route if rules else None


def ships_dropship(product, route, company):
    """The product carries the dropship route (its own or its category's,
    parents included) and has a vendor for ``company``."""
    routes = product.route_ids | product.categ_id.total_route_ids
    if route not in routes:
        return False
    return bool(
        product.seller_ids.filtered(
            lambda s: (not s.company_id or s.company_id == company)
            and (not s.product_id or s.product_id == product)
        )
    )


def allocate(lines, free, own_route_id, dropship_route_id, rounding):
    """Pure split of sale order line values: ``lines`` (dicts with
    ``product_id`` and ``product_uom_qty``), ``free`` ``{product id: free
    quantity}`` for the products that ship drop-ship (others are absent),
    ``rounding`` ``{product id: unit rounding}``. Returns new line values:
    each drop-ship product's line takes what is left of its free stock on
    ``own_route_id`` (none: no route), the rest goes on a copy on
    ``dropship_route_id``."""
    own_vals = {"route_id": own_route_id} if own_route_id else {}
    left = {product_id: max(qty, 0.0) for product_id, qty in free.items()}
    result = []
    for line in lines:
        product_id = line["product_id"]
        if product_id not in left:
            result.append(line)
            continue
        precision = rounding[product_id]
        qty = line["product_uom_qty"]
        own = min(qty, left[product_id])
        rest = qty - own
        left[product_id] -= own
        if float_compare(rest, 0, precision_rounding=precision) <= 0:
            result.append(dict(line, **own_vals))
            continue
        if not float_is_zero(own, precision_rounding=precision):
            result.append(dict(line, product_uom_qty=own, **own_vals))
        result.append(dict(line, product_uom_qty=rest, route_id=dropship_route_id))
    return result


def split_lines(env, channel, warehouse, lines):
    """``lines`` (sale order line values) with the part beyond the own free
    stock of ``warehouse`` on the dropship route, when the channel sells
    drop-ship stock and ``stock_dropshipping`` is installed; else unchanged."""
    if not (channel.sell_dropship and warehouse and lines):
        return lines
    company = warehouse.company_id
    route = dropship_route(env, company)
    if not route:
        return lines
    products = env["product.product"].browse({line["product_id"] for line in lines})
    products = products.filtered(lambda p: ships_dropship(p, route, company))
    if not products:
        return lines
    stock = AtpEngine(env).free_stock([warehouse.id], products.ids)
    free = {
        product.id: stock.get((product.id, warehouse.id), 0.0) for product in products
    }
    rounding = {product.id: product.uom_id.rounding for product in products}
    own_route = warehouse.delivery_route_id
    return allocate(lines, free, own_route.id, route.id, rounding)
