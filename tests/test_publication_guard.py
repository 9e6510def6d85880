import threading

from odoo import SUPERUSER_ID, api
from odoo.tests import tagged

from odoo.addons.queue_job.job import Job

from ..services import jobs
from .common import ChannelCase
from .marketplace import Reply
from .test_publication_lock import CommittedChannelCase, committed


@tagged("post_install", "-at_install")
class TestChangeDuringRun(CommittedChannelCase):
    """A change committed while its channel's publication job runs gets a job
    of its own, whatever the transaction saw when it began: the marketplace
    ends at the newest ATP and nothing stays pending without a job. The
    jobs run as queue_job's runner runs them (started committed, performed,
    done committed) on their own connections."""

    def _drop_jobs(self):
        committed(
            lambda env: env.cr.execute(
                "DELETE FROM queue_job WHERE stock_channel_id = %s",
                [self.ids["channel"]],
            )
        )

    def setUp(self):
        super().setUp()
        self._drop_jobs()
        self.addCleanup(self._drop_jobs)

    def _waiting_jobs(self):
        def read(env):
            env.cr.execute(
                "SELECT uuid FROM queue_job WHERE stock_channel_id = %s"
                " AND method_name = '_publish_pending' AND state = ANY(%s)"
                " ORDER BY id",
                [self.ids["channel"], list(jobs.WAITING)],
            )
            return [row[0] for row in env.cr.fetchall()]

        return committed(read)

    def _run_job(self, job_uuid, as_runner=True):
        """Run job ``job_uuid`` in a thread on its own connection, as the
        runner does (``as_runner``) or by performing it while it is still
        recorded as pending (how a script or another harness may run it)."""

        def run(env):
            job = Job.load(env, job_uuid)
            if as_runner:
                job.set_started()
                job.store()
                env.cr.commit()
            result = job.perform()
            env.flush_all()
            job.set_done()
            job.store()
            return result

        return self._thread(job_uuid, run)

    def _run_waiting(self):
        """Run the waiting publication jobs until none is left."""
        for _round in range(5):
            waiting = self._waiting_jobs()
            if not waiting:
                return
            for job_uuid in waiting:
                job = self._run_job(job_uuid)
                job.join(30)
                self.assertNotIn("error", job.outcome)
        self.fail("publication jobs keep coming")

    def _assert_current(self):
        atp, published, pending = self._state()
        self.assertEqual(self.market.levels, {(self.ids["sku"], ""): atp})
        self.assertEqual((published, pending), (atp, False))
        self.assertFalse(self._waiting_jobs())

    def test_change_from_a_transaction_older_than_the_run(self):
        """The transaction began while the job was waiting (so it merges its
        change into it) and commits while the job, started since, is held
        at the marketplace: a new job publishes the change."""
        self._change_stock(10)
        (first_uuid,) = self._waiting_jobs()
        hold = threading.Event()
        self.addCleanup(hold.set)
        self.market.script.append(Reply(hold=hold))
        with self.registry.cursor() as older:
            older.execute("SELECT 1 FROM queue_job LIMIT 1")  # its snapshot
            first = self._run_job(first_uuid)
            self._wait_for_request(first)
            env = api.Environment(older, SUPERUSER_ID, {})
            env["stock.quant"]._update_available_quantity(
                env["product.product"].browse(self.ids["product"]),
                env["stock.location"].browse(self.ids["location"]),
                5,
            )
            # Its snapshot still shows the job waiting: it merges into it.
            older.execute("SELECT state FROM queue_job WHERE uuid = %s", [first_uuid])
            self.assertEqual(older.fetchone()[0], "pending")
            older.commit()
        (second_uuid,) = self._waiting_jobs()
        self.assertNotEqual(second_uuid, first_uuid)
        hold.set()
        first.join(30)
        self.assertEqual(first.outcome, {"result": "1 sent, 0 unchanged"})
        self._run_waiting()
        self._assert_current()

    def test_change_while_a_run_recorded_as_waiting(self):
        """Performed while still recorded as pending, the run itself looks
        again after its commit and enqueues the change it did not see."""
        self._change_stock(10)
        (first_uuid,) = self._waiting_jobs()
        hold = threading.Event()
        self.addCleanup(hold.set)
        self.market.script.append(Reply(hold=hold))
        first = self._run_job(first_uuid, as_runner=False)
        self._wait_for_request(first)
        self._change_stock(5)
        self.assertEqual(self._waiting_jobs(), [first_uuid])
        hold.set()
        first.join(30)
        self.assertEqual(first.outcome, {"result": "1 sent, 0 unchanged"})
        self._run_waiting()
        self._assert_current()

    def test_run_without_new_change_enqueues_nothing(self):
        """Nothing changed during the run: no job after it."""
        self._change_stock(10)
        (first_uuid,) = self._waiting_jobs()
        first = self._run_job(first_uuid)
        first.join(30)
        self.assertEqual(first.outcome, {"result": "1 sent, 0 unchanged"})
        self.assertFalse(self._waiting_jobs())
        self._assert_current()


@tagged("post_install", "-at_install")
class TestPendingSweep(ChannelCase):
    """The batch cron's net: a real-time channel with pending listings and
    no publication job waiting or running gets one."""

    def _publication_jobs(self):
        return self.env["queue.job"].search(
            [
                ("stock_channel_id", "=", self.channel.id),
                ("method_name", "=", "_publish_pending"),
            ]
        )

    def test_pending_without_job_gets_one(self):
        self._set_stock(self.product, self.stock_main, 4)
        self._flush_marks()
        self._publication_jobs().unlink()
        self.assertTrue(self.listing.pending)
        self.env["stock.channel"]._cron_publish_batch()
        self.assertEqual(len(self._publication_jobs()), 1)
        # Once one waits, the sweep adds nothing.
        self.env["stock.channel"]._cron_publish_batch()
        self.assertEqual(len(self._publication_jobs()), 1)

    def test_running_job_is_enough(self):
        self._set_stock(self.product, self.stock_main, 4)
        self._flush_marks()
        self._publication_jobs().write({"state": "started"})
        self.env["stock.channel"]._cron_publish_batch()
        self.assertEqual(len(self._publication_jobs()), 1)

    def test_listing_in_a_feed_being_processed_waits_for_it(self):
        self._set_stock(self.product, self.stock_main, 4)
        self._flush_marks()
        self._publication_jobs().unlink()
        self.env.cr.execute(
            "UPDATE stock_channel_listing SET feed_ref = 'F-1',"
            " feed_submitted_at = now() WHERE id = %s",
            [self.listing.id],
        )
        self.env["stock.channel"]._cron_publish_batch()
        self.assertFalse(self._publication_jobs())
