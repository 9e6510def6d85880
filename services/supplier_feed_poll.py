"""A polled supplier feed: its file fetched through the addon's outbound
guard (``adapters/outbound.py``: https only unless the host is listed,
private addresses refused, no redirects, clamped timeouts, the answer
capped at ``MAX_ANSWER_BYTES`` within a deadline), the marketplace
adapters' HTTP plumbing reused as the 3PL adapters reuse it."""

from dataclasses import dataclass, field

from ..adapters import outbound
from ..adapters.base import Adapter, PermanentError, TransientError

__all__ = ["FeedSource", "PermanentError", "TransientError", "fetch"]


@dataclass(frozen=True)
class FeedSource:
    """What a poll needs of a feed, read once per job."""

    code: str
    url: str
    # Never in a repr: a source printed into a log or an error tracker.
    token: str = field(default="", repr=False)
    timeout: float = 60.0
    allowed_hosts: tuple = ()

    @property
    def secrets(self):
        return [self.token] if self.token else []


class _FeedClient:
    """The guarded HTTP call of ``adapters/base.py``, for one feed."""

    request = Adapter.request
    redact = Adapter.redact
    _exchange = Adapter._exchange
    _observe = Adapter._observe
    # A vendor's server has no circuit breaker: nobody observes its calls.
    observer = None

    def __init__(self, config, session):
        self.config = config
        self.session = session
        self.code = f"supplier feed {config.code}"


def fetch(source, session=None):
    """The feed file's bytes at ``source.url``. Raises
    :class:`TransientError` (timeouts, refused connections, 5xx, 429:
    retried) or :class:`PermanentError` (refused destination, 4xx,
    redirects: shown on the feed)."""
    client = _FeedClient(source, session or outbound.new_session())
    headers = {"Accept": "text/csv, application/json"}
    if source.token:
        headers["Authorization"] = f"Bearer {source.token}"
    return client.request("GET", source.url, headers=headers).content


def user_message(exc):
    """What a failed poll shows on the feed: the status or the guard's
    reason, never the answer's body (it may echo anything)."""
    if getattr(exc, "status", None):
        return f"The vendor's server answered HTTP {exc.status} to the poll."
    reason = str(exc).split(": ", 1)[-1]
    return reason[:1].upper() + reason[1:] + "."
