"""How applying a 3PL event can fail short of success: for good (Error,
a to-do) or for now (Waiting, tried again)."""


class EventError(Exception):
    """A problem a retry cannot fix: the event goes to Error."""


class EventWaiting(Exception):
    """A precondition another event may still bring (a shipment before its
    receipt, a receipt before its purchase is confirmed): the event waits,
    in state Waiting, and is tried again when the connection's next event
    is applied (and by the hourly sweep)."""
