"""Supplier feeds that went stale: their quantities count as 0 from the
moment the freshness window ends, so the channels must be told.

Run by a cron every few minutes, set-based: one UPDATE flags the active
feeds past their window not yet handled (``stale_notified``) and adds to
their ``zeroed_count`` the quantities that were above 0; one call marks the
listings of those products pending. A feed is handled once per staleness:
the next successful import clears the flag."""

from odoo import fields
from odoo.tools import SQL

from .supplier_feed_import import effective_sql


def mark_stale(env):
    """Handle every feed that crossed its freshness window since the last
    run; returns the ids of the feeds handled."""
    env["stock.channel.supplier.feed"].flush_model()
    env["stock.channel.supplier.stock"].flush_model()
    cr = env.cr
    cr.execute(
        SQL(
            """
            WITH stale AS (
                SELECT f.id
                  FROM stock_channel_supplier_feed f
                 WHERE f.active
                   AND NOT f.stale_notified
                   AND f.last_update IS NOT NULL
                   AND f.last_update
                       < %(now)s - make_interval(hours => f.freshness_hours)
                   FOR UPDATE SKIP LOCKED
            ),
            zeroed AS (
                SELECT s.feed_id, s.product_id
                  FROM stock_channel_supplier_stock s
                  JOIN stock_channel_supplier_feed f ON f.id = s.feed_id
                 WHERE s.feed_id IN (SELECT id FROM stale)
                   AND (%(effective)s) > 0
            ),
            flagged AS (
                UPDATE stock_channel_supplier_feed f
                   SET stale_notified = TRUE,
                       zeroed_count = COALESCE(f.zeroed_count, 0) + (
                           SELECT COUNT(*) FROM zeroed z WHERE z.feed_id = f.id)
                 WHERE f.id IN (SELECT id FROM stale)
             RETURNING f.id
            )
            SELECT (SELECT ARRAY_AGG(id) FROM flagged),
                   (SELECT ARRAY_AGG(DISTINCT product_id) FROM zeroed)
            """,
            now=fields.Datetime.now(),
            effective=effective_sql(
                SQL("s.quantity"), SQL("f.buffer_type"), SQL("f.buffer_value")
            ),
        )
    )
    feed_ids, product_ids = cr.fetchone()
    if not feed_ids:
        return []
    env["stock.channel.supplier.feed"].invalidate_model(
        ["stale_notified", "zeroed_count"]
    )
    if product_ids:
        env["stock.channel.listing"]._mark_pending_for_products(product_ids)
    return feed_ids
