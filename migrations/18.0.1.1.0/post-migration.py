"""Move Shopify channels off API versions this release no longer speaks.

Releases before 18.0.1.1.0 defaulted to ``2025-01``, which Shopify retired
and which lacks ``changeFromQuantity``: such a channel would fail every
publication after the upgrade. It is moved to the default version, and the
change is logged so the integrator knows.

The versions are frozen as 18.0.1.1.0 shipped them (not read from
``adapters/shopify_versions.py``): a later release that moves its default
must not change what this step did, nor what it does on a database
upgraded from an older release.
"""

import logging

_logger = logging.getLogger(__name__)

# adapters/shopify_versions.py as of 18.0.1.1.0.
DEFAULT_VERSION = "2026-10"
OLDEST_VERSION = "2026-01"


def migrate(cr, version):
    cr.execute(
        """
        UPDATE stock_channel SET api_version = %s
         WHERE adapter = 'shopify'
           AND (api_version IS NULL OR api_version !~ '^[0-9]{4}-(01|04|07|10)$'
                OR api_version < %s)
        RETURNING code, company_id
        """,
        [DEFAULT_VERSION, OLDEST_VERSION],
    )
    for code, company_id in cr.fetchall():
        _logger.warning(
            "Shopify channel %s (company %s) moved to API version %s",
            code,
            company_id,
            DEFAULT_VERSION,
        )
