"""A local Selling Partner API on 127.0.0.1: Login with Amazon, Listings Items
(get, search, patch), Feeds (document, upload, feed, processing report) and
Orders (``getOrders`` by last update with ``NextToken`` paging,
``getOrderItems`` with paging, ``confirmShipment``), each operation behind a
token bucket with Amazon's documented rate and burst.

A request beyond the limit gets a 429; every answer carries
``x-amzn-RateLimit-Limit``. Login with Amazon issues access tokens per
refresh token, each bound to the seller that authorised it
(:meth:`AmazonStandIn.add_seller`): a token reads and writes only its
seller's listings and orders, and an expired or unknown one is refused 403
(Amazon's answer; :attr:`AmazonStandIn.refused_status`). The stand-in
keeps, per request identity, the status of the last answer:
:meth:`AmazonStandIn.unretried_throttles` counts the throttled requests the
client never sent again. Plain Python (no Odoo):
the benchmark uses it too.
"""

import gzip
import hashlib
import itertools
import json
import secrets
import threading
import time
from datetime import datetime, timedelta, timezone
from http.server import ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

from .marketplace import StandInHandler

# (requests per second, burst), as Amazon documents them.
LIMITS = {
    "token": (1000.0, 1000),
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
RDT_PATH = "/tokens/2021-03-01/restrictedDataToken"
LISTINGS = "/listings/2021-08-01/items/"
FEEDS = "/feeds/2021-06-30/"
ORDERS = "/orders/v0/orders"
# getOrders: LastUpdatedAfter must be at least this long before the request.
ORDERS_MIN_AGE = timedelta(minutes=2)


class Bucket:
    def __init__(self, rate, burst):
        self.rate, self.burst = rate, burst
        self.tokens, self.stamp = float(burst), time.monotonic()

    def allow(self):
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


class AmazonStandIn:
    """``listings``: SKU -> {"productType", "fba", "quantity"}."""

    def __init__(
        self,
        seller_id="SELLER1",
        client_id="amzn1.application-oa2-client.test",
        client_secret="lwa-secret-0123456789",
        refresh_token="Atzr|refresh-0123456789",
        feed_delay=0.0,
        limits=None,
    ):
        self.seller_id = seller_id
        self.client_id = client_id
        self.client_secret = client_secret
        self.refresh_token = refresh_token
        self.feed_delay = feed_delay
        self.limits = dict(LIMITS, **(limits or {}))
        self.lock = threading.Lock()
        self.listings = {}
        self.reject = {}  # SKU -> message a feed or patch refuses it with
        # (status, body[, headers]) answered to the next API requests
        self.script = []
        # What Amazon answers a token it no longer accepts (expired,
        # revoked): 403 "Unauthorized", sometimes 401.
        self.refused_status = 403
        self.sellers = {refresh_token: seller_id}  # refresh token -> seller
        self.tokens = {}  # access token or RDT -> seller id
        self.hold_token = {}  # refresh token -> Event its exchange waits for
        self.order_reads = []  # (access token, seller, [AmazonOrderId]) read
        self.order_seller = {}  # AmazonOrderId -> seller id
        self.items_repeat_token = False  # getOrderItems: the same NextToken
        self.refuse_next_rdt = False  # the next Restricted Data Token is dead
        self.token_requests = 0
        self.requests = []  # (operation, method, path)
        self.patches = []  # (sku, marketplace, body)
        self.throttled = 0
        self.last_status = {}  # request identity -> last status answered
        self.documents = {}  # document id -> bytes uploaded / report
        self.feeds = {}  # feed id -> dict
        self.orders = {}  # AmazonOrderId -> getOrders order object
        self.order_items = {}  # AmazonOrderId -> [getOrderItems item]
        self.restricted = {}  # AmazonOrderId -> buyer data and full address
        self.restricted_tokens = set()
        self.caller_token = None
        self.caller_seller = None
        self.orders_page_size = 100  # getOrders' MaxResultsPerPage maximum
        self.items_page_size = 30
        self.next_tokens = {}  # NextToken -> what the next page continues
        self.shipments = []  # (AmazonOrderId, confirmShipment body)
        self.buckets = {}
        self.ids = itertools.count(1)
        stand_in = self

        class Handler(StandInHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self):
                status, payload, headers = stand_in.handle(
                    self.command, self.path, dict(self.headers), self.read_body()
                )
                self.send_json(status, payload, headers)

            do_GET = do_POST = do_PUT = do_PATCH = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    # -- life ----------------------------------------------------------------

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    @property
    def token_url(self):
        return self.url + "/auth/o2/token"

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    def reset(self):
        """Forget requests and counters (listings and tokens stay)."""
        with self.lock:
            self.requests.clear()
            self.patches.clear()
            self.script.clear()
            self.reject.clear()
            self.last_status.clear()
            self.buckets.clear()
            self.documents.clear()
            self.feeds.clear()
            self.orders.clear()
            self.order_items.clear()
            self.next_tokens.clear()
            self.shipments.clear()
            self.orders_page_size = 100
            self.items_page_size = 30
            self.throttled = 0
            self.token_requests = 0
            self.refused_status = 403
            self.hold_token.clear()
            self.order_reads.clear()
            self.order_seller.clear()
            self.items_repeat_token = False
            self.refuse_next_rdt = False

    def add_seller(self, seller_id, refresh_token):
        """Another seller account that authorised the same application."""
        with self.lock:
            self.sellers[refresh_token] = seller_id

    def add_listings(self, skus, product_type="PRODUCT", fba=False, quantity=0):
        for sku in skus:
            self.listings[sku] = {
                "productType": product_type,
                "fba": fba,
                "quantity": quantity,
            }

    def add_order(
        self,
        order_id,
        updated,
        status="Unshipped",
        channel="MFN",
        items=(("SKU", 1, "10.00"),),
        country="US",
        seller=None,
    ):
        """One order (``updated``: its LastUpdateDate, ISO 8601 UTC) of
        ``seller`` (default: the first) and its items, ``(seller SKU,
        quantity, item price total)``."""
        self.order_seller[order_id] = seller or self.seller_id
        self.orders[order_id] = {
            "AmazonOrderId": order_id,
            "PurchaseDate": "2026-11-20T10:00:00Z",
            "LastUpdateDate": updated,
            "OrderStatus": status,
            "FulfillmentChannel": channel,
            "MarketplaceId": "ATVPDKIKX0DER",
            "OrderTotal": {"CurrencyCode": "USD", "Amount": "10.00"},
            "BuyerInfo": {"BuyerEmail": f"{order_id}@marketplace.amazon.com"},
            "ShippingAddress": {
                "City": "SEATTLE",
                "PostalCode": "98101",
                "CountryCode": country,
            },
        }
        # Personal data, served only to a Restricted Data Token.
        self.restricted[order_id] = {
            "BuyerInfo": {
                "BuyerEmail": f"{order_id}@marketplace.amazon.com",
                "BuyerName": "Jane Buyer",
            },
            "ShippingAddress": {
                "Name": "Jane Buyer",
                "AddressLine1": "410 Terry Ave N",
                "City": "SEATTLE",
                "PostalCode": "98101",
                "CountryCode": country,
                "Phone": "+1 206 555 0100",
            },
        }
        self.order_items[order_id] = [
            {
                "OrderItemId": f"{order_id}-{index}",
                "SellerSKU": sku,
                "QuantityOrdered": quantity,
                "ItemPrice": {"CurrencyCode": "USD", "Amount": price},
                "ShippingPrice": {"CurrencyCode": "USD", "Amount": "1.00"},
            }
            for index, (sku, quantity, price) in enumerate(items)
        ]

    def expire_tokens(self):
        """Every access token issued so far is refused from now on
        (:attr:`refused_status`)."""
        with self.lock:
            self.tokens.clear()

    def unretried_throttles(self):
        """Throttled requests the client never sent again successfully."""
        return sum(1 for status in self.last_status.values() if status == 429)

    def count(self, operation):
        return sum(1 for r in self.requests if r[0] == operation)

    # -- dispatch ------------------------------------------------------------

    def _operation(self, method, path):
        if path == "/auth/o2/token":
            return "token"
        if path.startswith(LISTINGS):
            parts = path[len(LISTINGS) :].split("/")
            if len(parts) == 1:
                return "searchListingsItems"
            return "patchListingsItem" if method == "PATCH" else "getListingsItem"
        if path == FEEDS + "documents":
            return "createFeedDocument"
        if path.startswith(FEEDS + "documents/"):
            return "getFeedDocument"
        if path == FEEDS + "feeds":
            return "createFeed"
        if path.startswith(FEEDS + "feeds/"):
            return "getFeed"
        if path == RDT_PATH and method == "POST":
            return "createRestrictedDataToken"
        if path == ORDERS and method == "GET":
            return "getOrders"
        if path.startswith(ORDERS + "/") and path.endswith("/orderItems"):
            return "getOrderItems"
        if path.startswith(ORDERS + "/") and path.endswith("/shipmentConfirmation"):
            return "confirmShipment" if method == "POST" else None
        if path.startswith("/upload/"):
            return "upload"
        if path.startswith("/download/"):
            return "download"
        return None

    def handle(self, method, raw_path, headers, body):
        split = urlsplit(raw_path)
        path, query = split.path, parse_qs(split.query)
        operation = self._operation(method, path)
        if operation == "token":
            # Held outside the lock: the other requests go on meanwhile.
            refresh = (parse_qs(body.decode()).get("refresh_token") or [""])[0]
            held = self.hold_token.get(refresh)
            if held is not None:
                held.wait(30)
        with self.lock:
            self.requests.append((operation, method, raw_path))
            identity = (
                operation,
                method,
                raw_path,
                hashlib.sha256(body).hexdigest() if method == "POST" else "",
            )
            if operation is None:
                return 404, {"errors": [{"code": "NotFound"}]}, {}
            rate = self.limits.get(operation)
            rate_headers = {"x-amzn-RateLimit-Limit": str(rate[0])} if rate else {}
            if operation == "token":
                return self._token(body)
            if operation not in ("upload", "download"):
                if headers.get("x-amz-access-token") not in self.tokens:
                    status = self.refused_status
                    self.last_status[identity] = status
                    return (
                        status,
                        {
                            "errors": [
                                {
                                    "code": "Unauthorized",
                                    "message": "Access to requested resource "
                                    "is denied.",
                                    "details": "The access token you provided "
                                    "has expired.",
                                }
                            ]
                        },
                        {},
                    )
                bucket = self.buckets.setdefault(operation, Bucket(*rate))
                if not bucket.allow():
                    self.throttled += 1
                    self.last_status[identity] = 429
                    return (
                        429,
                        {
                            "errors": [
                                {
                                    "code": "QuotaExceeded",
                                    "message": "You exceeded your quota for "
                                    "the requested resource.",
                                }
                            ]
                        },
                        rate_headers,
                    )
                if self.script:
                    status, payload, *extra = self.script.pop(0)
                    self.last_status[identity] = status
                    return status, payload, dict(rate_headers, **dict(*extra))
            self.caller_token = headers.get("x-amz-access-token")
            self.caller_seller = self.tokens.get(self.caller_token)
            status, payload = getattr(self, "_" + operation)(path, query, body)
            self.last_status[identity] = status
            return status, payload, rate_headers

    # -- Login with Amazon ---------------------------------------------------

    def _token(self, body):
        self.token_requests += 1
        form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
        if (
            form.get("grant_type") != "refresh_token"
            or form.get("client_id") != self.client_id
            or form.get("client_secret") != self.client_secret
            or form.get("refresh_token") not in self.sellers
        ):
            return 401, {"error": "invalid_client"}, {}
        # A token of the seller whose refresh token was exchanged.
        token = "Atza|" + secrets.token_urlsafe(24)
        self.tokens[token] = self.sellers[form["refresh_token"]]
        return (
            200,
            {
                "access_token": token,
                "refresh_token": form["refresh_token"],
                "token_type": "bearer",
                "expires_in": 3600,
            },
            {},
        )

    # -- Listings Items ------------------------------------------------------

    def _check_seller(self, seller):
        """The seller in the path is the one the caller's token is for."""
        return unquote(seller) == self.caller_seller

    def _item(self, sku, data):
        return {
            "sku": sku,
            "summaries": [
                {"marketplaceId": "ATVPDKIKX0DER", "productType": data["productType"]}
            ],
            "fulfillmentAvailability": [
                {"fulfillmentChannelCode": "AMAZON_NA", "quantity": data["quantity"]}
                if data["fba"]
                else {"fulfillmentChannelCode": "DEFAULT", "quantity": data["quantity"]}
            ],
        }

    def _searchListingsItems(self, path, query, body):
        seller = path[len(LISTINGS) :]
        skus = (query.get("identifiers") or [""])[0].split(",")
        if (
            not self._check_seller(seller)
            or (query.get("identifiersType") or [""])[0] != "SKU"
            or len(skus) > 20
            or not query.get("marketplaceIds")
        ):
            return 400, {"errors": [{"code": "InvalidInput"}]}
        items = [self._item(s, self.listings[s]) for s in skus if s in self.listings]
        return 200, {"numberOfResults": len(items), "items": items}

    def _getListingsItem(self, path, query, body):
        seller, sku = path[len(LISTINGS) :].split("/", 1)
        sku = unquote(sku)
        if not self._check_seller(seller) or sku not in self.listings:
            return 404, {"errors": [{"code": "NOT_FOUND"}]}
        return 200, self._item(sku, self.listings[sku])

    def _validate(self, sku, product_type, patches):
        """Amazon's checks of one quantity patch: issues, empty when fine."""
        data = self.listings.get(sku)
        if data is None:
            return [{"code": "4000001", "message": f"SKU {sku} not found"}]
        if product_type != data["productType"]:
            return [{"code": "4000002", "message": "productType does not match"}]
        if sku in self.reject:
            return [{"code": "8541", "message": self.reject[sku]}]
        for patch in patches or [None]:
            if (
                not isinstance(patch, dict)
                or patch.get("op") != "merge"
                or patch.get("path") != "/attributes/fulfillment_availability"
            ):
                return [{"code": "4000003", "message": "unsupported patch"}]
            for value in patch.get("value") or [None]:
                if not isinstance(value, dict) or not value.get(
                    "fulfillment_channel_code"
                ):
                    return [
                        {
                            "code": "4000004",
                            "message": "fulfillment_channel_code is required",
                        }
                    ]
                quantity = value.get("quantity")
                if not isinstance(quantity, int) or quantity < 0:
                    return [{"code": "4000005", "message": "invalid quantity"}]
                lead_time = value.get("lead_time_to_ship_max_days", 0)
                if not isinstance(lead_time, int) or not 0 <= lead_time <= 30:
                    return [{"code": "4000008", "message": "invalid handling time"}]
                if data["fba"] and value["fulfillment_channel_code"] == "DEFAULT":
                    return [
                        {
                            "code": "4000006",
                            "message": "the offer is fulfilled by Amazon",
                        }
                    ]
        return []

    def _apply(self, sku, patches):
        for patch in patches:
            for value in patch["value"]:
                self.listings[sku]["quantity"] = value["quantity"]
                if "lead_time_to_ship_max_days" in value:
                    self.listings[sku]["lead_time"] = value[
                        "lead_time_to_ship_max_days"
                    ]

    def _patchListingsItem(self, path, query, body):
        seller, sku = path[len(LISTINGS) :].split("/", 1)
        sku = unquote(sku)
        marketplaces = query.get("marketplaceIds") or []
        if not self._check_seller(seller) or len(marketplaces) != 1:
            return 400, {"errors": [{"code": "InvalidInput"}]}
        data = json.loads(body or b"{}")
        self.patches.append((sku, marketplaces[0], data))
        issues = self._validate(sku, data.get("productType"), data.get("patches"))
        if issues:
            for issue in issues:
                issue["severity"] = "ERROR"
            return 200, {"sku": sku, "status": "INVALID", "issues": issues}
        self._apply(sku, data["patches"])
        return 200, {
            "sku": sku,
            "status": "ACCEPTED",
            "submissionId": f"sub-{next(self.ids)}",
            "issues": [],
        }

    # -- Feeds ---------------------------------------------------------------

    def _createFeedDocument(self, path, query, body):
        content_type = json.loads(body or b"{}").get("contentType")
        if not content_type:
            return 400, {"errors": [{"code": "InvalidInput"}]}
        document_id = f"doc-{next(self.ids)}"
        self.documents[document_id] = None
        return 201, {
            "feedDocumentId": document_id,
            "url": f"{self.url}/upload/{document_id}",
        }

    def _upload(self, path, query, body):
        document_id = path.rsplit("/", 1)[1]
        if document_id not in self.documents:
            return 403, b"<Error>AccessDenied</Error>"
        self.documents[document_id] = body
        return 200, b""

    def _createFeed(self, path, query, body):
        data = json.loads(body or b"{}")
        document = self.documents.get(data.get("inputFeedDocumentId"))
        if (
            data.get("feedType") != "JSON_LISTINGS_FEED"
            or len(data.get("marketplaceIds") or []) != 1
            or document is None
        ):
            return 400, {"errors": [{"code": "InvalidInput"}]}
        feed_id = str(next(self.ids))
        self.feeds[feed_id] = {
            "document": document,
            "ready_at": time.monotonic() + self.feed_delay,
            "status": "IN_QUEUE",
            "report": None,
            "messages": 0,
        }
        return 202, {"feedId": feed_id}

    def _process(self, feed):
        """Apply the feed's messages; the processing report lists the
        refused ones by ``messageId``."""
        try:
            content = json.loads(feed["document"])
            header = content["header"]
            messages = content["messages"]
        except (ValueError, KeyError, TypeError):
            feed["status"] = "FATAL"
            return
        if header.get("sellerId") not in self.sellers.values() or (
            header.get("version") != "2.0"
        ):
            feed["status"] = "FATAL"
            return
        issues, accepted = [], 0
        for message in messages:
            found = []
            if message.get("operationType") != "PATCH":
                found = [{"code": "4000007", "message": "unsupported operation"}]
            else:
                found = self._validate(
                    message.get("sku"),
                    message.get("productType"),
                    message.get("patches"),
                )
            if found:
                for issue in found:
                    issues.append(
                        dict(issue, messageId=message["messageId"], severity="ERROR")
                    )
            else:
                self._apply(message["sku"], message["patches"])
                accepted += 1
        report_id = f"report-{next(self.ids)}"
        self.documents[report_id] = gzip.compress(
            json.dumps(
                {
                    "header": {"sellerId": self.seller_id, "version": "2.0"},
                    "issues": issues,
                    "summary": {
                        "errors": len(issues),
                        "warnings": 0,
                        "messagesProcessed": len(messages),
                        "messagesAccepted": accepted,
                        "messagesInvalid": len(messages) - accepted,
                    },
                }
            ).encode()
        )
        feed["status"], feed["report"] = "DONE", report_id
        feed["messages"] = len(messages)

    def _getFeed(self, path, query, body):
        feed_id = path.rsplit("/", 1)[1]
        feed = self.feeds.get(feed_id)
        if feed is None:
            return 404, {"errors": [{"code": "NotFound"}]}
        if feed["status"] == "IN_QUEUE" and time.monotonic() >= feed["ready_at"]:
            self._process(feed)
        answer = {
            "feedId": feed_id,
            "feedType": "JSON_LISTINGS_FEED",
            "processingStatus": feed["status"]
            if feed["status"] != "IN_QUEUE"
            else "IN_PROGRESS",
        }
        if feed["report"]:
            answer["resultFeedDocumentId"] = feed["report"]
        return 200, answer

    def _getFeedDocument(self, path, query, body):
        document_id = path.rsplit("/", 1)[1]
        if document_id not in self.documents:
            return 404, {"errors": [{"code": "NotFound"}]}
        return 200, {
            "feedDocumentId": document_id,
            "url": f"{self.url}/download/{document_id}",
            "compressionAlgorithm": "GZIP",
        }

    def _download(self, path, query, body):
        document_id = path.rsplit("/", 1)[1]
        content = self.documents.get(document_id)
        if content is None:
            return 404, b""
        return 200, content

    # -- Orders --------------------------------------------------------------

    def _page_token(self, state):
        token = secrets.token_urlsafe(12)
        self.next_tokens[token] = state
        return token

    def _getOrders(self, path, query, body):
        """Orders of the marketplaces updated after ``LastUpdatedAfter``
        (at least two minutes ago), oldest update first; ``NextToken``
        continues a listing (the other criteria are then ignored)."""
        first = lambda name: (query.get(name) or [None])[0]  # noqa: E731
        if not first("MarketplaceIds"):
            return 400, {
                "errors": [
                    {"code": "InvalidInput", "message": "MarketplaceIds is required"}
                ]
            }
        token = first("NextToken")
        if token:
            if token not in self.next_tokens:
                return 400, {
                    "errors": [{"code": "InvalidInput", "message": "Invalid NextToken"}]
                }
            since, channels, offset = self.next_tokens.pop(token)
        else:
            since = first("LastUpdatedAfter")
            if not since:
                return 400, {
                    "errors": [
                        {
                            "code": "InvalidInput",
                            "message": "LastUpdatedAfter or "
                            "CreatedAfter is required",
                        }
                    ]
                }
            moment = datetime.fromisoformat(since.replace("Z", "+00:00"))
            if moment > datetime.now(timezone.utc) - ORDERS_MIN_AGE:
                return 400, {
                    "errors": [
                        {
                            "code": "InvalidInput",
                            "message": "LastUpdatedAfter must be "
                            "no later than two minutes ago",
                        }
                    ]
                }
            channels = first("FulfillmentChannels")
            offset = 0
        marketplaces = set(query["MarketplaceIds"][0].split(","))
        since_key = since.replace("Z", "")
        rows = sorted(
            (
                order
                for order in self.orders.values()
                if order["LastUpdateDate"].replace("Z", "") > since_key
                # Only the orders of the seller the token was issued for.
                and self.order_seller.get(order["AmazonOrderId"]) == self.caller_seller
                and order["MarketplaceId"] in marketplaces
                and (not channels or order["FulfillmentChannel"] in channels)
            ),
            key=lambda order: order["LastUpdateDate"],
        )
        page = rows[offset : offset + self.orders_page_size]
        if self.caller_token in self.restricted_tokens:
            page = [
                dict(order, **self.restricted[order["AmazonOrderId"]]) for order in page
            ]
        self.order_reads.append(
            (self.caller_token, self.caller_seller, [o["AmazonOrderId"] for o in page])
        )
        payload = {"Orders": page, "LastUpdatedBefore": "2100-01-01T00:00:00Z"}
        if offset + self.orders_page_size < len(rows):
            payload["NextToken"] = self._page_token(
                (since, channels, offset + self.orders_page_size)
            )
        return 200, {"payload": payload}

    def _createRestrictedDataToken(self, path, query, body):
        """A token for ``getOrders`` with the buyer's data and address: the
        documented request shape is checked."""
        try:
            resources = json.loads(body)["restrictedResources"]
            (resource,) = resources
            valid = (
                resource["method"] == "GET"
                and resource["path"] == ORDERS
                and set(resource["dataElements"]) <= {"buyerInfo", "shippingAddress"}
            )
        except (ValueError, KeyError, TypeError):
            valid = False
        if not valid:
            return 400, {"errors": [{"code": "InvalidInput"}]}
        token = "Atz.sprdt|" + secrets.token_urlsafe(24)
        if self.refuse_next_rdt:
            self.refuse_next_rdt = False  # issued, and refused when used
        else:
            self.tokens[token] = self.caller_seller  # its seller's data only
        self.restricted_tokens.add(token)
        return 200, {"restrictedDataToken": token, "expiresIn": 3600}

    def _getOrderItems(self, path, query, body):
        order_id = unquote(path[len(ORDERS) + 1 :].split("/")[0])
        if (
            order_id not in self.order_items
            or self.order_seller.get(order_id) != self.caller_seller
        ):
            return 404, {"errors": [{"code": "NotFound"}]}
        token = (query.get("NextToken") or [None])[0]
        offset = self.next_tokens.pop(token) if token in self.next_tokens else 0
        items = self.order_items[order_id]
        payload = {
            "AmazonOrderId": order_id,
            "OrderItems": items[offset : offset + self.items_page_size],
        }
        if self.items_repeat_token:
            # A broken listing: the same page and token, again and again.
            self.next_tokens["again"] = offset
            payload["NextToken"] = "again"
        elif offset + self.items_page_size < len(items):
            payload["NextToken"] = self._page_token(offset + self.items_page_size)
        return 200, {"payload": payload}

    def _confirmShipment(self, path, query, body):
        """One package of a merchant-fulfilled order: its marketplace, a
        positive numeric package reference, a carrier (``Other`` needs a
        name), an optional tracking number, and order items of this order, none beyond
        the quantity ordered. 204 without a body."""
        order_id = unquote(path[len(ORDERS) + 1 :].split("/")[0])
        order = self.orders.get(order_id)
        if order is None or self.order_seller.get(order_id) != self.caller_seller:
            return 404, {"errors": [{"code": "NotFound"}]}
        try:
            data = json.loads(body)
            package = data["packageDetail"]
            ordered = {
                item["OrderItemId"]: item["QuantityOrdered"]
                for item in self.order_items[order_id]
            }
            problems = []
            if data.get("marketplaceId") != order["MarketplaceId"]:
                problems.append("marketplaceId")
            reference = package.get("packageReferenceId")
            if not (isinstance(reference, str) and reference.isdigit()):
                problems.append("packageReferenceId")
            if not package.get("carrierCode") or (
                package["carrierCode"] == "Other" and not package.get("carrierName")
            ):
                problems.append("carrierCode")
            if not isinstance(package.get("trackingNumber", ""), str):
                problems.append("trackingNumber")
            datetime.fromisoformat(package["shipDate"].replace("Z", "+00:00"))
            items = package["orderItems"]
            if not items or any(
                item["orderItemId"] not in ordered
                or not 0 < item["quantity"] <= ordered[item["orderItemId"]]
                for item in items
            ):
                problems.append("orderItems")
        except (ValueError, KeyError, TypeError, AttributeError):
            problems = ["body"]
        if problems:
            return 400, {
                "errors": [
                    {"code": "InvalidInput", "message": f"Invalid {p}"}
                    for p in problems
                ]
            }
        self.shipments.append((order_id, data))
        return 204, b""
