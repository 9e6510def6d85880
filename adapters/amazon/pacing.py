"""Request pacing: one token bucket per endpoint, seller and operation, shared
by the process, so that the threads of one process never exceed the seller's
allowance and a request is waited for rather than refused with a 429."""

import math
import threading
import time

from ..base import TransientError

# (requests per second, burst) of each operation, from Amazon's usage plans.
RATES = {
    "patchListingsItem": (5.0, 5),
    "getListingsItem": (5.0, 10),
    "searchListingsItems": (5.0, 5),
    "createFeedDocument": (0.5, 15),
    "createFeed": (0.0083, 15),
    "getFeed": (2.0, 15),
    "getFeedDocument": (0.0222, 10),
    "getOrders": (0.0167, 20),
    "getOrderItems": (0.5, 30),
    "confirmShipment": (2.0, 10),
    "createRestrictedDataToken": (1.0, 10),
}
# Seconds added to every wait for a slot (see TokenBucket.take).
PACING_MARGIN = 0.02

_BUCKETS = {}  # (endpoint, seller id, operation) -> TokenBucket
_BUCKET_LOCK = threading.Lock()


def reset_buckets():
    """Forget the rate buckets (tests, benchmark)."""
    with _BUCKET_LOCK:
        _BUCKETS.clear()


class TokenBucket:
    """``rate`` requests per second with bursts of ``burst``. :meth:`take`
    reserves the next slot under a lock and sleeps outside it, so threads of
    one process share the seller's allowance without exceeding it."""

    def __init__(self, rate, burst, clock=time.monotonic, sleep=time.sleep):
        self.rate = rate
        self.burst = burst
        self.tokens = float(burst)
        self.clock = clock
        self.sleep = sleep
        self.stamp = clock()
        self.lock = threading.Lock()

    def _refill(self, now):
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now

    def take(self, max_wait=math.inf):
        """Wait until one request may be sent; return the seconds waited.
        A slot further than ``max_wait`` seconds away is not reserved: a
        :class:`TransientError` carries the wait instead (the job is retried
        then rather than sleeping in its transaction)."""
        with self.lock:
            self._refill(self.clock())
            wait = (1 - self.tokens) / self.rate if self.tokens < 1 else 0.0
            if wait and wait > max_wait:
                raise TransientError(
                    f"amazon: rate limit reached, next request allowed in "
                    f"{math.ceil(wait)} s",
                    retry_after=math.ceil(wait + PACING_MARGIN),
                )
            self.tokens -= 1
        if wait:
            # A little late rather than early: requests reach the marketplace
            # with varying delays, and its bucket counts their arrival. The
            # schedule itself stays on the rate (reservations, not send times).
            wait += PACING_MARGIN
            self.sleep(wait)
        return wait

    def drain(self):
        """The marketplace said 429: its bucket is empty, so is ours."""
        with self.lock:
            self._refill(self.clock())
            self.tokens = min(self.tokens, 0.0)

    def set_rate(self, rate):
        """The rate Amazon says it applies (``x-amzn-RateLimit-Limit``)."""
        if rate > 0 and rate != self.rate:
            with self.lock:
                self._refill(self.clock())
                self.rate = rate


def bucket_for(endpoint, seller_id, operation):
    key = (endpoint, seller_id, operation)
    with _BUCKET_LOCK:
        if key not in _BUCKETS:
            _BUCKETS[key] = TokenBucket(*RATES[operation])
        return _BUCKETS[key]
