"""What the supplier feed tests share: a vendor, products matched by
vendor code, internal reference and barcode, a channel listing them, a
manager who is not an administrator, a read-only user, and the feed."""

import base64
import json

from odoo import Command
from odoo.tests import new_test_user

from .common import technical_user

MANAGER_GROUPS = (
    "base.group_user,stock.group_stock_user,stock_channel_sync.group_channel_manager"
)
VIEWER_GROUPS = "base.group_user,stock_channel_sync.group_channel_user"


def csv_bytes(rows, header="sku,quantity", delimiter=","):
    lines = [header] + [delimiter.join(str(cell) for cell in row) for row in rows]
    return ("\n".join(lines) + "\n").encode()


def json_bytes(items, generated_at=None):
    document = {"items": [{"sku": sku, "quantity": qty} for sku, qty in items]}
    if generated_at:
        document["generated_at"] = generated_at
    return json.dumps(document).encode()


class SupplierFeedFixtures:
    """Mixed into the test classes (TransactionCase or HttpCase)."""

    @classmethod
    def _setup_feed_world(cls):
        cls.env = cls.env(context=dict(cls.env.context, tracking_disable=True))
        cls.env["ir.config_parameter"].set_param(
            "stock_channel_sync.allowed_http_hosts", "127.0.0.1"
        )
        cls.env["stock.channel.buffer.rule"].search([]).action_archive()
        cls.robot = technical_user(cls.env)
        cls.manager = new_test_user(
            cls.env, login="feedt_manager", groups=MANAGER_GROUPS
        )
        cls.viewer = new_test_user(cls.env, login="feedt_viewer", groups=VIEWER_GROUPS)
        cls.vendor = cls.env["res.partner"].create({"name": "Feed Test Vendor"})
        cls.other_vendor = cls.env["res.partner"].create({"name": "Feed Other Vendor"})
        Product = cls.env["product.product"].with_context(default_is_storable=True)
        cls.p_code = Product.create({"name": "Feed Lamp", "default_code": "FEEDT-A1"})
        cls.p_plain = Product.create({"name": "Feed Desk", "default_code": "FEEDT-A2"})
        cls.p_vendor = Product.create(
            {"name": "Feed Chair", "default_code": "FEEDT-A3"}
        )
        cls.p_barcode = Product.create(
            {"name": "Feed Shelf", "default_code": "FEEDT-A4", "barcode": "FEEDT-BC4"}
        )
        cls.env["product.supplierinfo"].create(
            [
                {
                    "partner_id": cls.vendor.id,
                    "product_tmpl_id": cls.p_vendor.product_tmpl_id.id,
                    "product_code": "VND-300",
                },
                {
                    "partner_id": cls.other_vendor.id,
                    "product_tmpl_id": cls.p_plain.product_tmpl_id.id,
                    "product_code": "OTHER-200",
                },
            ]
        )
        warehouse = cls.env["stock.warehouse"].search(
            [("company_id", "=", cls.env.company.id)], limit=1
        )
        cls.channel = cls.env["stock.channel"].create(
            {
                "name": "Feed Test Web",
                "code": "feedt-web",
                "user_id": cls.robot.id,
                "warehouse_ids": [Command.set(warehouse.ids)],
            }
        )
        cls.products = cls.p_code | cls.p_plain | cls.p_vendor | cls.p_barcode
        cls.listings = cls.env["stock.channel.listing"].create(
            [
                {"channel_id": cls.channel.id, "product_id": product.id}
                for product in cls.products
            ]
        )
        cls.feed = cls._create_feed("feedt-vendor")

    @classmethod
    def _create_feed(cls, code, **vals):
        return cls.env["stock.channel.supplier.feed"].create(
            {"name": code.title(), "code": code, "partner_id": cls.vendor.id, **vals}
        )

    # -- helpers -------------------------------------------------------------

    def _stock(self, feed=None):
        """``{product: quantity}`` of a feed's stock rows."""
        rows = self.env["stock.channel.supplier.stock"].search(
            [("feed_id", "=", (feed or self.feed).id)]
        )
        return {row.product_id: row.quantity for row in rows}

    def _clear_marks(self):
        self.env.flush_all()
        self.env.cr.execute(
            "DELETE FROM stock_channel_listing_change WHERE listing_id = ANY(%s)",
            [self.listings.ids],
        )
        self.listings.invalidate_recordset()

    def _marked(self):
        """The products whose listings are marked pending since the last
        :meth:`_clear_marks`."""
        self.env.flush_all()
        self.env.cr.execute(
            "SELECT DISTINCT l.product_id FROM stock_channel_listing_change c"
            " JOIN stock_channel_listing l ON l.id = c.listing_id"
            " WHERE c.listing_id = ANY(%s)",
            [self.listings.ids],
        )
        return self.env["product.product"].browse(r[0] for r in self.env.cr.fetchall())

    def _upload(self, data, user=None, feed=None):
        """The upload wizard, run by ``user`` (the manager by default)."""
        wizard = (
            self.env["stock.channel.supplier.feed.upload"]
            .with_user(user or self.manager)
            .create(
                {
                    "feed_id": (feed or self.feed).id,
                    "feed_file": base64.b64encode(data),
                    "filename": "feed.csv",
                }
            )
        )
        wizard.action_upload()
        return wizard
