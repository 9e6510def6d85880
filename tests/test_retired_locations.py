from odoo import Command
from odoo.tests import tagged

from odoo.addons.queue_job.exception import RetryableJobError

from .marketplace import Marketplace, Reply
from .test_migrations import load_migration
from .test_per_location import PerLocationCase

SECRET = "whsec-retired-0123456789"
SHOPIFY_OK = {"data": {"inventorySetQuantities": {"userErrors": []}}}


@tagged("post_install", "-at_install")
class TestRetiredLocations(PerLocationCase):
    """A marketplace location no longer published to gets 0 once, audited,
    and is never sent again: remapped, its mapping replaced, its warehouse
    removed from the channel, or the channel back to one summed quantity.
    The generic webhook against a real HTTP stand-in; the mapping is changed
    by a Channel Sync manager who is not an administrator."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.market = Marketplace().start()
        cls.addClassCleanup(cls.market.stop)
        cls.channel_both.write({"base_url": cls.market.url, "webhook_secret": SECRET})
        cls.sku = cls.listing_both.external_sku

    def setUp(self):
        super().setUp()
        self.market.reset()
        self.assertIn("2 sent", self._publish())
        self.assertEqual(self._shown(), {"east": 30, "west": 7})
        self.market.reset()

    def _publish(self):
        channel = self.channel_both._as_technical_user()
        return channel.with_context(job_uuid="retired-job")._publish_pending()

    def _shown(self):
        """What the marketplace shows per location (newest applied)."""
        return {loc: qty for (sku, loc), qty in self.market.levels.items()}

    def _sent(self, location):
        return [a.quantity for a in self.market.applied if a.location == location]

    def _mapping(self, ref):
        return self.channel_both.location_ids.filtered(
            lambda m: m.location_ref == ref
        ).with_user(self.manager)

    def _audit(self, location):
        return self.env["stock.channel.publication"].search(
            [
                ("channel_id", "=", self.channel_both.id),
                ("location_ref", "=", location),
            ],
            order="id",
        )

    def _assert_zeroed_once(self, location, previous):
        """``location`` got one 0, audited as sent from ``previous``; a later
        change publishes elsewhere only."""
        self.assertEqual(self._sent(location), [0])
        audit = self._audit(location)[-1]
        self.assertEqual(
            (audit.quantity, audit.previous_qty, audit.state), (0, previous, "sent")
        )
        self.listing_both.invalidate_recordset()
        self.assertFalse(self.listing_both.pending)
        self.assertNotIn(location, self.listing_both.node_ids.mapped("location_ref"))
        self._set_stock(self.product, self.stock_main, 1)
        self._set_stock(self.product, self.stock_other, 1)
        self._flush_marks()
        self._publish()
        self._publish()
        self.assertEqual(self._sent(location), [0])

    def test_remapped_location_gets_zero_once(self):
        """West's warehouse moves to marketplace location north: north gets
        its 7, west a 0, once."""
        self._mapping("west").location_ref = "north"
        self._flush_marks()
        self._publish()
        self.assertEqual(self._shown(), {"east": 30, "west": 0, "north": 7})
        self.listing_both.invalidate_recordset()
        self.assertEqual(self.listing_both.last_published_qty, 37)
        self._assert_zeroed_once("west", previous=7)
        self.assertEqual(self._shown(), {"east": 31, "west": 0, "north": 8})

    def test_replaced_mapping_gets_zero_once(self):
        """The mapping row deleted and another added for the same warehouse
        (what the form does when a row is replaced)."""
        self.channel_both.with_user(self.manager).write(
            {
                "location_ids": [
                    Command.delete(self._mapping("west").id),
                    Command.create(
                        {"warehouse_id": self.wh_other.id, "location_ref": "south"}
                    ),
                ]
            }
        )
        self._flush_marks()
        self._publish()
        self.assertEqual(self._shown(), {"west": 0, "south": 7})  # east: unchanged
        self._assert_zeroed_once("west", previous=7)

    def test_removed_warehouse_location_gets_zero_once(self):
        """The second warehouse leaves the channel with its mapping, in one
        save (the mapping first): west stops selling its 7; the listing's
        total is what east shows."""
        self.channel_both.with_user(self.manager).write(
            {
                "location_ids": [Command.delete(self._mapping("west").id)],
                "warehouse_ids": [Command.unlink(self.wh_other.id)],
            }
        )
        self._flush_marks()
        self._publish()
        self.assertEqual(self._shown(), {"west": 0})  # east: unchanged
        self.listing_both.invalidate_recordset()
        self.assertEqual(self.listing_both.last_published_qty, 30)
        self._assert_zeroed_once("west", previous=7)
        self.assertEqual(self._shown(), {"east": 31, "west": 0})

    def test_summed_again_zeroes_every_location(self):
        """Back to one summed quantity: the total without a location, and a
        0 once to each location."""
        self.channel_both.with_user(self.manager).publish_per_location = False
        self._flush_marks()
        self._publish()
        self.assertEqual(self._shown(), {"": 37, "east": 0, "west": 0})
        self.assertEqual(self._sent("east"), [0])
        self._assert_zeroed_once("west", previous=7)
        self.assertEqual(self._sent("east"), [0])
        self.assertFalse(self.listing_both.node_ids)

    def test_location_mapped_again_gets_no_zero(self):
        """Remapped away and back before anything was published: the
        location is mapped, it gets its quantity, never a 0."""
        self._mapping("west").location_ref = "north"
        self._mapping("north").location_ref = "west"
        self._flush_marks()
        self._publish()
        self.assertEqual(self._sent("west"), [7])
        self.assertFalse(self._sent("north"))
        self.listing_both.invalidate_recordset()
        self.assertEqual(
            sorted(self.listing_both.node_ids.mapped("location_ref")), ["east", "west"]
        )

    def test_location_showing_nothing_needs_no_zero(self):
        """A location last published 0 is forgotten without a request."""
        self._set_stock(self.product, self.stock_other, -7)
        self._flush_marks()
        self._publish()
        self.assertEqual(self._sent("west"), [0])
        self.market.reset()
        self._mapping("west").location_ref = "north"
        self._flush_marks()
        self._publish()
        self.assertFalse(self._sent("west"))
        self.assertEqual(self._sent("north"), [0])

    def test_refused_zero_is_sent_again(self):
        """The marketplace is down when the 0 goes out: the job retries and
        the 0 is sent on the next try, then never again."""
        self._mapping("west").location_ref = "north"
        self._flush_marks()
        self.market.script.append(Reply(status=503))
        with self.assertRaises(RetryableJobError):
            self._publish()
        self.listing_both.invalidate_recordset()
        self.assertTrue(self.listing_both.pending)
        self.assertFalse(self._sent("west"))  # refused: not applied
        self._publish()
        self._assert_zeroed_once("west", previous=7)


@tagged("post_install", "-at_install")
class TestRetiredShopifyLocations(PerLocationCase):
    """Shopify: a location is an id, and a summed channel publishes at its
    Channel Location."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.market = Marketplace().start()
        cls.addClassCleanup(cls.market.stop)
        cls.market.responder = lambda received: Reply(body=SHOPIFY_OK)
        cls.listing_both.external_ref = "4242"
        cls.channel_both.location_ids.filtered(
            lambda m: m.location_ref == "east"
        ).location_ref = "101"
        cls.channel_both.location_ids.filtered(
            lambda m: m.location_ref == "west"
        ).location_ref = "202"
        cls.channel_both.write(
            {
                "adapter": "shopify",
                "base_url": cls.market.url,
                "api_secret": "tok",
                "location_ref": "55",
            }
        )

    def setUp(self):
        super().setUp()
        self.market.received.clear()
        self.market.refused.clear()

    def _publish(self):
        channel = self.channel_both._as_technical_user()
        return channel.with_context(job_uuid="retired-shopify")._publish_pending()

    def _quantities(self):
        """(location id, quantity, changeFromQuantity) sent, in order."""
        self.assertFalse(self.market.refused)
        return [
            (q["locationId"].rsplit("/", 1)[1], q["quantity"], q["changeFromQuantity"])
            for request in self.market.received
            for q in request.json()["variables"]["input"]["quantities"]
        ]

    def _summed_first(self):
        """The channel published one summed quantity at location 55."""
        self.channel_both.publish_per_location = False
        self._publish()
        self.market.received.clear()

    def test_summed_location_zeroed_when_publishing_per_location(self):
        self._summed_first()
        self.channel_both.with_user(self.manager).publish_per_location = True
        self._flush_marks()
        self._publish()
        self.assertEqual(
            self._quantities(), [("101", 30, None), ("202", 7, None), ("55", 0, 37)]
        )
        self.market.received.clear()
        self._set_stock(self.product, self.stock_main, 1)
        self._flush_marks()
        self._publish()
        self.assertEqual(self._quantities(), [("101", 31, 30)])

    def test_summed_location_mapped_gets_no_zero(self):
        """The Channel Location is one of the mapped ones (as a gid): it
        gets its warehouse's quantity, no 0."""
        self._summed_first()
        self.channel_both.location_ids.filtered(
            lambda m: m.location_ref == "101"
        ).location_ref = "gid://shopify/Location/55"
        self.channel_both.with_user(self.manager).publish_per_location = True
        self._flush_marks()
        self._publish()
        self.assertEqual(self._quantities(), [("55", 30, None), ("202", 7, None)])

    def test_remapped_shopify_location_zeroed_from_its_quantity(self):
        self._publish()
        self.market.received.clear()
        self.channel_both.location_ids.filtered(
            lambda m: m.location_ref == "202"
        ).with_user(self.manager).location_ref = "303"
        self._flush_marks()
        self._publish()
        self.assertEqual(
            self._quantities(), [("101", 30, 30), ("303", 7, None), ("202", 0, 7)]
        )


@tagged("post_install", "-at_install")
class TestNodeMigration(PerLocationCase):
    def test_nodes_get_their_mappings_location(self):
        """18.0.1.3.0: nodes store their marketplace location, filled from
        their mapping."""
        self.env.flush_all()
        self.env.cr.execute(
            "UPDATE stock_channel_listing_node SET location_ref = NULL"
            " WHERE listing_id = %s",
            [self.listing_both.id],
        )
        load_migration("18.0.1.3.0", "post-retired-nodes.py").migrate(
            self.env.cr, "18.0.1.2.0"
        )
        self.env.invalidate_all()
        self.assertEqual(
            sorted(self.listing_both.node_ids.mapped("location_ref")), ["east", "west"]
        )
