"""What every 3PL API adapter shares: its configuration, the registry, and
the marketplace adapters' HTTP plumbing as it is (destination check before
anything is sent, clamped timeouts, no redirects, an answer read up to a
cap within a deadline, failures sorted into transient and permanent,
secrets redacted from what is kept)."""

from dataclasses import dataclass, field

from ..base import Adapter, PermanentError, TransientError

THREEPL_ADAPTERS = {}


def register(cls):
    """Class decorator: the adapter of the provider (or protocol) ``code``."""
    THREEPL_ADAPTERS[cls.code] = cls
    return cls


def adapter_class(provider, protocol):
    """The adapter of a connection: its provider's own (matched on the
    provider's name, lowercased, spaces and dashes as ``_``), else its
    protocol's default; None when neither reads snapshots."""
    key = "_".join((provider or "").strip().lower().replace("-", " ").split())
    return THREEPL_ADAPTERS.get(key) or THREEPL_ADAPTERS.get(protocol)


def get_adapter(config, session):
    cls = adapter_class(config.provider, config.protocol)
    if cls is None:
        raise PermanentError(
            f"3PL {config.code}: no API adapter reads snapshots for protocol "
            f"{config.protocol!r}"
        )
    return cls(config, session)


@dataclass(frozen=True)
class ThreeplConfig:
    """What an adapter needs of a 3PL connection, read once per job."""

    code: str
    protocol: str
    api_url: str
    # Never in a repr: a config printed into a log or an error tracker.
    api_token: str = field(default="", repr=False)
    provider: str = ""
    timeout: float = 30.0
    # Hosts called over plain http or at private addresses (outbound.py).
    allowed_hosts: tuple = ()

    @property
    def secrets(self):
        return [self.api_token] if self.api_token else []


@dataclass(frozen=True)
class Level:
    """One SKU as the 3PL counts it: ``on_hand`` every unit it holds for
    the depositor (committed and on hold included: what is compared with
    Odoo), ``available`` what it could ship now (kept for reading)."""

    sku: str
    on_hand: float
    available: float | None = None


class ThreeplAdapter:
    """Reads one 3PL's inventory. Subclasses set ``code`` and implement
    :meth:`fetch_levels`."""

    code = None

    # The marketplace adapters' HTTP plumbing, unchanged (see
    # ``adapters/base.py``): they read ``code``, ``config.allowed_hosts``,
    # ``config.timeout`` and ``config.secrets`` only.
    request = Adapter.request
    redact = Adapter.redact
    json_of = Adapter.json_of
    _exchange = Adapter._exchange
    _observe = Adapter._observe
    # A 3PL has no circuit breaker: nobody observes its calls.
    observer = None

    def __init__(self, config, session):
        self.config = config
        self.session = session

    def fetch_levels(self, correlation_id):
        """``{sku: Level}``: the 3PL's whole inventory for the depositor,
        each SKU once. Raises :class:`TransientError` (retry later) or
        :class:`PermanentError` (the job fails, the connection shows why)."""
        raise NotImplementedError


__all__ = [
    "Level",
    "PermanentError",
    "THREEPL_ADAPTERS",
    "ThreeplAdapter",
    "ThreeplConfig",
    "TransientError",
    "adapter_class",
    "get_adapter",
    "register",
]
