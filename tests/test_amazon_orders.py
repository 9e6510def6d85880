from datetime import datetime
from unittest.mock import patch
from urllib.parse import parse_qs, urlsplit

from odoo import Command
from odoo.tests import new_test_user, tagged

from odoo.addons.queue_job.tests.common import trap_jobs

from ..adapters import amazon
from ..adapters.amazon import AmazonAdapter, pulled_order
from .common import TECHNICAL_USER_GROUPS
from .test_amazon import MARKETPLACE, AmazonCase

SINCE = datetime(2026, 11, 1)


@tagged("post_install", "-at_install")
class TestAmazonOrders(AmazonCase):
    """Amazon's merchant-fulfilled orders pulled through getOrders and
    getOrderItems (the SP-API stand-in enforcing Amazon's rates), handed to
    the same intake as a posted order."""

    def setUp(self):
        super().setUp()
        self.amz.orders_pulled_until = SINCE
        # Each page of a pull commits in a cursor of its own: in test mode
        # those cursors work inside this test's transaction.
        self.registry.enter_test_mode(self.cr)
        self.addCleanup(self.registry.leave_test_mode)
        self.sku = self.amz_listings[0].external_sku
        self.sku_b = self.amz_listings[1].external_sku

    def _order(self, order_id, updated, **kwargs):
        kwargs.setdefault("items", ((self.sku, 2, "30.00"),))
        self.amazon.add_order(order_id, updated, **kwargs)
        currency = self.company.currency_id.name
        self.amazon.orders[order_id]["OrderTotal"]["CurrencyCode"] = currency
        for item in self.amazon.order_items[order_id]:
            item["ItemPrice"]["CurrencyCode"] = currency

    def _pull(self):
        self.env.flush_all()
        try:
            return self.amz.with_context(job_uuid="amz-pull-1")._pull_orders()
        finally:
            self.env.invalidate_all()

    def _channel_order(self, external_id):
        return self.env["stock.channel.order"].search(
            [("channel_id", "=", self.amz.id), ("external_id", "=", external_id)]
        )

    def _requests(self, operation):
        return [r for r in self.amazon.requests if r[0] == operation]

    def test_merchant_fulfilled_order_imported_once(self):
        """An Unshipped MFN order becomes a channel order with its items and
        a processing job; an Amazon-fulfilled order and a Pending one are not
        imported (and their items never read); a second pull from the same
        watermark finds a duplicate."""
        self._order("111-0000001-0000001", "2026-11-20T10:00:00Z")
        self._order("111-0000002-0000002", "2026-11-20T11:00:00Z", channel="AFN")
        self._order("111-0000003-0000003", "2026-11-20T12:00:00Z", status="Pending")
        with trap_jobs() as trap:
            summary = self._pull()
            order = self._channel_order("111-0000001-0000001")
            trap.assert_jobs_count(1, only=order._process)
        self.assertIn("1 accepted", summary)
        self.assertIn("1 ignored", summary)
        self.assertEqual(order.received_via, "pull")
        self.assertEqual(order.line_ids.sku, self.sku)
        self.assertEqual(order.line_ids.channel_qty, 2)
        self.assertEqual(order.line_ids.unit_price, 15.0)  # ItemPrice is the total
        self.assertEqual(order.canonical_order["shipping_amount"], 1.0)
        self.assertEqual(
            order.customer_email, "111-0000001-0000001@marketplace.amazon.com"
        )
        self.assertFalse(self._channel_order("111-0000002-0000002"))
        self.assertFalse(self._channel_order("111-0000003-0000003"))
        (get_orders,) = self._requests("getOrders")
        query = parse_qs(urlsplit(get_orders[2]).query)
        self.assertEqual(query["MarketplaceIds"], ["ATVPDKIKX0DER"])
        # The watermark minus the 5 minutes every pull reads again.
        self.assertEqual(query["LastUpdatedAfter"], ["2026-10-31T23:55:00Z"])
        self.assertEqual(query["FulfillmentChannels"], ["MFN"])
        self.assertEqual(len(self._requests("getOrderItems")), 1)
        # Past the Pending order too: it is listed again when it changes.
        self.assertEqual(self.amz.orders_pulled_until, datetime(2026, 11, 20, 12))
        self.amz.orders_pulled_until = SINCE
        self.assertIn("1 duplicate", self._pull())
        self.assertEqual(len(self._channel_order("111-0000001-0000001")), 1)
        # A duplicate's items are not read again.
        self.assertEqual(len(self._requests("getOrderItems")), 1)

    def test_buyer_and_address_through_a_restricted_data_token(self):
        """getOrders is called with a Restricted Data Token (the documented
        request), so the order carries the buyer's name and the full
        shipping address; the token reaches no stored row."""
        self._order("111-0000009-0000009", "2026-11-20T10:00:00Z")
        with trap_jobs():
            self._pull()
        (rdt,) = self._requests("createRestrictedDataToken")
        self.assertEqual(rdt[1], "POST")
        order = self._channel_order("111-0000009-0000009")
        canonical = order.canonical_order
        self.assertEqual(canonical["customer"]["name"], "Jane Buyer")
        self.assertEqual(canonical["shipping_address"]["street"], "410 Terry Ave N")
        self.assertEqual(canonical["shipping_address"]["city"], "SEATTLE")
        tokens = self.amazon.restricted_tokens
        self.assertTrue(tokens)
        for token in tokens:
            self.assertNotIn(token, order.payload or "")

    def test_orders_and_items_paged(self):
        """Five orders two a page (NextToken alone on the next pages), one
        order's three items one a page: every order and line once."""
        self.amazon.orders_page_size = 2
        self.amazon.items_page_size = 1
        for index in range(5):
            self._order(f"111-0000000-000001{index}", f"2026-11-20T10:0{index}:00Z")
        self._order(
            "111-0000000-0000099",
            "2026-11-20T10:09:00Z",
            items=((self.sku, 1, "10.00"), (self.sku_b, 1, "5.00"), (self.sku, 3, "9")),
        )
        self._pull()
        orders = self.env["stock.channel.order"].search(
            [("channel_id", "=", self.amz.id)]
        )
        self.assertEqual(len(orders), 6)
        get_orders = self._requests("getOrders")
        self.assertEqual(len(get_orders), 3)
        for request in get_orders[1:]:
            query = parse_qs(urlsplit(request[2]).query)
            self.assertIn("NextToken", query)
            self.assertNotIn("LastUpdatedAfter", query)
        big = self._channel_order("111-0000000-0000099")
        self.assertEqual(len(big.line_ids), 3)
        self.assertEqual(sorted(big.line_ids.mapped("channel_qty")), [1, 1, 3])
        self.assertEqual(self.amz.orders_pulled_until, datetime(2026, 11, 20, 10, 9))

    def test_cancelled_order_cancels(self):
        """An imported order listed again as Canceled is cancelled through
        the same path as a posted cancellation; one first seen cancelled is
        stored cancelled (never becomes a sale order)."""
        self._order("111-0000004-0000004", "2026-11-20T10:00:00Z")
        self._pull()
        self.assertEqual(self._channel_order("111-0000004-0000004").state, "received")
        self.amazon.orders["111-0000004-0000004"].update(
            OrderStatus="Canceled", LastUpdateDate="2026-11-21T10:00:00Z"
        )
        self._order("111-0000005-0000005", "2026-11-21T11:00:00Z", status="Canceled")
        with trap_jobs() as trap:
            self._pull()
            stored = self._channel_order("111-0000004-0000004")
            trap.assert_jobs_count(1, only=stored._cancel_listed)
        stored._cancel_listed()  # the cancellation's own job
        self.assertEqual(self._channel_order("111-0000004-0000004").state, "cancelled")
        self.assertEqual(self._channel_order("111-0000005-0000005").state, "cancelled")
        self.assertEqual(len(self._requests("getOrderItems")), 1)

    def test_throttled_item_reads_retried(self):
        """getOrderItems throttled (429, the stand-in's burst of 1): each is
        waited out and sent again; no order lost, no throttle unretried."""
        self.amazon.limits["getOrderItems"] = (50.0, 1)
        for index in range(4):
            self._order(f"111-0000006-000000{index}", f"2026-11-20T10:0{index}:00Z")
        self._pull()
        self.assertGreater(self.amazon.throttled, 0)
        self.assertEqual(self.amazon.unretried_throttles(), 0)
        self.assertEqual(
            self.env["stock.channel.order"].search_count(
                [("channel_id", "=", self.amz.id)]
            ),
            4,
        )

    def test_fresh_channel_asks_at_least_two_minutes_back(self):
        """A channel never pulled starts at its creation, which Amazon would
        refuse as LastUpdatedAfter (less than two minutes ago): the request
        is moved back, the stand-in accepts it."""
        self.amz.orders_pulled_until = False
        self.assertIn("no orders", self._pull())

    def test_shipment_confirmed_to_amazon(self):
        """A pulled order processed and delivered: confirmShipment with the
        order's marketplace, a numeric package reference, the carrier and
        the shipped order item ids; the shipment is 'sent'."""
        self._order(
            "111-0000007-0000007",
            "2026-11-20T10:00:00Z",
            items=((self.sku, 2, "30.00"), (self.sku_b, 1, "5.00")),
        )
        self._pull()
        order = self._channel_order("111-0000007-0000007")
        order._process()
        self.assertEqual(order.state, "done", order.error_message)
        picking = order.sale_order_id.picking_ids
        if "carrier_tracking_ref" in picking._fields:
            picking.carrier_tracking_ref = "1Z999"
        picking.move_ids.picked = True
        with trap_jobs() as trap:
            picking.button_validate()
            trap.assert_jobs_count(1, only=order._send_shipment)
        order._send_shipment(picking.id)
        self.assertEqual(order.shipment_state, "sent", order.shipment_message)
        ((order_id, body),) = self.amazon.shipments
        self.assertEqual(order_id, "111-0000007-0000007")
        self.assertEqual(body["marketplaceId"], "ATVPDKIKX0DER")
        package = body["packageDetail"]
        self.assertEqual(package["packageReferenceId"], str(picking.id))
        self.assertEqual(package["carrierCode"], "Other")
        self.assertEqual(
            sorted(package["orderItems"], key=lambda i: i["orderItemId"]),
            [
                {"orderItemId": "111-0000007-0000007-0", "quantity": 2},
                {"orderItemId": "111-0000007-0000007-1", "quantity": 1},
            ],
        )
        if "carrier_tracking_ref" in picking._fields:
            self.assertEqual(package["trackingNumber"], "1Z999")

    def test_shipment_of_an_order_not_pulled_fails(self):
        """No pulled order items to confirm: the job fails visibly."""
        adapter = self.amz._get_adapter()
        with self.assertRaises(amazon.PermanentError):
            adapter.push_shipment(
                {
                    "external_id": "X",
                    "carrier": "",
                    "tracking_ref": "",
                    "lines": [{"sku": "A", "quantity": 1}],
                    "order_payload": "",
                    "package_ref": "1",
                    "shipped_at": "2026-11-20 10:00:00",
                },
                "",
            )

    def test_to_canonical_of_a_pulled_order(self):
        """The pulled shape read without Odoo: lines, unit price from the
        line total, buyer without a Restricted Data Token."""
        order = {
            "AmazonOrderId": "111-1",
            "PurchaseDate": "2026-11-20T10:00:00Z",
            "OrderTotal": {"CurrencyCode": "EUR", "Amount": "20.00"},
            "ShippingAddress": {"City": "Berlin", "CountryCode": "DE"},
        }
        items = [
            {
                "SellerSKU": "A",
                "QuantityOrdered": 4,
                "ItemPrice": {"Amount": "20.00"},
                "ShippingPrice": {"Amount": "2.50"},
            }
        ]
        canonical = AmazonAdapter.to_canonical(pulled_order(order, items))
        self.assertEqual(canonical["external_id"], "111-1")
        self.assertEqual(canonical["currency"], "EUR")
        self.assertEqual(
            canonical["lines"], [{"sku": "A", "quantity": 4, "unit_price": 5.0}]
        )
        self.assertEqual(canonical["shipping_amount"], 2.5)
        self.assertEqual(canonical["customer"]["name"], "Amazon order 111-1")
        self.assertEqual(canonical["shipping_address"]["country_code"], "DE")

    # -- issue 18 ------------------------------------------------------------

    def _state(self, country, code):
        return self.env["res.country.state"].search(
            [("country_id.code", "=", country), ("code", "=", code)]
        )

    def test_us_address_with_state_on_the_delivery_contact(self):
        """Every address field Amazon gives reaches the delivery contact: the
        three street lines and the county, city, postal code, country,
        phone, name, and ``StateOrRegion`` as the country's state, by code
        (``WA``) or by name (``washington``)."""
        washington = self._state("US", "WA")
        self.assertTrue(washington)
        for order_id, state in (
            ("111-0000010-0000010", "WA"),
            ("111-0000011-0000011", "washington"),
        ):
            self._order(order_id, "2026-11-20T10:00:00Z")
            self.amazon.restricted[order_id]["ShippingAddress"].update(
                AddressLine2="Suite 300",
                AddressLine3="Attn: Receiving",
                County="King",
                StateOrRegion=state,
                PostalCode="98109-5210",
            )
        with trap_jobs():
            self._pull()
        for order_id, state in (
            ("111-0000010-0000010", "WA"),
            ("111-0000011-0000011", "washington"),
        ):
            order = self._channel_order(order_id)
            address = order.canonical_order["shipping_address"]
            self.assertEqual(address["state_code"], state)
            order._process()
            self.assertEqual(order.state, "done", order.error_message)
            delivery = order.sale_order_id.partner_shipping_id
            self.assertEqual(delivery.type, "delivery")
            self.assertEqual(delivery.state_id, washington)
            self.assertEqual(delivery.country_id.code, "US")
            self.assertEqual(delivery.name, "Jane Buyer")
            self.assertEqual(delivery.street, "410 Terry Ave N")
            self.assertEqual(delivery.street2, "Suite 300, Attn: Receiving, King")
            self.assertEqual(delivery.city, "SEATTLE")
            self.assertEqual(delivery.zip, "98109-5210")
            self.assertEqual(delivery.phone, "+1 206 555 0100")

    def test_address_fields_without_odoo(self):
        """Empty lines move up, a district repeating the city is left out,
        the municipality stands in for a missing city, an unknown state is
        passed on as given (no state on the contact)."""
        address = amazon.shipping_address(
            {
                "Name": " Jo ",
                "AddressLine1": "",
                "AddressLine2": "Calle Mayor 1",
                "District": "Madrid",
                "Municipality": "Madrid",
                "StateOrRegion": "Comunidad de Madrid",
                "PostalCode": "28013",
                "CountryCode": "ES",
            }
        )
        self.assertEqual(
            address,
            {
                "name": "Jo",
                "street": "Calle Mayor 1",
                "street2": None,
                "city": "Madrid",
                "zip": "28013",
                "state_code": "Comunidad de Madrid",
                "country_code": "ES",
                "phone": None,
            },
        )

    def test_two_companies_same_code_one_app(self):
        """Two companies each with an ``amz`` channel on one Login with
        Amazon application (same client id, each its seller's refresh
        token): each channel gets its own token, and only its own seller's
        orders ever reach it (the stand-in checks whose token reads what)."""
        company_b = self.env["res.company"].create({"name": "Amazon Co B"})
        warehouse_b = self.env["stock.warehouse"].search(
            [("company_id", "=", company_b.id)], limit=1
        )
        robot_b = new_test_user(
            self.env,
            login="amz_robot_b",
            groups=TECHNICAL_USER_GROUPS,
            company_id=company_b.id,
            company_ids=[Command.set(company_b.ids)],
        )
        refresh_b = "Atzr|refresh-seller-two-0123456789"
        self.amazon.add_seller("SELLER2", refresh_b)
        amz_b = (
            self.env["stock.channel"]
            .with_company(company_b)
            .create(
                {
                    "name": "Amazon B",
                    "code": self.amz.code,
                    "company_id": company_b.id,
                    "warehouse_ids": [Command.set(warehouse_b.ids)],
                    "user_id": robot_b.id,
                    "adapter": "amazon",
                    "amazon_seller_id": "SELLER2",
                    "amazon_marketplace_ids": MARKETPLACE,
                    "amazon_endpoint": self.amazon.url,
                    "lwa_client_id": self.amazon.client_id,
                    "lwa_client_secret": self.amazon.client_secret,
                    "lwa_refresh_token": refresh_b,
                    "lwa_token_url": self.amazon.token_url,
                    "request_timeout": 5,
                    "orders_pulled_until": SINCE,
                }
            )
        )
        self.assertEqual(amz_b.code, self.amz.code)
        self._create_listing(amz_b, self.amz_listings[0].product_id)
        self._order("111-0000020-0000020", "2026-11-20T10:00:00Z")
        self._order("222-0000020-0000020", "2026-11-20T10:00:00Z", seller="SELLER2")
        self.amazon.restricted["222-0000020-0000020"]["BuyerInfo"]["BuyerName"] = "Bo B"
        with trap_jobs():
            self._pull()
            amz_b.with_company(company_b).with_context(
                job_uuid="amz-pull-b"
            )._pull_orders()
            self._pull()  # A again, after B's token is cached
        orders_b = self.env["stock.channel.order"].search(
            [("channel_id", "=", amz_b.id)]
        )
        self.assertEqual(orders_b.mapped("external_id"), ["222-0000020-0000020"])
        self.assertEqual(orders_b.company_id, company_b)
        self.assertEqual(orders_b.canonical_order["customer"]["name"], "Bo B")
        self.assertEqual(
            self.env["stock.channel.order"]
            .search([("channel_id", "=", self.amz.id)])
            .mapped("external_id"),
            ["111-0000020-0000020"],
        )
        self.assertEqual(self.amazon.token_requests, 2)
        readers = {}
        for _token, seller, order_ids in self.amazon.order_reads:
            for order_id in order_ids:
                self.assertEqual(self.amazon.order_seller[order_id], seller)
                readers.setdefault(order_id, set()).add(seller)
        self.assertEqual(
            readers,
            {"111-0000020-0000020": {"SELLER1"}, "222-0000020-0000020": {"SELLER2"}},
        )

    def test_expired_token_on_the_pull_and_a_refused_restricted_token(self):
        """The access token expires between two pulls (403): exchanged once,
        the Restricted Data Token requested with the new one; a Restricted
        Data Token Amazon refuses is requested once more."""
        self._order("111-0000030-0000030", "2026-11-20T10:00:00Z")
        with trap_jobs():
            self._pull()
        self.amazon.expire_tokens()
        self._order("111-0000031-0000031", "2026-11-20T11:00:00Z")
        self.amazon.refuse_next_rdt = True
        with trap_jobs():
            self._pull()
        self.assertTrue(self._channel_order("111-0000031-0000031"))
        self.assertEqual(self.amazon.token_requests, 2)
        self.assertEqual(len(self._requests("createRestrictedDataToken")), 4)

    def test_healthy_amazon_channel_shows_healthy(self):
        """Amazon posts no orders: the orders it pulls are its normal way
        in, not "recovered by pulling", and a channel with nothing late,
        failed or different shows Healthy."""
        self._order("111-0000040-0000040", "2026-11-20T10:00:00Z")
        self._order("111-0000041-0000041", "2026-11-20T11:00:00Z")
        with trap_jobs():
            self._pull()
        self._publish()
        order = self._channel_order("111-0000040-0000040")
        self.assertEqual(order.received_via, "pull")
        self.amz.invalidate_recordset()
        self.assertEqual(self.amz.order_count_24h, 2)
        self.assertEqual(self.amz.order_recovered_count_24h, 0)
        self.assertEqual(self.amz.health_state, "ok")

    def test_order_items_paging_bounded(self):
        """getOrderItems answering the same NextToken again is an error after
        two requests (it would page forever), and an order with more pages
        than the bound is refused after reading them."""
        self._order(
            "111-0000050-0000050",
            "2026-11-20T10:00:00Z",
            items=((self.sku, 1, "1"), (self.sku_b, 1, "1"), (self.sku, 1, "1")),
        )
        adapter = self.amz._get_adapter()
        self.amazon.items_page_size = 1
        self.amazon.items_repeat_token = True
        with self.assertRaisesRegex(amazon.PermanentError, "repeats its NextToken"):
            adapter.order_items("111-0000050-0000050")
        self.assertEqual(len(self._requests("getOrderItems")), 2)
        self.amazon.items_repeat_token = False
        self.amazon.requests.clear()
        with (
            patch.object(amazon.orders, "MAX_ITEM_PAGES", 2),
            self.assertRaisesRegex(amazon.PermanentError, "more than 2 pages"),
        ):
            adapter.order_items("111-0000050-0000050")
        self.assertEqual(len(self._requests("getOrderItems")), 2)
        self.assertEqual(len(adapter.order_items("111-0000050-0000050")), 3)
