"""The stock side of a stored return, in its job: fewer left to deliver for
cancelled lines, Odoo's own return receipt for returned lines, and a draft
credit note when the sale order was invoiced.

The receipt is made by Odoo's return wizard (``stock.return.picking``) on
the order's done deliveries, into the warehouse's returns location (not
sellable); it is confirmed and Ready, never validated here: the warehouse
validates it when the goods arrive, which puts its lines up for
inspection.
"""

from odoo import Command
from odoo.exceptions import UserError
from odoo.tools import float_compare, float_is_zero

from . import return_guard
from .return_intake import moved_qty
from .shipped import shipped_pickings


@return_guard.trusted()
def process(channel_return):
    """All of a return's stock work, or nothing (the caller's savepoint);
    the job is the addon's own code, trusted to write the return's ledger
    (``return_guard``)."""
    lines = channel_return.line_ids
    apply_cancellations(
        lines.filtered(lambda line: line.unshipped and not line.applied)
    )
    build_receipts(
        channel_return,
        lines.filtered(
            lambda line: line.restock_type == "return"
            and line.state == "to_receive"
            and not line.receipt_move_ids
        ),
    )
    draft_credit_note(channel_return)
    channel_return.state = "open"
    channel_return._refresh_state()


def apply_cancellations(lines):
    """Refunded, never shipped (``cancel``, or the unshipped part of a
    marketplace's ``no_restock``): the sale order's lines ask for less (its
    delivery follows, Odoo's own decrease) or, before the sale order
    exists, the order's promised lines shrink. Either way a promise is
    released: the listings of every channel sharing the warehouses are
    marked, like any stock change, so the higher quantity publishes."""
    if not lines:
        return
    order = lines.order_id
    sale = order.sale_order_id
    products = set(lines.product_id.ids)
    if sale and sale.state == "sale":
        locked = sale.locked
        if locked:
            sale.action_unlock()
        for line in lines:
            remaining = line.product_qty
            for sale_line in sale.order_line.filtered(
                lambda s, p=line.product_id: s.product_id == p
            ):
                left = sale_line.product_uom_qty - sale_line.qty_delivered
                taken = min(left, remaining)
                if taken > 0:
                    sale_line.product_uom_qty -= taken
                    remaining -= taken
        if locked:
            sale.action_lock()
    else:
        for line in lines:
            order_line = line.order_line_id
            order_line.write(
                {
                    "product_qty": max(order_line.product_qty - line.product_qty, 0),
                    "channel_qty": max(order_line.channel_qty - line.channel_qty, 0),
                }
            )
    # Not left to Odoo's decrease alone (whose writes reach the marking only
    # when they touch a move or quant the marking watches): one set-based
    # INSERT for the listings of these products on every channel sharing a
    # warehouse with the order's, whichever of the two paths ran.
    order._mark_promised(order.channel_id, products)
    lines.write({"applied": True})


def build_receipts(channel_return, lines):
    """One return receipt per delivery that shipped these lines' products,
    through Odoo's return wizard, with as much as each delivery move can
    still take back."""
    if not lines:
        return
    deliveries = shipped_pickings(channel_return.sale_order_id.picking_ids).sorted("id")
    receipts = channel_return.env["stock.picking"]
    # Lines coming back to a mapped marketplace location go to that
    # warehouse's returns location; the others to the delivering one's.
    needed_by_warehouse = {}
    for line in lines:
        needed = needed_by_warehouse.setdefault(line.return_warehouse_id, {})
        needed[line.product_id] = needed.get(line.product_id, 0.0) + line.product_qty
    left = []
    for warehouse, needed in needed_by_warehouse.items():
        for delivery in deliveries:
            receipt = _return_of(delivery, needed, warehouse or None)
            if receipt:
                receipts |= receipt
        left += needed.values()
    if any(not float_is_zero(q, precision_digits=4) for q in left):
        raise UserError(
            channel_return.env._(
                "Return %s: the order's deliveries cannot take back what was "
                "returned (already returned in Odoo?).",
                channel_return.external_id,
            )
        )
    channel_return.picking_ids = [Command.link(p.id) for p in receipts]
    for line in lines:
        moves = receipts.move_ids.filtered(
            lambda m, p=line.product_id: m.product_id == p
        )
        line.write(
            {
                "receipt_move_ids": [Command.set(moves.ids)],
                "receipt_picking_id": moves.picking_id[:1].id,
            }
        )


def _return_of(delivery, needed, warehouse=None):
    """The return receipt of ``delivery`` for what is still ``needed``
    (updated), or None when it shipped none of it; into the returns
    location of ``warehouse``, else of the delivery's."""
    warehouse = warehouse or delivery.picking_type_id.warehouse_id
    location = warehouse._channel_returns_location()
    wizard = (
        delivery.env["stock.return.picking"]
        .with_context(channel_return_location_id=location.id)
        .create({"picking_id": delivery.id})
    )
    taken = False
    for wizard_line in wizard.product_return_moves:
        move, product = wizard_line.move_id, wizard_line.product_id
        want = needed.get(product, 0.0)
        if not move or float_compare(want, 0, precision_digits=4) <= 0:
            continue
        already = sum(
            move.returned_move_ids.filtered(lambda m: m.state != "cancel").mapped(
                "product_qty"
            )
        )
        quantity = min(want, moved_qty(move) - already)
        if quantity > 0:
            wizard_line.quantity = quantity
            needed[product] = want - quantity
            taken = True
    if not taken:
        return None
    return wizard._create_return()


def draft_credit_note(channel_return):
    """A draft credit note for the refunded lines that were delivered
    (returned, or refunded without return) when the sale order has a posted
    invoice; never posted here (an accountant reviews it).

    Lines that never shipped are left out: they lowered the sale order's
    quantity, so Odoo's own invoicing already settles them (under
    order-based invoicing the sale order then shows the surplus to credit;
    under delivery-based invoicing it was never invoiced). Crediting them
    here too would credit the customer twice.

    ``sudo()``: the channel's technical user sells but does not invoice
    (Sales: User reads invoices only); narrow: one draft credit note of
    the sale order's own invoice, prices and taxes from its lines."""
    sale = channel_return.sale_order_id
    if not sale or channel_return.credit_note_id:
        return
    invoice = sale.invoice_ids.filtered(
        lambda m: m.move_type == "out_invoice" and m.state == "posted"
    ).sorted("id")[-1:]
    if not invoice:
        return
    invoice_lines = []
    for line in channel_return.line_ids.filtered(lambda line: not line.unshipped):
        sale_line = sale.order_line.filtered(
            lambda s, p=line.product_id: s.product_id == p and not s.display_type
        )[:1]
        if not sale_line:
            continue
        quantity = line.product_id.uom_id._compute_quantity(
            line.product_qty, sale_line.product_uom
        )
        invoice_lines.append(
            Command.create(
                {
                    "product_id": line.product_id.id,
                    "name": sale_line.name,
                    "quantity": quantity,
                    "product_uom_id": sale_line.product_uom.id,
                    "price_unit": sale_line.price_unit,
                    "discount": sale_line.discount,
                    "tax_ids": [Command.set(sale_line.tax_id.ids)],
                    "sale_line_ids": [Command.set(sale_line.ids)],
                }
            )
        )
    if not invoice_lines:
        return
    invoice_sudo = invoice.sudo()
    credit_note = (
        invoice_sudo.env["account.move"]
        .with_company(invoice_sudo.company_id)
        .create(
            {
                "move_type": "out_refund",
                "partner_id": invoice_sudo.partner_id.id,
                "journal_id": invoice_sudo.journal_id.id,
                "currency_id": invoice_sudo.currency_id.id,
                "fiscal_position_id": invoice_sudo.fiscal_position_id.id,
                "reversed_entry_id": invoice_sudo.id,
                "invoice_origin": sale.name,
                "ref": channel_return.env._(
                    "Channel refund %s", channel_return.external_id
                ),
                "invoice_line_ids": invoice_lines,
            }
        )
    )
    channel_return.credit_note_id = credit_note.id
