"""A 3PL's signed inventory events: validated (every problem at once,
nothing written on any), resolved (SKUs to products, every line's of a
receipt or a shipment, hold codes to a hold location), stored once per
(connection, type, id) and handed to a job.
Returns an :class:`Outcome`: ``accepted`` (something new), ``duplicate``
(all known), ``invalid_json``, ``invalid_events``."""

import json

from .exactly_once import NOW_UTC, insert_once
from .jobs import enqueue
from .outcomes import Outcome
from .payloads import InvalidJson, parse_json
from .threepl_events import HOLD_CODE, RELEASE_CODE, InvalidEvents, validate_events
from .threepl_snapshot import is_snapshot
from .threepl_snapshot import receive as receive_snapshot


def receive(connection, body):
    """JSON events, or one snapshot (``services/threepl_snapshot.py``);
    ``connection`` runs as its technical user."""
    try:
        data = parse_json(body)
    except InvalidJson:
        return Outcome("invalid_json", {"error": "invalid_json"})
    if is_snapshot(data):
        return receive_snapshot(connection, data)
    return store(connection, data)


def store(connection, data):
    """Canonical events (a JSON-like document, whatever the protocol they
    came by) validated, resolved and stored once."""
    try:
        events = validate_events(data)
        products = _resolve(connection, events)
    except InvalidEvents as exc:
        return Outcome(
            "invalid_events", {"error": "invalid_events", "details": exc.details}
        )
    env = connection.env
    env["stock.channel.threepl.event"].flush_model()
    stored, answers = [], []
    for index, event in enumerate(events):
        inserted = insert_once(
            env,
            "stock_channel_threepl_event",
            {
                "connection_id": connection.id,
                "company_id": connection.company_id.id,
                "kind": event["type"],
                "business_id": event["id"],
                "occurred_at": event["occurred_at"],
                "received_at": NOW_UTC,
                "product_id": products[index].id or None,
                "sku": _single(event, "sku"),
                "quantity": _single(event, "quantity"),
                "reason_code": event.get("reason_code"),
                "order_ref": event.get("order_ref"),
                "carrier": event.get("carrier"),
                "tracking_ref": event.get("tracking_ref"),
                "payload": json.dumps(event, default=str, sort_keys=True),
                "state": "received",
            },
            ("connection_id", "kind", "business_id"),
        )
        if inserted.created:
            stored.append(inserted.id)
        answers.append(
            {
                "id": event["id"],
                "status": "accepted" if inserted.created else "duplicate",
            }
        )
    if stored:
        enqueue("threepl_event", env["stock.channel.threepl.event"].browse(stored))
    kind = "accepted" if stored else "duplicate"
    return Outcome(kind, {"status": kind, "events": answers})


# Event type -> the connection's flag that lets it change Odoo's stock.
DRIVEN_BY = {
    "adjustment": "drive_adjustments",
    "goods_received": "drive_receipts",
    "shipment_dispatched": "drive_deliveries",
}
_FIELD_LABELS = {"default_code": "internal reference", "barcode": "barcode"}


def _single(event, key):
    """An adjustment's ``sku`` or ``quantity``; a receipt's or a shipment's
    when it has one line (several lines: only in the payload)."""
    if "lines" not in event:
        return event.get(key)
    lines = event["lines"]
    return lines[0][key] if len(lines) == 1 else None


def products_by_sku(connection, skus):
    """``{sku: product}`` of the storable products of the connection's
    company whose SKU field (internal reference or barcode) is one of
    ``skus``: the one SKU mapping of intake and apply."""
    field = connection.sku_field
    found = connection.env["product.product"].search(
        [
            (field, "in", list(skus)),
            ("is_storable", "=", True),
            ("company_id", "in", (False, connection.company_id.id)),
        ]
    )
    return {product[field]: product for product in found}


def _resolve(connection, events):
    """Each event's product (by the connection's SKU mapping: internal
    reference or barcode, in the connection's company; a receipt's or a
    shipment's when it has one line, else none: its lines' products are
    resolved again when it is applied), or :class:`InvalidEvents` with every
    unknown SKU (of every line), every event type the connection does not
    drive, every hold or release without a hold location."""
    skus = set()
    for event in events:
        if "lines" in event:
            skus.update(line["sku"] for line in event["lines"])
        else:
            skus.add(event["sku"])
    by_sku = products_by_sku(connection, skus)
    label = _FIELD_LABELS[connection.sku_field]
    none = connection.env["product.product"]
    problems, products = [], []

    def unknown(field, sku):
        problems.append(
            {
                "field": field,
                "message": f"unknown SKU {sku!r} (no storable product with this "
                f"{label})",
            }
        )

    for index, event in enumerate(events):
        flag = DRIVEN_BY.get(event["type"])
        if flag and not connection[flag]:
            problems.append(
                {
                    "field": f"events[{index}].type",
                    "message": f"this connection does not drive {event['type']} "
                    "events (see its Operations Driven by the 3PL)",
                }
            )
        if "lines" in event:
            for number, line in enumerate(event["lines"]):
                if line["sku"] not in by_sku:
                    unknown(f"events[{index}].lines[{number}].sku", line["sku"])
            lines = event["lines"]
            single = by_sku.get(lines[0]["sku"]) if len(lines) == 1 else None
            products.append(single or none)
            continue
        if event["sku"] not in by_sku:
            unknown(f"events[{index}].sku", event["sku"])
        if (
            event["reason_code"] in (HOLD_CODE, RELEASE_CODE)
            and not connection.hold_location_id
        ):
            problems.append(
                {
                    "field": f"events[{index}].reason_code",
                    "message": "a hold or a release, but the connection has no "
                    "hold location",
                }
            )
        products.append(by_sku.get(event["sku"], none))
    if problems:
        raise InvalidEvents(problems)
    return products
