import threading
import time
import uuid
from datetime import datetime

from odoo import SUPERUSER_ID, Command, api
from odoo.modules.registry import Registry
from odoo.tests import TransactionCase, get_db_name, tagged

from odoo.addons.queue_job.exception import RetryableJobError
from odoo.addons.queue_job.job import Job

from ..services.atp import AtpEngine
from ..services.channel_lock import BUSY_RETRY_SECONDS, NAMESPACE
from .common import drop_committed_channel, technical_user
from .marketplace import Marketplace, Reply
from .test_publication import PublicationCase

ALLOWED_HOSTS = "stock_channel_sync.allowed_http_hosts"
RACE_SECRET = "whsec-race-0123456789"


class TestBusyChannel(PublicationCase):
    """A job that finds its channel's publication lock taken by another
    transaction retries shortly, without sending or waiting."""

    def _hold_lock(self, channel):
        """Take ``channel``'s lock on another connection, as a running job
        would, until the test ends."""
        other = self.registry.cursor()
        self.addCleanup(other.close)
        self.addCleanup(other.rollback)
        other.execute(
            "SELECT pg_try_advisory_xact_lock(%s, %s)", [NAMESPACE, channel.id]
        )
        self.assertTrue(other.fetchone()[0])

    def test_publication_retries_without_sending(self):
        """RetryableJobError in a few seconds, the try not counted; nothing
        sent, the listing still pending; another channel is not held."""
        self._hold_lock(self.channel)
        with self.assertRaises(RetryableJobError) as caught:
            self._publish()
        self.assertEqual(caught.exception.seconds, BUSY_RETRY_SECONDS)
        self.assertLessEqual(BUSY_RETRY_SECONDS, 5)
        self.assertTrue(caught.exception.ignore_retry)
        self.assertFalse(self.market.received)
        self.listing.invalidate_recordset()
        self.assertTrue(self.listing.pending)
        self.channel_both.base_url = self.market.url
        self.assertEqual(self._publish(self.channel_both), "1 sent, 0 unchanged")

    def test_feed_check_takes_the_same_lock(self):
        """The feed check records published quantities too: it waits for
        no one either."""
        self._hold_lock(self.channel)
        with self.assertRaises(RetryableJobError) as caught:
            self.channel.with_context(job_uuid="feed-job")._check_listings_feed("F1")
        self.assertTrue(caught.exception.ignore_retry)
        self.assertFalse(self.market.received)

    def test_queue_job_does_not_count_the_try(self):
        """Run through queue_job: the job is postponed with its tries
        untouched, so a long run beside it never exhausts them."""
        self._flush_marks()
        self.channel._enqueue_publication(delay=0)
        record = self.env["queue.job"].search(
            [("identity_key", "=", f"stock_channel_sync.publish.{self.channel.id}")]
        )
        job = Job.load(self.env, record.uuid)
        job.retry = job.max_retries - 1
        self._hold_lock(self.channel)
        with self.assertRaises(RetryableJobError):
            job.perform()
        self.assertEqual(job.retry, job.max_retries - 1)
        self.assertFalse(self.market.received)


def committed(function):
    """``function(env)`` on its own connection, committed (as superuser)."""
    with Registry(get_db_name()).cursor() as cr:
        env = api.Environment(
            cr, SUPERUSER_ID, {"tracking_disable": True, "mail_create_nolog": True}
        )
        return function(env)


class CommittedChannelCase(TransactionCase):
    """A channel, its listing and stock committed before the class's
    transaction begins and removed after (no demo data needed), published
    to a local marketplace that can hold requests: for runs really in
    parallel, each on its own connection and committed."""

    @classmethod
    def setUpClass(cls):
        cls.market = Marketplace().start()
        cls.addClassCleanup(cls.market.stop)
        cls.ids = committed(cls._create_fixture)
        cls.addClassCleanup(cls._drop_fixture)
        super().setUpClass()

    @classmethod
    def _create_fixture(cls, env):
        params = env["ir.config_parameter"]
        previous = params.get_param(ALLOWED_HOSTS)
        params.set_param(ALLOWED_HOSTS, "127.0.0.1")
        code = f"race-{uuid.uuid4().hex[:8]}"
        warehouse = env["stock.warehouse"].search(
            [("company_id", "=", env.company.id)], limit=1
        )
        channel = env["stock.channel"].create(
            {
                "name": code,
                "code": code,
                "base_url": cls.market.url,
                "webhook_secret": RACE_SECRET,
                "warehouse_ids": [Command.set(warehouse.ids)],
                "user_id": technical_user(env, "scs_committed_user").id,
            }
        )
        product = env["product.product"].create(
            {"name": code, "default_code": code.upper(), "is_storable": True}
        )
        listing = env["stock.channel.listing"].create(
            {"channel_id": channel.id, "product_id": product.id}
        )
        env["stock.quant"]._update_available_quantity(
            product, warehouse.lot_stock_id, 100
        )
        return {
            "channel": channel.id,
            "listing": listing.id,
            "sku": listing.external_sku,
            "product": product.id,
            "location": warehouse.lot_stock_id.id,
            "previous_hosts": previous,
        }

    @classmethod
    def _drop_fixture(cls):
        def drop(env):
            channel = env["stock.channel"].browse(cls.ids["channel"])
            env.cr.execute(
                "DELETE FROM queue_job WHERE identity_key = ANY(%s)",
                [list(channel._job_identity_keys())],
            )
            env.cr.execute(
                "DELETE FROM stock_quant WHERE product_id = %s", [cls.ids["product"]]
            )
            env["ir.config_parameter"].set_param(
                ALLOWED_HOSTS, cls.ids["previous_hosts"] or False
            )

        committed(drop)
        drop_committed_channel(cls.ids["channel"])

    def setUp(self):
        super().setUp()
        self.market.reset()

    # -- helpers -------------------------------------------------------------

    def _change_stock(self, quantity):
        """Commit a stock change (it marks the listing like any other)."""

        def change(env):
            env["stock.quant"]._update_available_quantity(
                env["product.product"].browse(self.ids["product"]),
                env["stock.location"].browse(self.ids["location"]),
                quantity,
            )

        committed(change)

    def _state(self):
        """(ATP now, last published quantity, pending), read afresh."""

        def read(env):
            listing = env["stock.channel.listing"].browse(self.ids["listing"])
            atp = AtpEngine(env).compute(listing.ids)[listing.id].qty
            return atp, listing.last_published_qty, listing.pending

        return committed(read)

    def _job(self, name):
        """Start the publication job in a thread (see :meth:`_thread`)."""

        def publish(env):
            channel = env["stock.channel"].browse(self.ids["channel"])
            channel = channel._as_technical_user().with_context(job_uuid=name)
            return channel._publish_pending()

        return self._thread(name, publish)

    def _thread(self, name, work):
        """Start ``work(env)`` in a thread, on its own connection (as
        superuser): committed when it returns, rolled back when it raises.
        The thread's ``outcome`` holds its result or its exception."""
        outcome = {}

        def run():
            try:
                with self.registry.cursor() as cr:
                    # The test runner holds the registries' lock: hand the
                    # registry over rather than look it up by name.
                    cr.transaction = api.Transaction(self.registry)
                    outcome["result"] = work(api.Environment(cr, SUPERUSER_ID, {}))
            except Exception as exc:  # noqa: BLE001 - kept for the assertion
                outcome["error"] = exc

        thread = threading.Thread(target=run, name=name)
        thread.outcome = outcome
        thread.start()
        return thread

    def _wait_for_request(self, job, timeout=20):
        """Until the marketplace has received ``job``'s request."""
        deadline = time.monotonic() + timeout
        while not self.market.received:
            if time.monotonic() > deadline or not job.is_alive():
                self.fail(f"the marketplace never received a request: {job.outcome}")
            time.sleep(0.02)


@tagged("post_install", "-at_install")
class TestNewestQuantityWins(CommittedChannelCase):
    """Publication jobs of one channel really in parallel, committed like the
    job runner's, against a marketplace that holds the first request."""

    def test_newest_quantity_lands_last(self):
        """The marketplace holds the first request while two more stock
        changes are published by parallel jobs: those retry instead of
        running beside it, and the marketplace's last applied quantity is
        the ATP, over several rounds."""
        for round_ in range(3):
            with self.subTest(round=round_):
                self.market.reset()
                hold = threading.Event()
                self.market.script.append(Reply(hold=hold))
                self._change_stock(10)
                first = self._job(f"race-{round_}-first")
                self._wait_for_request(first)
                for name in ("second", "third"):
                    self._change_stock(10)
                    job = self._job(f"race-{round_}-{name}")
                    job.join(30)
                    error = job.outcome.get("error")
                    self.assertIsInstance(error, RetryableJobError, job.outcome)
                    self.assertTrue(error.ignore_retry)
                # Nothing ran beside the held request.
                self.assertEqual(len(self.market.received), 1)
                hold.set()
                first.join(30)
                self.assertEqual(first.outcome, {"result": "1 sent, 0 unchanged"})
                # The retry publishes what is pending by then.
                retry = self._job(f"race-{round_}-retry")
                retry.join(30)
                self.assertEqual(retry.outcome, {"result": "1 sent, 0 unchanged"})
                atp, published, pending = self._state()
                applied = self.market.applied
                self.assertEqual(len(applied), 2)
                self.assertLess(applied[0].quantity, atp)
                self.assertEqual(applied[-1].quantity, atp)
                # In order: no receiver had to drop anything.
                self.assertTrue(all(a.kept for a in applied))
                self.assertLess(applied[0].generated_at, applied[1].generated_at)
                self.assertEqual(self.market.levels, {(self.ids["sku"], ""): atp})
                self.assertEqual(self.market.most_in_flight, 1)
                self.assertEqual((published, pending), (atp, False))

    def test_generated_at_is_utc_with_microseconds(self):
        self._change_stock(1)
        job = self._job("stamp")
        job.join(30)
        self.assertEqual(job.outcome, {"result": "1 sent, 0 unchanged"})
        stamp = self.market.received[0].json()["generated_at"]
        moment = datetime.fromisoformat(stamp)
        self.assertEqual(moment.utcoffset().total_seconds(), 0)
        self.assertRegex(stamp, r"T\d\d:\d\d:\d\d\.\d{6}\+00:00$")

    def test_snapshot_older_than_the_last_run_retries(self):
        """A job whose transaction read the database before the previous
        run committed (its REPEATABLE READ snapshot is older) gets the free
        lock, but finds the change rows that run published gone: it retries
        instead of sending again from what it saw."""
        self._change_stock(10)
        with self.registry.cursor() as stale:
            stale.execute(
                "SELECT 1 FROM stock_channel_listing WHERE id = %s",
                [self.ids["listing"]],
            )
            job = self._job("fresh")
            job.join(30)
            self.assertEqual(job.outcome, {"result": "1 sent, 0 unchanged"})
            channel = api.Environment(stale, SUPERUSER_ID, {})["stock.channel"]
            channel = channel.browse(self.ids["channel"])._as_technical_user()
            try:
                channel.with_context(job_uuid="stale")._publish_pending()
            except RetryableJobError as exc:
                self.assertTrue(exc.ignore_retry)
            else:
                self.fail("a run on a stale snapshot must retry")
            finally:
                stale.rollback()
        self.assertEqual(len(self.market.received), 1)
        atp, published, pending = self._state()
        self.assertEqual((published, pending), (atp, False))
