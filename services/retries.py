"""How long this addon's jobs keep retrying, and after what delay.

queue_job counts tries: after the k-th failed try (k < ``max_retries``) it
waits the retry pattern's value for the largest step at or below k, and the
``max_retries``-th failed try fails the job. Marketplace jobs (publication,
shipment, reconciliation) must outlast an outage of a day: Shopify itself
retries its webhooks for 4 hours, a marketplace can be down longer, and a
job that gave up leaves listings pending until someone notices.
"""

import random
from datetime import datetime

from psycopg2 import errorcodes, errors

from odoo.addons.queue_job.exception import RetryableJobError

OUTAGE_SECONDS = 24 * 3600
# With the patterns of data/queue_job_data.xml this is ~27 hours of retries
# for publication and shipment ({1: 10, 3: 60, 5: 300, 8: 1800}) and ~28 for
# reconciliation ({1: 30, 3: 300, 5: 1800}); queue_job's default is 5 tries.
MARKETPLACE_MAX_RETRIES = 60


def retry_wait(retry_pattern, failed_tries):
    """Seconds queue_job waits after ``failed_tries`` failed tries."""
    wait = 10  # queue_job's RETRY_INTERVAL without a pattern
    # Stored patterns come back from JSON with string keys.
    steps = sorted((int(step), seconds) for step, seconds in retry_pattern.items())
    for step, seconds in steps:
        if failed_tries >= step:
            wait = seconds
    return wait


def retry_span(retry_pattern, max_retries):
    """Seconds between a job's first failed try and its last try."""
    return sum(retry_wait(retry_pattern, k) for k in range(1, max_retries))


# Errors of concurrent transactions on the same rows (hot SKUs' quants):
# the same work succeeds when tried again a moment later.
CONTENTION_CODES = frozenset(
    {
        errorcodes.SERIALIZATION_FAILURE,
        errorcodes.DEADLOCK_DETECTED,
        errorcodes.LOCK_NOT_AVAILABLE,
    }
)
CONTENTION_ERRORS = (
    errors.SerializationFailure,
    errors.DeadlockDetected,
    errors.LockNotAvailable,
)
# Longest wait between two tries of a confirmation that met contention.
MAX_CONTENTION_DELAY = 60


def is_contention(exc):
    """Whether ``exc`` (a psycopg2 error, possibly wrapped) is contention."""
    while exc is not None:
        if (
            isinstance(exc, CONTENTION_ERRORS)
            or getattr(exc, "pgcode", None) in CONTENTION_CODES
        ):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def contention_delay(waited, rng=random):
    """Seconds before the next try of a confirmation that met contention:
    random (jobs that collided do not collide again in lockstep) between 1
    and a ceiling that grows with how long the order has waited (half of
    it: a burst clears quickly, a long one backs off), at most
    ``MAX_CONTENTION_DELAY``."""
    ceiling = min(MAX_CONTENTION_DELAY, max(2.0, waited / 2))
    return max(1, round(rng.uniform(1, ceiling)))


def retry_contention(exc, waiting_since):
    """Turn stock contention met by a job (``exc``) into a retry without
    limit (``ignore_retry``: it never uses up the job's tries) after
    :func:`contention_delay` of the wait since ``waiting_since``; anything
    else is raised again as it is."""
    if not is_contention(exc):
        raise exc
    waited = (datetime.utcnow() - waiting_since).total_seconds()
    raise RetryableJobError(
        f"stock is busy ({type(exc).__name__}): retrying",
        seconds=contention_delay(waited),
        ignore_retry=True,
    ) from exc
