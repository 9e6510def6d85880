import json
from contextlib import contextmanager

from odoo.exceptions import UserError
from odoo.tests import new_test_user, tagged

from odoo.addons.queue_job.exception import RetryableJobError
from odoo.addons.queue_job.tests.common import trap_jobs

from ..adapters.shopify_versions import DEFAULT_VERSION, OLDEST_VERSION
from ..adapters.signing import SignedRequest, check_request
from ..services.atp import AtpEngine
from .common import (
    ChannelCase,
    OrderCase,
    create_committed_channel,
    drop_committed_channel,
)
from .marketplace import Marketplace, Reply

ROBOT_GROUPS = (
    "stock.group_stock_user,sales_team.group_sale_salesman,"
    "base.group_partner_manager,stock_channel_sync.group_channel_manager"
)


@tagged("post_install", "-at_install")
class TestOrderProcessing(ChannelCase):
    """From an accepted order to one confirmed sale order that reserves stock."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.robot = new_test_user(cls.env, login="proc_robot", groups=ROBOT_GROUPS)
        cls.channel.user_id = cls.robot
        cls.env["stock.quant"]._update_available_quantity(
            cls.product, cls.stock_main, 30
        )
        cls.case = cls._create_listing(
            cls.channel, cls.product, external_sku="WIDGET-CASE6", pack_size=6
        )
        cls.customer = cls.env["res.partner"].create(
            {"name": "Known Buyer", "email": "known@example.com"}
        )

    def _intake(self, external_id="5001", channel=None, **overrides):
        channel = (channel or self.channel).with_user(self.robot)
        order = {
            "external_id": external_id,
            "customer": {"name": "Known Buyer", "email": "KNOWN@example.com"},
            "shipping_address": {
                "name": "Dock 4",
                "street": "Quai 1",
                "city": "Antwerp",
                "zip": "2000",
                "country_code": "BE",
            },
            "lines": [
                {"sku": self.listing.external_sku, "quantity": 3, "unit_price": 10},
                {"sku": "WIDGET-CASE6", "quantity": 1, "unit_price": 54},
            ],
        }
        order.update(overrides)
        body = json.dumps(order).encode()
        return channel.env["stock.channel.order"]._receive(channel, "create", body)

    def _order(self, external_id="5001"):
        return self.env["stock.channel.order"].search(
            [("channel_id", "=", self.channel.id), ("external_id", "=", external_id)]
        )

    def test_intake_enqueues_one_processing_job(self):
        """Async (default): 202 and one processing job; a
        fresh order needs no identity key (it is inserted once), Reprocess
        uses one so that clicking twice enqueues once."""
        with trap_jobs() as trap:
            status, _answer = self._intake()
            self.assertEqual(status, 202)
            trap.assert_jobs_count(1, only=self._order()._process)
            # Its job channel comes from queue.job.function data
            # (TestJobRetries), not from with_delay().
            processing = [
                job for job in trap.enqueued_jobs if job.method_name == "_process"
            ]
            self.assertFalse(processing[0].identity_key)
        order = self._order()
        order.state = "error"
        with trap_jobs() as trap:
            order.action_reprocess()
            trap.assert_enqueued_job(
                order._process,
                properties={
                    "identity_key": f"stock_channel_sync.process.{order.id}",
                },
            )

    def test_process_creates_confirmed_sale_order(self):
        """Partner matched by email, delivery address, channel prices per
        product unit, confirmed, stock reserved, channel attribution."""
        self._intake()
        order = self._order()
        order.with_user(self.robot)._process()
        sale = order.sale_order_id
        self.assertEqual(order.state, "done")
        self.assertEqual(sale.state, "sale")
        self.assertEqual(sale.partner_id, self.customer)
        self.assertEqual(sale.partner_shipping_id.parent_id, self.customer)
        self.assertEqual(sale.partner_shipping_id.city, "Antwerp")
        self.assertEqual(sale.channel_id, self.channel)
        self.assertEqual(sale.channel_external_id, "5001")
        self.assertEqual(sale.order_line.mapped("product_uom_qty"), [3, 6])
        self.assertEqual(sale.order_line.mapped("price_unit"), [10, 9])
        self.assertEqual(sale.picking_ids.move_ids.mapped("state"), ["assigned"] * 2)
        self.assertEqual(sale.create_uid, self.robot)

    def test_promised_until_the_sale_order_then_its_moves(self):
        """9 units promised at intake; after confirmation the reservation
        carries them, never both."""
        before = self._atp(self.listing)
        self._intake()
        self.assertEqual(self._atp(self.listing), before - 9)
        self._order()._process()
        self.assertEqual(self._atp(self.listing), before - 9)

    def test_unknown_customer_created(self):
        """No partner with that email: one is created in the company."""
        self._intake(customer={"name": "New Buyer", "email": "new@example.com"})
        order = self._order()
        order._process()
        self.assertEqual(order.sale_order_id.partner_id.email, "new@example.com")

    def test_permanent_failure_leaves_nothing_behind(self):
        """A technical user without sales rights: state error with the
        reason, no sale order, no partner; Reprocess succeeds once fixed."""
        self._intake(customer={"name": "Ghost", "email": "ghost@example.com"})
        order = self._order()
        self.robot.groups_id -= self.env.ref("sales_team.group_sale_salesman")
        order.with_user(self.robot)._process()
        self.assertEqual(order.state, "error")
        self.assertTrue(order.error_message)
        self.assertFalse(order.sale_order_id)
        self.assertFalse(
            self.env["res.partner"].search([("email", "=", "ghost@example.com")])
        )
        # One to-do for the channel's responsible (here: its technical user),
        # not one per failed attempt.
        self.assertEqual(order.activity_ids.user_id, self.robot)
        order.write({"state": "received"})
        order.with_user(self.robot)._process()
        self.assertEqual(len(order.activity_ids), 1)
        self.robot.groups_id |= self.env.ref("sales_team.group_sale_salesman")
        with trap_jobs() as trap:
            order.action_reprocess()
            # and the publications of the listings its state change marked
            trap.assert_jobs_count(1, only=order._process)
            for job in trap.enqueued_jobs:
                if job.method_name == "_process":
                    job.perform()
        self.assertEqual(order.state, "done")
        self.assertFalse(order.activity_ids)
        self.assertEqual(
            order.sale_order_id.action_view_channel_order()["res_id"], order.id
        )
        self.assertEqual(self.channel.order_count, 1)

    def test_sync_mode_answers_the_sale_order(self):
        """order_processing = sync: 201 with the sale order's name."""
        self.channel.order_processing = "sync"
        status, answer = self._intake()
        self.assertEqual(answer["error"], None)
        self.assertEqual(status, 201)
        self.assertEqual(answer["status"], "created")
        self.assertEqual(answer["sale_order"], self._order().sale_order_id.name)

    def test_processing_twice_creates_one_sale_order(self):
        """A replayed job finds the order done and does nothing."""
        self._intake()
        order = self._order()
        order._process()
        self.assertEqual(order._process(), "nothing to do: done")
        self.assertEqual(
            self.env["sale.order"].search_count([("channel_external_id", "=", "5001")]),
            1,
        )

    def test_engine_ignores_orders_of_other_warehouses(self):
        """Promised demand only lowers channels sharing a warehouse."""
        east = self._create_channel("intake-east", self.wh_other, user_id=self.robot.id)
        east_listing = self._create_listing(east, self.product)
        before = AtpEngine(self.env).compute(east_listing.ids)[east_listing.id].qty
        self._intake()
        after = AtpEngine(self.env).compute(east_listing.ids)[east_listing.id].qty
        self.assertEqual(before, after)

    def test_cancel_before_and_after_shipping(self):
        """Cancelling releases the promise or the sale order; once shipped: 409."""
        before = self._atp(self.listing)
        self._intake()
        order = self._order()
        kind, answer = order._cancel_from_channel()
        self.assertEqual((kind, answer["state"]), ("cancelled", "cancelled"))
        self.assertEqual(self._atp(self.listing), before)

        self._intake("5002")
        shipped = self._order("5002")
        shipped.with_user(self.robot)._process()
        picking = shipped.sale_order_id.picking_ids
        picking.move_ids.picked = True
        picking.button_validate()
        kind, answer = shipped._cancel_from_channel()
        self.assertEqual(kind, "shipped")
        self.assertEqual(answer["error"], "already_shipped")
        self.assertEqual(shipped.state, "done")

    def test_marketplace_cancellation_after_shipping_is_a_todo(self):
        """A marketplace's cancellation webhook after shipping is acknowledged
        (a refusal would be retried for hours) and leaves one to-do for the
        channel's responsible, however often it is delivered."""
        self._intake()
        order = self._order()
        order.with_user(self.robot)._process()
        picking = order.sale_order_id.picking_ids
        picking.move_ids.picked = True
        picking.button_validate()
        Order = self.env["stock.channel.order"].with_user(self.robot)
        body = json.dumps({"external_id": "5001"}).encode()
        for _delivery in range(2):
            status, answer = Order._receive(self.channel, "cancel", body)
            self.assertEqual((status, answer["status"]), (200, "already_shipped"))
        self.assertEqual(order.state, "done")
        self.assertEqual(len(order.activity_ids), 1)
        self.assertIn("after shipping", order.activity_ids.summary)

    def test_marketplace_cancellation_bad_input_writes_nothing(self):
        """Invalid JSON is a 400 and an order without its id a 422; an update
        that is not a cancellation is acknowledged and writes nothing."""
        Order = self.env["stock.channel.order"].with_user(self.robot)
        self.assertEqual(Order._receive(self.channel, "cancel", b"{nope")[0], 400)
        status, answer = Order._receive(self.channel, "cancel", b'{"id": 1}')
        self.assertEqual(status, 422)
        self.assertEqual(answer["details"][0]["field"], "external_id")
        self.assertFalse(self._order(""))
        self.assertEqual(Order._receive(self.channel, "update", b"{nope")[0], 400)
        status, answer = Order._receive(self.channel, "update", b'{"external_id": "1"}')
        self.assertEqual((status, answer["status"]), (200, "ignored"))
        self.assertFalse(self._order("1"))

    def test_cancel_locked_sale_order_through_public_cancel(self):
        """A locked confirmed sale order (Sales setting) is cancelled through
        Odoo's public action_cancel, without the salesperson's wizard."""
        self._intake()
        order = self._order()
        order.with_user(self.robot)._process()
        order.sale_order_id.action_lock()
        kind, answer = order._cancel_from_channel()
        self.assertEqual((kind, answer["state"]), ("cancelled", "cancelled"))
        self.assertEqual(order.sale_order_id.state, "cancel")

    def test_cancel_confirmed_order_cancels_sale_order(self):
        """Not shipped yet: the sale order is cancelled and stock released."""
        before = self._atp(self.listing)
        self._intake()
        order = self._order()
        order.with_user(self.robot)._process()
        order._cancel_from_channel()
        self.assertEqual(order.sale_order_id.state, "cancel")
        self.assertEqual(self._atp(self.listing), before)


@tagged("post_install", "-at_install")
class TestOrderRaces(OrderCase):
    """Deliveries racing on another connection. The other connection must
    see the channel, so it is committed before this class's transaction
    begins (and removed after): no demo data needed."""

    @classmethod
    def setUpClass(cls):
        channel_id = create_committed_channel("race")
        cls.addClassCleanup(drop_committed_channel, channel_id)
        super().setUpClass()
        cls.race_channel = cls.env["stock.channel"].browse(channel_id)

    @contextmanager
    def _stored_by_another_request(self, channel, external_id):
        """An order of ``channel`` committed by another connection after
        this transaction's snapshot (so invisible to it); removed after."""
        self.env.cr.execute("SELECT 1")  # this transaction's snapshot
        with self.registry.cursor() as other:
            other.execute(
                "INSERT INTO stock_channel_order (channel_id, company_id,"
                " external_id, state, shipment_state) VALUES (%s, %s, %s,"
                " 'received', 'none') RETURNING id",
                [channel.id, channel.company_id.id, external_id],
            )
            first_id = other.fetchone()[0]
        try:
            yield first_id
        finally:
            with self.registry.cursor() as other:
                other.execute(
                    "DELETE FROM stock_channel_order WHERE id = %s", [first_id]
                )

    def test_concurrent_delivery_committed_meanwhile_is_a_duplicate(self):
        """The first delivery commits after this request's snapshot: the
        insert's serialization failure means "stored by the other request"
        and is answered as a duplicate at once, without a second record."""
        channel = self.race_channel
        with self._stored_by_another_request(channel, "RACE-1") as first_id:
            body = json.dumps(
                {
                    "external_id": "RACE-1",
                    "customer": {"name": "Racer"},
                    "lines": [
                        {
                            "sku": self.product.default_code,
                            "quantity": 1,
                            "unit_price": 1,
                        }
                    ],
                }
            ).encode()
            Order = self.env["stock.channel.order"]
            status, answer = Order._receive(channel, "create", body)
            self.assertEqual(status, 200)
            self.assertEqual(
                answer,
                {
                    "status": "duplicate",
                    "external_id": "RACE-1",
                    "state": "received",
                    "order": first_id,
                },
            )
            self.assertFalse(Order.search([("external_id", "=", "RACE-1")]))

    def test_cancellation_racing_its_creation_asks_for_a_retry(self):
        """The order is stored by a concurrent request after this one's
        snapshot: the cancellation cannot see it, so it answers 409
        concurrent_delivery (the marketplace retries) and writes nothing."""
        channel = self.race_channel
        with self._stored_by_another_request(channel, "RACE-2"):
            Order = self.env["stock.channel.order"]
            status, answer = Order._receive(
                channel, "cancel", json.dumps({"external_id": "RACE-2"}).encode()
            )
            self.assertEqual((status, answer), (409, {"error": "concurrent_delivery"}))
            self.assertFalse(Order.search([("external_id", "=", "RACE-2")]))


@tagged("post_install", "-at_install")
class TestShipmentsBack(TestOrderProcessing):
    """A validated delivery of a channel order is confirmed to the channel."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.market = Marketplace().start()
        cls.addClassCleanup(cls.market.stop)
        cls.channel.write({"base_url": cls.market.url, "webhook_secret": "ship-secret"})

    def setUp(self):
        super().setUp()
        self.market.received.clear()
        self.market.refused.clear()

    def _ship(self, external_id="5001", **channel_vals):
        self._intake(external_id)
        order = self._order(external_id)
        order.with_user(self.robot)._process()
        self.channel.write(channel_vals)
        picking = order.sale_order_id.picking_ids
        picking.move_ids.picked = True
        with trap_jobs() as trap:
            picking.button_validate()
            trap.assert_jobs_count(1, only=order._send_shipment)
        self.assertEqual(order.shipment_state, "pending")
        return order, picking

    def test_webhook_shipment(self):
        """POST {base_url}/shipments, signed, lines in channel units."""
        order, picking = self._ship()
        order.with_user(self.robot)._send_shipment(picking.id)
        (request,) = self.market.received
        self.assertEqual(request.path, "/shipments")
        signed = SignedRequest("POST", request.path, request.headers, request.body)
        self.assertIsNone(check_request(["ship-secret"], signed))
        body = request.json()
        self.assertEqual(body["external_id"], "5001")
        self.assertEqual(
            sorted(body["lines"], key=lambda line: line["sku"]),
            [
                {"sku": self.listing.external_sku, "quantity": 3.0},
                {"sku": "WIDGET-CASE6", "quantity": 1.0},
            ],
        )
        self.assertEqual(order.shipment_state, "sent")

    def test_shipment_refused_fails_visibly(self):
        """A 4xx fails the job and leaves the shipment 'failed'."""
        order, picking = self._ship()
        self.market.script.append(Reply(status=422, body={"error": "no such order"}))
        self.env.flush_all()  # as between the validation and the job
        self.registry.enter_test_mode(self.cr)
        self.addCleanup(self.registry.leave_test_mode)
        try:
            order.with_user(self.robot)._send_shipment(picking.id)
        except UserError as exc:
            self.assertIn("no such order", str(exc))
        else:
            self.fail("a refused shipment must fail the job")
        order.invalidate_recordset()
        self.assertEqual(order.shipment_state, "failed")

    def test_shipment_retried_when_down(self):
        """5xx: retried like publications."""
        order, picking = self._ship()
        self.market.script.append(Reply(status=503))
        with self.assertRaises(RetryableJobError):
            order.with_user(self.robot)._send_shipment(picking.id)

    def test_woocommerce_shipment(self):
        """Order completed, then a customer note with the tracking."""
        order, picking = self._ship(
            adapter="woocommerce", api_key="ck", api_secret="cs"
        )
        order.with_user(self.robot)._send_shipment(picking.id)
        status, note = self.market.received
        self.assertEqual(
            (status.method, status.path), ("PUT", "/wp-json/wc/v3/orders/5001")
        )
        self.assertEqual(status.json(), {"status": "completed"})
        self.assertEqual(note.path, "/wp-json/wc/v3/orders/5001/notes")
        self.assertTrue(note.json()["customer_note"])

    def test_woocommerce_order_id_is_escaped_in_the_path(self):
        """An order id is the marketplace's text: escaped, it can never
        address another resource."""
        order, picking = self._ship(
            external_id="9/../../products/1",
            adapter="woocommerce",
            api_key="ck",
            api_secret="cs",
        )
        order.with_user(self.robot)._send_shipment(picking.id)
        status, note = self.market.received
        self.assertEqual(
            status.path, "/wp-json/wc/v3/orders/9%2F..%2F..%2Fproducts%2F1"
        )
        self.assertEqual(note.path, status.path + "/notes")

    def test_shopify_shipment(self):
        """fulfillmentCreate over the order's open fulfillment orders, on the
        default version."""
        self._shopify_shipment(DEFAULT_VERSION)

    def test_shopify_shipment_oldest_version(self):
        """The same documents on 2026-01."""
        self._shopify_shipment(OLDEST_VERSION)

    def _shopify_shipment(self, version):
        order, picking = self._ship(
            adapter="shopify", api_secret="tok", location_ref="1", api_version=version
        )
        self.market.script += [
            Reply(
                body={
                    "data": {
                        "order": {
                            "fulfillmentOrders": {
                                "nodes": [
                                    {
                                        "id": "gid://shopify/FulfillmentOrder/8",
                                        "status": "OPEN",
                                    }
                                ]
                            }
                        }
                    }
                }
            ),
            Reply(body={"data": {"fulfillmentCreate": {"userErrors": []}}}),
        ]
        order.with_user(self.robot)._send_shipment(picking.id)
        query, create = self.market.received
        self.assertEqual(query.json()["variables"], {"id": "gid://shopify/Order/5001"})
        fulfillment = create.json()["variables"]["fulfillment"]
        self.assertEqual(
            fulfillment["lineItemsByFulfillmentOrder"],
            [{"fulfillmentOrderId": "gid://shopify/FulfillmentOrder/8"}],
        )
        self.assertFalse(fulfillment["notifyCustomer"])
        self.assertIn("trackingInfo", fulfillment)
        self.assertFalse(self.market.refused)
        self.assertEqual(
            {r.path for r in self.market.received},
            {f"/admin/api/{version}/graphql.json"},
        )
