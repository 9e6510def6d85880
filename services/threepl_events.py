"""The canonical 3PL inventory event, whatever the protocol it arrived by
(JSON, or an X12 file mapped to the same vocabulary): its structural
validation, every problem at once, and its normal form.

Three types: ``adjustment`` (one SKU, a signed quantity, a reason code),
``goods_received`` (a receipt's lines, each received quantity with its
damaged part) and ``shipment_dispatched`` (a delivery's shipped lines, the
carrier and the tracking reference), the last two naming the Odoo transfer
by ``order_ref``."""

from datetime import datetime, timezone

from .payloads import MAX_ERRORS, MAX_QUANTITY, UNSTORABLE, _number

MAX_EVENTS = 500
MAX_ID = 128
MAX_LINES = 500
MAX_TRACKING = 255
KINDS = ("adjustment", "goods_received", "shipment_dispatched")
# X12 947 W19-01 reason codes that move stock to or from the hold location
# instead of in or out of the warehouse.
HOLD_CODE, RELEASE_CODE = "05", "55"


class InvalidEvents(Exception):
    def __init__(self, details):
        super().__init__("invalid events")
        self.details = details[:MAX_ERRORS]


def validate_events(data):
    """``[event]`` in normal form from a request's JSON document, or raise
    :class:`InvalidEvents` with every problem as ``[{"field", "message"}]``.
    The document is ``{"events": [event, ...]}`` (1 to 500) or one event."""
    problems = []

    def error(field, message):
        problems.append({"field": field, "message": message})

    if isinstance(data, dict) and "events" in data:
        events, prefix = data["events"], "events"
        if not isinstance(events, list) or not 1 <= len(events) <= MAX_EVENTS:
            raise InvalidEvents(
                [{"field": "events", "message": "a list of 1 to 500 events"}]
            )
    elif isinstance(data, dict):
        events, prefix = [data], "events"
    else:
        raise InvalidEvents([{"field": "", "message": "a JSON object"}])
    normal, seen = [], set()
    for index, event in enumerate(events):
        where = f"{prefix}[{index}]."
        if not isinstance(event, dict):
            error(where.rstrip("."), "an object")
            continue
        normal.append(_event(event, where, error))
        key = (event.get("type"), event.get("id"))
        if key in seen:
            error(f"{where}id", "the same event twice in one request")
        seen.add(key)
    if problems:
        raise InvalidEvents(problems)
    return normal


def _event(event, where, error):
    kind = event.get("type")
    if kind not in KINDS:
        error(f"{where}type", f"one of {', '.join(KINDS)}")
    normal = {
        "type": kind,
        "id": _text(event.get("id"), f"{where}id", error, MAX_ID),
        "occurred_at": _moment(event.get("occurred_at"), f"{where}occurred_at", error),
    }
    # An unknown type is checked as an adjustment: its other problems are
    # reported with it.
    normal.update(_FIELDS.get(kind, _adjustment)(event, where, error))
    return normal


def _adjustment(event, where, error):
    sku = _text(event.get("sku"), f"{where}sku", error, MAX_ID)
    reason = event.get("reason_code")
    if reason is not None:
        reason = _text(reason, f"{where}reason_code", error, 16)
    quantity = event.get("quantity")
    if not _number(quantity) or quantity == 0 or abs(quantity) > MAX_QUANTITY:
        error(
            f"{where}quantity",
            f"a non-zero JSON number, at most {MAX_QUANTITY:,} either way",
        )
    elif reason in (HOLD_CODE, RELEASE_CODE) and quantity < 0:
        error(f"{where}quantity", "positive for a hold or a release")
    return {"sku": sku, "quantity": quantity, "reason_code": reason}


def _goods_received(event, where, error):
    """A receipt: ``order_ref`` (the Odoo receipt's reference, or its source
    document) and lines of ``quantity`` received, ``damaged`` included."""
    return {
        "order_ref": _text(event.get("order_ref"), f"{where}order_ref", error, MAX_ID),
        "lines": _lines(event, where, error, damaged=True),
    }


def _shipment_dispatched(event, where, error):
    """A shipment: ``order_ref`` (the Odoo delivery's reference, or its
    source document), optional ``carrier`` and ``tracking_ref``, and lines
    of ``quantity`` shipped."""
    return {
        "order_ref": _text(event.get("order_ref"), f"{where}order_ref", error, MAX_ID),
        "carrier": _optional_text(event, "carrier", where, error, MAX_ID),
        "tracking_ref": _optional_text(
            event, "tracking_ref", where, error, MAX_TRACKING
        ),
        "lines": _lines(event, where, error, damaged=False),
    }


_FIELDS = {
    "adjustment": _adjustment,
    "goods_received": _goods_received,
    "shipment_dispatched": _shipment_dispatched,
}


def _lines(event, where, error, damaged):
    """``[{sku, quantity[, damaged]}]``: 1 to 500 lines, quantities of 0 to
    1,000,000, at least one above 0 (an event that moves nothing is a
    mistake, not a receipt or a shipment)."""
    lines = event.get("lines")
    if not isinstance(lines, list) or not 1 <= len(lines) <= MAX_LINES:
        error(f"{where}lines", f"a list of 1 to {MAX_LINES} lines")
        return []
    normal, complete = [], True
    for index, line in enumerate(lines):
        at = f"{where}lines[{index}]."
        if not isinstance(line, dict):
            error(at.rstrip("."), "an object")
            complete = False
            continue
        item = {
            "sku": _text(line.get("sku"), f"{at}sku", error, MAX_ID),
            "quantity": _count(line.get("quantity"), f"{at}quantity", error),
        }
        if item["quantity"] is None:
            complete = False
        if damaged:
            broken = line.get("damaged")
            broken = 0 if broken is None else _count(broken, f"{at}damaged", error)
            if None not in (broken, item["quantity"]) and broken > item["quantity"]:
                error(
                    f"{at}damaged",
                    "at most the line's quantity (the damaged units are part of "
                    "the quantity received)",
                )
            item["damaged"] = broken
        normal.append(item)
    if complete and not any(item["quantity"] for item in normal):
        error(f"{where}lines", "at least one line with a quantity above 0")
    return normal


def _count(value, field, error):
    """A quantity of units: a JSON number from 0 to 1,000,000, else None."""
    if not _number(value) or not 0 <= value <= MAX_QUANTITY:
        error(field, f"a JSON number from 0 to {MAX_QUANTITY:,}")
        return None
    return value


def _optional_text(event, key, where, error, limit):
    value = event.get(key)
    if value is None or value == "":
        return None
    return _text(value, f"{where}{key}", error, limit)


def _text(value, field, error, limit):
    if not isinstance(value, str) or not value.strip():
        error(field, "required, a non-empty string")
        return None
    if UNSTORABLE.search(value) or len(value) > limit:
        error(field, f"at most {limit} characters, no NUL or invalid character")
        return None
    return value.strip()


def _moment(value, field, error):
    """ISO 8601 with an offset, as naive UTC (the ORM's datetimes)."""
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except (AttributeError, TypeError, ValueError):
        moment = None
    if moment is None or moment.tzinfo is None:
        error(
            field,
            "an ISO 8601 date and time with its offset, e.g. 2026-12-03T09:00:00Z",
        )
        return None
    return moment.astimezone(timezone.utc).replace(tzinfo=None)
