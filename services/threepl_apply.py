"""A stored 3PL event applied as a real stock operation: an adjustment is
a done inventory move between the 3PL's stock location and the product's
inventory-loss location (the reason on the move), a hold or a release a
done move to or from the connection's hold location; goods received and
shipments validate the Odoo receipt or delivery they name
(``services/threepl_pickings.py``). The moves' stock hooks mark every
channel's listings like any other operation."""

from odoo import Command
from odoo.tools import float_compare

from . import threepl_pickings
from .threepl_errors import EventError, EventWaiting
from .threepl_events import HOLD_CODE, RELEASE_CODE


def apply_event(event):
    """The done ``stock.move`` records of ``event`` (a
    ``stock.channel.threepl.event``, as the connection's technical user), or
    :class:`EventError` / :class:`EventWaiting`, nothing written."""
    apply = {
        "adjustment": apply_adjustment,
        "goods_received": threepl_pickings.receive,
        "shipment_dispatched": threepl_pickings.ship,
    }.get(event.kind)
    if apply is None:
        raise EventError(event.env._("Unknown 3PL event type %s.", event.kind))
    return apply(event)


def apply_adjustment(event):
    """An adjustment, a hold or a release: one done move."""
    connection = event.connection_id
    product = event.product_id
    if not product:
        raise EventError(event.env._("The event names no product."))
    stock, hold = connection.location_id, connection.hold_location_id
    quantity = event.quantity
    reason = event.reason_code or ""
    if reason in (HOLD_CODE, RELEASE_CODE):
        if not hold:
            raise EventError(
                event.env._("3PL connection %s has no hold location.", connection.name)
            )
        source, destination = (stock, hold) if reason == HOLD_CODE else (hold, stock)
        inventory = False
        _wait_for_stock(event, product, source, quantity)
    else:
        loss = product.with_company(connection.company_id).property_stock_inventory
        source, destination = (loss, stock) if quantity > 0 else (stock, loss)
        inventory = True
    label = event.env._(
        "3PL %(connection)s: %(event)s (reason %(reason)s)",
        connection=connection.code,
        event=event.business_id,
        reason=reason or "-",
    )
    move = event.env["stock.move"].create(
        {
            "name": label,
            "origin": f"{connection.code}/{event.business_id}",
            "product_id": product.id,
            "product_uom": product.uom_id.id,
            "product_uom_qty": abs(quantity),
            "location_id": source.id,
            "location_dest_id": destination.id,
            "company_id": connection.company_id.id,
            "is_inventory": inventory,
            "picked": True,
            "move_line_ids": [
                Command.create(
                    {
                        "product_id": product.id,
                        "product_uom_id": product.uom_id.id,
                        "quantity": abs(quantity),
                        "location_id": source.id,
                        "location_dest_id": destination.id,
                        "company_id": connection.company_id.id,
                    }
                )
            ],
        }
    )
    move._action_done()
    return move


def _wait_for_stock(event, product, location, quantity):
    """A hold or a release moves units that must be there: a release
    before its hold (the 3PL sent them out of order) waits for the hold
    instead of making a negative quant."""
    on_hand = product.with_context(location=location.id).qty_available
    rounding = product.uom_id.rounding
    if float_compare(on_hand, quantity, precision_rounding=rounding) < 0:
        raise EventWaiting(
            event.env._(
                "%(quantity)s %(product)s to move, %(on_hand)s at %(location)s",
                quantity=quantity,
                product=product.display_name,
                on_hand=on_hand,
                location=location.display_name,
            )
        )
