from odoo.tests import tagged

from odoo.addons.queue_job.exception import RetryableJobError
from odoo.addons.queue_job.job import Job

from ..services.retries import (
    MARKETPLACE_MAX_RETRIES,
    OUTAGE_SECONDS,
    retry_span,
    retry_wait,
)
from .common import ChannelCase

# queue_job's default number of tries when with_delay() does not say.
OLD_DEFAULT_MAX_RETRIES = 5

JOB_FUNCTIONS = {
    ("stock.channel", "_publish_pending"): "root.stock_channel_sync",
    ("stock.channel", "_reconcile"): "root.stock_channel_sync",
    ("stock.channel.order", "_send_shipment"): "root.stock_channel_sync",
    ("stock.channel.order", "_process"): "root.stock_channel_sync.orders",
    ("stock.channel.order", "_cancel_listed"): "root.stock_channel_sync.orders",
    ("stock.channel", "_pull_orders"): "root.stock_channel_sync.orders",
    ("stock.channel.order", "_process_return"): "root.stock_channel_sync.orders",
    ("stock.channel.order", "_read_refunds"): "root.stock_channel_sync.orders",
}
MARKETPLACE_JOBS = (
    ("stock.channel", "_publish_pending"),
    ("stock.channel", "_reconcile"),
    ("stock.channel.order", "_send_shipment"),
    ("stock.channel", "_pull_orders"),
    ("stock.channel.order", "_read_refunds"),
)


@tagged("post_install", "-at_install")
class TestJobRetries(ChannelCase):
    """Every job is declared in data; marketplace jobs outlast a day of
    outage."""

    def _function(self, model, method):
        return self.env["queue.job.function"].search(
            [("model_id.model", "=", model), ("method", "=", method)]
        )

    def test_every_job_function_declared(self):
        """Channel, retry pattern and related action of each job, from data."""
        for (model, method), channel in JOB_FUNCTIONS.items():
            function = self._function(model, method)
            self.assertEqual(len(function), 1, method)
            self.assertEqual(function.channel_id.complete_name, channel)
            self.assertTrue(function.retry_pattern, method)
            self.assertEqual(
                function.related_action, {"func_name": "related_action_open_record"}
            )

    def test_retry_arithmetic_outlasts_a_day(self):
        """With max_retries the retries span at least 24 hours; with the old
        default of 5 tries they ended within minutes."""
        for key in MARKETPLACE_JOBS:
            pattern = self._function(*key).retry_pattern
            self.assertGreaterEqual(
                retry_span(pattern, MARKETPLACE_MAX_RETRIES), OUTAGE_SECONDS, key
            )
            self.assertLess(retry_span(pattern, OLD_DEFAULT_MAX_RETRIES), 3600, key)

    def test_arithmetic_is_queue_jobs(self):
        """The enqueued job has the data's channel and max_retries, and
        queue_job waits what the arithmetic says after every try."""
        self.channel._enqueue_publication(delay=0)
        job = Job.load(
            self.env,
            self.env["queue.job"]
            .search(
                [("identity_key", "=", f"stock_channel_sync.publish.{self.channel.id}")]
            )
            .uuid,
        )
        self.assertEqual(job.channel, "root.stock_channel_sync")
        self.assertEqual(job.max_retries, MARKETPLACE_MAX_RETRIES)
        pattern = self._function("stock.channel", "_publish_pending").retry_pattern
        for tries in range(1, MARKETPLACE_MAX_RETRIES):
            job.retry = tries
            self.assertEqual(job._get_retry_seconds(), retry_wait(pattern, tries))

    def test_keeps_retrying_past_the_old_default(self):
        """The marketplace is down: the 6th and later tries still ask for a
        retry instead of failing the job for good; the last one fails it."""
        self.channel.base_url = "http://127.0.0.1:9"  # nothing listens there
        self.channel._enqueue_publication(delay=0)
        record = self.env["queue.job"].search(
            [("identity_key", "=", f"stock_channel_sync.publish.{self.channel.id}")]
        )
        job = Job.load(self.env, record.uuid)
        job.retry = OLD_DEFAULT_MAX_RETRIES
        with self.assertRaises(RetryableJobError):
            job.perform()
        self.assertEqual(job.retry, OLD_DEFAULT_MAX_RETRIES + 1)
        job.retry = MARKETPLACE_MAX_RETRIES - 1
        with self.assertRaisesRegex(Exception, "Max. retries"):
            job.perform()
