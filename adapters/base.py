"""What every adapter shares: the registry, HTTP with timeouts and failure
classification, and redaction of secrets from what is stored."""

import base64
import math
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from urllib.parse import quote, urlsplit

import requests

from .outbound import (
    Refused,
    check_destination,
    clamp_timeout,
    new_session,
    parse_retry_after,
    read_capped,
)
from .signing import check_request, verify_base64

ADAPTERS = {}

# Seconds to connect: a marketplace that does not accept a connection this
# fast is down. The read timeout is the channel's.
CONNECT_TIMEOUT = 5
EXCERPT_SIZE = 500


def register(cls):
    """Class decorator: make the adapter selectable by its ``code``."""
    ADAPTERS[cls.code] = cls
    return cls


def get_adapter(config, session=None):
    return ADAPTERS[config.adapter](config, session or new_session())


class TransientError(Exception):
    """Worth retrying later: timeout, refused connection, 5xx, 429."""

    def __init__(self, message, status=None, retry_after=None, excerpt=""):
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after
        self.excerpt = excerpt


class PermanentError(Exception):
    """The marketplace refused the request: retrying will not help."""

    def __init__(self, message, status=None, excerpt=""):
        super().__init__(message)
        self.status = status
        self.excerpt = excerpt


@dataclass(frozen=True)
class ChannelConfig:
    """What an adapter needs to know of a channel, read once per job, so
    adapters hold no ORM records."""

    code: str
    adapter: str
    base_url: str
    # Never in a repr: a config printed into a log or an error tracker.
    api_key: str = field(default="", repr=False)
    api_secret: str = field(default="", repr=False)
    webhook_secret: str = field(default="", repr=False)
    api_version: str = ""
    location_ref: str = ""
    timeout: float = 30.0
    # Hosts called over plain http or at private addresses (see outbound.py).
    allowed_hosts: tuple = ()
    # Amazon SP-API: the seller account, its marketplaces, Login with Amazon.
    seller_id: str = ""
    marketplace_ids: tuple = ()
    lwa_client_id: str = ""
    lwa_client_secret: str = field(default="", repr=False)
    lwa_refresh_token: str = field(default="", repr=False)
    lwa_token_url: str = ""
    feed_threshold: int = 0
    # The channel's record and company ids (0: no record, e.g. a benchmark):
    # what per-channel process state (Amazon's access tokens) is keyed by.
    channel_id: int = 0
    company_id: int = 0

    @property
    def secrets(self):
        """Every form in which a secret of this channel may appear in what
        is sent or answered: as is, URL-encoded, and WooCommerce's HTTP
        Basic credentials (base64 of ``key:secret``)."""
        plain = [
            s
            for s in (
                self.api_key,
                self.api_secret,
                self.webhook_secret,
                self.lwa_client_secret,
                self.lwa_refresh_token,
            )
            if s
        ]
        forms = set(plain) | {quote(s, safe="") for s in plain}
        if self.api_key and self.api_secret:
            pair = f"{self.api_key}:{self.api_secret}".encode()
            forms.add(base64.b64encode(pair).decode())
        # Longest first: a secret inside another form is replaced with it.
        return sorted(forms, key=len, reverse=True)


@dataclass(frozen=True)
class Call:
    """The outcome of one HTTP call to a marketplace, as
    :meth:`Adapter.request` tells its observer: ``ok`` when the marketplace
    answered (a 4xx about one item included), else a failure of ``kind``
    (``timeout``, ``connection``, ``server`` for a 5xx, ``rate_limit`` for
    a 429, ``answer`` for an answer too large or too slow). ``summary`` is
    the method and path, never the query (credentials travel there)."""

    ok: bool
    status: int
    kind: str
    summary: str
    message: str = ""
    duration_ms: int = 0


def call_kind(ok, status, message):
    """The :attr:`Call.kind` of an outcome."""
    if ok:
        return "ok"
    if status == 429:
        return "rate_limit"
    if status and status >= 500:
        return "server"
    if message.endswith("timeout"):
        return "timeout"
    if message.endswith("connection failed"):
        return "connection"
    return "answer"


@dataclass
class Item:
    """One listing's new quantity, as an adapter sends it."""

    listing_id: int
    sku: str
    external_ref: str
    quantity: int
    previous: int | None
    product_type: str = ""
    # Per-location publication: the marketplace location (else the channel's).
    location: str = ""
    # When the quantity was computed (naive UTC, the database's clock): the
    # runs of a channel are one at a time, so a later run's is later.
    generated_at: datetime | None = None
    # The handling time to publish with it (a channel selling drop-ship
    # stock), None: the channel's own, unchanged.
    lead_time_days: int | None = None

    @property
    def key(self):
        """What identifies this quantity on the channel: the listing, or the
        listing at a location."""
        return (self.listing_id, self.location) if self.location else self.listing_id


@dataclass(frozen=True)
class ListingRef:
    """A listing as the channel knows it, for reading its level back."""

    listing_id: int
    sku: str
    external_ref: str
    location: str = ""

    key = Item.key


@dataclass
class Outcome:
    """What the marketplace answered to one batch."""

    status: int
    excerpt: str
    item_errors: dict = field(default_factory=dict)  # Item.key -> message


@dataclass(frozen=True)
class PulledOrder:
    """One order listed by a pull: ``payload`` is the order in the JSON
    shape the marketplace's order webhook carries (so ``to_canonical`` and
    the intake read it as if it had been posted), ``action`` what the intake
    does with it (``create`` or ``cancel``), ``updated_at`` the
    marketplace's last change of it (naive UTC), which the watermark
    follows."""

    external_id: str
    updated_at: datetime
    action: str
    payload: dict


@dataclass(frozen=True)
class OrderPage:
    """One page of pulled orders, oldest change first; ``next_cursor`` is
    None on the last page. ``read_until`` (naive UTC): every order changed
    up to then has been listed by this page or an earlier one of the same
    listing, so the watermark may move there once they are stored; None when
    the adapter cannot say before the last page (the listing's order is not
    documented: Amazon), where the pull takes the latest change listed."""

    orders: list
    next_cursor: object = None
    read_until: datetime | None = None


def parse_timestamp(value):
    """An ISO 8601 timestamp of a marketplace as a naive UTC datetime (one
    without an offset is UTC: WooCommerce's ``*_gmt`` fields); None when it
    is missing or not a timestamp."""
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo:
        moment = moment.astimezone(timezone.utc).replace(tzinfo=None)
    return moment


def keyset_read_until(orders, more):
    """``OrderPage.read_until`` of a page in change order: on a page with
    more after it, one second before its last change (orders changed in that
    same second may continue on the next page; marketplaces filter on whole
    seconds); on the last page, its last change; None for an empty page."""
    if not orders:
        return None
    last = max(pulled.updated_at for pulled in orders)
    return last - timedelta(seconds=1) if more else last


def iso_utc(moment):
    """A naive UTC datetime as ``YYYY-MM-DDTHH:MM:SSZ``."""
    return moment.replace(microsecond=0).isoformat() + "Z"


def to_number(value):
    """Shopify and WooCommerce send prices as strings."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return value


def location_key(ref):
    """A marketplace location as both sides may write it: Shopify's
    ``gid://shopify/Location/123`` and ``123`` are the same location; any
    other reference is compared as written (trimmed). The one definition of
    "the same marketplace location"; :func:`location_key_sql` is its twin
    for queries."""
    ref = str(ref or "").strip()
    if ref.startswith("gid://"):
        ref = ref.rsplit("/", 1)[-1]
    return ref or None


def location_key_sql(column):
    """:func:`location_key` of ``column`` (a qualified column name written
    in code, never input) as an SQL expression: trimmed, a ``gid://…/``
    prefix dropped, empty as NULL."""
    return f"NULLIF(regexp_replace(btrim({column}), '^gid://.*/', ''), '')"


def whole_number(value):
    """A quantity read back from a channel as an int, or None when it is not
    a finite whole JSON number (a hostile or broken answer)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float) and not (math.isfinite(value) and value.is_integer()):
        return None
    return int(value)


def full_name(party):
    """``first_name last_name`` of a marketplace customer or address."""
    return " ".join(filter(None, [party.get("first_name"), party.get("last_name")]))


def canonical_lines(data, shipping_key):
    """Lines and shipping amount of a Shopify / WooCommerce order, which
    share ``line_items[{id, sku, quantity, price}]`` and ``shipping_lines``.
    The marketplace's line id is kept: its refunds name lines by it."""
    lines = [
        {
            "line_id": line.get("id"),
            "sku": line.get("sku"),
            "quantity": line.get("quantity"),
            "unit_price": to_number(line.get("price")),
        }
        for line in data.get("line_items") or []
    ]
    shipping = sum(
        to_number(s.get(shipping_key)) or 0 for s in data.get("shipping_lines") or []
    )
    return lines, shipping


class Adapter:
    """Pushes quantities to one marketplace, and reads its order webhooks."""

    code = None
    # The header naming an order webhook's topic (None: orders only).
    topic_header = None
    batch_limit = 100
    read_page_size = 100
    # The publisher looks each listing's marketplace details up once
    # (``lookup_listings``) before sending it (Amazon's product type).
    needs_listing_details = False
    # Whether ``fetch_orders`` lists the marketplace's orders (pulled orders).
    pulls_orders = False
    # Whether the marketplace posts its orders (webhooks). False: pulling is
    # its only way in, and a pulled order is no sign of a missed webhook.
    posts_orders = True
    # Whether quantities can be published per marketplace location
    # (``Item.location`` / ``ListingRef.location``).
    publishes_per_location = False

    @classmethod
    def verify_order_request(cls, secrets, request):
        """None when the order request (a :class:`.signing.SignedRequest`)
        is signed with one of ``secrets``, else the reason, for the log only.
        The generic contract: signature v2 (method, path, time and body)."""
        return check_request(secrets, request)

    @classmethod
    def delivery_id(cls, headers):
        """The marketplace's id of this delivery, stable across its retries
        (deduplicated for 48 h), or None when it has none."""
        return None

    @classmethod
    def order_action(cls, topic, data):
        """What an authenticated order webhook asks, decided by its signed
        payload, never by an unsigned header alone: ``"create"``,
        ``"cancel"``, ``"ignore"``, or None for a topic this addon does not
        handle. ``topic`` is the delivery's topic header (None when the
        marketplace sends none)."""
        return "create"

    @classmethod
    def to_canonical(cls, data):
        """The marketplace's order payload as the canonical order."""
        return data

    @staticmethod
    def verify_body(secrets, request, header):
        """Shopify's and WooCommerce's signature: base64 HMAC of the raw body
        in ``header``; None when one of ``secrets`` signed it."""
        given = request.headers.get(header, "")
        matches = [verify_base64(secret, request.body, given) for secret in secrets]
        return None if any(matches) else "bad_signature"

    def __init__(self, config, session):
        self.config = config
        self.session = session
        # Told the outcome of every call this adapter makes (a channel's
        # circuit breaker, ``services/breaker.py``): ``observer(Call)``.
        # None: nobody listens (3PL connections, benchmarks).
        self.observer = None

    @classmethod
    def summed_location(cls, location_ref):
        """The marketplace location a summed quantity is published at, from
        the channel's *Channel Location*: none for most adapters (the
        generic contract's summed item names no location)."""
        return ""

    @classmethod
    def inbound_ping(cls, body, form=None):
        """Whether an unsigned request is the marketplace's check of a new
        webhook, answered 200 without authentication: none by default."""
        return False

    @classmethod
    def invalid_location_refs(cls, refs):
        """Those of ``refs`` (the channel's mapped marketplace locations)
        in a form the marketplace's API does not take, and the form it
        takes: ``(refused refs, expected form)``; every form by default."""
        return [], ""

    def push_levels(self, items, batch_id, correlation_id):
        """Send one batch (at most ``batch_limit`` items); return an
        :class:`Outcome` (its ``item_errors`` keyed by ``Item.key``) or
        raise :class:`TransientError` / :class:`PermanentError`."""
        raise NotImplementedError

    def use_feed(self, count):
        """Whether ``count`` quantities go through one asynchronous bulk feed
        (``submit_feed`` / ``feed_result``) rather than ``push_levels``."""
        return False

    def push_shipment(self, shipment, correlation_id):
        """Tell the channel an order shipped. ``shipment`` is a dict:
        ``external_id``, ``carrier``, ``tracking_ref``, ``tracking_url``,
        ``lines`` [{sku, quantity}]."""
        raise NotImplementedError

    def fetch_orders(self, since, cursor, correlation_id, known=None):
        """One :class:`OrderPage` of the orders changed after ``since``
        (naive UTC), oldest change first; ``cursor`` is the previous page's
        ``next_cursor`` (None for the first page). Paging must not skip an
        order that changes (or leaves the list) while the pages are read.
        ``known``, when given, answers which of a list of order ids are
        stored already: an adapter may skip reading more of those (Amazon's
        items of an order re-read by the pull's overlap)."""
        raise NotImplementedError

    def fetch_levels(self, refs, correlation_id):
        """What the channel shows now: ``{ref.key: quantity}`` (the listing,
        or the listing at a location) for the listings it knows (a listing
        left out is unknown on the channel), reading ``read_page_size``
        listings per request."""
        levels = {}
        for index in range(0, len(refs), self.read_page_size):
            page = refs[index : index + self.read_page_size]
            levels.update(self._read_page(page, correlation_id))
        return levels

    def _read_page(self, refs, correlation_id):
        """``{ref.key: quantity}`` for one page of ``refs``."""
        raise NotImplementedError

    # -- helpers -------------------------------------------------------------

    def redact(self, text):
        """Text safe to store or log: secrets replaced, trimmed."""
        text = text or ""
        for secret in self.config.secrets:
            text = text.replace(secret, "***")
        return text[:EXCERPT_SIZE]

    def json_of(self, response, expected=dict):
        """The answer's JSON of the ``expected`` type: a channel answering
        something else is broken, not busy."""
        try:
            data = response.json()
        except ValueError:
            data = None
        if not isinstance(data, expected):
            raise PermanentError(
                f"{self.code}: unexpected answer",
                status=response.status_code,
                excerpt=self.redact(response.text),
            )
        return data

    def request(self, method, url, **kwargs):
        """An HTTP call to an allowed destination (see ``outbound.py``), with
        clamped timeouts, no redirects and a capped answer read within a total
        deadline; failures sorted into transient and permanent. Returns the
        response when it is a 2xx.

        The one path of every adapter's HTTP calls, so the one place where
        their outcome is told to :attr:`observer`: a transient failure
        (timeout, refused connection, 5xx, 429, an answer cut) as a failed
        call; any answer, a 4xx about one item included, as a call the
        marketplace answered. A destination refused before anything is
        sent, or a malformed URL, is no call."""
        try:
            check_destination(url, self.config.allowed_hosts)
        except Refused as exc:
            raise PermanentError(f"{self.code}: {exc}") from exc
        started = time.monotonic()
        try:
            response = self._exchange(method, url, **kwargs)
        except TransientError as exc:
            self._observe(method, url, started, False, exc.status, str(exc))
            raise
        except PermanentError as exc:
            if exc.status:
                self._observe(method, url, started, True, exc.status, "")
            raise
        self._observe(method, url, started, True, response.status_code, "")
        return response

    def _observe(self, method, url, started, ok, status, message):
        """Tell :attr:`observer` of one call; never fails the call."""
        if self.observer is None:
            return
        path = urlsplit(url).path
        self.observer(
            Call(
                ok=ok,
                status=status or 0,
                kind=call_kind(ok, status, message),
                summary=self.redact(f"{method} {path}")[:200],
                message=self.redact(message)[:200],
                duration_ms=int((time.monotonic() - started) * 1000),
            )
        )

    def _exchange(self, method, url, **kwargs):
        """The call itself, to a checked destination (:meth:`request`)."""
        timeout = clamp_timeout(self.config.timeout)
        deadline = time.monotonic() + CONNECT_TIMEOUT + 2 * timeout
        try:
            response = self.session.request(
                method,
                url,
                timeout=(CONNECT_TIMEOUT, timeout),
                allow_redirects=False,
                stream=True,
                **kwargs,
            )
            whole = read_capped(response, deadline)
        except requests.Timeout as exc:
            raise TransientError(f"{self.code}: timeout") from exc
        except requests.ConnectionError as exc:
            raise TransientError(f"{self.code}: connection failed") from exc
        except requests.RequestException as exc:
            # No or a malformed base URL: a configuration error, not an outage.
            raise PermanentError(f"{self.code}: invalid request URL") from exc
        excerpt = self.redact(response.text)
        if not whole:
            raise TransientError(
                f"{self.code}: answer too large or too slow",
                status=response.status_code,
            )
        if 300 <= response.status_code < 400:
            raise PermanentError(
                f"{self.code}: HTTP {response.status_code}: redirects are not "
                "followed; set the channel's base URL to the final address",
                status=response.status_code,
            )
        if response.status_code == 429 or response.status_code >= 500:
            raise TransientError(
                f"{self.code}: HTTP {response.status_code}",
                status=response.status_code,
                retry_after=parse_retry_after(response.headers.get("Retry-After")),
                excerpt=excerpt,
            )
        if response.status_code >= 400:
            raise PermanentError(
                f"{self.code}: HTTP {response.status_code}: {excerpt}",
                status=response.status_code,
                excerpt=excerpt,
            )
        return response
