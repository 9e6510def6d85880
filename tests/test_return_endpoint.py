import base64
import json
from urllib.parse import parse_qs, urlsplit

from odoo.tests import HttpCase, new_test_user, tagged

from odoo.addons.queue_job.tests.common import trap_jobs

from ..adapters.signing import sign_base64, sign_request
from .marketplace import Marketplace, Reply, post_in_parallel
from .test_returns import ReturnCase

SECRET = "returns-secret-42"
SHOPIFY_SECRET = "shpss_returns"
WOO_SECRET = "wc_returns"
WOO_KEY, WOO_KEY_SECRET = "ck_returns", "cs_returns"


@tagged("post_install", "-at_install")
class TestReturnEndpoint(HttpCase, ReturnCase):
    """``POST /stock_channel_sync/<code>/orders/<id>/returns`` through the
    real HTTP stack: signature v2, every answer, nothing written on error."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.shop.webhook_secret = SECRET

    def _path(self, external_id):
        return f"/stock_channel_sync/ret-shop/orders/{external_id}/returns"

    def _post(self, external_id, payload, secret=SECRET, path=None):
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        path = path or self._path(external_id)
        headers = {"Content-Type": "application/json"}
        headers.update(sign_request(secret, "POST", path, body))
        return self.url_open(path, data=body, headers=headers)

    def _returns(self):
        self.env.invalidate_all()
        return self.env["stock.channel.return"].search(
            [("channel_id", "=", self.shop.id)]
        )

    def _assert_refused(self, response, status, error):
        self.assertEqual(response.status_code, status, response.text)
        self.assertEqual(response.json()["error"], error)
        self.assertNotIn("Traceback", response.text)
        self.assertFalse(self._returns())
        self.assertFalse(self.env["stock.channel.return.line"].search([]))

    def test_accepted_then_duplicate(self):
        """202 with a job, then 200 duplicate for the replay."""
        self._delivered_order("E-1", 3)
        payload = {"return_id": "RMA-1", "lines": [self._line(1)]}
        response = self._post("E-1", payload)
        self.assertEqual(response.status_code, 202, response.text)
        answer = response.json()
        self.assertEqual(
            (answer["status"], answer["return_id"], answer["external_id"]),
            ("accepted", "RMA-1", "E-1"),
        )
        channel_return = self._returns()
        self.assertEqual(channel_return.id, answer["id"])
        self.assertEqual(channel_return.source, "generic")
        jobs = self.env["queue.job"].search(
            [("identity_key", "=", f"stock_channel_sync.return.{channel_return.id}")]
        )
        self.assertEqual(jobs.method_name, "_process_return")
        again = self._post("E-1", payload)
        self.assertEqual(again.status_code, 200)
        self.assertEqual(again.json()["status"], "duplicate")
        self.assertEqual(again.json()["return"], channel_return.id)
        self.assertEqual(len(self._returns()), 1)

    def test_parallel_duplicates_store_one_return(self):
        """Four deliveries of one return at once: one record, one 202."""
        self._delivered_order("E-2", 3)
        body = json.dumps({"return_id": "RMA-2", "lines": [self._line(1)]}).encode()
        headers = sign_request(SECRET, "POST", self._path("E-2"), body)
        url = self.base_url() + self._path("E-2")
        self.env.flush_all()
        statuses = post_in_parallel(url, body, headers)
        self.assertEqual(sorted(statuses), [200, 200, 200, 202])
        self.assertEqual(len(self._returns()), 1)

    def test_error_codes_write_nothing(self):
        """401, 404, 400, 413, 422: JSON errors, no trace, nothing stored."""
        self._delivered_order("E-3", 3)
        good = {"return_id": "RMA-3", "lines": [self._line(1)]}
        self._assert_refused(
            self._post("E-3", good, secret="wrong"), 401, "invalid_signature"
        )
        self._assert_refused(
            self._post("E-3", good, path="/stock_channel_sync/nope/orders/E-3/returns"),
            401,
            "invalid_signature",
        )
        self._assert_refused(self._post("E-404", good), 404, "unknown_order")
        self._assert_refused(self._post("E-3", b"{not json"), 400, "invalid_json")
        self._assert_refused(
            self._post("E-3", b'{"return_id": "x", "lines": [' + b" " * 1100000),
            413,
            "payload_too_large",
        )
        response = self._post("E-3", {"return_id": "RMA-3", "lines": [self._line(4)]})
        self._assert_refused(response, 422, "invalid_return")
        self.assertEqual(response.json()["details"][0]["field"], "lines[0].quantity")
        response = self._post("E-3", {"lines": [self._line(1)]})
        self._assert_refused(response, 422, "invalid_return")
        self.assertEqual(response.json()["details"][0]["field"], "return_id")


@tagged("post_install", "-at_install")
class TestShopifyRefunds(HttpCase, ReturnCase):
    """Shopify's ``refunds/create`` on the order webhook's URL."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.market = Marketplace().start()
        cls.addClassCleanup(cls.market.stop)
        cls.shopify = cls._create_channel(
            "ret-shopify",
            cls.wh_main,
            adapter="shopify",
            location_ref="1",
            webhook_secret=SHOPIFY_SECRET,
            base_url=cls.market.url,
            api_secret="shpat_returns",
            user_id=cls.robot.id,
        )
        cls.shopify_listing = cls._create_listing(
            cls.shopify, cls.product, external_ref="4242"
        )

    def _webhook(self, topic, payload, webhook_id=None):
        body = json.dumps(payload).encode()
        headers = {
            "X-Shopify-Topic": topic,
            "X-Shopify-Hmac-Sha256": sign_base64(SHOPIFY_SECRET, body),
        }
        if webhook_id:
            headers["X-Shopify-Webhook-Id"] = webhook_id
        return self.url_open(
            "/stock_channel_sync/ret-shopify/orders", data=body, headers=headers
        )

    def _shopify_order(self, order_id, quantity, ship=True):
        payload = {
            "id": order_id,
            "customer": {"first_name": "Sho", "last_name": "Pify", "email": "s@x.be"},
            "line_items": [
                {
                    "id": order_id + 1,
                    "sku": self.shopify_listing.external_sku,
                    "quantity": quantity,
                    "price": "10.00",
                }
            ],
        }
        self.assertEqual(self._webhook("orders/create", payload).status_code, 202)
        self.env.invalidate_all()
        order = self._channel_order(self.shopify, order_id)
        self.assertEqual(order.line_ids.external_line_id, str(order_id + 1))
        order.with_user(self.robot)._process()
        self.assertEqual(order.state, "done", order.error_message)
        if ship:
            picking = order.sale_order_id.picking_ids
            picking.move_ids.picked = True
            picking.button_validate()
        return order

    def _refund(self, refund_id, order_id, items):
        return {
            "id": refund_id,
            "order_id": order_id,
            "note": "customer changed mind",
            "refund_line_items": [
                {
                    "id": index,
                    "line_item_id": order_id + 1,
                    "quantity": quantity,
                    "restock_type": restock_type,
                    "location_id": 1,
                    "line_item": {"sku": self.shopify_listing.external_sku},
                }
                for index, (quantity, restock_type) in enumerate(items)
            ],
        }

    def test_refund_with_return_end_to_end(self):
        """Signed refund -> stored once (replays by webhook id and by refund
        id) -> receipt Ready in the returns location -> validated: ATP
        unchanged -> accepted: ATP up, listing pending."""
        order = self._shopify_order(7001, 3)
        self.assertEqual(self._atp(self.shopify_listing), 27)
        refund = self._refund(555, 7001, [(2, "return")])
        forged = self.url_open(
            "/stock_channel_sync/ret-shopify/orders",
            data=json.dumps(refund).encode(),
            headers={"X-Shopify-Topic": "refunds/create", "X-Shopify-Hmac-Sha256": "A"},
        )
        self.assertEqual(forged.status_code, 401)
        response = self._webhook("refunds/create", refund, webhook_id="wh-1")
        self.assertEqual(response.status_code, 202, response.text)
        self.assertEqual(response.json()["return_id"], "555")
        replay = self._webhook("refunds/create", refund, webhook_id="wh-1")
        self.assertEqual(replay.json(), {"status": "duplicate", "delivery": "wh-1"})
        again = self._webhook("refunds/create", refund, webhook_id="wh-2")
        self.assertEqual(
            (again.status_code, again.json()["status"]), (200, "duplicate")
        )
        self.env.invalidate_all()
        channel_return = order.return_ids
        self.assertEqual(len(channel_return), 1)
        self.assertEqual(channel_return.source, "shopify")
        order.with_user(self.robot)._process_return(channel_return.id)
        receipt = channel_return.picking_ids
        self.assertEqual(receipt.state, "assigned")
        self.assertFalse(receipt.location_dest_id.channel_sellable)
        self._validate(receipt)
        self.assertEqual(self._atp(self.shopify_listing), 27)
        self._clear_pending()
        channel_return.line_ids.with_user(self.inspector).action_accept()
        self._flush_marks()
        self.shopify_listing.invalidate_recordset()
        self.assertTrue(self.shopify_listing.pending)
        self.assertEqual(self._atp(self.shopify_listing), 29)
        self.market.received.clear()
        self.market.script.append(
            Reply(body={"data": {"inventorySetQuantities": {"userErrors": []}}})
        )
        self.shopify._as_technical_user().with_context(
            job_uuid="ret-shopify-job"
        )._publish_pending()
        self.assertFalse(self.market.refused)
        quantities = [
            item
            for request in self.market.received
            if "inventorySetQuantities" in request.json().get("query", "")
            for item in request.json()["variables"]["input"]["quantities"]
        ]
        self.assertEqual(
            [(q["inventoryItemId"], q["quantity"]) for q in quantities],
            [("gid://shopify/InventoryItem/4242", 29)],
        )

    def test_cancel_and_no_restock(self):
        """Unshipped: ``cancel`` releases the promise (the sale line asks for
        less), ``no_restock`` is recorded and, unshipped, stops shipping too
        (Shopify removes it from fulfilment); no receipt."""
        order = self._shopify_order(7101, 5, ship=False)
        self.assertEqual(self._atp(self.shopify_listing), 25)
        refund = self._refund(556, 7101, [(2, "cancel"), (1, "no_restock")])
        response = self._webhook("refunds/create", refund)
        self.assertEqual(response.status_code, 202, response.text)
        self.env.invalidate_all()
        channel_return = order.return_ids
        order.with_user(self.robot)._process_return(channel_return.id)
        cancel, recorded = channel_return.line_ids.sorted(
            lambda line: line.restock_type
        )
        self.assertEqual((cancel.restock_type, cancel.state), ("cancel", "recorded"))
        self.assertTrue(cancel.applied)
        self.assertEqual(recorded.restock_type, "no_restock")
        self.assertEqual(recorded.state, "recorded")
        self.assertTrue(recorded.unshipped and recorded.applied)
        self.assertFalse(channel_return.picking_ids)
        # 5 - 2 cancelled - 1 refunded unshipped (this asserted 3 and 27
        # before issue 18: the refunded unit still shipped).
        self.assertEqual(order.sale_order_id.order_line.product_uom_qty, 2)
        self.assertEqual(self._atp(self.shopify_listing), 28)
        self.assertEqual(channel_return.state, "done")

    def test_cancel_publishes_on_a_sharing_channel(self):
        """23 ordered on Shopify, not shipped: ATP 7 on the sandbox channel
        sharing the warehouse; a ``cancel`` refund of 2 releases the promise
        (ATP 9), marks that channel's listing (and Shopify's) and the
        sandbox shelf gets 9."""
        order = self._shopify_order(7301, 23, ship=False)
        self.assertEqual(self._atp(self.shop_listing), 7)
        self._clear_pending()
        response = self._webhook(
            "refunds/create", self._refund(560, 7301, [(2, "cancel")])
        )
        self.assertEqual(response.status_code, 202, response.text)
        self.env.invalidate_all()
        order.with_user(self.robot)._process_return(order.return_ids.id)
        self._flush_marks()
        (self.shop_listing | self.shopify_listing).invalidate_recordset()
        self.assertEqual(self._atp(self.shop_listing), 9)
        self.assertTrue(self.shop_listing.pending)
        self.assertTrue(self.shopify_listing.pending)
        self.shop._as_technical_user().with_context(
            job_uuid="ret-share-job"
        )._publish_pending()
        shelf = self.env["stock.channel.sandbox.shelf"].search(
            [("channel_id", "=", self.shop.id)]
        )
        self.assertEqual(shelf.quantity, 9)
        self.shop_listing.invalidate_recordset()
        self.assertFalse(self.shop_listing.pending)

    def test_no_restock_of_unfulfilled_units_stops_shipping(self):
        """5 ordered, 2 shipped (3 on backorder), 4 refunded ``no_restock``:
        the 3 unfulfilled stop shipping (sale line 2, backorder cancelled,
        ATP 28); the 4th, delivered, is recorded only."""
        order = self._shopify_order(7401, 5, ship=False)
        picking = order.sale_order_id.picking_ids
        picking.move_ids.quantity = 2
        picking.move_ids.picked = True
        picking.with_context(skip_backorder=True).button_validate()
        self.assertEqual(self._atp(self.shopify_listing), 25)
        response = self._webhook(
            "refunds/create", self._refund(561, 7401, [(4, "no_restock")])
        )
        self.assertEqual(response.status_code, 202, response.text)
        self.env.invalidate_all()
        channel_return = order.return_ids
        order.with_user(self.robot)._process_return(channel_return.id)
        unshipped = channel_return.line_ids.filtered("unshipped")
        shipped = channel_return.line_ids - unshipped
        self.assertEqual((unshipped.product_qty, unshipped.applied), (3, True))
        self.assertEqual((shipped.product_qty, shipped.state), (1, "recorded"))
        self.assertEqual(
            set(channel_return.line_ids.mapped("restock_type")), {"no_restock"}
        )
        sale = order.sale_order_id
        self.assertEqual(sale.order_line.product_uom_qty, 2)
        backorder = picking.backorder_ids
        self.assertEqual(backorder.state, "cancel")
        self.assertFalse(channel_return.picking_ids)
        self.assertEqual(self._atp(self.shopify_listing), 28)
        self.assertEqual(channel_return.state, "done")
        # Nothing left to refund of this line beyond the 2 delivered - 1.
        response = self._webhook(
            "refunds/create", self._refund(562, 7401, [(2, "no_restock")])
        )
        self.assertEqual(response.status_code, 422, response.text)

    def test_refund_after_cancellation(self):
        """Shopify cancels an order and refunds it (``cancel``): the order
        was already released by orders/cancelled; the refund is recorded,
        nothing more to release."""
        order = self._shopify_order(7201, 4, ship=False)
        cancelled = {
            "id": 7201,
            "cancelled_at": "2026-11-23T10:00:00Z",
            "customer": {"first_name": "Sho", "last_name": "Pify"},
            "line_items": [],
        }
        self.assertEqual(self._webhook("orders/cancelled", cancelled).status_code, 200)
        response = self._webhook(
            "refunds/create", self._refund(559, 7201, [(4, "cancel")])
        )
        self.assertEqual(response.status_code, 202, response.text)
        self.env.invalidate_all()
        self.assertEqual(order.state, "cancelled")
        order.with_user(self.robot)._process_return(order.return_ids.id)
        self.assertEqual(order.return_ids.line_ids.state, "recorded")
        self.assertTrue(order.return_ids.line_ids.applied)
        self.assertEqual(order.line_ids.product_qty, 4, "left as ordered")
        self.assertEqual(self._atp(self.shopify_listing), 30)

    def test_refund_of_unknown_order_and_amount_only(self):
        """404 unknown_order (Shopify retries until the order arrives); a
        refund without lines is acknowledged; nothing stored."""
        response = self._webhook(
            "refunds/create", self._refund(557, 404, [(1, "return")])
        )
        self.assertEqual(response.status_code, 404)
        self.assertEqual(response.json(), {"error": "unknown_order"})
        bare = self._webhook(
            "refunds/create", {"id": 558, "order_id": 1, "refund_line_items": []}
        )
        self.assertEqual((bare.status_code, bare.json()["status"]), (200, "ignored"))
        self.assertFalse(self.env["stock.channel.return"].search([]))


def woo_refunds(order_id, item_id, quantity):
    """``GET orders/<id>/refunds`` in WooCommerce's shape: negative
    quantities, the refunded order line in ``_refunded_item_id``."""
    return [
        {
            "id": 901,
            "reason": "Arrived broken",
            "amount": "30.00",
            "line_items": [
                {
                    "id": 77,
                    "product_id": 93,
                    "quantity": -quantity,
                    "sku": "",
                    "meta_data": [
                        {"id": 1, "key": "_refunded_item_id", "value": str(item_id)}
                    ],
                }
            ],
        },
        {"id": 902, "reason": "Shipping refund", "amount": "5.00", "line_items": []},
    ]


@tagged("post_install", "-at_install")
class TestWooCommerceRefunds(HttpCase, ReturnCase):
    """A WooCommerce order update listing refunds: a job reads them from a
    local WooCommerce (Basic auth, its shapes) and stores each once."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.market = Marketplace()
        cls.market.responder = cls._woo_answer
        cls.market.start()
        cls.addClassCleanup(cls.market.stop)
        cls.woo = cls._create_channel(
            "ret-woo",
            cls.wh_main,
            adapter="woocommerce",
            base_url=cls.market.url,
            api_key=WOO_KEY,
            api_secret=WOO_KEY_SECRET,
            webhook_secret=WOO_SECRET,
            user_id=cls.robot.id,
        )
        cls.woo_listing = cls._create_listing(cls.woo, cls.product, external_ref="93")
        cls.refunds = {}
        cls.listed = []

    def setUp(self):
        super().setUp()
        self.market.received.clear()

    @classmethod
    def _woo_answer(cls, received):
        basic = base64.b64encode(f"{WOO_KEY}:{WOO_KEY_SECRET}".encode()).decode()
        if received.headers.get("Authorization") != f"Basic {basic}":
            return Reply(401, {"code": "woocommerce_rest_cannot_view"})
        path = received.path.split("?")[0]
        if path == "/wp-json/wc/v3/orders":
            return Reply(200, cls.listed)
        if path == "/wp-json/wc/v3/products/batch" and received.method == "POST":
            updates = received.json()["update"]
            return Reply(200, {"update": [{"id": u["id"]} for u in updates]})
        _prefix, _sep, rest = path.partition("/wp-json/wc/v3/orders/")
        order_id, _sep, tail = rest.partition("/")
        if received.method != "GET" or tail != "refunds" or order_id not in cls.refunds:
            return Reply(404, {"code": "woocommerce_rest_shop_order_invalid_id"})
        # Paged as WooCommerce pages: per_page (at most 100), page, and the
        # number of pages in X-WP-TotalPages.
        query = parse_qs(urlsplit(received.path).query)
        per_page = min(int(query.get("per_page", ["10"])[0]), 100)
        page = int(query.get("page", ["1"])[0])
        refunds = cls.refunds[order_id]
        pages = max(-(-len(refunds) // per_page), 1)
        return Reply(
            200,
            refunds[(page - 1) * per_page : page * per_page],
            headers={"X-WP-TotalPages": str(pages)},
        )

    def _webhook(self, topic, payload):
        body = json.dumps(payload).encode()
        return self.url_open(
            "/stock_channel_sync/ret-woo/orders",
            data=body,
            headers={
                "X-WC-Webhook-Topic": topic,
                "X-WC-Webhook-Signature": sign_base64(WOO_SECRET, body),
            },
        )

    def _woo_order(self, order_id, quantity, status="processing", refunds=()):
        return {
            "id": order_id,
            "status": status,
            "billing": {"first_name": "Wo", "last_name": "O", "email": "w@x.be"},
            "line_items": [
                {
                    "id": 315,
                    "sku": self.woo_listing.external_sku,
                    "quantity": quantity,
                    "price": 10.0,
                }
            ],
            "refunds": [{"id": r, "reason": "", "total": "-30.00"} for r in refunds],
        }

    def test_refund_split_between_return_and_cancel(self):
        """3 ordered, 2 shipped (1 on backorder), refund of 3: 2 to receive,
        1 cancelled from the backorder; the replayed update is ignored."""
        self.assertEqual(
            self._webhook("order.created", self._woo_order(727, 3)).status_code, 202
        )
        self.env.invalidate_all()
        order = self._channel_order(self.woo, 727)
        order.with_user(self.robot)._process()
        picking = order.sale_order_id.picking_ids
        picking.move_ids.quantity = 2
        picking.move_ids.picked = True
        picking.with_context(skip_backorder=True).button_validate()
        self.refunds["727"] = woo_refunds(727, 315, 3)
        updated = self._woo_order(727, 3, refunds=(901, 902))
        response = self._webhook("order.updated", updated)
        self.assertEqual(response.status_code, 202, response.text)
        self.assertEqual(response.json()["refunds"], ["901", "902"])
        self.env.invalidate_all()
        job = self.env["queue.job"].search(
            [("identity_key", "=", f"stock_channel_sync.refunds.{order.id}")]
        )
        self.assertEqual(job.method_name, "_read_refunds")
        result = order.with_user(self.robot)._read_refunds()
        self.assertIn("901: accepted", result)
        (request,) = self.market.received
        self.assertEqual(
            request.path.split("?")[0], "/wp-json/wc/v3/orders/727/refunds"
        )
        channel_return = order.return_ids.filtered(lambda r: r.line_ids)
        self.assertEqual(channel_return.external_id, "901")
        self.assertEqual(channel_return.source, "woocommerce")
        by_type = {line.restock_type: line for line in channel_return.line_ids}
        self.assertEqual(by_type["return"].product_qty, 2)
        self.assertEqual(by_type["cancel"].product_qty, 1)
        self.assertEqual(by_type["return"].reason, "Arrived broken")
        order.with_user(self.robot)._process_return(channel_return.id)
        self.assertEqual(channel_return.picking_ids.state, "assigned")
        self._validate(channel_return.picking_ids)
        self.assertEqual(self._atp(self.woo_listing), 28, "backorder released, 2 held")
        self._clear_pending()
        by_type["return"].with_user(self.inspector).action_accept()
        self._flush_marks()
        self.assertEqual(self._atp(self.woo_listing), 30)
        self.market.received.clear()
        self.woo._as_technical_user().with_context(
            job_uuid="ret-woo"
        )._publish_pending()
        (batch,) = self.market.received
        self.assertEqual(batch.path, "/wp-json/wc/v3/products/batch")
        self.assertEqual(
            batch.json()["update"],
            [{"id": 93, "stock_quantity": 30, "manage_stock": True}],
        )
        self.assertEqual(order.sale_order_id.order_line.product_uom_qty, 2)
        amount_only = self.env["stock.channel.return"].search(
            [("channel_id", "=", self.woo.id), ("external_id", "=", "902")]
        )
        self.assertEqual((amount_only.state, amount_only.line_ids.ids), ("done", []))
        again = self._webhook("order.updated", updated)
        self.assertEqual(again.json()["status"], "ignored")
        self.assertEqual(len(self.market.received), 1)

    def test_many_refunds_read_page_by_page(self):
        """An order with 101 refunds: two pages, every refund stored once."""
        self.assertEqual(
            self._webhook("order.created", self._woo_order(730, 1)).status_code, 202
        )
        self.env.invalidate_all()
        order = self._channel_order(self.woo, 730)
        self.refunds["730"] = [
            {"id": 5000 + i, "reason": "", "line_items": []} for i in range(101)
        ]
        order.with_user(self.robot)._read_refunds()
        self.assertEqual(
            [r.path.split("page=")[-1][:1] for r in self.market.received], ["1", "2"]
        )
        self.assertEqual(len(order.return_ids), 101)

    def test_pulled_order_with_new_refunds_enqueues_the_read(self):
        """The order update webhook was missed: the order pull sees the
        order's refunds and enqueues the same read."""
        self.assertEqual(
            self._webhook("order.created", self._woo_order(729, 2)).status_code, 202
        )
        self.env.invalidate_all()
        order = self._channel_order(self.woo, 729)
        listed = dict(
            self._woo_order(729, 2, refunds=(911,)),
            date_modified_gmt="2099-01-01T00:00:00",
        )
        type(self).listed = [listed]
        self.addCleanup(setattr, type(self), "listed", [])
        with trap_jobs() as trap:
            self.woo._as_technical_user()._pull_orders()
            trap.assert_jobs_count(1, only=order._read_refunds)

    def test_refund_read_refused_fails_visibly(self):
        """Wrong credentials: the marketplace refuses, the job fails (no
        secret in the error)."""
        self.assertEqual(
            self._webhook("order.created", self._woo_order(728, 1)).status_code, 202
        )
        self.env.invalidate_all()
        order = self._channel_order(self.woo, 728)
        self.woo.api_secret = "cs_wrong"
        with self.assertRaises(Exception) as caught:
            order.with_user(self.robot)._read_refunds()
        self.assertIn("401", str(caught.exception))
        self.assertNotIn("cs_wrong", str(caught.exception))
        self.assertFalse(order.return_ids)


@tagged("post_install", "-at_install")
class TestReturnForgery(HttpCase, ReturnCase):
    """JSON-RPC, as the web client sends it: an Inventory user and a
    Channel Sync manager (not an administrator) cannot write a return
    line's state or quantities; the note and the inspection actions work."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.manager = new_test_user(
            cls.env,
            login="ret_rpc_manager",
            groups="base.group_user,stock_channel_sync.group_channel_manager",
        )

    def _call_kw(self, model, method, args, kwargs=None):
        response = self.url_open(
            f"/web/dataset/call_kw/{model}/{method}",
            data=json.dumps(
                {
                    "jsonrpc": "2.0",
                    "method": "call",
                    "id": 1,
                    "params": {
                        "model": model,
                        "method": method,
                        "args": args,
                        "kwargs": kwargs or {},
                    },
                }
            ),
            headers={"Content-Type": "application/json"},
        )
        self.assertEqual(response.status_code, 200, response.text)
        return response.json()

    def _assert_refused(self, answer, message):
        self.assertIn("error", answer, answer)
        data = answer["error"]["data"]
        self.assertEqual(data["name"], "odoo.exceptions.AccessError")
        self.assertIn(message, data["message"])

    def test_forged_writes_are_refused(self):
        order = self._delivered_order("F-1", 3)
        self._return(order, "RET-F1", [self._line(2)])
        line = self._run_return(order, "RET-F1").line_ids
        self._validate(line.receipt_picking_id)
        self.assertEqual((line.state, line.received_qty), ("to_inspect", 2))
        Line = "stock.channel.return.line"
        for user in (self.inspector, self.manager):
            self.authenticate(user.login, user.login)
            for vals, field in (
                ({"state": "cancelled"}, "State"),
                ({"received_qty": 5}, "Received"),
            ):
                self._assert_refused(
                    self._call_kw(Line, "write", [[line.id], vals]),
                    f"{field} cannot be written",
                )
                self._assert_refused(
                    self._call_kw(
                        Line,
                        "web_save",
                        [[line.id], vals],
                        {"specification": {"state": {}}},
                    ),
                    f"{field} cannot be written",
                )
            self._assert_refused(
                self._call_kw(
                    "stock.channel.return",
                    "write",
                    [[line.channel_return_id.id], {"state": "done"}],
                ),
                "cannot be written",
            )
            self.env.invalidate_all()
            self.assertEqual((line.state, line.received_qty), ("to_inspect", 2))
            self.assertEqual(line.channel_return_id.state, "open")
        answer = self._call_kw(
            Line,
            "create",
            [
                {
                    "channel_return_id": line.channel_return_id.id,
                    "product_id": self.product.id,
                    "sku": line.sku,
                    "restock_type": "return",
                    "product_qty": 1,
                }
            ],
        )
        self._assert_refused(answer, "created only by")
        self._assert_refused(self._call_kw(Line, "unlink", [[line.id]]), "deleted")
        self.env.invalidate_all()
        self.assertEqual(len(order.return_ids.line_ids), 1)

        # What users may do still works: the note, then the inspection.
        self.authenticate(self.inspector.login, self.inspector.login)
        answer = self._call_kw(
            Line, "write", [[line.id], {"inspection_note": "box dented"}]
        )
        self.assertIs(answer.get("result"), True, answer)
        answer = self._call_kw(Line, "action_accept", [[line.id]])
        self.assertNotIn("error", answer, answer)
        self.env.invalidate_all()
        self.assertEqual((line.state, line.inspection_note), ("accepted", "box dented"))
        self.assertEqual(line.inspection_move_id.state, "done")
        self.assertEqual(line.channel_return_id.state, "done")
