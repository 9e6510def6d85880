"""The canonical 3PL inventory event, whatever the protocol it arrived by
(JSON today; X12 files map to the same vocabulary): its structural
validation, every problem at once, and its normal form."""

from datetime import datetime, timezone

from .payloads import MAX_ERRORS, MAX_QUANTITY, UNSTORABLE, _number

MAX_EVENTS = 500
MAX_ID = 128
KINDS = ("adjustment",)
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
    business_id = _text(event.get("id"), f"{where}id", error, MAX_ID)
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
    return {
        "type": kind,
        "id": business_id,
        "occurred_at": _moment(event.get("occurred_at"), f"{where}occurred_at", error),
        "sku": sku,
        "quantity": quantity,
        "reason_code": reason,
    }


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
