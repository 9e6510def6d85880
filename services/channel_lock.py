"""One publication run per channel at a time.

queue_job's identity key only merges jobs that are still waiting: a stock
change made while a publication job is running enqueues another one, and
with two or more runner slots both would run side by side, the slower
one's older quantity landing on the marketplace last. So every job that
sends or records a channel's published quantities (publication, feed
check) first takes a transaction-level advisory lock on (``NAMESPACE``,
channel id). The job's commit or rollback releases it: nothing to clean up,
not even after a crash. A job that cannot take it does not wait holding a
worker: it is retried a few seconds later without using up one of its
tries, and then publishes what is pending by then.
"""

from psycopg2 import errors

from odoo.tools import SQL

from odoo.addons.queue_job.exception import RetryableJobError

# First key of the lock: CRC-32 of "stock_channel_sync.publication" as a
# signed 32-bit integer, so that other addons' advisory locks on the same
# ids do not collide with it. The second key is the channel id.
NAMESPACE = -1618251905
# Seconds before a job that found its channel busy tries again.
BUSY_RETRY_SECONDS = 3


def lock_channel(channel):
    """Take ``channel``'s publication lock for the rest of the transaction,
    or raise :class:`RetryableJobError` (retried shortly, the try not
    counted). Return the database clock's time at which it was taken: the
    runs of one channel take it one after the other, so it orders their
    quantities (the generic contract's ``generated_at``) on one clock, even
    with workers on several hosts."""
    cr = channel.env.cr
    cr.execute(
        SQL(
            "SELECT pg_try_advisory_xact_lock(%s, %s),"
            " clock_timestamp() AT TIME ZONE 'UTC'",
            NAMESPACE,
            channel.id,
        )
    )
    locked, now = cr.fetchone()
    if not locked:
        raise busy(channel)
    return now


def try_lock(cr, namespace, channel_id):
    """Take the transaction-level advisory lock (``namespace``, channel id)
    if it is free: whether it was taken. Other kinds of runs (order pulls)
    keep one per channel with their own namespace."""
    cr.execute(SQL("SELECT pg_try_advisory_xact_lock(%s, %s)", namespace, channel_id))
    return cr.fetchone()[0]


def busy(channel):
    return RetryableJobError(
        channel.env._(
            "Channel %s is being published by another job: retried shortly.",
            channel.code,
        ),
        seconds=BUSY_RETRY_SECONDS,
        ignore_retry=True,
    )


def fetch_fresh(channel, query):
    """The rows of ``query``, a statement that locks rows the previous run
    of the channel deleted or changed if it saw them. Odoo's transactions
    are REPEATABLE READ: a job's snapshot is taken at its first statement,
    which may come before it got the channel's lock (a caller that read
    something first), i.e. before the previous run committed. Locking a row
    that run changed then fails to serialize: the same "busy" as the lock
    itself, retried shortly, before anything is sent from stale rows."""
    cr = channel.env.cr
    try:
        with cr.savepoint(flush=False):
            # Not logged as a bad query: it is an expected outcome.
            cr.execute(query, log_exceptions=False)
            return cr.fetchall()
    except errors.SerializationFailure as exc:
        raise busy(channel) from exc
