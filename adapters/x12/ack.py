"""Write the 997 Functional Acknowledgment for a received functional group.

A 3PL resends a file until it gets its 997, so the answer must go back in
the partner's own delimiters, envelopes swapped, with control numbers the
caller owns (they are unique per sender, which only the caller can track).
An ack is never acknowledged: ISA14 is 0.
"""

from datetime import datetime, timezone

#: AK5-01 / AK9-01 codes used: accepted, partially accepted, rejected.
ACCEPTED, PARTIAL, REJECTED = "A", "P", "R"


def rejections(problems, group):
    """(AK5 codes per ST02, AK9 codes) of ``group`` from the problems of an
    :class:`~.tokenizer.X12Error`; a set problem without a code counts as
    5 (one or more segments in error)."""
    sets, group_codes = {}, []
    for problem in problems:
        if problem.group != group.control_number:
            continue
        if problem.set:
            codes = sets.setdefault(problem.set, [])
            code = problem.code or "5"
            if code not in codes:
                codes.append(code)
        elif problem.code and problem.code not in group_codes:
            group_codes.append(problem.code)
    return sets, group_codes


def functional_ack(
    interchange,
    group,
    *,
    interchange_control,
    group_control,
    set_control=1,
    rejected=None,
    group_errors=(),
    when=None,
):
    """The full 997 interchange (str) answering ``group`` of ``interchange``.

    ``rejected`` maps an ST02 to its AK5 error codes (at most 5 are sent);
    every other set of the group is accepted. ``group_errors`` are AK9 codes.
    """
    rejected = rejected or {}
    for name, value in (
        ("interchange_control", interchange_control),
        ("group_control", group_control),
        ("set_control", set_control),
    ):
        if not isinstance(value, int) or not 0 < value < 10**9:
            raise ValueError(f"{name} must be an integer from 1 to 999999999")
    when = when or datetime.now(timezone.utc)
    d = interchange.delimiters
    st02 = f"{set_control:04}"
    body = [["AK1", group.functional_id, group.control_number]]
    if group.version >= "005010":
        body[0].append(group.version)
    accepted = 0
    for tset in group.sets:
        body.append(["AK2", tset.set_id, tset.control_number])
        codes = rejected.get(tset.control_number)
        if codes is None:
            accepted += 1
            body.append(["AK5", ACCEPTED])
        else:
            body.append(["AK5", REJECTED, *[str(c) for c in codes][:5]])
    count = len(group.sets)
    if group_errors or not accepted and count:
        status = REJECTED
    else:
        status = ACCEPTED if accepted == count else PARTIAL
    body.append(["AK9", status, str(count), str(count), str(accepted)])
    body[-1].extend(str(c) for c in list(group_errors)[:5])
    segments = [
        [
            "GS",
            "FA",
            group.receiver,
            group.sender,
            when.strftime("%Y%m%d"),
            when.strftime("%H%M"),
            str(group_control),
            "X",
            group.version,
        ],
        ["ST", "997", st02],
        *body,
        ["SE", str(len(body) + 2), st02],
        ["GE", "1", str(group_control)],
        ["IEA", "1", f"{interchange_control:09}"],
    ]
    e = d.element
    isa = e.join(
        [
            "ISA",
            "00",
            " " * 10,
            "00",
            " " * 10,
            interchange.receiver_qualifier,
            f"{interchange.receiver_id:<15}"[:15],
            interchange.sender_qualifier,
            f"{interchange.sender_id:<15}"[:15],
            when.strftime("%y%m%d"),
            when.strftime("%H%M"),
            d.repetition or "U",
            interchange.version,
            f"{interchange_control:09}",
            "0",
            interchange.usage,
            d.component,
        ]
    )
    end = d.segment + d.line_end
    return isa + end + "".join(e.join(seg) + end for seg in segments)
