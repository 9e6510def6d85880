"""Login with Amazon: the refresh token is exchanged for a one-hour access
token, cached in the process (never stored, never logged) so that each
request does not cost an exchange. A cache entry belongs to one company,
channel, seller, client id and refresh token, so two channels never share
one; it is kept until :data:`TOKEN_MARGIN` before its expiry. One exchange per
cache key at a time, under that key's lock only."""

import hashlib
import threading
import time

from ..base import CONNECT_TIMEOUT, PermanentError, TransientError
from ..outbound import clamp_timeout

DEFAULT_TOKEN_URL = "https://api.amazon.com/auth/o2/token"
# Seconds before its expiry an access token is exchanged again.
TOKEN_MARGIN = 60

# LoginWithAmazon._token_key() -> (access token, monotonic expiry)
_TOKENS = {}
# LoginWithAmazon._token_key() -> the lock one exchange of that key is made
# under.
_EXCHANGE_LOCKS = {}
# Guards the two dicts above, held for dictionary operations only, never
# during a network call.
_TOKEN_LOCK = threading.Lock()


def reset_tokens():
    """Forget cached access tokens (tests, benchmark)."""
    with _TOKEN_LOCK:
        _TOKENS.clear()
        _EXCHANGE_LOCKS.clear()


def cached_access_token(key):
    """The access token cached for ``key`` (expired or not), or None: what
    :meth:`AmazonClient.redact` hides besides the tokens it used."""
    cached = _TOKENS.get(key)
    return cached[0] if cached else None


class LoginWithAmazon:
    """The access token of the adapter's channel. Mixed into
    :class:`~.client.AmazonClient`, whose ``config``, ``request``,
    ``json_of``, ``stats`` and ``tokens_used`` it uses."""

    def _token_key(self):
        """What an access token belongs to: the company and channel (channel
        codes are unique per company only), the seller, the application and
        the refresh token (a fingerprint: a new refresh token is exchanged at
        once, not after the old access token expires)."""
        config = self.config
        refresh = hashlib.sha256(config.lwa_refresh_token.encode()).hexdigest()
        return (
            config.company_id,
            config.channel_id or config.code,
            config.seller_id,
            config.lwa_client_id,
            refresh[:32],
        )

    def _cached_token(self, key, stale):
        """The cached token of ``key`` unless it is ``stale`` (refused by
        the API: dropped) or about to expire; None then."""
        with _TOKEN_LOCK:
            cached = _TOKENS.get(key)
            if cached and cached[0] == stale:
                del _TOKENS[key]
                cached = None
            if cached and cached[1] > time.monotonic():
                return cached[0]
            return None

    def access_token(self, stale=None):
        """A valid access token; ``stale`` is one the API refused (401 or
        403): it is dropped and exchanged again, unless another thread
        already did. Only this key's exchange lock is held during the
        exchange (threads of other channels go on), and it is checked again
        once taken (the first thread's exchange serves the others)."""
        key = self._token_key()
        token = self._cached_token(key, stale)
        if token is None:
            with _TOKEN_LOCK:
                lock = _EXCHANGE_LOCKS.setdefault(key, threading.Lock())
            # Bounded like the exchange itself: a hung exchange of another
            # thread is not waited for beyond what this one could take.
            wait = CONNECT_TIMEOUT + 2 * clamp_timeout(self.config.timeout)
            if not lock.acquire(timeout=wait):
                raise TransientError(
                    "amazon: another exchange of this channel's access token "
                    "is taking too long"
                )
            try:
                token = self._cached_token(key, stale)
                if token is None:
                    token, expires_in = self._exchange_refresh_token()
                    with _TOKEN_LOCK:
                        _TOKENS[key] = (token, time.monotonic() + expires_in)
            finally:
                lock.release()
        self.tokens_used.add(token)
        return token

    def _exchange_refresh_token(self):
        config = self.config
        if not (
            config.lwa_client_id
            and config.lwa_client_secret
            and config.lwa_refresh_token
        ):
            raise PermanentError(
                "amazon: the channel needs its Login with Amazon client id, "
                "client secret and refresh token"
            )
        self.stats["tokens"] += 1
        try:
            response = self.request(
                "POST",
                config.lwa_token_url or DEFAULT_TOKEN_URL,
                data={
                    "grant_type": "refresh_token",
                    "refresh_token": config.lwa_refresh_token,
                    "client_id": config.lwa_client_id,
                    "client_secret": config.lwa_client_secret,
                },
            )
        except PermanentError as exc:
            raise PermanentError(
                f"amazon: Login with Amazon refused the credentials "
                f"(HTTP {exc.status}): {exc.excerpt}",
                status=exc.status,
                excerpt=exc.excerpt,
            ) from exc
        data = self.json_of(response)
        if not data.get("access_token"):
            raise PermanentError(
                "amazon: Login with Amazon answered without an access token",
                status=response.status_code,
            )
        try:
            expires_in = int(data.get("expires_in") or 3600)
        except (TypeError, ValueError):
            expires_in = 3600
        # Kept until TOKEN_MARGIN before its expiry, at most an hour.
        return data["access_token"], min(max(expires_in - TOKEN_MARGIN, 0), 3600)
