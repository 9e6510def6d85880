from datetime import timedelta

from odoo import fields
from odoo.exceptions import UserError
from odoo.tests import new_test_user, tagged

from odoo.addons.queue_job.tests.common import trap_jobs

from ..services import jobs
from .common import OrderCase
from .test_publication import PublicationCase

MANAGER_GROUPS = "base.group_user,stock_channel_sync.group_channel_manager"


def last_note(channel):
    """The text of the newest message in the channel's chatter."""
    message = channel.message_ids.sorted("id")[-1:]
    return message, message.body or ""


class ControlsCase(PublicationCase):
    """``channel`` behind the local marketplace, driven by a Channel Sync
    manager who is not an administrator."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.manager = new_test_user(
            cls.env, login="controls_manager", groups=MANAGER_GROUPS
        )
        cls.viewer = new_test_user(
            cls.env,
            login="controls_viewer",
            groups="base.group_user,stock_channel_sync.group_channel_user",
        )

    def setUp(self):
        super().setUp()
        self.assertFalse(self.manager._is_admin())
        self.as_manager = self.channel.with_user(self.manager)

    def _publication_jobs(self, trap):
        return [
            job
            for job in trap.enqueued_jobs
            if job.method_name == "_publish_pending" and job.recordset == self.channel
        ]


@tagged("post_install", "-at_install")
class TestPauseResume(ControlsCase):
    """Paused, the channel's changes accumulate; resumed, they all go out."""

    def test_pause_accumulates_and_resume_delivers(self):
        """Paused: a job ends at once, sending nothing, a change enqueues no
        job; resumed: the publication is queued and sends the latest
        quantity. Both in the chatter with who."""
        self.as_manager.action_pause_publication()
        self.assertTrue(self.channel.publication_paused)
        self.assertEqual(self.channel.publication_paused_by, self.manager)
        message, body = last_note(self.channel)
        self.assertEqual(message.author_id, self.manager.partner_id)
        self.assertIn("paused by controls_manager", body.lower())
        result = self._publish()
        self.assertIn("Publication paused", result)
        self.assertFalse(self.market.received)
        with trap_jobs() as trap:
            self._set_stock(self.product, self.stock_main, 4)
            self._flush_marks()
            self.assertEqual(self._publication_jobs(trap), [])
        self.listing.invalidate_recordset()
        self.assertTrue(self.listing.pending)
        with trap_jobs() as trap:
            self.as_manager.action_resume_publication()
            (job,) = self._publication_jobs(trap)
        self.assertFalse(self.channel.publication_paused)
        message, body = last_note(self.channel)
        self.assertEqual(message.author_id, self.manager.partner_id)
        self.assertIn("1 pending listing(s)", body)
        self.assertEqual(self._publish(), "1 sent, 0 unchanged")
        self.assertEqual(self.market.received[-1].json()["items"][0]["quantity"], 24)

    def test_the_sweep_skips_paused_channels(self):
        """The cron's net leaves a paused channel alone."""
        self.channel.publication_paused = True
        self._flush_marks()
        self.env["queue.job"].search(
            [("stock_channel_id", "=", self.channel.id)]
        ).unlink()
        with trap_jobs() as trap:
            self.env["stock.channel"]._cron_publish_batch()
            self.assertEqual(self._publication_jobs(trap), [])

    def test_managers_only(self):
        """A Channel Sync user can neither pause, resume nor replay."""
        channel = self.channel.with_user(self.viewer)
        for action in (
            channel.action_pause_publication,
            channel.action_resume_publication,
            channel.action_open_replay,
            channel.action_retry_failed,
        ):
            with self.subTest(action=action.__name__), self.assertRaises(UserError):
                action()


@tagged("post_install", "-at_install")
class TestReplay(ControlsCase):
    """Republish every listing published or changed in a window."""

    def _replay(self, start, end):
        wizard = (
            self.env["stock.channel.replay"]
            .with_user(self.manager)
            .create({"channel_id": self.channel.id, "date_from": start, "date_to": end})
        )
        with trap_jobs() as trap:
            wizard.action_replay()
            return self._publication_jobs(trap)

    def test_window_is_republished_with_todays_quantity(self):
        """A listing published in the window is sent again, forced, though
        unchanged since; one outside it is not; the chatter says who, the
        window and how many."""
        other = self._create_listing(self.channel, self.product_b)
        self.assertEqual(self._publish(), "2 sent, 0 unchanged")
        other_rows = self.env["stock.channel.publication"].search(
            [("listing_id", "=", other.id)]
        )
        old = fields.Datetime.now() - timedelta(days=2)
        self.env.cr.execute(
            "UPDATE stock_channel_publication SET create_date = %s WHERE id = ANY(%s)",
            [old, other_rows.ids],
        )
        now = fields.Datetime.now()
        (job,) = self._replay(now - timedelta(hours=1), now + timedelta(minutes=1))
        self.assertEqual(job.kwargs, {"force": True})
        (self.listing | other).invalidate_recordset()
        self.assertTrue(self.listing.pending)
        self.assertFalse(other.pending, "published outside the window")
        message, body = last_note(self.channel)
        self.assertEqual(message.author_id, self.manager.partner_id)
        self.assertIn("1 listing(s)", body)
        self.assertIn(fields.Datetime.to_string(now - timedelta(hours=1)), body)
        self.market.received.clear()
        self.assertEqual(self._publish(force=True), "1 sent, 0 unchanged")
        (request,) = self.market.received
        self.assertEqual(
            request.json()["items"],
            [{"sku": self.listing.external_sku, "quantity": 20}],
        )

    def test_pending_changes_in_the_window_count(self):
        """A change still pending from the window is replayed too."""
        self._flush_marks()
        now = fields.Datetime.now()
        self._replay(now - timedelta(days=1), now + timedelta(minutes=1))
        _message, body = last_note(self.channel)
        self.assertIn("1 listing(s)", body)

    def test_empty_window_and_bad_window(self):
        """Nothing in the window: nothing marked, still recorded; a window
        ending before it starts is refused."""
        self._publish()
        past = fields.Datetime.now() - timedelta(days=10)
        self.assertEqual(self._replay(past, past + timedelta(hours=1)), [])
        self.listing.invalidate_recordset()
        self.assertFalse(self.listing.pending)
        self.assertIn("0 listing(s)", last_note(self.channel)[1])
        with self.assertRaises(Exception) as caught:
            self._replay(past + timedelta(hours=1), past)
        self.assertIn("ends before it starts", str(caught.exception))


@tagged("post_install", "-at_install")
class TestRetryFailedEveryKind(OrderCase):
    """Retry Failed requeues the channel's failed jobs of every kind, as a
    Channel Sync manager who is not an administrator nor a queue_job
    manager, and says how many in the chatter."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.manager = new_test_user(
            cls.env, login="retry_manager", groups=MANAGER_GROUPS
        )

    def test_every_kind(self):
        self.assertFalse(self.manager.has_group("queue_job.group_queue_job_manager"))
        self.assertFalse(self.manager._is_admin())
        order = self.env["stock.channel.order"].create(
            {"channel_id": self.channel.id, "external_id": "retry-1", "payload": "{}"}
        )
        foreign = self.env["stock.channel.order"].create(
            {
                "channel_id": self.channel_both.id,
                "external_id": "retry-2",
                "payload": "{}",
            }
        )
        enqueued = [
            jobs.enqueue("publish", self.channel, force=False),
            jobs.enqueue("feed", self.channel, "F-1"),
            jobs.enqueue("reconcile", self.channel),
            jobs.enqueue("pull", self.channel),
            jobs.enqueue("confirm", order, coalesce=False),
            jobs.enqueue("ship", order, 1),
            jobs.enqueue("return", order, 1),
            jobs.enqueue("cancel", order),
            jobs.enqueue("refunds", order),
            jobs.enqueue("refunds", foreign),
        ]
        records = self.env["queue.job"].search(
            [("uuid", "in", [job.uuid for batch in enqueued for job in batch.values()])]
        )
        self.assertEqual(len(records), 10)
        kinds = {
            kind.name
            for kind in jobs.KINDS.values()
            if kind.model in ("stock.channel", "stock.channel.order")
        }
        self.assertEqual(
            {
                (job.model_name, job.method_name)
                for job in records
                if job.stock_channel_id == self.channel
            },
            {(jobs.KINDS[name].model, jobs.KINDS[name].method) for name in kinds},
            "one job of every channel kind",
        )
        records.write({"state": "failed"})
        self.env.flush_all()
        self.channel.with_user(self.manager).action_retry_failed()
        ours = records.filtered(lambda job: job.stock_channel_id == self.channel)
        self.assertEqual(set(ours.mapped("state")), {"pending"})
        self.assertEqual((records - ours).state, "failed", "another channel's")
        message, body = last_note(self.channel)
        self.assertEqual(message.author_id, self.manager.partner_id)
        self.assertIn("9 failed job(s) requeued", body)
