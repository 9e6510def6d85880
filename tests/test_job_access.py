from odoo.tests import new_test_user, tagged

from .common import ChannelCase


@tagged("post_install", "-at_install")
class TestManagerWithoutQueueRights(ChannelCase):
    """A Channel Sync manager who is not a queue_job manager: Retry Failed,
    the job links and the health figures work, on this addon's jobs only."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.manager = new_test_user(
            cls.env,
            login="channel_only_manager",
            groups="base.group_user,stock_channel_sync.group_channel_manager",
        )
        cls.env["stock.channel"].flush_model()

    def setUp(self):
        super().setUp()
        self.assertFalse(self.manager.has_group("queue_job.group_queue_job_manager"))
        self.assertFalse(self.manager._is_superuser() or self.manager._is_admin())
        (self.channel | self.channel_both)._enqueue_publication(delay=0)
        self.jobs = (self.channel | self.channel_both)._channel_jobs()
        self.jobs.write({"state": "failed"})
        self.foreign = self.env["res.partner"].with_delay().name_search("x")
        self.env.flush_all()

    def test_retry_failed(self):
        """Requeues the channel's failed jobs, not another channel's."""
        self.channel.with_user(self.manager).action_retry_failed()
        self.assertEqual(
            {job.identity_key: job.state for job in self.jobs},
            {
                f"stock_channel_sync.publish.{self.channel.id}": "pending",
                f"stock_channel_sync.publish.{self.channel_both.id}": "failed",
            },
        )

    def test_job_link_opens(self):
        """A publication's job link opens a job form the manager can read."""
        job = self.channel._channel_jobs()
        publication = self.env["stock.channel.publication"].create(
            {
                "listing_id": self.listing.id,
                "channel_id": self.channel.id,
                "quantity": 1,
                "state": "failed",
                "job_uuid": job.uuid,
            }
        )
        action = publication.with_user(self.manager).action_view_job()
        self.assertEqual((action["res_model"], action["res_id"]), ("queue.job", job.id))
        Job = self.env["queue.job"].with_user(self.manager)
        form_fields = Job.get_views([(False, "form")])["models"]["queue.job"]
        spec = {
            name: {"fields": {"display_name": {}}}
            if Job._fields[name].type == "many2one"
            else {}
            for name in form_fields["fields"]
            if Job._fields[name].type not in ("one2many", "many2many")
        }
        (values,) = Job.browse(job.id).web_read(spec)
        self.assertEqual(values["uuid"], job.uuid)

    def test_only_this_addons_jobs(self):
        """Other modules' jobs stay hidden; nothing can be written."""
        Job = self.env["queue.job"].with_user(self.manager)
        visible = Job.search([])
        self.assertIn(self.jobs[0], visible)
        self.assertNotIn(self.foreign.db_record(), visible)
        self.assertFalse(Job.browse(self.jobs[0].id).has_access("write"))

    def test_health_figures(self):
        """The failed-jobs figure, as the manager."""
        channel = self.channel.with_user(self.manager)
        self.assertEqual(channel.failed_job_count, 1)
        self.assertEqual(
            channel._channel_jobs(),
            self.jobs.filtered(
                lambda job: job.identity_key.endswith(f".{self.channel.id}")
            ),
        )
