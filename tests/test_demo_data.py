from odoo.tests import TransactionCase, tagged

from ..services.atp import AtpEngine

# (demo listing xmlid, what it must publish): see the demo file's comments
# and README.rst.
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

    def test_demo_dashboard(self):
        """The web store's card shows its two open discrepancies; the healed
        one on the B2B portal is resolved."""
        webstore = self.env.ref(
            "stock_channel_sync.demo_channel_webstore", raise_if_not_found=False
        )
        if not webstore:
            self.skipTest("database installed without demo data")
        b2b = self.env.ref("stock_channel_sync.demo_channel_b2b")
        self.assertEqual(webstore.open_discrepancy_count, 2)
        self.assertEqual(b2b.open_discrepancy_count, 0)
        self.assertIn(webstore.health_state, ("warning", "alert"))
