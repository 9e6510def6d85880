from odoo.tests import tagged

from .common import ChannelCase


@tagged("post_install", "-at_install")
class TestBufferRules(ChannelCase):
    """Each rule kind, the order of operations and the precedence of rules."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env["stock.quant"]._update_available_quantity(
            cls.product, cls.stock_main, 100
        )

    def test_no_rule_publishes_sellable_quantity(self):
        """Without a rule nothing is kept back."""
        self.assertEqual(self._atp(self.listing), 100)

    def test_fixed_buffer(self):
        """Fixed: minus the value."""
        self._create_rule(channel_id=self.channel.id, buffer_value=7)
        self.assertEqual(self._atp(self.listing), 93)

    def test_percent_buffer_rounds_down(self):
        """Percent: keep (100 - value) %, rounded down."""
        self._set_stock(self.product, self.stock_main, -3)  # 97 on hand
        self._create_rule(
            channel_id=self.channel.id, buffer_type="percent", buffer_value=15
        )
        # 97 * 0.85 = 82.45
        self.assertEqual(self._atp(self.listing), 82)

    def test_percent_exact_product_not_lost_to_float_noise(self):
        """70 % of 10 is 7, not 6.999999 rounded down to 6."""
        self._set_stock(self.product, self.stock_main, -90)  # 10 on hand
        self._create_rule(
            channel_id=self.channel.id, buffer_type="percent", buffer_value=30
        )
        self.assertEqual(self._atp(self.listing), 7)

    def test_zero_below(self):
        """At or under the threshold the channel is told 0."""
        rule = self._create_rule(
            channel_id=self.channel.id, buffer_value=90, zero_below=10
        )
        self.assertEqual(self._atp(self.listing), 0)  # 10 left: at the threshold
        rule.zero_below = 9
        self.assertEqual(self._atp(self.listing), 10)

    def test_max_quantity_caps(self):
        """max_quantity caps what is shown; 0 means no cap."""
        rule = self._create_rule(channel_id=self.channel.id, max_quantity=25)
        self.assertEqual(self._atp(self.listing), 25)
        rule.max_quantity = 0
        self.assertEqual(self._atp(self.listing), 100)

    def test_pack_size_rounds_down(self):
        """A case of 6: 100 units are 16 cases."""
        self.listing.pack_size = 6
        self.assertEqual(self._atp(self.listing), 16)

    def test_order_of_operations(self):
        """Buffer, then zero_below, then cap, then pack size."""
        self._create_rule(
            channel_id=self.channel.id, buffer_value=10, zero_below=5, max_quantity=50
        )
        self.listing.pack_size = 4
        # 100 - 10 = 90; above 5; capped at 50; 50 / 4 = 12.5 -> 12.
        self.assertEqual(self._atp(self.listing), 12)

    def test_worked_example(self):
        """The README's worked example, step by step."""
        channel = self._create_channel("readme", self.wh_main | self.wh_other)
        product = self._create_product("Readme Mug", self.categ_child)
        self._set_stock(product, self.stock_main, 120)
        self._set_stock(product, self.stock_other, 40)
        hold = self.env["stock.location"].create(
            {
                "name": "Readme Hold",
                "usage": "internal",
                "location_id": self.wh_main.view_location_id.id,
                "channel_sellable": False,
            }
        )
        self._set_stock(product, hold, 15)
        self._create_delivery(product, 30)  # reserved in the main warehouse
        self._create_delivery(product, 45, warehouse=self.wh_other)  # 40 reserved
        self._create_receipt(product, 500)  # expected, not counted
        self._create_rule(
            channel_id=channel.id,
            categ_id=self.categ_child.id,
            buffer_type="percent",
            buffer_value=10,
            zero_below=5,
            max_quantity=60,
        )
        listing = self._create_listing(
            channel, product, external_sku="MUG-6", pack_size=6
        )
        # (120 - 30) + (40 - 40) - 5 = 85 sellable; 10 % kept: floor(76.5) = 76;
        # above 5; capped at 60; 60 / 6 = 10 cases.
        result = self._atp_result(listing)
        self.assertEqual(result.free_qty, 90)
        self.assertEqual(result.demand_qty, 5)
        self.assertEqual(result.qty, 10)

    def test_precedence_product_over_category_over_channel_over_global(self):
        """The most specific matching rule wins."""
        global_rule = self._create_rule(buffer_value=1)
        self.assertEqual(self._atp_result(self.listing).rule_id, global_rule.id)
        channel_rule = self._create_rule(channel_id=self.channel.id, buffer_value=2)
        self.assertEqual(self._atp_result(self.listing).rule_id, channel_rule.id)
        parent_rule = self._create_rule(categ_id=self.categ_parent.id, buffer_value=3)
        self.assertEqual(self._atp_result(self.listing).rule_id, parent_rule.id)
        child_rule = self._create_rule(categ_id=self.categ_child.id, buffer_value=4)
        self.assertEqual(self._atp_result(self.listing).rule_id, child_rule.id)
        product_rule = self._create_rule(product_id=self.product.id, buffer_value=5)
        self.assertEqual(self._atp_result(self.listing).rule_id, product_rule.id)
        self.assertEqual(self._atp(self.listing), 95)

    def test_channel_specific_beats_same_scope_for_all_channels(self):
        """A product rule of this channel beats a product rule of all channels."""
        self._create_rule(product_id=self.product.id, buffer_value=5)
        mine = self._create_rule(
            product_id=self.product.id, channel_id=self.channel.id, buffer_value=9
        )
        self.assertEqual(self._atp_result(self.listing).rule_id, mine.id)
        self.assertEqual(self._atp(self.listing_both), 95)

    def test_sequence_breaks_ties(self):
        """Equally specific rules: the lowest sequence wins."""
        self._create_rule(channel_id=self.channel.id, buffer_value=1, sequence=20)
        first = self._create_rule(
            channel_id=self.channel.id, buffer_value=2, sequence=5
        )
        self.assertEqual(self._atp_result(self.listing).rule_id, first.id)

    def test_rule_of_other_channel_ignored(self):
        """A channel rule never leaks into another channel."""
        self._create_rule(channel_id=self.channel_both.id, buffer_value=50)
        self.assertEqual(self._atp(self.listing), 100)
        self.assertEqual(self._atp(self.listing_both), 50)

    def test_category_rule_of_unrelated_category_ignored(self):
        """A category rule only applies to its category tree."""
        other = self.env["product.category"].create({"name": "Unrelated"})
        self._create_rule(categ_id=other.id, buffer_value=50)
        self.assertEqual(self._atp(self.listing), 100)

    def test_archived_rule_ignored(self):
        """Archiving a rule switches it off."""
        rule = self._create_rule(channel_id=self.channel.id, buffer_value=50)
        rule.action_archive()
        self.assertEqual(self._atp(self.listing), 100)
