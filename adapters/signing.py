"""HMAC-SHA256 signatures, compared in constant time.

The generic webhook contract signs with hex digests (``sha256=<hex>``);
Shopify and WooCommerce sign with base64 digests. Plain Python, importable
by adapters (which import nothing from services) and by the benchmarks.
"""

import base64
import hashlib
import hmac


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
