import json
from datetime import datetime
from urllib.parse import parse_qs, urlsplit

from odoo.exceptions import UserError
from odoo.tests import new_test_user, tagged

from odoo.addons.queue_job.exception import RetryableJobError
from odoo.addons.queue_job.tests.common import trap_jobs

from ..services import order_intake
from ..services.retries import MARKETPLACE_MAX_RETRIES
from .common import OrderCase
from .marketplace import Marketplace, Reply

SINCE = datetime(2026, 11, 1)


def shopify_node(order_id, updated_at, sku="ATP-WIDGET", cancelled_at=None):
    """An order as Shopify's GraphQL ``orders`` connection returns it."""
    return {
        "legacyResourceId": str(order_id),
        "name": f"#{order_id}",
        "createdAt": "2026-11-20T10:00:00Z",
        "updatedAt": updated_at,
        "cancelledAt": cancelled_at,
        "currencyCode": None,
        "note": "pulled",
        "email": "pull@example.com",
        "customer": {
            "firstName": "Pat",
            "lastName": "Pull",
            "email": "pull@example.com",
            "phone": None,
        },
        "shippingAddress": {
            "firstName": "Pat",
            "lastName": "Pull",
            "address1": "Rue Haute 1",
            "address2": None,
            "city": "Bruxelles",
            "zip": "1000",
            "provinceCode": None,
            "countryCodeV2": "BE",
            "phone": None,
        },
        "lineItems": {
            "nodes": [
                {
                    "sku": sku,
                    "quantity": 1,
                    "originalUnitPriceSet": {"shopMoney": {"amount": "9.90"}},
                }
            ]
        },
        "shippingLines": {
            "nodes": [
                {
                    "code": "Standard",
                    "originalPriceSet": {"shopMoney": {"amount": "4.50"}},
                }
            ]
        },
    }


def shopify_webhook(order_id, sku="ATP-WIDGET"):
    """The same order as Shopify's ``orders/create`` webhook carries it."""
    return {
        "id": order_id,
        "created_at": "2026-11-20T10:00:00Z",
        "currency": None,
        "customer": {"first_name": "Pat", "last_name": "Pull", "email": "p@e.com"},
        "shipping_address": {"country_code": "BE", "city": "Bruxelles"},
        "line_items": [{"sku": sku, "quantity": 1, "price": "9.90"}],
        "shipping_lines": [],
    }


def woo_order(order_id, modified_gmt, sku="ATP-GADGET", status="processing"):
    """WooCommerce's REST v3 order object (what its webhooks carry too)."""
    return {
        "id": order_id,
        "status": status,
        "currency": None,
        "date_created_gmt": "2026-11-20T10:00:00",
        "date_modified_gmt": modified_gmt,
        "billing": {"first_name": "Wo", "last_name": "Pull", "email": "w@e.com"},
        "shipping": {"first_name": "Wo", "last_name": "Pull", "country": "US"},
        "line_items": [{"sku": sku, "quantity": 2, "price": 7.5}],
        "shipping_lines": [],
    }


class StandInStore:
    """The stand-ins' order lists: Shopify's GraphQL ``orders`` connection
    and WooCommerce's ``GET /orders``, each filtering on the last change
    (strictly after), sorted by it, paged, as the marketplaces do."""

    def __init__(self, page_size=None):
        self.shopify = []  # GraphQL nodes
        self.woo = []  # REST order objects
        self.page_size = page_size
        self.fail_on = set()  # pages (Shopify cursors / Woo page numbers): 500

    def __call__(self, request):
        if request.path.startswith("/admin/api/"):
            return self._shopify(request.json()["variables"])
        if request.path.startswith("/wp-json/wc/v3/orders"):
            return self._woo(parse_qs(urlsplit(request.path).query))
        return Reply(status=404, body={"error": "unknown path"})

    def _shopify(self, variables):
        since = variables["query"].split(">", 1)[1].strip("'")
        since = since.replace("Z", "")
        rows = sorted(
            (n for n in self.shopify if n["updatedAt"].replace("Z", "") > since),
            key=lambda n: n["updatedAt"],
        )
        start = int(variables.get("after") or 0)
        if str(start) in self.fail_on:
            return Reply(status=503, body={"errors": "unavailable"})
        size = self.page_size or variables["first"]
        page = rows[start : start + size]
        more = start + size < len(rows)
        return Reply(
            body={
                "data": {
                    "orders": {
                        "pageInfo": {
                            "hasNextPage": more,
                            "endCursor": str(start + size) if more else None,
                        },
                        "nodes": page,
                    }
                }
            }
        )

    def _woo(self, params):
        assert params["orderby"] == ["modified"] and params["order"] == ["asc"]
        assert params["dates_are_gmt"] == ["true"]
        since = params["modified_after"][0].replace("Z", "")
        rows = sorted(
            (o for o in self.woo if o["date_modified_gmt"] > since),
            key=lambda o: o["date_modified_gmt"],
        )
        page = int(params["page"][0])
        if str(page) in self.fail_on:
            return Reply(status=503, body={"code": "unavailable"})
        size = self.page_size or int(params["per_page"][0])
        pages = max(1, -(-len(rows) // size))
        return Reply(
            body=rows[(page - 1) * size : page * size],
            headers={"X-WP-Total": str(len(rows)), "X-WP-TotalPages": str(pages)},
        )


@tagged("post_install", "-at_install")
class TestOrderPull(OrderCase):
    """Pulled orders for Shopify and WooCommerce against their stand-ins:
    the same intake as the webhooks, exactly once, behind a watermark."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.market = Marketplace().start()
        cls.addClassCleanup(cls.market.stop)
        cls.env["stock.quant"]._update_available_quantity(
            cls.product_b, cls.stock_main, 30
        )
        cls.shop = cls._create_channel(
            "test-pull-shop",
            cls.wh_main,
            adapter="shopify",
            location_ref="1",
            base_url=cls.market.url,
            api_secret="shpat_pull",
            user_id=cls.robot.id,
            orders_pulled_until=SINCE,
        )
        cls.woo = cls._create_channel(
            "test-pull-woo",
            cls.wh_main,
            adapter="woocommerce",
            base_url=cls.market.url,
            api_key="ck_pull",
            api_secret="cs_pull",
            user_id=cls.robot.id,
            orders_pulled_until=SINCE,
        )
        cls._create_listing(cls.shop, cls.product)
        cls._create_listing(cls.woo, cls.product_b)

    def setUp(self):
        super().setUp()
        self.store = StandInStore()
        self.market.responder = self.store
        self.market.received.clear()
        self.market.refused.clear()
        self.market.script.clear()

    def _pull(self, channel):
        channel = channel._as_technical_user()
        return channel.with_context(job_uuid="job-pull-1")._pull_orders()

    def _webhook(self, channel, data):
        """What the order webhook does once its signature is checked."""
        channel = channel._as_technical_user()
        orders = channel.env["stock.channel.order"]
        return order_intake.handle(orders, channel, "create", json.dumps(data).encode())

    def _orders(self, channel):
        return self.env["stock.channel.order"].search([("channel_id", "=", channel.id)])

    # -- a missed webhook ------------------------------------------------------

    def test_shopify_order_without_webhook_becomes_an_order_and_a_job(self):
        """An order Shopify never posted is listed, stored once and its
        processing job enqueued; counted as recovered by pulling."""
        self.store.shopify.append(shopify_node(5001, "2026-11-20T10:00:00Z"))
        with trap_jobs() as trap:
            summary = self._pull(self.shop)
            order = self._channel_order(self.shop, 5001)
            self.assertEqual(order.state, "received")
            trap.assert_jobs_count(1, only=order._process)
        self.assertIn("recovered 1", summary)
        self.assertEqual(order.received_via, "pull")
        self.assertEqual(order.line_ids.sku, "ATP-WIDGET")
        self.assertEqual(order.canonical_order["shipping_amount"], 4.5)
        self.assertEqual(order.customer_email, "pull@example.com")
        (request,) = self.market.received
        self.assertFalse(self.market.refused, "the document is valid for Shopify")
        self.assertEqual(request.headers["X-Shopify-Access-Token"], "shpat_pull")
        variables = request.json()["variables"]
        self.assertEqual(variables["query"], "updated_at:>'2026-11-01T00:00:00Z'")
        self.assertEqual(variables["first"], 50)
        self.assertEqual(self.shop.orders_pulled_until, datetime(2026, 11, 20, 10))
        self.shop.invalidate_recordset(["order_recovered_count_24h"])
        self.assertEqual(self.shop.order_recovered_count_24h, 1)

    def test_woocommerce_order_without_webhook_becomes_an_order_and_a_job(self):
        """The same for WooCommerce's ``GET /orders?modified_after=``."""
        self.store.woo.append(woo_order(801, "2026-11-21T08:30:00"))
        with trap_jobs() as trap:
            self._pull(self.woo)
            order = self._channel_order(self.woo, 801)
            trap.assert_jobs_count(1, only=order._process)
        self.assertEqual(order.received_via, "pull")
        self.assertEqual(order.line_ids.product_id, self.product_b)
        self.assertEqual(order.line_ids.channel_qty, 2)
        (request,) = self.market.received
        query = parse_qs(urlsplit(request.path).query)
        self.assertEqual(query["modified_after"], ["2026-11-01T00:00:00Z"])
        self.assertEqual(query["per_page"], ["100"])
        self.assertTrue(request.headers["Authorization"].startswith("Basic "))
        self.assertEqual(self.woo.orders_pulled_until, datetime(2026, 11, 21, 8, 30))

    # -- paging and the watermark -------------------------------------------------

    def test_shopify_pages_followed(self):
        """Five orders, two a page: three requests, following endCursor;
        every order stored once, the watermark at the last change."""
        self.store.page_size = 2
        for index in range(5):
            self.store.shopify.append(
                shopify_node(6000 + index, f"2026-11-20T10:0{index}:00Z")
            )
        self._pull(self.shop)
        self.assertEqual(len(self._orders(self.shop)), 5)
        afters = [r.json()["variables"]["after"] for r in self.market.received]
        self.assertEqual(afters, [None, "2", "4"])
        self.assertEqual(self.shop.orders_pulled_until, datetime(2026, 11, 20, 10, 4))

    def test_woocommerce_pages_followed(self):
        """Three orders, two a page: pages 1 and 2 (X-WP-TotalPages)."""
        self.store.page_size = 2
        for index in range(3):
            self.store.woo.append(woo_order(900 + index, f"2026-11-21T09:0{index}:00"))
        self._pull(self.woo)
        self.assertEqual(len(self._orders(self.woo)), 3)
        pages = [parse_qs(urlsplit(r.path).query)["page"] for r in self.market.received]
        self.assertEqual(pages, [["1"], ["2"]])

    def test_watermark_stops_before_an_order_not_stored(self):
        """An order the intake refuses (unknown SKU) holds the watermark
        just before it; the orders after it are stored, and read again (as
        duplicates) by the next pull, which stores the refused one once its
        SKU is known."""
        self.store.shopify += [
            shopify_node(7001, "2026-11-20T10:00:00Z"),
            shopify_node(7002, "2026-11-20T11:00:00Z", sku="LATE-SKU"),
            shopify_node(7003, "2026-11-20T12:00:00Z"),
        ]
        summary = self._pull(self.shop)
        self.assertIn("not stored: 7002", summary)
        self.assertEqual(
            sorted(self._orders(self.shop).mapped("external_id")), ["7001", "7003"]
        )
        self.assertEqual(
            self.shop.orders_pulled_until, datetime(2026, 11, 20, 10, 59, 59)
        )
        self._create_product("Late Sku")
        self.env["product.product"].flush_model()
        summary = self._pull(self.shop)
        self.assertIn("1 accepted, 1 duplicate", summary)
        self.assertEqual(len(self._orders(self.shop)), 3)
        self.assertEqual(self.shop.orders_pulled_until, datetime(2026, 11, 20, 12))

    def test_failure_midway_keeps_the_watermark_and_rereads(self):
        """Page 2 fails (503): the job retries later, its transaction rolled
        back (assertRaises' savepoint, as the job runner's rollback), the
        watermark has not moved. Meanwhile a webhook delivers one of the
        orders: the retry reads both again and stores each once."""
        self.store.page_size = 1
        self.store.woo += [
            woo_order(950, "2026-11-21T09:00:00"),
            woo_order(951, "2026-11-21T09:01:00"),
        ]
        self.store.fail_on = {"2"}
        with self.assertRaises(RetryableJobError):
            self._pull(self.woo)
        self.assertEqual(self.woo.orders_pulled_until, SINCE)
        self.assertFalse(self._orders(self.woo))
        self._webhook(self.woo, woo_order(951, "2026-11-21T09:01:00"))
        self.store.fail_on = set()
        summary = self._pull(self.woo)
        self.assertIn("1 accepted, 1 duplicate", summary)
        self.assertEqual(len(self._orders(self.woo)), 2)
        self.assertEqual(self.woo.orders_pulled_until, datetime(2026, 11, 21, 9, 1))

    def test_nothing_new_keeps_the_watermark(self):
        """An empty list leaves the watermark where it was."""
        self.assertIn("no orders", self._pull(self.shop))
        self.assertEqual(self.shop.orders_pulled_until, SINCE)

    # -- webhook and pull racing ---------------------------------------------------

    def test_webhook_then_pull_one_order(self):
        """The webhook stored it first: the pull finds a duplicate, recovers
        nothing."""
        outcome = self._webhook(self.shop, shopify_webhook(8001))
        self.assertEqual(outcome.kind, "accepted")
        self.store.shopify.append(shopify_node(8001, "2026-11-20T10:00:00Z"))
        summary = self._pull(self.shop)
        self.assertIn("1 duplicate", summary)
        self.assertIn("recovered 0", summary)
        order = self._channel_order(self.shop, 8001)
        self.assertEqual(len(order), 1)
        self.assertEqual(order.received_via, "webhook")
        self.shop.invalidate_recordset(["order_recovered_count_24h"])
        self.assertEqual(self.shop.order_recovered_count_24h, 0)

    def test_pull_then_webhook_one_order(self):
        """The pull stored it first: the late webhook is a duplicate."""
        self.store.woo.append(woo_order(802, "2026-11-21T08:30:00"))
        self._pull(self.woo)
        outcome = self._webhook(self.woo, woo_order(802, "2026-11-21T08:30:00"))
        self.assertEqual(outcome.kind, "duplicate")
        order = self._channel_order(self.woo, 802)
        self.assertEqual(len(order), 1)
        self.assertEqual(order.received_via, "pull")

    # -- cancellations -------------------------------------------------------------

    def test_pulled_shopify_cancellation_cancels(self):
        """A stored order listed again with ``cancelledAt`` is cancelled
        through the webhook's cancellation path."""
        self._webhook(self.shop, shopify_webhook(8101))
        self.store.shopify.append(
            shopify_node(
                8101, "2026-11-22T10:00:00Z", cancelled_at="2026-11-22T10:00:00Z"
            )
        )
        self._pull(self.shop)
        self.assertEqual(self._channel_order(self.shop, 8101).state, "cancelled")

    def test_pulled_woocommerce_cancellation_before_creation(self):
        """An order first seen cancelled is stored cancelled (its late
        creation webhook is a duplicate), not counted as recovered."""
        self.store.woo.append(woo_order(803, "2026-11-21T08:30:00", status="cancelled"))
        summary = self._pull(self.woo)
        self.assertIn("recovered 0", summary)
        order = self._channel_order(self.woo, 803)
        self.assertEqual(order.state, "cancelled")
        outcome = self._webhook(self.woo, woo_order(803, "2026-11-21T08:30:00"))
        self.assertEqual(outcome.kind, "duplicate")

    # -- schedule, button, job declaration ---------------------------------------

    def test_fetch_orders_now_is_for_managers(self):
        """A stock user cannot pull; a manager enqueues one job per channel
        with the marketplace retries, coalesced by its identity key."""
        clerk = new_test_user(
            self.env,
            login="pull_clerk",
            groups="stock.group_stock_user,stock_channel_sync.group_channel_user",
        )
        with self.assertRaises(UserError), trap_jobs() as trap:
            self.shop.with_user(clerk).action_fetch_orders_now()
        with trap_jobs() as trap:
            self.shop.with_user(self.robot).action_fetch_orders_now()
            trap.assert_jobs_count(1, only=self.shop._pull_orders)
            trap.assert_enqueued_job(
                self.shop._pull_orders,
                properties={
                    "identity_key": f"stock_channel_sync.pull.{self.shop.id}",
                    "max_retries": MARKETPLACE_MAX_RETRIES,
                },
            )
        with self.assertRaises(UserError):
            self.channel.with_user(self.robot).action_fetch_orders_now()

    def test_cron_enqueues_channels_due(self):
        """The cron enqueues the pulling channels whose interval elapsed,
        not those pulled recently, switched off, or not pullable."""
        self.woo.order_pull_interval = 0
        with trap_jobs() as trap:
            self.env["stock.channel"]._cron_pull_orders()
            pulled = {
                job.recordset
                for job in trap.enqueued_jobs
                if job.method_name == "_pull_orders"
            }
        self.assertIn(self.shop, pulled)
        self.assertNotIn(self.woo, pulled)
        self.assertNotIn(self.channel, pulled)
        self.assertTrue(self.shop.last_order_pull_at)
        with trap_jobs() as trap:
            self.env["stock.channel"]._cron_pull_orders()
            self.assertFalse(
                [j for j in trap.enqueued_jobs if j.recordset == self.shop]
            )

    def test_failed_pull_counts_among_the_channels_jobs(self):
        """The pull's identity key is one of the channel's job keys (health,
        Retry Failed)."""
        self.assertIn(
            f"stock_channel_sync.pull.{self.shop.id}",
            self.shop._job_identity_keys(),
        )
