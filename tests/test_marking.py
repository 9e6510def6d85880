from odoo.tests import tagged

from ..services.kits import related_product_ids
from .common import ChannelCase


@tagged("post_install", "-at_install")
class TestMarking(ChannelCase):
    """Stock operations and configuration changes mark exactly the affected
    listings pending, set-based, once per transaction."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.listing_b = cls._create_listing(cls.channel, cls.product_b)
        cls.channel_other = cls._create_channel("test-east", cls.wh_other)
        cls.listing_other = cls._create_listing(cls.channel_other, cls.product)
        cls.env["stock.quant"]._update_available_quantity(
            cls.product, cls.stock_main, 50
        )
        cls.env["stock.quant"]._update_available_quantity(
            cls.product_b, cls.stock_main, 50
        )

    def setUp(self):
        super().setUp()
        self._clear_pending()

    def _pending(self):
        """The test listings now pending."""
        listings = (
            self.listing | self.listing_both | self.listing_b | self.listing_other
        )
        listings.invalidate_recordset()
        return listings.filtered("pending")

    def test_new_listing_is_pending(self):
        """A new listing has never been published."""
        listing = self._create_listing(self.channel_other, self.product_b)
        self.assertTrue(listing.pending)
        self.assertTrue(listing.pending_since)

    def test_quant_change_marks_channels_of_that_warehouse(self):
        """Stock in the main warehouse: its channels, that product only."""
        self._set_stock(self.product, self.stock_main, 5)
        self.assertFalse(self._pending(), "marking waits for the commit")
        self._flush_marks()
        self.assertEqual(self._pending(), self.listing | self.listing_both)
        Listing = self.env["stock.channel.listing"]
        ours = self.listing | self.listing_both | self.listing_b | self.listing_other
        self.assertEqual(
            Listing.search([("pending", "=", True), ("id", "in", ours.ids)]),
            self.listing | self.listing_both,
        )
        self.assertEqual(
            Listing.search([("pending", "=", False), ("id", "in", ours.ids)]),
            self.listing_b | self.listing_other,
        )

    def test_marking_logs_changes_and_keeps_oldest(self):
        """Every transaction logs one change; pending_since keeps the first."""
        self._set_stock(self.product, self.stock_main, 5)
        self._set_stock(self.product, self.stock_main, 5)
        self._flush_marks()
        self.assertEqual(self._change_count(), 1)
        first = self.listing.pending_since
        self._set_stock(self.product, self.stock_main, 5)
        self._flush_marks()
        self.assertEqual(self._change_count(), 2)
        self.listing.invalidate_recordset()
        self.assertEqual(self.listing.pending_since, first)

    def _change_count(self):
        self.env.cr.execute(
            "SELECT COUNT(*) FROM stock_channel_listing_change WHERE listing_id = %s",
            [self.listing.id],
        )
        return self.env.cr.fetchone()[0]

    def test_stock_operations_never_update_listing_rows(self):
        """Marks are inserts: a stock transaction cannot fail to serialize
        against a publication job writing the same listings."""
        self.env.flush_all()
        self.env.cr.execute(
            "SELECT xmin::text FROM stock_channel_listing WHERE id = %s",
            [self.listing.id],
        )
        before = self.env.cr.fetchone()[0]
        self._create_delivery(self.product, 3).button_validate()
        self._flush_marks()
        self.env.cr.execute(
            "SELECT xmin::text FROM stock_channel_listing WHERE id = %s",
            [self.listing.id],
        )
        self.assertEqual(self.env.cr.fetchone()[0], before)
        self.listing.invalidate_recordset()
        self.assertTrue(self.listing.pending)

    def test_quant_change_other_warehouse(self):
        """Stock in the second warehouse marks only its channels."""
        self._set_stock(self.product, self.stock_other, 5)
        self._flush_marks()
        self.assertEqual(self._pending(), self.listing_both | self.listing_other)

    def test_stock_outside_warehouses_marks_nothing(self):
        """A quant change at a partner location changes no channel."""
        self._set_stock(self.product, self.customer_loc, 5)
        self._flush_marks()
        self.assertFalse(self._pending())

    def test_delivery_lifecycle_marks(self):
        """Confirm, reserve, unreserve, validate and cancel each mark."""
        picking = self._create_delivery(self.product, 5, reserve=False)
        self._flush_marks()
        self.assertEqual(self._pending(), self.listing | self.listing_both)
        for step in ("action_assign", "do_unreserve"):
            self._clear_pending()
            getattr(picking, step)()
            self._flush_marks()
            self.assertEqual(
                self._pending(), self.listing | self.listing_both, f"after {step}"
            )
        picking.action_assign()
        self._clear_pending()
        picking.button_validate()
        self._flush_marks()
        self.assertEqual(self._pending(), self.listing | self.listing_both)

    def test_cancel_marks(self):
        """Cancelling a delivery releases promised stock."""
        picking = self._create_delivery(self.product, 5, reserve=False)
        self._clear_pending()
        picking.action_cancel()
        self._flush_marks()
        self.assertEqual(self._pending(), self.listing | self.listing_both)

    def test_incoming_receipt_marks_only_when_received(self):
        """An expected receipt is not stock: only its validation marks."""
        receipt = self._create_receipt(self.product_b, 10)
        self._flush_marks()
        self.assertFalse(self._pending())
        receipt.move_ids.quantity = 10
        receipt.button_validate()
        self._flush_marks()
        self.assertEqual(self._pending(), self.listing_b)

    def test_location_sellable_flag_marks(self):
        """Putting a location on hold marks the products stored there."""
        shelf = self.env["stock.location"].create(
            {
                "name": "Mark Shelf",
                "usage": "internal",
                "location_id": self.stock_main.id,
            }
        )
        self._set_stock(self.product_b, shelf, 3)
        self._clear_pending()
        self.stock_main.channel_sellable = False
        self.assertEqual(
            self._pending(), self.listing | self.listing_both | self.listing_b
        )
        self.stock_main.channel_sellable = True

    def test_rule_changes_mark_their_scope(self):
        """Creating, editing and deleting a rule marks what it covers."""
        rule = self._create_rule(categ_id=self.categ_child.id, buffer_value=1)
        self.assertEqual(
            self._pending(), self.listing | self.listing_both | self.listing_other
        )
        self._clear_pending()
        rule.channel_id = self.channel
        # old scope (all channels) and new scope
        self.assertEqual(
            self._pending(), self.listing | self.listing_both | self.listing_other
        )
        self._clear_pending()
        rule.buffer_value = 3
        self.assertEqual(self._pending(), self.listing)
        self._clear_pending()
        rule.unlink()
        self.assertEqual(self._pending(), self.listing)

    def test_product_rule_marks_that_product_only(self):
        """A product rule of one channel marks one listing."""
        self._create_rule(
            product_id=self.product_b.id, channel_id=self.channel.id, buffer_value=1
        )
        self.assertEqual(self._pending(), self.listing_b)

    def test_listing_change_marks_itself(self):
        """Pack size or activation changes what the listing publishes."""
        self.listing.pack_size = 2
        self.assertEqual(self._pending(), self.listing)
        self._clear_pending()
        self.listing.external_ref = "gid-1"
        self.assertFalse(self._pending(), "an external reference changes no quantity")
        self.listing.active = False
        self.assertEqual(self._pending(), self.listing)

    def test_channel_warehouses_change_marks_its_listings(self):
        """A new fulfillment warehouse changes every listing of the channel."""
        self.channel.warehouse_ids |= self.wh_other
        self.assertEqual(self._pending(), self.listing | self.listing_b)

    def test_product_archive_marks(self):
        """An archived product must publish 0."""
        self.product_b.action_archive()
        self.assertEqual(self._pending(), self.listing_b)

    def test_category_change_marks(self):
        """Another category may bring another rule."""
        self.product_b.categ_id = self.categ_child
        self.assertEqual(self._pending(), self.listing_b)

    def test_marking_is_one_statement_per_transaction(self):
        """Fifty stock changes cost the same marking queries as one."""
        products = self.env["product.product"].create(
            [
                {"name": f"Mark {i}", "default_code": f"MARK-{i}", "is_storable": True}
                for i in range(50)
            ]
        )
        listings = self.env["stock.channel.listing"].create(
            [{"channel_id": self.channel.id, "product_id": p.id} for p in products]
        )
        # With mrp, the first marking after a product or kit BoM change also
        # reads the kit BoMs (once per process and change).
        related_product_ids(self.env, products.ids)
        counts = []
        for subset in (listings[:1], listings[1:]):
            self._clear_pending(listings)
            for product in subset.product_id:
                self._set_stock(product, self.stock_main, 2)
            self.env.flush_all()
            count0 = self.cr.sql_log_count
            self.env.cr.flush()
            counts.append(self.cr.sql_log_count - count0)
            self.assertEqual(listings.filtered("pending"), subset)
        self.assertEqual(counts[0], counts[1])

    def test_rolled_back_operation_marks_nothing(self):
        """Marks are written in the transaction: a rollback drops them."""
        self._set_stock(self.product, self.stock_main, 5)
        self.env.flush_all()
        # Not assertRaises: its own savepoint would flush the marks first.
        try:
            with self.env.cr.savepoint(flush=False):
                self._flush_marks()
                self.assertTrue(self._pending())
                raise ZeroDivisionError
        except ZeroDivisionError:
            pass
        self.assertFalse(self._pending())

    def test_deleting_listing_or_channel_cleans_its_changes(self):
        """The change log has no foreign key: unlink cleans it."""
        channel = self._create_channel("test-gone", self.wh_main)
        listing = self._create_listing(channel, self.product_b)
        other = self._create_listing(channel, self.product)
        listing.unlink()
        self.assertEqual(self._changes_of(channel), 1)
        channel.unlink()
        self.assertFalse(other.exists())
        self.assertEqual(self._changes_of(channel), 0)

    def _changes_of(self, channel):
        self.env.cr.execute(
            "SELECT COUNT(*) FROM stock_channel_listing_change WHERE channel_id = %s",
            [channel.id],
        )
        return self.env.cr.fetchone()[0]
