"""What the order and return intakes tell their callers: an outcome kind
and its JSON answer. Never an HTTP status: the controller maps kinds to
status codes (``controllers/status.py``)."""

from typing import NamedTuple


class Outcome(NamedTuple):
    """``kind``: what happened; ``answer``: the JSON to send back. The
    HTTP controller maps kinds to status codes
    (``controllers.status.OUTCOME_STATUS``). Only ``accepted``, ``created``,
    ``duplicate``, ``cancelled``, ``already_shipped`` and ``ignored`` ever
    wrote anything."""

    kind: str
    answer: dict
