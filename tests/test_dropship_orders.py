import unittest

from odoo import Command
from odoo.exceptions import AccessError
from odoo.tests import new_test_user, tagged

from ..services.dropship_split import DROPSHIP_ROUTE, allocate
from .common import OrderCase


@tagged("post_install", "-at_install")
class TestDropshipOrders(OrderCase):
    """Channel orders beyond the warehouse's own stock: the rest on the
    dropship route, and Odoo's purchase order to the vendor."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.route = cls.env.ref(DROPSHIP_ROUTE, raise_if_not_found=False)
        if not cls.route:
            raise unittest.SkipTest("stock_dropshipping is not installed")
        cls.vendor = cls.env["res.partner"].create({"name": "DSO Sofa Maker"})
        seller = [Command.create({"partner_id": cls.vendor.id, "price": 40})]
        cls.sofa = cls._create_product(
            "DSO Sofa", route_ids=[Command.set(cls.route.ids)], seller_ids=seller
        )
        cls.lamp = cls._create_product("DSO Lamp", seller_ids=seller)
        cls.categ_dropship = cls.env["product.category"].create(
            {"name": "DSO Drop-shipped", "route_ids": [Command.set(cls.route.ids)]}
        )
        cls.chair = cls._create_product(
            "DSO Chair", cls.categ_dropship, seller_ids=seller
        )
        for product, quantity in ((cls.sofa, 4), (cls.lamp, 2)):
            cls.env["stock.quant"]._update_available_quantity(
                product, cls.stock_main, quantity
            )
        for product in (cls.sofa, cls.lamp, cls.chair):
            cls._create_listing(cls.channel, product, external_sku=product.default_code)
        cls.channel.sell_dropship = True
        cls.delivery = cls.wh_main.delivery_route_id
        cls.manager = new_test_user(
            cls.env,
            login="dso_manager",
            groups="stock.group_stock_user,stock_channel_sync.group_channel_manager",
        )
        cls.user = new_test_user(
            cls.env,
            login="dso_user",
            groups="stock.group_stock_user,stock_channel_sync.group_channel_user",
        )

    def _order(self, product, quantity, external_id="DSO-1"):
        """A channel order received and processed as the technical user:
        its confirmed sale order."""
        status, answer = self._receive(
            self.channel,
            {
                "external_id": external_id,
                "customer": {"name": "Sofa Buyer", "email": "dso@example.com"},
                "lines": [
                    {
                        "sku": product.default_code,
                        "quantity": quantity,
                        "unit_price": 100,
                    }
                ],
            },
        )
        self.assertEqual(status, 202, answer)
        order = self._channel_order(self.channel, external_id)
        order.with_user(self.robot)._process()
        self.assertEqual(order.state, "done", order.sudo().error_message)
        self.assertEqual(order.sale_order_id.state, "sale")
        return order.sale_order_id

    def _lines(self, sale):
        """``[(quantity, route)]`` of the sale order's lines."""
        return [(line.product_uom_qty, line.route_id) for line in sale.order_line]

    def test_split_between_own_stock_and_dropship(self):
        """10 sofas, 4 in stock: 4 delivered from the warehouse, 6 on the
        dropship route with a purchase order of 6 to the vendor."""
        sale = self._order(self.sofa, 10)
        self.assertEqual(self._lines(sale), [(4, self.delivery), (6, self.route)])
        self.assertEqual(sale.order_line.mapped("price_unit"), [100, 100])
        purchase = sale._get_purchase_orders()
        self.assertEqual(len(purchase), 1)
        self.assertEqual(purchase.partner_id, self.vendor)
        self.assertEqual(purchase.order_line.product_id, self.sofa)
        self.assertEqual(purchase.order_line.product_qty, 6)
        own = sale.picking_ids.filtered(
            lambda p: p.picking_type_id == self.wh_main.out_type_id
        )
        self.assertEqual(own.move_ids.product_uom_qty, 4)
        self.assertEqual(own.move_ids.state, "assigned")

    def test_category_route_and_no_own_stock(self):
        """The dropship route on the product's category counts; with no own
        stock the whole line goes drop-ship."""
        sale = self._order(self.chair, 3)
        self.assertEqual(self._lines(sale), [(3, self.route)])
        purchase = sale._get_purchase_orders()
        self.assertEqual(purchase.partner_id, self.vendor)
        self.assertEqual(purchase.order_line.product_qty, 3)

    def test_covered_by_own_stock(self):
        """3 sofas, 4 in stock: one line on the warehouse's delivery route
        (else Odoo would follow the product's dropship route), no purchase,
        reserved from stock."""
        sale = self._order(self.sofa, 3)
        self.assertEqual(self._lines(sale), [(3, self.delivery)])
        self.assertFalse(sale._get_purchase_orders())
        self.assertEqual(sale.picking_ids.move_ids.state, "assigned")

    def test_product_without_dropship_route(self):
        """A vendor but no dropship route: unchanged, it backorders."""
        sale = self._order(self.lamp, 5)
        self.assertEqual(self._lines(sale), [(5, self.env["stock.route"])])
        self.assertFalse(sale._get_purchase_orders())

    def test_channel_without_option(self):
        """A channel that does not sell drop-ship stock: the line is left
        as it is, and Odoo routes it as always (the product's dropship route:
        all 10 drop-shipped, own stock or not)."""
        self.channel.sell_dropship = False
        sale = self._order(self.sofa, 10)
        self.assertEqual(self._lines(sale), [(10, self.env["stock.route"])])
        self.assertEqual(sale._get_purchase_orders().order_line.product_qty, 10)

    def test_lines_of_one_product_share_its_stock(self):
        """Two lines of 3 with 4 free: the first own, the second 1 + 2."""
        lines = [
            {"product_id": 7, "product_uom_qty": 3.0, "price_unit": 1},
            {"product_id": 7, "product_uom_qty": 3.0, "price_unit": 1},
            {"product_id": 8, "product_uom_qty": 9.0, "price_unit": 1},
        ]
        result = allocate(lines, {7: 4.0}, 5, 99, {7: 0.01})
        self.assertEqual(
            [(line["product_uom_qty"], line.get("route_id")) for line in result],
            [(3.0, 5), (1.0, 5), (2.0, 99), (9.0, None)],
        )

    def test_manager_option_marks_listings(self):
        """A manager switching the option marks the channel's listings; the
        same value again marks nothing."""
        listings = self.channel_both.listing_ids
        self._clear_pending()
        channel = self.channel_both.with_user(self.manager)
        channel.write({"sell_dropship": True})
        self._flush_marks()
        listings.invalidate_recordset(["pending"])
        self.assertEqual(listings.filtered("pending"), listings)
        self._clear_pending()
        channel.write({"sell_dropship": True})
        self._flush_marks()
        listings.invalidate_recordset(["pending"])
        self.assertFalse(listings.filtered("pending"))

    def test_non_manager_cannot_write_option(self):
        """A channel user reads the option, cannot change it."""
        channel = self.channel_both.with_user(self.user)
        self.assertFalse(channel.sell_dropship)
        with self.assertRaises(AccessError):
            channel.write({"sell_dropship": True})
