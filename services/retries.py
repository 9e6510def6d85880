"""How long this addon's jobs keep retrying.

queue_job counts tries: after the k-th failed try (k < ``max_retries``) it
waits the retry pattern's value for the largest step at or below k, and the
``max_retries``-th failed try fails the job. Marketplace jobs (publication,
shipment, reconciliation) must outlast an outage of a day: Shopify itself
retries its webhooks for 4 hours, a marketplace can be down longer, and a
job that gave up leaves listings pending until someone notices.
"""

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
