"""A 3PL's goods received and shipments applied to Odoo's own transfers.

The receipt or delivery the event names (``order_ref``: the transfer's
reference, else the one open transfer whose source document it is) at the
connection's warehouse gets the quantities the 3PL reports as picked move
lines, and is validated as a person validating a partial transfer and
answering *Create Backorder* would (``button_validate`` with
``skip_backorder``: no wizard): what was not received or shipped stays in a
backorder, unless the operation type never creates one.

The transfer named: by reference, else by source document, or by the sale
or purchase order it comes from.

* Receipt: the good units go into the connection's 3PL stock location, the
  damaged ones into its damaged location (not sellable on any channel).
* Shipment: the units shipped are taken from the quants of the 3PL stock
  location (its sublocations included); the carrier and the tracking
  reference are written on the delivery, whence the shipment job that
  validation enqueues sends them to the sales channels.

Quantities are in the product's unit of measure. A product on several
moves of the transfer fills them in order, each up to its demand, the last
one taking any excess (the 3PL received or shipped more than asked).

A transfer not there yet, still a draft, or a shipment whose units the 3PL
stock location does not hold yet (its receipt not applied yet) raises
:class:`EventWaiting`; a transfer already done or cancelled, a product not
on it, damaged units without a damaged location, or Odoo refusing the
validation raises :class:`EventError`. Nothing is written before either.
"""

import json

from odoo import Command
from odoo.exceptions import UserError, ValidationError
from odoo.tools import float_compare, float_is_zero

from .threepl_errors import EventError, EventWaiting
from .threepl_intake import products_by_sku

CLOSED = ("done", "cancel")
RECEIPT, DELIVERY = "incoming", "outgoing"


def receive(event):
    """``goods_received``: the receipt validated; its done moves."""
    env, connection = event.env, event.connection_id
    picking = find_picking(event, RECEIPT)
    totals = _totals(event)
    moves = _moves_by_product(event, picking, totals)
    damaged_location = connection.damaged_location_id
    if any(damaged for _quantity, damaged in totals.values()):
        if not damaged_location:
            raise EventError(
                env._(
                    "Receipt %(event)s has damaged units but 3PL connection "
                    "%(connection)s has no damaged location: set one (an internal, "
                    "not sellable location of the warehouse), then reprocess.",
                    event=event.business_id,
                    connection=connection.name,
                )
            )
        if not connection._damaged_location_fit():
            raise EventError(
                env._(
                    "The damaged location %(location)s of 3PL connection "
                    "%(connection)s is no longer an internal, not sellable "
                    "location of its warehouse: damaged units would be offered "
                    "for sale. Untick Sellable on Channels on it (or choose "
                    "another), then reprocess.",
                    location=damaged_location.display_name,
                    connection=connection.name,
                )
            )
    for product, (quantity, damaged) in totals.items():
        good = quantity - damaged
        for move, taken in _fill(moves[product], quantity):
            good_here = min(good, taken)
            good -= good_here
            rows = [
                (connection.location_id, good_here),
                (damaged_location, taken - good_here),
            ]
            _set_lines(
                move,
                [
                    _line(move, move.location_id, destination, qty)
                    for destination, qty in rows
                    if not _zero(qty, product)
                ],
            )
    return _validate(event, picking)


def ship(event):
    """``shipment_dispatched``: the delivery validated, with the 3PL's
    carrier and tracking reference; its done moves."""
    env, connection = event.env, event.connection_id
    picking = find_picking(event, DELIVERY)
    totals = _totals(event)
    moves = _moves_by_product(event, picking, totals)
    Quant = env["stock.quant"]
    # Never units on hold or damaged, even kept under the stock location.
    apart = env["stock.location"].search(
        [
            (
                "id",
                "child_of",
                (connection.hold_location_id | connection.damaged_location_id).ids,
            )
        ]
    )
    stock = {}
    for product, (quantity, _damaged) in totals.items():
        quants = Quant._gather(product, connection.location_id).filtered(
            lambda q: q.quantity > 0 and q.location_id not in apart
        )
        on_hand = sum(quants.mapped("quantity"))
        if float_compare(on_hand, quantity, precision_rounding=_rounding(product)) < 0:
            raise EventWaiting(
                env._(
                    "Shipment %(event)s ships %(quantity)s %(product)s but "
                    "%(location)s holds %(on_hand)s: waiting for the receipt or "
                    "adjustment that brings them.",
                    event=event.business_id,
                    quantity=quantity,
                    product=product.display_name,
                    location=connection.location_id.display_name,
                    on_hand=on_hand,
                )
            )
        stock[product] = [[quant, quant.quantity] for quant in quants]
    for product, (quantity, _damaged) in totals.items():
        # Release what Odoo reserved (perhaps elsewhere) before taking the
        # units from where the 3PL holds them.
        moves[product].move_line_ids.unlink()
        for move, taken in _fill(moves[product], quantity):
            _set_lines(
                move,
                [
                    _line(
                        move,
                        quant.location_id,
                        move.location_dest_id,
                        qty,
                        lot_id=quant.lot_id.id,
                        package_id=quant.package_id.id,
                        owner_id=quant.owner_id.id,
                    )
                    for quant, qty in _take(stock[product], taken, product)
                ],
            )
    picking.write(
        {
            "channel_carrier_name": event.carrier or False,
            "channel_tracking_ref": event.tracking_ref or False,
        }
    )
    return _validate(event, picking)


def find_picking(event, code):
    """The open transfer of type ``code`` (incoming, outgoing) of the
    connection's warehouse and company that ``event.order_ref`` names: by
    reference (when that one is done, its one open backorder: a later event
    of a receipt already validated in part), else the one open transfer with
    that source document (or sale or purchase order)."""
    env, connection = event.env, event.connection_id
    Picking = env["stock.picking"]
    domain = [
        ("picking_type_id.code", "=", code),
        ("picking_type_id.warehouse_id", "=", connection.warehouse_id.id),
        ("company_id", "=", connection.company_id.id),
    ]
    ref = event.order_ref
    label = env._("receipt") if code == RECEIPT else env._("delivery")
    picking = Picking.search(domain + [("name", "=", ref)], limit=1)
    if picking.state in CLOSED:
        picking = _open_backorder(picking) or picking
    if not picking:
        found = Picking.search(domain + _origin_domain(Picking, ref), order="id")
        open_ = found.filtered(lambda p: p.state not in CLOSED)
        if len(open_) > 1:
            raise EventError(
                env._(
                    "Several open transfers of warehouse %(warehouse)s come from "
                    "%(ref)s (%(names)s): the 3PL must name one by its reference.",
                    warehouse=connection.warehouse_id.name,
                    ref=ref,
                    names=", ".join(open_.mapped("name")),
                )
            )
        picking = open_ or found[-1:]
    if not picking:
        raise EventWaiting(
            env._(
                "No %(kind)s %(ref)s at warehouse %(warehouse)s (yet).",
                kind=label,
                ref=ref,
                warehouse=connection.warehouse_id.name,
            )
        )
    if picking.state == "draft":
        raise EventWaiting(
            env._(
                "The %(kind)s %(name)s is still a draft.", kind=label, name=picking.name
            )
        )
    if picking.state in CLOSED:
        raise EventError(
            env._(
                "The %(kind)s %(name)s is already %(state)s: nothing to apply.",
                kind=label,
                name=picking.name,
                state=dict(picking._fields["state"]._description_selection(env))[
                    picking.state
                ],
            )
        )
    return picking


def _origin_domain(Picking, ref):
    """Transfers whose source document is ``ref``, or whose sale or purchase
    order is (a sale order's delivery has "<order> - <customer reference>"
    as source document)."""
    domain = [("origin", "=", ref)]
    for field in ("sale_id", "purchase_id"):
        if field in Picking._fields:
            domain = ["|", (f"{field}.name", "=", ref), *domain]
    return domain


def _open_backorder(picking):
    """The one open transfer down the backorder chain of ``picking``."""
    later = picking.backorder_ids
    while later:
        open_ = later.filtered(lambda p: p.state not in CLOSED)
        if open_:
            return open_ if len(open_) == 1 else None
        later = later.backorder_ids
    return None


def _totals(event):
    """``{product: (quantity, damaged)}`` of the event's lines (a product on
    several lines adds up), by the connection's SKU mapping."""
    lines = json.loads(event.payload)["lines"]
    products = products_by_sku(event.connection_id, {line["sku"] for line in lines})
    unknown = sorted({line["sku"] for line in lines} - products.keys())
    if unknown:
        raise EventError(
            event.env._(
                "Unknown SKU(s) %s: no storable product has them any more.",
                ", ".join(unknown),
            )
        )
    totals = {}
    for line in lines:
        product = products[line["sku"]]
        quantity, damaged = totals.get(product, (0, 0))
        totals[product] = (
            quantity + line["quantity"],
            damaged + (line.get("damaged") or 0),
        )
    return totals


def _moves_by_product(event, picking, totals):
    """``{product: its open moves of the picking, in order}``, or
    :class:`EventError` naming the products the picking does not have."""
    moves = picking.move_ids.filtered(lambda m: m.state not in CLOSED).sorted(
        lambda m: (m.sequence, m.id)
    )
    strangers = [p for p in totals if p not in moves.product_id]
    if strangers:
        raise EventError(
            event.env._(
                "%(name)s has no open line for %(products)s.",
                name=picking.name,
                products=", ".join(product.display_name for product in strangers),
            )
        )
    return {
        product: moves.filtered(lambda m, product=product: m.product_id == product)
        for product in totals
    }


def _fill(moves, quantity):
    """``[(move, quantity)]``: each move up to its demand, in order, the
    last one the rest."""
    shares, rest = [], quantity
    for index, move in enumerate(moves):
        taken = rest if index == len(moves) - 1 else min(rest, move.product_qty)
        shares.append((move, taken))
        rest -= taken
    return shares


def _take(pool, quantity, product):
    """``[(quant, quantity)]`` taken from ``pool`` (``[[quant, left]]``, in
    removal order), which keeps what is left."""
    rows = []
    for entry in pool:
        if _zero(quantity, product) or quantity < 0:
            break
        taken = min(entry[1], quantity)
        if not _zero(taken, product):
            rows.append((entry[0], taken))
            entry[1] -= taken
            quantity -= taken
    return rows


def _line(move, source, destination, quantity, **extra):
    return {
        "product_id": move.product_id.id,
        "product_uom_id": move.product_id.uom_id.id,
        "quantity": quantity,
        "location_id": source.id,
        "location_dest_id": destination.id,
        "picking_id": move.picking_id.id,
        "company_id": move.company_id.id,
        "picked": True,
        **extra,
    }


def _set_lines(move, lines):
    """The move's lines replaced by ``lines``: picked when there are any,
    else left unpicked (its demand goes to the backorder)."""
    move.move_line_ids.unlink()
    if lines:
        move.write(
            {"move_line_ids": [Command.create(vals) for vals in lines], "picked": True}
        )


def _validate(event, picking):
    """Validate ``picking`` without wizard, the rest in a backorder; a
    refusal of Odoo (a lot or serial number missing...) as
    :class:`EventError`. Returns the moves done."""
    env = event.env
    picking.message_post(
        body=env._(
            "Validated from 3PL %(connection)s: %(kind)s %(event)s.",
            connection=event.connection_id.name,
            kind=dict(event._fields["kind"]._description_selection(env))[event.kind],
            event=event.business_id,
        )
    )
    try:
        answer = picking.with_context(skip_backorder=True).button_validate()
    except (UserError, ValidationError) as exc:
        raise EventError(
            env._(
                "%(name)s could not be validated: %(reason)s",
                name=picking.name,
                reason=exc.args[0] if exc.args else exc,
            )
        ) from exc
    if picking.state != "done":
        # Another module's pre-validation wizard (the answer is its action).
        raise EventError(
            env._(
                "%(name)s was not validated: Odoo asks a question first (%(what)s).",
                name=picking.name,
                what=isinstance(answer, dict) and answer.get("name") or answer,
            )
        )
    return picking.move_ids.filtered(lambda m: m.state == "done")


def _rounding(product):
    return product.uom_id.rounding


def _zero(quantity, product):
    return float_is_zero(quantity, precision_rounding=_rounding(product))
