"""The canonical order: structural validation, all errors at once.

Adapters translate native marketplace payloads into this shape; what needs
the database (SKUs, currency, country) is resolved by the order model.
"""

import re
from datetime import datetime

MAX_BODY = 1024 * 1024
CURRENCY = re.compile(r"^[A-Z]{3}$")
COUNTRY = re.compile(r"^[A-Z]{2}$")


class InvalidOrder(Exception):
    def __init__(self, details):
        super().__init__("invalid order")
        self.details = details


def _number(value):
    return isinstance(value, int | float) and not isinstance(value, bool)


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
    if errors:
        raise InvalidOrder(errors)
    return {
        "external_id": external_id,
        "ordered_at": data.get("ordered_at"),
        "currency": data.get("currency"),
        "customer": customer,
        "shipping_address": address,
        "lines": lines,
        "shipping_amount": data.get("shipping_amount", 0),
        "note": data.get("note") or "",
    }


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
    ordered_at = data.get("ordered_at")
    if ordered_at is not None:
        try:
            datetime.fromisoformat(str(ordered_at).replace("Z", "+00:00"))
        except ValueError:
            error("ordered_at", "not an ISO-8601 date-time")
    currency = data.get("currency")
    if currency is not None and not (
        isinstance(currency, str) and CURRENCY.match(currency)
    ):
        error("currency", "a three-letter ISO code, e.g. EUR")
    shipping = data.get("shipping_amount", 0)
    if not _number(shipping) or shipping < 0:
        error("shipping_amount", "a number, 0 or more")
    note = data.get("note")
    if note is not None and not isinstance(note, str):
        error("note", "a string")
    return external_id.strip()


def _check_parties(data, error):
    customer = data.get("customer")
    if not isinstance(customer, dict):
        error("customer", "required, an object with a name or an email")
        customer = {}
    elif not (customer.get("name") or customer.get("email")):
        error("customer", "a name or an email is required")
    address = data.get("shipping_address") or {}
    if not isinstance(address, dict):
        error("shipping_address", "an object")
        address = {}
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
        if not _number(quantity) or quantity <= 0:
            error(f"{where}.quantity", "a number greater than 0")
        if not _number(price) or price < 0:
            error(f"{where}.unit_price", "a number, 0 or more")
        clean.append({"sku": sku.strip(), "quantity": quantity, "unit_price": price})
    return clean
