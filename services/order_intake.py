"""Order intake: one authenticated order webhook of a channel, validated
completely and stored once, promised at once.

Returns an :class:`Outcome` (what happened, and the JSON answer), never an
HTTP code: the controller maps outcomes to status codes. The same
path serves every caller that hands over a marketplace's order body (the
order webhook, a sandbox's simulated order, a pull).

The hot path of a burst: a replay is answered from one query, and a new
order costs four statements plus its job. Marketplaces retry every
delivery, so most posts are replays.
"""

import json
import uuid

from odoo import fields
from odoo.tools import SQL

from odoo.addons.queue_job.exception import RetryableJobError

from ..adapters import ADAPTERS
from ..adapters.base import location_key, location_key_sql
from . import jobs
from .exactly_once import insert_once
from .outcomes import Outcome
from .payloads import (
    InvalidJson,
    InvalidOrder,
    parse_json,
    validate_order,
    validate_reference,
)
from .refunds import refund, refund_ids

# How long a confirmation inside the request (sync mode) waits for a stock
# lock before its order is left to a job: marketplaces and portals give up
# on a request after a few seconds.
SYNC_LOCK_TIMEOUT = "2s"


def receive(orders, channel, topic, body, delivery_id=None):
    """``orders``: the ``stock.channel.order`` model as the channel's
    technical user. ``topic``: the delivery's topic header, if any; what is
    done is decided by the adapter from the signed payload
    (``order_action``). ``delivery_id``: the marketplace's id of the
    delivery, answered as a duplicate when seen in the last 48 hours. The
    JSON is parsed once."""
    adapter = ADAPTERS[channel.adapter]
    if adapter.order_action(topic, None) is None:
        return Outcome("unsupported_event", {"error": "unsupported_event"})
    if delivery_id and _seen_delivery(orders.env.cr, channel, delivery_id):
        return Outcome("duplicate", {"status": "duplicate", "delivery": delivery_id})
    try:
        data = parse_json(body)
    except InvalidJson:
        return Outcome("invalid_json", {"error": "invalid_json"})
    outcome = ACTIONS[adapter.order_action(topic, data)](orders, channel, body, data)
    if delivery_id and outcome.kind in WRITTEN:
        _remember_delivery(orders.env.cr, channel, delivery_id)
    return outcome


def handle(orders, channel, action, body):
    """For trusted in-process callers that know what they hand over (a
    sandbox's simulated order, a pulled order): ``action`` is ``create``,
    ``cancel`` or ``update`` (acknowledged, nothing done)."""
    try:
        data = parse_json(body)
    except InvalidJson:
        return Outcome("invalid_json", {"error": "invalid_json"})
    if action not in ACTIONS:
        return Outcome("unsupported_event", {"error": "unsupported_event"})
    return ACTIONS[action](orders, channel, body, data)


# Context key of a caller that must hold no stock locks (a pull): a channel
# confirming orders synchronously has them confirmed by their job instead.
DEFER_PROCESSING = "stock_channel_sync_defer_processing"

# Outcomes after which a redelivery must change nothing.
WRITTEN = {
    "accepted",
    "created",
    "duplicate",
    "cancelled",
    "already_shipped",
    "ignored",
}


def _seen_delivery(cr, channel, delivery_id):
    cr.execute(
        SQL(
            "SELECT 1 FROM stock_channel_delivery"
            " WHERE channel_id = %s AND delivery_id = %s",
            channel.id,
            delivery_id[:128],
        )
    )
    return bool(cr.fetchone())


def _remember_delivery(cr, channel, delivery_id):
    """Kept 48 hours (``stock.channel.delivery``'s retention)."""
    cr.execute(
        SQL(
            """
            INSERT INTO stock_channel_delivery
                   (channel_id, company_id, delivery_id, received_at)
            VALUES (%s, %s, %s, now() at time zone 'UTC')
            ON CONFLICT (channel_id, delivery_id) DO NOTHING
            """,
            channel.id,
            channel.company_id.id,
            delivery_id[:128],
        )
    )


def canonical(channel, data):
    """The channel's native payload as the canonical order. A payload whose
    shape the adapter cannot read (a list where an object belongs, ...) is an
    invalid order, never a server error."""
    try:
        return ADAPTERS[channel.adapter].to_canonical(data)
    except (AttributeError, TypeError, ValueError, KeyError, IndexError) as exc:
        raise InvalidOrder(
            [{"field": "", "message": f"not a {channel.adapter} order payload"}]
        ) from exc


def _create(orders, channel, body, data):
    """Accept one order: validate completely, store once; nothing is
    written unless the outcome is accepted or created."""
    try:
        order = validate_order(canonical(channel, data))
        stored = stored_delivery(orders.env.cr, channel, order["external_id"])
        if stored:
            return Outcome("duplicate", stored)
        lines, currency = resolve(orders.env, channel, order)
    except InvalidOrder as exc:
        return Outcome(
            "invalid_order", {"error": "invalid_order", "details": exc.details}
        )
    inserted = insert_order(
        orders.env,
        channel,
        order,
        currency,
        body,
        read=lambda cr: stored_delivery(cr, channel, order["external_id"]),
    )
    if not inserted.created:
        # A concurrent delivery stored it after this request's lookup.
        return Outcome("duplicate", inserted.stored)
    order_id = inserted.id
    insert_lines(orders.env, channel, order_id, lines)
    orders._mark_promised(channel, {line["product_id"] for line in lines})
    record = orders.with_company(channel.company_id).browse(order_id)
    if (
        channel.order_processing == "sync"
        and not orders.env.context.get(DEFER_PROCESSING)
        and _confirmed_now(record)
    ):
        return Outcome("created", dict(record._answer_status(), status="created"))
    # One confirmation job. A fresh order needs no identity key (it is
    # inserted once, so it is enqueued once), which spares intake a lookup;
    # _process ignores an order that is no longer 'received'.
    jobs.enqueue("confirm", record, coalesce=False)
    return Outcome(
        "accepted",
        {"status": "accepted", "external_id": order["external_id"], "id": order_id},
    )


def _confirmed_now(record):
    """Sync mode: confirm inside the request; False when stock contention
    (a lock held longer than :data:`SYNC_LOCK_TIMEOUT`, a serialization
    failure, a deadlock) stopped it. That is not the order's fault and must
    not fail the request: the order stays stored and promised (the
    confirmation's savepoint is rolled back) and its job confirms it, like
    on an asynchronous channel (202 accepted)."""
    cr = record.env.cr
    cr.execute("SELECT current_setting('lock_timeout')")
    previous = cr.fetchone()[0]
    # Transaction-local, and put back once the confirmation is over.
    cr.execute(SQL("SELECT set_config('lock_timeout', %s, true)", SYNC_LOCK_TIMEOUT))
    try:
        record._process()
    except RetryableJobError:
        confirmed = False
    else:
        confirmed = True
    cr.execute(SQL("SELECT set_config('lock_timeout', %s, true)", previous))
    return confirmed


def _ignore(orders, channel, body, data):
    """An update that is not a cancellation (Odoo owns the order from
    intake on), or a deletion whose payload does not say it was cancelled:
    acknowledged, nothing done."""
    return Outcome("ignored", {"status": "ignored", "reason": "not a cancellation"})


def _cancellation(orders, channel, body, data):
    """The marketplace cancelled an order (Shopify's orders/cancelled).

    Webhooks arrive in any order: the cancellation of an order not received
    yet is stored as a cancelled order, so that its late creation is a
    duplicate and never becomes a sale order. A cancellation after shipping
    cannot be carried out here: it is acknowledged (a refused webhook is
    retried for hours) and the channel's responsible gets a to-do."""
    try:
        translated = canonical(channel, data)
        external_id = validate_reference(translated)
    except InvalidOrder as exc:
        return Outcome(
            "invalid_order", {"error": "invalid_order", "details": exc.details}
        )
    order = orders.search(
        [("channel_id", "=", channel.id), ("external_id", "=", external_id)]
    )
    if not order:
        inserted = insert_order(
            orders.env,
            channel,
            {"external_id": external_id, "customer": translated.get("customer") or {}},
            channel.company_id.currency_id,
            body,
            state="cancelled",
        )
        if not inserted.created:
            # Its creation is being stored right now: ask for a retry.
            return Outcome("concurrent_delivery", {"error": "concurrent_delivery"})
        return Outcome(
            "cancelled",
            dict(orders.browse(inserted.id)._answer_status(), status="cancelled"),
        )
    return cancel_stored(order)


def cancel_stored(order):
    """Cancel a stored order the marketplace cancelled (its cancellation
    webhook, or the cancellation job of a pull), unless it shipped: then a
    to-do for the channel's responsible, once. Either way the cancellation
    is handled (``channel_cancelled_at``): a shipped order stays ``done``,
    and what repeats the cancellation (the pulls whose overlap lists it
    again, Shopify's ``orders/updated`` beside its ``orders/cancelled``)
    enqueues and schedules nothing more."""
    outcome = order._cancel_from_channel()
    if outcome.kind == "shipped":
        if not order.channel_cancelled_at:
            order._schedule_todo(
                order.env._(
                    "Order %s was cancelled on the channel after shipping",
                    order.external_id,
                ),
                order.env._("Arrange the return or refund with the customer."),
            )
        outcome = Outcome(
            "already_shipped", dict(order._answer_status(), status="already_shipped")
        )
    if not order.channel_cancelled_at:
        order.channel_cancelled_at = fields.Datetime.now()
    return outcome


def stored_delivery(cr, channel, external_id):
    """The duplicate answer for an order already stored, or None."""
    cr.execute(
        SQL(
            "SELECT id, state FROM stock_channel_order"
            " WHERE channel_id = %s AND external_id = %s",
            channel.id,
            external_id,
        )
    )
    row = cr.fetchone()
    if not row:
        return None
    return {
        "status": "duplicate",
        "external_id": external_id,
        "state": row[1],
        "order": row[0],
    }


def _ships_from(env, channel, location_ref):
    """The warehouse mapped to ``location_ref`` on a channel that publishes
    per location, or None."""
    env["stock.channel.location"].flush_model()
    env.cr.execute(
        SQL(
            """SELECT m.warehouse_id
                 FROM stock_channel_location m
                 JOIN stock_channel c ON c.id = m.channel_id
                WHERE m.channel_id = %s AND c.publish_per_location
                  AND %s = %s""",
            channel.id,
            SQL(location_key_sql("m.location_ref")),
            location_key(location_ref),
        )
    )
    row = env.cr.fetchone()
    return row and row[0]


def resolve(env, channel, order):
    """Lines with products (through the channel's active listings, then the
    internal reference of a storable product of the channel's company) and
    the currency; every unknown at once (:class:`InvalidOrder`). Two
    queries, company filtered explicitly like the record rules would."""
    company_id = channel.company_id.id
    skus = [line["sku"] for line in order["lines"]]
    env["stock.channel.listing"].flush_model()
    env.cr.execute(
        SQL(
            """
            SELECT s.sku, l.id, COALESCE(l.product_id, p.id),
                   COALESCE(l.pack_size, 1.0)
              FROM unnest(%s::varchar[]) AS s(sku)
         LEFT JOIN stock_channel_listing l
                ON l.channel_id = %s AND l.active AND l.external_sku = s.sku
         LEFT JOIN LATERAL (
                   SELECT pp.id
                     FROM product_product pp
                     JOIN product_template pt ON pt.id = pp.product_tmpl_id
                    WHERE l.id IS NULL AND pp.default_code = s.sku
                      AND pp.active AND pt.is_storable
                      AND (pt.company_id IS NULL OR pt.company_id = %s)
                 ORDER BY pp.id
                    LIMIT 1) p ON TRUE
            """,
            skus,
            channel.id,
            company_id,
        )
    )
    found = {sku: row for sku, *row in env.cr.fetchall()}
    env.cr.execute(
        SQL(
            """SELECT (SELECT id FROM res_currency WHERE name = %s),
                      (SELECT active FROM res_currency WHERE name = %s),
                      EXISTS(SELECT FROM res_country WHERE code = %s)""",
            order["currency"] or "",
            order["currency"] or "",
            order["shipping_address"].get("country_code") or "",
        )
    )
    currency_id, currency_active, country_known = env.cr.fetchone()
    errors, lines = [], []
    if order.get("location") and not _ships_from(env, channel, order["location"]):
        errors.append(
            {
                "field": "location",
                "message": f"'{order['location']}' is not a marketplace location "
                "of this channel",
            }
        )
    for index, line in enumerate(order["lines"]):
        listing_id, product_id, pack = found[line["sku"]]
        if not product_id:
            errors.append(
                {
                    "field": f"lines[{index}].sku",
                    "message": f"unknown SKU '{line['sku']}'",
                }
            )
            continue
        lines.append(
            {
                "listing_id": listing_id,
                "product_id": product_id,
                "sku": line["sku"],
                "line_id": line.get("line_id"),
                "channel_qty": line["quantity"],
                "product_qty": line["quantity"] * pack,
                "unit_price": line["unit_price"],
            }
        )
    currency = channel.company_id.currency_id
    if order["currency"]:
        currency = env["res.currency"].browse(currency_id)
        if not currency_active:
            message = (
                "unknown currency '%s'"
                if not currency_id
                else "currency '%s' is not active in Odoo"
            )
            errors.append({"field": "currency", "message": message % order["currency"]})
    country = order["shipping_address"].get("country_code")
    if country and not country_known:
        errors.append(
            {
                "field": "shipping_address.country_code",
                "message": f"unknown country '{country}'",
            }
        )
    if errors:
        raise InvalidOrder(errors)
    return lines, currency


def insert_order(env, channel, order, currency, body, state="received", read=None):
    """Store the order once per (channel, external id)
    (:func:`.exactly_once.insert_once`: a concurrent duplicate waits on the
    unique index, and one committed meanwhile is not stored again). The
    canonical order is stored next to the raw payload. ``read(cr)`` reads
    the order stored by another request: an :class:`~.exactly_once.Inserted`."""
    customer = order["customer"]
    return insert_once(
        env,
        "stock_channel_order",
        {
            "channel_id": channel.id,
            "company_id": channel.company_id.id,
            "external_id": order["external_id"],
            "state": state,
            "received_via": "webhook",
            "shipment_state": "none",
            "payload": body.decode(),
            "canonical_order": SQL(
                "%s::jsonb", json.dumps(order) if order.get("lines") else None
            ),
            "correlation_id": uuid.uuid4().hex[:16],
            "customer_name": customer.get("name") or customer.get("email"),
            "customer_email": customer.get("email"),
            "currency_id": currency.id,
        },
        ("channel_id", "external_id"),
        read=read,
    )


def insert_lines(env, channel, order_id, lines):
    """The resolved lines, in one statement."""
    env.cr.execute(
        SQL(
            """INSERT INTO stock_channel_order_line
                      (order_id, company_id, listing_id, product_id, sku,
                       external_line_id, channel_qty, product_qty, unit_price,
                       create_uid, write_uid, create_date, write_date)
               VALUES %s""",
            SQL(", ").join(
                SQL(
                    "(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s,"
                    " now() at time zone 'UTC', now() at time zone 'UTC')",
                    order_id,
                    channel.company_id.id,
                    line["listing_id"],
                    line["product_id"],
                    line["sku"],
                    line.get("line_id"),
                    line["channel_qty"],
                    line["product_qty"],
                    line["unit_price"],
                    env.uid,
                    env.uid,
                )
                for line in lines
            ),
        )
    )


ACTIONS = {
    "create": _create,
    "cancel": _cancellation,
    "ignore": _ignore,
    "update": _ignore,
    "refund": refund,
    "refund_ids": refund_ids,
}
