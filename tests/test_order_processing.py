import json
from contextlib import contextmanager

from odoo.exceptions import UserError
from odoo.tests import new_test_user, tagged

from odoo.addons.queue_job.exception import RetryableJobError
from odoo.addons.queue_job.tests.common import trap_jobs

from ..adapters.shopify_versions import DEFAULT_VERSION, OLDEST_VERSION
from ..adapters.signing import SignedRequest, check_request
from ..services.atp import AtpEngine
from ..services.sale_order_builder import normalized_name
from .common import (
    ChannelCase,
    OrderCase,
    answered,
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
        return answered(
            channel.env["stock.channel.order"]._receive(channel, "create", body)
        )

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
            status, answer = answered(Order._receive(self.channel, "cancel", body))
            self.assertEqual((status, answer["status"]), (200, "already_shipped"))
        self.assertEqual(order.state, "done")
        self.assertEqual(len(order.activity_ids), 1)
        self.assertIn("after shipping", order.activity_ids.summary)

    def test_marketplace_cancellation_bad_input_writes_nothing(self):
        """Invalid JSON is a 400 and an order without its id a 422; an update
        that is not a cancellation is acknowledged and writes nothing."""
        Order = self.env["stock.channel.order"].with_user(self.robot)
        self.assertEqual(
            answered(Order._receive(self.channel, "cancel", b"{nope"))[0], 400
        )
        status, answer = answered(Order._receive(self.channel, "cancel", b'{"id": 1}'))
        self.assertEqual(status, 422)
        self.assertEqual(answer["details"][0]["field"], "external_id")
        self.assertFalse(self._order(""))
        self.assertEqual(
            answered(Order._receive(self.channel, "update", b"{nope"))[0], 400
        )
        status, answer = answered(
            Order._receive(self.channel, "update", b'{"external_id": "1"}')
        )
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
            status, answer = answered(Order._receive(channel, "create", body))
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
            status, answer = answered(
                Order._receive(
                    channel, "cancel", json.dumps({"external_id": "RACE-2"}).encode()
                )
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


@tagged("post_install", "-at_install")
class TestMarketplaceCustomers(OrderCase):
    """An e-mail address is not proof of identity: a signed order for "Eve"
    giving the e-mail of B2B customer Acme GmbH (net 60, intra-EU reverse
    charge, its own pricelist) is booked on Acme and on Acme's terms only
    when the channel says so."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()

        def term(name, days):
            return cls.env["account.payment.term"].create(
                {
                    "name": name,
                    "line_ids": [
                        (
                            0,
                            0,
                            {"value": "percent", "value_amount": 100, "nb_days": days},
                        )
                    ],
                }
            )

        cls.net60 = term("Net 60 (Acme)", 60)
        cls.immediate = term("Marketplace: paid on order", 0)
        Fpos = cls.env["account.fiscal.position"]
        cls.reverse_charge = Fpos.create({"name": "Intra-EU reverse charge (Acme)"})
        cls.b2c = Fpos.create({"name": "Marketplace consumers"})
        Pricelist = cls.env["product.pricelist"]
        currency = cls.company.currency_id
        cls.public = Pricelist.create(
            {"name": "Public (test)", "currency_id": currency.id, "sequence": 1}
        )
        cls.acme_pricelist = Pricelist.create(
            {"name": "Acme B2B", "currency_id": currency.id, "sequence": 90}
        )
        cls.channel_pricelist = Pricelist.create(
            {"name": "Marketplace", "currency_id": currency.id, "sequence": 91}
        )
        cls.acme = cls.env["res.partner"].create(
            {
                "name": "Acme GmbH",
                "is_company": True,
                "email": "orders@acme.example",
                "vat": "DE123456789",
                "country_id": cls.env.ref("base.de").id,
                "property_payment_term_id": cls.net60.id,
                "property_account_position_id": cls.reverse_charge.id,
                "property_product_pricelist": cls.acme_pricelist.id,
            }
        )
        # A marketplace: neither the e-mail nor the customer's terms trusted.
        cls.channel.write({"trust_customer_email": False, "use_customer_terms": False})

    def _order_from(self, name, external_id="EVE-1", email="Orders@Acme.example"):
        """A signed order (as the webhook hands it over), processed."""
        body = {
            "external_id": external_id,
            "customer": {"name": name, "email": email},
            "shipping_address": {
                "name": name,
                "street": "Hauptstrasse 1",
                "city": "Berlin",
                "zip": "10115",
                "country_code": "DE",
            },
            "lines": [
                {"sku": self.listing.external_sku, "quantity": 1, "unit_price": 10}
            ],
        }
        status, answer = self._receive(self.channel, body)
        self.assertEqual(status, 202, answer)
        order = self._channel_order(self.channel, external_id)
        order.with_user(self.robot)._process()
        self.assertEqual(order.state, "done", order.error_message)
        return order.sale_order_id

    def _set_channel_terms(self):
        self.channel.write(
            {
                "payment_term_id": self.immediate.id,
                "fiscal_position_id": self.b2c.id,
                "pricelist_id": self.channel_pricelist.id,
            }
        )

    def test_eve_with_acmes_email_books_another_contact_on_channel_terms(self):
        """Untrusted e-mail: Eve gets a contact of her own (reused for her
        next order, whatever the case, spacing and accents of her name), and
        the channel's payment term, fiscal position and pricelist; Acme gets
        nothing, no delivery address either."""
        self._set_channel_terms()
        sale = self._order_from("Eve Example")
        eve = sale.partner_id
        self.assertNotEqual(eve, self.acme)
        self.assertNotEqual(eve.commercial_partner_id, self.acme)
        self.assertEqual(eve.name, "Eve Example")
        self.assertEqual(eve.email, "Orders@Acme.example")
        self.assertEqual(sale.partner_shipping_id.parent_id, eve)
        self.assertEqual(sale.payment_term_id, self.immediate)
        self.assertEqual(sale.fiscal_position_id, self.b2c)
        self.assertEqual(sale.pricelist_id, self.channel_pricelist)
        self.assertFalse(self.acme.child_ids)
        again = self._order_from("  ÉVE   example ", external_id="EVE-2")
        self.assertEqual(again.partner_id, eve)

    def test_empty_channel_terms_are_a_new_contacts_not_the_matched_ones(self):
        """Name and e-mail match Acme (accents, case and spacing aside): the
        order is Acme's, but with the channel's terms left empty it gets what
        Odoo gives a new contact at that address, not Acme's net 60, reverse
        charge and pricelist."""
        sale = self._order_from("  ACMÉ   gmbh")
        self.assertEqual(sale.partner_id, self.acme)
        newcomer = self.env["res.partner"].new(
            {"name": "New", "country_id": self.env.ref("base.de").id}
        )
        self.assertEqual(sale.payment_term_id, newcomer.property_payment_term_id)
        self.assertNotEqual(sale.payment_term_id, self.net60)
        self.assertEqual(
            sale.fiscal_position_id,
            self.env["account.fiscal.position"]._get_fiscal_position(
                newcomer, newcomer
            ),
        )
        self.assertNotEqual(sale.fiscal_position_id, self.reverse_charge)
        self.assertNotEqual(sale.pricelist_id, self.acme_pricelist)
        self.assertEqual(sale.pricelist_id.currency_id, self.company.currency_id)

    def test_order_without_a_name_never_matches_an_untrusted_email(self):
        """No name to compare: a new contact, named after the e-mail."""
        sale = self._order_from("", external_id="EVE-3")
        self.assertNotEqual(sale.partner_id, self.acme)
        self.assertEqual(sale.partner_id.name, "Orders@Acme.example")

    def test_trusted_email_books_acme_on_the_channels_terms(self):
        """A channel that trusts e-mail addresses (a B2B portal whose users
        log in) books Eve's order on Acme; without Use Customer's Terms the
        terms are still the channel's."""
        self.channel.trust_customer_email = True
        self._set_channel_terms()
        sale = self._order_from("Eve Example")
        self.assertEqual(sale.partner_id, self.acme)
        self.assertEqual(sale.partner_shipping_id.parent_id, self.acme)
        self.assertEqual(sale.payment_term_id, self.immediate)
        self.assertEqual(sale.fiscal_position_id, self.b2c)
        self.assertEqual(sale.pricelist_id, self.channel_pricelist)

    def test_trusted_email_with_customer_terms_books_acmes_terms(self):
        """Trusted e-mail and Use Customer's Terms: Acme's net 60, reverse
        charge and pricelist, over the channel's; the channel's fill in
        for a customer who has none."""
        self.channel.write({"trust_customer_email": True, "use_customer_terms": True})
        self._set_channel_terms()
        sale = self._order_from("Eve Example")
        self.assertEqual(sale.partner_id, self.acme)
        self.assertEqual(sale.payment_term_id, self.net60)
        self.assertEqual(sale.fiscal_position_id, self.reverse_charge)
        self.assertEqual(sale.pricelist_id, self.acme_pricelist)
        self.assertEqual(sale.state, "sale")
        plain = self._order_from("Bo", external_id="BO-1", email="bo@example.com")
        self.assertEqual(plain.partner_id.name, "Bo")
        self.assertEqual(plain.payment_term_id, self.immediate)

    def test_customer_policy_defaults_per_adapter(self):
        """Generic webhook (B2B portal): both on; Shopify, WooCommerce,
        Amazon and the sandbox: both off. An explicit value wins at
        creation; a new adapter resets both to its default."""
        Channel = self.env["stock.channel"]
        user = self.robot.id
        made = {
            adapter: Channel.create(
                {
                    "name": adapter,
                    "code": f"pol-{adapter}",
                    "adapter": adapter,
                    "user_id": user,
                    "location_ref": "1",
                    **extra,
                }
            )
            for adapter, extra in {
                "webhook": {},
                "shopify": {},
                "woocommerce": {},
                "amazon": {
                    "amazon_seller_id": "S1",
                    "amazon_marketplace_ids": "ATVPDKIKX0DER",
                },
                "sandbox": {},
            }.items()
        }
        for adapter, channel in made.items():
            expected = adapter == "webhook"
            self.assertEqual(channel.trust_customer_email, expected, adapter)
            self.assertEqual(channel.use_customer_terms, expected, adapter)
        portal = Channel.create(
            {
                "name": "Portal",
                "code": "pol-portal",
                "adapter": "sandbox",
                "user_id": user,
                "trust_customer_email": True,
            }
        )
        self.assertTrue(portal.trust_customer_email)
        self.assertFalse(portal.use_customer_terms)
        made["shopify"].adapter = "webhook"
        self.assertTrue(made["shopify"].trust_customer_email)
        self.assertTrue(made["shopify"].use_customer_terms)

    def test_name_normalisation(self):
        """Case, runs of spaces and accents do not make another name."""
        self.assertEqual(normalized_name("  ÉVE \t müller "), "eve muller")
        self.assertEqual(normalized_name("Straße"), normalized_name("STRASSE"))
        self.assertNotEqual(normalized_name("Eve"), normalized_name("Eva"))
        self.assertEqual(normalized_name(None), "")
