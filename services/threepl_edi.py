"""A 3PL's X12 interchange: read by ``adapters/x12`` (delimiters from the
ISA, envelopes checked, every problem at once), recognised when sent again
(``threepl_files``: sender, ISA13 and date, then checksum), its 944
receipts, 945 shipments and 947 adjustments turned into canonical events
and stored like JSON ones (once per business id), and answered with a 997
per functional group in the partner's own delimiters. Sets the addon does
not apply yet (846) are refused, not dropped: nothing of the file is
written and the 997 rejects them."""

from ..adapters import x12
from . import threepl_files
from .outcomes import Outcome
from .threepl_intake import store

# The X12 event types applied today (canonical ``type``): 947, 944, 945.
APPLIED = ("adjustment", "goods_received", "shipment_dispatched")


def receive_edi(connection, body):
    """An :class:`Outcome` whose answer holds the 997(s) (``ack``)."""
    try:
        interchange = x12.parse(body)
        found = x12.events(interchange)
    except x12.X12Error as exc:
        return _refused(connection, exc.interchange, exc.problems)
    taken = threepl_files.known(connection, interchange)
    if taken is not None and taken.same:
        # The very file again: its 997 again, nothing read or written.
        return Outcome(
            "duplicate",
            {
                "status": "duplicate",
                "file": "already received",
                "events": [],
                "ack": _acks(connection, interchange, []),
            },
        )
    if taken is not None:
        message = (
            f"interchange control number {interchange.control_number} from "
            f"{interchange.sender} of {interchange.date} {interchange.time} "
            "was already received with other content"
        )
        return _refused(connection, interchange, _every_set(interchange, message))
    refused = [event for event in found if event["type"] not in APPLIED]
    if refused:
        problems = [
            x12.Problem(
                0,
                "ST",
                f"{event['set_id']} ({event['type']}) is not applied yet",
                event["source"]["gs06"],
                event["source"]["st02"],
                "5",
            )
            for event in refused
        ]
        return _refused(connection, interchange, problems)
    outcome = store(connection, {"events": [_canonical(e) for e in found]})
    problems = []
    if outcome.kind == "invalid_events":
        # The sets whose events were refused are rejected in the 997.
        for detail in outcome.answer["details"]:
            # "events[3].sku" names one event's set; "events" (too many, or
            # none) every set of the file.
            index = detail["field"].partition("[")[2].partition("]")[0]
            named = [found[int(index)]] if index.isdigit() else found
            if not named:
                problems.extend(_every_set(interchange, detail["message"]))
            for event in named:
                src = event["source"]
                problems.append(
                    x12.Problem(0, "ST", detail["message"], src["gs06"], src["st02"])
                )
    else:
        threepl_files.record(connection, interchange, len(found))
    answer = dict(outcome.answer, ack=_acks(connection, interchange, problems))
    return Outcome(outcome.kind, answer)


def _every_set(interchange, message):
    """The same problem for every set of the file."""
    return [
        x12.Problem(0, "ST", message, group.control_number, tset.control_number)
        for group in interchange.groups
        for tset in group.sets
    ]


def _canonical(event):
    """An X12 event (``adapters/x12/sets.py``) as the JSON contract's."""
    return _CANONICAL[event["type"]](event)


def _adjustment(event):
    """947: one W19 line."""
    return {
        "id": event["business_id"],
        "type": event["type"],
        "occurred_at": _moment(event["adjusted_at"]),
        "sku": _sku(event),
        "quantity": _quantity(event["quantity"]),
        "reason_code": event["reason_code"],
    }


def _goods_received(event):
    """944: W17-03 the id, W17-04 the order, W17-02 (and a G62 time) the
    moment; per W07 line, W07-01 the quantity received (the damaged units
    included: W13 breaks it down, and W14 totals the W07-01s) and the W13
    quantities of condition 01 its damaged part."""
    return {
        "id": event["business_id"],
        "type": event["type"],
        "occurred_at": _moment(event["received_at"]),
        "order_ref": event["order_ref"],
        "lines": [
            {
                "sku": _sku(line),
                "quantity": _quantity(line["quantity"]),
                "damaged": _quantity(line["damaged"]),
            }
            for line in event["lines"]
        ],
    }


def _shipment_dispatched(event):
    """945: W06-04 the id, W06-02 the order, W06-03 (and a G62 time) the
    moment, W27-02 the carrier, N9 CN (else BM) the tracking; per W12 line,
    W12-03 the units shipped (absent: W12-02, the units ordered, for a line
    shipped complete, CC)."""
    return {
        "id": event["business_id"],
        "type": event["type"],
        "occurred_at": _moment(event["shipped_at"]),
        "order_ref": event["order_ref"],
        "carrier": event["carrier"],
        "tracking_ref": event["tracking_ref"],
        "lines": [
            {
                "sku": _sku(line),
                "quantity": _quantity(
                    line["ordered"]
                    if line["shipped"] is None and line["status"] == "CC"
                    else line["shipped"]
                ),
            }
            for line in event["lines"]
        ],
    }


_CANONICAL = {
    "adjustment": _adjustment,
    "goods_received": _goods_received,
    "shipment_dispatched": _shipment_dispatched,
}


def _moment(value):
    """The adapter's ``YYYY-MM-DD HH:MM:SS`` as ISO 8601 UTC (X12 gives no
    offset: the partner's times are taken as UTC)."""
    return value.replace(" ", "T") + "Z" if value else None


def _sku(item):
    """The item's SKU (SK, else VN, else BP), else its UPC."""
    return item["sku"] or item["upc"]


def _quantity(value):
    """A number for the JSON contract (None stays None: refused there)."""
    return None if value is None else float(value)


def _refused(connection, interchange, problems):
    details = [
        {"field": f"{p.segment or 'ISA'}@{p.position}", "message": p.message}
        for p in problems
    ][:50]
    answer = {"error": "invalid_edi", "details": details}
    if interchange is not None and interchange.groups:
        answer["ack"] = _acks(connection, interchange, problems)
    return Outcome("invalid_edi", answer)


def _acks(connection, interchange, problems):
    """One 997 per functional group, with this connection's own control
    numbers (taken atomically: concurrent files never share one)."""
    acks = []
    for group in interchange.groups:
        rejected, group_errors = (
            x12.rejections(problems, group) if problems else ({}, [])
        )
        control = connection._next_ack_control_number()
        acks.append(
            x12.functional_ack(
                interchange,
                group,
                interchange_control=control,
                group_control=control,
                rejected=rejected,
                group_errors=group_errors,
            )
        )
    return acks
