import dataclasses
import gzip
import json
import threading
import time
from unittest.mock import patch

from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.tests import new_test_user, tagged

from odoo.addons.queue_job.exception import RetryableJobError
from odoo.addons.queue_job.tests.common import trap_jobs

from ..adapters import amazon
from .amazon_standin import LIMITS as AMAZON_LIMITS
from .amazon_standin import AmazonStandIn
from .common import ChannelCase

MARKETPLACE = "ATVPDKIKX0DER"


@tagged("post_install", "-at_install")
class AmazonCase(ChannelCase):
    """An Amazon channel (``amz``) behind a local SP-API on 127.0.0.1 that
    enforces Amazon's rates; four listings whose SKUs Amazon knows, with 20
    units each in stock."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.amazon = AmazonStandIn().start()
        cls.addClassCleanup(cls.amazon.stop)
        cls.amz = cls._create_channel(
            "amz",
            cls.wh_main,
            adapter="amazon",
            amazon_seller_id=cls.amazon.seller_id,
            amazon_marketplace_ids=f" {MARKETPLACE} ",
            amazon_endpoint=cls.amazon.url,
            lwa_client_id=cls.amazon.client_id,
            lwa_client_secret=cls.amazon.client_secret,
            lwa_refresh_token=cls.amazon.refresh_token,
            lwa_token_url=cls.amazon.token_url,
            request_timeout=5,
            auto_heal=False,
        )
        cls.products = cls.product | cls.product_b
        for index in range(2):
            cls.products |= cls._create_product(f"AMZ Item {index}")
        cls.amz_listings = cls.env["stock.channel.listing"]
        for product in cls.products:
            cls.amz_listings |= cls._create_listing(cls.amz, product)
            cls.env["stock.quant"]._update_available_quantity(
                product, cls.stock_main, 20
            )
        cls.amazon.add_listings(cls.amz_listings.mapped("external_sku"), "SHIRT")

    def setUp(self):
        super().setUp()
        amazon.reset_process_state()
        self.amazon.reset()
        self.amazon.feed_delay = 0.0
        self.amazon.limits = dict(AMAZON_LIMITS)
        self.amazon.add_listings(self.amz_listings.mapped("external_sku"), "SHIRT")
        self._flush_marks()

    def _publish(self):
        return self.amz.with_context(job_uuid="amz-job-1")._publish_pending()

    def _shown(self, listing):
        return self.amazon.listings[listing.external_sku]["quantity"]

    def _publications(self, state=None):
        domain = [("channel_id", "=", self.amz.id)]
        if state:
            domain.append(("state", "=", state))
        return self.env["stock.channel.publication"].search(domain)


class TestAmazonLogin(AmazonCase):
    def test_token_cached_and_refreshed_once_on_401(self):
        """One token exchange serves two runs; a revoked token is exchanged
        once again and the request sent again."""
        self.amazon.refused_status = 401
        adapter = self.amz._get_adapter()
        adapter.lookup_listings(["X"])
        self.amz._get_adapter().lookup_listings(["X"])
        self.assertEqual(self.amazon.token_requests, 1)
        self.amazon.expire_tokens()
        found = self.amz._get_adapter().lookup_listings(
            self.amz_listings[:1].mapped("external_sku")
        )
        self.assertEqual(len(found), 1)
        self.assertEqual(self.amazon.token_requests, 2)
        searches = [r for r in self.amazon.requests if r[0] == "searchListingsItems"]
        self.assertEqual(len(searches), 4)  # 2, the refused one, its retry

    def test_token_reexchanged_before_expiry(self):
        """A token about to expire is not used."""
        adapter = self.amz._get_adapter()
        adapter.access_token()
        key = adapter._token_key()
        token, _expiry = amazon._TOKENS[key]
        amazon._TOKENS[key] = (token, 0)
        self.assertNotEqual(adapter.access_token(), token)
        self.assertEqual(self.amazon.token_requests, 2)

    def test_refused_credentials_fail_without_secrets(self):
        """Wrong credentials: the job fails, its message names no secret."""
        self.amz.lwa_client_secret = "wrong-secret-9876543210"
        with self.assertRaises(UserError) as caught:
            self._publish()
        self.assertIn("Login with Amazon", str(caught.exception))
        self.assertNotIn("wrong-secret-9876543210", str(caught.exception))
        self.assertNotIn(self.amazon.refresh_token, str(caught.exception))
        self.assertTrue(self.amz_listings[0].pending)

    def test_expired_token_answered_403_is_exchanged_once(self):
        """Amazon refuses an expired access token with 403 (not 401): the
        token is dropped, exchanged once and the request sent once more;
        the quantity lands."""
        self.amz_listings.amazon_product_type = "SHIRT"
        self._publish()
        self._set_stock(self.product, self.stock_main, 3)
        self._flush_marks()
        self.amazon.reset()
        self.amazon.expire_tokens()
        self.assertIn("1 sent", self._publish())
        self.assertEqual(self.amazon.token_requests, 1)
        self.assertEqual(
            [r[0] for r in self.amazon.requests],
            ["patchListingsItem", "token", "patchListingsItem"],
        )
        self.assertEqual(self._shown(self.amz_listings[0]), 23)
        self.assertFalse(self.amz_listings.filtered("pending"))

    def test_token_refused_twice_fails_clearly(self):
        """A 403 answered again with a freshly exchanged token (the app lost
        its role, the seller revoked it): one exchange only, the job fails
        with a message saying what to check, the listings stay pending."""
        self.amz_listings.amazon_product_type = "SHIRT"
        refusal = {"errors": [{"code": "Unauthorized", "message": "Access denied"}]}
        self.amazon.script = [(403, refusal), (403, refusal)]
        message = self._failed_publication()
        self.assertIn("freshly exchanged access token", message)
        self.assertIn("roles", message)
        self.assertEqual(self.amazon.token_requests, 2)
        self.assertEqual(self.amazon.count("patchListingsItem"), 2)
        self.assertEqual(len(self.amz_listings.filtered("pending")), 4)

    def test_exchange_locks_only_its_own_key(self):
        """A slow token exchange holds no other channel: while one channel's
        exchange waits on Login with Amazon, another channel's (another
        seller, same app) is answered at once; a second thread of the first
        channel waits for the first exchange and reuses its token (one
        exchange)."""
        self.amazon.add_seller("SELLER-LOCK", "Atzr|refresh-lock-0123456789")
        adapter_a = self.amz._get_adapter()
        adapter_a2 = self.amz._get_adapter()
        config_b = dataclasses.replace(
            adapter_a.config,
            channel_id=adapter_a.config.channel_id + 10**6,
            seller_id="SELLER-LOCK",
            lwa_refresh_token="Atzr|refresh-lock-0123456789",
        )
        adapter_b = amazon.AmazonAdapter(config_b, adapter_a.session.__class__())
        held = threading.Event()
        self.amazon.hold_token[self.amazon.refresh_token] = held
        tokens = {}
        threads = [
            threading.Thread(
                target=lambda name=name, adapter=adapter: tokens.setdefault(
                    name, adapter.access_token()
                )
            )
            for name, adapter in (("a", adapter_a), ("a2", adapter_a2))
        ]
        try:
            threads[0].start()
            time.sleep(0.3)  # the first exchange is held by Login with Amazon
            threads[1].start()
            start = time.monotonic()
            token_b = adapter_b.access_token()
            self.assertLess(time.monotonic() - start, 2)
            self.assertFalse(tokens)  # channel A still waiting
        finally:
            held.set()
            for thread in threads:
                thread.join(30)
        self.assertEqual(tokens["a"], tokens["a2"])
        self.assertNotEqual(tokens["a"], token_b)
        self.assertEqual(self.amazon.token_requests, 2)  # one per channel


class TestAmazonPublication(AmazonCase):
    def test_patch_path_looks_product_types_up_once(self):
        """A few changes: one search for the product types (stored on the
        listings), one merge PATCH per SKU, audited; the next run searches
        nothing."""
        summary = self._publish()
        self.assertIn("4 sent", summary)
        self.assertEqual(self.amazon.count("searchListingsItems"), 1)
        self.assertEqual(
            set(self.amz_listings.mapped("amazon_product_type")), {"SHIRT"}
        )
        self.assertEqual(len(self.amazon.patches), 4)
        sku, marketplace, body = self.amazon.patches[0]
        self.assertEqual(marketplace, MARKETPLACE)
        self.assertEqual(
            body,
            {
                "productType": "SHIRT",
                "patches": [
                    {
                        "op": "merge",
                        "path": "/attributes/fulfillment_availability",
                        "value": [
                            {"fulfillment_channel_code": "DEFAULT", "quantity": 20}
                        ],
                    }
                ],
            },
        )
        self.assertTrue(all(self._shown(x) == 20 for x in self.amz_listings))
        self.assertEqual(len(self._publications("sent")), 4)
        self.assertFalse(self.amz_listings.filtered("pending"))
        self.assertEqual(self.amz_listings.mapped("last_published_qty"), [20] * 4)
        self.amazon.reset()
        self._set_stock(self.product, self.stock_main, 3)
        self._flush_marks()
        self.assertIn("1 sent", self._publish())
        self.assertEqual(self.amazon.count("searchListingsItems"), 0)
        self.assertEqual(
            self.amazon.patches[0][2]["patches"][0]["value"][0]["quantity"], 23
        )

    def test_refused_patch_stays_pending_with_reason(self):
        """Amazon refuses one SKU: the others are published, that one stays
        pending with Amazon's reason in its failed publication row."""
        refused = self.amz_listings[0]
        self.amazon.reject[refused.external_sku] = "The SKU is blocked"
        self._publish()
        row = self._publications("failed")
        self.assertEqual(row.listing_id, refused)
        self.assertIn("The SKU is blocked", row.response_excerpt)
        self.assertTrue(refused.pending)
        self.assertEqual(len(self._publications("sent")), 3)

    def test_fba_offers_are_never_published(self):
        """An Amazon-fulfilled SKU is flagged on its listing, never patched,
        and leaves nothing pending; it is left out of reconciliation too."""
        fba = self.amz_listings[1]
        self.amazon.listings[fba.external_sku]["fba"] = True
        self.amazon.listings[fba.external_sku]["quantity"] = 7
        summary = self._publish()
        self.assertIn("3 sent", summary)
        self.assertTrue(fba.amazon_fba)
        self.assertNotIn(fba.external_sku, [p[0] for p in self.amazon.patches])
        self.assertFalse(fba.pending)
        self.assertEqual(self._shown(fba), 7)
        self._set_stock(fba.product_id, self.stock_main, 5)
        self._flush_marks()
        self.amazon.reset()
        self._publish()
        self.assertFalse(self.amazon.patches)
        self.amz.with_context(job_uuid="amz-recon")._reconcile()
        self.assertFalse(
            self.env["stock.channel.discrepancy"].search([("listing_id", "=", fba.id)])
        )

    def test_pacing_follows_the_rate_header_and_retries_throttles(self):
        """Amazon applies 2 requests/s (burst 2) and says so: the client
        starts at the documented 5/s, gets throttled, follows the header;
        every throttled PATCH is sent again and every quantity lands."""
        self.amazon.limits["patchListingsItem"] = (2.0, 2)
        self.amazon.buckets.clear()
        self._publish()
        self.assertGreater(self.amazon.throttled, 0)
        self.assertEqual(self.amazon.unretried_throttles(), 0)
        self.assertTrue(all(self._shown(x) == 20 for x in self.amz_listings))
        self.assertEqual(len(self._publications("sent")), 4)
        bucket = amazon.bucket_for(
            self.amazon.url, self.amazon.seller_id, "patchListingsItem"
        )
        self.assertEqual(bucket.rate, 2.0)

    def test_throttled_without_end_retries_the_job(self):
        """Amazon throttling every request: after the retries allowed in a
        row the job is retried later, nothing is dropped."""
        self.amz_listings.amazon_product_type = "SHIRT"
        self.amazon.limits["patchListingsItem"] = (0.0001, 0)
        with (
            patch.object(amazon.client, "THROTTLE_RETRIES", 3),
            self.assertRaises(RetryableJobError),
        ):
            self._publish()
        self.assertEqual(self.amazon.count("patchListingsItem"), 4)
        self.assertEqual(len(self.amz_listings.filtered("pending")), 4)
        self.assertFalse(self._publications())

    def test_long_retry_after_retries_the_job_later(self):
        """A 429 with a Retry-After of a few seconds or less is waited out
        and the request sent again; a longer one is not slept in the job's
        transaction: the job is retried after Amazon's delay, its listings
        pending."""
        self.amz_listings.amazon_product_type = "SHIRT"
        quota = {"errors": [{"code": "QuotaExceeded", "message": "quota"}]}
        self.amazon.script = [(429, quota, {"Retry-After": "120"})]
        start = time.monotonic()
        with self.assertRaises(RetryableJobError) as caught:
            self._publish()
        self.assertLess(time.monotonic() - start, amazon.MAX_INLINE_WAIT)
        self.assertEqual(caught.exception.seconds, 120)
        self.assertEqual(len(self.amz_listings.filtered("pending")), 4)
        self.assertEqual(self.amazon.count("patchListingsItem"), 1)
        self.amazon.reset()
        self.amazon.script = [(429, quota, {"Retry-After": "1"})]
        self.assertIn("4 sent", self._publish())
        self.assertEqual(self.amazon.count("patchListingsItem"), 5)
        self.assertEqual(self.amazon.unretried_throttles(), 0)

    def test_long_wait_for_a_slot_retries_the_job_later(self):
        """Amazon applies one request per 100 s and says so: the next slot
        is too far to sleep for in the job's transaction, so the job is
        retried when it comes."""
        self.amz_listings.amazon_product_type = "SHIRT"
        self.amazon.limits["patchListingsItem"] = (0.01, 1)
        self.amazon.buckets.clear()
        start = time.monotonic()
        with self.assertRaises(RetryableJobError) as caught:
            self._publish()
        self.assertLess(time.monotonic() - start, amazon.MAX_INLINE_WAIT)
        self.assertGreaterEqual(caught.exception.seconds, 100)
        self.assertEqual(self.amazon.count("patchListingsItem"), 2)
        self.assertEqual(len(self.amz_listings.filtered("pending")), 4)

    def test_documented_rate_is_never_exceeded(self):
        """Twelve PATCHes at the documented 5/s, burst 5: no 429 at all."""
        for index in range(8):
            product = self._create_product(f"AMZ Pace {index}")
            self.amazon.add_listings([product.default_code], "SHIRT")
            self._create_listing(self.amz, product)
            self._set_stock(product, self.stock_main, 1)
        self._flush_marks()
        self._publish()
        self.assertEqual(self.amazon.count("patchListingsItem"), 12)
        self.assertEqual(self.amazon.throttled, 0)

    def test_unknown_sku_stays_pending(self):
        """A SKU Amazon does not know gets no product type: not sent, failed
        row, still pending."""
        del self.amazon.listings[self.amz_listings[2].external_sku]
        try:
            self._publish()
        finally:
            self.amazon.add_listings([self.amz_listings[2].external_sku], "SHIRT")
        row = self._publications("failed")
        self.assertEqual(row.listing_id, self.amz_listings[2])
        self.assertIn("no product type", row.response_excerpt)
        self.assertTrue(self.amz_listings[2].pending)
        self.assertEqual(len(self.amazon.patches), 3)


class TestAmazonFeed(AmazonCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.amz.amazon_feed_threshold = 3

    def _submit(self):
        with trap_jobs() as trap:
            summary = self._publish()
            trap.assert_jobs_count(1, only=self.amz._check_listings_feed)
        return summary, self.amz_listings[0].feed_ref

    def test_feed_path_with_a_partly_rejected_report(self):
        """From the threshold on: one feed (document, upload, feed) with a
        message per listing; the follow-up job maps the processing report
        back by message id: accepted listings published, the rejected one
        pending with Amazon's reason."""
        rejected = self.amz_listings[3]
        self.amazon.reject[rejected.external_sku] = "Quantity update not allowed"
        summary, feed_ref = self._submit()
        self.assertIn("4 submitted in feed", summary)
        self.assertFalse(self.amazon.patches)
        self.assertEqual(set(self.amz_listings.mapped("feed_ref")), {feed_ref})
        (document,) = [
            d for k, d in self.amazon.documents.items() if k.startswith("doc")
        ]
        messages = json.loads(document)["messages"]
        self.assertEqual(
            sorted(m["messageId"] for m in messages), sorted(self.amz_listings.ids)
        )
        # In flight: a new run does not send them again.
        self._set_stock(self.product, self.stock_main, 2)
        self._flush_marks()
        self.assertEqual(self._publish(), "nothing pending")
        with trap_jobs() as trap:
            summary = self.amz.with_context(job_uuid="feed-job")._check_listings_feed(
                feed_ref
            )
            # The change made while the feed was processed gets published.
            trap.assert_jobs_count(1, only=self.amz._publish_pending)
        self.assertIn("3 published, 1 refused", summary)
        self.assertFalse(self.amz_listings.filtered("feed_ref"))
        failed = self._publications("failed")
        self.assertEqual(failed.listing_id, rejected)
        self.assertIn("Quantity update not allowed", failed.response_excerpt)
        self.assertEqual(failed.batch_id, feed_ref)
        self.assertTrue(rejected.pending)
        self.assertEqual(self._shown(rejected), 0)
        accepted = self.amz_listings - rejected
        self.assertEqual(accepted.mapped("last_published_qty"), [20] * 3)
        self.assertEqual(
            set(self._publications("sent").listing_id.ids), set(accepted.ids)
        )
        self.assertTrue(self.amz_listings[0].pending)  # the change made meanwhile
        self.assertFalse(accepted[1:].filtered("pending"))

    def test_feed_being_processed_is_retried(self):
        """The follow-up finds the feed unfinished: it retries later and
        publishes nothing yet."""
        self.amazon.feed_delay = 3600
        _summary, feed_ref = self._submit()
        with self.assertRaises(RetryableJobError):
            self.amz._check_listings_feed(feed_ref)
        self.assertEqual(set(self.amz_listings.mapped("feed_ref")), {feed_ref})
        self.assertFalse(self._publications())

    def test_fatal_feed_leaves_every_listing_pending(self):
        """A feed Amazon could not process: every listing of it stays
        pending, with a failed row saying so, and may be sent again."""
        _summary, feed_ref = self._submit()
        for feed in self.amazon.feeds.values():
            feed["document"] = b"not json"
        summary = self.amz._check_listings_feed(feed_ref)
        self.assertIn("FATAL: 0 published, 4 refused", summary)
        failed = self._publications("failed")
        self.assertEqual(len(failed), 4)
        self.assertIn("FATAL", failed[0].response_excerpt)
        self.assertEqual(len(self.amz_listings.filtered("pending")), 4)
        self.assertFalse(self.amz_listings.filtered("feed_ref"))

    def test_failed_follow_up_counts_on_the_channel_health(self):
        """A feed follow-up that gave up shows as a failed job of its
        channel, and Retry Failed requeues it."""
        job = self.amz.with_delay(
            identity_key=f"stock_channel_sync.feed.{self.amz.id}.77"
        )._check_listings_feed("77")
        record = self.env["queue.job"].search([("uuid", "=", job.uuid)])
        record.state = "failed"
        self.amz.invalidate_recordset()
        self.assertEqual(self.amz.failed_job_count, 1)
        self.amz.action_retry_failed()
        self.assertEqual(record.state, "pending")

    def test_report_inflating_past_the_cap_is_a_clear_error(self):
        """A processing report of 40 KiB that inflates to 40 MiB (over the
        32 MiB cap): decompression stops at the cap and the follow-up fails
        with a clear message; the listings stay in the feed."""
        _summary, feed_ref = self._submit()
        bomb = gzip.compress(b" " * (40 * 2**20))
        self.assertLess(len(bomb), 100 * 1024)
        for feed in self.amazon.feeds.values():
            self.amazon._process(feed)
            self.amazon.documents[feed["report"]] = bomb
        with self.assertRaises(UserError) as caught:
            self.amz._check_listings_feed(feed_ref)
        self.assertIn("processing report", str(caught.exception))
        self.assertIn("32 MiB", str(caught.exception))
        self.assertEqual(set(self.amz_listings.mapped("feed_ref")), {feed_ref})
        self.assertFalse(self._publications())

    def test_gunzip_capped(self):
        """Bounded decompression: several members joined, the cap exactly
        reached, one byte over it, and a truncated stream."""
        data = gzip.compress(b"abc") + gzip.compress(b"def")
        self.assertEqual(amazon.gunzip_capped(data, 6), b"abcdef")
        with self.assertRaisesRegex(ValueError, "more than 5 bytes"):
            amazon.gunzip_capped(data, 5)
        with self.assertRaisesRegex(ValueError, "truncated"):
            amazon.gunzip_capped(gzip.compress(b"x" * 1000)[:-10], 2000)

    def test_negative_threshold_refused(self):
        """The feed threshold cannot be negative (0: never a feed)."""
        with self.assertRaises(ValidationError):
            self.amz.amazon_feed_threshold = -1

    def test_below_the_threshold_patches(self):
        """Fewer changes than the threshold go through PATCH."""
        self._clear_pending(self.amz_listings[2:])
        self._publish()
        self.assertEqual(len(self.amazon.patches), 2)
        self.assertFalse(self.amazon.feeds)


class TestAmazonReconciliation(AmazonCase):
    def test_read_back_drift(self):
        """The merchant quantity Amazon shows is read back, 20 SKUs a
        request: an edit on Amazon is channel drift."""
        self._publish()
        edited = self.amz_listings[0]
        self.amazon.listings[edited.external_sku]["quantity"] = 12
        self.amazon.reset()
        self.amz.with_context(job_uuid="amz-recon")._reconcile()
        self.assertEqual(self.amazon.count("searchListingsItems"), 1)
        drift = self.env["stock.channel.discrepancy"].search(
            [("channel_id", "=", self.amz.id), ("state", "=", "open")]
        )
        self.assertEqual(drift.listing_id, edited)
        self.assertEqual(
            (drift.kind, drift.channel_qty, drift.published_qty),
            ("channel_drift", 12, 20),
        )

    def test_auto_heal_republishes(self):
        """With auto-heal the drifted listing is patched back."""
        self._publish()
        edited = self.amz_listings[0]
        self.amazon.listings[edited.external_sku]["quantity"] = 12
        self.amz.auto_heal = True
        self.amz.with_context(job_uuid="amz-recon")._reconcile()
        self.assertTrue(edited.pending)
        self._publish()
        self.assertEqual(self._shown(edited), 20)


class TestAmazonSecrets(AmazonCase):
    def test_credentials_hidden_from_non_managers(self):
        """Channel users neither read nor see the Login with Amazon
        credentials; managers do."""
        user = new_test_user(
            self.env,
            login="amz_user",
            groups="stock.group_stock_user,stock_channel_sync.group_channel_user",
        )
        manager = new_test_user(
            self.env,
            login="amz_manager",
            groups="stock.group_stock_user,stock_channel_sync.group_channel_manager",
        )
        channel = self.amz.with_user(user)
        for name in ("lwa_client_id", "lwa_client_secret", "lwa_refresh_token"):
            with self.assertRaises(AccessError):
                channel.read([name])
            self.assertNotIn(name, channel.fields_get())
        self.assertEqual(channel.amazon_seller_id, self.amazon.seller_id)
        self.assertEqual(
            self.amz.with_user(manager).lwa_refresh_token, self.amazon.refresh_token
        )

    def test_no_secret_or_token_in_rows_or_job_errors(self):
        """Amazon echoing the access token and credentials back: neither the
        publication rows (kept although the job fails) nor the job's error
        carry them."""
        self.amz_listings.amazon_product_type = "SHIRT"
        adapter = self.amz._get_adapter()
        token = adapter.access_token()
        echo = f"bad {token} {self.amazon.refresh_token} {self.amazon.client_secret}"
        # The 403 is answered again to the retry with a new token.
        self.amazon.script = [
            (400, {"errors": [{"code": "InvalidInput", "message": echo}]}),
            (403, {"errors": [{"code": "Unauthorized", "message": echo}]}),
            (403, {"errors": [{"code": "Unauthorized", "message": echo}]}),
        ]
        message = self._failed_publication()
        rows = self._publications("failed")
        self.assertEqual(len(rows), 4)
        self.assertIn("***", message)
        for text in [message] + rows.mapped("response_excerpt"):
            for secret in (
                token,
                self.amazon.refresh_token,
                self.amazon.client_secret,
            ):
                self.assertNotIn(secret, text or "")
        # One exchange, and one more for the refused (403) request.
        self.assertEqual(self.amazon.token_requests, 2)
