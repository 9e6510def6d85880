"""A 3PL's X12 interchange: read by ``adapters/x12`` (delimiters from the
ISA, envelopes checked, every problem at once), its 947 adjustments turned
into canonical events and stored like JSON ones (once per business id), its
846 snapshots into canonical snapshots stored like JSON ones (once per
BIA-03), and answered with a 997 per functional group in the partner's own
delimiters. Sets the addon does not apply yet (944, 945) are refused, not
dropped: nothing of the file is written and the 997 rejects them."""

from ..adapters import x12
from . import threepl_snapshot
from .outcomes import Outcome
from .threepl_intake import store

# The X12 event types applied today (canonical ``type``).
APPLIED = ("adjustment", "snapshot")
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
    adjustments = [e for e in found if e["type"] == "adjustment"]
    snapshots, problems = _snapshots(connection, found)
    if problems:
        return _refused(connection, interchange, problems, "invalid_snapshot")
    answer = {}
    if adjustments:
        outcome = store(connection, {"events": [_canonical(e) for e in adjustments]})
        if outcome.kind == "invalid_events":
            return _refused_events(connection, interchange, adjustments, outcome)
        answer = outcome.answer
    return _store_snapshots(connection, interchange, snapshots, answer)


def _refused_events(connection, interchange, found, outcome):
    """The sets whose events were refused are rejected in the 997; nothing
    of the file is written."""
    problems = []
    for detail in outcome.answer["details"]:
        # "events[3].sku" names one event's set; "events" (too many, or
        # none) every set of the file.
        index = detail["field"].partition("[")[2].partition("]")[0]
        named = [found[int(index)]] if index.isdigit() else found
        sources = [e["source"] for e in named] or [
            {"gs06": g.control_number, "st02": s.control_number}
            for g in interchange.groups
            for s in g.sets
        ]
        problems.extend(
            x12.Problem(0, "ST", detail["message"], src["gs06"], src["st02"])
            for src in sources
        )
    answer = dict(outcome.answer, ack=_acks(connection, interchange, problems))
    return Outcome(outcome.kind, answer)


def _canonical(event):
    """An X12 adjustment as the JSON contract's event."""
    return {
        "id": event["business_id"],
        "type": event["type"],
        "occurred_at": event["adjusted_at"].replace(" ", "T") + "Z",
        "sku": event["sku"],
        "quantity": float(event["quantity"]),
        "reason_code": event["reason_code"],
    }


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
