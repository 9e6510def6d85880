import json
import uuid

from odoo import SUPERUSER_ID, Command, api
from odoo.exceptions import UserError
from odoo.modules.registry import Registry
from odoo.tests import TransactionCase, get_db_name, new_test_user
from odoo.tools import SQL

from ..controllers.status import status_of
from ..services.atp import AtpEngine

# What a channel's technical user needs, and no more (no administrator).
TECHNICAL_USER_GROUPS = (
    "base.group_user,stock.group_stock_user,sales_team.group_sale_salesman,"
    "base.group_partner_manager,stock_channel_sync.group_channel_manager"
)


def run_autovacuum(env):
    """What Odoo's daily autovacuum runs of this addon's retention, without
    the commits ``ir.autovacuum`` makes between methods."""
    for name in env.registry:
        model = env[name]
        for attr in dir(type(model)):
            method = getattr(type(model), attr, None)
            if (
                callable(method)
                and getattr(method, "_autovacuum", False)
                and method.__module__.startswith("odoo.addons.stock_channel_sync.")
            ):
                method(model)


def technical_user(env, login="scs_technical_user"):
    """An internal user fit to be a channel's technical user (shared by the
    tests of one database, created once)."""
    user = (
        env["res.users"].with_context(active_test=False).search([("login", "=", login)])
    )
    return user or new_test_user(env, login=login, groups=TECHNICAL_USER_GROUPS)


class ChannelCase(TransactionCase):
    """Two warehouses, a category tree, storable products and two channels:
    ``channel`` sells the main warehouse, ``channel_both`` both warehouses.

    Pre-existing buffer rules (demo data) are archived so that each test sees
    only the rules it creates.
    """

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env = cls.env(context=dict(cls.env.context, tracking_disable=True))
        # The local marketplaces of the tests listen on plain http, loopback.
        cls.env["ir.config_parameter"].set_param(
            "stock_channel_sync.allowed_http_hosts", "127.0.0.1"
        )
        cls.env["stock.channel.buffer.rule"].search([]).action_archive()
        cls.company = cls.env.company
        cls.wh_main = cls.env["stock.warehouse"].search(
            [("company_id", "=", cls.company.id)], limit=1
        )
        cls.wh_other = cls.env["stock.warehouse"].create(
            {"name": "ATP Test Second", "code": "ATP2"}
        )
        cls.stock_main = cls.wh_main.lot_stock_id
        cls.stock_other = cls.wh_other.lot_stock_id
        cls.supplier_loc = cls.env.ref("stock.stock_location_suppliers")
        cls.customer_loc = cls.env.ref("stock.stock_location_customers")
        cls.categ_parent = cls.env["product.category"].create({"name": "ATP Parent"})
        cls.categ_child = cls.env["product.category"].create(
            {"name": "ATP Child", "parent_id": cls.categ_parent.id}
        )
        cls.product = cls._create_product("ATP Widget", cls.categ_child)
        cls.product_b = cls._create_product("ATP Gadget", cls.categ_parent)
        cls.channel = cls._create_channel("test-web", cls.wh_main)
        cls.channel_both = cls._create_channel("test-b2b", cls.wh_main | cls.wh_other)
        cls.listing = cls._create_listing(cls.channel, cls.product)
        cls.listing_both = cls._create_listing(cls.channel_both, cls.product)

    # -- builders ------------------------------------------------------------

    @classmethod
    def _create_product(cls, name, categ=None, **vals):
        return cls.env["product.product"].create(
            {
                "name": name,
                "default_code": name.upper().replace(" ", "-"),
                "is_storable": True,
                "categ_id": (categ or cls.categ_parent).id,
                **vals,
            }
        )

    @classmethod
    def _create_channel(cls, code, warehouses, **vals):
        return cls.env["stock.channel"].create(
            {
                "name": code.title(),
                "code": code,
                "warehouse_ids": [Command.set(warehouses.ids)],
                "user_id": technical_user(cls.env).id,
                **vals,
            }
        )

    @classmethod
    def _create_listing(cls, channel, product, **vals):
        return cls.env["stock.channel.listing"].create(
            {"channel_id": channel.id, "product_id": product.id, **vals}
        )

    @classmethod
    def _create_rule(cls, **vals):
        return cls.env["stock.channel.buffer.rule"].create(vals)

    def _set_stock(self, product, location, quantity):
        """Add ``quantity`` on hand, as a stock move would."""
        self.env["stock.quant"]._update_available_quantity(product, location, quantity)

    def _create_picking(self, picking_type, product, quantity, src, dest):
        picking = self.env["stock.picking"].create(
            {
                "picking_type_id": picking_type.id,
                "location_id": src.id,
                "location_dest_id": dest.id,
                "move_ids": [
                    (
                        0,
                        0,
                        {
                            "name": product.display_name,
                            "product_id": product.id,
                            "product_uom_qty": quantity,
                            "product_uom": product.uom_id.id,
                            "location_id": src.id,
                            "location_dest_id": dest.id,
                        },
                    )
                ],
            }
        )
        picking.action_confirm()
        return picking

    def _create_delivery(self, product, quantity, warehouse=None, reserve=True):
        """A confirmed delivery; reserved (as far as stock allows) or not."""
        warehouse = warehouse or self.wh_main
        picking = self._create_picking(
            warehouse.out_type_id,
            product,
            quantity,
            warehouse.lot_stock_id,
            self.customer_loc,
        )
        if reserve:
            picking.action_assign()
        else:
            picking.do_unreserve()
        return picking

    def _create_receipt(self, product, quantity, warehouse=None):
        warehouse = warehouse or self.wh_main
        return self._create_picking(
            warehouse.in_type_id,
            product,
            quantity,
            self.supplier_loc,
            warehouse.lot_stock_id,
        )

    # -- reading -------------------------------------------------------------

    def _atp_result(self, listing):
        """What the engine says of one listing, with its breakdown."""
        return AtpEngine(self.env).compute(listing.ids)[listing.id]

    def _atp(self, listing):
        """The quantity the listing would publish now."""
        return self._atp_result(listing).qty

    def _failed_publication(self):
        """The message of a publication (``self._publish()``) that fails its
        job. The failed rows are written by a separate cursor: test mode lets
        it see this test's uncommitted data (no assertRaises: its savepoint
        would roll those rows back)."""
        self.registry.enter_test_mode(self.cr)
        self.addCleanup(self.registry.leave_test_mode)
        try:
            self._publish()
        except UserError as exc:
            return str(exc)
        self.fail("the publication must fail")

    def _flush_marks(self):
        """Run what a commit runs: flush, then the precommit marking."""
        self.env.flush_all()
        self.env.cr.flush()

    def _clear_pending(self, listings=None):
        """Pretend everything was published, after draining earlier marks."""
        self._flush_marks()
        listings = listings or self.env["stock.channel.listing"].search([])
        self.env.cr.execute(
            "DELETE FROM stock_channel_listing_change WHERE listing_id = ANY(%s)",
            [listings.ids],
        )
        listings.invalidate_recordset()


ROBOT_GROUPS = (
    "stock.group_stock_user,sales_team.group_sale_salesman,"
    "base.group_partner_manager,stock_channel_sync.group_channel_manager"
)


class OrderCase(ChannelCase):
    """``ChannelCase`` with a technical user (``robot``) that runs the
    channels' orders, 30 units of ``product`` in the main warehouse and no
    dependency on demo data."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.robot = new_test_user(cls.env, login="order_robot", groups=ROBOT_GROUPS)
        cls.channel.user_id = cls.robot
        cls.channel_both.user_id = cls.robot
        cls.env["stock.quant"]._update_available_quantity(
            cls.product, cls.stock_main, 30
        )

    @classmethod
    def _foreign_currency(cls, name="EUR"):
        """An active currency other than the company's, EUR or else USD."""
        if cls.company.currency_id.name == name:
            name = "USD" if name != "USD" else "EUR"
        currency = cls.env.ref(f"base.{name}")
        currency.active = True
        return currency

    def _receive(self, channel, body, event="create"):
        """What the order webhook does once the signature is checked."""
        channel = channel.with_user(self.robot)
        if not isinstance(body, bytes):
            body = json.dumps(body).encode()
        return answered(
            channel.env["stock.channel.order"]._receive(channel, event, body)
        )

    def _channel_order(self, channel, external_id):
        return self.env["stock.channel.order"].search(
            [("channel_id", "=", channel.id), ("external_id", "=", str(external_id))]
        )


def answered(outcome):
    """``(HTTP status, JSON answer)`` of an intake's outcome, as the order
    endpoint answers it."""
    return status_of(outcome), outcome.answer


def create_committed_channel(prefix, with_listing=False):
    """A channel committed on its own connection, for tests whose other
    connections must see it (call before the test class's transaction
    starts); returns its id, or ``(channel id, listing id)`` with a listing
    of a new storable product."""
    with Registry(get_db_name()).cursor() as cr:
        env = api.Environment(
            cr,
            SUPERUSER_ID,
            {"tracking_disable": True, "mail_create_nolog": True},
        )
        code = f"{prefix}-{uuid.uuid4().hex[:8]}"
        channel = env["stock.channel"].create(
            {
                "name": code,
                "code": code,
                "user_id": technical_user(env, "scs_committed_user").id,
            }
        )
        if not with_listing:
            return channel.id
        product = env["product.product"].create(
            {"name": code, "default_code": code.upper(), "is_storable": True}
        )
        listing = env["stock.channel.listing"].create(
            {"channel_id": channel.id, "product_id": product.id}
        )
        return channel.id, listing.id


def drop_committed_channel(channel_id):
    """Remove what :func:`create_committed_channel` committed."""
    with Registry(get_db_name()).cursor() as cr:
        cr.execute(
            SQL(
                "SELECT product_id FROM stock_channel_listing WHERE channel_id = %s",
                channel_id,
            )
        )
        product_ids = [row[0] for row in cr.fetchall()]
        for table in (
            "stock_channel_order",
            "stock_channel_listing_change",
            "stock_channel_warehouse_rel",
        ):
            cr.execute(
                SQL(
                    "DELETE FROM %s WHERE channel_id = %s",
                    SQL.identifier(table),
                    channel_id,
                )
            )
        cr.execute(SQL("DELETE FROM stock_channel WHERE id = %s", channel_id))
        if product_ids:
            cr.execute(
                SQL(
                    "DELETE FROM product_template WHERE id IN ("
                    " SELECT product_tmpl_id FROM product_product WHERE id = ANY(%s))",
                    product_ids,
                )
            )
