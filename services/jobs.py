"""The registry of this addon's job kinds: what each job runs, its identity
key, description and retries, and as whom it runs.

Every job of the addon is enqueued through :func:`enqueue`, which runs it as
the technical user of the record's channel, in the channel's company (never
as whoever triggered it: a stock user validating a delivery, a manager
clicking a button, the cron's superuser). Each job is tied to its channel by
``queue.job.stock_channel_id`` (``models/queue_job.py``, computed once from
the job's records through :data:`CHANNEL_FIELD`), so that the health
figures, *Retry Failed* and retention see every kind alike, including jobs
without an identity key (a fresh order's confirmation).

Every kind's method is declared in ``data/queue_job_data.xml`` (job channel,
retry pattern, related action): ``with_delay()`` never names a job channel.

A new kind is one entry of :data:`KINDS` (and its ``queue.job.function``
record); a model whose records get jobs for the first time, one entry of
:data:`MODELS` naming its owner, whose technical user runs them.
"""

import logging
from typing import NamedTuple

from odoo.tools import SQL

from .retries import MARKETPLACE_MAX_RETRIES

_logger = logging.getLogger(__name__)

PREFIX = "stock_channel_sync"
# The states of a job queue_job merges a new one with the same key into.
WAITING = ("wait_dependencies", "pending", "enqueued")
# Looks at an Amazon feed still being processed (one a minute, each a retry).
FEED_POLL_TRIES = 120


class JobModel(NamedTuple):
    """A model whose records jobs run on: its owner's model (a channel), the
    column leading to the owner (the record itself: ``id``) and the column
    the job's description names. The owner's ``user_id`` and
    ``company_id`` are who and where the job runs."""

    owner_model: str
    owner_column: str
    label_column: str


class RunAs(NamedTuple):
    """For one record: its owner, the owner's technical user and company,
    and the label of the job's description."""

    owner_id: int
    user_id: int | None
    company_id: int
    label: str


MODELS = {
    "stock.channel": JobModel("stock.channel", "id", "code"),
    "stock.channel.order": JobModel("stock.channel", "channel_id", "external_id"),
    "stock.channel.threepl.event": JobModel(
        "stock.channel.threepl", "connection_id", "business_id"
    ),
    "stock.channel.threepl.order": JobModel(
        "stock.channel.threepl", "connection_id", "order_ref"
    ),
    "stock.channel.threepl": JobModel("stock.channel.threepl", "id", "code"),
    "stock.channel.threepl.snapshot": JobModel(
        "stock.channel.threepl", "connection_id", "business_id"
    ),
    # A supplier feed runs its own jobs, as its technical user.
    "stock.channel.supplier.feed": JobModel(
        "stock.channel.supplier.feed", "id", "code"
    ),
}
# How a job's records lead to their channel (``queue.job.stock_channel_id``).
CHANNEL_FIELD = {
    name: model.owner_column
    for name, model in MODELS.items()
    if model.owner_model == "stock.channel"
}


class JobKind(NamedTuple):
    """One kind of job. ``key`` is the identity key after the prefix, a
    format of ``{channel}`` (the channel id), ``{record}`` (the job's record
    id) and ``{0}``, ``{1}``... (the method's positional arguments); None:
    never coalesced. ``variants`` are the suffixes a caller may add to the
    key (a forced publication must not fold into a waiting normal one).
    ``describe(env, label, *args)`` is the job's description, ``label`` the
    channel's code or the order's external id."""

    name: str
    model: str
    method: str
    key: str | None
    describe: object
    max_retries: int | None = None
    variants: tuple = ()


KINDS = {
    kind.name: kind
    for kind in (
        JobKind(
            "publish",
            "stock.channel",
            "_publish_pending",
            "publish.{channel}",
            lambda env, code: env._("Publish stock to channel %s", code),
            MARKETPLACE_MAX_RETRIES,
            variants=("force",),
        ),
        JobKind(
            "feed",
            "stock.channel",
            "_check_listings_feed",
            "feed.{channel}.{0}",
            lambda env, code, feed_ref: env._(
                "Check feed %(feed)s of channel %(code)s", feed=feed_ref, code=code
            ),
            FEED_POLL_TRIES,
        ),
        JobKind(
            "reconcile",
            "stock.channel",
            "_reconcile",
            "reconcile.{channel}",
            lambda env, code: env._("Reconcile channel %s", code),
            MARKETPLACE_MAX_RETRIES,
            # Its own key for the follow-up: Reconcile Now must not be
            # folded into a run scheduled minutes ahead.
            variants=("follow_up",),
        ),
        JobKind(
            "pull",
            "stock.channel",
            "_pull_orders",
            "pull.{channel}",
            lambda env, code: env._("Pull orders of channel %s", code),
            MARKETPLACE_MAX_RETRIES,
        ),
        # Contention retries without limit (ignore_retry); anything else
        # gets queue_job's default tries.
        JobKind(
            "confirm",
            "stock.channel.order",
            "_process",
            "process.{record}",
            lambda env, ref: env._("Confirm channel order %s", ref),
        ),
        JobKind(
            "ship",
            "stock.channel.order",
            "_send_shipment",
            "ship.{record}.{0}",
            lambda env, ref, _picking_id: env._("Send shipment of %s", ref),
            MARKETPLACE_MAX_RETRIES,
        ),
        JobKind(
            "return",
            "stock.channel.order",
            "_process_return",
            "return.{0}",
            lambda env, ref, _return_id: env._(
                "Return receipt for channel order %s", ref
            ),
            variants=("retry",),
        ),
        # A stored order a pull lists cancelled: cancelled in a job of its
        # own, so that the pull holds no stock locks. Contention retries
        # without limit, like a confirmation's.
        JobKind(
            "cancel",
            "stock.channel.order",
            "_cancel_listed",
            "cancel.{record}",
            lambda env, ref: env._("Cancel channel order %s", ref),
        ),
        # A 3PL's inventory event applied as stock moves; contention retries
        # without limit, like a confirmation's.
        JobKind(
            "threepl_event",
            "stock.channel.threepl.event",
            "_apply",
            "threepl.{record}",
            lambda env, ref: env._("Apply 3PL event %s", ref),
        ),
        # A delivery sent to its 3PL as a shipping order; HTTP retries
        # like a marketplace's, through a day of outage.
        JobKind(
            "threepl_order",
            "stock.channel.threepl.order",
            "_send",
            "threepl_order.{record}",
            lambda env, ref: env._("Send 3PL shipping order %s", ref),
            MARKETPLACE_MAX_RETRIES,
        ),
        # A complete 3PL snapshot compared with Odoo's on hand (applied with
        # the apply policy); contention retries without limit.
        JobKind(
            "threepl_snapshot",
            "stock.channel.threepl.snapshot",
            "_process",
            "threepl.snapshot.{record}",
            lambda env, ref: env._("Compare 3PL snapshot %s", ref),
        ),
        # A polled 3PL's inventory read from its API (then compared): one
        # per connection; an unreachable 3PL is retried through a day.
        JobKind(
            "threepl_snapshot_read",
            "stock.channel.threepl",
            "_read_snapshot",
            "threepl.read.{record}",
            lambda env, code: env._("Read the inventory snapshot of 3PL %s", code),
            MARKETPLACE_MAX_RETRIES,
        ),
        # A polled supplier feed's file fetched and imported: one per feed;
        # an unreachable vendor is retried through a day.
        JobKind(
            "supplier_feed_poll",
            "stock.channel.supplier.feed",
            "_poll_feed",
            "supplier_feed.poll.{record}",
            lambda env, code: env._("Poll supplier feed %s", code),
            MARKETPLACE_MAX_RETRIES,
        ),
        JobKind(
            "refunds",
            "stock.channel.order",
            "_read_refunds",
            "refunds.{record}",
            lambda env, ref: env._("Read refunds of channel order %s", ref),
            MARKETPLACE_MAX_RETRIES,
        ),
    )
}


def identity_key(kind, channel_id, record_id, args=(), variant=None):
    """The identity key of one job of ``kind`` (a :class:`JobKind`)."""
    if kind.key is None:
        return None
    if variant and variant not in kind.variants:
        raise ValueError(f"{kind.name} jobs have no variant {variant!r}")
    key = f"{PREFIX}.{kind.key}".format(*args, channel=channel_id, record=record_id)
    return f"{key}.{variant}" if variant else key


def channel_keys(channel_ids):
    """``{identity key: channel id}`` of the channel-wide kinds (one job per
    channel: publication, reconciliation, pull, with their variants)."""
    return {
        identity_key(kind, channel_id, channel_id, variant=variant): channel_id
        for channel_id in channel_ids
        for kind in KINDS.values()
        if kind.model == "stock.channel" and kind.key and "{0}" not in kind.key
        for variant in (None, *kind.variants)
    }


def waiting(env, name, channel_ids, variant=None):
    """Those of ``channel_ids`` with a waiting job of the channel-wide kind
    ``name``: enqueueing one more would merge into it."""
    kind = KINDS[name]
    keys = {
        identity_key(kind, channel_id, channel_id, variant=variant): channel_id
        for channel_id in channel_ids
    }
    env.cr.execute(
        "SELECT identity_key FROM queue_job"
        " WHERE identity_key = ANY(%s) AND state = ANY(%s)",
        [list(keys), list(WAITING)],
    )
    return {keys[row[0]] for row in env.cr.fetchall()}


def _run_as(records):
    """``{record id: RunAs}``, read in SQL after a flush: the triggering
    user needs no rights on the owner."""
    model = MODELS[records._name]
    owners = records.env[model.owner_model]
    records.flush_recordset()
    owners.flush_model(["user_id", "company_id"])
    records.env.cr.execute(
        SQL(
            "SELECT r.id, o.id, o.user_id, o.company_id, r.%s"
            "  FROM %s r JOIN %s o ON o.id = r.%s"
            " WHERE r.id = ANY(%s)",
            SQL.identifier(model.label_column),
            SQL.identifier(records._table),
            SQL.identifier(owners._table),
            SQL.identifier(model.owner_column),
            list(records.ids),
        )
    )
    return {row[0]: RunAs(*row[1:]) for row in records.env.cr.fetchall()}


def enqueue(name, records, *args, eta=None, variant=None, coalesce=True, **kwargs):
    """Enqueue job kind ``name`` for each of ``records`` with the method's
    ``args`` and ``kwargs``, as the technical user of the record's channel
    in its company: ``{record id: job}``. ``eta`` is seconds, a datetime,
    or a ``{record id: eta}`` mapping. The channels are read in SQL, so
    the triggering user needs no channel rights. ``coalesce=False`` enqueues
    without identity key (a record inserted once is enqueued once: no
    lookup). A channel without technical user (only an archived one may
    lack it) gets no job: it is logged, never run as someone else."""
    kind = KINDS[name]
    if records._name != kind.model:
        raise ValueError(f"{kind.name} jobs run on {kind.model}, not {records._name}")
    if not records:
        return {}
    env = records.env
    run_as = _run_as(records)
    enqueued = {}
    for record_id in records.ids:
        channel_id, user_id, company_id, label = run_as[record_id]
        if not user_id:
            _logger.warning(
                "Channel %s has no technical user: no %s job for %s %s",
                channel_id,
                kind.name,
                kind.model,
                record_id,
            )
            continue
        target = (
            env[kind.model]
            .with_user(user_id)
            .with_company(company_id)
            .browse(record_id)
        )
        delayable = target.with_delay(
            description=kind.describe(env, label, *args),
            max_retries=kind.max_retries,
            eta=eta.get(record_id) if isinstance(eta, dict) else eta,
            identity_key=identity_key(kind, channel_id, record_id, args, variant)
            if coalesce
            else None,
        )
        enqueued[record_id] = getattr(delayable, kind.method)(*args, **kwargs)
    if enqueued:
        # Stored now: an enqueue from a precommit hook (stock marking) runs
        # after the transaction's flush, and the job's channel would be
        # left uncomputed.
        env["queue.job"].flush_model(["stock_channel_id"])
    return enqueued
