import logging
import uuid
from datetime import timedelta

from odoo import api, fields, models
from odoo.exceptions import UserError
from odoo.tools import SQL

from odoo.addons.queue_job.exception import RetryableJobError

from ..adapters.base import (
    PermanentError,
    TransientError,
)
from ..services import breaker, jobs, publication_guard
from ..services.publisher import FEED_POLL_SECONDS, PublicationFailed, Publisher

_logger = logging.getLogger(__name__)


class StockChannelJobs(models.Model):
    """A channel's publication jobs and the buttons and crons that enqueue
    them (the job kinds themselves: ``services/jobs.py``)."""

    _inherit = "stock.channel"

    def action_publish_now(self):
        """Publish the pending listings without waiting for debounce or batch."""
        self._check_manager()
        self._enqueue_publication(delay=0)
        return self._notify(self.env._("Publication queued."))

    def action_full_resync(self):
        """Send every listing again, changed or not (e.g. after onboarding)."""
        self._check_manager()
        listings = self.env["stock.channel.listing"]
        listings._mark_pending(
            SQL(
                "l.channel_id = ANY(%s) AND (l.active OR l.last_published_qty <> 0)",
                self.ids,
            ),
            schedule=False,
        )
        self._enqueue_publication(delay=0, force=True)
        return self._notify(self.env._("Full resynchronisation queued."))

    def action_retry_failed(self):
        """Requeue this channel's failed jobs, of every kind (publications,
        reconciliations, pulls, feeds, confirmations, shipments, returns,
        refund reads)."""
        self._check_manager()
        failed = self._channel_jobs(states=["failed"])
        # sudo(): requeuing writes queue.job, which only queue_job managers
        # may write (a job's method and arguments are executed, so Channel
        # Sync managers only read them). Narrow: exactly the failed jobs of
        # the channels this manager just read through the record rules.
        failed.sudo().requeue()
        for channel in self:
            count = len(
                failed.filtered(lambda job, c=channel: job.stock_channel_id == c)
            )
            channel._post_control(
                self.env._(
                    "Retry Failed by %(user)s: %(count)s failed job(s) requeued.",
                    user=self.env.user.name,
                    count=count,
                )
            )
        return self._notify(self.env._("%s failed job(s) requeued.", len(failed)))

    def _job_identity_keys(self):
        """``{identity key: channel id}`` of this channel's channel-wide jobs
        (publication, reconciliation, pull: ``services/jobs.py``)."""
        return jobs.channel_keys(self.ids)

    def _channel_jobs(self, states=None):
        """This channel's ``queue.job`` records of every kind (tied to it by
        ``stock_channel_id``), read as the current user (a Channel Sync
        manager reads this addon's jobs through a record rule)."""
        domain = [("stock_channel_id", "in", self.ids)]
        if states:
            domain.append(("state", "in", states))
        return self.env["queue.job"].search(domain)

    @api.model
    def _schedule_publication(self, channel_ids):
        """After marking: real-time channels publish after their debounce;
        batch channels wait for the batch cron, paused ones for Resume.
        Reads the channels in SQL: the stock user who triggered the change
        needs no channel rights."""
        if not channel_ids:
            return
        self.env.cr.execute(
            SQL(
                """
                SELECT id FROM stock_channel
                 WHERE id = ANY(%s) AND active AND sync_mode = 'realtime'
                   AND publication_paused IS NOT TRUE
                """,
                list(channel_ids),
            )
        )
        realtime = [row[0] for row in self.env.cr.fetchall()]
        if realtime:
            self.browse(realtime)._enqueue_publication()

    def _enqueue_publication(
        self, delay=None, force=False, coalesce=True, look_again=True
    ):
        """One job per channel, coalesced by its identity key: a burst of
        changes finds the job still waiting and enqueues nothing more. Merged
        into a waiting job, this transaction's changes are looked at again
        once committed (``publication_guard``): that job may have started
        before they were."""
        publication_guard.enqueue_publication(
            self, delay=delay, force=force, coalesce=coalesce, look_again=look_again
        )

    def _publish_pending(self, force=False):
        """Job: send the pending listings' quantities to the channel. Paused,
        or with its circuit breaker open, it ends at once without calling
        the marketplace: the listings stay pending (``services/breaker.py``)."""
        self.ensure_one()
        job_uuid = self.env.context.get("job_uuid") or str(uuid.uuid4())
        if self.publication_paused:
            return self.env._(
                "Publication paused: nothing sent, %s listing(s) stay pending.",
                self.pending_listing_count,
            )
        hold, probing = breaker.gate(self, job_uuid)
        if hold:
            # The probe goes out once the wait is over, whoever asks first
            # (a forced run stays forced: Full Resync, Replay).
            self._enqueue_publication(delay=_seconds_until(hold.retry_at), force=force)
            return hold.message
        try:
            result = Publisher(self, job_uuid).run(force=force)
        except TransientError as exc:
            hold, _probing = breaker.gate(self, job_uuid, fresh=True)
            if hold:
                # Opened by this failure (or the probe failed): wait for the
                # probe without using up a try, instead of burning retries.
                raise RetryableJobError(
                    hold.message,
                    seconds=_seconds_until(hold.retry_at),
                    ignore_retry=True,
                ) from exc
            # A 429's Retry-After wins over the retry pattern's backoff.
            raise RetryableJobError(str(exc), seconds=exc.retry_after) from exc
        except PublicationFailed as exc:
            if exc.audit:
                self._keep_audit(exc.audit)
            raise UserError(str(exc)) from exc
        if probing:
            # Still this job's probe if no call decided it (nothing was
            # sent): the next job may probe at once.
            breaker.release_probe(self, job_uuid)
        return result

    def _check_listings_feed(self, feed_ref):
        """Job: when the marketplace has processed feed ``feed_ref``, publish
        its accepted listings and audit the refused ones (they stay
        pending); until then, retry later."""
        self.ensure_one()
        job_uuid = self.env.context.get("job_uuid")
        try:
            summary = Publisher(self, job_uuid).check_feed(feed_ref)
        except TransientError as exc:
            raise RetryableJobError(str(exc), seconds=exc.retry_after) from exc
        except PermanentError as exc:
            # A clear failed job (on the channel's health), not a traceback.
            raise UserError(str(exc)) from exc
        if summary is None:
            raise RetryableJobError(
                self.env._("Feed %s is still being processed.", feed_ref),
                seconds=FEED_POLL_SECONDS,
                ignore_retry=False,
            )
        return summary

    def _keep_audit(self, audit):
        """Write failed publication rows in their own transaction: the job's
        own is rolled back when it fails."""
        with self.env.registry.cursor() as cr:
            self.env(cr=cr)["stock.channel.publication"].create(audit)

    @api.model
    def _cron_publish_batch(self):
        """Batch channels: publish those whose interval has elapsed; and the
        net under real-time ones: pending with no publication job waiting or
        running, they get one."""
        now = fields.Datetime.now()
        due = self.search([("sync_mode", "=", "batch")]).filtered(
            lambda c: not c.last_batch_at
            or c.last_batch_at + timedelta(minutes=c.batch_interval) <= now
        )
        due.write({"last_batch_at": now})
        due.filtered("pending_listing_count")._enqueue_publication(delay=0)
        publication_guard.sweep(self.env)


def _seconds_until(moment):
    """Whole seconds from now until ``moment`` (naive UTC), at least 1."""
    return max(int((moment - fields.Datetime.now()).total_seconds()) + 1, 1)
