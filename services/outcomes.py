"""What the order and return intakes tell their callers: an outcome kind
and its JSON answer, and the HTTP status each kind is answered with."""

from typing import NamedTuple

# How the order endpoints answer each outcome of the intake and of a
# cancellation: the HTTP controller and in-process callers share it.
OUTCOME_STATUS = {
    "accepted": 202,  # stored, a job confirms it
    "created": 201,  # stored and confirmed at once (sync channels)
    "duplicate": 200,  # a replay: the stored order's state
    "cancelled": 200,
    "already_shipped": 200,  # a marketplace cancellation after shipping
    "ignored": 200,  # an update that is not a cancellation
    "invalid_json": 400,
    "unsupported_event": 400,
    "invalid_order": 422,
    "concurrent_delivery": 409,  # being stored by a concurrent request
    "shipped": 409,  # the cancel endpoint: refused, something shipped
    "invalid_return": 422,  # a return the order cannot take
    "unknown_order": 404,  # a refund of an order never received
}


class Outcome(NamedTuple):
    """``kind``: what happened; ``answer``: the JSON to send back. The
    HTTP controller maps kinds to status codes (:data:`OUTCOME_STATUS`).
    Only ``accepted``, ``created``, ``duplicate``, ``cancelled``,
    ``already_shipped`` and ``ignored`` ever wrote anything."""

    kind: str
    answer: dict
