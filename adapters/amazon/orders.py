"""Pulled orders: Amazon posts no orders, so they are pulled. ``getOrders``
since the watermark (``LastUpdatedAfter``, following ``NextToken``), with a
Restricted Data Token for each page (buyer name and full address), and
``getOrderItems`` of each merchant-fulfilled (``MFN``) order to import (at
most :data:`MAX_ITEM_PAGES` pages, a ``NextToken`` never twice). The pulled
shape (:func:`pulled_order`) is what :meth:`AmazonOrders.to_canonical`
reads."""

from datetime import datetime, timedelta, timezone
from urllib.parse import quote

from ..base import (
    OrderPage,
    PermanentError,
    PulledOrder,
    iso_utc,
    parse_timestamp,
    to_number,
)
from .client import ORDERS_PATH, AmazonClient

ORDERS_MIN_AGE = timedelta(minutes=2) + timedelta(seconds=5)
# Merchant-fulfilled orders in these states are imported (an order still
# ``Pending`` is not paid yet: it is listed again when it changes); a
# ``Canceled`` one cancels; any other state (shipped outside Odoo, ...) is
# acknowledged and left alone.
IMPORTED_STATES = ("Unshipped", "PartiallyShipped")
CANCELLED_STATE = "Canceled"
# getOrderItems pages of one order read at most (an order holds at most
# payloads.MAX_LINES lines; Amazon pages by 100 or fewer).
MAX_ITEM_PAGES = 100


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


class AmazonOrders(AmazonClient):
    """Pulling orders and reading them as canonical orders."""

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
