"""The canonical return: structural validation, all errors at once.

The generic contract's body and the marketplaces' refunds (translated by
their adapters) take this shape; what needs the order (which lines, how
much was delivered) is checked by ``return_intake``.

``{"return_id": "R-1", "lines": [{"sku" | "line_id", "quantity", "reason",
"restock_type": "return" | "cancel" | "no_restock"}]}``
"""

from .payloads import MAX_ERRORS, MAX_QUANTITY, MAX_TEXT, UNSTORABLE, _number

MAX_RETURN_LINES = 250
# ``auto`` (a marketplace that does not say): returned up to what was
# delivered, cancelled beyond.
RESTOCK_TYPES = ("return", "cancel", "no_restock", "auto")


class InvalidReturn(Exception):
    def __init__(self, details):
        super().__init__("invalid return")
        self.details = details[:MAX_ERRORS]


def generic_return(data):
    """The generic contract's body as the canonical return: lines name the
    order's line by SKU only; ``restock`` (a boolean, default true) true is
    a return of delivered goods, false a refund recorded only; ``location``
    (optional) the marketplace location the item comes back to."""
    if not isinstance(data, dict):
        return data
    lines = data.get("lines")
    if isinstance(lines, list):
        lines = [
            {
                "sku": line.get("sku"),
                "quantity": line.get("quantity"),
                "reason": line.get("reason"),
                "location": line.get("location"),
                "restock": line.get("restock", True),
                "restock_type": (
                    "no_restock" if line.get("restock", True) is False else "return"
                ),
            }
            if isinstance(line, dict)
            else line
            for line in lines
        ]
    return {"return_id": data.get("return_id"), "lines": lines}


def _reference(value):
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        return None
    return value.strip()


def _location(value, field, error):
    """The optional marketplace location a line comes back to."""
    location = _reference(value)
    if location is not None and (len(location) > 128 or UNSTORABLE.search(location)):
        error(field, "a string of at most 128 characters")
        return None
    return location


def validate_return(data, generic=False):
    """The normalised canonical return or :class:`InvalidReturn` with every
    problem found, as ``[{"field", "message"}]``. ``generic``: the body of
    the generic contract, whose ``restock`` must be a boolean."""
    if not isinstance(data, dict):
        raise InvalidReturn(
            [{"field": "", "message": "a return must be a JSON object"}]
        )
    errors = []

    def error(field, message):
        errors.append({"field": field, "message": message})

    return_id = _reference(data.get("return_id"))
    if return_id is None:
        error("return_id", "required, a non-empty string")
    elif len(return_id) > 128 or UNSTORABLE.search(return_id):
        error("return_id", "at most 128 characters, no NUL")
    lines = data.get("lines")
    clean = []
    if not isinstance(lines, list) or not lines:
        error("lines", "at least one line is required")
        lines = []
    elif len(lines) > MAX_RETURN_LINES:
        error("lines", f"at most {MAX_RETURN_LINES} lines")
        lines = []
    for index, line in enumerate(lines):
        where = f"lines[{index}]"
        if not isinstance(line, dict):
            error(where, "an object with sku and quantity")
            continue
        sku, line_id = line.get("sku"), _reference(line.get("line_id"))
        if sku is not None and (
            not isinstance(sku, str)
            or not sku.strip()
            or len(sku) > 128
            or UNSTORABLE.search(sku)
        ):
            error(f"{where}.sku", "a non-empty string, at most 128 characters")
            sku = None
        elif sku is None and line_id is None:
            error(f"{where}.sku", "required, a non-empty string")
        quantity = line.get("quantity")
        if not _number(quantity) or not 0 < quantity <= MAX_QUANTITY:
            error(f"{where}.quantity", f"a number above 0, at most {MAX_QUANTITY}")
        reason = line.get("reason")
        if reason is not None and (
            not isinstance(reason, str)
            or len(reason) > MAX_TEXT
            or UNSTORABLE.search(reason)
        ):
            error(f"{where}.reason", f"a string, at most {MAX_TEXT} characters")
            reason = None
        if generic and not isinstance(line.get("restock", True), bool):
            error(f"{where}.restock", "true or false")
        location = _location(line.get("location"), f"{where}.location", error)
        restock_type = line.get("restock_type")
        if restock_type not in RESTOCK_TYPES:
            error(f"{where}.restock_type", "return, cancel, no_restock or auto")
        clean.append(
            {
                "sku": sku.strip() if isinstance(sku, str) else None,
                "line_id": line_id,
                "quantity": quantity,
                "reason": reason or "",
                "restock_type": restock_type,
                "location": location,
            }
        )
    if errors:
        raise InvalidReturn(errors)
    return {"return_id": return_id, "lines": clean}
