import uuid
from datetime import timedelta
from unittest import mock

from psycopg2.errors import SerializationFailure

from odoo import SUPERUSER_ID, api, fields
from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.modules.registry import Registry
from odoo.sql_db import db_connect
from odoo.tests import TransactionCase, get_db_name, new_test_user, tagged
from odoo.tools import mute_logger

from odoo.addons.queue_job.exception import RetryableJobError
from odoo.addons.queue_job.tests.common import trap_jobs

from ..services import jobs, supplier_feed_import, supplier_feed_parse
from ..services.retries import MARKETPLACE_MAX_RETRIES
from ..services.supplier_feed_import import FeedBusy, FeedFileError, StaleFeed
from .supplier_feed_common import SupplierFeedFixtures, csv_bytes, json_bytes
from .supplier_feed_standin import VendorFeedServer


@tagged("post_install", "-at_install")
class TestSupplierFeedImport(SupplierFeedFixtures, TransactionCase):
    """Files applied set-based: matching, health, zeroing, staleness, bad
    files refused whole, locking, replays, rights and companies."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls._setup_feed_world()

    def _import(self, data, feed=None):
        return supplier_feed_import.import_feed(feed or self.feed, data)

    def test_upload_csv_applies_quantities_and_marks_listings(self):
        """A manager (not an administrator) uploads a CSV: quantities stored
        per product, health figures set, the listings marked."""
        self._clear_marks()
        wizard = self._upload(csv_bytes([("FEEDT-A1", 12), ("FEEDT-A2", "3.5")]))
        self.assertEqual(wizard.state, "done", wizard.result)
        self.assertEqual(self._stock(), {self.p_code: 12.0, self.p_plain: 3.5})
        feed = self.feed
        self.assertTrue(feed.is_fresh)
        self.assertEqual(
            (feed.rows_read, feed.unknown_count, feed.zeroed_count), (2, 0, 0)
        )
        self.assertFalse(feed.last_error)
        self.assertEqual(feed.health_state, "ok")
        self.assertEqual(self._marked(), self.p_code | self.p_plain)
        row = self.env["stock.channel.supplier.stock"].search(
            [("product_id", "=", self.p_code.id)]
        )
        self.assertEqual(row.vendor_code, "FEEDT-A1")
        self.assertEqual(row.company_id, self.feed.company_id)

    def test_upload_json_and_semicolon_csv_with_bom(self):
        """JSON with generated_at, and a ';' CSV with a UTF-8 BOM and a
        decimal comma, are read alike."""
        wizard = self._upload(
            json_bytes([("FEEDT-A1", 4)], generated_at="2026-12-04T08:00:00+01:00")
        )
        self.assertEqual(wizard.state, "done", wizard.result)
        self.assertEqual(self._stock(), {self.p_code: 4.0})
        self.assertEqual(
            self.feed.last_generated_at, fields.Datetime.to_datetime("2026-12-04 07:00")
        )
        data = b"\xef\xbb\xbf" + csv_bytes(
            [("FEEDT-A1", "2,5"), ("FEEDT-A2", 7)],
            header="SKU;Quantity;Name",
            delimiter=";",
        )
        self._import(data)
        self.assertEqual(self._stock(), {self.p_code: 2.5, self.p_plain: 7.0})

    def test_unknown_skus_counted_and_sampled(self):
        """SKUs matching no product are counted, a sample kept (20 at most)."""
        rows = [("FEEDT-A1", 1)] + [(f"NOPE-{i:02d}", 1) for i in range(25)]
        result = self._import(csv_bytes(rows))
        self.assertEqual((result.matched, result.unknown), (1, 25))
        self.assertEqual(self.feed.unknown_count, 25)
        sample = self.feed.unknown_skus.split(", ")
        self.assertEqual(len(sample), 20)
        self.assertEqual(sample[0], "NOPE-00")
        self.assertEqual(self.feed.health_state, "warning")

    def test_vendor_code_before_internal_reference(self):
        """Vendor code mode: the vendor's own code of the pricelist line
        matches; another vendor's code does not; the internal reference is
        the fallback. Internal reference mode ignores vendor codes."""
        data = csv_bytes([("VND-300", 5), ("OTHER-200", 6), ("FEEDT-A1", 7)])
        result = self._import(data)
        self.assertEqual(self._stock(), {self.p_vendor: 5.0, self.p_code: 7.0})
        self.assertEqual(result.unknown, 1)
        self.assertEqual(self.feed.unknown_skus, "OTHER-200")
        by_code = self._create_feed("feedt-by-code", match_by="default_code")
        self._import(data, by_code)
        self.assertEqual(self._stock(by_code), {self.p_code: 7.0})

    def test_match_by_barcode(self):
        feed = self._create_feed("feedt-barcode", match_by="barcode")
        self._import(csv_bytes([("FEEDT-BC4", 9), ("FEEDT-A1", 1)]), feed)
        self.assertEqual(self._stock(feed), {self.p_barcode: 9.0})

    def test_zero_when_missing(self):
        """A product absent from the next file gets 0 (counted, marked);
        with the option off its last quantity is kept."""
        self._import(csv_bytes([("FEEDT-A1", 5), ("FEEDT-A2", 6)]))
        self._clear_marks()
        result = self._import(csv_bytes([("FEEDT-A1", 5)]))
        self.assertEqual(result.zeroed, 1)
        self.assertEqual(self._stock(), {self.p_code: 5.0, self.p_plain: 0.0})
        self.assertEqual(self.feed.zeroed_count, 1)
        self.assertEqual(self._marked(), self.p_plain)
        keep = self._create_feed("feedt-keep", zero_when_missing=False)
        self._import(csv_bytes([("FEEDT-A1", 5), ("FEEDT-A2", 6)]), keep)
        self._import(csv_bytes([("FEEDT-A1", 5)]), keep)
        self.assertEqual(self._stock(keep), {self.p_code: 5.0, self.p_plain: 6.0})

    def test_unchanged_file_marks_nothing(self):
        """The same file again changes no row and marks no listing; a new
        vendor buffer marks every product of the feed."""
        data = csv_bytes([("FEEDT-A1", 5), ("FEEDT-A2", 6)])
        self._import(data)
        self._clear_marks()
        self.assertEqual(self._import(data).changed, 0)
        self.assertFalse(self._marked())
        self.feed.with_user(self.manager).write({"buffer_value": 2})
        self.assertEqual(self._marked(), self.p_code | self.p_plain)

    def test_buffer_only_marks_effective_changes(self):
        """With a buffer of 5 units, 3 -> 4 leaves the sellable 0: no mark."""
        self.feed.buffer_value = 5
        self._import(csv_bytes([("FEEDT-A1", 3), ("FEEDT-A2", 10)]))
        self._clear_marks()
        self._import(csv_bytes([("FEEDT-A1", 4), ("FEEDT-A2", 11)]))
        self.assertEqual(self._marked(), self.p_plain)

    def test_bad_files_are_refused_whole(self):
        """Each bad file: a clear error naming the row, nothing changed but
        the feed's last error."""
        self._import(csv_bytes([("FEEDT-A1", 5)]))
        before = self._stock()
        figures = (self.feed.rows_read, self.feed.last_update)
        cases = {
            "wrong columns": (b"code,qty\nFEEDT-A1,3\n", "sku and quantity"),
            "negative": (csv_bytes([("FEEDT-A1", 2), ("FEEDT-A2", -1)]), "row 3"),
            "non-numeric": (csv_bytes([("FEEDT-A1", "lots")]), "not a number"),
            "not finite": (csv_bytes([("FEEDT-A1", "nan")]), "not a finite"),
            "duplicate": (
                csv_bytes([("FEEDT-A1", 1), ("FEEDT-A1", 2)]),
                "listed again (first in row 2)",
            ),
            "empty sku": (csv_bytes([(" ", 1)]), "the SKU is empty"),
            "json quantity": (json_bytes([("FEEDT-A1", "x")]), "item 1"),
            "json shape": (b'{"rows": []}', '"items" list'),
            "bad time": (
                json_bytes([("FEEDT-A1", 1)], generated_at="yesterday"),
                "ISO 8601",
            ),
            "future time": (
                json_bytes([("FEEDT-A1", 1)], generated_at="2999-01-01T00:00:00Z"),
                "in the future",
            ),
            "not utf-8": (b"sku,quantity\n\xff\xfe,1\n", "UTF-8"),
            "blank": (b" \n", "empty"),
        }
        for name, (data, expected) in cases.items():
            with self.subTest(name):
                self._clear_marks()
                wizard = self._upload(data)
                self.assertEqual(wizard.state, "refused")
                self.assertIn(expected, wizard.result)
                self.assertIn(expected, self.feed.last_error)
                self.assertNotIn("Traceback", self.feed.last_error)
                self.assertEqual(self._stock(), before)
                self.assertEqual((self.feed.rows_read, self.feed.last_update), figures)
                self.assertFalse(self._marked())
        # The next good file clears the error.
        self._import(csv_bytes([("FEEDT-A1", 5)]))
        self.assertFalse(self.feed.last_error)

    def test_oversized_files_are_refused(self):
        """Too many rows or too many bytes: refused before anything is
        written (the limits are module constants)."""
        with mock.patch.object(supplier_feed_parse, "MAX_ROWS", 2):
            with self.assertRaisesRegex(FeedFileError, "more than 2 rows"):
                self._import(csv_bytes([(f"FEEDT-A{i}", 1) for i in (1, 2, 3)]))
            with self.assertRaisesRegex(FeedFileError, "more than 2 rows"):
                self._import(json_bytes([(f"FEEDT-A{i}", 1) for i in (1, 2, 3)]))
        with mock.patch.object(supplier_feed_parse, "MAX_FILE_BYTES", 30):
            with self.assertRaisesRegex(FeedFileError, "too large"):
                self._import(csv_bytes([("FEEDT-A1", 1), ("FEEDT-A2", 1)]))
        self.assertEqual(self._stock(), {})
        self.assertFalse(self.feed.last_update)

    def test_stale_feed_zeroed_and_listings_marked(self):
        """A feed past its freshness window: the cron marks its products'
        listings (once) and counts the quantities zeroed; the next import
        makes it fresh again."""
        self._import(csv_bytes([("FEEDT-A1", 5), ("FEEDT-A2", 0)]))
        self.env.cr.execute(
            "UPDATE stock_channel_supplier_feed SET last_update = %s WHERE id = %s",
            [fields.Datetime.now() - timedelta(hours=25), self.feed.id],
        )
        self.feed.invalidate_recordset()
        self.assertFalse(self.feed.is_fresh)
        self.assertEqual(self.feed.health_state, "alert")
        self._clear_marks()
        Feed = self.env["stock.channel.supplier.feed"]
        self.assertIn(self.feed.id, Feed._cron_mark_stale())
        self.assertEqual(self._marked(), self.p_code)
        self.assertEqual(self.feed.zeroed_count, 1)
        self._clear_marks()
        self.assertNotIn(self.feed.id, Feed._cron_mark_stale())
        self.assertFalse(self._marked())
        self.assertEqual(self.feed.zeroed_count, 1)
        todo = self.feed.activity_ids
        self.assertEqual(len(todo), 1)
        self.assertIn("stale", todo.summary)
        # Fresh again: every product with a quantity changes back, the
        # to-do is done at the next run.
        result = self._import(csv_bytes([("FEEDT-A1", 5), ("FEEDT-A2", 0)]))
        self.assertEqual(result.changed, 1)
        self.assertTrue(self.feed.is_fresh)
        self.assertFalse(self.feed.stale_notified)
        Feed._cron_mark_stale()
        self.assertFalse(self.feed.activity_ids)

    def test_stale_replay_refused(self):
        """A file generated before the last one applied is refused; the
        same one again is applied (idempotent)."""
        self._import(json_bytes([("FEEDT-A1", 8)], "2026-12-04T10:00:00Z"))
        with self.assertRaisesRegex(StaleFeed, "before the last one applied"):
            self._import(json_bytes([("FEEDT-A1", 99)], "2026-12-04T09:59:59Z"))
        self.assertEqual(self._stock(), {self.p_code: 8.0})
        self._import(json_bytes([("FEEDT-A1", 8)], "2026-12-04T10:00:00Z"))
        with self.assertRaises(UserError):
            self._upload(json_bytes([("FEEDT-A1", 1)], "2026-12-01T00:00:00Z"))

    def test_concurrent_import_refused(self):
        """While another connection imports the feed (holds its lock), a
        second import is refused at once with a clear error."""
        other = db_connect(get_db_name()).cursor()
        self.addCleanup(other.close)
        self.addCleanup(other.rollback)
        other.execute(
            "SELECT pg_try_advisory_xact_lock(%s, %s)",
            [supplier_feed_import.NAMESPACE, self.feed.id],
        )
        self.assertTrue(other.fetchone()[0])
        with self.assertRaisesRegex(FeedBusy, "Another import"):
            self._import(csv_bytes([("FEEDT-A1", 5)]))
        with self.assertRaisesRegex(UserError, "Another import"):
            self._upload(csv_bytes([("FEEDT-A1", 5)]))
        self.assertEqual(self._stock(), {})
        other.rollback()
        self._import(csv_bytes([("FEEDT-A1", 5)]))
        self.assertEqual(self._stock(), {self.p_code: 5.0})

    def test_non_manager_refused(self):
        """A Channel Sync user reads feeds and levels, cannot create, write,
        upload or read the secrets."""
        self._import(csv_bytes([("FEEDT-A1", 5)]))
        feed = self.feed.with_user(self.viewer)
        self.assertEqual(feed.name, self.feed.name)
        self.assertTrue(feed.stock_ids)
        with self.assertRaises(AccessError):
            feed.write({"buffer_value": 3})
        with self.assertRaises(AccessError):
            self._create_feed("feedt-nope").with_user(self.viewer).copy()
        with self.assertRaises(AccessError):
            feed.read(["webhook_secret"])
        with self.assertRaises(AccessError):
            self._upload(csv_bytes([("FEEDT-A1", 1)]), user=self.viewer)
        with self.assertRaises(AccessError):
            self.feed.with_user(self.manager).write(
                {"last_update": fields.Datetime.now()}
            )

    def test_manager_configures_feeds(self):
        """A manager (not an administrator) creates a feed; push and poll
        feeds need a technical user who is no administrator."""
        Feed = self.env["stock.channel.supplier.feed"].with_user(self.manager)
        feed = Feed.create(
            {"name": "Mine", "code": "feedt-mine", "partner_id": self.vendor.id}
        )
        self.assertEqual(feed.lead_time_days, 3)
        self.assertEqual(feed.freshness_hours, 24)
        self.assertTrue(feed.zero_when_missing)
        self.assertTrue(feed.webhook_secret)
        with self.assertRaises(ValidationError):
            feed.write({"source": "push"})
        with self.assertRaises(ValidationError):
            feed.write(
                {"source": "push", "user_id": self.env.ref("base.user_admin").id}
            )
        feed.write({"source": "push", "user_id": self.robot.id})
        with self.assertRaises(ValidationError):
            feed.write({"code": "Not A Slug"})
        with self.assertRaises(ValidationError):
            feed.write({"source": "poll", "poll_url": False})

    def test_multi_company_isolation(self):
        """A feed of another company is invisible to this company's users,
        and matches only products its company may sell."""
        company_b = self.env["res.company"].create({"name": "Feed Test Co B"})
        only_a = self.env["product.product"].create(
            {
                "name": "Feed A only",
                "default_code": "FEEDT-ONLY-A",
                "company_id": self.env.company.id,
            }
        )
        feed_b = self._create_feed("feedt-vendor", company_id=company_b.id)
        result = self._import(csv_bytes([("FEEDT-ONLY-A", 3), ("FEEDT-A1", 4)]), feed_b)
        self.assertEqual((result.matched, result.unknown), (1, 1))
        self.assertEqual(self._stock(feed_b), {self.p_code: 4.0})
        Feed = self.env["stock.channel.supplier.feed"].with_user(self.manager)
        self.assertNotIn(feed_b, Feed.search([]))
        Stock = self.env["stock.channel.supplier.stock"].with_user(self.manager)
        self.assertFalse(Stock.search([("feed_id", "=", feed_b.id)]))
        manager_b = new_test_user(
            self.env,
            login="feedt_manager_b",
            groups="base.group_user,stock_channel_sync.group_channel_manager",
            company_id=company_b.id,
            company_ids=[(6, 0, [company_b.id])],
        )
        self.assertEqual(
            self.env["stock.channel.supplier.feed"].with_user(manager_b).search([]),
            feed_b,
        )
        self.assertFalse(only_a in self._stock(feed_b))


@tagged("post_install", "-at_install")
class TestSupplierFeedPoll(SupplierFeedFixtures, TransactionCase):
    """Polled feeds: a cron enqueues one job per due feed, the job fetches
    the file from a real local server through the outbound guard."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls._setup_feed_world()
        cls.server = VendorFeedServer(token="vendor-token-42")
        cls.server.__enter__()
        cls.addClassCleanup(cls.server.__exit__)
        cls.polled = cls._create_feed(
            "feedt-polled",
            source="poll",
            poll_url=cls.server.url,
            poll_token="vendor-token-42",
            user_id=cls.robot.id,
        )

    def _poll(self):
        return self.polled.with_user(self.robot)._poll_feed()

    def test_cron_enqueues_due_feeds_once(self):
        """Due polled feeds get one job (as the technical user); a feed
        polled within its interval gets none."""
        with trap_jobs() as trap:
            self.env["stock.channel.supplier.feed"]._cron_poll_feeds()
            trap.assert_jobs_count(1, only=self.polled._poll_feed)
            job = trap.enqueued_jobs[0]
            self.assertEqual(job.user_id, self.robot.id)
            self.assertEqual(
                job.identity_key,
                f"stock_channel_sync.supplier_feed.poll.{self.polled.id}",
            )
        self.env.cr.execute(
            "UPDATE stock_channel_supplier_feed SET last_poll_at = %s WHERE id = %s",
            [fields.Datetime.now(), self.polled.id],
        )
        self.polled.invalidate_recordset()
        with trap_jobs() as trap:
            self.env["stock.channel.supplier.feed"]._cron_poll_feeds()
            trap.assert_jobs_count(0, only=self.polled._poll_feed)

    def test_poll_imports_the_vendor_file(self):
        """The job fetches Poll URL with the bearer token and imports it."""
        self.server.body = csv_bytes([("FEEDT-A1", 11), ("UNKNOWN-1", 2)])
        self._clear_marks()
        result = self._poll()
        self.assertIn("2 rows read", result)
        self.assertEqual(self._stock(self.polled), {self.p_code: 11.0})
        self.assertEqual(
            self.server.requests[-1], ("/stock.csv", "Bearer vendor-token-42")
        )
        self.assertEqual(self.polled.unknown_count, 1)
        self.assertTrue(self.polled.last_poll_at)
        self.assertEqual(self._marked(), self.p_code)

    def test_poll_outage_is_retried(self):
        """A 503 is transient: retried (through a day, the kind's retries),
        nothing written."""
        self.server.fail_status = 503
        with self.assertRaises(RetryableJobError):
            self._poll()
        self.assertEqual(self._stock(self.polled), {})
        kind = jobs.KINDS["supplier_feed_poll"]
        self.assertEqual(kind.max_retries, MARKETPLACE_MAX_RETRIES)

    def test_poll_refusals_show_on_the_feed(self):
        """A 4xx or a bad file ends the job with the reason on the feed,
        never the answer's body or the token."""
        self.server.fail_status = 404
        self.assertTrue(self._poll().startswith("refused"))
        self.assertIn("HTTP 404", self.polled.last_error)
        self.assertNotIn("vendor-token-42", self.polled.last_error)
        self.server.body = b"code;qty\nA;1\n"
        self.assertTrue(self._poll().startswith("refused"))
        self.assertIn("sku and quantity", self.polled.last_error)
        self.assertEqual(self._stock(self.polled), {})

    def test_poll_goes_through_the_outbound_guard(self):
        """A private address not listed in the allowed hosts is refused
        before anything is sent."""
        self.env["ir.config_parameter"].set_param(
            "stock_channel_sync.allowed_http_hosts", ""
        )
        sent = len(self.server.requests)
        self.assertTrue(self._poll().startswith("refused"))
        self.assertIn("https", self.polled.last_error)
        self.assertEqual(len(self.server.requests), sent)


@tagged("post_install", "-at_install")
class TestSupplierFeedRace(TransactionCase):
    """Two connections importing one committed feed: an older file
    committed second never wins."""

    def setUp(self):
        super().setUp()
        with Registry(get_db_name()).cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {"tracking_disable": True})
            vendor = env["res.partner"].create({"name": "Feed Race Vendor"})
            code = f"feedt-race-{uuid.uuid4().hex[:8]}"
            self.feed_id = (
                env["stock.channel.supplier.feed"]
                .create({"name": code, "code": code, "partner_id": vendor.id})
                .id
            )
            self.vendor_id = vendor.id
        self.addCleanup(self._drop)

    def _drop(self):
        with Registry(get_db_name()).cursor() as cr:
            cr.execute(
                "DELETE FROM stock_channel_supplier_feed WHERE id = %s", [self.feed_id]
            )
            cr.execute("DELETE FROM res_partner WHERE id = %s", [self.vendor_id])

    def _cursor(self):
        cr = Registry(get_db_name()).cursor()
        self.addCleanup(cr.close)
        env = api.Environment(cr, SUPERUSER_ID, {})
        return env, env["stock.channel.supplier.feed"].browse(self.feed_id)

    @mute_logger("odoo.sql_db")
    def test_older_file_committed_second_is_refused(self):
        """A began before B applied a newer file and committed: A's import
        of an older file fails to serialize (Odoo retries it), and the retry
        refuses it as stale."""
        env_a, feed_a = self._cursor()
        env_a.cr.execute("SELECT 1 FROM stock_channel_supplier_feed LIMIT 1")
        env_b, feed_b = self._cursor()
        supplier_feed_import.import_feed(
            feed_b, json_bytes([("RACE-1", 5)], "2026-12-04T10:00:00Z")
        )
        env_b.cr.commit()
        older = json_bytes([("RACE-1", 50)], "2026-12-04T09:00:00Z")
        with self.assertRaises(SerializationFailure):
            supplier_feed_import.import_feed(feed_a, older)
        env_a.cr.rollback()
        env_retry, feed_retry = self._cursor()
        with self.assertRaises(StaleFeed):
            supplier_feed_import.import_feed(feed_retry, older)
        env_retry.cr.rollback()
        self.assertEqual(
            feed_retry.last_generated_at,
            fields.Datetime.to_datetime("2026-12-04 10:00:00"),
        )
