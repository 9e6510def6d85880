from psycopg2 import IntegrityError

from odoo import Command
from odoo.exceptions import ValidationError
from odoo.tests import HttpCase, new_test_user, tagged
from odoo.tools import mute_logger

from ..services.atp import AtpEngine
from .common import OrderCase, technical_user
from .marketplace import Marketplace, Reply
from .test_backend_views import WAIT_FOR

MANAGER_GROUPS = "base.group_user,stock_channel_sync.group_channel_manager"


@tagged("post_install", "-at_install")
class PerLocationCase(OrderCase):
    """``channel_both`` (main and second warehouse) publishes per location:
    the main warehouse as marketplace location ``east``, the second as
    ``west``. 30 units in the main warehouse, 7 in the second."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.manager = new_test_user(
            cls.env, login="per_location_manager", groups=MANAGER_GROUPS
        )
        cls.env["stock.quant"]._update_available_quantity(
            cls.product, cls.stock_other, 7
        )
        cls.channel_both.with_user(cls.manager).write(
            {
                "publish_per_location": True,
                "location_ids": [
                    Command.create(
                        {"warehouse_id": cls.wh_main.id, "location_ref": "east"}
                    ),
                    Command.create(
                        {"warehouse_id": cls.wh_other.id, "location_ref": "west"}
                    ),
                ],
            }
        )

    def _nodes(self, listing=None):
        """``{location ref: ATP}`` of a listing."""
        listing = listing or self.listing_both
        results = AtpEngine(self.env).compute_nodes(listing.ids)
        by_warehouse = {
            m.warehouse_id.id: m.location_ref for m in listing.channel_id.location_ids
        }
        return {
            by_warehouse[warehouse_id]: result.qty
            for (listing_id, warehouse_id), result in results.items()
            if listing_id == listing.id
        }


class TestPerLocationAtp(PerLocationCase):
    def test_each_node_offers_its_own_stock(self):
        """Same definition per warehouse; the listing shows the sum."""
        self.assertEqual(self._nodes(), {"east": 30, "west": 7})
        self.assertEqual(self._atp(self.listing_both), 37)
        self.listing_both.invalidate_recordset()
        self.assertEqual(
            {n.location_ref: n.atp_qty for n in self.listing_both.node_ids},
            {"east": 30, "west": 7},
        )

    def test_buffer_rule_and_pack_size_per_node(self):
        """A fixed buffer of 2 is kept at each node, then the pack size of 3
        rounds each node down: (30-2)/3 = 9 and (7-2)/3 = 1."""
        self._create_rule(channel_id=self.channel_both.id, buffer_value=2)
        self.assertEqual(self._nodes(), {"east": 28, "west": 5})
        self.listing_both.pack_size = 3
        self.assertEqual(self._nodes(), {"east": 9, "west": 1})
        self.assertEqual(self._atp(self.listing_both), 10)

    def test_quality_hold_and_reservations_stay_at_their_node(self):
        """Stock on hold in the second warehouse and a reservation there
        lower only the west node."""
        hold = self.env["stock.location"].create(
            {
                "name": "Quality Hold",
                "location_id": self.stock_other.id,
                "channel_sellable": False,
            }
        )
        self._set_stock(self.product, hold, 50)
        self._create_delivery(self.product, 3, warehouse=self.wh_other)
        self.assertEqual(self._nodes(), {"east": 30, "west": 4})

    def test_promised_order_counts_where_it_will_ship_from(self):
        """An accepted order of a channel selling the main warehouse only is
        promised at the east node, not the west one."""
        status, answer = self._receive(
            self.channel,
            {
                "external_id": "NODE-1",
                "customer": {"name": "Node Buyer", "email": "nb@example.com"},
                "lines": [
                    {"sku": self.listing.external_sku, "quantity": 4, "unit_price": 5}
                ],
            },
        )
        self.assertEqual(status, 202, answer)
        self.assertEqual(self._nodes(), {"east": 26, "west": 7})

    def test_summed_channels_unchanged(self):
        """The default stays one summed quantity."""
        self.assertFalse(self.channel.publish_per_location)
        self.assertEqual(AtpEngine(self.env).compute_nodes(self.listing.ids), {})
        self.assertEqual(self._atp(self.listing), 30)


class TestOrderLocation(PerLocationCase):
    """A generic-contract order naming the marketplace location it ships
    from: promised at that node, its sale order in that warehouse."""

    def _order(self, external_id, channel=None, **extra):
        channel = channel or self.channel_both
        return self._receive(
            channel,
            {
                "external_id": external_id,
                "customer": {"name": "West Buyer", "email": "wb@example.com"},
                "lines": [
                    {
                        "sku": self.listing_both.external_sku,
                        "quantity": 2,
                        "unit_price": 5,
                    }
                ],
                **extra,
            },
        )

    def test_order_ships_from_its_location(self):
        status, answer = self._order("LOC-1", location="west")
        self.assertEqual(status, 202, answer)
        self.assertEqual(self._nodes(), {"east": 30, "west": 5})
        order = self._channel_order(self.channel_both, "LOC-1")
        order.with_user(self.robot)._process()
        self.assertEqual(order.state, "done", order.error_message)
        self.assertEqual(order.sale_order_id.warehouse_id, self.wh_other)

    def test_order_without_location_ships_from_the_first_warehouse(self):
        status, answer = self._order("LOC-2")
        self.assertEqual(status, 202, answer)
        self.assertEqual(self._nodes(), {"east": 28, "west": 7})

    def test_unknown_location_refused_and_nothing_written(self):
        for channel, location in (
            (self.channel_both, "north"),
            (self.channel, "east"),  # a summed channel has no locations
            (self.channel_both, ["west"]),
        ):
            with self.subTest(channel=channel.code, location=location):
                status, answer = self._order("LOC-X", channel, location=location)
                self.assertEqual(status, 422, answer)
                self.assertEqual(answer["details"][0]["field"], "location")
                self.assertFalse(self._channel_order(channel, "LOC-X"))


class TestPerLocationConfig(PerLocationCase):
    def test_adapter_without_locations_refused(self):
        with self.assertRaisesRegex(ValidationError, "cannot publish per location"):
            self.channel_both.with_user(self.manager).write({"adapter": "woocommerce"})

    def test_every_warehouse_mapped(self):
        with self.assertRaisesRegex(ValidationError, "Not mapped: ATP Test Second"):
            self.channel_both.location_ids.filtered(
                lambda m: m.location_ref == "west"
            ).with_user(self.manager).unlink()

    def test_foreign_warehouse_refused(self):
        third = self.env["stock.warehouse"].create({"name": "Third", "code": "TRD"})
        with self.assertRaisesRegex(ValidationError, "not a fulfillment warehouse"):
            self.channel_both.with_user(self.manager).write(
                {
                    "location_ids": [
                        Command.create(
                            {"warehouse_id": third.id, "location_ref": "north"}
                        )
                    ]
                }
            )

    def test_warehouse_or_location_mapped_twice_refused(self):
        for vals in (
            {"warehouse_id": self.wh_main.id, "location_ref": "north"},
            {"warehouse_id": self.wh_other.id, "location_ref": "east"},
        ):
            with self.subTest(vals=vals), mute_logger("odoo.sql_db"):
                with self.assertRaises(IntegrityError), self.cr.savepoint():
                    self.env["stock.channel.location"].create(
                        {"channel_id": self.channel_both.id, **vals}
                    )

    def test_shopify_locations_are_ids_each_mapped_once(self):
        east, west = self.channel_both.location_ids
        east.location_ref, west.location_ref = "101", "202"
        self.channel_both.write({"adapter": "shopify", "api_secret": "tok"})
        with (
            self.assertRaisesRegex(ValidationError, "numeric ids"),
            self.cr.savepoint(),
        ):
            east.with_user(self.manager).location_ref = "east"
        east.invalidate_recordset()
        with self.assertRaisesRegex(ValidationError, "one marketplace location twice"):
            west.with_user(self.manager).location_ref = "gid://shopify/Location/101"

    def test_blank_location_refused(self):
        with self.assertRaisesRegex(ValidationError, "needs a marketplace location"):
            self.channel_both.location_ids[:1].location_ref = "  "

    def test_mapping_is_company_private(self):
        other = self.env["res.company"].create({"name": "Node Co"})
        outsider = new_test_user(
            self.env,
            login="node_outsider",
            groups=MANAGER_GROUPS,
            company_id=other.id,
            company_ids=[Command.set(other.ids)],
        )
        self.assertFalse(
            self.env["stock.channel.location"].with_user(outsider).search([])
        )
        self.assertFalse(
            self.env["stock.channel.listing.node"].with_user(outsider).search([])
        )


class TestPerLocationSandbox(PerLocationCase):
    """Publication, coalescing, audit and reconciliation per location, on the
    sandbox marketplace's shelf."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.channel_both.adapter = "sandbox"

    def _publish(self):
        channel = self.channel_both._as_technical_user()
        return channel.with_context(job_uuid="node-job")._publish_pending()

    def _reconcile(self, job):
        channel = self.channel_both._as_technical_user()
        channel.with_context(job_uuid=job)._reconcile()

    def _shelf(self):
        rows = self.env["stock.channel.sandbox.shelf"].search(
            [("channel_id", "=", self.channel_both.id)]
        )
        return {row.location_ref: row.quantity for row in rows}

    def _sent(self):
        return self.env["stock.channel.publication"].search(
            [("channel_id", "=", self.channel_both.id)], order="id"
        )

    def test_published_per_location_then_only_what_changed(self):
        self.assertIn("2 sent", self._publish())
        self.assertEqual(self._shelf(), {"east": 30, "west": 7})
        self.assertEqual(sorted(self._sent().mapped("location_ref")), ["east", "west"])
        self.listing_both.invalidate_recordset()
        self.assertEqual(self.listing_both.last_published_qty, 37)
        self.assertFalse(self.listing_both.pending)
        # Three more in the second warehouse: only west is sent again.
        before = self._sent()
        self._set_stock(self.product, self.stock_other, 3)
        self._flush_marks()
        self.assertIn("1 sent", self._publish())
        new = self._sent() - before
        self.assertEqual(
            (new.location_ref, new.quantity, new.previous_qty), ("west", 10, 7)
        )
        self.assertEqual(self._shelf(), {"east": 30, "west": 10})
        node = self.listing_both.node_ids.filtered(lambda n: n.location_ref == "west")
        self.assertEqual(node.last_published_qty, 10)

    def test_drift_found_per_location_and_healed(self):
        self._publish()
        self.env["stock.channel.sandbox.shelf"].search(
            [("channel_id", "=", self.channel_both.id), ("location_ref", "=", "west")]
        ).quantity = 99
        self._reconcile("node-recon-1")
        drift = self.env["stock.channel.discrepancy"].search(
            [("channel_id", "=", self.channel_both.id), ("state", "=", "open")]
        )
        self.assertEqual(
            (drift.kind, drift.location_ref, drift.channel_qty, drift.atp_qty),
            ("channel_drift", "west", 99, 7),
        )
        self._publish()
        self.assertEqual(self._shelf(), {"east": 30, "west": 7})
        self._reconcile("node-recon-2")
        self.assertEqual(drift.state, "resolved")

    def test_summed_and_located_quantities_do_not_mix(self):
        """Switching back to one summed quantity publishes it without a
        location, and 0 to the locations no longer published to (they kept
        their 30 and 7 before issue 18)."""
        self._publish()
        self.channel_both.publish_per_location = False
        self._publish()
        self.assertEqual(self._shelf(), {"east": 0, "west": 0, False: 37})


class TestPerLocationMarketplaces(PerLocationCase):
    """What Shopify and the generic webhook receive per location, from a
    real HTTP stand-in."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.market = Marketplace().start()
        cls.addClassCleanup(cls.market.stop)
        cls.listing_both.external_ref = "4242"

    def setUp(self):
        super().setUp()
        self.market.received.clear()
        self.market.refused.clear()
        self.market.script.clear()

    def _publish(self):
        channel = self.channel_both._as_technical_user()
        return channel.with_context(job_uuid="node-market")._publish_pending()

    def _shopify(self):
        self.channel_both.location_ids.filtered(
            lambda m: m.location_ref == "east"
        ).location_ref = "101"
        self.channel_both.location_ids.filtered(
            lambda m: m.location_ref == "west"
        ).location_ref = "202"
        self.channel_both.write(
            {"adapter": "shopify", "base_url": self.market.url, "api_secret": "tok"}
        )

    def test_shopify_one_mutation_one_quantity_per_location(self):
        self._shopify()
        ok = Reply(body={"data": {"inventorySetQuantities": {"userErrors": []}}})
        self.market.script += [ok, ok]
        self._publish()
        self.assertFalse(self.market.refused)
        (request,) = self.market.received
        quantities = request.json()["variables"]["input"]["quantities"]
        self.assertEqual(
            quantities,
            [
                {
                    "inventoryItemId": "gid://shopify/InventoryItem/4242",
                    "locationId": "gid://shopify/Location/101",
                    "quantity": 30,
                    "changeFromQuantity": None,
                },
                {
                    "inventoryItemId": "gid://shopify/InventoryItem/4242",
                    "locationId": "gid://shopify/Location/202",
                    "quantity": 7,
                    "changeFromQuantity": None,
                },
            ],
        )
        # Both change: each location compares with what it was last sent.
        self._set_stock(self.product, self.stock_main, -1)
        self._set_stock(self.product, self.stock_other, -2)
        self._flush_marks()
        self._publish()
        quantities = self.market.received[-1].json()["variables"]["input"]["quantities"]
        self.assertEqual(
            [
                (q["locationId"][-3:], q["quantity"], q["changeFromQuantity"])
                for q in quantities
            ],
            [("101", 29, 30), ("202", 5, 7)],
        )

    def test_shopify_stale_rereads_each_location(self):
        self._shopify()
        stale = {"code": "CHANGE_FROM_QUANTITY_STALE", "message": "stale", "field": []}

        def level(quantity):
            node = {
                "id": "gid://shopify/InventoryItem/4242",
                "inventoryLevel": {
                    "quantities": [{"name": "available", "quantity": quantity}]
                },
            }
            return Reply(body={"data": {"nodes": [node]}})

        self.market.script += [
            Reply(body={"data": {"inventorySetQuantities": {"userErrors": [stale]}}}),
            level(11),
            level(3),
            Reply(body={"data": {"inventorySetQuantities": {"userErrors": []}}}),
        ]
        self._publish()
        _first, east, west, second = self.market.received
        self.assertEqual(
            [r.json()["variables"]["location"] for r in (east, west)],
            ["gid://shopify/Location/101", "gid://shopify/Location/202"],
        )
        quantities = second.json()["variables"]["input"]["quantities"]
        self.assertEqual([q["changeFromQuantity"] for q in quantities], [11, 3])

    def test_generic_webhook_items_carry_their_location(self):
        self.channel_both.write(
            {"base_url": self.market.url, "webhook_secret": "whsec-node-0123456789"}
        )
        self._publish()
        (request,) = self.market.received
        self.assertEqual(request.path, "/inventory")
        self.assertEqual(
            request.json()["items"],
            [
                {
                    "sku": self.listing_both.external_sku,
                    "quantity": 30,
                    "location": "east",
                },
                {
                    "sku": self.listing_both.external_sku,
                    "quantity": 7,
                    "location": "west",
                },
            ],
        )
        # Read back per location: west shows 6 where 7 was published.
        sku = self.listing_both.external_sku
        self.market.script.append(
            Reply(
                body={
                    "items": [
                        {"sku": sku, "location": "east", "quantity": 30},
                        {"sku": sku, "location": "west", "quantity": 6},
                    ]
                }
            )
        )
        channel = self.channel_both._as_technical_user()
        channel.with_context(job_uuid="node-recon")._reconcile()
        drift = self.env["stock.channel.discrepancy"].search(
            [("channel_id", "=", self.channel_both.id), ("state", "=", "open")]
        )
        self.assertEqual((drift.location_ref, drift.channel_qty), ("west", 6))


@tagged("post_install", "-at_install")
class TestPerLocationScreens(HttpCase):
    """A Channel Sync manager (not an administrator) sees the mapping on the
    channel form and the per-location breakdown on the listing form, in a
    real browser."""

    def test_channel_and_listing_forms(self):
        manager = new_test_user(
            self.env,
            login="node_screen_manager",
            groups=MANAGER_GROUPS + ",stock.group_stock_user",
        )
        warehouses = self.env["stock.warehouse"].search(
            [("company_id", "=", self.env.company.id)], limit=1
        ) | self.env["stock.warehouse"].create({"name": "Screen West", "code": "SCW"})
        product = self.env["product.product"].create(
            {"name": "Screen Lamp", "default_code": "SCR-LAMP", "is_storable": True}
        )
        channel = self.env["stock.channel"].create(
            {
                "name": "Screen Nodes",
                "code": "screen-nodes",
                "adapter": "sandbox",
                "user_id": technical_user(self.env).id,
                "warehouse_ids": [Command.set(warehouses.ids)],
                "publish_per_location": True,
                "location_ids": [
                    Command.create({"warehouse_id": wh.id, "location_ref": wh.code})
                    for wh in warehouses
                ],
            }
        )
        listing = self.env["stock.channel.listing"].create(
            {"channel_id": channel.id, "product_id": product.id}
        )
        self.assertEqual(len(listing.node_ids), 2)
        for path, selector in (
            (
                f"/odoo/action-stock_channel_sync.stock_channel_action/{channel.id}",
                ".o_field_widget[name=location_ids] .o_data_row",
            ),
            (
                "/odoo/action-stock_channel_sync.stock_channel_listing_action/"
                f"{listing.id}",
                ".o_field_widget[name=node_ids] .o_data_row",
            ),
        ):
            self.browser_js(path, WAIT_FOR % selector, login=manager.login, timeout=60)
