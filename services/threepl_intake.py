"""A 3PL's signed inventory events: validated (every problem at once,
nothing written on any), resolved (SKUs to products, hold codes to a hold
location), stored once per (connection, type, id) and handed to a job.
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
                "product_id": products[index].id,
                "sku": event["sku"],
                "quantity": event["quantity"],
                "reason_code": event["reason_code"],
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
DRIVEN_BY = {"adjustment": "drive_adjustments"}
_FIELD_LABELS = {"default_code": "internal reference", "barcode": "barcode"}


def _resolve(connection, events):
    """Each event's product (by the connection's SKU mapping: internal
    reference or barcode, in the connection's company), or
    :class:`InvalidEvents` with every unknown SKU, every event type the
    connection does not drive, every hold or release without a hold
    location."""
    skus = {event["sku"] for event in events}
    field = connection.sku_field
    found = connection.env["product.product"].search(
        [
            (field, "in", list(skus)),
            ("is_storable", "=", True),
            ("company_id", "in", (False, connection.company_id.id)),
        ]
    )
    by_sku = {product[field]: product for product in found}
    problems = []
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
        if event["sku"] not in by_sku:
            problems.append(
                {
                    "field": f"events[{index}].sku",
                    "message": f"unknown SKU {event['sku']!r} (no storable product "
                    f"with this {_FIELD_LABELS[field]})",
                }
            )
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
    if problems:
        raise InvalidEvents(problems)
    return [by_sku[event["sku"]] for event in events]
