import base64
import json
from datetime import datetime, timedelta
from urllib.parse import parse_qs, urlsplit

from odoo.exceptions import UserError
from odoo.sql_db import db_connect
from odoo.tests import new_test_user, tagged

from odoo.addons.queue_job.exception import RetryableJobError
from odoo.addons.queue_job.tests.common import trap_jobs

from ..services import order_intake, order_pull
from ..services.retries import MARKETPLACE_MAX_RETRIES
from .common import OrderCase, run_autovacuum
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


def shopify_cursor(node):
    """Shopify's cursors are keyset positions, not offsets: the last
    order's sort value and id (base64 JSON, as Shopify's look)."""
    key = {"last_id": int(node["legacyResourceId"]), "last_value": node["updatedAt"]}
    return base64.b64encode(json.dumps(key).encode()).decode()


class StandInStore:
    """The stand-ins' order lists: Shopify's GraphQL ``orders`` connection
    and WooCommerce's ``GET /orders``, each filtering on the last change
    (strictly after, whole seconds), sorted by it, paged as the
    marketplaces page: Shopify by keyset cursor (sort value and id),
    WooCommerce by page number over the list as it is at each request (an
    order changed meanwhile moves and shifts the others), ties on
    ``modified`` in no useful order (here: id descending), ``orderby=id``
    and ``modified_before`` as WooCommerce has them, ``X-WP-Total`` and
    ``X-WP-TotalPages``. ``before`` is called with the number of each
    request (1, 2, ...) before it is answered: a test changes the store
    there, as a shop would while a pull reads it."""

    def __init__(self, page_size=None):
        self.shopify = []  # GraphQL nodes
        self.woo = []  # REST order objects
        self.page_size = page_size
        self.fail_on = set()  # request numbers answered 503
        self.before = None
        self.requests = 0

    def __call__(self, request):
        self.requests += 1
        if self.before:
            self.before(self.requests)
        if self.requests in self.fail_on:
            return Reply(status=503, body={"errors": "unavailable"})
        if request.path.startswith("/admin/api/"):
            return self._shopify(request.json()["variables"])
        if request.path.startswith("/wp-json/wc/v3/orders"):
            return self._woo(parse_qs(urlsplit(request.path).query))
        return Reply(status=404, body={"error": "unknown path"})

    def _shopify(self, variables):
        since = variables["query"].split(">", 1)[1].strip("'")
        since = since.replace("Z", "")
        key = lambda n: (n["updatedAt"], int(n["legacyResourceId"]))  # noqa: E731
        rows = sorted(
            (n for n in self.shopify if n["updatedAt"].replace("Z", "") > since),
            key=key,
        )
        if variables.get("after"):
            last = json.loads(base64.b64decode(variables["after"]))
            position = (last["last_value"], last["last_id"])
            rows = [n for n in rows if key(n) > position]
        size = self.page_size or variables["first"]
        page = rows[:size]
        more = len(rows) > size
        return Reply(
            body={
                "data": {
                    "orders": {
                        "pageInfo": {
                            "hasNextPage": more,
                            "endCursor": shopify_cursor(page[-1]) if page else None,
                        },
                        "nodes": page,
                    }
                }
            }
        )

    def _woo(self, params):
        assert params["order"] == ["asc"] and params["dates_are_gmt"] == ["true"]
        first = lambda name: (params.get(name) or [None])[0]  # noqa: E731
        after = first("modified_after").replace("Z", "")
        before = (first("modified_before") or "9999").replace("Z", "")
        rows = [
            o
            for o in self.woo
            if after < o["date_modified_gmt"] < before and o["status"] != "trash"
        ]
        if first("orderby") == "id":
            rows.sort(key=lambda o: o["id"])
        else:
            assert first("orderby") == "modified"
            rows.sort(key=lambda o: -o["id"])
            rows.sort(key=lambda o: o["date_modified_gmt"])
        page = int(first("page"))
        size = self.page_size or int(first("per_page"))
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
        # Each page of a pull commits in a cursor of its own: in test mode
        # those cursors work inside this test's transaction.
        self.registry.enter_test_mode(self.cr)
        self.addCleanup(self.registry.leave_test_mode)

    def _pull(self, channel):
        """The pull job, then this test's caches dropped (the pages wrote
        through cursors of their own)."""
        self.env.flush_all()
        channel = channel._as_technical_user()
        try:
            return channel.with_context(job_uuid="job-pull-1")._pull_orders()
        finally:
            self.env.invalidate_all()

    def _woo_requests(self):
        """(modified_after, page) of each listing request to WooCommerce."""
        queries = [parse_qs(urlsplit(r.path).query) for r in self.market.received]
        return [(q["modified_after"][0], q["page"][0]) for q in queries]

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
        # The watermark minus the 5 minutes every pull reads again.
        self.assertEqual(variables["query"], "updated_at:>'2026-10-31T23:55:00Z'")
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
        self.assertEqual(query["modified_after"], ["2026-10-31T23:55:00Z"])
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
        nodes = self.store.shopify
        self.assertEqual(
            afters, [None, shopify_cursor(nodes[1]), shopify_cursor(nodes[3])]
        )
        self.assertEqual(self.shop.orders_pulled_until, datetime(2026, 11, 20, 10, 4))

    def test_woocommerce_pages_followed(self):
        """Three orders, two a page (X-WP-TotalPages): no page number over
        the moving list, page 1 again from one second before the last change
        listed (its order comes back as a duplicate)."""
        self.store.page_size = 2
        for index in range(3):
            self.store.woo.append(woo_order(900 + index, f"2026-11-21T09:0{index}:00"))
        summary = self._pull(self.woo)
        self.assertEqual(len(self._orders(self.woo)), 3)
        self.assertIn("3 accepted, 1 duplicate", summary)
        self.assertEqual(
            self._woo_requests(),
            [("2026-10-31T23:55:00Z", "1"), ("2026-11-21T09:00:59Z", "1")],
        )
        self.assertEqual(self.woo.orders_pulled_until, datetime(2026, 11, 21, 9, 2))

    def test_refused_order_kept_and_not_holding_the_watermark(self):
        """An order the intake refuses (unknown SKU) no longer holds the
        watermark: it is kept as a refused order with its error, visible on
        the channel, and the watermark moves to the last order listed. The
        next pull does not list it again (older than the overlap) but tries
        the refused order once more: its SKU exists now, it is stored and
        the refusal is gone."""
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
        self.assertEqual(self.shop.orders_pulled_until, datetime(2026, 11, 20, 12))
        refusal = self.env["stock.channel.order.refusal"].search(
            [("channel_id", "=", self.shop.id)]
        )
        self.assertEqual(refusal.external_id, "7002")
        self.assertEqual(refusal.changed_at, datetime(2026, 11, 20, 11))
        self.assertEqual(refusal.tries, 1)
        # What a Channel Sync manager (not an administrator) sees.
        seen = refusal.with_user(self.robot)
        self.assertEqual(seen.error_message, "lines[0].sku: unknown SKU 'LATE-SKU'")
        self.assertIn("LATE-SKU", seen.payload)
        self.assertEqual(self.shop.with_user(self.robot).order_refusal_count, 1)
        action = self.shop.with_user(self.robot).action_view_order_refusals()
        self.assertEqual(action["domain"], [("channel_id", "=", self.shop.id)])
        # A pull that refuses it again only counts the try.
        self.shop.orders_pulled_until = SINCE
        self.assertIn("not stored: 7002", self._pull(self.shop))
        self.assertEqual(refusal.tries, 2)
        self._create_product("Late Sku")
        summary = self._pull(self.shop)
        self.assertIn("1 accepted, 1 duplicate", summary)
        self.assertEqual(len(self._orders(self.shop)), 3)
        self.assertEqual(self._channel_order(self.shop, 7002).received_via, "pull")
        self.assertEqual(self.shop.orders_pulled_until, datetime(2026, 11, 20, 12))
        self.assertFalse(refusal.exists())
        self.assertEqual(self.shop.order_refusal_count, 0)

    def test_refused_order_dismissed_by_a_manager(self):
        """Dismiss drops the refusal (managers only); a newer version listed
        by a pull replaces the one refused."""
        self.store.woo.append(woo_order(960, "2026-11-21T09:00:00", sku="NOPE"))
        self._pull(self.woo)
        refusal = self.env["stock.channel.order.refusal"].search(
            [("channel_id", "=", self.woo.id)]
        )
        self.store.woo[0] = woo_order(960, "2026-11-21T10:00:00", sku="STILL-NOPE")
        self._pull(self.woo)
        self.assertEqual(refusal.changed_at, datetime(2026, 11, 21, 10))
        self.assertIn("STILL-NOPE", refusal.error_message)
        clerk = new_test_user(
            self.env,
            login="refusal_clerk",
            groups="stock.group_stock_user,stock_channel_sync.group_channel_user",
        )
        with self.assertRaises(UserError):
            refusal.with_user(clerk).action_dismiss()
        refusal.with_user(self.robot).action_dismiss()
        self.assertFalse(refusal.exists())

    def _refusal(self, channel, external_id):
        return self.env["stock.channel.order.refusal"].search(
            [("channel_id", "=", channel.id), ("external_id", "=", external_id)]
        )

    def test_refused_order_on_health_with_one_todo(self):
        """A refused order makes the healthy channel need attention (a
        health figure), gives its responsible one to-do, however often it is
        refused again, from a technical user without e-mail address; over
        *Max Refused Orders* it is an alert. Stored on a retry, the refusal
        goes with its to-do and the alert closes."""
        self.robot.partner_id.email = False
        self.company.partner_id.email = False
        responsible = new_test_user(
            self.env,
            login="refusal_responsible",
            groups="stock.group_stock_user,stock_channel_sync.group_channel_user",
        )
        self.shop.responsible_id = responsible
        self._clear_pending()
        self.shop.invalidate_recordset()
        self.assertEqual(self.shop.health_state, "ok")
        self.store.shopify.append(
            shopify_node(7101, "2026-11-20T10:00:00Z", sku="LATE-<B>SKU</B>")
        )
        self.assertIn("not stored: 7101", self._pull(self.shop))
        refusal = self._refusal(self.shop, "7101")
        seen = self.shop.with_user(responsible)
        self.assertEqual(seen.order_refusal_count, 1)
        self.assertEqual(seen.health_state, "warning")
        todo = refusal.activity_ids
        self.assertEqual(len(todo), 1)
        self.assertEqual(todo.user_id, responsible)
        self.assertIn("7101", todo.summary)
        self.assertIn("LATE-&lt;B&gt;SKU&lt;/B&gt;", str(todo.note))  # escaped
        self.assertTrue(todo.with_user(responsible).res_name)  # readable
        self.shop.orders_pulled_until = SINCE
        self._pull(self.shop)
        self._pull(self.shop)  # a retry of the refusal, not listed
        self.assertEqual(refusal.tries, 3)
        self.assertEqual(refusal.activity_ids, todo)

        self.shop.alert_max_order_refusals = 0
        self.env["stock.channel"]._cron_check_alerts()
        alert = self.env["stock.channel.alert"].search(
            [("channel_id", "=", self.shop.id), ("state", "=", "open")]
        )
        self.assertEqual((alert.kind, alert.value), ("refusals", 1))
        self.assertEqual(self.shop.health_state, "alert")

        self._create_product("Late <B>Sku</B>")
        self.assertIn("1 accepted", self._pull(self.shop))
        self.assertFalse(refusal.exists())
        self.assertFalse(
            self.env["mail.activity"].search(
                [
                    ("res_model", "=", "stock.channel.order.refusal"),
                    ("res_id", "=", refusal.id),
                ]
            )
        )
        self.env["stock.channel"]._cron_check_alerts()
        self.assertEqual(alert.state, "closed")
        self.assertEqual(self.shop.order_refusal_count, 0)

    def test_refused_order_payload_cleared_after_retention(self):
        """The retention clears the stored order of a refusal last listed
        longer ago than the payload retention; the refusal keeps its error
        and is no longer tried; a recent one keeps its copy; a pull that
        lists the order again stores a fresh copy."""
        self.store.woo += [
            woo_order(970, "2026-11-21T09:00:00", sku="NOPE-OLD"),
            woo_order(971, "2026-11-21T09:01:00", sku="NOPE-NEW"),
        ]
        self._pull(self.woo)
        old, recent = self._refusal(self.woo, "970"), self._refusal(self.woo, "971")
        self.assertTrue(old.listed_at)
        self.env.cr.execute(
            "UPDATE stock_channel_order_refusal"
            " SET listed_at = listed_at - interval '31 days' WHERE id = %s",
            [old.id],
        )
        self.env.invalidate_all()
        run_autovacuum(self.env)
        self.assertFalse(old.payload)
        self.assertIn("NOPE-OLD", old.error_message)
        self.assertIn("NOPE-NEW", recent.payload)
        self.store.woo.clear()
        self._pull(self.woo)
        self.assertEqual((old.tries, recent.tries), (1, 2))
        self.store.woo.append(woo_order(970, "2026-11-21T09:00:00", sku="NOPE-OLD"))
        self.woo.orders_pulled_until = SINCE
        self._pull(self.woo)
        self.assertIn("NOPE-OLD", old.payload)
        self.assertEqual(old.tries, 2)

    def test_failure_midway_keeps_the_pages_before(self):
        """The second request fails (503): the job is retried later. The
        first page was committed in its own transaction: its orders stay
        stored and the watermark stands where that page left it. Meanwhile
        a webhook delivers a later order: the retry stores each order once."""
        self.store.page_size = 2
        self.store.woo += [
            woo_order(950 + index, f"2026-11-21T09:0{index}:00") for index in range(4)
        ]
        self.store.fail_on = {2}
        # No assertRaises: its savepoint would also undo the committed page.
        try:
            self._pull(self.woo)
        except RetryableJobError:
            pass
        else:
            self.fail("a 503 must retry the job")
        self.assertEqual(
            sorted(self._orders(self.woo).mapped("external_id")), ["950", "951"]
        )
        # One second before the last change of page 1 (09:01:00): orders of
        # that second may continue on page 2.
        self.assertEqual(self.woo.orders_pulled_until, datetime(2026, 11, 21, 9, 0, 59))
        self._webhook(self.woo, woo_order(952, "2026-11-21T09:02:00"))
        summary = self._pull(self.woo)
        self.assertIn("1 accepted", summary)
        self.assertEqual(len(self._orders(self.woo)), 4)
        self.assertEqual(self.woo.orders_pulled_until, datetime(2026, 11, 21, 9, 3))

    # -- orders that move while the pages are read --------------------------------

    def test_order_shown_late_in_the_same_second_is_read_next_time(self):
        """Two orders changed in the same second; the marketplace shows the
        second one only after a pull has read the first (a late commit, a
        replica behind). The next pull reads from 5 minutes before the
        watermark: the late order is stored, the first is a duplicate that
        enqueues nothing."""
        cases = (
            (self.shop, self.store.shopify, shopify_node, "2026-11-20T10:00:00Z"),
            (self.woo, self.store.woo, woo_order, "2026-11-20T10:00:00"),
        )
        for channel, listed, make, moment in cases:
            with self.subTest(channel=channel.adapter):
                listed.append(make(5101, moment))
                self._pull(channel)
                self.assertEqual(
                    channel.orders_pulled_until, datetime(2026, 11, 20, 10)
                )
                listed.append(make(5102, moment))
                with trap_jobs() as trap:
                    summary = self._pull(channel)
                    late = self._channel_order(channel, 5102)
                    first = self._channel_order(channel, 5101)
                    trap.assert_jobs_count(1, only=late._process)
                    trap.assert_jobs_count(0, only=first._process)
                self.assertIn("1 accepted, 1 duplicate", summary)
                self.assertEqual(len(self._orders(channel)), 2)
                self.assertEqual(
                    channel.orders_pulled_until, datetime(2026, 11, 20, 10)
                )

    def test_woocommerce_order_changed_while_paging_moves_nothing_unread(self):
        """105 orders (pages of 100). After page 1 is read, an order of page
        1 is cancelled on the shop: it moves to the end of the list sorted
        by ``modified`` and page 2 of the same list now starts one order
        late (the stand-in really shifts: shown below). The pull asks page
        1 from its last change instead: all 105 orders are stored, the moved
        one read again (its cancellation becomes a job), the watermark at
        the latest change."""
        base = datetime(2026, 11, 21, 9, 0)
        self.store.woo += [
            woo_order(1000 + i, (base + timedelta(seconds=i)).isoformat())
            for i in range(105)
        ]

        def cancel_one(request_number):
            if request_number == 2:
                self.store.woo[9].update(
                    status="cancelled", date_modified_gmt="2026-11-21T12:00:00"
                )

        self.store.before = cancel_one
        with trap_jobs() as trap:
            summary = self._pull(self.woo)
            moved = self._channel_order(self.woo, 1009)
            confirmations = [
                job for job in trap.enqueued_jobs if job.method_name == "_process"
            ]
            self.assertEqual(len(confirmations), 105)
            trap.assert_jobs_count(1, only=moved._cancel_listed)
        self.assertEqual(len(self._orders(self.woo)), 105)
        self.assertIn("105 accepted, 1 cancel_queued, 1 duplicate", summary)
        self.assertEqual(
            self._woo_requests(),
            [("2026-10-31T23:55:00Z", "1"), ("2026-11-21T09:01:38Z", "1")],
        )
        self.assertEqual(self.woo.orders_pulled_until, datetime(2026, 11, 21, 12))
        # The hazard, in the stand-in: pages 1 and 2 by number around the
        # same change miss one order.
        for order in self.store.woo:
            order.update(status="processing")
        self.store.woo[9]["date_modified_gmt"] = "2026-11-21T09:00:09"
        params = {
            "modified_after": ["2026-11-01T00:00:00"],
            "orderby": ["modified"],
            "order": ["asc"],
            "dates_are_gmt": ["true"],
            "per_page": ["100"],
        }
        first = self.store._woo(dict(params, page=["1"])).body
        cancel_one(2)
        second = self.store._woo(dict(params, page=["2"])).body
        self.assertEqual(len({o["id"] for o in first + second}), 104)

    def test_woocommerce_bulk_update_in_one_second(self):
        """150 orders changed in the same second (a bulk action): a full
        page of one second cannot move the boundary, so that second is read
        on its own by id; one of its orders changes while it is read (page
        2 shifts, X-WP-Total drops): the second is read again, until a pass
        sees it stable. Every order stored."""
        self.store.woo += [
            woo_order(2000 + i, "2026-11-21T09:00:00") for i in range(150)
        ]

        def move_one(request_number):
            if request_number == 3:
                self.store.woo[0]["date_modified_gmt"] = "2026-11-21T09:30:00"

        self.store.before = move_one
        self._pull(self.woo)
        self.assertEqual(len(self._orders(self.woo)), 150)
        queries = [parse_qs(urlsplit(r.path).query) for r in self.market.received]
        shape = [
            (q["orderby"][0], q["page"][0], "modified_before" in q) for q in queries
        ]
        self.assertEqual(
            shape,
            [
                ("modified", "1", False),  # 100 of the same second
                ("id", "1", True),  # that second alone: 150
                ("id", "2", True),  # 149 now: one order left, page 2 shifted
                ("id", "1", True),  # read again
                ("id", "2", True),  # 149 throughout: stable
                ("modified", "1", False),  # after that second: the moved one
            ],
        )
        self.assertEqual(self.woo.orders_pulled_until, datetime(2026, 11, 21, 9, 30))

    def test_one_pull_per_channel_at_a_time(self):
        """A pull that finds the channel's pull lock taken (another pull
        running, on another connection) does nothing: no request, the
        watermark untouched; the lock is the transaction's, so the next pull
        runs."""
        self.store.shopify.append(shopify_node(5201, "2026-11-20T10:00:00Z"))
        with db_connect(self.cr.dbname).cursor() as other:
            other.execute(
                "SELECT pg_advisory_xact_lock(%s, %s)",
                [order_pull.PULL_LOCK, self.shop.id],
            )
            summary = self._pull(self.shop)
            other.rollback()
        self.assertIn("another pull of this channel is running", summary)
        self.assertFalse(self.market.received)
        self.assertEqual(self.shop.orders_pulled_until, SINCE)
        self.assertIn("1 accepted", self._pull(self.shop))

    # -- no stock locks in the pull --------------------------------------------

    def test_sync_channel_pull_defers_confirmation_to_its_job(self):
        """On a channel that confirms orders at once, a webhook's order is
        confirmed in the request; a pulled one is confirmed by its job (the
        pull must hold no stock locks)."""
        self.woo.order_processing = "sync"
        self.store.woo.append(woo_order(970, "2026-11-21T09:00:00"))
        with trap_jobs() as trap:
            self._pull(self.woo)
            order = self._channel_order(self.woo, 970)
            trap.assert_jobs_count(1, only=order._process)
        self.assertEqual(order.state, "received")
        self.assertFalse(order.sale_order_id)
        order._process()
        self.assertEqual(order.state, "done", order.error_message)
        webhook = self._webhook(self.woo, woo_order(971, "2026-11-21T09:01:00"))
        self.assertEqual(webhook.kind, "created")

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
        through the webhook's cancellation path, by a job of its own (the
        pull holds no stock locks): the order is still received after the
        pull, cancelled by the job."""
        self._webhook(self.shop, shopify_webhook(8101))
        self.store.shopify.append(
            shopify_node(
                8101, "2026-11-22T10:00:00Z", cancelled_at="2026-11-22T10:00:00Z"
            )
        )
        with trap_jobs() as trap:
            summary = self._pull(self.shop)
            order = self._channel_order(self.shop, 8101)
            self.assertEqual(order.state, "received")
            trap.assert_jobs_count(1, only=order._cancel_listed)
            trap.assert_enqueued_job(
                order._cancel_listed,
                properties={"identity_key": f"stock_channel_sync.cancel.{order.id}"},
            )
        self.assertIn("1 cancel_queued", summary)
        self.assertEqual(order._cancel_listed(), "cancelled")
        self.assertEqual(self._channel_order(self.shop, 8101).state, "cancelled")
        self.assertEqual(order._cancel_listed(), "cancelled")  # twice: no change

    def test_pulled_cancellation_of_a_shipped_order_enqueued_once(self):
        """A shipped order cancelled on the marketplace: the first pull
        listing it cancelled enqueues its cancellation job, which leaves the
        order done with one to-do; the pulls after it (the 5-minute overlap
        lists it again) and the marketplace's cancellation webhook enqueue
        and schedule nothing more. An order cancelled before it shipped is
        not listed for a job again either."""
        self._webhook(self.shop, shopify_webhook(8201))
        order = self._channel_order(self.shop, 8201)
        order.with_user(self.robot)._process()
        picking = order.sale_order_id.picking_ids
        picking.move_ids.picked = True
        picking.button_validate()
        self.assertEqual(picking.state, "done")
        self._webhook(self.shop, shopify_webhook(8202))
        unshipped = self._channel_order(self.shop, 8202)
        self.store.shopify += [
            shopify_node(
                external_id, "2026-11-22T10:00:00Z", cancelled_at="2026-11-22T10:00:00Z"
            )
            for external_id in (8201, 8202)
        ]
        with trap_jobs() as trap:
            self.assertIn("2 cancel_queued", self._pull(self.shop))
            trap.assert_jobs_count(1, only=order._cancel_listed)
            trap.assert_jobs_count(1, only=unshipped._cancel_listed)
        self.assertEqual(order._cancel_listed(), "already_shipped")
        self.assertEqual(unshipped._cancel_listed(), "cancelled")
        self.assertEqual(order.state, "done")
        self.assertTrue(order.channel_cancelled_at)
        todo = order.activity_ids
        self.assertEqual(len(todo), 1)
        self.assertIn("cancelled on the channel after shipping", todo.summary)
        for _pull in range(2):
            with trap_jobs() as trap:
                summary = self._pull(self.shop)
                self.assertFalse(
                    [j for j in trap.enqueued_jobs if j.method_name == "_cancel_listed"]
                )
            self.assertIn("2 duplicate", summary)
            self.assertNotIn("cancel_queued", summary)
        todo.action_feedback(feedback="Refunded by hand")
        outcome = order_intake.handle(
            self.shop._as_technical_user().env["stock.channel.order"],
            self.shop._as_technical_user(),
            "cancel",
            json.dumps(
                dict(shopify_webhook(8201), cancelled_at="2026-11-22T10:00:00Z")
            ).encode(),
        )
        self.assertEqual(outcome.kind, "already_shipped")
        self.assertFalse(order.activity_ids)  # handled: no second to-do
        with trap_jobs() as trap:
            self.assertIn("2 duplicate", self._pull(self.shop))
            trap.assert_jobs_count(0, only=order._cancel_listed)
        self.assertEqual(self._channel_order(self.shop, 8201).state, "done")

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
