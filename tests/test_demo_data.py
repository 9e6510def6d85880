from odoo.tests import TransactionCase, tagged

from ..services.atp import AtpEngine
from ..services.threepl_intake import store

# (demo listing xmlid, what it must publish): see the demo file's comments
# and docs/atp.rst (Demo data).
EXPECTED = {
    "demo_listing_web_cable": 110,  # 120 - 10 (Cables category rule)
    "demo_listing_web_mouse": 33,  # 40 - 5 reserved - 2 (Web Store rule); hold excluded
    "demo_listing_web_stand": 13,  # 15 - 2 (Web Store rule)
    "demo_listing_web_keyboard": 5,  # 30, capped at 5 (product rule)
    "demo_listing_b2b_cable_case": 28,  # (120 + 60 - 10) / 6
    "demo_listing_b2b_mouse": 54,  # (35 + 25) - 10 % (global rule)
    "demo_listing_b2b_stand": 13,  # 15 - 10 %, rounded down
}


@tagged("post_install", "-at_install")
class TestDemoData(TransactionCase):
    """The demo shows the same stock at different quantities per channel."""

    def test_demo_quantities(self):
        """Each demo listing publishes the quantity the README explains."""
        listings = {
            xmlid: self.env.ref(f"stock_channel_sync.{xmlid}", raise_if_not_found=False)
            for xmlid in EXPECTED
        }
        if not all(listings.values()):
            self.skipTest("database installed without demo data")
        results = AtpEngine(self.env).compute([r.id for r in listings.values()])
        self.assertEqual(
            {xmlid: results[rec.id].qty for xmlid, rec in listings.items()}, EXPECTED
        )

    def test_demo_kit_from_its_components(self):
        """With mrp: the Desk Starter Set (keyboard, mouse, 2 cables) offers
        min(30, 35, 120 / 2) = 30 kits, minus the Web Store's 2: 28, limited
        by the keyboards."""
        listing = self.env.ref(
            "stock_channel_sync.demo_listing_web_starter", raise_if_not_found=False
        )
        if not listing:
            self.skipTest("database installed without demo data or without mrp")
        result = AtpEngine(self.env).compute(listing.ids)[listing.id]
        self.assertEqual(result.qty, 28)
        self.assertEqual(
            result.limiting_id,
            self.env.ref("stock_channel_sync.demo_product_keyboard").id,
        )

    def _demo_channels(self):
        webstore = self.env.ref(
            "stock_channel_sync.demo_channel_webstore", raise_if_not_found=False
        )
        if not webstore:
            self.skipTest("database installed without demo data")
        return webstore | self.env.ref("stock_channel_sync.demo_channel_b2b")

    def test_demo_runs_as_a_dedicated_least_privilege_user(self):
        """The demo channels are sandboxes run by their own technical user:
        internal, active, no administrator, not OdooBot; their secrets were
        generated, not shipped."""
        channels = self._demo_channels()
        bot = self.env.ref("stock_channel_sync.demo_user_channel_bot")
        self.assertEqual(set(channels.mapped("adapter")), {"sandbox"})
        self.assertEqual(channels.user_id, bot)
        self.assertNotEqual(bot, self.env.ref("base.user_root"))
        self.assertTrue(bot.active and bot._is_internal())
        self.assertFalse(bot.has_group("base.group_system"))
        self.assertFalse(bot.has_group("base.group_erp_manager"))
        secrets = channels.mapped("webhook_secret")
        self.assertEqual(len(set(secrets)), 2)
        self.assertTrue(all(len(secret) >= 32 for secret in secrets))

    def test_demo_publishes_to_the_shelf_and_is_healthy(self):
        """What the publication jobs do right after install: every demo
        listing's quantity lands on its sandbox shelf and the dashboard turns
        healthy."""
        channels = self._demo_channels()
        for channel in channels:
            channel._as_technical_user().with_context(
                job_uuid="demo"
            )._publish_pending()
        shelf = self.env["stock.channel.sandbox.shelf"].search(
            [("channel_id", "in", channels.ids)]
        )
        expected = {f"stock_channel_sync.{x}": qty for x, qty in EXPECTED.items()}
        if self.env.ref(
            "stock_channel_sync.demo_listing_web_starter", raise_if_not_found=False
        ):  # with mrp: the demo kit too (test_demo_kit_from_its_components)
            expected["stock_channel_sync.demo_listing_web_starter"] = 28
        self.assertEqual(
            {
                row.listing_id.get_external_id()[row.listing_id.id]: row.quantity
                for row in shelf
            },
            expected,
        )
        channels.invalidate_recordset()
        self.assertEqual(set(channels.mapped("health_state")), {"ok"})

    def test_demo_3pl_event_moves_the_b2b_quantity(self):
        """The demo's 3PL runs the East warehouse: a damage it reports is
        booked there, and the B2B Portal (selling East stock) follows."""
        connection = self.env.ref(
            "stock_channel_sync.demo_threepl_east", raise_if_not_found=False
        )
        if not connection:
            self.skipTest("database installed without demo data")
        listing = self.env.ref("stock_channel_sync.demo_listing_b2b_mouse")
        outcome = store(
            connection._as_technical_user(),
            {
                "id": "DEMO-DAMAGE-1",
                "type": "adjustment",
                "occurred_at": "2026-12-03T09:00:00Z",
                "sku": "CS-MOUSE",
                "quantity": -5,
                "reason_code": "AU",
            },
        )
        self.assertEqual(outcome.kind, "accepted")
        event = connection.event_ids
        event.with_user(connection.user_id)._apply()
        self.assertEqual(event.state, "done")
        self.env.flush_all()
        self.assertEqual(
            AtpEngine(self.env).compute(listing.ids)[listing.id].qty,
            EXPECTED["demo_listing_b2b_mouse"] - 5,
        )
