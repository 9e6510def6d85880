import random
from unittest.mock import patch

from psycopg2.errors import DeadlockDetected, LockNotAvailable, SerializationFailure

from odoo.exceptions import UserError
from odoo.tests import BaseCase, tagged

from odoo.addons.queue_job.exception import RetryableJobError
from odoo.addons.queue_job.job import Job

from ..services import sale_order_builder
from ..services.retries import (
    MAX_CONTENTION_DELAY,
    contention_delay,
    is_contention,
)
from .common import OrderCase


@tagged("post_install", "-at_install")
class TestContentionDelay(BaseCase):
    """The delay between tries of a confirmation that met contention."""

    def test_jittered_growing_capped(self):
        """Between 1 s and half the wait, never over the cap."""
        rng = random.Random(7)
        early = [contention_delay(0, rng) for _i in range(200)]
        self.assertEqual((min(early), max(early)), (1, 2))
        later = [contention_delay(40, rng) for _i in range(200)]
        self.assertGreater(len(set(later)), 5)
        self.assertLessEqual(max(later), 20)
        late = [contention_delay(86400, rng) for _i in range(200)]
        self.assertLessEqual(max(late), MAX_CONTENTION_DELAY)
        self.assertGreater(max(late), 20)

    def test_what_is_contention(self):
        """Serialization failures, deadlocks and lock timeouts, also wrapped."""
        for exc in (
            SerializationFailure("could not serialize access"),
            DeadlockDetected("deadlock"),
            LockNotAvailable("lock"),
        ):
            self.assertTrue(is_contention(exc))
        try:
            try:
                raise SerializationFailure("x")
            except SerializationFailure as inner:
                raise RuntimeError("wrapped") from inner
        except RuntimeError as outer:
            self.assertTrue(is_contention(outer))
        self.assertFalse(is_contention(ValueError("no")))


@tagged("post_install", "-at_install")
class TestNoOrderLostToContention(OrderCase):
    """A confirmation that meets stock contention retries for as long as it
    takes; a permanent error still ends in 'error' with one to-do."""

    def _intake(self, external_id="C1"):
        status, _answer = self._receive(
            self.channel,
            {
                "external_id": external_id,
                "customer": {"name": "Hot Buyer"},
                "lines": [
                    {"sku": self.listing.external_sku, "quantity": 1, "unit_price": 1}
                ],
            },
        )
        self.assertEqual(status, 202)
        return self._channel_order(self.channel, external_id)

    def _job(self, order):
        order._enqueue_processing()
        record = self.env["queue.job"].search(
            [("identity_key", "=", f"stock_channel_sync.process.{order.id}")]
        )
        return Job.load(self.env, record.uuid)

    def test_contention_retries_past_every_limit(self):
        """Serialization failure, deadlock, lock not available: the job
        asks for a retry without using up a try, even after its last one;
        the order stays received and promised, no to-do."""
        order = self._intake()
        job = self._job(order)
        job.retry = job.max_retries + 10
        for error in (SerializationFailure, DeadlockDetected, LockNotAvailable):
            with (
                patch.object(
                    sale_order_builder.SaleOrderBuilder,
                    "build",
                    side_effect=error("could not serialize access"),
                ),
                self.assertRaises(RetryableJobError) as caught,
            ):
                job.perform()
            self.assertTrue(caught.exception.ignore_retry)
            self.assertGreaterEqual(caught.exception.seconds, 1)
            self.assertEqual(job.retry, job.max_retries + 10)
        self.assertEqual(order.state, "received")
        self.assertFalse(order.activity_ids)
        job.perform()
        self.assertEqual(order.state, "done")

    def test_permanent_error_goes_to_error_once(self):
        """Not contention: state error, the reason, one to-do, no retry."""
        order = self._intake()
        with patch.object(
            sale_order_builder.SaleOrderBuilder,
            "build",
            side_effect=UserError("no pricelist in XYZ"),
        ):
            self.assertIn("error", order.with_user(self.robot)._process())
        self.assertEqual(order.state, "error")
        self.assertEqual(order.error_message, "no pricelist in XYZ")
        self.assertEqual(len(order.activity_ids), 1)
