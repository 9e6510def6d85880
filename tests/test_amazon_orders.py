from datetime import datetime
from urllib.parse import parse_qs, urlsplit

from odoo.tests import tagged

from odoo.addons.queue_job.tests.common import trap_jobs

from ..adapters import amazon
from ..adapters.amazon import AmazonAdapter, pulled_order
from .test_amazon import AmazonCase

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
