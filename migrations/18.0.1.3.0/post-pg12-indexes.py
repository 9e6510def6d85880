"""Unique indexes that PostgreSQL 12 to 14 can build.

Releases up to 18.0.1.2.0 declared two unique keys with ``NULLS NOT
DISTINCT`` (PostgreSQL 15+): the sandbox shelf's (channel, SKU, location)
and the open discrepancies' (listing, kind, location). Both are now unique
indexes over ``COALESCE(location_ref, '')``, which treat "no location" as
one location on every PostgreSQL from 12 on; the models' ``init()`` creates
them. A database upgraded on PostgreSQL 15+ still holds the old keys: they
are dropped here, and the new indexes created if ``init()`` has not.

The SQL is frozen here (not read from the models), so that this migration
does the same thing whatever later releases change. No row can collide
under the new keys that did not under the old ones: both writers store "no
location" as NULL (``NULLIF(location, '')``), never as ''.
"""

import logging

_logger = logging.getLogger(__name__)

STATEMENTS = [
    "ALTER TABLE stock_channel_sandbox_shelf"
    " DROP CONSTRAINT IF EXISTS stock_channel_sandbox_shelf_channel_sku_uniq",
    "CREATE UNIQUE INDEX IF NOT EXISTS stock_channel_sandbox_shelf_sku_uniq"
    " ON stock_channel_sandbox_shelf"
    " (channel_id, external_sku, COALESCE(location_ref, ''))",
    "DROP INDEX IF EXISTS stock_channel_discrepancy_open_location_uniq",
    "CREATE UNIQUE INDEX IF NOT EXISTS stock_channel_discrepancy_open_key_uniq"
    " ON stock_channel_discrepancy"
    " (listing_id, kind, COALESCE(location_ref, '')) WHERE state = 'open'",
]


def migrate(cr, version):
    for statement in STATEMENTS:
        cr.execute(statement)
    _logger.info("Unique keys of the sandbox shelf and discrepancies rebuilt")
