"""Shopify Admin GraphQL: ``inventorySetQuantities`` at the channel's location.

The listing's ``external_ref`` is the inventory item id, the channel's
location reference the Shopify location id (numeric or ``gid://``). What we
last published is sent as ``changeFromQuantity`` (compare-and-swap); when
Shopify says it is stale, the current quantities are read back and the batch
is sent once more from them. Which API versions these documents are valid
for is ``shopify_versions``' business.
"""

import json
import time

from .base import (
    Adapter,
    OrderPage,
    Outcome,
    PermanentError,
    PulledOrder,
    TransientError,
    canonical_lines,
    full_name,
    iso_utc,
    keyset_read_until,
    parse_timestamp,
    register,
)
from .shopify_versions import OLDEST_VERSION, resolve

SET_QUANTITIES = """
mutation SetQuantities($input: InventorySetQuantitiesInput!, $key: String!) {
  inventorySetQuantities(input: $input) @idempotent(key: $key) {
    userErrors { field message code }
  }
}
"""

READ_LEVELS = """
query ReadLevels($ids: [ID!]!, $location: ID!) {
  nodes(ids: $ids) {
    ... on InventoryItem {
      id
      inventoryLevel(locationId: $location) {
        quantities(names: ["available"]) { name quantity }
      }
    }
  }
}
"""


FULFILLMENT_ORDERS = """
query FulfillmentOrders($id: ID!) {
  order(id: $id) {
    fulfillmentOrders(first: 20) { nodes { id status } }
  }
}
"""

FULFILLMENT_CREATE = """
mutation Fulfill($fulfillment: FulfillmentInput!) {
  fulfillmentCreate(fulfillment: $fulfillment) {
    fulfillment { id status }
    userErrors { field message }
  }
}
"""

# Pulled orders, oldest change first. Only what ``to_canonical`` reads, in
# the fields' GraphQL names (``webhook_order`` gives them their webhook
# names). Orders older than 60 days need the read_all_orders scope.
PULL_ORDERS = """
query PullOrders($first: Int!, $query: String!, $after: String) {
  orders(first: $first, query: $query, after: $after, sortKey: UPDATED_AT) {
    pageInfo { hasNextPage endCursor }
    nodes {
      legacyResourceId name createdAt updatedAt cancelledAt currencyCode note email
      customer { firstName lastName email phone }
      shippingAddress {
        firstName lastName address1 address2 city zip provinceCode countryCodeV2 phone
      }
      lineItems(first: 250) {
        nodes { sku quantity originalUnitPriceSet { shopMoney { amount } } }
      }
      shippingLines(first: 20) {
        nodes { code originalPriceSet { shopMoney { amount } } }
      }
    }
  }
}
"""
PULL_PAGE_SIZE = 50


def _money(value):
    return ((value or {}).get("shopMoney") or {}).get("amount")


def _person(node):
    node = node or {}
    return {
        "first_name": node.get("firstName"),
        "last_name": node.get("lastName"),
        "email": node.get("email"),
        "phone": node.get("phone"),
    }


def webhook_order(node):
    """A GraphQL order node in the JSON shape of the ``orders/create``
    webhook (REST names, numeric id, prices as strings)."""
    address = node.get("shippingAddress")
    shipping = None
    if address:
        shipping = {
            "first_name": address.get("firstName"),
            "last_name": address.get("lastName"),
            "address1": address.get("address1"),
            "address2": address.get("address2"),
            "city": address.get("city"),
            "zip": address.get("zip"),
            "province_code": address.get("provinceCode"),
            "country_code": address.get("countryCodeV2"),
            "phone": address.get("phone"),
        }
    return {
        "id": int(node["legacyResourceId"]),
        "name": node.get("name"),
        "created_at": node.get("createdAt"),
        "updated_at": node.get("updatedAt"),
        "cancelled_at": node.get("cancelledAt"),
        "currency": node.get("currencyCode"),
        "note": node.get("note"),
        "email": node.get("email"),
        "customer": _person(node.get("customer")) if node.get("customer") else None,
        "shipping_address": shipping,
        "line_items": [
            {
                "sku": line.get("sku"),
                "quantity": line.get("quantity"),
                "price": _money(line.get("originalUnitPriceSet")),
            }
            for line in (node.get("lineItems") or {}).get("nodes") or []
        ],
        "shipping_lines": [
            {"code": line.get("code"), "price": _money(line.get("originalPriceSet"))}
            for line in (node.get("shippingLines") or {}).get("nodes") or []
        ],
    }


def set_quantities_variables(key, batch_id, location, items, current):
    """Variables of ``SET_QUANTITIES`` in the shape every supported version
    accepts: the idempotency key always, ``changeFromQuantity`` on every
    quantity (``current``, by ``Item.key``), ``null`` (sent, not left out)
    when what the channel shows is unknown, which opts out of the
    comparison; never the legacy ``compareQuantity`` /
    ``ignoreCompareQuantity``, gone from 2026-04. An item's own location
    (per-location publication) wins over the channel's ``location``."""
    return {
        "key": key,
        "input": {
            "name": "available",
            "reason": "correction",
            "referenceDocumentUri": f"gid://stock-channel-sync/Batch/{batch_id}",
            "quantities": [
                {
                    "inventoryItemId": gid("InventoryItem", i.external_ref),
                    "locationId": gid("Location", i.location or location),
                    "quantity": i.quantity,
                    "changeFromQuantity": current[i.key],
                }
                for i in items
            ],
        },
    }


def gid(kind, ref):
    ref = str(ref or "").strip()
    return ref if ref.startswith("gid://") else f"gid://shopify/{kind}/{ref}"


def valid_ref(kind, ref):
    """Whether ``ref`` is a numeric id or a ``gid://shopify/<kind>/<id>``."""
    ref = str(ref or "").strip()
    return ref.isdigit() or (
        ref.startswith(f"gid://shopify/{kind}/") and ref.rsplit("/", 1)[1].isdigit()
    )


# Longest proactive wait for the cost bucket; beyond it the job's retry with
# Retry-After is the better place to wait.
MAX_PACING_WAIT = 10


@register
class ShopifyAdapter(Adapter):
    code = "shopify"
    topic_header = "X-Shopify-Topic"
    pulls_orders = True
    publishes_per_location = True
    batch_limit = 250
    read_page_size = 250  # nodes(ids:) takes at most 250 ids
    # (points available, restore rate per second, last query's cost, when)
    _bucket = None

    @classmethod
    def summed_location(cls, location_ref):
        return location_ref or ""

    @classmethod
    def invalid_location_refs(cls, refs):
        return (
            [ref for ref in refs if not valid_ref("Location", ref)],
            "numeric ids or gid://shopify/Location/<id>",
        )

    @classmethod
    def verify_order_request(cls, secrets, request):
        """Shopify's own webhook signature: base64 HMAC of the raw body with
        the app's secret."""
        return cls.verify_body(secrets, request, "X-Shopify-Hmac-Sha256")

    @classmethod
    def delivery_id(cls, headers):
        """Stable across Shopify's retries of one delivery."""
        return headers.get("X-Shopify-Webhook-Id") or headers.get("X-Shopify-Event-Id")

    @classmethod
    def order_action(cls, topic, data):
        """``orders/create`` and ``orders/cancelled`` both carry the whole
        order: the topic header is not signed, so a cancellation is carried
        out only when the signed order has ``cancelled_at``; otherwise the
        delivery is an order to store (a duplicate when known)."""
        if topic not in (
            "orders/create",
            "orders/cancelled",
            "orders/updated",
            "refunds/create",
        ):
            return None
        if cls.is_refund(data):
            return "refund"
        cancelled = isinstance(data, dict) and data.get("cancelled_at")
        return "cancel" if cancelled else "create"

    @staticmethod
    def is_refund(data):
        """A ``refunds/create`` body, told by its signed content (an order
        id and refund lines), never by the unsigned topic."""
        return (
            isinstance(data, dict)
            and "order_id" in data
            and isinstance(data.get("refund_line_items"), list)
        )

    @classmethod
    def refund_to_canonical(cls, data):
        """``(order id, canonical return)`` of a ``refunds/create`` body:
        one line per refund line, named by the order's line item id (and
        its SKU, for orders pulled without line ids). ``restock_type``
        ``return`` / ``cancel`` / ``no_restock`` as Shopify says; the
        deprecated ``legacy_restock`` is a return of what shipped and a
        cancellation of the rest."""
        lines = []
        for item in data["refund_line_items"]:
            restock_type = item.get("restock_type")
            lines.append(
                {
                    "line_id": item.get("line_item_id"),
                    "sku": (item.get("line_item") or {}).get("sku") or None,
                    "quantity": item.get("quantity"),
                    "reason": data.get("note") or "",
                    "restock_type": (
                        "auto" if restock_type == "legacy_restock" else restock_type
                    ),
                    "location": item.get("location_id"),
                }
            )
        return str(data["order_id"]), {"return_id": data.get("id"), "lines": lines}

    @classmethod
    def to_canonical(cls, data):
        if not isinstance(data, dict):
            return data
        customer = data.get("customer") or {}
        address = data.get("shipping_address") or {}
        lines, shipping_amount = canonical_lines(data, "price")
        return {
            "external_id": data.get("id"),
            "ordered_at": data.get("created_at"),
            "currency": data.get("currency"),
            "customer": {
                "name": full_name(customer),
                "email": customer.get("email") or data.get("email"),
                "phone": customer.get("phone"),
            },
            "shipping_address": {
                "name": full_name(address),
                "street": address.get("address1"),
                "street2": address.get("address2"),
                "city": address.get("city"),
                "zip": address.get("zip"),
                "state_code": address.get("province_code"),
                "country_code": address.get("country_code"),
                "phone": address.get("phone"),
            },
            "lines": lines,
            "shipping_amount": shipping_amount,
            "note": data.get("note"),
        }

    @property
    def api_version(self):
        """The channel's version; one saved before versions were checked
        and now too old fails the job instead of sending documents that
        version does not know."""
        try:
            return resolve(self.config.api_version)
        except ValueError:
            raise PermanentError(
                f"shopify: API version {self.config.api_version!r} is not "
                f"supported; set the channel's API Version to {OLDEST_VERSION} "
                "or newer"
            ) from None

    @property
    def endpoint(self):
        base = self.config.base_url.rstrip("/")
        return f"{base}/admin/api/{self.api_version}/graphql.json"

    def graphql(self, query, variables, correlation_id):
        self._pace()
        response = self.request(
            "POST",
            self.endpoint,
            data=json.dumps({"query": query, "variables": variables}),
            headers={
                "Content-Type": "application/json",
                "X-Shopify-Access-Token": self.config.api_secret,
                "X-Correlation-Id": correlation_id,
            },
        )
        payload = self.json_of(response)
        self._remember_cost(payload)
        errors = payload.get("errors") or []
        if any((e.get("extensions") or {}).get("code") == "THROTTLED" for e in errors):
            status = (payload.get("extensions") or {}).get("cost", {})
            throttle = status.get("throttleStatus") or {}
            missing = status.get("requestedQueryCost", 0) - throttle.get(
                "currentlyAvailable", 0
            )
            rate = throttle.get("restoreRate") or 50
            raise TransientError(
                "shopify: throttled",
                status=response.status_code,
                retry_after=max(int(missing / rate) + 1, 1),
                excerpt=self.redact(response.text),
            )
        if errors:
            raise PermanentError(
                f"shopify: {self.redact(json.dumps(errors))}",
                status=response.status_code,
                excerpt=self.redact(response.text),
            )
        return response, payload.get("data") or {}

    def _remember_cost(self, payload):
        cost = (payload.get("extensions") or {}).get("cost") or {}
        throttle = cost.get("throttleStatus") or {}
        if "currentlyAvailable" in throttle:
            self._bucket = (
                throttle["currentlyAvailable"],
                throttle.get("restoreRate") or 50,
                cost.get("actualQueryCost") or cost.get("requestedQueryCost") or 0,
                time.monotonic(),
            )

    def _pace(self):
        """Before the next query, wait until the cost bucket (as Shopify
        last reported it, refilled since) holds what the last query cost:
        cheaper than being throttled and retried."""
        if not self._bucket:
            return
        available, rate, last_cost, at = self._bucket
        available += (time.monotonic() - at) * rate
        if available < last_cost:
            time.sleep(min((last_cost - available) / rate, MAX_PACING_WAIT))

    def push_levels(self, items, batch_id, correlation_id):
        # A malformed inventory item id would fail the whole mutation: it is
        # this listing's error only, the others are still sent.
        item_errors = {
            i.key: f"shopify: listing {i.sku} needs an inventory item id "
            f"(numeric or gid://shopify/InventoryItem/<id>), got {i.external_ref!r}"
            for i in items
            if not valid_ref("InventoryItem", i.external_ref)
        }
        items = [i for i in items if i.key not in item_errors]
        if not items:
            return Outcome(0, "", item_errors)
        location = gid("Location", self.config.location_ref)
        current = {i.key: i.previous for i in items}
        for attempt in (1, 2):
            variables = set_quantities_variables(
                f"{batch_id}-{attempt}", batch_id, location, items, current
            )
            response, data = self.graphql(SET_QUANTITIES, variables, correlation_id)
            user_errors = (data.get("inventorySetQuantities") or {}).get(
                "userErrors"
            ) or []
            stale = any(
                e.get("code") == "CHANGE_FROM_QUANTITY_STALE" for e in user_errors
            )
            if stale and attempt == 1:
                current = self.read_levels(items, correlation_id)
                continue
            if user_errors:
                raise PermanentError(
                    f"shopify: {self.redact(json.dumps(user_errors))}",
                    status=response.status_code,
                    excerpt=self.redact(response.text),
                )
            return Outcome(
                response.status_code, self.redact(response.text), item_errors
            )
        raise AssertionError("unreachable")  # pragma: no cover

    def push_shipment(self, shipment, correlation_id):
        """``fulfillmentCreate`` over the order's open fulfillment orders,
        with tracking information."""
        order_gid = gid("Order", shipment["external_id"])
        _response, data = self.graphql(
            FULFILLMENT_ORDERS, {"id": order_gid}, correlation_id
        )
        nodes = ((data.get("order") or {}).get("fulfillmentOrders") or {}).get(
            "nodes"
        ) or []
        open_orders = [
            n["id"] for n in nodes if n.get("status") in ("OPEN", "IN_PROGRESS")
        ]
        if not open_orders:
            raise PermanentError(
                f"shopify: order {shipment['external_id']} has nothing to fulfil"
            )
        response, data = self.graphql(
            FULFILLMENT_CREATE,
            {
                "fulfillment": {
                    "lineItemsByFulfillmentOrder": [
                        {"fulfillmentOrderId": fo} for fo in open_orders
                    ],
                    "notifyCustomer": False,
                    "trackingInfo": {
                        "company": shipment["carrier"] or None,
                        "number": shipment["tracking_ref"] or None,
                        "url": shipment.get("tracking_url") or None,
                    },
                }
            },
            correlation_id,
        )
        errors = (data.get("fulfillmentCreate") or {}).get("userErrors") or []
        if errors:
            raise PermanentError(f"shopify: {self.redact(json.dumps(errors))}")
        return Outcome(response.status_code, self.redact(response.text))

    def fetch_orders(self, since, cursor, correlation_id, known=None):
        """``orders(query: "updated_at:>'<since>'")`` sorted by last change,
        50 a page, following ``pageInfo.endCursor``; a cancelled order
        (``cancelledAt``) is a cancellation. Shopify's cursors are keyset
        positions (the last order's sort value and id), not offsets: an
        order changed while the pages are read moves behind the cursor and
        is listed again, nothing shifts into a page already read."""
        variables = {
            "first": PULL_PAGE_SIZE,
            "query": f"updated_at:>'{iso_utc(since)}'",
            "after": cursor,
        }
        _response, data = self.graphql(PULL_ORDERS, variables, correlation_id)
        connection = data.get("orders")
        if not isinstance(connection, dict):
            raise PermanentError("shopify: unexpected answer to the orders query")
        orders = []
        for node in connection.get("nodes") or []:
            payload = webhook_order(node)
            orders.append(
                PulledOrder(
                    external_id=str(payload["id"]),
                    updated_at=parse_timestamp(node.get("updatedAt")) or since,
                    action="cancel" if payload["cancelled_at"] else "create",
                    payload=payload,
                )
            )
        page_info = connection.get("pageInfo") or {}
        more = page_info.get("hasNextPage")
        return OrderPage(
            orders,
            page_info.get("endCursor") if more else None,
            read_until=keyset_read_until(orders, more),
        )

    def read_levels(self, items, correlation_id):
        """``{item.key: available quantity now}`` (None where Shopify shows
        nothing), one query per location: the channel's, or each location
        of a per-location publication."""
        by_location = {}
        for item in items:
            location = item.location or self.config.location_ref
            by_location.setdefault(gid("Location", location), []).append(item)
        levels = {}
        for location, located in by_location.items():
            by_gid = {gid("InventoryItem", i.external_ref): i for i in located}
            _response, data = self.graphql(
                READ_LEVELS, {"ids": list(by_gid), "location": location}, correlation_id
            )
            for node in data.get("nodes") or []:
                if not node or node.get("id") not in by_gid:
                    continue
                quantities = (node.get("inventoryLevel") or {}).get("quantities") or []
                levels[by_gid[node["id"]].key] = next(
                    (q["quantity"] for q in quantities if q.get("name") == "available"),
                    None,
                )
        return {i.key: levels.get(i.key) for i in items}

    def _read_page(self, refs, correlation_id):
        """``available`` at the channel's location (or each ref's own); an
        item Shopify does not know, does not stock there, or a listing
        without an inventory item reference (not asked: an invalid id fails
        the whole query) is left out."""
        refs = [ref for ref in refs if (ref.external_ref or "").strip()]
        if not refs:
            return {}
        levels = self.read_levels(refs, correlation_id)
        return {key: qty for key, qty in levels.items() if qty is not None}
