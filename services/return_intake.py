"""Return intake: one authenticated return or refund of a channel order,
checked against what the order delivered and stored once, in the request.

Like the order intake it returns an :class:`~.outcomes.Outcome`, never
an HTTP code, and writes nothing unless the outcome is ``accepted``: the
stock work (the return receipt, fewer left to deliver, a draft credit note)
happens in a job (``return_receipts``).
"""

from odoo.tools import SQL, float_compare

from ..adapters.base import location_key
from . import jobs, return_guard
from .exactly_once import NOW_UTC, insert_once
from .outcomes import Outcome
from .payloads import InvalidJson, parse_json
from .return_payloads import InvalidReturn, generic_return, validate_return
from .shipped import is_delivery_move

# Quantities compared to 4 decimals (product units).
PRECISION = 4


def receive_generic(order, body):
    """The generic contract's ``POST .../orders/<id>/returns`` body."""
    try:
        data = parse_json(body)
    except InvalidJson:
        return Outcome("invalid_json", {"error": "invalid_json"})
    try:
        canonical = validate_return(generic_return(data), generic=True)
    except InvalidReturn as exc:
        return invalid(exc)
    return store(order, canonical, "generic")


def invalid(exc):
    return Outcome(
        "invalid_return", {"error": "invalid_return", "details": exc.details}
    )


def store(order, canonical, source):
    """Store the (validated) canonical return of ``order`` once per
    (channel, return id) and enqueue its job: ``accepted``, ``duplicate``,
    ``invalid_return`` or ``concurrent_delivery``."""
    env, channel = order.env, order.channel_id
    stored = stored_return(env.cr, channel, canonical["return_id"])
    if stored:
        return Outcome("duplicate", stored)
    claim(env.cr, order)
    try:
        lines = resolve(order, canonical, source)
    except InvalidReturn as exc:
        return invalid(exc)
    inserted = insert_return(
        order,
        canonical["return_id"],
        source,
        read=lambda cr: stored_return(cr, channel, canonical["return_id"]),
    )
    if not inserted.created:
        # A concurrent delivery stored it after this request's lookup.
        if inserted.stored:
            return Outcome("duplicate", inserted.stored)
        return Outcome("concurrent_delivery", {"error": "concurrent_delivery"})
    return_id = inserted.id
    with return_guard.trusted():
        env["stock.channel.return.line"].create(
            [dict(line, channel_return_id=return_id) for line in lines]
        )
    # One job per stored return (inserted once, so enqueued once;
    # *Reprocess* enqueues again, as the ``retry`` variant).
    jobs.enqueue("return", order.with_company(channel.company_id), return_id)
    return Outcome(
        "accepted",
        {
            "status": "accepted",
            "return_id": canonical["return_id"],
            "external_id": order.external_id,
            "id": return_id,
        },
    )


def record_amount_only(order, external_id):
    """A refund of an amount, no line: stored (done) so that it is known,
    nothing to receive or release."""
    return_id = insert_return(order, external_id, order.channel_id.adapter).id
    if return_id:
        with return_guard.trusted():
            order.env["stock.channel.return"].browse(return_id).state = "done"
    return return_id


def claim(cr, order):
    """Touch the order's row before reading what it can still take back:
    two different returns of one order at the same moment are serialized
    (the later one fails to update the row and is retried by Odoo from the
    start, seeing the first's lines), so together they never take back more
    than was delivered."""
    cr.execute(
        SQL(
            "UPDATE stock_channel_order SET write_date = now() at time zone 'UTC'"
            " WHERE id = %s",
            order.id,
        )
    )


def stored_return(cr, channel, external_id):
    """The duplicate answer for a return already stored, or None."""
    cr.execute(
        SQL(
            """SELECT r.id, r.state, o.external_id
                 FROM stock_channel_return r
                 JOIN stock_channel_order o ON o.id = r.order_id
                WHERE r.channel_id = %s AND r.external_id = %s""",
            channel.id,
            external_id,
        )
    )
    row = cr.fetchone()
    if not row:
        return None
    return {
        "status": "duplicate",
        "return_id": external_id,
        "state": row[1],
        "return": row[0],
        "external_id": row[2],
    }


def known_returns(cr, channel, external_ids):
    """Which of these return ids the channel already stored."""
    cr.execute(
        SQL(
            """SELECT external_id FROM stock_channel_return
                WHERE channel_id = %s AND external_id = ANY(%s)""",
            channel.id,
            list(external_ids),
        )
    )
    return {row[0] for row in cr.fetchall()}


def insert_return(order, external_id, source, read=None):
    """Store the return once per (channel, return id), as the order intake
    stores an order (:func:`.exactly_once.insert_once`). ``read(cr)`` reads
    the return stored by another request: an
    :class:`~.exactly_once.Inserted`."""
    return insert_once(
        order.env,
        "stock_channel_return",
        {
            "channel_id": order.channel_id.id,
            "company_id": order.company_id.id,
            "order_id": order.id,
            "external_id": external_id,
            "source": source,
            "state": "received",
            "received_at": NOW_UTC,
        },
        ("channel_id", "external_id"),
        read=read,
    )


class Ledger:
    """What the order can still take back, per product, in product units:
    delivered (done moves to customers), still to deliver, and what earlier
    returns of this order already took.

    Every earlier line counts whatever its state: a line of which nothing
    arrived (*Cancelled*) still consumed its goods, or the same goods could
    be returned, and refunded, once more under another return id."""

    def __init__(self, order):
        self.delivered, self.to_deliver = quantities(order)
        # A cancelled order promises nothing any more: its refunded,
        # unshipped lines are recorded, already released.
        self.released = order.state == "cancelled"
        self.returned, self.cancelling = {}, {}
        earlier = order.env["stock.channel.return.line"].search(
            [("order_id", "=", order.id)]
        )
        for line in earlier:
            if line.unshipped:
                # Applied: already out of what is left to deliver.
                if not line.applied:
                    self._add(self.cancelling, line.product_id.id, line.product_qty)
            else:
                self._add(self.returned, line.product_id.id, line.product_qty)

    @staticmethod
    def _add(figures, product_id, quantity):
        figures[product_id] = figures.get(product_id, 0.0) + quantity

    def returnable(self, product_id):
        return self.delivered.get(product_id, 0.0) - self.returned.get(product_id, 0.0)

    def cancellable(self, product_id):
        return self.to_deliver.get(product_id, 0.0) - self.cancelling.get(
            product_id, 0.0
        )

    def take(self, product_id, unshipped, quantity):
        self._add(self.cancelling if unshipped else self.returned, product_id, quantity)


def quantities(order):
    """``(delivered, still to deliver)`` per product: the sale order's done
    and open moves to customers, or, before the sale order exists, the
    order's promised lines; for a cancelled order (nothing shipped), what
    it had ordered.

    In a multi-step delivery the open step nearest the customer counts: the
    ship move, or before it exists the pick (Odoo 18 creates the next step
    when the one before is done; the pick's final destination is the
    customer), never both for the same units."""
    delivered, to_deliver = {}, {}
    sale = order.sale_order_id
    if order.state == "cancelled":
        for line in order.line_ids:
            Ledger._add(to_deliver, line.product_id.id, line.product_qty)
    elif sale and sale.state == "sale":
        for move in sale.order_line.move_ids:
            if move.state == "cancel":
                continue
            if is_delivery_move(move):
                if move.state == "done":
                    Ledger._add(delivered, move.product_id.id, moved_qty(move))
                else:
                    Ledger._add(to_deliver, move.product_id.id, move.product_qty)
            elif _first_open_step(move):
                Ledger._add(to_deliver, move.product_id.id, move.product_qty)
    elif order.state in ("received", "error"):
        for line in order.line_ids:
            Ledger._add(to_deliver, line.product_id.id, line.product_qty)
    return delivered, to_deliver


def _first_open_step(move):
    """An open move of a delivery's earlier step (a pick) bound for the
    customer whose next step does not exist yet or is over: its units are
    still to deliver and no later open move carries them."""
    return (
        move.state != "done"
        and move.location_final_id.usage == "customer"
        and not move.move_dest_ids.filtered(lambda m: m.state not in ("done", "cancel"))
    )


def moved_qty(move):
    """What a done move moved, in the product's unit."""
    return move.product_uom._compute_quantity(move.quantity, move.product_id.uom_id)


def resolve(order, canonical, source):
    """Return line values for the order's lines named by SKU or by the
    marketplace's line id, within what can be taken back; every problem at
    once (:class:`InvalidReturn`). ``auto`` lines (WooCommerce) are returns
    up to what was delivered, cancellations beyond; a marketplace's
    ``no_restock`` takes what is still to deliver first (see
    :func:`_split`)."""
    by_ref, by_sku = {}, {}
    for line in order.line_ids:
        by_sku.setdefault(line.sku, line)
        if line.external_line_id:
            by_ref[line.external_line_id] = line
    ledger = Ledger(order)
    mapped = _mapped_warehouses(order.channel_id)
    errors, values = [], []
    for index, line in enumerate(canonical["lines"]):
        where = f"lines[{index}]"
        order_line = by_ref.get(line["line_id"]) or by_sku.get(line["sku"])
        if not order_line:
            name = line["sku"] or line["line_id"]
            errors.append(
                {"field": f"{where}.sku", "message": f"'{name}' is not on the order"}
            )
            continue
        pack = _pack(order_line)
        product = order_line.product_id.id
        wanted = line["quantity"] * pack
        parts = _split(ledger, product, line["restock_type"], wanted, source)
        if parts is None:
            errors.append(
                {
                    "field": f"{where}.quantity",
                    "message": _too_much(
                        ledger, product, line["restock_type"], pack, source
                    ),
                }
            )
            continue
        for restock_type, quantity, unshipped in parts:
            ledger.take(product, unshipped, quantity)
            values.append(
                {
                    "order_line_id": order_line.id,
                    "product_id": product,
                    "sku": order_line.sku,
                    "channel_qty": quantity / pack,
                    "product_qty": quantity,
                    "reason": line["reason"],
                    "restock_type": restock_type,
                    "state": "to_receive" if restock_type == "return" else "recorded",
                    "location_ref": line.get("location"),
                    "return_warehouse_id": mapped.get(
                        location_key(line.get("location"))
                    ),
                    "unshipped": unshipped,
                    "applied": unshipped and ledger.released,
                }
            )
    if errors:
        raise InvalidReturn(errors)
    return values


def _mapped_warehouses(channel):
    """``{location key: warehouse id}`` of a channel that publishes per
    location: where a returned item named by its location comes back to."""
    if not channel.publish_per_location:
        return {}
    return {
        location_key(m.location_ref): m.warehouse_id.id for m in channel.location_ids
    }


def _pack(order_line):
    if order_line.channel_qty:
        return order_line.product_qty / order_line.channel_qty
    return order_line.listing_id.pack_size or 1.0


def _split(ledger, product, restock_type, wanted, source):
    """``[(restock type, product quantity, unshipped)]`` or None when more
    than the order can take back.

    A marketplace's ``no_restock`` (Shopify) refunds what has not shipped
    yet first: the marketplace removes those units from fulfilment, so they
    must stop shipping here too (an unshipped line, like ``cancel``); only
    the rest is a refund of delivered goods, recorded. The generic
    contract's ``restock: false`` is a refund of delivered goods only."""
    returnable = ledger.returnable(product)
    cancellable = ledger.cancellable(product)
    if restock_type == "auto":
        returned = max(min(wanted, returnable), 0.0)
        parts = [("return", returned, False), ("cancel", wanted - returned, True)]
        if _more(wanted - returned, cancellable):
            return None
    elif restock_type == "no_restock" and source != "generic":
        unshipped = max(min(wanted, cancellable), 0.0)
        parts = [
            ("no_restock", unshipped, True),
            ("no_restock", wanted - unshipped, False),
        ]
        if _more(wanted - unshipped, returnable):
            return None
    else:
        unshipped = restock_type == "cancel"
        if _more(wanted, cancellable if unshipped else returnable):
            return None
        parts = [(restock_type, wanted, unshipped)]
    return [part for part in parts if _more(part[1], 0.0)]


def _more(quantity, limit):
    return float_compare(quantity, limit, precision_digits=PRECISION) > 0


def _too_much(ledger, product, restock_type, pack, source):
    if restock_type == "cancel":
        left = ledger.cancellable(product)
        what = "still to deliver"
    elif restock_type == "no_restock" and source != "generic":
        left = ledger.cancellable(product) + max(ledger.returnable(product), 0)
        what = "ordered and not refunded yet"
    else:
        left = ledger.returnable(product)
        what = "delivered and not returned yet"
    return f"more than {what} ({max(left, 0) / pack:g})"
