from odoo import Command
from odoo.exceptions import AccessError
from odoo.tests import new_test_user, tagged

from .common import TECHNICAL_USER_GROUPS, ChannelCase, technical_user


@tagged("post_install", "-at_install")
class TestSecurity(ChannelCase):
    """Users read, managers configure and see credentials, companies stay
    apart, and stock users without channel rights still mark listings."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.channel.webhook_secret = "s3cret"
        cls.rule = cls._create_rule(channel_id=cls.channel.id, buffer_value=1)
        cls.user = new_test_user(
            cls.env,
            login="channel_user",
            groups="stock.group_stock_user,stock_channel_sync.group_channel_user",
        )
        cls.manager = new_test_user(
            cls.env,
            login="channel_manager",
            groups="stock.group_stock_user,stock_channel_sync.group_channel_manager",
        )
        cls.stock_user = new_test_user(
            cls.env, login="plain_stock_user", groups="stock.group_stock_user"
        )

    def test_user_reads_but_cannot_configure(self):
        """Channel users see channels, listings and rules, change nothing."""
        channel = self.channel.with_user(self.user)
        self.assertEqual(channel.name, self.channel.name)
        self.assertTrue(channel.listing_ids)
        self.assertIsInstance(channel.listing_ids.atp_qty, int)
        self.assertEqual(self.rule.with_user(self.user).buffer_value, 1)
        with self.assertRaises(AccessError):
            channel.write({"name": "Hacked"})
        with self.assertRaises(AccessError):
            self.env["stock.channel"].with_user(self.user).create(
                {"name": "New", "code": "new-by-user"}
            )
        with self.assertRaises(AccessError):
            self.listing.with_user(self.user).write({"pack_size": 2})
        with self.assertRaises(AccessError):
            self.rule.with_user(self.user).unlink()

    def test_user_cannot_read_credentials(self):
        """Secrets are for managers only."""
        channel = self.channel.with_user(self.user)
        with self.assertRaises(AccessError):
            channel.read(["webhook_secret"])
        self.assertNotIn("webhook_secret", channel.fields_get())
        self.assertNotIn("api_key", channel.fields_get())

    def test_manager_configures_and_reads_credentials(self):
        """Managers create channels, listings and rules and see secrets."""
        channel = self.channel.with_user(self.manager)
        self.assertEqual(channel.webhook_secret, "s3cret")
        channel.write({"api_key": "key-1"})
        new = (
            self.env["stock.channel"]
            .with_user(self.manager)
            .create(
                {
                    "name": "Managed",
                    "code": "managed",
                    "user_id": technical_user(self.env).id,
                }
            )
        )
        self.env["stock.channel.listing"].with_user(self.manager).create(
            {"channel_id": new.id, "product_id": self.product.id}
        )
        self.env["stock.channel.buffer.rule"].with_user(self.manager).create(
            {"channel_id": new.id, "buffer_value": 3}
        )
        self.assertEqual(new.listing_count, 1)

    def test_stock_user_without_channel_rights(self):
        """No channel access needed to move stock: the marks still land."""
        self._set_stock(self.product, self.stock_main, 10)
        self._clear_pending()
        with self.assertRaises(AccessError):
            self.channel.with_user(self.stock_user).read(["name"])
        env = self.env(user=self.stock_user)
        picking = env["stock.picking"].create(
            {
                "picking_type_id": self.wh_main.out_type_id.id,
                "location_id": self.stock_main.id,
                "location_dest_id": self.customer_loc.id,
                "move_ids": [
                    Command.create(
                        {
                            "name": "x",
                            "product_id": self.product.id,
                            "product_uom_qty": 2,
                            "product_uom": self.product.uom_id.id,
                            "location_id": self.stock_main.id,
                            "location_dest_id": self.customer_loc.id,
                        }
                    )
                ],
            }
        )
        picking.action_confirm()
        picking.action_assign()
        self._flush_marks()
        self.listing.invalidate_recordset()
        self.assertTrue(self.listing.pending)


@tagged("post_install", "-at_install")
class TestMultiCompany(ChannelCase):
    """Channels, listings and rules of one company are invisible to another."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company_b = cls.env["res.company"].create({"name": "Channel Co B"})
        cls.wh_b = cls.env["stock.warehouse"].search(
            [("company_id", "=", cls.company_b.id)], limit=1
        )
        cls.global_rule_a = cls._create_rule(buffer_value=1)
        cls.manager_b = new_test_user(
            cls.env,
            login="manager_b",
            groups="stock.group_stock_user,stock_channel_sync.group_channel_manager",
            company_id=cls.company_b.id,
            company_ids=[Command.set(cls.company_b.ids)],
        )
        cls.product_shared = cls._create_product("Shared Widget")
        cls.channel_b = (
            cls.env["stock.channel"]
            .with_company(cls.company_b)
            .create(
                {
                    "name": "B Store",
                    "code": cls.channel.code,
                    "company_id": cls.company_b.id,
                    "user_id": new_test_user(
                        cls.env,
                        login="robot_b",
                        groups=TECHNICAL_USER_GROUPS,
                        company_id=cls.company_b.id,
                        company_ids=[Command.set(cls.company_b.ids)],
                    ).id,
                }
            )
        )
        cls.listing_b = cls._create_listing(cls.channel_b, cls.product_shared)
        cls.env["stock.quant"]._update_available_quantity(
            cls.product_shared, cls.wh_b.lot_stock_id, 9
        )
        cls.env["stock.quant"]._update_available_quantity(
            cls.product_shared, cls.stock_main, 100
        )

    def test_other_company_records_invisible(self):
        """Company B sees its own channel, not company A's."""
        env_b = self.env(user=self.manager_b)
        self.assertEqual(env_b["stock.channel"].search([]), self.channel_b)
        self.assertEqual(env_b["stock.channel.listing"].search([]), self.listing_b)
        self.assertNotIn(
            self.global_rule_a, env_b["stock.channel.buffer.rule"].search([])
        )
        with self.assertRaises(AccessError):
            self.channel.with_user(self.manager_b).read(["name"])
        with self.assertRaises(AccessError):
            self.listing.with_user(self.manager_b).read(["atp_qty"])

    def test_other_company_discrepancies_and_alerts_invisible(self):
        """Monitoring rows follow their channel's company."""
        rows = {}
        for listing in (self.listing, self.listing_b):
            rows[listing] = self.env["stock.channel.discrepancy"].create(
                {
                    "listing_id": listing.id,
                    "channel_id": listing.channel_id.id,
                    "kind": "channel_drift",
                }
            )
        alert_a = self.env["stock.channel.alert"].create(
            {"channel_id": self.channel.id, "kind": "drift"}
        )
        env_b = self.env(user=self.manager_b)
        self.assertEqual(
            env_b["stock.channel.discrepancy"].search([]), rows[self.listing_b]
        )
        self.assertNotIn(alert_a, env_b["stock.channel.alert"].search([]))
        with self.assertRaises(AccessError):
            rows[self.listing].with_user(self.manager_b).read(["kind"])

    def test_other_company_change_log_and_move_traces_invisible(self):
        """The unpublished-change log and the move traces carry their
        company: company B reads only its own rows."""
        self._flush_marks()
        self._set_stock(self.product_shared, self.wh_b.lot_stock_id, 1)
        self._set_stock(self.product, self.stock_main, 1)
        picking = self._create_delivery(self.product, 1)
        self._flush_marks()
        Change = self.env["stock.channel.listing.change"]
        mine = Change.search([("channel_id", "=", self.channel.id)])
        theirs = Change.search([("channel_id", "=", self.channel_b.id)])
        self.assertTrue(mine and theirs)
        self.assertEqual(set(mine.mapped("company_id")), {self.company.id})
        env_b = self.env(user=self.manager_b)
        self.assertEqual(env_b["stock.channel.listing.change"].search([]), theirs)
        traces = self.env["stock.channel.move.trace"].search(
            [("move_id", "in", picking.move_ids.ids)]
        )
        self.assertTrue(traces)
        self.assertEqual(set(traces.mapped("company_id")), {self.company.id})
        self.assertFalse(
            env_b["stock.channel.move.trace"].search([("id", "in", traces.ids)])
        )

    def test_company_b_channel_defaults_to_its_warehouses(self):
        """A channel sells its own company's warehouses by default."""
        self.assertEqual(self.channel_b.warehouse_ids, self.wh_b)

    def test_atp_sees_only_own_company_stock_and_rules(self):
        """Company A's stock and A's global rule never reach company B."""
        listing = self.listing_b.with_user(self.manager_b)
        self.assertEqual(listing.atp_qty, 9)

    def test_global_rule_without_company_applies_everywhere(self):
        """A rule with no company is a rule for all."""
        self._create_rule(buffer_value=4, company_id=False)
        self.assertEqual(self._atp(self.listing_b), 5)
