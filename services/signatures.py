"""HMAC-SHA256 signatures for services, controllers and tests.

The helpers live in :mod:`..adapters.signing` (adapters must not import
services; services may import adapters): this module re-exports them.
"""

from ..adapters.signing import (  # noqa: F401
    sign_base64,
    sign_hex,
    verify_base64,
    verify_hex,
)
