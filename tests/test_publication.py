import base64
import json
from unittest.mock import patch

import requests

from odoo import fields
from odoo.exceptions import UserError
from odoo.tests import new_test_user, tagged
from odoo.tools import SQL

from odoo.addons.queue_job.exception import RetryableJobError
from odoo.addons.queue_job.tests.common import trap_jobs

from ..adapters.shopify import gid
from ..adapters.shopify_versions import DEFAULT_VERSION, OLDEST_VERSION
from ..adapters.signing import SignedRequest, check_request
from ..adapters.webhook import WebhookAdapter
from ..services.publisher import Publisher
from .common import ChannelCase, run_autovacuum
from .marketplace import Marketplace, Reply, closed_port_url

SECRET = "whsec-test-0123456789"


@tagged("post_install", "-at_install")
class PublicationCase(ChannelCase):
    """A real HTTP marketplace on 127.0.0.1 behind ``channel``."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.market = Marketplace().start()
        cls.addClassCleanup(cls.market.stop)
        cls.channel.write(
            {
                "base_url": cls.market.url,
                "webhook_secret": SECRET,
                "request_timeout": 1,
            }
        )
        cls.env["stock.quant"]._update_available_quantity(
            cls.product, cls.stock_main, 20
        )

    def setUp(self):
        super().setUp()
        self.market.received.clear()
        self.market.refused.clear()
        self.market.script.clear()

    def _publish(self, channel=None, **kwargs):
        channel = channel or self.channel
        return channel.with_context(job_uuid="job-test-1")._publish_pending(**kwargs)


class TestScheduling(PublicationCase):
    """When, and how many, publication jobs are enqueued."""

    def test_burst_of_changes_enqueues_one_job_per_channel(self):
        """Fifty stock changes in one transaction: one job per channel."""
        self._flush_marks()
        with trap_jobs() as trap:
            for _i in range(50):
                self._set_stock(self.product, self.stock_main, 1)
            self._flush_marks()
            trap.assert_jobs_count(2)  # channel and channel_both, both realtime
            trap.assert_enqueued_job(
                self.channel._publish_pending,
                kwargs={"force": False},
                properties={
                    "identity_key": f"stock_channel_sync.publish.{self.channel.id}",
                },
            )

    def test_identity_key_coalesces_across_transactions(self):
        """A job still waiting absorbs later changes."""
        self._flush_marks()
        for _i in range(3):
            self._set_stock(self.product, self.stock_main, 1)
            self._flush_marks()
        jobs = self.env["queue.job"].search(
            [("identity_key", "=", f"stock_channel_sync.publish.{self.channel.id}")]
        )
        self.assertEqual(len(jobs), 1)
        self.assertEqual(jobs.user_id, self.channel.user_id)

    def test_batch_channel_waits_for_cron(self):
        """Batch channels are not published on change, but by the cron."""
        self.channel.sync_mode = "batch"
        self._flush_marks()
        with trap_jobs() as trap:
            self._set_stock(self.product, self.stock_main, 1)
            self._flush_marks()
            self.assertEqual(self._jobs_of(trap), [self.channel_both])
            self.env["stock.channel"]._cron_publish_batch()
            self.assertEqual(self._jobs_of(trap), [self.channel_both, self.channel])
            # the interval has not elapsed yet
            self.env["stock.channel"]._cron_publish_batch()
            self.assertEqual(self._jobs_of(trap), [self.channel_both, self.channel])

    def _jobs_of(self, trap):
        """The test channels with an enqueued publication job, in order."""
        ours = self.channel | self.channel_both
        return [job.recordset for job in trap.enqueued_jobs if job.recordset in ours]

    def test_publish_now_and_resync_are_for_managers(self):
        """Users see publications; only managers trigger them."""
        user = new_test_user(
            self.env, login="pub_user", groups="stock_channel_sync.group_channel_user"
        )
        with self.assertRaises(UserError):
            self.channel.with_user(user).action_publish_now()
        with self.assertRaises(UserError):
            self.channel.with_user(user).action_full_resync()
        self._publish()
        self.assertTrue(
            self.env["stock.channel.publication"].with_user(user).search([])
        )
        with trap_jobs() as trap:
            self.channel.action_full_resync()
            trap.assert_enqueued_job(
                self.channel._publish_pending, kwargs={"force": True}
            )


class TestPublishJob(PublicationCase):
    """What one job run sends and records."""

    def test_signed_batched_request(self):
        """One signed request with every changed listing."""
        result = self._publish()
        self.assertEqual(result, "1 sent, 0 unchanged")
        (request,) = self.market.received
        self.assertEqual(request.path, "/inventory")
        body = request.json()
        self.assertEqual(body["channel"], "test-web")
        self.assertEqual(body["items"], [{"sku": "ATP-WIDGET", "quantity": 20}])
        self.assertEqual(request.headers["Idempotency-Key"], body["batch_id"])
        signed = SignedRequest("POST", request.path, request.headers, request.body)
        self.assertIsNone(check_request([SECRET], signed))
        self.assertTrue(request.headers["X-Correlation-Id"])
        self.listing.invalidate_recordset()
        self.assertFalse(self.listing.pending)
        self.assertEqual(self.listing.last_published_qty, 20)
        publication = self.listing.publication_ids
        self.assertEqual(publication.state, "sent")
        self.assertEqual(publication.batch_id, body["batch_id"])
        self.assertEqual(publication.job_uuid, "job-test-1")
        self.assertEqual(publication.http_status, 200)
        self.assertEqual(
            publication.correlation_id, request.headers["X-Correlation-Id"]
        )

    def test_batches_respect_adapter_limit(self):
        """Listings beyond the adapter's limit go in a second request."""
        products = self.env["product.product"].create(
            [
                {"name": f"Pub {i}", "default_code": f"PUB-{i}", "is_storable": True}
                for i in range(501)
            ]
        )
        self.env["stock.channel.listing"].create(
            [{"channel_id": self.channel.id, "product_id": p.id} for p in products]
        )
        self._publish()
        self.assertEqual(
            [len(r.json()["items"]) for r in self.market.received], [500, 2]
        )

    def test_unchanged_quantity_not_sent(self):
        """A change that leaves the quantity equal sends nothing."""
        self._publish()
        self.market.received.clear()
        self._set_stock(self.product, self.stock_main, 0.0001)  # rounds to the same
        self._flush_marks()
        self.listing.invalidate_recordset()
        self.assertTrue(self.listing.pending)
        self.assertEqual(self._publish(), "0 sent, 1 unchanged")
        self.assertFalse(self.market.received)
        self.listing.invalidate_recordset()
        self.assertFalse(self.listing.pending)

    def test_change_during_flight_is_not_lost(self):
        """A change landing while the request is in flight stays pending."""
        session = requests.Session()

        def change_meanwhile(response, *args, **kwargs):
            self.env["stock.channel.listing"]._mark_pending(
                SQL("l.id = %s", self.listing.id), schedule=False
            )

        session.hooks["response"].append(change_meanwhile)
        Publisher(self.channel, "job-x").run(session=session)
        self.listing.invalidate_recordset()
        self.assertTrue(self.listing.pending)
        self.assertEqual(self.listing.last_published_qty, 20)

    def test_deactivated_listing_publishes_zero_once(self):
        """Archiving a listing tells the channel 0, then nothing more."""
        self._publish()
        self.listing.active = False
        self._publish()
        self.assertEqual(self.market.received[-1].json()["items"][0]["quantity"], 0)
        count = len(self.market.received)
        self._set_stock(self.product, self.stock_main, 5)
        self._flush_marks()
        self._publish()
        self.assertEqual(len(self.market.received), count)

    def test_retried_batch_keeps_its_id(self):
        """The same job re-sends the same batch id for the same content."""
        self.market.script.append(Reply(status=503))
        with self.assertRaises(RetryableJobError):
            self._publish()
        self._publish()
        first, second = self.market.received
        self.assertEqual(first.json()["batch_id"], second.json()["batch_id"])


class TestFailures(PublicationCase):
    """Every failure ends retried or visibly failed, never silently lost."""

    def _assert_still_pending(self):
        self.listing.invalidate_recordset()
        self.assertTrue(self.listing.pending)
        self.assertFalse(
            self.listing.publication_ids.filtered(lambda p: p.state == "sent")
        )

    def test_timeout_retries(self):
        """No answer within the channel's timeout: retry later."""
        self.market.script.append(Reply(delay=3))
        with self.assertRaises(RetryableJobError):
            self._publish()
        self._assert_still_pending()

    def test_refused_connection_retries(self):
        """Marketplace down: retry later."""
        self.channel.base_url = closed_port_url()
        with self.assertRaises(RetryableJobError):
            self._publish()
        self._assert_still_pending()

    def test_server_error_retries(self):
        """5xx: retry with the job's backoff."""
        self.market.script.append(Reply(status=500))
        with self.assertRaises(RetryableJobError) as caught:
            self._publish()
        self.assertIsNone(caught.exception.seconds)
        self._assert_still_pending()

    def test_429_retry_after_wins(self):
        """Throttled: wait as long as the marketplace says."""
        self.market.script.append(Reply(status=429, headers={"Retry-After": "42"}))
        with self.assertRaises(RetryableJobError) as caught:
            self._publish()
        self.assertEqual(caught.exception.seconds, 42)
        self._assert_still_pending()

    def test_400_fails_the_job_and_keeps_the_audit(self):
        """A refusal fails the job with the marketplace's message, the failed
        rows survive the rollback, and the secret is never stored."""
        self.market.script.append(
            Reply(status=400, body={"error": f"bad sku, your secret is {SECRET}"})
        )
        message = self._failed_publication()
        self.assertIn("bad sku", message)
        self.assertNotIn(SECRET, message)
        failed = self.env["stock.channel.publication"].search(
            [("listing_id", "=", self.listing.id)]
        )
        self.assertEqual(failed.state, "failed")
        self.assertEqual(failed.http_status, 400)
        self.assertIn("***", failed.response_excerpt)
        self.assertNotIn(SECRET, failed.response_excerpt)
        self._assert_still_pending()

    def test_failed_jobs_requeued(self):
        """Retry Failed requeues this channel's failed jobs only."""
        (self.channel | self.channel_both)._enqueue_publication(delay=0)
        records = (self.channel | self.channel_both)._channel_jobs()
        self.assertEqual(len(records), 2)
        records.write({"state": "failed"})
        self.channel.action_retry_failed()
        self.assertEqual(
            {job.identity_key: job.state for job in records},
            {
                f"stock_channel_sync.publish.{self.channel.id}": "pending",
                f"stock_channel_sync.publish.{self.channel_both.id}": "failed",
            },
        )


class TestAdapters(PublicationCase):
    """Shopify and WooCommerce request shapes, field by field."""

    def _shopify_channel(self, version):
        self.channel.write(
            {
                "adapter": "shopify",
                "api_secret": "shpat_secret",
                "api_version": version,
                "location_ref": "777",
            }
        )
        self.listing.external_ref = "4242"

    def _shopify_publish(self, version):
        """Publish ``listing`` to a Shopify channel on ``version``; the
        stand-in checks the document for the version in the URL."""
        self._shopify_channel(version)
        self.market.script.append(
            Reply(body={"data": {"inventorySetQuantities": {"userErrors": []}}})
        )
        self._publish()
        self.assertFalse(self.market.refused)
        (request,) = self.market.received
        self.assertEqual(request.path, f"/admin/api/{version}/graphql.json")
        return request

    def test_shopify_inventory_set_quantities(self):
        """GraphQL mutation with compare-and-swap, idempotency and token, on
        the default version (what a new channel gets)."""
        request = self._shopify_publish(DEFAULT_VERSION)
        self.assertEqual(request.headers["X-Shopify-Access-Token"], "shpat_secret")
        payload = request.json()
        self.assertIn("inventorySetQuantities", payload["query"])
        self.assertIn("@idempotent(key: $key)", payload["query"])
        data = payload["variables"]["input"]
        self.assertEqual(data["name"], "available")
        self.assertEqual(data["reason"], "correction")
        self.assertTrue(data["referenceDocumentUri"].startswith("gid://"))
        self.assertEqual(
            data["quantities"],
            [
                {
                    "inventoryItemId": "gid://shopify/InventoryItem/4242",
                    "locationId": "gid://shopify/Location/777",
                    "quantity": 20,
                    "changeFromQuantity": None,  # never published: no compare
                }
            ],
        )
        self.assertTrue(payload["variables"]["key"])
        self.assertNotIn("ignoreCompareQuantity", data)

    def test_shopify_oldest_version(self):
        """2026-01, where the key and changeFromQuantity are optional, gets
        both, and an explicit null for an unknown level (an absent value
        would fall back to the legacy compareQuantity check)."""
        payload = self._shopify_publish(OLDEST_VERSION).json()
        self.assertIn("@idempotent(key: $key)", payload["query"])
        self.assertTrue(payload["variables"]["key"])
        (quantity,) = payload["variables"]["input"]["quantities"]
        self.assertIn("changeFromQuantity", quantity)
        self.assertIsNone(quantity["changeFromQuantity"])
        self.assertNotIn("compareQuantity", quantity)

    def test_shopify_compare_from_last_published(self):
        """Published before: that quantity is the compare-and-swap value."""
        self.listing.write(
            {"last_published_qty": 7, "last_published_at": fields.Datetime.now()}
        )
        payload = self._shopify_publish(DEFAULT_VERSION).json()
        (quantity,) = payload["variables"]["input"]["quantities"]
        self.assertEqual(quantity["changeFromQuantity"], 7)

    def test_shopify_legacy_document_refused(self):
        """The stand-in holds the adapter to the version: the pre-2026 shape
        (compareQuantity instead of changeFromQuantity) fails the
        publication on the default version and nothing is marked
        published."""
        self._shopify_channel(DEFAULT_VERSION)

        def legacy(key, batch_id, location, items, current):
            return {
                "key": key,
                "input": {
                    "name": "available",
                    "reason": "correction",
                    "quantities": [
                        {
                            "inventoryItemId": gid("InventoryItem", i.external_ref),
                            "locationId": location,
                            "quantity": i.quantity,
                            "compareQuantity": current[i.listing_id],
                        }
                        for i in items
                    ],
                },
            }

        with patch(
            "odoo.addons.stock_channel_sync.adapters.shopify.set_quantities_variables",
            legacy,
        ):
            message = self._failed_publication()
        self.assertIn("compareQuantity", message)
        ((_request, refusal),) = self.market.refused
        (error,) = refusal["errors"]
        self.assertEqual(error["extensions"]["code"], "INVALID_VARIABLE")
        self.listing.invalidate_recordset()
        self.assertTrue(self.listing.pending)

    def test_shopify_version_saved_before_the_check(self):
        """A version written before versions were checked (here in SQL)
        fails the job with the fix in its message; nothing is sent."""
        self.channel.write(
            {"adapter": "shopify", "api_secret": "t", "location_ref": "1"}
        )
        self.listing.external_ref = "9"
        self.env.cr.execute(
            "UPDATE stock_channel SET api_version = '2025-01' WHERE id = %s",
            [self.channel.id],
        )
        self.channel.invalidate_recordset(["api_version"])
        self.assertIn(OLDEST_VERSION, self._failed_publication())
        self.assertFalse(self.market.received)

    def test_shopify_stale_change_from_rereads_and_retries_once(self):
        """CHANGE_FROM_QUANTITY_STALE: read the level back, send again."""
        self.channel.write(
            {"adapter": "shopify", "api_secret": "tok", "location_ref": "1"}
        )
        self.listing.external_ref = "9"
        stale = {"code": "CHANGE_FROM_QUANTITY_STALE", "message": "stale", "field": []}
        self.market.script += [
            Reply(body={"data": {"inventorySetQuantities": {"userErrors": [stale]}}}),
            Reply(
                body={
                    "data": {
                        "nodes": [
                            {
                                "id": "gid://shopify/InventoryItem/9",
                                "inventoryLevel": {
                                    "quantities": [
                                        {"name": "available", "quantity": 13}
                                    ]
                                },
                            }
                        ]
                    }
                }
            ),
            Reply(body={"data": {"inventorySetQuantities": {"userErrors": []}}}),
        ]
        self._publish()
        _first, read, second = self.market.received
        self.assertIn("nodes(ids:", read.json()["query"])
        quantities = second.json()["variables"]["input"]["quantities"]
        self.assertEqual(quantities[0]["changeFromQuantity"], 13)
        self.listing.invalidate_recordset()
        self.assertFalse(self.listing.pending)

    def test_shopify_throttled_retries_after_restore(self):
        """GraphQL THROTTLED: retry when the bucket has refilled."""
        self.channel.write(
            {"adapter": "shopify", "api_secret": "t", "location_ref": "1"}
        )
        self.listing.external_ref = "9"
        self.market.script.append(
            Reply(
                body={
                    "errors": [
                        {"message": "Throttled", "extensions": {"code": "THROTTLED"}}
                    ],
                    "extensions": {
                        "cost": {
                            "requestedQueryCost": 300,
                            "throttleStatus": {
                                "currentlyAvailable": 100,
                                "restoreRate": 50,
                            },
                        }
                    },
                }
            )
        )
        with self.assertRaises(RetryableJobError) as caught:
            self._publish()
        self.assertEqual(caught.exception.seconds, 5)

    def test_woocommerce_products_and_variations(self):
        """Products and variations through their own batch endpoints."""
        self.channel.write(
            {"adapter": "woocommerce", "api_key": "ck_1", "api_secret": "cs_2"}
        )
        self.listing.external_ref = "15"
        variation = self._create_listing(
            self.channel, self.product_b, external_ref="30/31"
        )
        self._set_stock(self.product_b, self.stock_main, 4)
        self._flush_marks()
        self.market.script += [
            Reply(body={"update": [{"id": 15, "stock_quantity": 20}]}),
            Reply(body={"update": [{"id": 31, "stock_quantity": 4}]}),
        ]
        self._publish()
        products, variations = sorted(self.market.received, key=lambda r: r.path)[::-1]
        self.assertEqual(products.path, "/wp-json/wc/v3/products/batch")
        self.assertEqual(
            products.json(),
            {"update": [{"id": 15, "stock_quantity": 20, "manage_stock": True}]},
        )
        self.assertEqual(variations.path, "/wp-json/wc/v3/products/30/variations/batch")
        self.assertEqual(
            variations.json(),
            {"update": [{"id": 31, "stock_quantity": 4, "manage_stock": True}]},
        )
        auth = base64.b64encode(b"ck_1:cs_2").decode()
        self.assertEqual(products.headers["Authorization"], f"Basic {auth}")
        variation.invalidate_recordset()
        self.assertEqual(variation.last_published_qty, 4)

    def test_woocommerce_item_error_recorded(self):
        """An item refused inside a batch is recorded failed, stays pending."""
        self.channel.write(
            {"adapter": "woocommerce", "api_key": "k", "api_secret": "s"}
        )
        self.listing.external_ref = "15"
        self.market.script.append(
            Reply(
                body={
                    "update": [
                        {
                            "id": 15,
                            "error": {"code": "invalid", "message": "No product"},
                        }
                    ]
                }
            )
        )
        self._publish()
        self.assertEqual(self.listing.publication_ids.state, "failed")
        self.assertEqual(self.listing.publication_ids.response_excerpt, "No product")
        self.listing.invalidate_recordset()
        self.assertTrue(self.listing.pending)

    def test_woocommerce_malformed_reference_is_one_items_error(self):
        """A non-numeric reference fails that listing only; the others of
        the batch are sent and the job succeeds."""
        self.channel.write(
            {"adapter": "woocommerce", "api_key": "k", "api_secret": "s"}
        )
        self.listing.external_ref = "not-a-number"
        other = self._create_listing(self.channel, self.product_b, external_ref="16")
        self._set_stock(self.product_b, self.stock_main, 4)
        self._flush_marks()
        self.market.script.append(
            Reply(body={"update": [{"id": 16, "stock_quantity": 4}]})
        )
        self._publish()
        (request,) = self.market.received
        self.assertEqual(request.json()["update"][0]["id"], 16)
        self.assertEqual(other.publication_ids.state, "sent")
        self.assertEqual(self.listing.publication_ids.state, "failed")
        self.assertIn("numeric", self.listing.publication_ids.response_excerpt)
        (self.listing | other).invalidate_recordset()
        self.assertTrue(self.listing.pending)
        self.assertFalse(other.pending)

    def test_shopify_malformed_reference_is_one_items_error(self):
        """A listing without a usable inventory item id fails alone."""
        self.channel.write(
            {"adapter": "shopify", "api_secret": "tok", "location_ref": "1"}
        )
        self.listing.external_ref = "SKU-NOT-AN-ID"
        other = self._create_listing(
            self.channel, self.product_b, external_ref="gid://shopify/InventoryItem/9"
        )
        self._set_stock(self.product_b, self.stock_main, 4)
        self._flush_marks()
        self.market.script.append(
            Reply(body={"data": {"inventorySetQuantities": {"userErrors": []}}})
        )
        self._publish()
        (request,) = self.market.received
        quantities = request.json()["variables"]["input"]["quantities"]
        self.assertEqual(
            [q["inventoryItemId"] for q in quantities],
            ["gid://shopify/InventoryItem/9"],
        )
        self.assertEqual(other.publication_ids.state, "sent")
        self.assertEqual(self.listing.publication_ids.state, "failed")
        self.listing.invalidate_recordset()
        self.assertTrue(self.listing.pending)

    def test_sent_batches_audit_survives_a_later_failure(self):
        """Batch 1 is taken, batch 2 refused for good: the job fails, and
        the audit keeps batch 1's sent rows with batch 2's failed ones."""
        other = self._create_listing(self.channel, self.product_b)
        self._set_stock(self.product_b, self.stock_main, 4)
        self._flush_marks()
        self.market.script += [Reply(), Reply(status=400, body={"error": "no"})]
        self.registry.enter_test_mode(self.cr)
        self.addCleanup(self.registry.leave_test_mode)
        with patch.object(WebhookAdapter, "batch_limit", 1):
            try:
                self._publish()
            except UserError:
                pass
            else:
                self.fail("a 400 must fail the job")
        self.assertEqual(len(self.market.received), 2)
        rows = self.env["stock.channel.publication"].search(
            [("listing_id", "in", (self.listing | other).ids)]
        )
        self.assertEqual(
            {(row.listing_id, row.state) for row in rows},
            {(self.listing, "sent"), (other, "failed")},
        )


class TestRetention(PublicationCase):
    """Old audit rows and finished jobs go away."""

    def test_old_publications_and_jobs_removed(self):
        """Rows older than the retention are deleted, recent ones kept."""
        self._publish()
        self._set_stock(self.product, self.stock_main, 1)
        self._flush_marks()
        self._publish()
        old, recent = self.listing.publication_ids.sorted("id")
        self.env.cr.execute(
            "UPDATE stock_channel_publication"
            " SET create_date = now() - interval '100 days' WHERE id = %s",
            [old.id],
        )
        self.channel._enqueue_publication(delay=0)
        record = self.channel._channel_jobs()
        self.env.cr.execute(
            "UPDATE queue_job SET state = 'failed',"
            " date_created = now() - interval '100 days' WHERE id = %s",
            [record.id],
        )
        discrepancies = self.env["stock.channel.discrepancy"].create(
            [
                {
                    "listing_id": self.listing.id,
                    "channel_id": self.channel.id,
                    "kind": kind,
                    "state": "resolved",
                    "resolved_at": "2020-01-01 00:00:00",
                }
                for kind in ("channel_drift", "unknown_on_channel")
            ]
        )
        discrepancies[1].resolved_at = fields.Datetime.now()
        self.env.flush_all()
        run_autovacuum(self.env)
        self.assertFalse(old.exists())
        self.assertTrue(recent.exists())
        self.assertEqual(discrepancies.exists(), discrepancies[1])
        self.env.invalidate_all()
        self.assertFalse(record.exists())

    def test_json_of_request_has_no_secret(self):
        """The secret signs the body; it is never in it."""
        self._publish()
        self.assertNotIn(SECRET, json.dumps(self.market.received[0].json()))
