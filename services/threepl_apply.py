"""A stored 3PL event applied as a real stock operation: an adjustment is
a done inventory move between the 3PL's stock location and the product's
inventory-loss location (the reason on the move), a hold or a release a
done move to or from the connection's hold location; goods received and
shipments validate the Odoo receipt or delivery they name
(``services/threepl_pickings.py``). The moves' stock hooks mark every
channel's listings like any other operation."""

from odoo import Command

from .threepl_events import HOLD_CODE, RELEASE_CODE


class EventError(Exception):
    """A problem a retry cannot fix: the event goes to Error."""


class EventWaiting(Exception):
    """A precondition another event may still bring (a shipment before its
    receipt, a receipt before its purchase is confirmed): the event waits,
    in state Waiting, and is tried again when the connection's next event
    is applied (and by the hourly sweep)."""


def apply_event(event):
    """The done ``stock.move`` records of ``event`` (a
    ``stock.channel.threepl.event``, as the connection's technical user), or
    :class:`EventError` / :class:`EventWaiting`, nothing written."""
    # Imported here: it imports this module's exceptions.
    from . import threepl_pickings

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
