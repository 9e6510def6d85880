import json

from odoo import Command
from odoo.tests import HttpCase, new_test_user, tagged

from odoo.addons.queue_job.tests.common import trap_jobs

from ..adapters import ADAPTERS
from ..adapters.signing import sign_base64, sign_request
from ..services.atp import AtpEngine
from .marketplace import post_in_parallel

SECRET = "order-secret-42"


@tagged("post_install", "-at_install")
class TestOrderIntake(HttpCase):
    """Signed, validated, exactly-once order intake through the real HTTP
    stack (confirmation is in test_order_processing)."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env["stock.channel.buffer.rule"].search([]).action_archive()
        cls.robot = new_test_user(
            cls.env,
            login="channel_robot",
            groups="stock.group_stock_user,sales_team.group_sale_salesman,"
            "stock_channel_sync.group_channel_manager",
        )
        warehouse = cls.env["stock.warehouse"].search(
            [("company_id", "=", cls.env.company.id)], limit=1
        )
        other = cls.env["stock.warehouse"].create(
            {"name": "Intake Other", "code": "INO"}
        )
        cls.product = cls.env["product.product"].create(
            {"name": "Intake Mug", "default_code": "MUG-1", "is_storable": True}
        )
        cls.env["stock.quant"]._update_available_quantity(
            cls.product, warehouse.lot_stock_id, 50
        )
        Channel = cls.env["stock.channel"]
        cls.channel = Channel.create(
            {
                "name": "Intake",
                "code": "intake",
                "webhook_secret": SECRET,
                "user_id": cls.robot.id,
                "warehouse_ids": [Command.set(warehouse.ids)],
            }
        )
        cls.sibling = Channel.create(
            {
                "name": "Sibling",
                "code": "sibling",
                "webhook_secret": "sibling-secret",
                "user_id": cls.robot.id,
                "warehouse_ids": [Command.set(warehouse.ids)],
            }
        )
        cls.far = Channel.create(
            {
                "name": "Far",
                "code": "far",
                "warehouse_ids": [Command.set(other.ids)],
                "user_id": cls.robot.id,
            }
        )
        Listing = cls.env["stock.channel.listing"]
        cls.listing = Listing.create(
            {"channel_id": cls.channel.id, "product_id": cls.product.id}
        )
        cls.case = Listing.create(
            {
                "channel_id": cls.channel.id,
                "product_id": cls.product.id,
                "external_sku": "MUG-1-CASE6",
                "pack_size": 6,
            }
        )
        cls.sibling_listing = Listing.create(
            {"channel_id": cls.sibling.id, "product_id": cls.product.id}
        )
        cls.far_listing = Listing.create(
            {"channel_id": cls.far.id, "product_id": cls.product.id}
        )

    def _order(self, external_id="1001", **overrides):
        order = {
            "external_id": external_id,
            "ordered_at": "2026-11-23T10:00:00Z",
            "currency": "USD",
            "customer": {"name": "Ada Buyer", "email": "ada@example.com"},
            "shipping_address": {
                "name": "Ada",
                "city": "Brussels",
                "country_code": "BE",
            },
            "lines": [{"sku": "MUG-1", "quantity": 2, "unit_price": 9.5}],
            "shipping_amount": 4.9,
        }
        order.update(overrides)
        return order

    def _post(self, payload, code="intake", secret=SECRET, signature=None):
        """POST an order, signed with signature v2 unless ``signature`` is
        given (then sent as is, with a current timestamp)."""
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        path = f"/stock_channel_sync/{code}/orders"
        headers = {"Content-Type": "application/json"}
        if secret or signature:
            headers.update(sign_request(secret or "x", "POST", path, body))
        if signature:
            headers["X-Channel-Signature"] = signature
        return self.url_open(path, data=body, headers=headers)

    def _orders(self):
        return self.env["stock.channel.order"].search(
            [("channel_id", "in", (self.channel | self.sibling).ids)]
        )

    def _assert_nothing_stored(self, response, status, error):
        self.assertEqual(response.status_code, status)
        self.assertEqual(response.json()["error"], error)
        self.assertNotIn("Traceback", response.text)
        self.assertFalse(self._orders())

    def test_accepted(self):
        """A valid signed order is stored with its resolved lines: 202."""
        response = self._post(self._order())
        self.assertEqual(response.status_code, 202)
        answer = response.json()
        self.assertEqual(answer["status"], "accepted")
        self.assertEqual(answer["external_id"], "1001")
        order = self._orders()
        self.assertEqual(order.id, answer["id"])
        self.assertEqual(order.state, "received")
        self.assertEqual(order.customer_email, "ada@example.com")
        self.assertEqual(order.currency_id.name, "USD")
        self.assertEqual(order.line_ids.product_id, self.product)
        self.assertEqual(order.line_ids.product_qty, 2)
        self.assertEqual(order.create_uid, self.robot)

    def test_pack_listing_sku_counts_in_product_units(self):
        """An order for 1 case of 6 promises 6 units."""
        self._post(self._order(lines=[{"sku": "MUG-1-CASE6", "quantity": 1}]))
        self.assertEqual(self._orders().line_ids.product_qty, 6)

    def test_replay_is_a_duplicate(self):
        """The same order again: 200 duplicate, still one record."""
        first = self._post(self._order()).json()
        response = self._post(self._order())
        self.assertEqual(response.status_code, 200)
        answer = response.json()
        self.assertEqual(answer["status"], "duplicate")
        self.assertEqual(answer["order"], first["id"])
        self.assertEqual(answer["state"], "received")
        self.assertEqual(len(self._orders()), 1)

    def test_parallel_duplicates_store_one_order(self):
        """Four deliveries of one order at once: one record, one 202."""
        body = json.dumps(self._order("2002")).encode()
        headers = sign_request(
            SECRET, "POST", "/stock_channel_sync/intake/orders", body
        )
        url = self.base_url() + "/stock_channel_sync/intake/orders"
        statuses = post_in_parallel(url, body, headers)
        self.assertEqual(sorted(statuses), [200, 200, 200, 202])
        self.assertEqual(len(self._orders()), 1)

    def test_same_external_id_on_two_channels(self):
        """Dedup is per channel."""
        self._post(self._order())
        response = self._post(self._order(), code="sibling", secret="sibling-secret")
        self.assertEqual(response.status_code, 202)
        self.assertEqual(len(self._orders()), 2)

    def test_missing_signature(self):
        """No signature: 401, nothing stored."""
        self._assert_nothing_stored(
            self._post(self._order(), secret=None), 401, "invalid_signature"
        )

    def test_wrong_signature(self):
        """A wrong signature: 401, nothing stored."""
        self._assert_nothing_stored(
            self._post(self._order(), signature="sha256=" + "0" * 64),
            401,
            "invalid_signature",
        )

    def test_other_channels_secret(self):
        """Signed with another channel's secret: 401."""
        self._assert_nothing_stored(
            self._post(self._order(), secret="sibling-secret"), 401, "invalid_signature"
        )

    def test_unknown_or_inactive_channel(self):
        """A code nobody has, and an archived channel, answer exactly like a
        bad signature (401 invalid_signature): the caller cannot probe which
        channels exist."""
        self._assert_nothing_stored(
            self._post(self._order(), code="nope"), 401, "invalid_signature"
        )
        self.channel.action_archive()
        self._assert_nothing_stored(self._post(self._order()), 401, "invalid_signature")

    def test_invalid_json(self):
        """Not JSON: 400."""
        self._assert_nothing_stored(self._post(b"{not json"), 400, "invalid_json")

    def test_too_large(self):
        """Over 1 MiB: 413 before anything else."""
        body = json.dumps(self._order(note="x" * (1024 * 1024))).encode()
        self._assert_nothing_stored(self._post(body), 413, "payload_too_large")

    def test_every_validation_error_at_once(self):
        """422 lists every problem; nothing is stored."""
        payload = self._order(
            external_id="",
            currency="EURO",
            customer={},
            lines=[
                {"sku": "MUG-1", "quantity": 0, "unit_price": -1},
                {"quantity": 1},
            ],
        )
        response = self._post(payload)
        self._assert_nothing_stored(response, 422, "invalid_order")
        fields = {d["field"] for d in response.json()["details"]}
        self.assertEqual(
            fields,
            {
                "external_id",
                "currency",
                "customer",
                "lines[0].quantity",
                "lines[0].unit_price",
                "lines[1].sku",
            },
        )

    def test_unknown_sku_currency_country(self):
        """What needs the database is checked too, all at once."""
        payload = self._order(
            currency="XXX",
            shipping_address={"country_code": "QQ"},
            lines=[
                {"sku": "MUG-1", "quantity": 1},
                {"sku": "GHOST", "quantity": 1},
            ],
        )
        response = self._post(payload)
        self._assert_nothing_stored(response, 422, "invalid_order")
        self.assertEqual(
            response.json()["details"],
            [
                {"field": "lines[1].sku", "message": "unknown SKU 'GHOST'"},
                {"field": "currency", "message": "unknown currency 'XXX'"},
                {
                    "field": "shipping_address.country_code",
                    "message": "unknown country 'QQ'",
                },
            ],
        )

    def test_promised_at_once_on_sharing_channels(self):
        """Accepted lines lower the ATP of every channel sharing the
        warehouse, and mark their listings pending; other warehouses keep
        theirs."""
        listings = self.listing | self.sibling_listing | self.far_listing
        before = {
            k: r.qty for k, r in AtpEngine(self.env).compute(listings.ids).items()
        }
        self.env.cr.execute("DELETE FROM stock_channel_listing_change")
        self._post(self._order(lines=[{"sku": "MUG-1", "quantity": 3}]))
        after = AtpEngine(self.env).compute(listings.ids)
        self.assertEqual(after[self.listing.id].qty, before[self.listing.id] - 3)
        self.assertEqual(
            after[self.sibling_listing.id].qty, before[self.sibling_listing.id] - 3
        )
        self.assertEqual(after[self.far_listing.id].qty, before[self.far_listing.id])
        listings.invalidate_recordset()
        self.assertEqual(
            listings.filtered("pending"), self.listing | self.sibling_listing
        )

    def test_status(self):
        """GET signed over its path answers the order's state."""
        self._post(self._order())
        path = "/stock_channel_sync/intake/orders/1001"
        response = self.url_open(path, headers=sign_request(SECRET, "GET", path))
        self.assertEqual(response.status_code, 200)
        self.assertEqual(response.json()["state"], "received")
        self.assertEqual(self.url_open(path).status_code, 401)
        missing = "/stock_channel_sync/intake/orders/404"
        response = self.url_open(
            missing,
            headers=sign_request(SECRET, "GET", missing),
        )
        self.assertEqual(response.status_code, 404)
        self.assertEqual(response.json()["error"], "unknown_order")

    def test_cancel_endpoint(self):
        """POST .../cancel signed over its path: 200 cancelled; unsigned 401."""
        self._post(self._order())
        path = "/stock_channel_sync/intake/orders/1001/cancel"
        self.assertEqual(self.url_open(path, data=b"{}").status_code, 401)
        response = self.url_open(
            path,
            data=b"{}",
            headers=sign_request(SECRET, "POST", path, b"{}"),
        )
        self.assertEqual(response.status_code, 200)
        self.assertEqual(response.json()["state"], "cancelled")


@tagged("post_install", "-at_install")
class TestNativeOrderWebhooks(HttpCase):
    """Shopify and WooCommerce post their own payloads with their own
    signatures; the adapter translates them into the canonical order."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        robot = new_test_user(
            cls.env,
            login="native_robot",
            groups="stock.group_stock_user,stock_channel_sync.group_channel_manager",
        )
        cls.product = cls.env["product.product"].create(
            {"name": "Native Lamp", "default_code": "LAMP-1", "is_storable": True}
        )
        Channel = cls.env["stock.channel"]
        cls.shop = Channel.create(
            {
                "name": "Shop",
                "code": "shop",
                "adapter": "shopify",
                "webhook_secret": "shpss_1",
                "location_ref": "1",
                "user_id": robot.id,
            }
        )
        cls.woo = Channel.create(
            {
                "name": "Woo",
                "code": "woo",
                "adapter": "woocommerce",
                "webhook_secret": "wc_secret",
                "user_id": robot.id,
            }
        )

    def _post(self, code, body, headers):
        return self.url_open(
            f"/stock_channel_sync/{code}/orders", data=body, headers=headers
        )

    def _orders(self, channel):
        return self.env["stock.channel.order"].search([("channel_id", "=", channel.id)])

    def test_shopify_order(self):
        """X-Shopify-Hmac-Sha256 over the raw body, topic orders/create."""
        body = json.dumps(
            {
                "id": 450789469,
                "currency": "USD",
                "created_at": "2026-11-23T10:00:00-05:00",
                "customer": {
                    "first_name": "Bo",
                    "last_name": "Lamp",
                    "email": "bo@x.be",
                },
                "shipping_address": {
                    "address1": "Rue 1",
                    "city": "Liège",
                    "country_code": "BE",
                },
                "line_items": [
                    {"id": 1, "sku": "LAMP-1", "quantity": 2, "price": "19.90"}
                ],
                "shipping_lines": [{"code": "std", "price": "4.00"}],
            }
        ).encode()
        good = {
            "X-Shopify-Topic": "orders/create",
            "X-Shopify-Hmac-Sha256": sign_base64("shpss_1", body),
        }
        self.assertEqual(
            self._post(
                "shop", body, dict(good, **{"X-Shopify-Hmac-Sha256": "AAAA"})
            ).status_code,
            401,
        )
        unsupported = self._post(
            "shop", body, dict(good, **{"X-Shopify-Topic": "orders/paid"})
        )
        self.assertEqual(unsupported.status_code, 400)
        self.assertEqual(unsupported.json(), {"error": "unsupported_event"})
        self.assertFalse(self._orders(self.shop))
        response = self._post("shop", body, good)
        self.assertEqual(response.status_code, 202)
        order = self._orders(self.shop)
        self.assertEqual(order.external_id, "450789469")
        self.assertEqual(order.customer_name, "Bo Lamp")
        self.assertEqual(order.line_ids.unit_price, 19.9)
        self.assertEqual(order.line_ids.product_qty, 2)
        canonical = ADAPTERS["shopify"].to_canonical(json.loads(body))
        self.assertEqual(canonical["shipping_address"]["street"], "Rue 1")
        self.assertEqual(canonical["shipping_amount"], 4.0)

    def _shopify_order(self, order_id=450789470, cancelled=False):
        return json.dumps(
            {
                "id": order_id,
                "cancelled_at": "2026-11-23T10:00:00Z" if cancelled else None,
                "customer": {"first_name": "Di", "last_name": "Can"},
                "line_items": [{"id": 1, "sku": "LAMP-1", "quantity": 1, "price": "9"}],
            }
        ).encode()

    def _shopify_post(self, topic, body, webhook_id=None):
        headers = {
            "X-Shopify-Topic": topic,
            "X-Shopify-Hmac-Sha256": sign_base64("shpss_1", body),
        }
        if webhook_id:
            headers["X-Shopify-Webhook-Id"] = webhook_id
        return self._post("shop", body, headers)

    def test_shopify_cancellation(self):
        """orders/cancelled on a received order cancels it and releases its
        promise; a forged one is refused and changes nothing."""
        body = self._shopify_order()
        self.assertEqual(self._shopify_post("orders/create", body).status_code, 202)
        order = self._orders(self.shop)
        cancelled = self._shopify_order(cancelled=True)
        forged = self._post(
            "shop",
            cancelled,
            {"X-Shopify-Topic": "orders/cancelled", "X-Shopify-Hmac-Sha256": "AAAA"},
        )
        self.assertEqual(forged.status_code, 401)
        self.assertEqual(order.state, "received")
        response = self._shopify_post("orders/cancelled", cancelled)
        self.assertEqual(response.status_code, 200)
        self.assertEqual(response.json()["status"], "cancelled")
        order.invalidate_recordset()
        self.assertEqual(order.state, "cancelled")

    def test_shopify_cancellation_before_creation(self):
        """Webhooks arrive in any order: a cancellation that comes first is
        kept, and the late creation is a duplicate that never becomes a sale
        order nor a promise."""
        body = self._shopify_order(450789471)
        response = self._shopify_post(
            "orders/cancelled", self._shopify_order(450789471, cancelled=True)
        )
        self.assertEqual(response.status_code, 200)
        self.assertEqual(response.json()["state"], "cancelled")
        with trap_jobs() as trap:
            late = self._shopify_post("orders/create", body)
            trap.assert_jobs_count(0)
        self.assertEqual(late.status_code, 200)
        self.assertEqual(
            (late.json()["status"], late.json()["state"]), ("duplicate", "cancelled")
        )
        order = self._orders(self.shop)
        self.assertEqual(len(order), 1)
        self.assertFalse(order.line_ids)

    def test_shopify_topic_swap_cancels_nothing(self):
        """A captured orders/create delivery re-sent under the unsigned topic
        orders/cancelled: the signed order has no cancelled_at, so nothing
        is cancelled, before or after the real order arrives."""
        body = self._shopify_order(450789472)
        swapped = self._shopify_post("orders/cancelled", body)
        self.assertEqual(swapped.status_code, 202)
        order = self._orders(self.shop)
        self.assertEqual(order.state, "received")
        again = self._shopify_post("orders/cancelled", body)
        self.assertEqual(again.json()["status"], "duplicate")
        order.invalidate_recordset()
        self.assertEqual(order.state, "received")

    def test_shopify_delivery_replayed(self):
        """A delivery id seen in the last 48 hours is answered as a
        duplicate and changes nothing, whatever it now carries."""
        body = self._shopify_order(450789473)
        first = self._shopify_post("orders/create", body, webhook_id="wh-1")
        self.assertEqual(first.status_code, 202)
        replay = self._shopify_post(
            "orders/cancelled",
            self._shopify_order(450789473, cancelled=True),
            webhook_id="wh-1",
        )
        self.assertEqual(replay.status_code, 200)
        self.assertEqual(replay.json(), {"status": "duplicate", "delivery": "wh-1"})
        self.assertEqual(self._orders(self.shop).state, "received")
        deliveries = self.env["stock.channel.delivery"].search(
            [("channel_id", "=", self.shop.id)]
        )
        self.assertEqual(deliveries.mapped("delivery_id"), ["wh-1"])
        # Retention: forgotten after 48 hours.
        self.env.cr.execute(
            "UPDATE stock_channel_delivery SET received_at = received_at"
            " - interval '49 hours' WHERE channel_id = %s",
            [self.shop.id],
        )
        self.assertEqual(self.env["stock.channel.delivery"]._gc(), 1)

    def _woo_post(self, topic, data):
        body = json.dumps(data).encode()
        return self._post(
            "woo",
            body,
            {
                "X-WC-Webhook-Topic": topic,
                "X-WC-Webhook-Signature": sign_base64("wc_secret", body),
            },
        )

    def test_woocommerce_update_cancellation_and_deletion(self):
        """The signed status decides: order.updated is acted on only when the
        status is cancelled; order.deleted cancels when its payload says
        trash or cancelled, and is acknowledged without effect when it
        carries only the id; another topic is a 400."""
        order = {
            "id": 731,
            "status": "processing",
            "billing": {"first_name": "Ev", "email": "ev@x.be"},
            "line_items": [{"id": 1, "sku": "LAMP-1", "quantity": 1, "price": 9}],
        }
        self.assertEqual(self._woo_post("order.created", order).status_code, 202)
        stored = self._orders(self.woo)
        ignored = self._woo_post("order.updated", order)
        self.assertEqual(ignored.json()["status"], "ignored")
        self.assertEqual(stored.state, "received")
        self.assertEqual(
            self._woo_post("order.restored", order).json(),
            {"error": "unsupported_event"},
        )
        cancelled = self._woo_post("order.updated", dict(order, status="cancelled"))
        self.assertEqual(cancelled.json()["status"], "cancelled")
        stored.invalidate_recordset()
        self.assertEqual(stored.state, "cancelled")
        bare = self._woo_post("order.deleted", {"id": 732})
        self.assertEqual((bare.status_code, bare.json()["status"]), (200, "ignored"))
        self.assertEqual(len(self._orders(self.woo)), 1)
        deleted = self._woo_post("order.deleted", {"id": 732, "status": "trash"})
        self.assertEqual(
            (deleted.status_code, deleted.json()["state"]), (200, "cancelled")
        )
        self.assertEqual(len(self._orders(self.woo)), 2)

    def test_woocommerce_ping_and_order(self):
        """The unsigned ping gets 200 and stores nothing; orders deduplicate
        on the order id although the delivery id changes."""
        response = self._post(
            "woo",
            b"webhook_id=12",
            {"Content-Type": "application/x-www-form-urlencoded"},
        )
        self.assertEqual(response.status_code, 200)
        self.assertFalse(self._orders(self.woo))
        body = json.dumps(
            {
                "id": 727,
                "currency": "USD",
                "billing": {"first_name": "Cy", "last_name": "Woo", "email": "cy@x.be"},
                "shipping": {"address_1": "Rue 2", "city": "Gent", "country": "BE"},
                "line_items": [
                    {"id": 3, "sku": "LAMP-1", "quantity": 1, "price": 19.9}
                ],
                "shipping_lines": [{"method_id": "flat_rate", "total": "5.00"}],
            }
        ).encode()
        signature = sign_base64("wc_secret", body)
        first = self._post(
            "woo",
            body,
            {"X-WC-Webhook-Signature": signature, "X-WC-Webhook-Delivery-ID": "1"},
        )
        again = self._post(
            "woo",
            body,
            {"X-WC-Webhook-Signature": signature, "X-WC-Webhook-Delivery-ID": "2"},
        )
        self.assertEqual((first.status_code, again.status_code), (202, 200))
        self.assertEqual(again.json()["status"], "duplicate")
        self.assertEqual(len(self._orders(self.woo)), 1)
        self.assertEqual(self._orders(self.woo).external_id, "727")
        canonical = ADAPTERS["woocommerce"].to_canonical(json.loads(body))
        self.assertEqual(canonical["customer"]["name"], "Cy Woo")
        self.assertEqual(canonical["shipping_address"]["city"], "Gent")
        self.assertEqual(canonical["shipping_address"]["country_code"], "BE")
        self.assertEqual(canonical["shipping_amount"], 5.0)
