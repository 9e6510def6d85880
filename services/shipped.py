"""What "shipped" means, in one place: a *done* picking of Odoo's delivery
type (``outgoing``: a delivery order, the last step of a multi-step
delivery), and the moves of such pickings. Shipments sent to marketplaces,
what a return can take back, what a cancellation refuses and what a return
ledger counts as delivered all read it here."""

from odoo.tools import SQL

DELIVERY_CODE = "outgoing"


def shipped_pickings(pickings):
    """Those of ``pickings`` that shipped."""
    return pickings.filtered(
        lambda p: p.state == "done" and p.picking_type_code == DELIVERY_CODE
    )


def is_delivery_move(move):
    """Whether ``move`` belongs to a delivery (done or not): the step that
    takes the goods to the customer."""
    return move.picking_code == DELIVERY_CODE


def shipped_sql(picking, picking_type):
    """SQL: picking alias ``picking`` (of type alias ``picking_type``)
    shipped. Aliases are written in code, never input."""
    return SQL(
        "%s = 'done' AND %s = %s",
        SQL.identifier(picking, "state"),
        SQL.identifier(picking_type, "code"),
        DELIVERY_CODE,
    )
