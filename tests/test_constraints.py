from datetime import timedelta

from odoo import Command, fields
from odoo.exceptions import UserError, ValidationError
from odoo.tests import new_test_user, tagged

from ..adapters.shopify_versions import DEFAULT_VERSION, OLDEST_VERSION
from .common import TECHNICAL_USER_GROUPS, ChannelCase, technical_user
from .shopify_standin import SERVED


@tagged("post_install", "-at_install")
class TestConstraints(ChannelCase):
    """Every bad input is refused with a clear ValidationError, and nothing of
    it is written."""

    def _assert_refused(self, model, message, create_vals=None, record=None, vals=None):
        """Creating ``create_vals`` (or writing ``vals`` on ``record``) raises a
        ValidationError mentioning ``message`` and leaves no trace."""
        Model = self.env[model].with_context(active_test=False)
        if model == "stock.channel" and create_vals is not None:
            create_vals = {"user_id": technical_user(self.env).id, **create_vals}
        count = Model.search_count([])
        # assertRaises (not assertRaisesRegex) rolls back to a savepoint.
        with self.assertRaises(ValidationError) as caught:
            if record is not None:
                record.write(vals)
                record.flush_recordset()
            else:
                Model.create(create_vals)
        self.assertIn(message, str(caught.exception))
        self.assertEqual(Model.search_count([]), count)
        if record is not None:
            record.invalidate_recordset()
            for field, value in vals.items():
                if not isinstance(value, list):
                    self.assertNotEqual(record[field], value)

    # -- buffer rules --------------------------------------------------------

    def test_negative_buffer_value(self):
        """A negative buffer would add stock."""
        self._assert_refused(
            "stock.channel.buffer.rule", "cannot be negative", {"buffer_value": -1}
        )

    def test_negative_zero_below_and_max(self):
        """Thresholds and caps are quantities, never negative."""
        self._assert_refused(
            "stock.channel.buffer.rule", "cannot be negative", {"zero_below": -1}
        )
        self._assert_refused(
            "stock.channel.buffer.rule", "cannot be negative", {"max_quantity": -5}
        )

    def test_percent_over_100(self):
        """A percentage keeps back at most everything."""
        self._assert_refused(
            "stock.channel.buffer.rule",
            "more than 100",
            {"buffer_type": "percent", "buffer_value": 101},
        )
        rule = self._create_rule(buffer_type="percent", buffer_value=100)
        self._assert_refused(
            "stock.channel.buffer.rule",
            "more than 100",
            record=rule,
            vals={"buffer_value": 150},
        )

    def test_rule_company_must_match_channel(self):
        """A channel rule lives in the channel's company."""
        other = self.env["res.company"].create({"name": "Rule Co"})
        self._assert_refused(
            "stock.channel.buffer.rule",
            "company of its channel",
            {"channel_id": self.channel.id, "company_id": other.id},
        )

    # -- listings ------------------------------------------------------------

    def test_pack_size_must_be_positive(self):
        """Zero or negative packs cannot divide stock."""
        for size in (0, -6):
            self._assert_refused(
                "stock.channel.listing",
                "greater than zero",
                {
                    "channel_id": self.channel_both.id,
                    "product_id": self.product_b.id,
                    "pack_size": size,
                },
            )
        self._assert_refused(
            "stock.channel.listing",
            "greater than zero",
            record=self.listing,
            vals={"pack_size": 0},
        )

    def test_duplicate_external_sku(self):
        """One SKU means one listing per channel."""
        self._assert_refused(
            "stock.channel.listing",
            "listed twice",
            {
                "channel_id": self.channel.id,
                "product_id": self.product_b.id,
                "external_sku": self.listing.external_sku,
            },
        )

    def test_same_sku_on_two_channels_allowed(self):
        """Uniqueness is per channel."""
        other = self._create_channel("sku-twin", self.wh_main)
        listing = self._create_listing(other, self.product)
        self.assertEqual(listing.external_sku, self.listing.external_sku)

    def test_non_storable_product(self):
        """Services and untracked goods have no stock to sell."""
        for vals in (
            {"type": "service"},
            {"type": "consu", "is_storable": False},
        ):
            product = self.env["product.product"].create(
                {"name": "No Stock", "default_code": f"NOSTOCK-{vals['type']}", **vals}
            )
            self._assert_refused(
                "stock.channel.listing",
                "does not track inventory",
                {"channel_id": self.channel.id, "product_id": product.id},
            )

    def test_missing_sku(self):
        """Without an internal reference the SKU must be typed."""
        product = self._create_product("No Ref", default_code=False)
        self._assert_refused(
            "stock.channel.listing",
            "needs an external SKU",
            {"channel_id": self.channel.id, "product_id": product.id},
        )

    def test_sku_defaults_to_internal_reference(self):
        """The internal reference is the default SKU."""
        self.assertEqual(self.listing.external_sku, self.product.default_code)

    def test_product_of_other_company(self):
        """A product of another company cannot be sold here."""
        other = self.env["res.company"].create({"name": "Product Co"})
        product = self._create_product("Foreign", company_id=other.id)
        self._assert_refused(
            "stock.channel.listing",
            "another company",
            {"channel_id": self.channel.id, "product_id": product.id},
        )

    # -- channels ------------------------------------------------------------

    def test_duplicate_channel_code(self):
        """Codes appear in URLs: unique per company."""
        self._assert_refused(
            "stock.channel",
            "already uses the code",
            {"name": "Twin", "code": self.channel.code},
        )

    def test_duplicate_code_of_archived_channel(self):
        """An archived channel keeps its code."""
        self.channel.action_archive()
        self._assert_refused(
            "stock.channel",
            "already uses the code",
            {"name": "Twin", "code": self.channel.code},
        )

    def test_same_code_in_other_company_allowed(self):
        """Another company may use the same code."""
        other = self.env["res.company"].create({"name": "Code Co"})
        user = new_test_user(
            self.env,
            login="twin_user",
            groups=TECHNICAL_USER_GROUPS,
            company_id=other.id,
            company_ids=[Command.set(other.ids)],
        )
        channel = self.env["stock.channel"].create(
            {
                "name": "Twin",
                "code": self.channel.code,
                "company_id": other.id,
                "user_id": user.id,
            }
        )
        self.assertEqual(channel.warehouse_ids.company_id, other)

    def test_bad_code_format(self):
        """Lowercase letters, digits, '-' and '_' only."""
        for code in ("Web Store", "WEB", "web/store", "é"):
            self._assert_refused(
                "stock.channel", "may only contain", {"name": "Bad", "code": code}
            )

    def test_reserved_codes(self):
        """The first path segments of the 3PL and supplier feed endpoints."""
        for code in ("3pl", "supplier_feed"):
            self._assert_refused(
                "stock.channel", "is reserved", {"name": "Reserved", "code": code}
            )

    def test_new_shopify_channel_defaults_to_a_served_version(self):
        """The default is a version the (stand-in) Shopify serves today."""
        channel = self.env["stock.channel"].create(
            {
                "name": "Shop",
                "code": "shop-default",
                "adapter": "shopify",
                "user_id": technical_user(self.env).id,
            }
        )
        self.assertEqual(channel.api_version, DEFAULT_VERSION)
        self.assertIn(channel.api_version, SERVED)

    def test_unsupported_shopify_version(self):
        """Too old, not a quarter or not a stable name: refused, naming the
        oldest accepted version."""
        for version in ("2025-01", "2025-10", "2026-02", "unstable", "2026-1"):
            self._assert_refused(
                "stock.channel",
                f"from {OLDEST_VERSION} on",
                {
                    "name": "Old Shop",
                    "code": "old-shop",
                    "adapter": "shopify",
                    "api_version": version,
                },
            )
        self._assert_refused(
            "stock.channel",
            "not supported",
            record=self.channel,
            vals={"adapter": "shopify", "api_version": "2025-01"},
        )

    def test_supported_shopify_versions(self):
        """The oldest accepted version, a later one and an empty field (the
        default) save."""
        self.channel.adapter = "shopify"
        for version in (OLDEST_VERSION, "2026-07", "2027-04", False):
            self.channel.api_version = version
            self.channel.flush_recordset()

    def test_api_version_of_other_adapters_unchecked(self):
        """Only Shopify reads the field: a webhook channel keeps whatever it
        holds, until it becomes a Shopify channel."""
        self.channel.api_version = "2025-01"
        self.channel.flush_recordset()
        self._assert_refused(
            "stock.channel",
            "not supported",
            record=self.channel,
            vals={"adapter": "shopify"},
        )

    def test_warehouse_of_other_company(self):
        """A channel cannot sell another company's stock."""
        other = self.env["res.company"].create({"name": "Warehouse Co"})
        foreign = self.env["stock.warehouse"].search(
            [("company_id", "=", other.id)], limit=1
        )
        self._assert_refused(
            "stock.channel",
            "of another company",
            {
                "name": "Bad",
                "code": "bad-wh",
                "warehouse_ids": [Command.set(foreign.ids)],
            },
        )
        self._assert_refused(
            "stock.channel",
            "of another company",
            record=self.channel,
            vals={"warehouse_ids": [Command.link(foreign.id)]},
        )

    def test_batch_interval_at_least_one_minute(self):
        """A zero interval would publish continuously."""
        self._assert_refused(
            "stock.channel",
            "at least one minute",
            {"name": "Bad", "code": "bad-interval", "batch_interval": 0},
        )

    def test_monitoring_values_not_negative(self):
        """A negative threshold or interval means nothing: refused."""
        for field in (
            "alert_max_lag",
            "alert_max_failed_jobs",
            "alert_max_discrepancies",
            "reconcile_interval",
        ):
            self._assert_refused(
                "stock.channel",
                "cannot be negative",
                record=self.channel,
                vals={field: -1},
            )

    def test_default_warehouses_are_the_company_warehouses(self):
        """A new channel sells every warehouse of its company."""
        channel = self.env["stock.channel"].create(
            {"name": "Default", "code": "dflt", "user_id": technical_user(self.env).id}
        )
        self.assertEqual(
            channel.warehouse_ids,
            self.env["stock.warehouse"].search([("company_id", "=", self.company.id)]),
        )


@tagged("post_install", "-at_install")
class TestChannelCompanyChecks(ChannelCase):
    """Odoo's own company check on the channel's company-bound fields."""

    def test_pricelist_of_another_company_refused(self):
        """_check_company_auto: a pricelist or shipping product of another
        company cannot be set on a channel."""
        other = self.env["res.company"].create({"name": "Pricelist Co"})
        pricelist = self.env["product.pricelist"].create(
            {"name": "Other's", "company_id": other.id}
        )
        with self.assertRaises(UserError):
            self.channel.pricelist_id = pricelist
            self.channel.flush_recordset()
        product = self.env["product.product"].create(
            {"name": "Other's shipping", "type": "service", "company_id": other.id}
        )
        with self.assertRaises(UserError):
            self.channel.shipping_product_id = product
            self.channel.flush_recordset()


@tagged("post_install", "-at_install")
class TestTechnicalUser(ChannelCase):
    """Least privilege: a channel's jobs and orders never run as a superuser
    or an administrator."""

    def _refused(self, user, message):
        with self.assertRaises(ValidationError) as caught:
            self.channel.user_id = user
        self.assertIn(message, str(caught.exception))

    def test_superuser_and_administrators_refused(self):
        self._refused(self.env.ref("base.user_root"), "OdooBot")
        self._refused(self.env.ref("base.user_admin"), "administrators")
        settings = new_test_user(
            self.env,
            login="tu_settings",
            groups="base.group_user,base.group_erp_manager",
        )
        self._refused(settings, "administrators")

    def test_portal_inactive_and_foreign_users_refused(self):
        portal = new_test_user(self.env, login="tu_portal", groups="base.group_portal")
        self._refused(portal, "active internal user")
        archived = new_test_user(
            self.env, login="tu_archived", groups=TECHNICAL_USER_GROUPS
        )
        archived.active = False
        self._refused(archived, "active internal user")
        other = self.env["res.company"].create({"name": "TU Other Co"})
        foreign = new_test_user(
            self.env,
            login="tu_foreign",
            groups=TECHNICAL_USER_GROUPS,
            company_id=other.id,
            company_ids=[Command.set(other.ids)],
        )
        self._refused(foreign, "company")

    def test_no_default_and_required_to_activate(self):
        """No technical user by default: an archived channel may wait for
        one, an active channel may not."""
        draft = self.env["stock.channel"].create(
            {"name": "Draft", "code": "tu-draft", "active": False}
        )
        self.assertFalse(draft.user_id)
        with self.assertRaisesRegex(ValidationError, "needs a technical user"):
            draft.active = True
        with self.assertRaisesRegex(ValidationError, "needs a technical user"):
            self.env["stock.channel"].create({"name": "Live", "code": "tu-live"})
        draft.write({"user_id": technical_user(self.env).id, "active": True})
        self.assertTrue(draft.active)


@tagged("post_install", "-at_install")
class TestTechnicalUserPromotion(ChannelCase):
    """A channel's technical user made an administrator later would run its
    jobs with every access rule skipped: the change of rights is refused,
    whichever side it is made from, and nothing is changed."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.bot = new_test_user(
            cls.env, login="tu_promoted", groups=TECHNICAL_USER_GROUPS
        )
        cls.channel.user_id = cls.bot
        cls.system = cls.env.ref("base.group_system")

    def _refused(self, change):
        with (
            self.assertRaisesRegex(ValidationError, "Test-Web.*Choose another"),
            self.env.cr.savepoint(),
        ):
            change()
        admin_groups = self.system | self.env.ref("base.group_erp_manager")
        self.env.cr.execute(
            "SELECT gid FROM res_groups_users_rel WHERE uid = %s AND gid = ANY(%s)",
            [self.bot.id, admin_groups.ids],
        )
        self.assertFalse(self.env.cr.fetchall())

    def test_promotion_on_the_user_refused(self):
        self._refused(
            lambda: self.bot.write({"groups_id": [Command.link(self.system.id)]})
        )
        access = self.env.ref("base.group_erp_manager")
        self._refused(lambda: self.bot.write({"groups_id": [Command.link(access.id)]}))

    def test_promotion_on_the_group_refused(self):
        """Adding the user to the group, or making one of the user's groups
        imply administration."""
        self._refused(lambda: self.system.write({"users": [Command.link(self.bot.id)]}))
        team = self.env["res.groups"].create(
            {"name": "TU team", "users": [Command.link(self.bot.id)]}
        )
        self._refused(
            lambda: team.write({"implied_ids": [Command.link(self.system.id)]})
        )

    def test_users_unfit_before_do_not_block_group_data(self):
        """An upgraded database may hold a channel run by an administrator
        until its migration archives it: the module's group data, which adds
        the administrator to Channel Sync: Manager, still loads."""
        admin = self.env.ref("base.user_admin")
        legacy = self._create_channel("tu-legacy", self.wh_main)
        self.env.flush_all()
        self.env.cr.execute(
            "UPDATE stock_channel SET user_id = %s WHERE id = %s", [admin.id, legacy.id]
        )
        manager = self.env.ref("stock_channel_sync.group_channel_manager")
        manager.write(
            {
                "users": [
                    Command.link(admin.id),
                    Command.link(self.env.ref("base.user_root").id),
                ]
            }
        )
        admin.write({"groups_id": [Command.link(manager.id)]})
        self._refused(
            lambda: self.bot.write({"groups_id": [Command.link(self.system.id)]})
        )

    def test_other_users_and_archived_channels_unaffected(self):
        """A user who runs no active channel can be promoted; an archived
        channel's is checked when the channel is reactivated."""
        other = new_test_user(
            self.env, login="tu_not_technical", groups=TECHNICAL_USER_GROUPS
        )
        other.write({"groups_id": [Command.link(self.system.id)]})
        self.assertTrue(other.has_group("base.group_system"))
        self.channel.active = False
        self.bot.write({"groups_id": [Command.link(self.system.id)]})
        with self.assertRaisesRegex(ValidationError, "administrators"):
            self.channel.active = True


@tagged("post_install", "-at_install")
class TestPreviousSecretVacuum(ChannelCase):
    """A rotated-out webhook secret is erased once its overlap is over."""

    def test_expired_previous_secret_erased(self):
        now = fields.Datetime.now()
        current = self._create_channel("vac-current", self.wh_main)
        empty_until = self._create_channel("vac-no-date", self.wh_main)
        self.channel.write(
            {
                "previous_webhook_secret": "old-expired",
                "previous_secret_valid_until": now - timedelta(minutes=1),
            }
        )
        current.write(
            {
                "previous_webhook_secret": "old-still-valid",
                "previous_secret_valid_until": now + timedelta(hours=2),
            }
        )
        empty_until.previous_webhook_secret = "old-never-valid"
        Channel = self.env["stock.channel"]
        self.assertTrue(
            getattr(type(Channel)._gc_previous_secrets, "_autovacuum", False)
        )
        Channel._gc_previous_secrets()
        self.assertFalse(self.channel.previous_webhook_secret)
        self.assertFalse(self.channel.previous_secret_valid_until)
        self.assertFalse(empty_until.previous_webhook_secret)
        self.assertEqual(current.previous_webhook_secret, "old-still-valid")
        self.assertEqual(current._inbound_secrets()[1:], ["old-still-valid"])
        self.assertEqual(self.channel._inbound_secrets(), [self.channel.webhook_secret])
