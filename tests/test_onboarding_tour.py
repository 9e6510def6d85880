from odoo.tests import HttpCase, new_test_user, tagged

from odoo.addons.queue_job.job import Job

MANAGER_GROUPS = (
    "base.group_user,stock.group_stock_manager,"
    "stock_channel_sync.group_channel_manager"
)
BOT_GROUPS = (
    "base.group_user,stock.group_stock_user,sales_team.group_sale_salesman,"
    "base.group_partner_manager,stock_channel_sync.group_channel_manager"
)


@tagged("post_install", "-at_install")
class TestOnboardingTour(HttpCase):
    """An inventory manager's first minutes, clicked in headless Chromium."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # Each test sees only its own rules (demo data has a global one).
        cls.env["stock.channel.buffer.rule"].search([]).action_archive()
        cls.manager = new_test_user(
            cls.env,
            login="tour_manager",
            password="tour_manager",
            groups=MANAGER_GROUPS,
        )
        new_test_user(cls.env, login="tour_bot", name="Tour Bot", groups=BOT_GROUPS)
        cls.warehouse = cls.env["stock.warehouse"].create(
            {"name": "Tour Warehouse", "code": "TOURW"}
        )
        product = cls.env["product.product"].create(
            {"name": "Tour Widget", "default_code": "TOUR-WIDGET", "is_storable": True}
        )
        cls.env["stock.quant"]._update_available_quantity(
            product, cls.warehouse.lot_stock_id, 50
        )

    def _run_channel_jobs(self):
        """What queue_job's runner does between the two tours."""
        jobs = self.env["queue.job"].search(
            [("model_name", "=", "stock.channel"), ("state", "=", "pending")]
        )
        self.assertTrue(jobs, "Publish Now enqueued no job")
        for uuid in jobs.mapped("uuid"):
            Job.load(self.env, uuid).perform()

    def test_onboarding(self):
        """Create a sandbox channel, pick its warehouse, list a product, add a
        buffer rule, read the ATP, publish, read the shelf: as a Channel Sync
        manager who is no administrator."""
        self.start_tour(
            "/odoo", "stock_channel_sync_onboarding", login="tour_manager", timeout=120
        )
        channel = self.env["stock.channel"].search([("code", "=", "tour-shop")])
        self.assertEqual(channel.adapter, "sandbox")
        self.assertEqual(channel.warehouse_ids, self.warehouse)
        self.assertEqual(channel.user_id.login, "tour_bot")
        self._run_channel_jobs()
        self.start_tour(
            "/odoo",
            "stock_channel_sync_onboarding_shelf",
            login="tour_manager",
            timeout=60,
        )
        shelf = self.env["stock.channel.sandbox.shelf"].search(
            [("channel_id", "=", channel.id)]
        )
        self.assertEqual((shelf.external_sku, shelf.quantity), ("TOUR-WIDGET", 45))
