import json

from odoo import Command
from odoo.exceptions import AccessError, UserError
from odoo.tests import Form, new_test_user, tagged

from odoo.addons.queue_job.tests.common import trap_jobs

from .common import ChannelCase

# A Channel Sync manager who is neither an administrator nor a queue_job
# manager: who configures channels and clicks the sandbox's buttons.
MANAGER_GROUPS = "base.group_user,stock_channel_sync.group_channel_manager"
BOT_GROUPS = (
    "stock.group_stock_user,sales_team.group_sale_salesman,"
    "base.group_partner_manager,stock_channel_sync.group_channel_manager"
)


@tagged("post_install", "-at_install")
class TestSandbox(ChannelCase):
    """The sandbox marketplace: publications land on its shelf, reconciliation
    reads the shelf back, shipments are recorded, simulated orders go through
    the real intake."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.manager = new_test_user(
            cls.env, login="sandbox_manager", groups=MANAGER_GROUPS
        )
        cls.bot = new_test_user(cls.env, login="sandbox_bot", groups=BOT_GROUPS)
        cls.sandbox = cls._create_channel(
            "sandbox-shop", cls.wh_main, adapter="sandbox", user_id=cls.bot.id
        )
        cls.sandbox_listing = cls._create_listing(cls.sandbox, cls.product)
        cls.env["stock.quant"]._update_available_quantity(
            cls.product, cls.stock_main, 12
        )

    def _publish(self):
        channel = self.sandbox._as_technical_user()
        return channel.with_context(job_uuid="sandbox-job")._publish_pending()

    def _shelf(self):
        return self.env["stock.channel.sandbox.shelf"].search(
            [("channel_id", "=", self.sandbox.id)]
        )

    def test_publication_lands_on_the_shelf(self):
        """The ATP arrives on the shelf with its batch and time, audited as a
        publication like any marketplace's."""
        self.assertIn("1 sent", self._publish())
        shelf = self._shelf()
        self.assertEqual(len(shelf), 1)
        self.assertEqual(shelf.external_sku, self.sandbox_listing.external_sku)
        self.assertEqual(shelf.quantity, 12)
        self.assertEqual(shelf.listing_id, self.sandbox_listing)
        self.assertTrue(shelf.batch_id and shelf.received_at)
        self.assertFalse(shelf.edited)
        publication = self.env["stock.channel.publication"].search(
            [("channel_id", "=", self.sandbox.id)]
        )
        self.assertEqual(publication.state, "sent")
        self.assertEqual(publication.batch_id, shelf.batch_id)
        self.assertEqual(self.sandbox.shelf_count, 1)

    def test_a_later_publication_overwrites_the_shelf(self):
        """One row per SKU: a new quantity replaces the old one."""
        self._publish()
        self._set_stock(self.product, self.stock_main, -5)
        self._flush_marks()
        self._publish()
        self.assertEqual(self._shelf().quantity, 7)

    def test_edited_shelf_is_drift_found_and_healed(self):
        """A manager edits the shelf: reconciliation records the drift and,
        with auto-heal, the next publication puts the right quantity back."""
        self._publish()
        self._shelf().with_user(self.manager).quantity = 40
        self.assertTrue(self._shelf().edited)
        channel = self.sandbox._as_technical_user()
        channel.with_context(job_uuid="recon")._reconcile()
        drift = self.env["stock.channel.discrepancy"].search(
            [("channel_id", "=", self.sandbox.id), ("state", "=", "open")]
        )
        self.assertEqual(drift.kind, "channel_drift")
        self.assertEqual(drift.channel_qty, 40)
        self._publish()
        self.assertEqual(self._shelf().quantity, 12)
        self.assertFalse(self._shelf().edited)
        channel.with_context(job_uuid="recon-2")._reconcile()
        self.assertEqual(drift.state, "resolved")

    def test_unknown_sku_on_the_shelf(self):
        """A listing never published is unknown on the sandbox channel."""
        channel = self.sandbox._as_technical_user()
        channel.with_context(job_uuid="recon")._reconcile()
        found = self.env["stock.channel.discrepancy"].search(
            [("channel_id", "=", self.sandbox.id)]
        )
        self.assertEqual(found.kind, "unknown_on_channel")

    def test_simulated_order_goes_through_the_real_intake(self):
        """Simulate Order, as a non-admin manager: a signed order is stored
        once, promised at once, marks every listing of the product and
        enqueues its processing job; the job confirms a sale order."""
        self._publish()
        wizard = Form(
            self.env["stock.channel.simulate.order"]
            .with_user(self.manager)
            .with_context(default_channel_id=self.sandbox.id)
        )
        with wizard.line_ids.edit(0) as line:
            line.quantity = 4
        with trap_jobs() as trap:
            action = wizard.save().action_post()
            order = self.env["stock.channel.order"].browse(action["res_id"])
            trap.assert_jobs_count(1, only=order._process)
            self.assertEqual(order.state, "received")
            self.assertEqual(order.channel_id, self.sandbox)
            self.assertTrue(order.external_id.startswith("SIM-"))
            self.assertEqual(order.create_uid, self.bot)
            # Promised at once on every channel selling that warehouse.
            self.assertEqual(self._atp(self.sandbox_listing), 8)
            self.assertEqual(self._atp(self.listing), 8)
            self._flush_marks()
            self.assertTrue(self.listing.pending)
            (job,) = [j for j in trap.enqueued_jobs if j.method_name == "_process"]
            job.perform()
        self.assertEqual(order.state, "done")
        self.assertEqual(order.sale_order_id.state, "sale")
        self.assertEqual(order.sale_order_id.order_line.product_uom_qty, 4)
        self.assertEqual(self._atp(self.sandbox_listing), 8)
        self._publish()
        self.assertEqual(self._shelf().quantity, 8)

    def test_simulated_order_body_is_the_generic_contract(self):
        """What the wizard posts is what a marketplace would post."""
        from ..services.sandbox import simulated_order

        body = json.loads(
            simulated_order(self.sandbox, [(self.sandbox_listing, 2)], {})
        )
        self.assertEqual(
            body["lines"],
            [
                {
                    "sku": self.sandbox_listing.external_sku,
                    "quantity": 2,
                    "unit_price": self.product.lst_price,
                }
            ],
        )
        self.assertEqual(body["currency"], self.env.company.currency_id.name)

    def test_simulate_refuses_bad_input(self):
        """No line, a zero quantity, or a channel that is not a sandbox: a
        clear error and nothing written."""
        orders = self.env["stock.channel.order"].search_count([])
        wizard = (
            self.env["stock.channel.simulate.order"]
            .with_user(self.manager)
            .create({"channel_id": self.sandbox.id, "customer_name": "X"})
        )
        wizard.line_ids.unlink()
        with self.assertRaisesRegex(UserError, "at least one line"):
            wizard.action_post()
        wizard.line_ids = [
            Command.create({"listing_id": self.sandbox_listing.id, "quantity": 0})
        ]
        with self.assertRaisesRegex(UserError, "at least one line"):
            wizard.action_post()
        other = self.env["stock.channel.simulate.order"].create(
            {
                "channel_id": self.channel.id,
                "customer_name": "X",
                "line_ids": [
                    Command.create({"listing_id": self.listing.id, "quantity": 1})
                ],
            }
        )
        with self.assertRaisesRegex(UserError, "Only sandbox channels"):
            other.action_post()
        self.assertEqual(self.env["stock.channel.order"].search_count([]), orders)

    def test_only_managers_simulate_or_edit_the_shelf(self):
        """A Channel Sync user reads the shelf but edits nothing."""
        self._publish()
        user = new_test_user(
            self.env,
            login="sandbox_reader",
            groups="base.group_user,stock_channel_sync.group_channel_user",
        )
        shelf = self._shelf().with_user(user)
        self.assertEqual(shelf.quantity, 12)
        with self.assertRaises(AccessError):
            shelf.quantity = 1
        with self.assertRaises(UserError):
            self.sandbox.with_user(user).action_simulate_order()

    def test_shipment_is_recorded(self):
        """A shipment pushed to a sandbox channel is kept as received."""
        adapter = self.sandbox._as_technical_user()._get_adapter()
        adapter.push_shipment(
            {
                "external_id": "SIM-1",
                "carrier": "DHL",
                "tracking_ref": "TRK1",
                "lines": [{"sku": "A", "quantity": 1}],
                "idempotency_key": "k",
            },
            "corr",
        )
        shipment = self.env["stock.channel.sandbox.shipment"].search(
            [("channel_id", "=", self.sandbox.id)]
        )
        self.assertEqual(
            (shipment.external_id, shipment.tracking_ref), ("SIM-1", "TRK1")
        )
        self.assertEqual(json.loads(shipment.lines), [{"sku": "A", "quantity": 1}])

    def test_shelf_is_company_private(self):
        """Another company's user sees nothing of this company's shelf."""
        self._publish()
        other = self.env["res.company"].create({"name": "Sandbox Other Co"})
        user = new_test_user(
            self.env,
            login="sandbox_other",
            groups=MANAGER_GROUPS,
            company_id=other.id,
            company_ids=[Command.set(other.ids)],
        )
        self.assertFalse(
            self.env["stock.channel.sandbox.shelf"].with_user(user).search([])
        )
