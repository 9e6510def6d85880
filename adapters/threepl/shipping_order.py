"""Post one shipping order to a 3PL's API: JSON to ``/shipping_orders`` or
an X12 940 to ``/edi``, with the bearer token and the order's idempotency
key, through the addon's outbound plumbing (``adapters/outbound.py``: the
destination guard, no redirects, clamped timeouts, capped answers, secrets
redacted from every excerpt).

What the answers mean for the order:

* 2xx: accepted; the 3PL's order id is read from ``id`` (or ``order_id``)
  of a JSON answer when there is one.
* 409: the 3PL already has this order (a retry whose first answer was
  lost, or the same order reference under an earlier key): sent.
* 408, 429, 5xx, timeouts, refused connections: :class:`TransientError`
  (``retry_after`` from ``Retry-After``): tried again later.
* any other 4xx, a redirect, a refused destination: :class:`PermanentError`
  with the 3PL's (redacted) answer: the order needs a human.
"""

from dataclasses import dataclass

from ..base import Adapter, PermanentError, TransientError
from ..outbound import new_session

JSON_PATH = "/shipping_orders"
EDI_PATH = "/edi"
EDI_TYPE = "application/edi-x12"
JSON_TYPE = "application/json"
ALREADY_EXISTS = 409
REQUEST_TIMEOUT = 408


@dataclass(frozen=True)
class Answer:
    """What the 3PL answered to an accepted (or already known) order."""

    status: int
    excerpt: str
    external_ref: str = ""
    duplicate: bool = False


class ShippingOrderClient(Adapter):
    """Not a marketplace (not in ``ADAPTERS``): :class:`Adapter` for its
    HTTP, failure classes and redaction. ``config`` is a
    :class:`~..base.ChannelConfig` whose ``base_url`` is the connection's
    API URL and ``api_key`` its token."""

    code = "3pl"

    def __init__(self, config, session=None):
        super().__init__(config, session or new_session())

    def send(self, body, idempotency_key, edi=False):
        """POST ``body`` (str: the JSON document or the interchange); an
        :class:`Answer`, or raise :class:`TransientError` /
        :class:`PermanentError`."""
        if not self.config.api_key:
            raise PermanentError(f"{self.code}: the connection has no API token")
        url = self.config.base_url.rstrip("/") + (EDI_PATH if edi else JSON_PATH)
        headers = {
            "Authorization": f"Bearer {self.config.api_key}",
            "Idempotency-Key": idempotency_key,
            "Content-Type": EDI_TYPE if edi else JSON_TYPE,
            "Accept": JSON_TYPE,
        }
        try:
            response = self.request(
                "POST", url, data=body.encode("utf-8"), headers=headers
            )
        except PermanentError as exc:
            if exc.status == ALREADY_EXISTS:
                return Answer(exc.status, exc.excerpt, duplicate=True)
            if exc.status == REQUEST_TIMEOUT:
                raise TransientError(
                    f"{self.code}: HTTP 408", status=exc.status, excerpt=exc.excerpt
                ) from exc
            raise
        return Answer(
            response.status_code, self.redact(response.text), self._reference(response)
        )

    def _reference(self, response):
        """The 3PL's id of the order, when its JSON answer names one."""
        try:
            data = response.json()
        except ValueError:
            return ""
        if not isinstance(data, dict):
            return ""
        for key in ("id", "order_id"):
            value = data.get(key)
            if isinstance(value, str | int) and not isinstance(value, bool):
                return self.redact(str(value))[:128]
        return ""
