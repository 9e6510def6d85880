import importlib.util
import json
from pathlib import Path
from unittest.mock import patch

import psycopg2

from odoo.tests import new_test_user, tagged
from odoo.tools import mute_logger

from ..adapters import shopify_versions
from ..services.sandbox import SandboxShelf
from .common import ChannelCase, OrderCase, answered

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def load_migration(version, name):
    spec = importlib.util.spec_from_file_location(
        f"scs_migration_{version}", MIGRATIONS / version / name
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@tagged("post_install", "-at_install")
class TestMigrations(ChannelCase):
    def test_retired_shopify_versions_move_to_the_default(self):
        """18.0.1.1.0: a Shopify channel left on 2025-01 (the old default)
        is moved to the default version; others are left alone."""
        shopify = self._create_channel(
            "old-shopify", self.wh_main, adapter="shopify", location_ref="1"
        )
        current = self._create_channel(
            "new-shopify",
            self.wh_main,
            adapter="shopify",
            location_ref="1",
            api_version="2026-04",
        )
        self.env.flush_all()
        self.env.cr.execute(
            "UPDATE stock_channel SET api_version = '2025-01' WHERE id = %s",
            [shopify.id],
        )
        load_migration("18.0.1.1.0", "post-migration.py").migrate(
            self.env.cr, "18.0.1.0.0"
        )
        (shopify | current).invalidate_recordset()
        self.assertEqual(shopify.api_version, shopify_versions.DEFAULT_VERSION)
        self.assertEqual(current.api_version, "2026-04")
        self.assertEqual(self.channel.api_version, shopify_versions.DEFAULT_VERSION)

    def test_frozen_versions_do_not_follow_todays_constants(self):
        """18.0.1.1.0 moves channels to the versions it shipped with, even
        once the addon's own default and oldest versions have moved on."""
        old = self._create_channel(
            "frozen-shopify", self.wh_main, adapter="shopify", location_ref="1"
        )
        kept = self._create_channel(
            "kept-shopify",
            self.wh_main,
            adapter="shopify",
            location_ref="1",
            api_version="2026-04",
        )
        self.env.flush_all()
        self.env.cr.execute(
            "UPDATE stock_channel SET api_version = '2025-07' WHERE id = %s", [old.id]
        )
        migration = load_migration("18.0.1.1.0", "post-migration.py")
        with (
            patch.object(shopify_versions, "DEFAULT_VERSION", "2027-10"),
            patch.object(shopify_versions, "OLDEST_VERSION", "2027-01"),
        ):
            migration.migrate(self.env.cr, "18.0.1.0.0")
        (old | kept).invalidate_recordset()
        self.assertEqual(old.api_version, "2026-10")
        self.assertEqual(kept.api_version, "2026-04")


@tagged("post_install", "-at_install")
class TestPostgresql12Indexes(ChannelCase):
    """18.0.1.3.0: no ``NULLS NOT DISTINCT`` (PostgreSQL 15+) anywhere; "no
    location" is still one location for the shelf and open discrepancies."""

    def _definitions(self):
        self.env.cr.execute(
            """
            SELECT indexname, indexdef FROM pg_indexes
             WHERE tablename LIKE 'stock\\_channel%'
             UNION ALL
            SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint
             WHERE conrelid::regclass::text LIKE 'stock\\_channel%'
            """
        )
        return dict(self.env.cr.fetchall())

    def _sandbox(self):
        return self._create_channel("pg12-sandbox", self.wh_main, adapter="sandbox")

    def test_installed_schema_works_on_postgresql_12(self):
        """Neither the addon's indexes nor its constraints use it."""
        definitions = self._definitions()
        self.assertIn("stock_channel_sandbox_shelf_sku_uniq", definitions)
        self.assertIn("stock_channel_discrepancy_open_key_uniq", definitions)
        offending = {
            name: d for name, d in definitions.items() if "NULLS NOT DISTINCT" in d
        }
        self.assertFalse(offending)

    def test_no_location_is_one_location(self):
        """Two shelvings of a summed channel's SKU update one row; a second
        row with no location is refused by the index."""
        channel = self._sandbox()
        shelf = SandboxShelf(channel)
        shelf.put([(self.listing.id, "PG12-SKU", "", 4)], "b1")
        shelf.put([(self.listing.id, "PG12-SKU", "", 6)], "b2")
        shelf.put([(self.listing.id, "PG12-SKU", "east", 1)], "b3")
        self.assertEqual(
            shelf.shown(["PG12-SKU"]), {("PG12-SKU", ""): 6, ("PG12-SKU", "east"): 1}
        )
        with (
            self.assertRaises(psycopg2.errors.UniqueViolation),
            mute_logger("odoo.sql_db"),
            self.env.cr.savepoint(),
        ):
            self.env.cr.execute(
                """
                INSERT INTO stock_channel_sandbox_shelf
                       (channel_id, company_id, external_sku, quantity)
                VALUES (%s, %s, 'PG12-SKU', 1)
                """,
                [channel.id, channel.company_id.id],
            )

    def test_upgrade_replaces_the_postgresql_15_keys(self):
        """A database upgraded on PostgreSQL 15+ holds the old keys: the
        migration drops them and leaves the new indexes; run twice, it
        changes nothing more."""
        cr = self.env.cr
        if cr._cnx.server_version < 150000:
            # Those keys exist only on databases installed on PostgreSQL 15+.
            self.skipTest("the old keys need PostgreSQL 15 or newer")
        cr.execute(
            """
            DROP INDEX stock_channel_sandbox_shelf_sku_uniq;
            DROP INDEX stock_channel_discrepancy_open_key_uniq;
            ALTER TABLE stock_channel_sandbox_shelf
              ADD CONSTRAINT stock_channel_sandbox_shelf_channel_sku_uniq
                  UNIQUE NULLS NOT DISTINCT (channel_id, external_sku, location_ref);
            CREATE UNIQUE INDEX stock_channel_discrepancy_open_location_uniq
                ON stock_channel_discrepancy (listing_id, kind, location_ref)
                NULLS NOT DISTINCT WHERE state = 'open';
            """
        )
        migration = load_migration("18.0.1.3.0", "post-pg12-indexes.py")
        migration.migrate(cr, "18.0.1.2.0")
        migration.migrate(cr, "18.0.1.2.0")
        definitions = self._definitions()
        self.assertNotIn("stock_channel_sandbox_shelf_channel_sku_uniq", definitions)
        self.assertNotIn("stock_channel_discrepancy_open_location_uniq", definitions)
        self.assertIn(
            "COALESCE(location_ref, ''::character varying)",
            definitions["stock_channel_sandbox_shelf_sku_uniq"],
        )
        self.assertIn(
            "WHERE ((state)::text = 'open'::text)",
            definitions["stock_channel_discrepancy_open_key_uniq"],
        )
        # The upserts find their key again.
        shelf = SandboxShelf(self._sandbox())
        shelf.put([(self.listing.id, "PG12-UP", "", 2)], "b1")
        shelf.put([(self.listing.id, "PG12-UP", "", 3)], "b2")
        self.assertEqual(shelf.shown(["PG12-UP"]), {("PG12-UP", ""): 3})


@tagged("post_install", "-at_install")
class TestTechnicalUserMigration(OrderCase):
    """18.0.1.3.0: active channels run by an administrator or OdooBot (kept
    from releases that defaulted to the channel's creator) are archived
    without a technical user, their queued jobs that would run as that user
    cancelled, and their responsible gets a to-do."""

    def _channel_run_by(self, code, user, **vals):
        channel = self._create_channel(code, self.wh_main, **vals)
        self._create_listing(channel, self.product)
        self.env.flush_all()
        # What an older release left behind: the check on save came later.
        self.env.cr.execute(
            "UPDATE stock_channel SET user_id = %s WHERE id = %s", [user.id, channel.id]
        )
        channel.invalidate_recordset()
        # Jobs queued while it was still run by the fit user are not at stake.
        self.env["queue.job"].search(
            [("identity_key", "like", f"stock_channel_sync.%.{channel.id}")]
        ).unlink()
        return channel

    def _migrate(self):
        load_migration("18.0.1.3.0", "post-technical-users.py").migrate(
            self.env.cr, "18.0.1.2.0"
        )
        self.env.invalidate_all()

    def test_admin_and_odoobot_channels_archived_with_a_todo(self):
        admin = self.env.ref("base.user_admin")
        bot = self.env.ref("base.user_root")
        settings = new_test_user(
            self.env,
            login="mig_settings",
            groups="base.group_user,base.group_erp_manager",
        )
        boss = new_test_user(self.env, login="mig_boss", groups="base.group_user")
        by_admin = self._channel_run_by("mig-admin", admin, responsible_id=boss.id)
        by_bot = self._channel_run_by("mig-bot", bot)
        by_settings = self._channel_run_by("mig-settings", settings)
        archived = self._channel_run_by("mig-archived", admin, active=False)
        # Queued before the upgrade, as the administrator: a publication and
        # an order confirmation.
        by_admin.with_user(admin)._enqueue_publication(delay=0)
        body = {
            "external_id": "MIG-1",
            "customer": {"name": "Mig", "email": "mig@example.com"},
            "lines": [
                {"sku": self.listing.external_sku, "quantity": 1, "unit_price": 5}
            ],
        }
        admin_channel = by_admin.with_user(admin)
        status, answer = answered(
            admin_channel.env["stock.channel.order"]._receive(
                admin_channel, "create", json.dumps(body).encode()
            )
        )
        self.assertEqual(status, 202, answer)
        order = self._channel_order(by_admin, "MIG-1")
        # The healthy channel's own queued job is not touched.
        self.channel._enqueue_publication(delay=0)
        Job = self.env["queue.job"]
        jobs = Job.search([("user_id", "=", admin.id), ("state", "=", "pending")])
        self.assertEqual(
            len(jobs),
            2,
            Job.search([]).read(["method_name", "user_id", "state", "identity_key"]),
        )
        healthy_jobs = Job.search(
            [("identity_key", "=", f"stock_channel_sync.publish.{self.channel.id}")]
        )
        self.assertEqual(healthy_jobs.state, "pending")

        self._migrate()

        for channel in by_admin | by_bot | by_settings:
            self.assertFalse(channel.active, channel.code)
            self.assertFalse(channel.user_id, channel.code)
            (todo,) = channel.activity_ids
            self.assertIn("Choose a technical user", todo.summary)
            self.assertTrue(todo.user_id.active)
            self.assertFalse(todo.user_id.share)
            self.assertNotEqual(todo.user_id, bot)
        self.assertEqual(by_admin.activity_ids.user_id, boss)
        self.assertEqual(by_settings.activity_ids.user_id, settings)
        self.assertIn("2 queued job(s)", str(by_admin.activity_ids.note))
        self.assertEqual(set(jobs.mapped("state")), {"cancelled"})
        self.assertEqual(order.state, "error")
        self.assertIn("administrator", order.error_message)
        self.assertEqual(healthy_jobs.state, "pending")
        self.assertTrue(self.channel.active)
        self.assertEqual(self.channel.user_id, self.robot)
        # Archived channels are left alone (checked when reactivated).
        self.assertEqual(archived.user_id, admin)
        # Once fixed, the channel runs again; a second run changes nothing.
        by_admin.write({"user_id": self.robot.id, "active": True})
        self._migrate()
        self.assertTrue(by_admin.active)
        self.assertEqual(len(by_admin.activity_ids), 1)


@tagged("post_install", "-at_install")
class TestRetentionMigration(ChannelCase):
    def test_retention_cron_removed(self):
        """18.0.1.4.0: the retention cron (noupdate data, kept by an
        upgrade) is removed; Odoo's autovacuum runs the retention now."""
        cron = self.env["ir.cron"].create(
            {
                "name": "Channel Stock Sync: publication retention",
                "model_id": self.env["ir.model"]._get_id("stock.channel"),
                "state": "code",
                "code": "model._cron_gc_publications()",
            }
        )
        self.env["ir.model.data"].create(
            {
                "module": "stock_channel_sync",
                "name": "ir_cron_gc_publications",
                "model": "ir.cron",
                "res_id": cron.id,
                "noupdate": True,
            }
        )
        load_migration("18.0.1.4.0", "post-autovacuum-retention.py").migrate(
            self.env.cr, "18.0.1.3.0"
        )
        self.assertFalse(cron.exists())
        for model, method in (
            ("stock.channel.publication", "_gc_old_publications"),
            ("stock.channel.move.trace", "_gc_old_traces"),
            ("stock.channel.delivery", "_gc"),
            ("stock.channel.discrepancy", "_gc_resolved"),
            ("stock.channel.order", "_gc_old_payloads"),
            ("stock.channel.order.refusal", "_gc_old_payloads"),
            ("queue.job", "_gc_failed_channel_jobs"),
        ):
            self.assertTrue(getattr(type(self.env[model]), method)._autovacuum)
