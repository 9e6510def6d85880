import json
import unittest
from datetime import timedelta

from odoo import Command, fields
from odoo.exceptions import ValidationError
from odoo.tests import new_test_user, tagged

from odoo.addons.queue_job.tests.common import trap_jobs

from ..adapters import amazon
from ..services.atp import DROPSHIP_NODE, AtpEngine
from .amazon_standin import AmazonStandIn
from .common import ChannelCase
from .marketplace import Marketplace

MANAGER_GROUPS = "base.group_user,stock_channel_sync.group_channel_manager"
DROPSHIP_ROUTE = "stock_dropshipping.route_drop_shipping"


class DropshipCase(ChannelCase):
    """``channel`` sells drop-ship stock; ``drop`` ships drop-ship (the
    dropship route) from vendor ``vendor``, 3 units of own stock; vendor
    feeds are created per test. Skipped without ``stock_dropshipping`` (the
    suite's third run)."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.route = cls.env.ref(DROPSHIP_ROUTE, raise_if_not_found=False)
        if not cls.route:
            raise unittest.SkipTest("stock_dropshipping is not installed")
        cls.vendor = cls.env["res.partner"].create({"name": "DSS Vendor One"})
        cls.vendor_two = cls.env["res.partner"].create({"name": "DSS Vendor Two"})
        cls.drop = cls._create_product(
            "DSS Lamp",
            route_ids=[Command.set(cls.route.ids)],
            seller_ids=[Command.create({"partner_id": cls.vendor.id, "price": 5})],
        )
        cls.own_only = cls._create_product("DSS Shade")
        cls.env["stock.quant"]._update_available_quantity(cls.drop, cls.stock_main, 3)
        cls.channel.write({"sell_dropship": True, "own_lead_time_days": 2})
        cls.drop_listing = cls._create_listing(cls.channel, cls.drop)
        cls.own_listing = cls._create_listing(cls.channel, cls.own_only)
        cls.drop_listing_plain = cls._create_listing(cls.channel_both, cls.drop)

    @classmethod
    def _feed(cls, vendor, rows, code, age_hours=0.0, **vals):
        """A vendor feed updated ``age_hours`` ago with ``rows``:
        ``{product: quantity}``."""
        feed = cls.env["stock.channel.supplier.feed"].create(
            {
                "name": f"Feed {code}",
                "code": code,
                "partner_id": vendor.id,
                "source": "upload",
                "freshness_hours": 24,
                "lead_time_days": 7,
                **vals,
            }
        )
        feed.last_update = fields.Datetime.now() - timedelta(hours=age_hours)
        cls.env["stock.channel.supplier.stock"].create(
            [
                {"feed_id": feed.id, "product_id": product.id, "quantity": qty}
                for product, qty in rows.items()
            ]
        )
        return feed


@tagged("post_install", "-at_install")
class TestDropshipAtp(DropshipCase):
    def test_vendor_stock_added_then_buffer_on_the_sum(self):
        """Own 3 + vendor 10 = 13; a fixed 5 on the listing leaves 8 (the
        buffer applies once, after the sum)."""
        self._feed(self.vendor, {self.drop: 10}, "dss-one")
        result = self._atp_result(self.drop_listing)
        self.assertEqual(result.qty, 13)
        self.assertEqual(result.dropship_qty, 10)
        self.assertEqual(result.sellable_qty, 13)
        self._create_rule(channel_id=self.channel.id, buffer_value=5)
        self.assertEqual(self._atp(self.drop_listing), 8)

    def test_channel_without_the_option_ignores_vendors(self):
        self._feed(self.vendor, {self.drop: 10}, "dss-two")
        self.assertEqual(self._atp(self.drop_listing_plain), 3)
        self.channel.sell_dropship = False
        self.assertEqual(self._atp(self.drop_listing), 3)

    def test_product_without_the_route_ignores_vendors(self):
        self._feed(self.vendor, {self.own_only: 10}, "dss-three")
        self.assertEqual(self._atp(self.own_listing), 0)

    def test_category_route_counts(self):
        categ = self.env["product.category"].create(
            {"name": "DSS Drop", "route_ids": [Command.set(self.route.ids)]}
        )
        self.own_only.categ_id = categ
        self._feed(self.vendor, {self.own_only: 4}, "dss-four")
        self.assertEqual(self._atp(self.own_listing), 4)

    def test_stale_feed_counts_zero(self):
        """Older than its freshness window (24 h): 0; fresh again: counted."""
        feed = self._feed(self.vendor, {self.drop: 10}, "dss-five", age_hours=25)
        self.assertEqual(self._atp(self.drop_listing), 3)
        feed.last_update = fields.Datetime.now()
        self.assertEqual(self._atp(self.drop_listing), 13)
        feed.active = False
        self.assertEqual(self._atp(self.drop_listing), 3)

    def test_vendor_buffers_then_sum_of_vendors(self):
        """Each vendor's own buffer first (20 % of 10 = 8; 6 - 2 = 4), then
        the sum: 3 + 8 + 4 = 15; the longest handling time."""
        self._feed(
            self.vendor,
            {self.drop: 10},
            "dss-six",
            buffer_type="percent",
            buffer_value=20,
        )
        feed_two = self._feed(
            self.vendor_two,
            {self.drop: 6},
            "dss-seven",
            buffer_type="fixed",
            buffer_value=2,
            lead_time_days=9,
        )
        result = self._atp_result(self.drop_listing)
        self.assertEqual(result.qty, 15)
        self.assertEqual(result.lead_time_days, 9)
        # docs/atp.rst, *Drop-ship stock*: the listing's rule on the total.
        self._create_rule(channel_id=self.channel.id, buffer_value=5)
        self.assertEqual(self._atp(self.drop_listing), 10)
        feed_two.last_update = fields.Datetime.now() - timedelta(hours=30)
        self.assertEqual(self._atp(self.drop_listing), 6)

    def test_lead_time_own_when_own_stock_covers(self):
        """The vendors' handling time only when the published quantity needs
        their stock: capped at 3 by a rule, own stock covers it."""
        self._feed(self.vendor, {self.drop: 10}, "dss-eight")
        self.assertEqual(self._atp_result(self.drop_listing).lead_time_days, 7)
        self._create_rule(channel_id=self.channel.id, max_quantity=3)
        result = self._atp_result(self.drop_listing)
        self.assertEqual((result.qty, result.lead_time_days), (3, 2))

    def test_other_company_feed_ignored(self):
        other = self.env["res.company"].create({"name": "DSS Other Co"})
        self._feed(self.vendor, {self.drop: 10}, "dss-nine", company_id=other.id)
        self.assertEqual(self._atp(self.drop_listing), 3)


@tagged("post_install", "-at_install")
class TestDropshipPerLocation(DropshipCase):
    """Per location: the vendors' stock is one more marketplace location,
    with their handling time; warehouses with the channel's own."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.market = Marketplace().start()
        cls.addClassCleanup(cls.market.stop)
        cls.channel.write(
            {
                "publish_per_location": True,
                "base_url": cls.market.url,
                "webhook_secret": "whsec-dss-0123456789",
                "location_ids": [
                    Command.create(
                        {"warehouse_id": cls.wh_main.id, "location_ref": "dss-main"}
                    ),
                    Command.create({"dropship": True, "location_ref": "dss-vendors"}),
                ],
            }
        )
        cls._feed(cls.vendor, {cls.drop: 10}, "dss-node")

    def test_dropship_node(self):
        nodes = AtpEngine(self.env).compute_nodes(self.drop_listing.ids)
        main = nodes[self.drop_listing.id, self.wh_main.id]
        vendors = nodes[self.drop_listing.id, DROPSHIP_NODE]
        self.assertEqual((main.qty, main.lead_time_days), (3, 2))
        self.assertEqual((vendors.qty, vendors.lead_time_days), (10, 7))
        self.assertEqual(self._atp(self.drop_listing), 13)
        self.drop_listing.invalidate_recordset()
        by_ref = {n.location_ref: n.atp_qty for n in self.drop_listing.node_ids}
        self.assertEqual(by_ref, {"dss-main": 3, "dss-vendors": 10})

    def test_generic_payload_carries_the_handling_time(self):
        self.market.received.clear()
        self._clear_pending()
        self.drop_listing._mark_pending_for_products(self.drop.ids)
        channel = self.channel._as_technical_user()
        channel.with_context(job_uuid="dss-node-job")._publish_pending()
        items = [
            item
            for request in self.market.received
            for item in request.json()["items"]
            if item["sku"] == self.drop_listing.external_sku
        ]
        self.assertEqual(
            sorted(items, key=lambda i: i["location"]),
            [
                {
                    "sku": self.drop_listing.external_sku,
                    "quantity": 3,
                    "location": "dss-main",
                    "lead_time_days": 2,
                },
                {
                    "sku": self.drop_listing.external_sku,
                    "quantity": 10,
                    "location": "dss-vendors",
                    "lead_time_days": 7,
                },
            ],
        )

    def test_mapping_rules(self):
        """One drop-ship location, only on a channel that sells drop-ship
        stock, and it names no warehouse."""
        with self.assertRaises(ValidationError):
            self.channel.sell_dropship = False
        with self.assertRaises(ValidationError):
            self.channel.location_ids = [
                Command.create({"dropship": True, "location_ref": "dss-second"})
            ]


@tagged("post_install", "-at_install")
class TestDropshipAmazon(DropshipCase):
    """Amazon takes the handling time per offer:
    ``lead_time_to_ship_max_days`` next to the quantity."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.amazon = AmazonStandIn().start()
        cls.addClassCleanup(cls.amazon.stop)
        cls.amz = cls._create_channel(
            "dss-amz",
            cls.wh_main,
            adapter="amazon",
            amazon_seller_id=cls.amazon.seller_id,
            amazon_marketplace_ids="ATVPDKIKX0DER",
            amazon_endpoint=cls.amazon.url,
            lwa_client_id=cls.amazon.client_id,
            lwa_client_secret=cls.amazon.client_secret,
            lwa_refresh_token=cls.amazon.refresh_token,
            lwa_token_url=cls.amazon.token_url,
            request_timeout=5,
            auto_heal=False,
            sell_dropship=True,
            own_lead_time_days=1,
        )
        cls.amz_listing = cls._create_listing(cls.amz, cls.drop)
        cls._feed(cls.vendor, {cls.drop: 10}, "dss-amz-feed", lead_time_days=6)

    def setUp(self):
        super().setUp()
        amazon.reset_process_state()
        self.amazon.reset()
        self.amazon.add_listings([self.amz_listing.external_sku], "LAMP")

    def _publish(self):
        return self.amz.with_context(job_uuid="dss-amz-job")._publish_pending()

    def test_patch_with_the_vendors_handling_time(self):
        self._publish()
        shown = self.amazon.listings[self.amz_listing.external_sku]
        self.assertEqual((shown["quantity"], shown["lead_time"]), (13, 6))
        # Own stock covering what is published again: its own handling time.
        self.env["stock.channel.supplier.stock"].search(
            [("product_id", "=", self.drop.id)]
        ).quantity = 0
        self.amz_listing._mark_pending_for_products(self.drop.ids)
        self._publish()
        shown = self.amazon.listings[self.amz_listing.external_sku]
        self.assertEqual((shown["quantity"], shown["lead_time"]), (3, 1))

    def test_feed_path_with_the_handling_time(self):
        self.amz.amazon_feed_threshold = 1
        with trap_jobs():
            self._publish()
        feed = next(iter(self.amazon.feeds.values()))
        (message,) = json.loads(feed["document"])["messages"]
        value = message["patches"][0]["value"][0]
        self.assertEqual(value["lead_time_to_ship_max_days"], 6)


@tagged("post_install", "-at_install")
class TestDropshipOptions(DropshipCase):
    def test_manager_sets_the_handling_time_and_marks(self):
        manager = new_test_user(self.env, login="dss_manager", groups=MANAGER_GROUPS)
        self._clear_pending()
        self.channel.with_user(manager).own_lead_time_days = 4
        self._flush_marks()
        self.drop_listing.invalidate_recordset(["pending"])
        self.assertTrue(self.drop_listing.pending)
        with self.assertRaises(ValidationError):
            self.channel.with_user(manager).own_lead_time_days = -1
