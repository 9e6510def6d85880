"""Shipments back to the channel: which validated deliveries belong to
channel orders, what shipped in each line's channel unit, and the call to
the channel's adapter (retried like publications)."""

from odoo import fields
from odoo.exceptions import UserError
from odoo.tools import SQL

from odoo.addons.queue_job.exception import RetryableJobError

from ..adapters.base import PermanentError, TransientError
from . import jobs
from .shipped import shipped_sql


def enqueue(env, pickings):
    """One job per (channel order, done outgoing picking), run as the
    channel's technical user (``services/jobs.py``). Found in SQL: the
    stock user validating needs no channel rights."""
    if not pickings:
        return
    env["stock.channel.order"].flush_model(["sale_order_id"])
    pickings.flush_recordset(["state", "sale_id", "picking_type_id"])
    env.cr.execute(
        SQL(
            """
            SELECT o.id, p.id, c.user_id, o.company_id
              FROM stock_picking p
              JOIN stock_picking_type t ON t.id = p.picking_type_id
              JOIN stock_channel_order o ON o.sale_order_id = p.sale_id
              JOIN stock_channel c ON c.id = o.channel_id
             WHERE p.id = ANY(%s) AND %s
            """,
            pickings.ids,
            shipped_sql("p", "t"),
        )
    )
    Order = env["stock.channel.order"]
    for order_id, picking_id, user_id, company_id in env.cr.fetchall():
        order = Order.with_user(user_id).with_company(company_id).browse(order_id)
        order._set_shipment_state("pending")
        jobs.enqueue("ship", order, picking_id)


def send(order, picking):
    """Tell the channel; a transient failure retries the job, a refusal
    fails it and leaves the shipment 'failed'."""
    adapter = order.channel_id._get_adapter()
    try:
        outcome = adapter.push_shipment(
            payload(order, picking), order.correlation_id or ""
        )
    except TransientError as exc:
        raise RetryableJobError(str(exc), seconds=exc.retry_after) from exc
    except PermanentError as exc:
        order._set_shipment_failed(str(exc))
        raise UserError(str(exc)) from exc
    order._set_shipment_state("sent", outcome.excerpt)
    return f"shipment sent: HTTP {outcome.status}"


def payload(order, picking):
    """What shipped, per order line in its channel unit, with carrier and
    tracking when the ``delivery`` module provides them, else those a 3PL
    reported for the delivery."""
    shipped = {}
    for move in picking.move_ids.filtered(lambda m: m.state == "done"):
        shipped[move.product_id.id] = (
            shipped.get(move.product_id.id, 0) + move.product_qty
        )
    lines = []
    # Several order lines may ship one product (units and cases of 6):
    # fill them in order, each in its own channel unit.
    for line in order.line_ids:
        taken = min(shipped.get(line.product_id.id, 0), line.product_qty)
        if taken > 0:
            shipped[line.product_id.id] -= taken
            pack = line.product_qty / line.channel_qty if line.channel_qty else 1
            lines.append({"sku": line.sku, "quantity": taken / pack})
    carrier = picking["carrier_id"].name if "carrier_id" in picking._fields else ""
    tracking = (
        picking["carrier_tracking_ref"]
        if "carrier_tracking_ref" in picking._fields
        else ""
    )
    # A delivery a 3PL shipped: the carrier and tracking it reported
    # (``services/threepl_pickings.py``), unless the delivery module has some.
    carrier = carrier or picking.channel_carrier_name
    tracking = tracking or picking.channel_tracking_ref
    return {
        "external_id": order.external_id,
        "carrier": carrier or "",
        "tracking_ref": tracking or "",
        "tracking_url": "",
        "lines": lines,
        "idempotency_key": "-".join(
            (order.channel_id.code, order.external_id, str(picking.id))
        ),
        # For adapters that address the marketplace's own order lines
        # (Amazon's order item ids): the order as stored at intake, and a
        # numeric package reference unique within the order.
        "order_payload": order.payload or "",
        "package_ref": str(picking.id),
        "shipped_at": fields.Datetime.to_string(
            picking.date_done or fields.Datetime.now()
        ),
    }
