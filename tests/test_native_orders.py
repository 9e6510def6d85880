from odoo.tests import tagged

from ..adapters import ADAPTERS
from ..services.payloads import validate_order
from .common import OrderCase

# Shopify's orders/create payload, in its documented shape (trimmed of what
# the addon does not read); prices are strings.
SHOPIFY_ORDER = {
    "id": 820982911946154508,
    "name": "#9999",
    "created_at": "2026-11-23T10:00:00-05:00",
    "currency": "EUR",
    "total_tax": "0.00",
    "note": "Leave at the <b>back</b> door",
    "customer": {
        "id": 115310627314723954,
        "email": "John.Smith@Example.com",
        "first_name": "John",
        "last_name": "Smith",
        "phone": "+32 470 12 34 56",
    },
    "shipping_address": {
        "first_name": "Jane",
        "last_name": "Smith",
        "address1": "Rue Haute 12",
        "address2": "Box 3",
        "city": "Bruxelles",
        "zip": "1000",
        "province_code": None,
        "country_code": "BE",
        "phone": "+32 2 555 00 00",
    },
    "line_items": [
        {
            "id": 866550311766439020,
            "variant_id": 808950810,
            "sku": "ATP-WIDGET",
            "quantity": 2,
            "price": "19.90",
        }
    ],
    "shipping_lines": [{"code": "Standard", "price": "4.50"}],
}

# WooCommerce's order.created payload (REST v3 order object).
WOO_ORDER = {
    "id": 727,
    "number": "727",
    "status": "processing",
    "currency": "EUR",
    "date_created_gmt": "2026-11-23T15:00:00",
    "total_tax": "0.00",
    "customer_note": "Gift wrap please",
    "billing": {
        "first_name": "Cy",
        "last_name": "Woo",
        "email": "  cy.woo@EXAMPLE.com ",
        "phone": "+1 212 555 0100",
    },
    "shipping": {
        "first_name": "Cy",
        "last_name": "Woo",
        "address_1": "5th Avenue 1",
        "address_2": "",
        "city": "New York",
        "postcode": "10001",
        "state": "NY",
        "country": "US",
    },
    "line_items": [
        {
            "id": 315,
            "product_id": 93,
            "variation_id": 0,
            "sku": "ATP-GADGET",
            "quantity": 3,
            "price": 7.5,
        }
    ],
    "shipping_lines": [
        {"method_id": "flat_rate", "method_title": "Flat rate", "total": "5.00"}
    ],
}


@tagged("post_install", "-at_install")
class TestNativeOrdersToSaleOrders(OrderCase):
    """A Shopify and a WooCommerce order, each in its own JSON, become a
    confirmed sale order carrying everything validated at intake."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.currency = cls._foreign_currency("EUR")
        cls.pricelist = cls.env["product.pricelist"].create(
            {"name": "Channel foreign", "currency_id": cls.currency.id}
        )
        cls.env["stock.quant"]._update_available_quantity(
            cls.product_b, cls.stock_main, 30
        )
        cls.shop = cls._create_channel(
            "test-shop", cls.wh_main, adapter="shopify", location_ref="1"
        )
        cls.woo = cls._create_channel("test-woo", cls.wh_main, adapter="woocommerce")
        (cls.shop | cls.woo).user_id = cls.robot
        cls._create_listing(cls.shop, cls.product)
        cls._create_listing(cls.woo, cls.product_b)

    def _order_for(self, channel, data):
        status, answer = self._receive(channel, dict(data, currency=self.currency.name))
        self.assertEqual(status, 202, answer)
        return self._channel_order(channel, data["id"])

    def _process(self, order):
        order.with_user(self.robot)._process()
        self.assertEqual(order.state, "done", order.error_message)
        return order.sale_order_id

    def test_shopify_order_becomes_a_complete_sale_order(self):
        """Customer, delivery contact, currency, prices, shipping line,
        warehouse, reference and plain-text note of a Shopify order."""
        order = self._order_for(self.shop, SHOPIFY_ORDER)
        data = dict(SHOPIFY_ORDER, currency=self.currency.name)
        self.assertEqual(
            order.canonical_order,
            validate_order(ADAPTERS["shopify"].to_canonical(data)),
        )
        sale = self._process(order)
        self.assertEqual(sale.state, "sale")
        customer = sale.partner_id
        self.assertEqual(customer.name, "John Smith")
        self.assertEqual(customer.email, "John.Smith@Example.com")
        self.assertEqual(customer.phone, "+32 470 12 34 56")
        self.assertFalse(customer.parent_id)
        self.assertEqual(customer.company_id, self.company)
        self.assertEqual(sale.partner_invoice_id, customer)
        delivery = sale.partner_shipping_id
        self.assertEqual(delivery.type, "delivery")
        self.assertEqual(delivery.parent_id, customer)
        self.assertEqual(
            (delivery.name, delivery.street, delivery.street2, delivery.city),
            ("Jane Smith", "Rue Haute 12", "Box 3", "Bruxelles"),
        )
        self.assertEqual(delivery.zip, "1000")
        self.assertEqual(delivery.country_id, self.env.ref("base.be"))
        self.assertEqual(delivery.phone, "+32 2 555 00 00")
        self.assertEqual(sale.currency_id, self.currency)
        self.assertEqual(sale.pricelist_id, self.pricelist)
        product_line, shipping_line = sale.order_line
        self.assertEqual(product_line.product_id, self.product)
        self.assertEqual(
            (product_line.product_uom_qty, product_line.price_unit), (2, 19.9)
        )
        self.assertEqual(shipping_line.product_id, self.shop.shipping_product_id)
        self.assertEqual(
            self.shop.shipping_product_id,
            self.env.ref("stock_channel_sync.product_channel_shipping"),
        )
        self.assertEqual(
            (shipping_line.product_uom_qty, shipping_line.price_unit), (1, 4.5)
        )
        self.assertEqual(sale.warehouse_id, self.wh_main)
        self.assertEqual(sale.picking_ids.picking_type_id.warehouse_id, self.wh_main)
        self.assertEqual(sale.client_order_ref, "820982911946154508")
        self.assertIn("&lt;b&gt;back&lt;/b&gt;", str(sale.note))
        self.assertEqual(sale.channel_id, self.shop)

    def test_woocommerce_order_becomes_a_complete_sale_order(self):
        """Billing contact as customer, shipping as delivery contact with
        its state, currency, prices, shipping line, warehouse, note."""
        order = self._order_for(self.woo, WOO_ORDER)
        sale = self._process(order)
        self.assertEqual(sale.state, "sale")
        customer = sale.partner_id
        self.assertEqual(customer.name, "Cy Woo")
        self.assertEqual(customer.email, "cy.woo@EXAMPLE.com")
        self.assertEqual(customer.phone, "+1 212 555 0100")
        self.assertEqual(sale.partner_invoice_id, customer)
        delivery = sale.partner_shipping_id
        self.assertEqual(delivery.parent_id, customer)
        self.assertEqual(
            (delivery.street, delivery.city, delivery.zip),
            ("5th Avenue 1", "New York", "10001"),
        )
        self.assertEqual(delivery.country_id, self.env.ref("base.us"))
        self.assertEqual(delivery.state_id.code, "NY")
        self.assertEqual(sale.currency_id, self.currency)
        product_line, shipping_line = sale.order_line
        self.assertEqual(
            (product_line.product_id, product_line.product_uom_qty), (self.product_b, 3)
        )
        self.assertEqual(product_line.price_unit, 7.5)
        self.assertEqual(shipping_line.price_unit, 5.0)
        self.assertEqual(sale.warehouse_id, self.wh_main)
        self.assertEqual(sale.client_order_ref, "727")
        self.assertIn("Gift wrap please", str(sale.note))

    def test_known_customer_matched_by_normalized_email(self):
        """Same email in another case and with spaces: the company's contact
        is reused; a contact of another commercial entity, or an email that
        only matches as a wildcard pattern, is not. (The e-mail alone
        identifies the customer on a channel that trusts it: a WooCommerce
        channel does not by default, TestMarketplaceCustomers.)"""
        self.woo.trust_customer_email = True
        known = self.env["res.partner"].create(
            {"name": "Cy Known", "email": "cy.woo@example.com"}
        )
        company = self.env["res.partner"].create(
            {"name": "Acme", "is_company": True, "email": "buyer@acme.test"}
        )
        self.env["res.partner"].create(
            {"name": "Acme buyer", "parent_id": company.id, "email": "x_y@acme.test"}
        )
        wildcard = self.env["res.partner"].create(
            {"name": "Wild", "email": "xzy@acme.test"}
        )
        sale = self._process(self._order_for(self.woo, WOO_ORDER))
        self.assertEqual(sale.partner_id, known)
        other = dict(
            WOO_ORDER,
            id=728,
            billing=dict(WOO_ORDER["billing"], email="x_y@acme.test"),
        )
        sale = self._process(self._order_for(self.woo, other))
        self.assertFalse(sale.partner_id.parent_id)
        self.assertNotEqual(sale.partner_id.commercial_partner_id, company)
        self.assertNotEqual(sale.partner_id, wildcard)
        self.assertEqual(sale.partner_id.email, "x_y@acme.test")

    def test_identical_delivery_address_reused(self):
        """Two orders to the same address: one delivery contact."""
        first = self._process(self._order_for(self.woo, WOO_ORDER))
        second = self._process(self._order_for(self.woo, dict(WOO_ORDER, id=730)))
        self.assertEqual(first.partner_shipping_id, second.partner_shipping_id)
        moved = dict(
            WOO_ORDER, id=731, shipping=dict(WOO_ORDER["shipping"], city="Albany")
        )
        third = self._process(self._order_for(self.woo, moved))
        self.assertNotEqual(third.partner_shipping_id, first.partner_shipping_id)

    def test_currency_without_pricelist_is_a_clear_error(self):
        """No pricelist in the order's currency: error naming it, no sale
        order, one to-do."""
        missing = self._foreign_currency("GBP")
        self.env["product.pricelist"].search(
            [("currency_id", "=", missing.id)]
        ).action_archive()
        status, _answer = self._receive(
            self.shop, dict(SHOPIFY_ORDER, currency=missing.name)
        )
        self.assertEqual(status, 202)
        order = self._channel_order(self.shop, SHOPIFY_ORDER["id"])
        order.with_user(self.robot)._process()
        self.assertEqual(order.state, "error")
        self.assertIn(missing.name, order.error_message)
        self.assertIn("pricelist", order.error_message)
        self.assertFalse(order.sale_order_id)
        self.assertEqual(len(order.activity_ids), 1)
