"""What the stand-in Shopify accepts, version by version.

The test marketplace passes every request to ``/admin/api/<version>/graphql.json``
through :func:`check` before answering it. The rules are written from
Shopify's changelog (12 December 2025: ``changeFromQuantity`` and the
``@idempotent`` directive added in 2026-01 and required from 2026-04, when
``compareQuantity`` / ``ignoreCompareQuantity`` are removed), on purpose
without reading the addon's ``adapters/shopify_versions.py``: a document the
addon builds for the wrong version is refused here and fails the test.

Only the operations the addon uses are known, and only through variables
(an inline literal argument is refused as unsupported, not silently passed).
Refusals take Shopify's shapes: schema and runtime problems are HTTP 200
``{"errors": [{"message", "extensions": {"code"}}]}``, business rules are
``userErrors`` of the mutation.
"""

import json
import re

PATH = re.compile(r"^/admin/api/(?P<version>[^/?]+)/graphql\.json(\?.*)?$")
# The stable versions this Shopify serves, oldest first.
SERVED = ("2026-01", "2026-04", "2026-07", "2026-10")
STABLE_NAME = re.compile(r"^\d{4}-(01|04|07|10)$")
# From this version on: idempotency key and changeFromQuantity required,
# compareQuantity and ignoreCompareQuantity removed.
STRICT_FROM = "2026-04"
MAX_IDS = 250
MAX_QUANTITY = 1_000_000_000

OPERATION = re.compile(
    r"^\s*(?P<kind>query|mutation)\b\s*(?P<name>\w+)?\s*(\((?P<decl>[^)]*)\))?\s*\{"
    r"\s*(?P<root>\w+)",
    re.S,
)
DECLARATION = re.compile(r"\$(\w+)\s*:\s*([\w\[\]!]+)")
ROOTS = {
    "mutation": {"inventorySetQuantities", "fulfillmentCreate"},
    "query": {"nodes", "order", "orders"},
}


class Refused(Exception):
    """What Shopify answers instead of running the request."""

    def __init__(self, body, status=200):
        super().__init__(json.dumps(body))
        self.status = status
        self.body = body


def error(message, code):
    """Shopify's top-level GraphQL error: still HTTP 200."""
    return Refused({"errors": [{"message": message, "extensions": {"code": code}}]})


def user_error(mutation, field, message, code):
    error = {"field": field, "message": message, "code": code}
    return Refused({"data": {mutation: {"userErrors": [error]}}})


def served_version(requested):
    """The version that answers: a retired stable version is served as the
    oldest one still supported; an unknown name is not served at all."""
    if requested in SERVED:
        return requested
    if STABLE_NAME.match(requested) and requested < SERVED[0]:
        return SERVED[0]
    return None


def check(path, raw_body):
    """The version serving a Shopify request, or ``Refused`` with what
    Shopify answers instead of running it; ``None`` for another path."""
    match = PATH.match(path)
    if not match:
        return None
    version = served_version(match["version"])
    if not version:
        raise Refused({"errors": "Not Found"}, status=404)
    try:
        body = json.loads(raw_body or b"null")
    except ValueError:
        body = None
    if not isinstance(body, dict) or not isinstance(body.get("query"), str):
        raise Refused(
            {"errors": {"query": "Required parameter missing or invalid"}}, status=400
        )
    Document(version, body["query"], body.get("variables") or {}).check()
    return version


class Document:
    """One GraphQL request, checked for the version that serves it."""

    def __init__(self, version, query, variables):
        self.version = version
        self.strict = version >= STRICT_FROM
        self.query = query
        self.variables = variables

    def check(self):
        match = OPERATION.match(self.query)
        if not match:
            raise error("Parse error: expected a named query or mutation", "PARSE")
        kind, root = match["kind"], match["root"]
        if root not in ROOTS[kind]:
            raise error(
                f"Field '{root}' doesn't exist on type '{kind.title()}'",
                "undefinedField",
            )
        self.declared = dict(DECLARATION.findall(match["decl"] or ""))
        body = self.query[match.end("decl") if match["decl"] else match.end("kind") :]
        for used in set(re.findall(r"\$(\w+)", body)):
            if used not in self.declared:
                raise error(f"Variable ${used} is not defined", "variableNotDefined")
        for name, type_ in self.declared.items():
            if type_.endswith("!") and self.variables.get(name) is None:
                raise self._invalid(name, "", "Expected value to not be null")
        getattr(self, f"_check_{root}")()

    # -- helpers ---------------------------------------------------------------

    def _invalid(self, variable, path, problem):
        type_ = self.declared.get(variable, "?")
        where = f" for {path}" if path else ""
        return error(
            f"Variable ${variable} of type {type_} was provided invalid value"
            f"{where} ({problem})",
            "INVALID_VARIABLE",
        )

    def _argument(self, field, argument):
        """The variable a field's argument is bound to."""
        match = re.search(rf"\b{field}\s*\(\s*{argument}\s*:\s*(\$?)(\w+)", self.query)
        if not match:
            raise error(
                f"Field '{field}' is missing required arguments: {argument}",
                "missingRequiredArguments",
            )
        if not match[1]:
            raise error(
                "The stand-in only reads arguments passed as variables", "STAND_IN"
            )
        return match[2]

    def _fields(self, variable, path, value, allowed, required):
        if not isinstance(value, dict):
            raise self._invalid(variable, path, "Expected an input object")
        for key in value:
            if key not in allowed:
                raise self._invalid(
                    variable, f"{path}.{key}".strip("."), "Field is not defined"
                )
        for key in required:
            if value.get(key) is None:
                raise self._invalid(
                    variable,
                    f"{path}.{key}".strip("."),
                    "Expected value to not be null",
                )

    def _gid(self, variable, path, value, kind):
        if not isinstance(value, str) or not re.fullmatch(
            rf"gid://shopify/{kind}/\d+", value
        ):
            raise self._invalid(variable, path, f"Invalid global id '{value}'")

    # -- operations ------------------------------------------------------------

    def _check_inventorySetQuantities(self):
        mutation = "inventorySetQuantities"
        variable = self._argument(mutation, "input")
        key = re.search(
            r"inventorySetQuantities\s*\([^)]*\)\s*@idempotent\s*\(\s*key\s*:\s*"
            r"(?:\$(\w+)|\"([^\"]*)\")\s*\)",
            self.query,
        )
        if key:
            value = self.variables.get(key[1]) if key[1] else key[2]
            if not isinstance(value, str) or not value.strip():
                raise error("The idempotency key must not be blank", "BAD_REQUEST")
        elif "@idempotent" in self.query:
            raise error("Directive 'idempotent' is malformed", "BAD_REQUEST")
        elif self.strict:
            raise error(
                f"An idempotency key is required for {mutation} from API version "
                f"{STRICT_FROM}: use the @idempotent directive",
                "BAD_REQUEST",
            )
        data = self.variables[variable]
        allowed = {"name", "reason", "referenceDocumentUri", "quantities"}
        if not self.strict:
            allowed.add("ignoreCompareQuantity")
        self._fields(variable, "", data, allowed, ("name", "reason", "quantities"))
        if data["name"] not in ("available", "on_hand"):
            raise user_error(
                mutation, ["input", "name"], "Invalid quantity name", "INVALID_NAME"
            )
        quantities = data["quantities"]
        if not isinstance(quantities, list) or not quantities:
            raise self._invalid(variable, "quantities", "Expected a non-empty list")
        allowed = {"inventoryItemId", "locationId", "quantity", "changeFromQuantity"}
        if not self.strict:
            allowed.add("compareQuantity")
        for index, quantity in enumerate(quantities):
            path = f"quantities.{index}"
            self._fields(
                variable,
                path,
                quantity,
                allowed,
                ("inventoryItemId", "locationId", "quantity"),
            )
            self._gid(
                variable,
                f"{path}.inventoryItemId",
                quantity["inventoryItemId"],
                "InventoryItem",
            )
            self._gid(
                variable, f"{path}.locationId", quantity["locationId"], "Location"
            )
            for field in ("quantity", "changeFromQuantity", "compareQuantity"):
                value = quantity.get(field)
                if value is not None and (
                    not isinstance(value, int)
                    or isinstance(value, bool)
                    or abs(value) > MAX_QUANTITY
                ):
                    raise self._invalid(
                        variable, f"{path}.{field}", "Expected an Int in range"
                    )
            if "changeFromQuantity" in quantity:
                continue  # a value or an explicit null: it decides, in every version
            if self.strict:
                raise error(
                    f"changeFromQuantity is required on {path} from API version "
                    f"{STRICT_FROM}: pass the current quantity, or null to opt out "
                    "of the comparison",
                    "BAD_REQUEST",
                )
            if quantity.get("compareQuantity") is None and not data.get(
                "ignoreCompareQuantity"
            ):
                # 2026-01 falls back to the legacy compare-and-set.
                raise user_error(
                    mutation,
                    ["input", "quantities", str(index), "compareQuantity"],
                    "The compareQuantity argument must be given to each quantity "
                    "or ignored using ignoreCompareQuantity.",
                    "COMPARE_QUANTITY_REQUIRED",
                )

    def _check_nodes(self):
        variable = self._argument("nodes", "ids")
        ids = self.variables[variable]
        if not isinstance(ids, list):
            raise self._invalid(variable, "", "Expected a list")
        if len(ids) > MAX_IDS:
            raise error(
                f"The input array size of {len(ids)} is greater than the maximum "
                f"allowed of {MAX_IDS}.",
                "MAX_INPUT_SIZE_EXCEEDED",
            )
        for index, value in enumerate(ids):
            self._gid(variable, str(index), value, "InventoryItem")
        if "inventoryLevel" in self.query:
            location = self._argument("inventoryLevel", "locationId")
            self._gid(location, "", self.variables[location], "Location")

    def _check_order(self):
        variable = self._argument("order", "id")
        self._gid(variable, "", self.variables[variable], "Order")

    def _check_orders(self):
        """A connection: ``first`` at most 250, a search ``query`` string
        and an optional ``after`` cursor."""
        first = self._argument("orders", "first")
        value = self.variables[first]
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise self._invalid(first, "", "Expected a positive Int")
        if value > MAX_IDS:
            raise error(
                f"The page size of {value} is greater than the maximum allowed of "
                f"{MAX_IDS}.",
                "MAX_INPUT_SIZE_EXCEEDED",
            )
        for argument in ("query", "after"):
            match = re.search(rf"\b{argument}\s*:\s*\$(\w+)", self.query)
            if match and not isinstance(self.variables.get(match[1]), str | type(None)):
                raise self._invalid(match[1], "", "Expected a String")

    def _check_fulfillmentCreate(self):
        variable = self._argument("fulfillmentCreate", "fulfillment")
        data = self.variables[variable]
        self._fields(
            variable,
            "",
            data,
            {
                "lineItemsByFulfillmentOrder",
                "notifyCustomer",
                "trackingInfo",
                "originAddress",
            },
            ("lineItemsByFulfillmentOrder",),
        )
        orders = data["lineItemsByFulfillmentOrder"]
        if not isinstance(orders, list) or not orders:
            raise self._invalid(
                variable, "lineItemsByFulfillmentOrder", "Expected a non-empty list"
            )
        for index, order in enumerate(orders):
            path = f"lineItemsByFulfillmentOrder.{index}"
            self._fields(
                variable,
                path,
                order,
                {"fulfillmentOrderId", "fulfillmentOrderLineItems"},
                ("fulfillmentOrderId",),
            )
            self._gid(
                variable,
                f"{path}.fulfillmentOrderId",
                order["fulfillmentOrderId"],
                "FulfillmentOrder",
            )
        if data.get("trackingInfo") is not None:
            self._fields(
                variable,
                "trackingInfo",
                data["trackingInfo"],
                {"company", "number", "numbers", "url", "urls"},
                (),
            )
