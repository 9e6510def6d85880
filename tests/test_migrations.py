import importlib.util
from pathlib import Path

from odoo.tests import tagged

from ..adapters import shopify_versions
from .common import ChannelCase

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
