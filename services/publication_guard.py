"""No pending listing of a real-time channel without a publication job
waiting for it.

queue_job merges a job into a *waiting* one with the same identity key
(never into one that has started). Odoo's transactions are REPEATABLE READ:
a stock change whose transaction began before the channel's job started
still sees that job waiting and merges into it, although the job has by
then taken its own snapshot, which cannot see the change; committed after
the job's snapshot, the change would wait for the next one. So each side
looks again once it has committed, on a fresh connection:

* a transaction that merged its changes into a waiting job (``merged``);
* every publication run, for the changes it did not snapshot (``ran``).

Whoever then finds such changes and no publication job waiting (other than
the run itself) enqueues one. The batch cron's sweep (``sweep``) is the
net under both: a real-time channel with changes and no publication job
waiting or running gets one within a minute.
"""

import logging

from odoo import SUPERUSER_ID, api
from odoo.tools import SQL

from . import jobs
from .feed_window import outside_feed

_logger = logging.getLogger(__name__)

WAITING = list(jobs.WAITING)
_MERGED = "stock_channel_sync.publication_guard.merged"
_RUNS = "stock_channel_sync.publication_guard.runs"


def enqueue_publication(
    channels, delay=None, force=False, coalesce=True, look_again=True
):
    """One publication job per channel of ``channels``, after ``delay``
    seconds (None: each channel's debounce), coalesced by its identity key:
    a burst of changes finds the job still waiting and enqueues nothing more.
    Merged into a waiting job, this transaction's changes are looked at again
    once committed (:func:`merged`): that job may have started before they
    were. Here rather than on the model so that services enqueue without
    calling the model's private methods."""
    env = channels.env
    env.cr.execute(
        SQL(
            """
            SELECT id, debounce_seconds FROM stock_channel WHERE id = ANY(%s)
            """,
            channels.ids,
        )
    )
    etas = {
        channel_id: max((debounce if delay is None else delay) or 0, 0)
        for channel_id, debounce in env.cr.fetchall()
    }
    variant = "force" if force else None
    if look_again and coalesce:
        merging = jobs.waiting(env, "publish", list(etas), variant)
        if merging:
            merged(env, merging)
    jobs.enqueue(
        "publish",
        channels.browse(list(etas)),
        eta=etas,
        variant=variant,
        coalesce=coalesce,
        force=force,
    )


def merged(env, channel_ids):
    """After this transaction commits, look again at ``channel_ids``, whose
    changes were merged into a waiting publication job."""
    data = env.cr.postcommit.data
    if _MERGED not in data:
        data[_MERGED] = set()
        env.cr.postcommit.add(lambda: _look_again(env, data.pop(_MERGED, ())))
    data[_MERGED].update(channel_ids)


def ran(channel, job_uuid, snapshot):
    """After this publication run commits, look for changes of ``channel``
    newer than its ``snapshot`` (``(listing id, newest change id)`` pairs)."""
    if channel.sync_mode != "realtime":
        return
    pairs = [(listing_id, change_id) for listing_id, change_id in snapshot]
    env = channel.env
    env.cr.postcommit.add(
        lambda: _look_again(env, [channel.id], exclude_uuid=job_uuid, seen=pairs)
    )


def sweep(env):
    """The real-time channels with changes and no publication job waiting
    or running get one (the batch cron, every minute)."""
    channel_ids = _without_job(env.cr, None, WAITING + ["started"], None, ())
    if channel_ids:
        _logger.info("Publication enqueued for pending channels %s", channel_ids)
        _enqueue(env, channel_ids, own_waiting=False)


def _look_again(env, channel_ids, exclude_uuid=None, seen=()):
    """On a fresh connection: enqueue for those of ``channel_ids`` with
    unseen changes and no other publication job waiting. Never raises: it
    runs after a commit, where an error would fail a job that succeeded
    (the sweep catches what it misses)."""
    if not channel_ids:
        return
    try:
        with env.registry.cursor() as cr:
            # This registry, not one looked up by name (and its lock).
            cr.transaction = api.Transaction(env.registry)
            fresh = api.Environment(cr, SUPERUSER_ID, {})
            missing = _without_job(cr, list(channel_ids), WAITING, exclude_uuid, seen)
            if missing:
                _enqueue(fresh, missing, own_waiting=_is_waiting(cr, exclude_uuid))
    except Exception:  # noqa: BLE001 - logged; the sweep is the net
        _logger.exception("Could not look again at channels %s", channel_ids)


def _without_job(cr, channel_ids, states, exclude_uuid, seen):
    """Active real-time channels (of ``channel_ids``, None: all), not
    paused (resuming publishes them), with changes not in ``seen`` and
    outside a feed being processed, and no publication job in ``states``
    but ``exclude_uuid``."""
    kind = jobs.KINDS["publish"]
    cr.execute(
        SQL(
            """
            SELECT c.id FROM stock_channel c
             WHERE c.active AND c.sync_mode = 'realtime'
               AND c.publication_paused IS NOT TRUE
               AND (%(all)s OR c.id = ANY(%(channels)s))
               AND EXISTS (
                   SELECT 1 FROM stock_channel_listing_change ch
                     JOIN stock_channel_listing l ON l.id = ch.listing_id
                    WHERE ch.channel_id = c.id
                      AND %(outside_feed)s
                      AND NOT EXISTS (
                          SELECT 1 FROM unnest(%(listings)s::int[],
                                               %(changes)s::int[]) s(lid, cid)
                           WHERE s.lid = ch.listing_id AND ch.id <= s.cid))
               AND NOT EXISTS (
                   SELECT 1 FROM queue_job j
                    WHERE j.stock_channel_id = c.id
                      AND j.model_name = %(model)s AND j.method_name = %(method)s
                      AND j.state = ANY(%(states)s)
                      AND j.uuid IS DISTINCT FROM %(exclude)s)
            """,
            all=channel_ids is None,
            channels=channel_ids or [],
            outside_feed=outside_feed("l"),
            listings=[pair[0] for pair in seen],
            changes=[pair[1] for pair in seen],
            model=kind.model,
            method=kind.method,
            states=states,
            exclude=exclude_uuid,
        )
    )
    return [row[0] for row in cr.fetchall()]


def _is_waiting(cr, job_uuid):
    """Whether job ``job_uuid`` is itself still recorded as waiting (a run
    performed outside the job runner, which marks it started first)."""
    if not job_uuid:
        return False
    cr.execute(
        "SELECT 1 FROM queue_job WHERE uuid = %s AND state = ANY(%s)",
        [job_uuid, WAITING],
    )
    return bool(cr.fetchone())


def _enqueue(env, channel_ids, own_waiting):
    """The channels' publication after their debounce. A run still recorded
    as waiting would absorb a coalesced job: then enqueue without key."""
    channels = env["stock.channel"].browse(channel_ids)
    enqueue_publication(channels, coalesce=not own_waiting, look_again=False)
