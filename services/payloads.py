"""The canonical order: structural validation, all errors at once.

Adapters translate native marketplace payloads into this shape; what needs
the database (SKUs, currency, country) is resolved by the order model.
"""

import json
import math
import re
from datetime import datetime

MAX_BODY = 1024 * 1024
MAX_DEPTH = 20
MAX_LINES = 1000
MAX_QUANTITY = 1_000_000
MAX_PRICE = 10**9
MAX_TEXT = 1024
MAX_ERRORS = 50
CURRENCY = re.compile(r"^[A-Z]{3}$")
COUNTRY = re.compile(r"^[A-Z]{2}$")
# A NUL, or a UTF-16 surrogate left alone by a "\ud800" escape: PostgreSQL
# and the UTF-8 encoder refuse both.
UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
CUSTOMER_TEXT = ("name", "email", "phone")
ADDRESS_TEXT = (
    "name",
    "street",
    "street2",
    "city",
    "zip",
    "state_code",
    "country_code",
    "phone",
    "email",
)


class InvalidOrder(Exception):
    def __init__(self, details):
        super().__init__("invalid order")
        self.details = details


class InvalidJson(Exception):
    """The body is not JSON this addon reads: the reason is for the log."""


def parse_json(body):
    """The JSON document of a request body, read strictly: UTF-8 only (no
    UTF-16 or BOM guessing), no ``NaN`` / ``Infinity``, at most
    :data:`MAX_DEPTH` levels of nesting. Raises :class:`InvalidJson`."""
    try:
        text = body.decode("utf-8") if isinstance(body, bytes) else body
        data = json.loads(text, parse_constant=_refuse_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise InvalidJson(type(exc).__name__) from exc
    if _depth(data) > MAX_DEPTH:
        raise InvalidJson("nested too deeply")
    return data


def _refuse_constant(name):
    raise ValueError(f"{name} is not a JSON number")


def _depth(value, level=1):
    """Nesting depth, without recursion (a hostile document is deep)."""
    deepest, stack = level, [(value, level)]
    while stack:
        value, level = stack.pop()
        deepest = max(deepest, level)
        if deepest > MAX_DEPTH:
            return deepest
        children = value.values() if isinstance(value, dict) else value
        if isinstance(value, dict | list):
            stack.extend((child, level + 1) for child in children)
    return deepest


def _number(value):
    """A finite JSON number: not a boolean, a string, NaN or an infinity."""
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
    )


def _check_text(value, field, error, required=False):
    """A string field: absent (None) or text PostgreSQL can store."""
    if value is None:
        if required:
            error(field, "required, a non-empty string")
        return
    if not isinstance(value, str):
        error(field, "a string")
    elif UNSTORABLE.search(value):
        error(field, "contains a NUL or an invalid character")
    elif len(value) > MAX_TEXT:
        error(field, f"at most {MAX_TEXT} characters")


def validate_order(data):
    """Return the normalised canonical order or raise :class:`InvalidOrder`
    with every problem found, as ``[{"field", "message"}]``."""
    if not isinstance(data, dict):
        raise InvalidOrder([{"field": "", "message": "an order must be a JSON object"}])
    errors = []

    def error(field, message):
        errors.append({"field": field, "message": message})

    external_id = _check_header(data, error)
    customer, address = _check_parties(data, error)
    lines = _check_lines(data.get("lines"), error)
    location = _check_location(data.get("location"), error)
    if errors:
        # Bounded: a hostile order of 1,000 bad lines gets a short answer.
        raise InvalidOrder(errors[:MAX_ERRORS])
    order = {
        "external_id": external_id,
        "ordered_at": data.get("ordered_at"),
        "currency": data.get("currency"),
        "customer": customer,
        "shipping_address": address,
        "lines": lines,
        "shipping_amount": data.get("shipping_amount", 0),
        "note": data.get("note") or "",
    }
    if location:
        order["location"] = location
    return order


def _check_location(value, error):
    """The optional marketplace location the order ships from (a channel
    that publishes per location); whether the channel maps it is checked at
    intake."""
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > 128 or UNSTORABLE.search(value):
        error("location", "a string of at most 128 characters")
        return None
    return value.strip() or None


def validate_reference(data):
    """The external id of an order event that carries no new order (a
    cancellation): the same rules as the order's, its only requirement."""
    if not isinstance(data, dict):
        raise InvalidOrder([{"field": "", "message": "an order must be a JSON object"}])
    errors = []
    external_id = _check_header(
        data, lambda field, message: errors.append({"field": field, "message": message})
    )
    if errors:
        raise InvalidOrder(errors)
    return external_id


def _check_header(data, error):
    external_id = data.get("external_id")
    if isinstance(external_id, int) and not isinstance(external_id, bool):
        external_id = str(external_id)
    if not isinstance(external_id, str) or not external_id.strip():
        error("external_id", "required, a non-empty string")
        external_id = ""
    elif len(external_id) > 128:
        error("external_id", "at most 128 characters")
    elif UNSTORABLE.search(external_id):
        error("external_id", "contains a NUL or an invalid character")
    ordered_at = data.get("ordered_at")
    if ordered_at is not None:
        try:
            if not isinstance(ordered_at, str):
                raise ValueError(ordered_at)
            datetime.fromisoformat(ordered_at.replace("Z", "+00:00"))
        except ValueError:
            error("ordered_at", "not an ISO-8601 date-time")
    currency = data.get("currency")
    if currency is not None and not (
        isinstance(currency, str) and CURRENCY.match(currency)
    ):
        error("currency", "a three-letter ISO code, e.g. EUR")
    shipping = data.get("shipping_amount", 0)
    if not _number(shipping) or not 0 <= shipping <= MAX_PRICE:
        error("shipping_amount", f"a number from 0 to {MAX_PRICE}")
    _check_text(data.get("note"), "note", error)
    return external_id.strip()


def _check_parties(data, error):
    customer = data.get("customer")
    if not isinstance(customer, dict):
        error("customer", "required, an object with a name or an email")
        customer = {}
    else:
        for key in CUSTOMER_TEXT:
            _check_text(customer.get(key), f"customer.{key}", error)
        if not (customer.get("name") or customer.get("email")):
            error("customer", "a name or an email is required")
    address = data.get("shipping_address") or {}
    if not isinstance(address, dict):
        error("shipping_address", "an object")
        address = {}
    for key in ADDRESS_TEXT:
        _check_text(address.get(key), f"shipping_address.{key}", error)
    country = address.get("country_code")
    if country is not None and not (
        isinstance(country, str) and COUNTRY.match(country)
    ):
        error("shipping_address.country_code", "a two-letter ISO code, e.g. BE")
    return customer, address


def _check_lines(lines, error):
    if not isinstance(lines, list) or not lines:
        error("lines", "at least one line is required")
        return []
    if len(lines) > MAX_LINES:
        error("lines", f"at most {MAX_LINES} lines")
        return []
    clean = []
    for index, line in enumerate(lines):
        where = f"lines[{index}]"
        if not isinstance(line, dict):
            error(where, "an object with sku, quantity and unit_price")
            continue
        sku, quantity = line.get("sku"), line.get("quantity")
        price = line.get("unit_price", 0)
        if not isinstance(sku, str) or not sku.strip():
            error(f"{where}.sku", "required, a non-empty string")
            sku = ""
        elif len(sku) > 128 or UNSTORABLE.search(sku):
            error(f"{where}.sku", "at most 128 characters, no NUL")
            sku = ""
        if not _number(quantity) or not 0 < quantity <= MAX_QUANTITY:
            error(f"{where}.quantity", f"a number above 0, at most {MAX_QUANTITY}")
        if not _number(price) or not 0 <= price <= MAX_PRICE:
            error(f"{where}.unit_price", f"a number from 0 to {MAX_PRICE}")
        clean_line = {"sku": sku.strip(), "quantity": quantity, "unit_price": price}
        line_id = _check_line_id(line.get("line_id"), f"{where}.line_id", error)
        if line_id:
            clean_line["line_id"] = line_id
        clean.append(clean_line)
    return clean


def _check_line_id(value, field, error):
    """The marketplace's optional id of a line (Shopify's and WooCommerce's
    refunds name lines by it), as text; None when absent."""
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or len(value) > 128 or UNSTORABLE.search(value):
        error(field, "a string or an integer, at most 128 characters")
        return None
    return value.strip() or None
