from unittest.mock import patch
from urllib.parse import parse_qs, urlsplit

from odoo import fields
from odoo.exceptions import AccessError, UserError
from odoo.tests import new_test_user, tagged

from odoo.addons.queue_job.exception import RetryableJobError
from odoo.addons.queue_job.tests.common import trap_jobs

from ..adapters.shopify import ShopifyAdapter
from ..adapters.shopify_versions import DEFAULT_VERSION, OLDEST_VERSION
from ..adapters.signing import SignedRequest, check_request
from ..adapters.webhook import WebhookAdapter
from .common import create_committed_channel, drop_committed_channel
from .marketplace import Reply
from .test_publication import SECRET, PublicationCase


@tagged("post_install", "-at_install")
class ReconciliationCase(PublicationCase):
    """``channel`` behind a real HTTP marketplace that shows ``shown``
    ({sku: quantity}) on ``GET /inventory``; ``listing`` was published at 20
    and its ATP is 20."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.channel.auto_heal = False
        cls.sku = cls.listing.external_sku

    def setUp(self):
        super().setUp()
        self.shown = {self.sku: 20}
        self.market.responder = self._respond
        self.listing.write(
            {"last_published_qty": 20, "last_published_at": fields.Datetime.now()}
        )
        self._clear_pending()

    def _respond(self, received):
        if received.method != "GET":
            return Reply()
        skus = parse_qs(urlsplit(received.path).query)["skus"][0].split(",")
        return Reply(
            body={
                "items": [
                    {"sku": sku, "quantity": self.shown[sku]}
                    for sku in skus
                    if sku in self.shown
                ]
            }
        )

    def _reconcile(self, channel=None):
        channel = channel or self.channel
        return channel.with_context(job_uuid="recon-job-1")._reconcile()

    def _open(self, listing=None):
        return self.env["stock.channel.discrepancy"].search(
            [
                ("listing_id", "=", (listing or self.listing).id),
                ("state", "=", "open"),
            ]
        )


class TestReconciliation(ReconciliationCase):
    def test_clean_run_records_nothing(self):
        """Channel, last publication and ATP agree: nothing recorded; the
        read-back is a GET signed over its path and query."""
        summary = self._reconcile()
        self.assertIn("0 discrepancies", summary)
        self.assertFalse(self._open())
        self.assertTrue(self.channel.last_reconciled_at)
        (request,) = self.market.received
        self.assertEqual(request.method, "GET")
        self.assertTrue(request.path.startswith("/inventory?skus="))
        signature = request.headers["X-Channel-Signature"]
        self.assertTrue(signature.startswith("sha256="))
        signed = SignedRequest("GET", request.path, request.headers, b"")
        self.assertIsNone(check_request([SECRET], signed))
        self.assertEqual(request.headers["X-Correlation-Id"], "recon-job-1")

    def test_channel_drift_without_heal(self):
        """Edited on the marketplace: recorded once, however many runs, and
        nothing is republished with auto-heal off."""
        self.shown[self.sku] = 25
        self._reconcile()
        self._reconcile()
        drift = self._open()
        self.assertEqual(len(drift), 1)
        self.assertEqual(
            (drift.kind, drift.channel_qty, drift.published_qty, drift.atp_qty),
            ("channel_drift", 25, 20, 20),
        )
        self.assertEqual(drift.difference, 5)
        self.assertFalse(drift.healed)
        self.assertFalse(self.listing.pending)
        self.assertEqual(drift.job_uuid, "recon-job-1")

    def test_drift_auto_heal_republishes_then_resolves(self):
        """With auto-heal the listing is republished although its ATP equals
        what was last published; the row stays open until a run finds the
        channel right, then it is resolved."""
        self.channel.auto_heal = True
        self.shown[self.sku] = 25
        self._reconcile()
        drift = self._open()
        self.assertTrue(drift.healed)
        self.assertTrue(self.listing.pending)
        self._reconcile()  # not published yet: still drifted, still one row
        self.assertEqual(self._open(), drift)
        self.market.received.clear()
        self.channel.with_context(job_uuid="pub-job")._publish_pending()
        pushed = [r for r in self.market.received if r.method == "POST"]
        self.assertEqual(pushed[0].json()["items"], [{"sku": self.sku, "quantity": 20}])
        self.assertFalse(self.listing.pending)
        self.shown[self.sku] = 20
        self._reconcile()
        drift.invalidate_recordset()
        self.assertEqual(drift.state, "resolved")
        self.assertTrue(drift.resolved_at)

    def test_heal_schedules_one_follow_up_run(self):
        """After healing, one more run checks the channel soon; that run
        never schedules another."""
        self.channel.auto_heal = True
        self.shown[self.sku] = 25
        with trap_jobs() as trap:
            summary = self._reconcile()
            self.assertIn("follow-up run in 120 s", summary)
            trap.assert_enqueued_job(
                self.channel._reconcile,
                kwargs={"follow_up": True},
                properties={
                    "identity_key": "stock_channel_sync.reconcile."
                    f"{self.channel.id}.follow_up",
                },
            )
            follow_up = trap.enqueued_jobs[-1]
            self.assertTrue(follow_up.eta)
            self.channel.with_context(job_uuid="recon-job-3")._reconcile(follow_up=True)
            trap.assert_jobs_count(1, only=self.channel._reconcile)

    def test_unpublished_change(self):
        """The ATP moved and no publication is pending (a lost mark): an
        unpublished change; while one is pending, nothing is recorded."""
        self._set_stock(self.product, self.stock_main, 5)
        self._flush_marks()
        self._reconcile()
        self.assertFalse(self._open(), "a publication is pending: in flight")
        self._clear_pending()
        self._reconcile()
        change = self._open()
        self.assertEqual(
            (change.kind, change.channel_qty, change.atp_qty, change.difference),
            ("unpublished_change", 20, 25, -5),
        )
        self.channel.auto_heal = True
        self._reconcile()
        self.assertTrue(self.listing.pending)
        self.assertTrue(self._open().healed)

    def test_unknown_on_channel_is_not_healed(self):
        """A SKU the channel does not know: recorded, not republished (a
        quantity cannot create an item)."""
        self.channel.auto_heal = True
        self.shown = {}
        self._reconcile()
        unknown = self._open()
        self.assertEqual(unknown.kind, "unknown_on_channel")
        self.assertFalse(unknown.channel_qty)
        self.assertFalse(unknown.healed)
        self.assertFalse(self.listing.pending)

    def test_read_back_is_paged(self):
        """Five listings, two per page: three requests, every SKU asked once."""
        listings = self.listing
        for index in range(4):
            product = self._create_product(f"Recon Paged {index}")
            listings |= self._create_listing(self.channel, product)
        self.shown = {listing.external_sku: 0 for listing in listings}
        with patch.object(WebhookAdapter, "read_page_size", 2):
            self._reconcile()
        asked = [
            parse_qs(urlsplit(r.path).query)["skus"][0].split(",")
            for r in self.market.received
        ]
        self.assertEqual([len(page) for page in asked], [2, 2, 1])
        self.assertEqual(
            sorted(sku for page in asked for sku in page),
            sorted(listings.mapped("external_sku")),
        )

    def test_queries_do_not_grow_with_listings(self):
        """Set-based: 20 more listings (and discrepancies) cost no more
        queries."""

        def queries_for_run():
            self.env.flush_all()
            self.env.invalidate_all()
            before = self.env.cr.sql_log_count
            self._reconcile()
            return self.env.cr.sql_log_count - before

        # One drift already: the causes of a run's discrepancies are read
        # set-based, so one costs what twenty-one cost.
        self.shown[self.sku] = 25
        few = queries_for_run()
        for index in range(20):
            product = self._create_product(f"Recon Many {index}")
            listing = self._create_listing(self.channel, product)
            self.shown[listing.external_sku] = 3  # all drift: findings too
        self._clear_pending()
        many = queries_for_run()
        self.assertLessEqual(many, few + 2)

    def test_unreachable_channel_retries(self):
        """A 503 while reading back: the job retries, nothing recorded."""
        self.market.script.append(Reply(status=503))
        with self.assertRaises(RetryableJobError):
            self._reconcile()

    def test_refusal_fails_the_job(self):
        """A 401 while reading back fails the job with the reason."""
        self.market.script.append(Reply(status=401, body={"error": "bad key"}))
        with self.assertRaises(UserError):
            self._reconcile()

    def test_cron_enqueues_due_channels_once(self):
        """Due: never reconciled or interval elapsed; 0 turns it off."""
        self.channel.last_reconciled_at = False
        self.channel_both.write(
            {"last_reconciled_at": fields.Datetime.now(), "reconcile_interval": 60}
        )
        demo = self.env["stock.channel"].search(
            [("id", "not in", (self.channel | self.channel_both).ids)]
        )
        demo.reconcile_interval = 0
        with trap_jobs() as trap:
            self.env["stock.channel"]._cron_reconcile()
            self.env["stock.channel"]._cron_reconcile()
            trap.assert_jobs_count(1)
            trap.assert_enqueued_job(
                self.channel._reconcile,
                kwargs={"follow_up": False},
                properties={
                    "identity_key": f"stock_channel_sync.reconcile.{self.channel.id}",
                },
            )


@tagged("post_install", "-at_install")
class TestReconciliationRace(ReconciliationCase):
    """A publication committed on another connection during a run. That
    connection must see the listing: it is committed before this class's
    transaction begins (and removed after), no demo data needed."""

    @classmethod
    def setUpClass(cls):
        channel_id, listing_id = create_committed_channel("recon", with_listing=True)
        cls.addClassCleanup(drop_committed_channel, channel_id)
        super().setUpClass()
        cls.committed_listing = cls.env["stock.channel.listing"].browse(listing_id)

    def test_published_during_the_read_back_is_not_a_discrepancy(self):
        """A publication commits while the channel is being read: the
        channel shows its quantity but this run's snapshot does not know
        it was sent. No finding for that listing this run."""
        listing = self.committed_listing
        channel = listing.channel_id
        channel.write({"base_url": self.market.url, "webhook_secret": SECRET})
        self.env.cr.execute(
            "DELETE FROM stock_channel_listing_change WHERE listing_id = %s",
            [listing.id],
        )
        self.env["stock.channel.discrepancy"].search(
            [("channel_id", "=", channel.id)]
        ).unlink()
        self.shown = {listing.external_sku: 40}  # ATP 0, never published

        def publish_meanwhile(received):
            with self.registry.cursor() as other:
                other.execute(
                    "UPDATE stock_channel_listing SET last_published_qty = 40,"
                    " last_published_at = now() at time zone 'UTC' WHERE id = %s",
                    [listing.id],
                )
            return self._respond(received)

        self.market.responder = publish_meanwhile
        try:
            channel.with_context(job_uuid="recon-job-2")._reconcile()
            self.assertFalse(self._open(listing))
        finally:
            with self.registry.cursor() as other:
                other.execute(
                    "UPDATE stock_channel_listing SET last_published_qty = 0,"
                    " last_published_at = NULL WHERE id = %s",
                    [listing.id],
                )


class TestReadBackShapes(ReconciliationCase):
    """Shopify and WooCommerce read-back requests, against the same server."""

    def test_shopify_reads_available_at_the_location(self):
        self.channel.write(
            {"adapter": "shopify", "location_ref": "77", "api_secret": "shpat_x"}
        )
        self.listing.external_ref = "901"
        other = self._create_listing(self.channel, self.product_b, external_ref="902")
        unreferenced = self._create_listing(
            self.channel, self._create_product("Recon No Ref")
        )

        body = {
            "data": {
                "nodes": [
                    {
                        "id": "gid://shopify/InventoryItem/901",
                        "inventoryLevel": {
                            "quantities": [{"name": "available", "quantity": 20}]
                        },
                    },
                    None,
                ]
            }
        }
        self.market.script.append(Reply(body=body))
        self._reconcile()
        (request,) = self.market.received
        self.assertEqual(request.path, f"/admin/api/{DEFAULT_VERSION}/graphql.json")
        self.assertEqual(request.headers["X-Shopify-Access-Token"], "shpat_x")
        sent = request.json()
        self.assertIn("nodes(ids: $ids)", sent["query"])
        self.assertEqual(
            sent["variables"],
            {
                "ids": [
                    "gid://shopify/InventoryItem/901",
                    "gid://shopify/InventoryItem/902",
                ],
                "location": "gid://shopify/Location/77",
            },
        )
        self.assertFalse(self._open())
        self.assertEqual(self._open(other).kind, "unknown_on_channel")
        self.assertEqual(self._open(unreferenced).kind, "unknown_on_channel")

    def test_shopify_read_back_on_oldest_version(self):
        """The same query on 2026-01, accepted by the stand-in for it."""
        self.channel.write(
            {
                "adapter": "shopify",
                "location_ref": "77",
                "api_secret": "shpat_x",
                "api_version": OLDEST_VERSION,
            }
        )
        self.listing.external_ref = "901"
        level = {"quantities": [{"name": "available", "quantity": 20}]}
        self.market.script.append(
            Reply(
                body={
                    "data": {
                        "nodes": [
                            {
                                "id": "gid://shopify/InventoryItem/901",
                                "inventoryLevel": level,
                            }
                        ]
                    }
                }
            )
        )
        self._reconcile()
        self.assertFalse(self.market.refused)
        (request,) = self.market.received
        self.assertEqual(request.path, f"/admin/api/{OLDEST_VERSION}/graphql.json")
        self.assertFalse(self._open())

    def test_shopify_paces_on_its_cost_bucket(self):
        """Shopify said the bucket is empty (restoring 100 points/s) after a
        query of 20 points: the next query waits about 0.2 s instead of
        being throttled."""
        self.channel.write(
            {"adapter": "shopify", "location_ref": "77", "api_secret": "shpat_x"}
        )
        self.listing.external_ref = "901"
        self._create_listing(self.channel, self.product_b, external_ref="902")
        empty = {
            "cost": {
                "actualQueryCost": 20,
                "throttleStatus": {"currentlyAvailable": 0, "restoreRate": 100},
            }
        }
        self.market.script.extend(
            [Reply(body={"data": {"nodes": []}, "extensions": empty})] * 2
        )
        with (
            patch.object(ShopifyAdapter, "read_page_size", 1),
            patch(
                "odoo.addons.stock_channel_sync.adapters.shopify.time.sleep"
            ) as sleep,
        ):
            self._reconcile()
        self.assertEqual(len(self.market.received), 2)
        (wait,) = sleep.call_args.args
        self.assertTrue(0.1 < wait <= 0.2, wait)

    def test_woocommerce_reads_products_and_variations(self):
        self.channel.write(
            {"adapter": "woocommerce", "api_key": "ck_1", "api_secret": "cs_1"}
        )
        self.listing.external_ref = "11"
        variation = self._create_listing(
            self.channel, self.product_b, external_ref="12/13"
        )
        variation.write(
            {"last_published_qty": 0, "last_published_at": fields.Datetime.now()}
        )
        self._clear_pending()
        self.market.script.extend(
            [
                Reply(body=[{"id": 11, "stock_quantity": 20}]),
                Reply(body=[{"id": 13, "stock_quantity": 4}]),
            ]
        )
        self._reconcile()
        paths = sorted(r.path for r in self.market.received)
        self.assertEqual(
            paths,
            [
                "/wp-json/wc/v3/products/12/variations?include=13&per_page=100",
                "/wp-json/wc/v3/products?include=11&per_page=100",
            ],
        )
        self.assertTrue(
            self.market.received[0].headers["Authorization"].startswith("Basic ")
        )
        self.assertFalse(self._open())
        self.assertEqual(self._open(variation).kind, "channel_drift")

    def test_not_json_is_a_clear_failure(self):
        self.market.script.append(Reply(body=b"<html>maintenance</html>"))
        with self.assertRaises(UserError):
            self._reconcile()
        self.assertFalse(self._open())


class TestAccess(ReconciliationCase):
    def test_users_see_managers_run_and_configure(self):
        user = new_test_user(
            self.env,
            login="recon_user",
            groups="stock.group_stock_user,stock_channel_sync.group_channel_user",
        )
        manager = new_test_user(
            self.env,
            login="recon_manager",
            groups="stock.group_stock_manager,stock_channel_sync.group_channel_manager",
        )
        self.shown[self.sku] = 30
        self._reconcile()
        drift = self._open()
        self.assertEqual(
            drift.with_user(user).read(["kind"])[0]["kind"], "channel_drift"
        )
        with self.assertRaises(AccessError):
            drift.with_user(user).write({"state": "resolved"})
        with self.assertRaises(AccessError):
            self.channel.with_user(user).write({"alert_max_lag": 1})
        with self.assertRaises(UserError):
            self.channel.with_user(user).action_reconcile_now()
        self.channel.with_user(manager).write({"alert_max_lag": 1})
        with trap_jobs() as trap:
            self.channel.with_user(manager).action_reconcile_now()
            trap.assert_jobs_count(1)
        drift.with_user(manager).action_resolve()
        self.assertEqual(drift.state, "resolved")
        self.assertEqual(
            drift.with_user(user).action_view_listing()["res_id"], self.listing.id
        )
