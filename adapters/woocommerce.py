"""WooCommerce REST v3: batch stock updates with HTTP basic auth.

``external_ref`` is the product id, or ``parent_id/variation_id`` for a
variation (sent through the parent's variations batch endpoint).
"""

import re
from collections import defaultdict
from datetime import timedelta
from urllib.parse import quote

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
    parse_timestamp,
    register,
)

PULL_PAGE_SIZE = 100  # per_page's maximum
# Passes over one second's orders (a bulk update) before the pull gives up
# for now and is retried: each new pass means orders left that second.
MAX_SECOND_PASSES = 5
# The webhook id of WooCommerce's ping.
PING_ID = re.compile(r"[0-9]{1,20}")
# An order's refunds are read in pages of 100, at most this many pages.
MAX_REFUND_PAGES = 20


@register
class WooCommerceAdapter(Adapter):
    code = "woocommerce"
    topic_header = "X-WC-Webhook-Topic"
    pulls_orders = True
    batch_limit = 100  # WooCommerce's own limit per batch request
    read_page_size = 100  # and per_page's maximum

    @classmethod
    def verify_order_request(cls, secrets, request):
        """WooCommerce's webhook signature: base64 HMAC of the raw body with
        the webhook secret. (Its delivery id changes on every send: duplicates
        are recognised by the order id.)"""
        return cls.verify_body(secrets, request, "X-WC-Webhook-Signature")

    @classmethod
    def order_action(cls, topic, data):
        """The signed order's status decides, not the unsigned topic header:
        ``cancelled`` or ``trash`` cancels; otherwise a creation is stored
        and an update acknowledged (Odoo owns the order from intake on). A
        deletion whose payload carries no such status (WooCommerce sends
        only the id) is acknowledged and not acted on."""
        topic = topic or "order.created"
        if topic not in ("order.created", "order.updated", "order.deleted"):
            return None
        status = data.get("status") if isinstance(data, dict) else None
        if status in ("cancelled", "trash"):
            return "cancel"
        if topic == "order.created":
            return "create"
        refunds = data.get("refunds") if isinstance(data, dict) else None
        return "refund_ids" if isinstance(refunds, list) and refunds else "ignore"

    @classmethod
    def inbound_ping(cls, body, form=None):
        """Inbound hook of the order endpoint, asked before anything is
        authenticated: whether this unsigned request is the marketplace's
        check of a new webhook, answered 200 ``{"status": "ok"}`` without a
        word (the same whatever the code, whether a channel has it and
        whatever its adapter, and without looking it up, so that pings
        cannot tell which codes exist). WooCommerce checks a new webhook
        with an unsigned form post ``webhook_id=<n>`` (see :meth:`is_ping`)."""
        return cls.is_ping(body, form)

    @staticmethod
    def is_ping(body, form=None):
        """Saving a webhook sends an unsigned ``webhook_id=<n>`` form post:
        ``body`` is exactly that, or empty when the server already parsed
        it into ``form`` (a mapping). ASCII digits only."""
        if body.startswith(b"webhook_id="):
            return bool(PING_ID.fullmatch(body[11:].decode("latin-1")))
        form = form or {}
        return (
            not body
            and list(form) == ["webhook_id"]
            and bool(PING_ID.fullmatch(form["webhook_id"]))
        )

    @classmethod
    def to_canonical(cls, data):
        if not isinstance(data, dict):
            return data
        billing = data.get("billing") or {}
        shipping = data.get("shipping") or {}
        lines, shipping_amount = canonical_lines(data, "total")
        return {
            "external_id": data.get("id"),
            "ordered_at": data.get("date_created_gmt")
            and data["date_created_gmt"] + "+00:00",
            "currency": data.get("currency"),
            "customer": {
                "name": full_name(billing),
                "email": billing.get("email"),
                "phone": billing.get("phone"),
            },
            "shipping_address": {
                "name": full_name(shipping),
                "street": shipping.get("address_1"),
                "street2": shipping.get("address_2"),
                "city": shipping.get("city"),
                "zip": shipping.get("postcode"),
                "state_code": shipping.get("state"),
                "country_code": shipping.get("country") or None,
                "phone": shipping.get("phone"),
            },
            "lines": lines,
            "shipping_amount": shipping_amount,
            "note": data.get("customer_note") or None,
        }

    def fetch_orders(self, since, cursor, correlation_id, known=None):
        """``GET orders?modified_after=`` (GMT), oldest change first, 100 a
        page. The REST order object is what the order webhooks carry; status
        ``cancelled`` or ``trash`` is a cancellation.

        WooCommerce pages by number over a list sorted by ``modified``: an
        order changed while the pages are read moves to the end and shifts
        every later order one place back, so page N+1 would start one order
        late. So no page number is used on that list: every request asks
        page 1 of the orders modified after a boundary, and the next
        boundary is one second before the last change listed (the orders of
        that second are read again, as duplicates). A full page within one
        second (a bulk update) cannot move the boundary: that second is read
        on its own (``modified_after``/``modified_before`` one second apart,
        in id order, by page number), in passes until one pass sees the same
        ``X-WP-Total`` on every page (orders only leave a past second)."""
        state = cursor or {"after": iso_utc(since)}
        if "second" in state:
            return self._fetch_second(state, correlation_id)
        response, entries = self._list_orders(
            {
                "modified_after": state["after"],
                "orderby": "modified",
                "order": "asc",
                "page": 1,
            },
            correlation_id,
        )
        orders = self._pulled(entries, since)
        if not _more_pages(response, 1, len(entries)):
            return OrderPage(orders, None, read_until=_last_change(entries))
        first, last = _first_change(entries), _last_change(entries)
        if first is None or last is None:
            raise PermanentError("woocommerce: listed orders without date_modified_gmt")
        if first < last:
            boundary = last - timedelta(seconds=1)
            return OrderPage(orders, {"after": iso_utc(boundary)}, read_until=boundary)
        # A full page, all changed in the same second: read that second alone.
        second = {"second": iso_utc(last), "page": 1, "totals": [], "passes": 0}
        return OrderPage(orders, second, read_until=last - timedelta(seconds=1))

    def _fetch_second(self, state, correlation_id):
        """One page of the orders changed in one second, in id order (a
        stable order: ties on ``modified`` have none), and the cursor of the
        next page, of the next pass, or past that second once a pass saw
        the same total throughout."""
        second = parse_timestamp(state["second"])
        response, entries = self._list_orders(
            {
                "modified_after": iso_utc(second - timedelta(seconds=1)),
                "modified_before": iso_utc(second + timedelta(seconds=1)),
                "orderby": "id",
                "order": "asc",
                "page": state["page"],
            },
            correlation_id,
        )
        orders = self._pulled(entries, second)
        totals = [*state["totals"], response.headers.get("X-WP-Total")]
        before = second - timedelta(seconds=1)
        if _more_pages(response, state["page"], len(entries)):
            following = dict(state, page=state["page"] + 1, totals=totals)
            return OrderPage(orders, following, read_until=before)
        if len(set(totals)) == 1:
            return OrderPage(orders, {"after": iso_utc(second)}, read_until=second)
        if state["passes"] + 1 >= MAX_SECOND_PASSES:
            raise TransientError(
                f"woocommerce: the orders changed at {state['second']} keep "
                "changing while they are read; trying again later"
            )
        again = dict(state, page=1, totals=[], passes=state["passes"] + 1)
        return OrderPage(orders, again, read_until=before)

    def _list_orders(self, params, correlation_id):
        response = self.request(
            "GET",
            self.config.base_url.rstrip("/") + "/wp-json/wc/v3/orders",
            params={**params, "dates_are_gmt": "true", "per_page": PULL_PAGE_SIZE},
            auth=(self.config.api_key, self.config.api_secret),
            headers={"X-Correlation-Id": correlation_id},
        )
        entries = self.json_of(response, list)
        return response, [entry for entry in entries if isinstance(entry, dict)]

    @staticmethod
    def _pulled(entries, since):
        orders = []
        for data in entries:
            if data.get("status") == "checkout-draft":
                continue  # a cart being checked out: not an order yet
            cancelled = data.get("status") in ("cancelled", "trash")
            orders.append(
                PulledOrder(
                    external_id=str(data.get("id")),
                    updated_at=parse_timestamp(data.get("date_modified_gmt")) or since,
                    action="cancel" if cancelled else "create",
                    payload=data,
                )
            )
        return orders

    def fetch_refunds(self, external_id, correlation_id):
        """``GET orders/<id>/refunds``: each refund with its lines as a
        canonical return (``auto``: returned up to what was delivered,
        cancelled beyond; WooCommerce's ``api_restock`` is write-only).
        Refund lines count negative quantities and name the order's line in
        the ``_refunded_item_id`` meta; a refund of an amount only has no
        line (recorded, nothing to receive)."""
        url = (
            self.config.base_url.rstrip("/")
            + "/wp-json/wc/v3/orders/"
            + quote(str(external_id), safe="")
            + "/refunds"
        )
        refunds = []
        for page in range(1, MAX_REFUND_PAGES + 1):
            response = self.request(
                "GET",
                url,
                params={"per_page": PULL_PAGE_SIZE, "page": page},
                auth=(self.config.api_key, self.config.api_secret),
                headers={"X-Correlation-Id": correlation_id},
            )
            entries = self.json_of(response, list)
            refunds += [
                _canonical_refund(refund)
                for refund in entries
                if isinstance(refund, dict) and refund.get("id") is not None
            ]
            if not _more_pages(response, page, len(entries)):
                break
        return refunds

    def push_shipment(self, shipment, correlation_id):
        """Order status ``completed``, then a customer note with tracking."""
        base = self.config.base_url.rstrip("/") + "/wp-json/wc/v3/orders/"
        # Escaped: an order id is the marketplace's text, never a path.
        order = base + quote(str(shipment["external_id"]), safe="")
        auth = (self.config.api_key, self.config.api_secret)
        headers = {"X-Correlation-Id": correlation_id}
        self.request(
            "PUT", order, json={"status": "completed"}, auth=auth, headers=headers
        )
        note = " ".join(
            filter(
                None,
                [
                    "Shipped",
                    shipment["carrier"] and f"with {shipment['carrier']}",
                    shipment["tracking_ref"] and f"tracking {shipment['tracking_ref']}",
                ],
            )
        )
        response = self.request(
            "POST",
            order + "/notes",
            json={"note": note, "customer_note": True},
            auth=auth,
            headers=headers,
        )
        return Outcome(response.status_code, self.redact(response.text))

    @staticmethod
    def _split_ref(ref):
        """``(collection path, object id)``: ``products`` or
        ``products/<parent>/variations``; None when the reference is not
        numeric."""
        parent, _sep, variation = (ref or "").strip().partition("/")
        if not parent.isdigit() or (variation and not variation.isdigit()):
            return None
        if variation:
            return f"products/{parent}/variations", int(variation)
        return "products", int(parent)

    def _read_page(self, refs, correlation_id):
        """``GET products?include=...`` (and each parent's variations), one
        request per collection, ``stock_quantity`` of each."""
        groups = defaultdict(dict)  # collection path -> {object id: listing id}
        for ref in refs:
            split = self._split_ref(ref.external_ref)
            if split:
                groups[split[0]][split[1]] = ref.listing_id
        base = self.config.base_url.rstrip("/") + "/wp-json/wc/v3/"
        levels = {}
        for path, ids in groups.items():
            response = self.request(
                "GET",
                base + path,
                params={
                    "include": ",".join(str(i) for i in sorted(ids)),
                    "per_page": self.read_page_size,
                },
                auth=(self.config.api_key, self.config.api_secret),
                headers={"X-Correlation-Id": correlation_id},
            )
            for entry in self.json_of(response, list):
                quantity = entry.get("stock_quantity")
                if entry.get("id") in ids and quantity is not None:
                    levels[ids[entry["id"]]] = int(quantity)
        return levels

    def push_levels(self, items, batch_id, correlation_id):
        groups = defaultdict(list)  # endpoint path -> items
        item_errors = {}
        for item in items:
            split = self._split_ref(item.external_ref)
            if not split:
                # This listing only: the others of the batch are still sent.
                item_errors[item.key] = (
                    f"woocommerce: listing {item.sku} needs a numeric external "
                    "reference (product id or parent_id/variation_id), got "
                    f"{item.external_ref!r}"
                )
                continue
            groups[split[0] + "/batch"].append((split[1], item))
        if not groups:
            return Outcome(0, "", item_errors)
        base = self.config.base_url.rstrip("/") + "/wp-json/wc/v3/"
        last = None
        for path, entries in groups.items():
            last = self.request(
                "POST",
                base + path,
                json={
                    "update": [
                        {
                            "id": ref,
                            "stock_quantity": item.quantity,
                            "manage_stock": True,
                        }
                        for ref, item in entries
                    ]
                },
                auth=(self.config.api_key, self.config.api_secret),
                headers={
                    "Idempotency-Key": batch_id,
                    "X-Correlation-Id": correlation_id,
                },
            )
            answered = {
                entry.get("id"): entry for entry in (last.json().get("update") or [])
            }
            for ref, item in entries:
                error = (answered.get(ref) or {}).get("error")
                if error:
                    item_errors[item.key] = self.redact(
                        error.get("message") or str(error)
                    )
        return Outcome(last.status_code, self.redact(last.text), item_errors)


def _refunded_item(item):
    """The order line a refund line refunds (its ``_refunded_item_id``)."""
    for meta in item.get("meta_data") or []:
        if isinstance(meta, dict) and meta.get("key") == "_refunded_item_id":
            return str(meta.get("value"))
    return None


def _more_pages(response, page, count):
    """Whether a list answer has a page after ``page``: WooCommerce's
    ``X-WP-TotalPages`` when it sends one, else a full page."""
    try:
        pages = int(response.headers.get("X-WP-TotalPages") or 0)
    except ValueError:
        pages = 0
    return page < pages if pages else count >= PULL_PAGE_SIZE


def _changes(entries):
    return [
        moment
        for moment in (parse_timestamp(e.get("date_modified_gmt")) for e in entries)
        if moment
    ]


def _first_change(entries):
    changes = _changes(entries)
    return min(changes) if changes else None


def _last_change(entries):
    changes = _changes(entries)
    return max(changes) if changes else None


def _canonical_refund(refund):
    """One WooCommerce refund as a canonical return: each refunded line
    ``auto`` (returned up to what was delivered, cancelled beyond)."""
    lines = [
        {
            "line_id": _refunded_item(item),
            "sku": item.get("sku") or None,
            "quantity": abs(item.get("quantity") or 0),
            "reason": refund.get("reason") or "",
            "restock_type": "auto",
        }
        for item in refund.get("line_items") or []
        if isinstance(item, dict) and item.get("quantity")
    ]
    return {"return_id": str(refund["id"]), "lines": lines}
