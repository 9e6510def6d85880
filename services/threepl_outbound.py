"""Shipping orders to 3PLs: which deliveries become one, what is sent, and
the job that sends each exactly once.

**When.** An outgoing picking of a 3PL connection's warehouse (its type's
warehouse, code ``outgoing``, same company; the connection active, with
*Drives Deliveries* and an API URL) that becomes **Ready** (``assigned``).
Not at *Waiting* (``confirmed``): Odoo's reservation is the allocation
(it knows what every other order holds of the 3PL's stock), so a delivery
goes to the 3PL once Odoo has reserved for it, and asks for **what is
reserved**: a delivery of 10 with 6 reserved ("as soon as possible") is an
order for 6; the 4 left become Odoo's backorder once the 3PL's 945 ships
the 6, a picking of its own with its own name, sent when it is Ready in its
turn. So a 3PL never holds a backorder of ours that Odoo would send again.

**Found cheaply.** ``stock.picking._compute_state`` remembers, in memory,
the outgoing pickings it computes Ready or Cancelled (:func:`collect`); just
before the transaction commits (the cursor's precommit hook, once per
transaction, however many pickings the scheduler reserved) one query finds
those a connection drives, without an order or with one still pending
(:func:`sync`), inserts the missing order rows once each (a unique index on
connection and picking, ``exactly_once.insert_once``), and enqueues one job
per order, coalesced by identity key, as the connection's technical user.

**Sent once.** The job (:func:`send`) builds the document once and stores
it with the order before the first call; every retry sends those same
bytes, with the same ``Idempotency-Key`` (connection code, picking name,
revision) and, in X12, the same ISA13. Each attempt is *claimed* in a
transaction of its own, committed before the call: attempts counted, a lease
(:data:`LEASE_SECONDS`) so that two jobs of one order never call at once,
and the document with its control number stored; the outcome is recorded
the same way, because the job's own transaction is rolled back when it
retries or fails. A 409 from the 3PL ("already exists") counts as sent.

**Cancelled.** A pending or failed order of a picking cancelled in Odoo is
cancelled (nothing reaches the 3PL); one already sent, or being sent, gets a
to-do for the technical user: cancelling at the 3PL is not sent yet (no 940
``F`` / JSON cancel), it is done there by hand.
"""

import json
from datetime import timedelta
from typing import NamedTuple

from odoo import fields
from odoo.exceptions import UserError
from odoo.tools import SQL

from odoo.addons.queue_job.exception import RetryableJobError

from ..adapters.base import PermanentError, TransientError
from ..adapters.threepl.shipping_order import ShippingOrderClient
from ..adapters.x12 import order_940
from . import jobs
from .exactly_once import insert_once

PICKINGS_KEY = "stock_channel_sync.threepl_order_pickings"
#: Longest time one attempt may take (connection, a slow answer, margin):
#: a second job of the same order waits this long before calling again.
LEASE_SECONDS = 300
#: Seconds before a job finding its order leased by another tries again.
LEASED_RETRY_SECONDS = 60
#: X12 unit codes (element 355) of Odoo's standard units of measure.
UOM_CODES = {
    "uom.product_uom_unit": "EA",
    "uom.product_uom_dozen": "DZ",
    "uom.product_uom_kgm": "KG",
    "uom.product_uom_gram": "GR",
    "uom.product_uom_lb": "LB",
    "uom.product_uom_oz": "OZ",
    "uom.product_uom_litre": "LT",
    "uom.product_uom_gal": "GA",
    "uom.product_uom_meter": "MR",
    "uom.product_uom_cm": "CM",
    "uom.product_uom_foot": "FT",
    "uom.product_uom_inch": "IN",
}


class OrderError(Exception):
    """The delivery cannot make a shipping order as it is (no address, a
    product without SKU): a human fixes it, then *Resend*."""


class Claim(NamedTuple):
    """One attempt's right to call: the stored body to send, or None and
    the order's state when this job may not call (sent, cancelled, or
    another attempt in flight: ``leased``)."""

    payload: str | None
    state: str
    leased: bool = False


# -- which deliveries -------------------------------------------------------


def collect(pickings):
    """From ``stock.picking._compute_state``: remember the outgoing pickings
    just computed Ready or Cancelled, in memory only; :func:`flush` handles
    them once, before the transaction commits (a picking computed twice in
    one transaction is judged on its last state, read again then)."""
    found = {"assigned": set(), "cancel": set()}
    for picking in pickings:
        if (
            isinstance(picking.id, int)
            and picking.state in found
            and picking.picking_type_code == "outgoing"
        ):
            found[picking.state].add(picking.id)
    if not any(found.values()):
        return
    env = pickings.env
    data = env.cr.precommit.data
    pending = data.get(PICKINGS_KEY)
    if pending is None:
        pending = data[PICKINGS_KEY] = {"assigned": set(), "cancel": set()}
        env.cr.precommit.add(env["stock.channel.threepl.order"]._flush_pickings)
    for state, ids in found.items():
        pending[state].update(ids)


def flush(env):
    """The precommit step: :func:`sync` the remembered pickings. It runs
    after the transaction's last flush, so what it writes with the ORM
    (cancellations, to-dos) is flushed here."""
    pending = env.cr.precommit.data.pop(PICKINGS_KEY, None)
    if pending:
        sync(env, sorted(pending["assigned"]), sorted(pending["cancel"]))
        env.flush_all()


def sync(env, ready_ids, cancelled_ids=()):
    """Orders for those of ``ready_ids`` a connection drives and that are
    Ready (inserted once, or still pending), one job each; the orders of
    those of ``cancelled_ids`` that are Cancelled, cancelled. Returns the
    orders enqueued."""
    env["stock.picking"].flush_model(["state", "picking_type_id", "company_id"])
    Order = env["stock.channel.threepl.order"].sudo()
    Order.flush_model()
    if cancelled_ids:
        _cancel(env, cancelled_ids)
    if not ready_ids:
        return Order
    env.cr.execute(
        SQL(
            """
            SELECT DISTINCT ON (p.id)
                   p.id, p.name, c.id, c.company_id, c.code, c.protocol, o.id, o.state
              FROM stock_picking p
              JOIN stock_picking_type t ON t.id = p.picking_type_id
              JOIN stock_channel_threepl c
                ON c.warehouse_id = t.warehouse_id AND c.company_id = p.company_id
         LEFT JOIN stock_channel_threepl_order o
                ON o.connection_id = c.id AND o.picking_id = p.id
             WHERE p.id = ANY(%s) AND p.state = 'assigned' AND t.code = 'outgoing'
               AND c.active AND c.drive_deliveries AND c.user_id IS NOT NULL
               AND COALESCE(c.api_url, '') != ''
          ORDER BY p.id, c.id
            """,
            list(ready_ids),
        )
    )
    order_ids = []
    for row in env.cr.fetchall():
        picking_id, name, connection_id, company_id, code, protocol = row[:6]
        order_id, state = row[6:]
        if order_id is None:
            inserted = insert_once(
                env,
                Order._table,
                {
                    "connection_id": connection_id,
                    "company_id": company_id,
                    "picking_id": picking_id,
                    "order_ref": name,
                    "revision": 1,
                    "idempotency_key": idempotency_key(code, name, 1),
                    "message_format": message_format(protocol),
                    "state": "pending",
                    "attempts": 0,
                },
                ["connection_id", "picking_id"],
            )
            # Not created: a concurrent transaction stored it, and enqueues it.
            order_id = inserted.id if inserted.created else None
        elif state != "pending":
            order_id = None
        if order_id:
            order_ids.append(order_id)
    orders = Order.browse(order_ids)
    jobs.enqueue("threepl_order", orders)
    return orders


def _cancel(env, picking_ids):
    """Orders of cancelled pickings: pending or failed ones cancelled (an
    attempt made may have reached the 3PL: a to-do says so), sent or
    in-flight ones a to-do (cancel at the 3PL)."""
    now = fields.Datetime.now()
    env.cr.execute(
        SQL(
            """
            SELECT o.id, o.state, o.attempts,
                   COALESCE(o.sending_until > %s, FALSE)
              FROM stock_channel_threepl_order o
              JOIN stock_picking p ON p.id = o.picking_id
             WHERE o.picking_id = ANY(%s) AND p.state = 'cancel'
               AND o.state IN ('pending', 'sent', 'failed')
            """,
            now,
            list(picking_ids),
        )
    )
    rows = env.cr.fetchall()
    if not rows:
        return
    Order = env["stock.channel.threepl.order"].sudo()
    cancelled = Order.browse(
        [oid for oid, state, _n, leased in rows if state != "sent" and not leased]
    )
    # A failed order was refused: nothing of it is at the 3PL.
    warned = Order.browse(
        [
            oid
            for oid, state, attempts, leased in rows
            if state == "sent" or leased or (state == "pending" and attempts)
        ]
    )
    cancelled._record({"state": "cancelled", "sending_until": False})
    for order in warned:
        order._schedule_todo(
            env._("Cancel 3PL shipping order %s at the 3PL", order.order_ref),
            env._(
                "Delivery %s was cancelled in Odoo after its shipping order was "
                "sent (or may have been) to the 3PL: cancel it there.",
                order.order_ref,
            ),
        )


def idempotency_key(code, picking_name, revision):
    """What the 3PL deduplicates on: one per connection, picking and
    revision (a *Resend* is a new revision: a new document)."""
    return f"{code}:{picking_name}:{revision}"


def message_format(protocol):
    return "x12" if protocol == "x12" else "json"


# -- what is sent -----------------------------------------------------------


def document(order):
    """The shipping order (the JSON body, and what the 940 spells) of the
    order's picking as it is now, or None when nothing is reserved; raise
    :class:`OrderError` with every problem at once."""
    env = order.env
    picking = order.picking_id
    connection = order.connection_id
    problems = []
    partner = picking.partner_id
    if not partner:
        problems.append(env._("Delivery %s has no delivery address.", picking.name))
    else:
        name = partner.name or partner.parent_id.name
        missing = [
            label
            for label, value in (
                (env._("name"), name),
                (env._("street"), partner.street or partner.street2),
                (env._("city"), partner.city),
                (env._("country"), partner.country_id),
            )
            if not value
        ]
        if missing:
            problems.append(
                env._(
                    "The delivery address of %(picking)s has no %(missing)s.",
                    picking=picking.name,
                    missing=", ".join(missing),
                )
            )
    lines = _lines(order, connection, problems)
    if problems:
        raise OrderError("\n".join(problems))
    if not lines:
        return None
    sale = picking.sale_id
    ship_date = ""
    if picking.scheduled_date:
        ship_date = (
            fields.Datetime.context_timestamp(picking, picking.scheduled_date)
            .date()
            .isoformat()
        )
    return {
        "order_ref": picking.name,
        "origin": sale.name or picking.origin or "",
        "ship_to": {
            "name": partner.name or partner.parent_id.name,
            "street": partner.street or "",
            "street2": partner.street2 or "",
            "city": partner.city or "",
            "zip": partner.zip or "",
            "state": partner.state_id.code or "",
            "country": partner.country_id.code or "",
            "phone": partner.phone or partner.mobile or "",
            "email": partner.email or "",
        },
        "carrier": carrier(picking),
        "requested_ship_date": ship_date,
        "lines": lines,
    }


def _lines(order, connection, problems):
    """One line per product, the quantity reserved in the product's unit
    (the unit the 3PL stocks the SKU in)."""
    env = order.env
    reserved = {}
    for move in order.picking_id.move_ids:
        if move.state in ("cancel", "done") or move.quantity <= 0:
            continue
        product = move.product_id
        quantity = move.product_uom._compute_quantity(
            move.quantity, product.uom_id, rounding_method="HALF-UP"
        )
        reserved[product] = reserved.get(product, 0) + quantity
    codes = uom_codes(env)
    sku_label = dict(connection._fields["sku_field"]._description_selection(env))[
        connection.sku_field
    ]
    lines = []
    for number, (product, quantity) in enumerate(reserved.items(), 1):
        sku = product[connection.sku_field]
        if not sku:
            problems.append(
                env._(
                    "Product %(product)s has no %(field)s: the 3PL knows it by it.",
                    product=product.display_name,
                    field=sku_label,
                )
            )
        lines.append(
            {
                "line": number,
                "sku": sku or "",
                "quantity": _json_number(quantity),
                "uom": codes.get(product.uom_id.id) or product.uom_id.name,
            }
        )
    return lines


def uom_codes(env):
    """``{uom id: X12 unit code}`` of the standard units installed."""
    codes = {}
    for xmlid, code in UOM_CODES.items():
        uom = env.ref(xmlid, raise_if_not_found=False)
        if uom:
            codes[uom.id] = code
    return codes


def carrier(picking):
    """The carrier wished: the picking's (the ``delivery`` module's
    ``carrier_id``), else its sale order's, else none."""
    if "carrier_id" in picking._fields and picking["carrier_id"]:
        return picking["carrier_id"].name
    sale = picking.sale_id
    if sale and "carrier_id" in sale._fields and sale["carrier_id"]:
        return sale["carrier_id"].name
    return ""


def _json_number(value):
    return int(value) if float(value).is_integer() else value


# -- the job ----------------------------------------------------------------


def send(order):
    """Job: send the order once; the job's result says what happened. A
    transient failure retries the job (the order stays pending, the attempt
    counted); a refusal, or the last try, fails it: the order is Failed with
    the 3PL's answer and a to-do for the technical user."""
    order.ensure_one()
    if order.state != "pending":
        return f"nothing to do: {order.state}"
    connection = order.connection_id
    if not (connection.active and connection.drive_deliveries and connection.api_url):
        # Sent once the connection drives deliveries again and the delivery
        # is ready again (the hook enqueues pending orders anew).
        return f"waiting: 3PL connection {connection.code} does not drive deliveries"
    picking = order.picking_id
    if picking.state in ("cancel", "done"):
        message = order.env._(
            "Delivery %(picking)s is %(state)s in Odoo: its shipping order is not "
            "sent.",
            picking=picking.name,
            state=dict(picking._fields["state"]._description_selection(order.env))[
                picking.state
            ],
        )
        todo = None
        if order.attempts:
            # An attempt may have reached the 3PL: never resent, a human looks.
            todo = (
                order.env._("Check 3PL shipping order %s", order.order_ref),
                order.env._(
                    "%s An earlier attempt to send it may have reached the 3PL: "
                    "check there.",
                    message,
                ),
            )
        order._write_outcome(
            {"state": "cancelled", "error_message": message, "sending_until": False},
            todo=todo,
        )
        return f"cancelled: the delivery is {picking.state}"
    render = None
    if not order.payload:
        try:
            render = _renderer(order)
        except (OrderError, order_940.OrderRefused) as exc:
            _fail(order, str(exc))
        if render is None:
            return "waiting: nothing reserved"
    claim = order._claim(render)
    if claim.payload is None:
        if claim.leased:
            raise RetryableJobError(
                "another attempt is sending this order", seconds=LEASED_RETRY_SECONDS
            )
        return f"nothing to do: {claim.state}"
    client = ShippingOrderClient(connection._shipping_order_config())
    try:
        answer = client.send(
            claim.payload, order.idempotency_key, edi=order.message_format == "x12"
        )
    except TransientError as exc:
        message = str(exc)
        if _last_try(order):
            _fail(order, message, exc.status, exc.excerpt)
        order._write_outcome(
            {
                "last_status": exc.status or False,
                "response_excerpt": exc.excerpt or False,
                "error_message": message,
                "sending_until": False,
            }
        )
        raise RetryableJobError(message, seconds=exc.retry_after) from exc
    except PermanentError as exc:
        _fail(order, str(exc), exc.status, exc.excerpt)
    order._write_outcome(
        {
            "state": "sent",
            "sent_at": fields.Datetime.now(),
            "last_status": answer.status,
            "response_excerpt": answer.excerpt or False,
            "external_ref": answer.external_ref or False,
            "error_message": False,
            "sending_until": False,
        }
    )
    if answer.duplicate:
        return f"sent: the 3PL already had it (HTTP {answer.status})"
    return f"sent: HTTP {answer.status}"


def _renderer(order):
    """``render(control number) -> body`` of the order's first attempt,
    everything checked now (before a control number is taken); None when
    nothing is reserved."""
    content = document(order)
    if content is None:
        return None
    if order.message_format != "x12":
        body = json.dumps(content, ensure_ascii=False)
        return lambda _control: body
    segments = order_940.segments(content)
    envelope = order.connection_id._x12_parties()
    now = fields.Datetime.now()
    order_940.interchange(segments, control_number=1, when=now, **envelope)
    return lambda control: order_940.interchange(
        segments, control_number=control, when=now, **envelope
    )


def _fail(order, message, status=None, excerpt=None):
    """The order Failed with a to-do, recorded in a transaction of its own;
    the job fails with ``message``."""
    order._write_outcome(
        {
            "state": "failed",
            "last_status": status or False,
            "response_excerpt": excerpt or False,
            "error_message": message,
            "sending_until": False,
        },
        todo=(
            order.env._("3PL shipping order %s was refused", order.order_ref),
            message,
        ),
    )
    raise UserError(message)


def _last_try(order):
    """Whether this run of the job is its last try (queue_job fails it
    after: the order must say Failed, not stay pending forever)."""
    uuid = order.env.context.get("job_uuid")
    if not uuid:
        return False
    job = order.env["queue.job"].sudo().search([("uuid", "=", uuid)], limit=1)
    # queue_job counts this try only once it is over.
    return bool(job.max_retries) and job.retry + 1 >= job.max_retries


def lease_until(now):
    return now + timedelta(seconds=LEASE_SECONDS)
