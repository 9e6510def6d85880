"""How the order endpoints answer each outcome kind of the intakes (and of
a cancellation) in HTTP: the only place where outcomes become status codes.
Services return :class:`~..services.outcomes.Outcome`; the controller, and
in-process callers that show a status like the endpoint would (the
simulation wizards), map its kind here."""

OUTCOME_STATUS = {
    "accepted": 202,  # stored, a job confirms it
    "created": 201,  # stored and confirmed at once (sync channels)
    "duplicate": 200,  # a replay: the stored order's state
    "cancelled": 200,
    "already_shipped": 200,  # a marketplace cancellation after shipping
    "ignored": 200,  # an update that is not a cancellation
    "invalid_json": 400,
    "unsupported_event": 400,
    "invalid_signature": 401,  # a simulated post, badly signed
    "invalid_order": 422,
    "concurrent_delivery": 409,  # being stored by a concurrent request
    "shipped": 409,  # the cancel endpoint: refused, something shipped
    "invalid_return": 422,  # a return the order cannot take
    "unknown_order": 404,  # a refund of an order never received
    "invalid_events": 422,  # 3PL events: every problem, nothing written
    "invalid_edi": 422,  # an X12 file: every problem, nothing written
    "invalid_snapshot": 422,  # a 3PL snapshot: every problem, nothing written
}


def status_of(outcome):
    """The HTTP status an :class:`~..services.outcomes.Outcome` is answered
    with."""
    return OUTCOME_STATUS[outcome.kind]
