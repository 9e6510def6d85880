"""The Shopify Admin API versions this addon speaks, in one place.

Shopify releases a stable version each quarter (``YYYY-01``, ``-04``, ``-07``,
``-10``), keeps it about a year, and answers a request for a retired one with
the oldest version it still supports. The inventory mutation sends
``changeFromQuantity`` and the ``@idempotent`` directive: both exist from
``2026-01`` on and are required from ``2026-04`` on, when ``compareQuantity``
and ``ignoreCompareQuantity`` are removed (changelog of 12 December 2025).
Nothing older than ``2026-01`` is accepted.

One document shape fits every supported version: ``changeFromQuantity`` on
every quantity (``null`` opts out of the comparison; in 2026-01 an absent
value would fall back to the legacy ``compareQuantity`` check) and an
idempotency key on every inventory mutation (optional in 2026-01, but a job
retried after a timeout must not apply a batch twice). That shape also stays
valid when Shopify serves a retired version as a newer one. A future version
that changes a document adds its rule here and a branch in the adapter's
builder.

The model (field default, save-time check) and the adapter (endpoint and
documents) both read this module.
"""

import re

# Newest stable version at release time: new channels and an empty field use
# it, which gives a channel the longest time before it has to move.
DEFAULT_VERSION = "2026-10"
# ``changeFromQuantity`` and ``@idempotent`` appear in this version.
OLDEST_VERSION = "2026-01"

VERSION_PATTERN = re.compile(r"^\d{4}-(01|04|07|10)$")


def is_supported(version):
    """True for a stable version name from the oldest supported one on.

    ``YYYY-MM`` names sort like their dates, so comparing the strings
    compares the releases. ``unstable`` and release candidates are refused:
    their schema changes without notice."""
    return bool(VERSION_PATTERN.match(version or "")) and version >= OLDEST_VERSION


def resolve(version):
    """The version to call for a channel's setting (empty: the default);
    ``ValueError`` for one this addon cannot speak."""
    version = (version or "").strip() or DEFAULT_VERSION
    if not is_supported(version):
        raise ValueError(version)
    return version
