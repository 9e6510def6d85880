"""Amazon Selling Partner API: one seller account is one channel.

A thin client on ``requests`` (see README.rst for why not
``python-amazon-sp-api``):

* Login with Amazon: the refresh token is exchanged for a one-hour access
  token, cached in the process per company, channel, seller, client id and
  refresh token (never shared by two channels, even with the same code in
  two companies) until a minute before it expires. An answer 401 or 403
  drops it: it is exchanged once more and the request sent once more (Amazon
  answers an expired or revoked token with either); refused again, the
  request fails for good. One exchange per cache key at a time, under that
  key's lock only. The token is never stored: not in a row, not in a log,
  and it is redacted from every excerpt.
* Every operation is paced by a token bucket with its documented rate and
  burst, shared by the process per endpoint, seller and operation; the rate
  follows the ``x-amzn-RateLimit-Limit`` header Amazon answers with. A 429 is
  waited out and the request sent again; after :data:`THROTTLE_RETRIES` of
  them in a row the run fails with a transient error, so the job is retried
  later and the listings stay pending: a throttled request is never dropped.
  A job never sleeps in its open transaction longer than
  :data:`MAX_INLINE_WAIT`: a longer ``Retry-After`` or wait for a slot is a
  transient error carrying that delay (the job is retried after it).
* Quantities: ``patchListingsItem`` (one request per SKU and marketplace) for
  small batches, one ``JSON_LISTINGS_FEED`` per marketplace for large ones
  (:meth:`AmazonAdapter.use_feed`). Both send a ``merge`` of
  ``/attributes/fulfillment_availability`` with the ``DEFAULT`` (merchant)
  fulfillment channel, which needs the listing's product type: looked up once
  through ``searchListingsItems``, which also tells Amazon-fulfilled (FBA)
  offers apart. FBA stock is Amazon's: it is never published to. A feed's
  processing report is decompressed up to :data:`MAX_REPORT_BYTES`.
* Read-back: ``searchListingsItems`` (20 SKUs per request), the ``DEFAULT``
  fulfillment availability of each.
* Pulled orders: ``getOrders`` since the watermark (``LastUpdatedAfter``,
  following ``NextToken``) and ``getOrderItems`` of each merchant-fulfilled
  (``MFN``) order to import (at most :data:`MAX_ITEM_PAGES` pages, a
  ``NextToken`` never twice); Amazon posts no orders. The pulled shape
  (:func:`pulled_order`) is what :meth:`AmazonAdapter.to_canonical` reads.
  Buyer name and full address come with a Restricted Data Token, requested
  for each ``getOrders`` page.
* Shipments: ``confirmShipment`` with carrier, tracking number and the
  shipped order item ids (read from the order as pulled).
"""

import hashlib
import json
import math
import threading
import time
import zlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from urllib.parse import quote

from .base import (
    CONNECT_TIMEOUT,
    Adapter,
    OrderPage,
    Outcome,
    PermanentError,
    PulledOrder,
    TransientError,
    iso_utc,
    parse_timestamp,
    register,
    to_number,
)
from .outbound import clamp_timeout

REGIONS = {
    "na": "https://sellingpartnerapi-na.amazon.com",
    "eu": "https://sellingpartnerapi-eu.amazon.com",
    "fe": "https://sellingpartnerapi-fe.amazon.com",
}
DEFAULT_TOKEN_URL = "https://api.amazon.com/auth/o2/token"
LISTINGS_PATH = "/listings/2021-08-01/items/"
FEEDS_PATH = "/feeds/2021-06-30/"
ORDERS_PATH = "/orders/v0/orders"
ORDERS_MIN_AGE = timedelta(minutes=2) + timedelta(seconds=5)
FEED_CONTENT_TYPE = "application/json; charset=UTF-8"
FEED_MAX_MESSAGES = 25000
# Changed quantities from which one feed beats one PATCH each (README.rst,
# "Amazon": measured with bench/amazon_bench.py).
DEFAULT_FEED_THRESHOLD = 500
# (requests per second, burst) of each operation, from Amazon's usage plans.
RDT_PATH = "/tokens/2021-03-01/restrictedDataToken"
RATES = {
    "patchListingsItem": (5.0, 5),
    "getListingsItem": (5.0, 10),
    "searchListingsItems": (5.0, 5),
    "createFeedDocument": (0.5, 15),
    "createFeed": (0.0083, 15),
    "getFeed": (2.0, 15),
    "getFeedDocument": (0.0222, 10),
    "getOrders": (0.0167, 20),
    "getOrderItems": (0.5, 30),
    "confirmShipment": (2.0, 10),
    "createRestrictedDataToken": (1.0, 10),
}
# Carrier codes Amazon knows by name; any other carrier is sent as "Other"
# with its name.
CARRIER_CODES = {
    code.lower(): code
    for code in ("UPS", "USPS", "FedEx", "DHL", "DPD", "GLS", "Royal Mail")
}
# Merchant-fulfilled orders in these states are imported (an order still
# ``Pending`` is not paid yet: it is listed again when it changes); a
# ``Canceled`` one cancels; any other state (shipped outside Odoo, ...) is
# acknowledged and left alone.
IMPORTED_STATES = ("Unshipped", "PartiallyShipped")
CANCELLED_STATE = "Canceled"
# Seconds before its expiry an access token is exchanged again.
TOKEN_MARGIN = 60
# 429 answers in a row waited out before the run gives up (and is retried).
THROTTLE_RETRIES = 20
# Longest a job sleeps in its open transaction for one request (pacing and
# 429s together): a longer wait is a transient error with that delay, and
# queue_job tries the job again after it.
MAX_INLINE_WAIT = 5.0
# A feed's processing report, decompressed, at most (25,000 messages with a
# few issues each are well under it).
MAX_REPORT_BYTES = 32 * 1024 * 1024
# getOrderItems pages of one order read at most (an order holds at most
# payloads.MAX_LINES lines; Amazon pages by 100 or fewer).
MAX_ITEM_PAGES = 100
# Seconds added to every wait for a slot (see TokenBucket.take).
PACING_MARGIN = 0.02
SEARCH_PAGE = 20  # searchListingsItems: at most 20 identifiers per request
# Feed processing states that are not final.
FEED_PENDING = ("IN_QUEUE", "IN_PROGRESS")

# Adapter._token_key() -> (access token, monotonic expiry)
_TOKENS = {}
# Adapter._token_key() -> the lock one exchange of that key is made under.
_EXCHANGE_LOCKS = {}
# Guards the two dicts above, held for dictionary operations only, never
# during a network call.
_TOKEN_LOCK = threading.Lock()
_BUCKETS = {}  # (endpoint, seller id, operation) -> TokenBucket
_BUCKET_LOCK = threading.Lock()


def reset_process_state():
    """Forget cached access tokens and rate buckets (tests, benchmark)."""
    with _TOKEN_LOCK:
        _TOKENS.clear()
        _EXCHANGE_LOCKS.clear()
    with _BUCKET_LOCK:
        _BUCKETS.clear()


def gunzip_capped(data, limit):
    """``data`` (one or more gzip members) decompressed, never more than
    ``limit`` bytes of output held: a small download that inflates without
    bound (a "zip bomb") is refused with :class:`ValueError`, as is a
    truncated or corrupt one."""
    out = bytearray()
    while data:
        stream = zlib.decompressobj(16 + zlib.MAX_WBITS)
        pending = data
        while pending:
            # max_length 0 would mean unlimited: at least 1 is asked.
            out += stream.decompress(pending, limit + 1 - len(out))
            if len(out) > limit:
                raise ValueError(f"more than {limit} bytes decompressed")
            pending = stream.unconsumed_tail
        if not stream.eof:
            raise ValueError("truncated gzip data")
        data = stream.unused_data.lstrip(b"\0")  # padding after the last member
    return bytes(out)


class TokenBucket:
    """``rate`` requests per second with bursts of ``burst``. :meth:`take`
    reserves the next slot under a lock and sleeps outside it, so threads of
    one process share the seller's allowance without exceeding it."""

    def __init__(self, rate, burst, clock=time.monotonic, sleep=time.sleep):
        self.rate = rate
        self.burst = burst
        self.tokens = float(burst)
        self.clock = clock
        self.sleep = sleep
        self.stamp = clock()
        self.lock = threading.Lock()

    def _refill(self, now):
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now

    def take(self, max_wait=math.inf):
        """Wait until one request may be sent; return the seconds waited.
        A slot further than ``max_wait`` seconds away is not reserved: a
        :class:`TransientError` carries the wait instead (the job is retried
        then rather than sleeping in its transaction)."""
        with self.lock:
            self._refill(self.clock())
            wait = (1 - self.tokens) / self.rate if self.tokens < 1 else 0.0
            if wait and wait > max_wait:
                raise TransientError(
                    f"amazon: rate limit reached, next request allowed in "
                    f"{math.ceil(wait)} s",
                    retry_after=math.ceil(wait + PACING_MARGIN),
                )
            self.tokens -= 1
        if wait:
            # A little late rather than early: requests reach the marketplace
            # with varying delays, and its bucket counts their arrival. The
            # schedule itself stays on the rate (reservations, not send times).
            wait += PACING_MARGIN
            self.sleep(wait)
        return wait

    def drain(self):
        """The marketplace said 429: its bucket is empty, so is ours."""
        with self.lock:
            self._refill(self.clock())
            self.tokens = min(self.tokens, 0.0)

    def set_rate(self, rate):
        """The rate Amazon says it applies (``x-amzn-RateLimit-Limit``)."""
        if rate > 0 and rate != self.rate:
            with self.lock:
                self._refill(self.clock())
                self.rate = rate


def bucket_for(endpoint, seller_id, operation):
    key = (endpoint, seller_id, operation)
    with _BUCKET_LOCK:
        if key not in _BUCKETS:
            _BUCKETS[key] = TokenBucket(*RATES[operation])
        return _BUCKETS[key]


@dataclass
class ListingDetails:
    """What Amazon says of one SKU: its product type, whether Amazon fulfils
    it (FBA) and the merchant-fulfilled quantity it shows."""

    product_type: str
    fba: bool
    quantity: int | None


@dataclass
class FeedResult:
    """A finished feed: ``errors`` by message id (the listing id); ``failed``
    is the reason when the whole feed was refused."""

    status: str
    errors: dict = field(default_factory=dict)
    failed: str = ""
    excerpt: str = ""


def utc_now():
    return datetime.now(timezone.utc).replace(tzinfo=None)


def _amount(money):
    return to_number((money or {}).get("Amount")) if money else None


def pulled_order(order, items):
    """The order as this addon stores an Amazon order's payload: the
    ``getOrders`` order object with its ``getOrderItems`` items under
    ``OrderItems``."""
    return dict(order, OrderItems=items)


def _text(value):
    """A trimmed address text, None when empty (a non-text value is left for
    the order's validation to refuse)."""
    if isinstance(value, str):
        return value.strip() or None
    return value


def shipping_address(address):
    """Amazon's ``Address`` as the canonical shipping address. Empty street
    lines move up; ``District`` and ``County`` (neighbourhood, county) follow
    the street lines on the second line unless they repeat the city;
    ``Municipality`` is the city when Amazon gives no ``City``. A value that
    is not text is passed on as the street, which the order's validation
    refuses."""
    city = _text(address.get("City")) or _text(address.get("Municipality"))
    parts = []
    for key in ("AddressLine1", "AddressLine2", "AddressLine3", "District", "County"):
        part = _text(address.get(key))
        if part is None or part in parts:
            continue
        same_as_city = (
            isinstance(part, str)
            and isinstance(city, str)
            and (part.lower() == city.lower())
        )
        if key in ("District", "County") and same_as_city:
            continue
        parts.append(part)
    invalid = [part for part in parts if not isinstance(part, str)]
    if invalid:
        street, street2 = invalid[0], None
    else:
        street = parts[0] if parts else None
        street2 = ", ".join(parts[1:]) or None
    return {
        "name": _text(address.get("Name")),
        "street": street,
        "street2": street2,
        "city": city,
        "zip": _text(address.get("PostalCode")),
        "state_code": _text(address.get("StateOrRegion")),
        "country_code": _text(address.get("CountryCode")),
        "phone": _text(address.get("Phone")),
    }


def _unit_price(item):
    total, quantity = _amount(item.get("ItemPrice")), item.get("QuantityOrdered")
    if isinstance(total, float) and isinstance(quantity, int) and quantity > 0:
        return round(total / quantity, 6)
    return total if total is not None else 0.0


def availability_patch(quantity):
    return [
        {
            "op": "merge",
            "path": "/attributes/fulfillment_availability",
            "value": [{"fulfillment_channel_code": "DEFAULT", "quantity": quantity}],
        }
    ]


@register
class AmazonAdapter(Adapter):
    code = "amazon"
    batch_limit = 20  # PATCH requests per audited batch: 4 s at 5/s
    read_page_size = SEARCH_PAGE
    needs_listing_details = True
    pulls_orders = True
    posts_orders = False  # no order notifications here: the pull is the way in

    @classmethod
    def to_canonical(cls, data):
        """A pulled order (:func:`pulled_order`). Amazon's ``ItemPrice`` is
        the line's total, ``ShippingPrice`` per item; without a Restricted
        Data Token the buyer is known by ``BuyerInfo.BuyerEmail`` (Amazon's
        anonymised relay address) and the address by city, state, postal
        code and country. Every address field Amazon gives is kept:
        ``AddressLine1`` is the street, lines 2 and 3 with ``District`` and
        ``County`` the second line, ``StateOrRegion`` the state (a code or a
        name: the sale order resolves either in the country)."""
        if not isinstance(data, dict):
            return data
        address = data.get("ShippingAddress") or {}
        if not isinstance(address, dict):
            address = {}
        buyer = data.get("BuyerInfo") or {}
        items = data.get("OrderItems") or []
        name = buyer.get("BuyerName") or address.get("Name")
        return {
            "external_id": data.get("AmazonOrderId"),
            "ordered_at": data.get("PurchaseDate"),
            "currency": (data.get("OrderTotal") or {}).get("CurrencyCode"),
            "customer": {
                "name": name or f"Amazon order {data.get('AmazonOrderId')}",
                "email": buyer.get("BuyerEmail"),
                "phone": address.get("Phone"),
            },
            "shipping_address": shipping_address(address),
            "lines": [
                {
                    "sku": item.get("SellerSKU"),
                    "quantity": item.get("QuantityOrdered"),
                    "unit_price": _unit_price(item),
                }
                for item in items
            ],
            "shipping_amount": sum(
                _amount(item.get("ShippingPrice")) or 0 for item in items
            ),
            "note": None,
        }

    def __init__(self, config, session):
        super().__init__(config, session)
        self.stats = {"requests": 0, "throttled": 0, "retried": 0, "tokens": 0}
        self.tokens_used = set()  # redacted even after being replaced

    # -- configuration -------------------------------------------------------

    @property
    def endpoint(self):
        return self.config.base_url.rstrip("/")

    @property
    def marketplaces(self):
        if not self.config.seller_id or not self.config.marketplace_ids:
            raise PermanentError(
                "amazon: the channel needs a seller id and at least one "
                "marketplace id"
            )
        return self.config.marketplace_ids

    def use_feed(self, count):
        """Whether ``count`` quantities go through one feed rather than one
        PATCH each (the channel's threshold; 0 never uses feeds)."""
        threshold = self.config.feed_threshold
        return bool(threshold) and count >= threshold

    # -- Login with Amazon ---------------------------------------------------

    def _token_key(self):
        """What an access token belongs to: the company and channel (channel
        codes are unique per company only), the seller, the application and
        the refresh token (a fingerprint: a new refresh token is exchanged at
        once, not after the old access token expires)."""
        config = self.config
        refresh = hashlib.sha256(config.lwa_refresh_token.encode()).hexdigest()
        return (
            config.company_id,
            config.channel_id or config.code,
            config.seller_id,
            config.lwa_client_id,
            refresh[:32],
        )

    def _cached_token(self, key, stale):
        """The cached token of ``key`` unless it is ``stale`` (refused by
        the API: dropped) or about to expire; None then."""
        with _TOKEN_LOCK:
            cached = _TOKENS.get(key)
            if cached and cached[0] == stale:
                del _TOKENS[key]
                cached = None
            if cached and cached[1] > time.monotonic():
                return cached[0]
            return None

    def access_token(self, stale=None):
        """A valid access token; ``stale`` is one the API refused (401 or
        403): it is dropped and exchanged again, unless another thread
        already did. Only this key's exchange lock is held during the
        exchange (threads of other channels go on), and it is checked again
        once taken (the first thread's exchange serves the others)."""
        key = self._token_key()
        token = self._cached_token(key, stale)
        if token is None:
            with _TOKEN_LOCK:
                lock = _EXCHANGE_LOCKS.setdefault(key, threading.Lock())
            # Bounded like the exchange itself: a hung exchange of another
            # thread is not waited for beyond what this one could take.
            wait = CONNECT_TIMEOUT + 2 * clamp_timeout(self.config.timeout)
            if not lock.acquire(timeout=wait):
                raise TransientError(
                    "amazon: another exchange of this channel's access token "
                    "is taking too long"
                )
            try:
                token = self._cached_token(key, stale)
                if token is None:
                    token, expires_in = self._exchange_refresh_token()
                    with _TOKEN_LOCK:
                        _TOKENS[key] = (token, time.monotonic() + expires_in)
            finally:
                lock.release()
        self.tokens_used.add(token)
        return token

    def _exchange_refresh_token(self):
        config = self.config
        if not (
            config.lwa_client_id
            and config.lwa_client_secret
            and config.lwa_refresh_token
        ):
            raise PermanentError(
                "amazon: the channel needs its Login with Amazon client id, "
                "client secret and refresh token"
            )
        self.stats["tokens"] += 1
        try:
            response = self.request(
                "POST",
                config.lwa_token_url or DEFAULT_TOKEN_URL,
                data={
                    "grant_type": "refresh_token",
                    "refresh_token": config.lwa_refresh_token,
                    "client_id": config.lwa_client_id,
                    "client_secret": config.lwa_client_secret,
                },
            )
        except PermanentError as exc:
            raise PermanentError(
                f"amazon: Login with Amazon refused the credentials "
                f"(HTTP {exc.status}): {exc.excerpt}",
                status=exc.status,
                excerpt=exc.excerpt,
            ) from exc
        data = self.json_of(response)
        if not data.get("access_token"):
            raise PermanentError(
                "amazon: Login with Amazon answered without an access token",
                status=response.status_code,
            )
        try:
            expires_in = int(data.get("expires_in") or 3600)
        except (TypeError, ValueError):
            expires_in = 3600
        # Kept until TOKEN_MARGIN before its expiry, at most an hour.
        return data["access_token"], min(max(expires_in - TOKEN_MARGIN, 0), 3600)

    def redact(self, text):
        """Secrets and the cached access token replaced."""
        text = text or ""
        cached = _TOKENS.get(self._token_key())
        for token in self.tokens_used | ({cached[0]} if cached else set()):
            text = text.replace(token, "***")
        return super().redact(text)

    # -- calls ---------------------------------------------------------------

    def call(
        self, operation, method, path, correlation_id="", restricted=None, **kwargs
    ):
        """One SP-API operation, paced by its bucket, throttling waited out
        (up to :data:`MAX_INLINE_WAIT` in all, beyond it a transient error
        with the delay), the token exchanged again once on 401 or 403.
        ``restricted``: a Restricted Data Token to send instead of the access
        token (``getOrders``, the one restricted operation read here),
        requested again once when refused."""
        bucket = bucket_for(self.endpoint, self.config.seller_id, operation)
        token = restricted or self.access_token()
        refreshed, throttled, waited = False, 0, 0.0
        while True:
            waited += bucket.take(max_wait=MAX_INLINE_WAIT - waited)
            self.stats["requests"] += 1
            headers = {"x-amz-access-token": token, "Accept": "application/json"}
            if correlation_id:
                headers["X-Correlation-Id"] = correlation_id
            try:
                response = self.request(
                    method, self.endpoint + path, headers=headers, **kwargs
                )
            except TransientError as exc:
                if exc.status != 429:
                    raise
                self.stats["throttled"] += 1
                throttled += 1
                bucket.drain()
                if throttled > THROTTLE_RETRIES:
                    raise
                if exc.retry_after:
                    if waited + exc.retry_after > MAX_INLINE_WAIT:
                        # Not slept in the job's transaction: the job is
                        # retried after Amazon's delay.
                        raise
                    time.sleep(exc.retry_after)
                    waited += exc.retry_after
                self.stats["retried"] += 1
                continue
            except PermanentError as exc:
                if exc.status not in (401, 403):
                    raise
                if refreshed:
                    raise PermanentError(
                        f"amazon: {operation} refused (HTTP {exc.status}) with a "
                        "freshly exchanged access token: check that the seller "
                        "authorised the application and that it has the roles "
                        f"this needs. {exc.excerpt}",
                        status=exc.status,
                        excerpt=exc.excerpt,
                    ) from exc
                # Amazon answers an expired or revoked token 401 or 403: it is
                # exchanged once (a Restricted Data Token requested anew, with
                # the access token, itself exchanged if refused), and the
                # request sent once more.
                if restricted:
                    token = self.restricted_data_token(correlation_id)
                else:
                    token = self.access_token(stale=token)
                refreshed = True
                continue
            limit = response.headers.get("x-amzn-RateLimit-Limit")
            if limit:
                try:
                    bucket.set_rate(float(limit))
                except ValueError:
                    pass
            return response

    def _sku_path(self, sku):
        return f"{LISTINGS_PATH}{quote(self.config.seller_id, safe='')}/" + quote(
            sku, safe=""
        )

    # -- listing details and read-back ---------------------------------------

    def lookup_listings(self, skus, correlation_id=""):
        """``{sku: ListingDetails}`` of the SKUs Amazon knows, 20 per
        ``searchListingsItems`` request, in the first marketplace."""
        found = {}
        for index in range(0, len(skus), SEARCH_PAGE):
            found.update(
                self._search(skus[index : index + SEARCH_PAGE], correlation_id)
            )
        return found

    def _search(self, skus, correlation_id):
        response = self.call(
            "searchListingsItems",
            "GET",
            LISTINGS_PATH + quote(self.config.seller_id, safe=""),
            correlation_id,
            params={
                "marketplaceIds": self.marketplaces[0],
                "identifiers": ",".join(skus),
                "identifiersType": "SKU",
                "includedData": "summaries,fulfillmentAvailability",
                "pageSize": SEARCH_PAGE,
            },
        )
        found = {}
        for entry in self.json_of(response).get("items") or []:
            sku = entry.get("sku")
            if sku not in skus:
                continue
            summaries = entry.get("summaries") or [{}]
            channels = {
                a.get("fulfillmentChannelCode"): a.get("quantity")
                for a in entry.get("fulfillmentAvailability") or []
            }
            default = channels.get("DEFAULT")
            found[sku] = ListingDetails(
                product_type=summaries[0].get("productType") or "",
                fba="DEFAULT" not in channels and bool(channels),
                quantity=int(default) if default is not None else None,
            )
        return found

    def _read_page(self, refs, correlation_id):
        """The merchant-fulfilled quantity Amazon shows for each SKU."""
        found = self._search([ref.sku for ref in refs], correlation_id)
        return {
            ref.listing_id: found[ref.sku].quantity
            for ref in refs
            if ref.sku in found and found[ref.sku].quantity is not None
        }

    # -- pulled orders -------------------------------------------------------

    def fetch_orders(self, since, cursor, correlation_id, known=None):
        """``getOrders`` of the merchant-fulfilled orders changed after
        ``since`` in the channel's marketplaces (``NextToken`` is the
        cursor), and ``getOrderItems`` (every page) of each one to import
        that is not ``known`` (stored already: the pull's overlap re-reads
        recent orders, and their items would cost 2 s each at Amazon's
        rate). Amazon does not document the listing's order: each page is
        sorted here, and ``read_until`` is left to the pull, which settles
        it on the last page."""
        params = {"MarketplaceIds": ",".join(self.marketplaces)}
        # Amazon refuses a LastUpdatedAfter less than two minutes old.
        since = min(since, utc_now() - ORDERS_MIN_AGE)
        if cursor:
            params["NextToken"] = cursor
        else:
            params["LastUpdatedAfter"] = iso_utc(since)
            params["FulfillmentChannels"] = "MFN"
        payload = self.json_of(
            self.call(
                "getOrders",
                "GET",
                ORDERS_PATH,
                correlation_id,
                restricted=self.restricted_data_token(correlation_id),
                params=params,
            )
        ).get("payload")
        if not isinstance(payload, dict):
            raise PermanentError("amazon: getOrders answered without a payload")
        listed = [
            order
            for order in payload.get("Orders") or []
            # AFN: Amazon ships it from its own stock.
            if isinstance(order, dict) and order.get("FulfillmentChannel") == "MFN"
        ]
        stored = known([str(o.get("AmazonOrderId")) for o in listed]) if known else ()
        orders = []
        for order in listed:
            status = order.get("OrderStatus")
            if status == CANCELLED_STATE:
                action, items = "cancel", []
            elif status in IMPORTED_STATES:
                action = "create"
                items = (
                    []  # a duplicate: its items are not needed
                    if str(order.get("AmazonOrderId")) in stored
                    else self.order_items(order["AmazonOrderId"], correlation_id)
                )
            else:
                action, items = "ignore", []
            orders.append(
                PulledOrder(
                    external_id=str(order.get("AmazonOrderId")),
                    updated_at=parse_timestamp(order.get("LastUpdateDate")) or since,
                    action=action,
                    payload=pulled_order(order, items),
                )
            )
        orders.sort(key=lambda pulled: pulled.updated_at)
        return OrderPage(orders, payload.get("NextToken") or None)

    def restricted_data_token(self, correlation_id=""):
        """A Restricted Data Token for ``getOrders`` with the buyer's name and
        the full shipping address (without one Amazon sends only city,
        postal code and country); used for one page, never stored."""
        response = self.call(
            "createRestrictedDataToken",
            "POST",
            RDT_PATH,
            correlation_id,
            json={
                "restrictedResources": [
                    {
                        "method": "GET",
                        "path": ORDERS_PATH,
                        "dataElements": ["buyerInfo", "shippingAddress"],
                    }
                ]
            },
        )
        token = self.json_of(response).get("restrictedDataToken")
        if not isinstance(token, str) or not token:
            raise PermanentError("amazon: no Restricted Data Token in the answer")
        self.tokens_used.add(token)
        return token

    def order_items(self, order_id, correlation_id=""):
        """Every item of one order, following ``NextToken``: at most
        :data:`MAX_ITEM_PAGES` pages, and a token Amazon gives twice is an
        error (it would page forever), as is one page too many."""
        path = f"{ORDERS_PATH}/{quote(order_id, safe='')}/orderItems"
        items, token, seen = [], None, set()
        for _page in range(MAX_ITEM_PAGES):
            params = {"NextToken": token} if token else None
            payload = (
                self.json_of(
                    self.call(
                        "getOrderItems", "GET", path, correlation_id, params=params
                    )
                ).get("payload")
                or {}
            )
            items += payload.get("OrderItems") or []
            token = payload.get("NextToken")
            if not token:
                return items
            if not isinstance(token, str) or token in seen:
                raise PermanentError(
                    f"amazon: getOrderItems of order {order_id} repeats its "
                    "NextToken: the items cannot be read to the end"
                )
            seen.add(token)
        raise PermanentError(
            f"amazon: order {order_id} has more than {MAX_ITEM_PAGES} pages of "
            "items: not imported"
        )

    # -- shipments -----------------------------------------------------------

    def push_shipment(self, shipment, correlation_id):
        """``confirmShipment`` of one package: the shipped quantities mapped
        to the order's item ids by seller SKU (from the order as pulled)."""
        try:
            order = json.loads(shipment.get("order_payload") or "null")
        except ValueError:
            order = None
        if not isinstance(order, dict):
            raise PermanentError(
                f"amazon: order {shipment['external_id']} was not pulled from "
                "Amazon (no order items to confirm)"
            )
        carrier = (shipment.get("carrier") or "").strip()
        code = CARRIER_CODES.get(carrier.lower(), "Other")
        package = {
            "packageReferenceId": shipment["package_ref"],
            "carrierCode": code,
            "shipDate": shipment["shipped_at"].replace(" ", "T") + "Z",
            "orderItems": self._shipped_items(order, shipment),
        }
        if code == "Other":
            package["carrierName"] = carrier or "Other"
        if shipment.get("tracking_ref"):
            package["trackingNumber"] = shipment["tracking_ref"]
        response = self.call(
            "confirmShipment",
            "POST",
            f"{ORDERS_PATH}/{quote(str(shipment['external_id']), safe='')}"
            "/shipmentConfirmation",
            correlation_id,
            json={
                "marketplaceId": order.get("MarketplaceId") or self.marketplaces[0],
                "packageDetail": package,
            },
        )
        return Outcome(response.status_code, self.redact(response.text))

    @staticmethod
    def _shipped_items(order, shipment):
        """``[{orderItemId, quantity}]``: each shipped SKU's quantity spread
        over the order's items of that SKU, in order, none beyond what was
        ordered. (Each package is mapped on its own: a second package of a
        partly shipped item starts again from the item's ordered quantity.)"""
        remaining = {
            item["OrderItemId"]: int(item.get("QuantityOrdered") or 0)
            for item in order.get("OrderItems") or []
        }
        shipped = {}
        for line in shipment["lines"]:
            left = int(round(line["quantity"]))
            for item in order.get("OrderItems") or []:
                item_id = item["OrderItemId"]
                if left <= 0 or item.get("SellerSKU") != line["sku"]:
                    continue
                taken = min(left, remaining[item_id])
                if taken > 0:
                    remaining[item_id] -= taken
                    shipped[item_id] = shipped.get(item_id, 0) + taken
                    left -= taken
            if left > 0:
                raise PermanentError(
                    f"amazon: order {shipment['external_id']} has no item "
                    f"left for {left} of SKU {line['sku']}"
                )
        return [{"orderItemId": i, "quantity": q} for i, q in shipped.items()]

    # -- publication: one PATCH per SKU --------------------------------------

    def push_levels(self, items, batch_id, correlation_id):
        """``patchListingsItem`` for each item and marketplace. A refusal of
        one SKU (4xx other than 401/403/429, or an ``INVALID`` answer) is that
        listing's error; the others go on."""
        item_errors, status, excerpt = {}, 200, ""
        for item in items:
            if not item.product_type:
                item_errors[item.key] = (
                    f"amazon: SKU {item.sku} not found in the seller's listings "
                    "(no product type)"
                )
                continue
            for marketplace in self.marketplaces:
                try:
                    response = self.call(
                        "patchListingsItem",
                        "PATCH",
                        self._sku_path(item.sku),
                        correlation_id,
                        params={"marketplaceIds": marketplace, "issueLocale": "en_US"},
                        json={
                            "productType": item.product_type,
                            "patches": availability_patch(item.quantity),
                        },
                    )
                except PermanentError as exc:
                    if exc.status in (None, 401, 403):
                        raise
                    item_errors[item.key] = exc.excerpt or str(exc)
                    break
                data = self.json_of(response)
                status, excerpt = response.status_code, self.redact(response.text)
                if data.get("status") != "ACCEPTED":
                    item_errors[item.key] = self.redact(
                        "; ".join(
                            i.get("message") or i.get("code") or ""
                            for i in data.get("issues") or []
                        )
                        or f"amazon: {data.get('status') or 'no status'}"
                    )
                    break
        return Outcome(status, excerpt, item_errors)

    # -- publication: one feed for many --------------------------------------

    def feed_document(self, items):
        """The ``JSON_LISTINGS_FEED`` body: one message per item, its
        ``messageId`` the listing id (unique in the feed)."""
        return {
            "header": {
                "sellerId": self.config.seller_id,
                "version": "2.0",
                "issueLocale": "en_US",
            },
            "messages": [
                {
                    "messageId": item.listing_id,
                    "sku": item.sku,
                    "operationType": "PATCH",
                    "productType": item.product_type,
                    "patches": availability_patch(item.quantity),
                }
                for item in items
            ],
        }

    def submit_feed(self, items, correlation_id=""):
        """Create, upload and submit one feed per marketplace; return the
        feed ids joined by commas (what :meth:`feed_result` takes)."""
        if len(items) > FEED_MAX_MESSAGES:
            raise PermanentError(
                f"amazon: {len(items)} messages exceed a feed's " f"{FEED_MAX_MESSAGES}"
            )
        body = json.dumps(self.feed_document(items)).encode()
        feed_ids = []
        for marketplace in self.marketplaces:
            document = self.json_of(
                self.call(
                    "createFeedDocument",
                    "POST",
                    FEEDS_PATH + "documents",
                    correlation_id,
                    json={"contentType": FEED_CONTENT_TYPE},
                )
            )
            # A pre-signed URL: no access token, no pacing.
            self.stats["requests"] += 1
            self.request(
                "PUT",
                document["url"],
                data=body,
                headers={"Content-Type": FEED_CONTENT_TYPE},
            )
            feed = self.json_of(
                self.call(
                    "createFeed",
                    "POST",
                    FEEDS_PATH + "feeds",
                    correlation_id,
                    json={
                        "feedType": "JSON_LISTINGS_FEED",
                        "marketplaceIds": [marketplace],
                        "inputFeedDocumentId": document["feedDocumentId"],
                    },
                )
            )
            feed_ids.append(str(feed["feedId"]))
        return ",".join(feed_ids)

    def feed_result(self, feed_ref, correlation_id=""):
        """None while a feed of ``feed_ref`` is processing; else the
        :class:`FeedResult` of all of them (a message refused in one
        marketplace is refused)."""
        result = FeedResult("DONE")
        for feed_id in feed_ref.split(","):
            feed = self.json_of(
                self.call(
                    "getFeed",
                    "GET",
                    f"{FEEDS_PATH}feeds/{quote(feed_id, safe='')}",
                    correlation_id,
                )
            )
            status = feed.get("processingStatus")
            if status in FEED_PENDING:
                return None
            document_id = feed.get("resultFeedDocumentId")
            report = (
                self._feed_report(document_id, correlation_id) if document_id else {}
            )
            issues = [
                issue
                for issue in report.get("issues") or []
                if issue.get("severity") == "ERROR"
            ]
            if status != "DONE":
                # Not processed: every message of it stays unpublished.
                result.status = status or "UNKNOWN"
                reasons = "; ".join(i.get("message") or "" for i in issues[:3])
                result.failed = self.redact(
                    f"amazon: feed {feed_id} {result.status}"
                    + (f": {reasons}" if reasons else "")
                )
                continue
            result.excerpt = self.redact(json.dumps(report.get("summary") or {}))
            for issue in issues:
                if "messageId" in issue:
                    message = issue.get("message") or issue.get("code") or ""
                    result.errors[int(issue["messageId"])] = self.redact(message)
        return result

    def _feed_report(self, document_id, correlation_id):
        document = self.json_of(
            self.call(
                "getFeedDocument",
                "GET",
                f"{FEEDS_PATH}documents/{quote(document_id, safe='')}",
                correlation_id,
            )
        )
        self.stats["requests"] += 1
        content = self.request("GET", document["url"]).content
        if document.get("compressionAlgorithm") == "GZIP":
            try:
                content = gunzip_capped(content, MAX_REPORT_BYTES)
            except (ValueError, zlib.error) as exc:
                raise PermanentError(
                    f"amazon: the feed's processing report {document_id} could "
                    f"not be read ({exc}; at most {MAX_REPORT_BYTES // 2**20} MiB "
                    "decompressed): its listings stay in the feed until it is "
                    "forgotten (6 hours) and are sent again"
                ) from exc
        try:
            report = json.loads(content)
        except ValueError as exc:
            raise PermanentError(
                "amazon: the feed's processing report is not JSON",
                excerpt=self.redact(content[:200].decode(errors="replace")),
            ) from exc
        return report if isinstance(report, dict) else {}
