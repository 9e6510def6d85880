"""HMAC-SHA256 signatures, compared in constant time.

The generic contract signs every request, both directions, with *signature
v2*: ``X-Channel-Timestamp: <unix seconds>`` and ``X-Channel-Signature:
sha256=<hex>`` of ``"<timestamp>\n<METHOD>\n<path>\n"`` followed by the
raw body (empty for a GET); ``<path>`` includes the query string when there
is one. A timestamp more than :data:`MAX_SKEW` seconds from the receiver's
clock is refused, so a captured request cannot be replayed later, nor
turned into another method or path. Shopify and WooCommerce sign the body
with base64 digests. Plain Python, importable by adapters (which import
nothing from services) and by the benchmarks.
"""

import base64
import hashlib
import hmac
import re
import time
from dataclasses import dataclass

MAX_SKEW = 300
# Unix seconds in ASCII digits only: ``str.isdigit`` also accepts "²" or
# "١", which ``int`` then refuses (or reads), so the header is matched as is.
TIMESTAMP_PATTERN = re.compile(r"[0-9]{1,12}")
TIMESTAMP_HEADER = "X-Channel-Timestamp"
SIGNATURE_HEADER = "X-Channel-Signature"


@dataclass(frozen=True)
class SignedRequest:
    """What a receiver checks: the method, the path (with its query string),
    the headers and the raw body."""

    method: str
    path: str
    headers: object
    body: bytes = b""


def signed_message(timestamp, method, path, body=b""):
    return f"{timestamp}\n{method.upper()}\n{path}\n".encode() + (body or b"")


def sign_request(secret, method, path, body=b"", timestamp=None):
    """The two headers of a signature-v2 request."""
    stamp = str(int(time.time() if timestamp is None else timestamp))
    digest = sign_hex(secret, signed_message(stamp, method, path, body))
    return {TIMESTAMP_HEADER: stamp, SIGNATURE_HEADER: f"sha256={digest}"}


def check_request(secrets, request, now=None):
    """``None`` when ``request`` is signed (signature v2) with one of
    ``secrets`` within the allowed clock skew, else the reason, for the log
    only: ``missing_timestamp``, ``bad_timestamp`` (not 1 to 12 ASCII
    digits), ``stale_timestamp`` or ``bad_signature``. Never raises,
    whatever the headers hold."""
    stamp = request.headers.get(TIMESTAMP_HEADER)
    if not stamp:
        return "missing_timestamp"
    # Only HTTP's own optional white space around the value is dropped.
    stamp = stamp.strip(" \t")
    if not TIMESTAMP_PATTERN.fullmatch(stamp):
        return "bad_timestamp"
    if abs((time.time() if now is None else now) - int(stamp)) > MAX_SKEW:
        return "stale_timestamp"
    message = signed_message(stamp, request.method, request.path, request.body)
    header = request.headers.get(SIGNATURE_HEADER, "")
    # Every secret is compared, in constant time each.
    matches = [verify_hex(secret, message, header) for secret in secrets]
    return None if any(matches) else "bad_signature"


def _digest(secret, body):
    return hmac.new((secret or "").encode(), body, hashlib.sha256).digest()


def sign_hex(secret, body):
    return _digest(secret, body).hex()


def sign_base64(secret, body):
    return base64.b64encode(_digest(secret, body)).decode()


def verify_hex(secret, body, header):
    """True when ``header`` is ``sha256=<hex HMAC of body>``; never short-cuts
    on the first differing byte."""
    if not secret or not header:
        return False
    expected = "sha256=" + sign_hex(secret, body)
    return hmac.compare_digest(expected.encode(), header.strip().encode())


def verify_base64(secret, body, header):
    if not secret or not header:
        return False
    return hmac.compare_digest(
        sign_base64(secret, body).encode(), header.strip().encode()
    )
