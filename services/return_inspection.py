"""Inspection of returned goods waiting in a warehouse's returns location:
accepted back to its stock (the quant change marks the listings, so the
higher ATP publishes within seconds), moved to its damaged/hold location,
or scrapped. Set-based: one batch of moves for any number of lines."""

from odoo.exceptions import UserError

from . import return_guard


@return_guard.trusted()
def inspect(lines, outcome):
    """``outcome``: ``accepted``, ``damaged`` or ``scrapped``; as the
    warehouse user who inspects, the one path besides the jobs by which a
    line's state changes."""
    if not lines:
        return
    if outcome == "scrapped":
        _scrap(lines)
    else:
        _move(lines, outcome)
    lines.write({"inspected_by_id": lines.env.uid})
    lines.channel_return_id._refresh_state()


def _source(line):
    """The returns location the line's goods were received in."""
    return line.receipt_move_ids.filtered(lambda m: m.state == "done")[
        :1
    ].location_dest_id


def _origin(line):
    return f"{line.channel_return_id.external_id} {line.sku}"


def _move(lines, outcome):
    Move = lines.env["stock.move"]
    values = []
    for line in lines:
        # Where the goods are: the returns location's warehouse (a mapped
        # marketplace location may bring them back elsewhere than shipped).
        warehouse = (
            _source(line).warehouse_id
            or line.receipt_picking_id.picking_type_id.warehouse_id
        )
        destination = (
            warehouse.lot_stock_id
            if outcome == "accepted"
            else warehouse._channel_damaged_location()
        )
        values.append(
            {
                "name": lines.env._("Return inspection %s", _origin(line)),
                "origin": _origin(line),
                "product_id": line.product_id.id,
                "product_uom": line.product_id.uom_id.id,
                "product_uom_qty": line.received_qty,
                "location_id": _source(line).id,
                "location_dest_id": destination.id,
                "picking_type_id": warehouse.int_type_id.id,
                "company_id": line.company_id.id,
            }
        )
    moves = Move.create(values)
    moves._action_confirm()
    moves._action_assign()
    short = moves.filtered(lambda m: m.state != "assigned")
    if short:
        raise UserError(
            lines.env._(
                "Not enough received in the returns location for %s.",
                ", ".join(short.product_id.mapped("display_name")),
            )
        )
    moves.picked = True
    moves._action_done()
    for line, move in zip(lines, moves, strict=True):
        line.write({"state": outcome, "inspection_move_id": move.id})


def _scrap(lines):
    Scrap = lines.env["stock.scrap"]
    for line in lines:
        scrap = Scrap.create(
            {
                "product_id": line.product_id.id,
                "product_uom_id": line.product_id.uom_id.id,
                "scrap_qty": line.received_qty,
                "location_id": _source(line).id,
                "company_id": line.company_id.id,
                "origin": _origin(line),
            }
        )
        scrap.do_scrap()
        line.write(
            {
                "state": "scrapped",
                "scrap_id": scrap.id,
                "inspection_move_id": scrap.move_ids[:1].id,
            }
        )
