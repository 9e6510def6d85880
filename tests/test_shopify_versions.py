import json

from odoo.tests import BaseCase, tagged

from ..adapters.base import ChannelConfig, Item, PermanentError
from ..adapters.shopify import (
    FULFILLMENT_CREATE,
    FULFILLMENT_ORDERS,
    READ_LEVELS,
    SET_QUANTITIES,
    ShopifyAdapter,
    set_quantities_variables,
)
from ..adapters.shopify_versions import (
    DEFAULT_VERSION,
    OLDEST_VERSION,
    is_supported,
    resolve,
)
from . import shopify_standin
from .shopify_standin import SERVED, Refused

LOCATION = "gid://shopify/Location/777"
ITEMS = [
    Item(listing_id=1, sku="A", external_ref="11", quantity=5, previous=None),
    Item(listing_id=2, sku="B", external_ref="12", quantity=0, previous=3),
]
UNKNOWN = {1: None, 2: 3}


def answer(version, query, variables):
    """What the stand-in Shopify answers: ``None`` when it runs the
    request, else ``(status, body)`` of its refusal."""
    body = json.dumps({"query": query, "variables": variables}).encode()
    try:
        shopify_standin.check(f"/admin/api/{version}/graphql.json", body)
    except Refused as refused:
        return refused.status, refused.body
    return None


@tagged("post_install", "-at_install")
class TestShopifyVersions(BaseCase):
    """The one place that knows which versions the addon speaks."""

    def test_supported_names(self):
        """Stable quarters from the oldest supported one on."""
        for version in (OLDEST_VERSION, "2026-04", DEFAULT_VERSION, "2027-01"):
            self.assertTrue(is_supported(version), version)
        for version in ("2025-10", "2026-02", "2026-1", "unstable", "", None):
            self.assertFalse(is_supported(version), version)

    def test_adapter_endpoint(self):
        """The channel's version in the URL; empty is the default; one
        saved too old is a permanent failure naming the oldest accepted."""

        def endpoint(version):
            config = ChannelConfig(
                code="s", adapter="shopify", base_url="https://x/", api_version=version
            )
            return ShopifyAdapter(config, None).endpoint

        self.assertEqual(
            endpoint("2026-01"), "https://x/admin/api/2026-01/graphql.json"
        )
        self.assertEqual(
            endpoint(""), f"https://x/admin/api/{DEFAULT_VERSION}/graphql.json"
        )
        self.assertEqual(resolve(" 2026-07 "), "2026-07")
        with self.assertRaisesRegex(PermanentError, OLDEST_VERSION):
            endpoint("2025-01")


@tagged("post_install", "-at_install")
class TestShopifyStandIn(BaseCase):
    """The stand-in refuses, version by version, what Shopify would, so a
    document built for the wrong version fails a test."""

    def _variables(self, **quantity_changes):
        variables = set_quantities_variables(
            "batch-1-1", "batch-1", LOCATION, ITEMS, UNKNOWN
        )
        for quantity in variables["input"]["quantities"]:
            for key, value in quantity_changes.items():
                if value is ...:
                    quantity.pop(key, None)
                else:
                    quantity[key] = value
        return variables

    def _assert_error(self, refusal, code):
        """Shopify's GraphQL error shape: HTTP 200, ``errors`` with a
        message and ``extensions.code``."""
        self.assertIsNotNone(refusal)
        status, body = refusal
        self.assertEqual(status, 200)
        (error,) = body["errors"]
        self.assertTrue(error["message"])
        self.assertEqual(error["extensions"]["code"], code)

    def test_addon_documents_accepted_by_every_served_version(self):
        """The inventory mutation (null and known changeFromQuantity), the
        read-back query and both fulfillment documents."""
        self.assertIn(DEFAULT_VERSION, SERVED)
        self.assertIn(OLDEST_VERSION, SERVED)
        read = {"ids": ["gid://shopify/InventoryItem/11"], "location": LOCATION}
        fulfill = {
            "fulfillment": {
                "lineItemsByFulfillmentOrder": [
                    {"fulfillmentOrderId": "gid://shopify/FulfillmentOrder/8"}
                ],
                "notifyCustomer": False,
                "trackingInfo": {"company": "DHL", "number": "1Z", "url": None},
            }
        }
        for version in SERVED:
            with self.subTest(version=version):
                self.assertIsNone(answer(version, SET_QUANTITIES, self._variables()))
                self.assertIsNone(answer(version, READ_LEVELS, read))
                self.assertIsNone(
                    answer(version, FULFILLMENT_ORDERS, {"id": "gid://shopify/Order/5"})
                )
                self.assertIsNone(answer(version, FULFILLMENT_CREATE, fulfill))

    def test_idempotency_key_required_from_2026_04(self):
        """Optional in 2026-01, refused without from 2026-04."""
        query = SET_QUANTITIES.replace(" @idempotent(key: $key)", "").replace(
            ", $key: String!", ""
        )
        variables = self._variables()
        del variables["key"]
        self.assertIsNone(answer("2026-01", query, variables))
        for version in ("2026-04", DEFAULT_VERSION):
            self._assert_error(answer(version, query, variables), "BAD_REQUEST")
        variables = self._variables()
        variables["key"] = None  # declared String!: never null
        self._assert_error(
            answer("2026-01", SET_QUANTITIES, variables), "INVALID_VARIABLE"
        )

    def test_change_from_quantity_required_from_2026_04(self):
        """Absent: 2026-01 falls back to the legacy compare check (a user
        error without compareQuantity), later versions refuse."""
        variables = self._variables(changeFromQuantity=...)
        status, body = answer("2026-01", SET_QUANTITIES, variables)
        (error,) = body["data"]["inventorySetQuantities"]["userErrors"]
        self.assertEqual(error["code"], "COMPARE_QUANTITY_REQUIRED")
        for version in ("2026-04", "2026-07", DEFAULT_VERSION):
            self._assert_error(
                answer(version, SET_QUANTITIES, variables), "BAD_REQUEST"
            )

    def test_legacy_compare_fields_removed_in_2026_04(self):
        """compareQuantity / ignoreCompareQuantity: 2026-01 only."""
        legacy = self._variables(changeFromQuantity=..., compareQuantity=3)
        ignore = self._variables()
        ignore["input"]["ignoreCompareQuantity"] = True
        for variables in (legacy, ignore):
            self.assertIsNone(answer("2026-01", SET_QUANTITIES, variables))
            self._assert_error(
                answer("2026-04", SET_QUANTITIES, variables), "INVALID_VARIABLE"
            )

    def test_required_fields_refused_in_every_version(self):
        """A quantity without its item, or a non-numeric item id."""
        for version in SERVED:
            self._assert_error(
                answer(version, SET_QUANTITIES, self._variables(inventoryItemId=...)),
                "INVALID_VARIABLE",
            )
            self._assert_error(
                answer(
                    version,
                    SET_QUANTITIES,
                    self._variables(inventoryItemId="gid://shopify/InventoryItem/"),
                ),
                "INVALID_VARIABLE",
            )

    def test_read_back_page_limit(self):
        """nodes(ids:) takes at most 250 ids."""
        ids = [f"gid://shopify/InventoryItem/{n}" for n in range(251)]
        self._assert_error(
            answer(DEFAULT_VERSION, READ_LEVELS, {"ids": ids, "location": LOCATION}),
            "MAX_INPUT_SIZE_EXCEEDED",
        )

    def test_retired_and_unknown_versions(self):
        """A retired version is served as the oldest supported one (and its
        rules); an unknown name is not served."""
        self.assertEqual(shopify_standin.served_version("2025-01"), SERVED[0])
        self.assertIsNone(shopify_standin.served_version("2027-13"))
        self.assertEqual(answer("unstable", SET_QUANTITIES, self._variables())[0], 404)
