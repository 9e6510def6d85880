"""The SP-API client every operation goes through, so that pacing, throttling
and token refusals are handled once. An answer 401 or 403 drops the access
token (Amazon answers an expired or revoked one with either): it is
exchanged once more and the request sent once more; refused again, the
request fails for good. A 429 is waited out and the request sent again;
after :data:`THROTTLE_RETRIES` of them in a row the run fails with a transient
error, so the job is retried later and nothing is dropped. A job never sleeps
in its open transaction longer than :data:`MAX_INLINE_WAIT`: a longer wait is
a transient error carrying that delay. Tokens are redacted from every
excerpt."""

import time

from ..base import Adapter, PermanentError, TransientError
from . import login, pacing
from .login import LoginWithAmazon, cached_access_token
from .pacing import bucket_for

REGIONS = {
    "na": "https://sellingpartnerapi-na.amazon.com",
    "eu": "https://sellingpartnerapi-eu.amazon.com",
    "fe": "https://sellingpartnerapi-fe.amazon.com",
}
ORDERS_PATH = "/orders/v0/orders"
RDT_PATH = "/tokens/2021-03-01/restrictedDataToken"
# 429 answers in a row waited out before the run gives up (and is retried).
THROTTLE_RETRIES = 20
# Longest a job sleeps in its open transaction for one request (pacing and
# 429s together): a longer wait is a transient error with that delay, and
# queue_job tries the job again after it.
MAX_INLINE_WAIT = 5.0


def reset_process_state():
    """Forget cached access tokens and rate buckets (tests, benchmark)."""
    login.reset_tokens()
    pacing.reset_buckets()


class AmazonClient(LoginWithAmazon, Adapter):
    """Configuration, redaction and :meth:`call`, shared by the operations
    (``listings``, ``feeds``, ``orders``, ``shipments``)."""

    def __init__(self, config, session):
        super().__init__(config, session)
        self.stats = {"requests": 0, "throttled": 0, "retried": 0, "tokens": 0}
        self.tokens_used = set()  # redacted even after being replaced

    # -- configuration -------------------------------------------------------

    @property
    def endpoint(self):
        return self.config.base_url.rstrip("/")

    @property
    def marketplaces(self):
        if not self.config.seller_id or not self.config.marketplace_ids:
            raise PermanentError(
                "amazon: the channel needs a seller id and at least one "
                "marketplace id"
            )
        return self.config.marketplace_ids

    def redact(self, text):
        """Secrets and the cached access token replaced."""
        text = text or ""
        cached = cached_access_token(self._token_key())
        for token in self.tokens_used | ({cached} if cached else set()):
            text = text.replace(token, "***")
        return super().redact(text)

    # -- calls ---------------------------------------------------------------

    def call(
        self, operation, method, path, correlation_id="", restricted=None, **kwargs
    ):
        """One SP-API operation, paced by its bucket, throttling waited out
        (up to :data:`MAX_INLINE_WAIT` in all, beyond it a transient error
        with the delay), the token exchanged again once on 401 or 403.
        ``restricted``: a Restricted Data Token to send instead of the access
        token (``getOrders``, the one restricted operation read here),
        requested again once when refused."""
        bucket = bucket_for(self.endpoint, self.config.seller_id, operation)
        token = restricted or self.access_token()
        refreshed, throttled, waited = False, 0, 0.0
        while True:
            waited += bucket.take(max_wait=MAX_INLINE_WAIT - waited)
            self.stats["requests"] += 1
            headers = {"x-amz-access-token": token, "Accept": "application/json"}
            if correlation_id:
                headers["X-Correlation-Id"] = correlation_id
            try:
                response = self.request(
                    method, self.endpoint + path, headers=headers, **kwargs
                )
            except TransientError as exc:
                if exc.status != 429:
                    raise
                self.stats["throttled"] += 1
                throttled += 1
                bucket.drain()
                if throttled > THROTTLE_RETRIES:
                    raise
                if exc.retry_after:
                    if waited + exc.retry_after > MAX_INLINE_WAIT:
                        # Not slept in the job's transaction: the job is
                        # retried after Amazon's delay.
                        raise
                    time.sleep(exc.retry_after)
                    waited += exc.retry_after
                self.stats["retried"] += 1
                continue
            except PermanentError as exc:
                if exc.status not in (401, 403):
                    raise
                if refreshed:
                    raise PermanentError(
                        f"amazon: {operation} refused (HTTP {exc.status}) with a "
                        "freshly exchanged access token: check that the seller "
                        "authorised the application and that it has the roles "
                        f"this needs. {exc.excerpt}",
                        status=exc.status,
                        excerpt=exc.excerpt,
                    ) from exc
                # Amazon answers an expired or revoked token 401 or 403: it is
                # exchanged once (a Restricted Data Token requested anew, with
                # the access token, itself exchanged if refused), and the
                # request sent once more.
                if restricted:
                    token = self.restricted_data_token(correlation_id)
                else:
                    token = self.access_token(stale=token)
                refreshed = True
                continue
            limit = response.headers.get("x-amzn-RateLimit-Limit")
            if limit:
                try:
                    bucket.set_rate(float(limit))
                except ValueError:
                    pass
            return response

    def restricted_data_token(self, correlation_id=""):
        """A Restricted Data Token for ``getOrders`` with the buyer's name and
        the full shipping address (without one Amazon sends only city,
        postal code and country); used for one page, never stored. Here
        rather than in ``orders`` since :meth:`call` requests it anew when
        refused."""
        response = self.call(
            "createRestrictedDataToken",
            "POST",
            RDT_PATH,
            correlation_id,
            json={
                "restrictedResources": [
                    {
                        "method": "GET",
                        "path": ORDERS_PATH,
                        "dataElements": ["buyerInfo", "shippingAddress"],
                    }
                ]
            },
        )
        token = self.json_of(response).get("restrictedDataToken")
        if not isinstance(token, str) or not token:
            raise PermanentError("amazon: no Restricted Data Token in the answer")
        self.tokens_used.add(token)
        return token
