"""A 3PL's X12 interchange: read by ``adapters/x12`` (delimiters from the
ISA, envelopes checked, every problem at once), its 947 adjustments turned
into canonical events and stored like JSON ones (once per business id), and
answered with a 997 per functional group in the partner's own delimiters.
Sets the addon does not apply yet (944, 945, 846) are refused, not
dropped: nothing of the file is written and the 997 rejects them."""

from ..adapters import x12
from .outcomes import Outcome
from .threepl_intake import store

# The X12 event types applied today (canonical ``type``).
APPLIED = ("adjustment",)


def receive_edi(connection, body):
    """An :class:`Outcome` whose answer holds the 997(s) (``ack``)."""
    try:
        interchange = x12.parse(body)
        found = x12.events(interchange)
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
    outcome = store(connection, {"events": [_canonical(e) for e in found]})
    problems = []
    if outcome.kind == "invalid_events":
        # The sets whose events were refused are rejected in the 997.
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
