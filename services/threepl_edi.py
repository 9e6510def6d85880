"""A 3PL's X12 interchange: read by ``adapters/x12`` (delimiters from the
ISA, envelopes checked, every problem at once), recognised when sent again
(``threepl_files``: sender, ISA13 and date, then checksum), its 944
receipts, 945 shipments and 947 adjustments turned into canonical events
and stored like JSON ones (once per business id), its 846 snapshots into
canonical snapshots stored like JSON ones (once per BIA-03), and answered
with a 997 per functional group in the partner's own delimiters. Nothing
of a refused file is written, and its 997 rejects it."""

from ..adapters import x12
from . import threepl_files, threepl_snapshot
from .outcomes import Outcome
from .threepl_intake import store

# The X12 event types applied (canonical ``type``): 947, 944, 945, 846.
APPLIED = ("adjustment", "goods_received", "shipment_dispatched", "snapshot")
# 846 QTY01 qualifiers (set per partner guide; these are the common ones):
# 17 = quantity on hand, every unit in the building, held ones included
# (what is compared); 33 = available for sale (kept for reading).
ON_HAND, AVAILABLE = "17", "33"


def receive_edi(connection, body):
    """An :class:`Outcome` whose answer holds the 997(s) (``ack``)."""
    try:
        interchange = x12.parse(body)
        found = x12.events(
            interchange, on_hand_qualifier=ON_HAND, available_qualifier=AVAILABLE
        )
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
                f"{event['set_id']} ({event['type']}) is not applied",
                event["source"]["gs06"],
                event["source"]["st02"],
                "5",
            )
            for event in refused
        ]
        return _refused(connection, interchange, problems)
    events = [e for e in found if e["type"] != "snapshot"]
    snapshots, problems = _snapshots(connection, found)
    if problems:
        return _refused(connection, interchange, problems, "invalid_snapshot")
    answer = {}
    if events:
        outcome = store(connection, {"events": [_canonical(e) for e in events]})
        if outcome.kind == "invalid_events":
            return _refused_events(connection, interchange, events, outcome)
        answer = outcome.answer
    outcome = _store_snapshots(connection, interchange, snapshots, answer)
    if outcome.kind in ("accepted", "duplicate"):
        threepl_files.record(connection, interchange, len(found))
    return outcome


def _refused_events(connection, interchange, found, outcome):
    """The sets whose events were refused are rejected in the 997; nothing
    of the file is written."""
    problems = []
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


def _snapshots(connection, found):
    """``([(846 event, Snapshot)], problems)``: each 846 of the file as a
    validated canonical snapshot (nothing written), or the 997 problems of
    the sets that are not."""
    snapshots, problems = [], []
    for event in found:
        if event["type"] != "snapshot":
            continue
        source = event["source"]
        document, missing = _canonical_snapshot(connection, event)
        messages = [f"{sku}: no QTY*{ON_HAND} (on hand)" for sku in missing[:10]]
        try:
            snapshot = threepl_snapshot.validate_snapshot(document)
        except threepl_snapshot.InvalidSnapshot as exc:
            messages += [f"{d['field']}: {d['message']}" for d in exc.details]
            snapshot = None
        if messages:
            problems.extend(
                x12.Problem(0, "ST", message, source["gs06"], source["st02"])
                for message in messages
            )
        else:
            snapshots.append((event, snapshot))
    return snapshots, problems


def _canonical_snapshot(connection, event):
    """An 846 as the JSON contract's snapshot, and the items it gives no on
    hand quantity. Its SKU is the item id the connection maps: the UPC for
    a connection matched on barcodes, else the SK / VN / BP id (either when
    the other is missing)."""
    lines, missing = [], []
    for key, item in event["items"].items():
        ids = (item["upc"], item["sku"])
        if connection.sku_field != "barcode":
            ids = ids[::-1]
        sku = next((i for i in ids if i), key)
        on_hand = event["on_hand"].get(key)
        if on_hand is None:
            missing.append(sku)
            continue
        lines.append(
            {"sku": sku, "quantity": on_hand, "available": event["available"].get(key)}
        )
    document = {
        "id": event["business_id"],
        "type": "snapshot",
        "occurred_at": (event["as_of"] or "").replace(" ", "T") + "Z",
        "lines": lines,
    }
    return document, missing


def _store_snapshots(connection, interchange, snapshots, answer):
    """Store the file's snapshots (its adjustments are stored: ``answer``),
    each once per BIA-03; answer with the 997s."""
    statuses = []
    for event, snapshot in snapshots:
        stored = threepl_snapshot.store(connection, snapshot, "x12")
        if stored.status == "concurrent":
            return Outcome("concurrent_delivery", {"error": "concurrent_delivery"})
        statuses.append({"id": event["business_id"], "status": stored.status})
    accepted = answer.get("status") == "accepted" or any(
        s["status"] == "accepted" for s in statuses
    )
    kind = "accepted" if accepted else "duplicate"
    answer = dict(answer, status=kind)
    if snapshots:
        answer["snapshots"] = statuses
    answer["ack"] = _acks(connection, interchange, [])
    return Outcome(kind, answer)


def _refused(connection, interchange, problems, error="invalid_edi"):
    details = [
        {"field": f"{p.segment or 'ISA'}@{p.position}", "message": p.message}
        for p in problems
    ][:50]
    answer = {"error": error, "details": details}
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
