import unittest

from odoo import Command
from odoo.tests import new_test_user, tagged

from ..services.atp import AtpEngine
from ..services.kits import kits_installed, related_product_ids
from .common import ChannelCase, OrderCase

MANAGER_GROUPS = "base.group_user,stock_channel_sync.group_channel_manager"


class KitMixin:
    """Kit builders; the class is skipped on a database without ``mrp``
    (the suite's third run: kits are a soft dependency)."""

    @classmethod
    def _require_mrp(cls):
        if not kits_installed(cls.env):
            raise unittest.SkipTest("mrp is not installed: no kits to test")

    @classmethod
    def _create_kit(cls, name, lines, bom_qty=1.0, **bom_vals):
        """A storable kit product and its kit BoM; ``lines``: (component,
        quantity[, unit of measure])."""
        kit = cls._create_product(name)
        cls.env["mrp.bom"].create(
            {
                "product_tmpl_id": kit.product_tmpl_id.id,
                "type": "phantom",
                "product_qty": bom_qty,
                "bom_line_ids": [
                    Command.create(
                        {
                            "product_id": line[0].id,
                            "product_qty": line[1],
                            **({"product_uom_id": line[2].id} if len(line) > 2 else {}),
                        }
                    )
                    for line in lines
                ],
                **bom_vals,
            }
        )
        return kit


@tagged("post_install", "-at_install")
class TestKitQuantities(KitMixin, ChannelCase):
    """A kit offers what its components make, per warehouse, with Odoo's
    definition of kit quantities."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls._require_mrp()
        cls.keyboard = cls._create_product("Kit Keyboard")
        cls.mouse = cls._create_product("Kit Mouse")
        cls.cable = cls._create_product("Kit Cable")
        cls.starter = cls._create_kit(
            "Kit Starter Set", [(cls.keyboard, 1), (cls.mouse, 1), (cls.cable, 2)]
        )
        cls.kit_listing = cls._create_listing(cls.channel, cls.starter)
        cls.kit_listing_both = cls._create_listing(cls.channel_both, cls.starter)

    def _stock(self, location, keyboard, mouse, cable):
        """Add these quantities of the three components at ``location``."""
        for product, qty in (
            (self.keyboard, keyboard),
            (self.mouse, mouse),
            (self.cable, cable),
        ):
            if qty:
                self._set_stock(product, location, qty)

    def test_each_component_limits_in_turn(self):
        """min(keyboard/1, mouse/1, cable/2), each component the lowest once;
        the form names the limiting component."""
        cases = [
            ((3, 10, 20), 3, self.keyboard),
            ((10, 4, 20), 4, self.mouse),
            ((10, 10, 11), 5, self.cable),
        ]
        for stock, expected, limiting in cases:
            with self.subTest(stock=stock):
                self.env["stock.quant"].search(
                    [
                        (
                            "product_id",
                            "in",
                            (self.keyboard | self.mouse | self.cable).ids,
                        )
                    ]
                ).sudo().unlink()
                self._stock(self.stock_main, *stock)
                result = self._atp_result(self.kit_listing)
                self.assertEqual(result.qty, expected)
                self.assertEqual(result.limiting_id, limiting.id)
                self.kit_listing.invalidate_recordset()
                self.assertEqual(self.kit_listing.atp_limiting_product_id, limiting)
                self.assertTrue(
                    self.kit_listing.atp_kit_explanation.startswith(
                        limiting.display_name
                    )
                )

    def test_two_warehouses_never_mixed(self):
        """Kits per warehouse, summed: keyboards in one warehouse and mice in
        the other make no kit (Brightpearl's example); 2 + 3 kits make 5."""
        self._set_stock(self.keyboard, self.stock_main, 10)
        self._stock(self.stock_other, 0, 20, 40)
        self.assertEqual(self._atp(self.kit_listing_both), 0)
        self._stock(self.stock_main, 0, 2, 4)  # main: 10 kb, 2 mice, 4 cables
        self._set_stock(self.keyboard, self.stock_other, 3)
        self.assertEqual(self._atp(self.kit_listing_both), 2 + 3)
        self.assertEqual(self._atp(self.kit_listing), 2)  # main warehouse only

    def test_open_demand_of_a_component(self):
        """A reserved delivery of a component lowers the kit."""
        self._stock(self.stock_main, 5, 5, 10)
        self._create_delivery(self.mouse, 2)
        self.assertEqual(self._atp(self.kit_listing), 3)
        self._create_delivery(self.cable, 3, reserve=False)  # open demand
        self.assertEqual(self._atp(self.kit_listing), 3)  # 7 cables: 3 kits

    def test_kit_own_rule_and_pack_size(self):
        """The kit listing's own buffer rule, then its pack size."""
        self._stock(self.stock_main, 20, 20, 40)
        self._create_rule(
            product_id=self.starter.id, buffer_type="fixed", buffer_value=3
        )
        self.assertEqual(self._atp(self.kit_listing), 17)
        self.kit_listing.pack_size = 5
        self.assertEqual(self._atp(self.kit_listing), 3)
        # The kit's rule is not its components'.
        self.assertEqual(self._atp(self._create_listing(self.channel, self.mouse)), 20)

    def test_bom_of_several_kits_lines_summed_and_skipped(self):
        """A BoM making 2 kits; the same component on two lines summed;
        consumable and zero-quantity lines ignored; a line in dozens."""
        leaflet = self._create_product("Kit Leaflet", is_storable=False)
        screw = self._create_product("Kit Screw")
        dozen = self.env.ref("uom.product_uom_dozen")
        pair = self._create_kit(
            "Kit Pair",
            [
                (self.mouse, 1),
                (self.mouse, 2),
                (leaflet, 1),
                (self.cable, 0),
                (screw, 1, dozen),
            ],
            bom_qty=2.0,
        )
        listing = self._create_listing(self.channel, pair)
        self._set_stock(self.mouse, self.stock_main, 10)  # 10 / 3 x 2 = 6.67
        self._set_stock(screw, self.stock_main, 100)  # 100 / 12 x 2 = 16.7
        self.assertEqual(self._atp(listing), 6)  # floor(min(...) x 2)
        self._set_stock(screw, self.stock_main, -76)  # 24 screws: 4 kits
        self.assertEqual(self._atp(listing), 4)

    def test_only_consumables_offers_nothing(self):
        leaflet = self._create_product("Kit Flyer", is_storable=False)
        kit = self._create_kit("Kit Paper", [(leaflet, 1)])
        self.assertEqual(self._atp(self._create_listing(self.channel, kit)), 0)

    def test_nested_kits_flattened(self):
        """A bundle of 2 starter sets and a cable: 2 keyboards, 2 mice and
        5 cables per bundle."""
        bundle = self._create_kit("Kit Bundle", [(self.starter, 2), (self.cable, 1)])
        listing = self._create_listing(self.channel, bundle)
        self._stock(self.stock_main, 9, 9, 16)
        self.assertEqual(self._atp(listing), 3)  # cables: 16 / 5
        self._set_stock(self.cable, self.stock_main, 30)
        self.assertEqual(self._atp(listing), 4)  # keyboards: 9 / 2

    def test_variant_bom_and_company(self):
        """A variant-specific BoM wins over the template's; a BoM of another
        company is not this company's kit."""
        other = self.env["res.company"].create({"name": "Kit Other Co"})
        kit = self._create_kit("Kit Company", [(self.mouse, 1)], company_id=other.id)
        listing = self._create_listing(self.channel, kit)
        self._stock(self.stock_main, 5, 5, 10)
        self.assertEqual(self._atp(listing), 0)  # not a kit here: own stock 0
        self.env["mrp.bom"].create(
            {
                "product_tmpl_id": kit.product_tmpl_id.id,
                "product_id": kit.id,
                "type": "phantom",
                "bom_line_ids": [Command.create({"product_id": self.cable.id})],
            }
        )
        self.assertEqual(self._atp(listing), 10)

    def test_per_node(self):
        """Per-location channels: the kit per warehouse, rule per node."""
        self.channel_both.write(
            {
                "publish_per_location": True,
                "location_ids": [
                    Command.create(
                        {"warehouse_id": self.wh_main.id, "location_ref": "kit-east"}
                    ),
                    Command.create(
                        {"warehouse_id": self.wh_other.id, "location_ref": "kit-west"}
                    ),
                ],
            }
        )
        self._stock(self.stock_main, 4, 9, 9)
        self._stock(self.stock_other, 7, 1, 9)
        nodes = AtpEngine(self.env).compute_nodes(self.kit_listing_both.ids)
        self.assertEqual(nodes[self.kit_listing_both.id, self.wh_main.id].qty, 4)
        self.assertEqual(nodes[self.kit_listing_both.id, self.wh_other.id].qty, 1)
        self.assertEqual(self._atp(self.kit_listing_both), 5)

    def test_manager_reads_the_explanation(self):
        """A Channel Sync manager (not an administrator) sees the figure and
        its limiting component on the form."""
        manager = new_test_user(self.env, login="kit_manager", groups=MANAGER_GROUPS)
        self._stock(self.stock_main, 6, 2, 10)
        listing = self.kit_listing.with_user(manager)
        self.assertEqual(listing.atp_qty, 2)
        self.assertEqual(listing.atp_limiting_product_id, self.mouse)
        self.assertIn("1 per kit", listing.atp_kit_explanation)


@tagged("post_install", "-at_install")
class TestKitMarking(KitMixin, ChannelCase):
    """A component's stock change marks every kit holding it, nested kits
    included, in the marking's one statement."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls._require_mrp()
        cls.gear = cls._create_product("Kit Gear")
        cls.set_a = cls._create_kit("Kit Set A", [(cls.gear, 1), (cls.product_b, 1)])
        cls.set_b = cls._create_kit("Kit Set B", [(cls.gear, 2)])
        cls.crate = cls._create_kit("Kit Crate", [(cls.set_a, 3)])
        cls.kits = cls.set_a | cls.set_b | cls.crate
        cls.kit_listings = cls.env["stock.channel.listing"]
        for kit in cls.kits:
            cls.kit_listings |= cls._create_listing(cls.channel, kit)
        cls.unrelated = cls.listing

    def _pending(self):
        self._flush_marks()
        listings = self.kit_listings | self.unrelated
        listings.invalidate_recordset(["pending"])
        return listings.filtered("pending")

    def test_receipt_of_a_component_marks_its_kits(self):
        self._clear_pending()
        receipt = self._create_receipt(self.gear, 10)
        receipt.move_ids.quantity = 10
        receipt.button_validate()
        self.assertEqual(self._pending(), self.kit_listings)

    def test_component_of_one_kit_only(self):
        self._clear_pending()
        self._set_stock(self.product_b, self.stock_main, 4)
        marked = self._pending()
        self.assertEqual(marked.product_id, self.set_a | self.crate)

    def test_product_change_marks_kits(self):
        """Archiving a component (a product write) marks its kits."""
        self._clear_pending()
        self.gear.active = False
        self.assertEqual(self._pending(), self.kit_listings)

    def test_bom_edit_marks_through_the_cron(self):
        """A kit BoM edited: the cron marks that kit and its components'
        other kits; an old edit outside the overlap is not marked again."""
        listings = self.env["stock.channel.listing"]
        params = self.env["ir.config_parameter"]
        params.set_param("stock_channel_sync.kit_bom_checked_at", "2000-01-01")
        self._clear_pending()
        listings._cron_mark_changed_kits()  # every BoM is newer than 2000
        self.assertEqual(self._pending(), self.kit_listings)
        self._clear_pending()
        self.env.cr.execute(
            "UPDATE mrp_bom SET write_date = '2001-01-01';"
            "UPDATE mrp_bom_line SET write_date = '2001-01-01'"
        )
        listings._cron_mark_changed_kits()  # nothing changed since
        self.assertFalse(self._pending())
        self.env["mrp.bom"].search(
            [("product_tmpl_id", "=", self.set_b.product_tmpl_id.id)]
        ).bom_line_ids.product_qty = 3
        listings._cron_mark_changed_kits()
        self.assertEqual(self._pending(), self.kit_listings)  # gear's kits too

    def test_related_products_closure(self):
        """Down to the components, then up to every kit holding one."""
        related = related_product_ids(self.env, self.set_b.ids)
        self.assertEqual(related, {self.set_b.id, self.gear.id, *self.kits.ids})


@tagged("post_install", "-at_install")
class TestKitOrdersPromised(KitMixin, OrderCase):
    """An accepted kit order promises its components: at intake, the kit,
    its components' listings and every kit sharing a component are lower."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls._require_mrp()
        cls.bolt = cls._create_product("Kit Bolt")
        cls.nut = cls._create_product("Kit Nut")
        cls.kit_one = cls._create_kit("Kit Fixing", [(cls.bolt, 2), (cls.nut, 1)])
        cls.kit_two = cls._create_kit("Kit Spare", [(cls.bolt, 1)])
        cls.kit_one_listing = cls._create_listing(
            cls.channel, cls.kit_one, external_sku="KIT-FIXING"
        )
        cls.kit_two_listing = cls._create_listing(cls.channel_both, cls.kit_two)
        cls.bolt_listing = cls._create_listing(cls.channel, cls.bolt)
        cls.nut_listing = cls._create_listing(cls.channel_both, cls.nut)
        cls.env["stock.quant"]._update_available_quantity(cls.bolt, cls.stock_main, 20)
        cls.env["stock.quant"]._update_available_quantity(cls.nut, cls.stock_main, 8)

    def test_kit_order_promises_components(self):
        listings = (
            self.kit_one_listing | self.kit_two_listing | self.bolt_listing
        ) | self.nut_listing
        before = AtpEngine(self.env).compute(listings.ids)
        self.assertEqual([before[i].qty for i in listings.ids], [8, 20, 20, 8])
        self._clear_pending()
        status, answer = self._receive(
            self.channel,
            {
                "external_id": "KIT-ORDER-1",
                "customer": {"name": "Kit Buyer", "email": "kit@example.com"},
                "lines": [{"sku": "KIT-FIXING", "quantity": 3, "unit_price": 9}],
            },
        )
        self.assertEqual(status, 202, answer)
        atp = AtpEngine(self.env).compute(listings.ids)
        # 3 kits promise 6 bolts and 3 nuts: every affected listing is lower.
        self.assertEqual(atp[self.kit_one_listing.id].qty, 5)  # nuts 5, bolts 14/2
        self.assertEqual(atp[self.kit_two_listing.id].qty, 14)
        self.assertEqual(atp[self.bolt_listing.id].qty, 14)
        self.assertEqual(atp[self.nut_listing.id].qty, 5)
        self._flush_marks()
        listings.invalidate_recordset(["pending"])
        self.assertEqual(listings.filtered("pending"), listings)

    def test_sale_order_reserves_components(self):
        """Once the sale order exists, Odoo's kit moves are components'
        demand: the figures stay lower, now from the moves."""
        self._receive(
            self.channel,
            {
                "external_id": "KIT-ORDER-2",
                "customer": {"name": "Kit Buyer", "email": "kit2@example.com"},
                "lines": [{"sku": "KIT-FIXING", "quantity": 2, "unit_price": 9}],
            },
        )
        order = self._channel_order(self.channel, "KIT-ORDER-2")
        order.with_user(self.robot)._process()
        self.assertEqual(order.state, "done")
        moves = order.sale_order_id.picking_ids.move_ids
        self.assertEqual(moves.product_id, self.bolt | self.nut)
        self.assertEqual(self._atp(self.bolt_listing), 16)
        self.assertEqual(self._atp(self.nut_listing), 6)
        self.assertEqual(self._atp(self.kit_one_listing), 6)


@tagged("post_install", "-at_install")
class TestWithoutMrp(ChannelCase):
    """Without ``mrp`` nothing changes, and no query names its tables (its
    tables do not exist: such a query would fail these tests)."""

    def test_no_kit_tables_without_mrp(self):
        if kits_installed(self.env):
            self.skipTest("mrp is installed: the bare run checks this")
        self.assertEqual(
            related_product_ids(self.env, [self.product.id]), {self.product.id}
        )
        self._set_stock(self.product, self.stock_main, 5)
        self.assertEqual(self._atp(self.listing), 5)
        self._clear_pending()
        self._set_stock(self.product, self.stock_main, 1)
        self._flush_marks()
        self.listing.invalidate_recordset(["pending"])
        self.assertTrue(self.listing.pending)
