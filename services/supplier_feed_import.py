"""A supplier's stock feed applied to ``stock.channel.supplier.stock``,
set-based, whatever its source (upload, signed push, poll).

The file is validated whole first (``supplier_feed_parse``): a bad file
changes nothing. Then, in a fixed number of statements however many rows:

1. the feed is locked for the rest of the transaction: a transaction-level
   advisory lock taken without waiting (a second import of the same feed
   at once is refused with :class:`FeedBusy`, the endpoint's 409), then its
   row ``FOR UPDATE`` so that the last applied ``generated_at`` is read as
   committed (under Odoo's REPEATABLE READ a concurrent commit since this
   transaction began is a serialization failure, retried by Odoo), and an
   older file than the last one applied is refused (:class:`StaleFeed`);
2. the rows are loaded into a temporary table with ``COPY``;
3. SKUs are resolved to products in one query: the vendor code of the
   product's vendor pricelist line for the feed's vendor (and company),
   else its internal reference; or its internal reference only; or its
   barcode (the feed's *Match By*);
4. one ``INSERT ... ON CONFLICT DO UPDATE`` writes the rows whose quantity
   changed, one ``UPDATE`` sets 0 on this feed's rows absent from the file
   (*Zero When Missing*);
5. the feed's health figures are written, and the listings of the products
   whose effective quantity (the vendor's figure after the vendor buffer,
   0 while the feed is stale) changed are marked pending in one call.
"""

import csv
import io
from dataclasses import dataclass
from datetime import timedelta

from odoo import fields
from odoo.tools import SQL

from .supplier_feed_parse import FeedFileError, parse_feed

# First key of the feed lock: CRC-32 of "stock_channel_sync.supplier_feed"
# as a signed 32-bit integer (the second key is the feed id), apart from
# the publication lock's namespace (services/channel_lock.py).
NAMESPACE = -1046373597
#: SKUs kept as the feed's sample of unknown codes.
UNKNOWN_SAMPLE = 20
#: How far ahead of Odoo's clock a file's ``generated_at`` may be: a vendor
#: clock set in the future would otherwise refuse every later file as old.
MAX_FUTURE_SKEW = timedelta(hours=1)
ROWS_TABLE = "scs_supplier_feed_rows"
MATCH_TABLE = "scs_supplier_feed_match"

__all__ = [
    "FeedBusy",
    "FeedFileError",
    "FeedResult",
    "StaleFeed",
    "effective_sql",
    "import_feed",
    "record_error",
]


class FeedBusy(Exception):
    """Another import of the same feed is running: try again shortly."""


class StaleFeed(Exception):
    """The file was generated before the last one applied: a replay or a
    late delivery, refused so that older quantities never win."""


@dataclass(frozen=True)
class FeedResult:
    """What an import did, as the endpoint answers and the wizard shows."""

    rows_read: int
    matched: int
    unknown: int
    zeroed: int
    changed: int

    def as_dict(self):
        return {
            "status": "applied",
            "rows_read": self.rows_read,
            "matched": self.matched,
            "unknown": self.unknown,
            "zeroed": self.zeroed,
            "changed_products": self.changed,
        }


def effective_sql(quantity, buffer_type, buffer_value):
    """SQL of a vendor's quantity after its buffer (never below 0), from
    three SQL expressions: the quantity column, the feed's buffer type and
    value columns. How the feed decides which products changed; the ATP
    engine applies the same rule."""
    return SQL(
        "CASE WHEN %(type)s = 'percent'"
        " THEN GREATEST(%(qty)s - %(qty)s * %(value)s / 100.0, 0)"
        " ELSE GREATEST(%(qty)s - %(value)s, 0) END",
        type=buffer_type,
        qty=quantity,
        value=buffer_value,
    )


def import_feed(feed, data):
    """Validate ``data`` (the file's bytes) and apply it to ``feed`` (a
    ``stock.channel.supplier.feed`` record), in the caller's transaction.
    Returns a :class:`FeedResult`; raises :class:`FeedFileError` (nothing
    written: the caller records it with :func:`record_error`),
    :class:`FeedBusy` or :class:`StaleFeed`."""
    feed.ensure_one()
    parsed = parse_feed(data)
    if parsed.generated_at and parsed.generated_at > (
        fields.Datetime.now() + MAX_FUTURE_SKEW
    ):
        raise FeedFileError(
            "The feed file was refused, nothing was changed: generated_at "
            f"{parsed.generated_at:%Y-%m-%d %H:%M:%S} UTC is in the future "
            "(check the vendor's clock)."
        )
    env = feed.env
    cr = env.cr
    feed.flush_recordset()
    state = _lock(feed)
    if (
        parsed.generated_at
        and state["last_generated_at"]
        and parsed.generated_at < state["last_generated_at"]
    ):
        raise StaleFeed(
            f"The feed file was generated at {parsed.generated_at:%Y-%m-%d %H:%M:%S}"
            " UTC, before the last one applied "
            f"({state['last_generated_at']:%Y-%m-%d %H:%M:%S} UTC): refused."
        )
    _load_rows(cr, parsed.rows)
    _match(env, state)
    now = fields.Datetime.now()
    was_fresh = bool(
        state["active"]
        and state["last_update"]
        and state["last_update"] >= now - _hours(state["freshness_hours"])
    )
    changed = _changed_products(cr, state, was_fresh)
    zeroed = _write_stock(env, state, now)
    matched, unknown, sample = _unknown(cr)
    cr.execute(
        SQL(
            """
            UPDATE stock_channel_supplier_feed
               SET last_update = %(now)s,
                   last_generated_at = COALESCE(%(generated)s, last_generated_at),
                   rows_read = %(rows)s,
                   unknown_count = %(unknown)s,
                   unknown_skus = %(sample)s,
                   zeroed_count = %(zeroed)s,
                   last_error = NULL,
                   stale_notified = FALSE,
                   write_date = %(now)s,
                   write_uid = %(uid)s
             WHERE id = %(id)s
            """,
            now=now,
            generated=parsed.generated_at,
            rows=len(parsed.rows),
            unknown=unknown,
            sample=", ".join(sample) or None,
            zeroed=zeroed,
            uid=env.uid,
            id=feed.id,
        )
    )
    feed.invalidate_recordset()
    env["stock.channel.supplier.stock"].invalidate_model()
    if changed:
        env["stock.channel.listing"]._mark_pending_for_products(changed)
    return FeedResult(len(parsed.rows), matched, unknown, zeroed, len(changed))


def record_error(feed, message):
    """Keep why the last file was refused on the feed (and nothing else),
    in the caller's transaction: what the health figures show."""
    feed.env.cr.execute(
        SQL(
            "UPDATE stock_channel_supplier_feed SET last_error = %s WHERE id = %s",
            str(message)[:2000],
            feed.id,
        )
    )
    feed.invalidate_recordset(["last_error"])


def _hours(hours):
    return timedelta(hours=hours or 0)


def _lock(feed):
    """Take the feed's lock (or raise :class:`FeedBusy`) and read its
    settings as committed."""
    cr = feed.env.cr
    cr.execute(SQL("SELECT pg_try_advisory_xact_lock(%s, %s)", NAMESPACE, feed.id))
    if not cr.fetchone()[0]:
        raise FeedBusy("Another import of this feed is running: try again in a moment.")
    cr.execute(
        SQL(
            """
            SELECT id, partner_id, company_id, match_by, zero_when_missing,
                   buffer_type, buffer_value, freshness_hours, active,
                   last_update, last_generated_at
              FROM stock_channel_supplier_feed
             WHERE id = %s
               FOR UPDATE
            """,
            feed.id,
        )
    )
    return cr.dictfetchone()


def _load_rows(cr, rows):
    """The file's rows into a temporary table, with COPY."""
    cr.execute(SQL("DROP TABLE IF EXISTS %s", SQL.identifier(ROWS_TABLE)))
    cr.execute(
        SQL(
            "CREATE TEMPORARY TABLE %s (line integer, sku varchar,"
            " quantity double precision) ON COMMIT DROP",
            SQL.identifier(ROWS_TABLE),
        )
    )
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerows(rows)
    buffer.seek(0)
    cr.copy_expert(
        f"COPY {ROWS_TABLE} (line, sku, quantity) FROM STDIN WITH (FORMAT csv)",
        buffer,
    )
    cr.execute(SQL("ANALYZE %s", SQL.identifier(ROWS_TABLE)))


def _match(env, state):
    """``MATCH_TABLE``: (sku, product id, quantity, matched) per product,
    each product once, each SKU resolved by the feed's *Match By*."""
    for model in ("product.product", "product.template", "product.supplierinfo"):
        env[model].flush_model()
    rows = SQL.identifier(ROWS_TABLE)
    company = state["company_id"]
    own_products = SQL(
        "pp.active AND (pt.company_id IS NULL OR pt.company_id = %s)", company
    )
    by_code = SQL(
        """
        SELECT r.sku, pp.id, 2
          FROM %(rows)s r
          JOIN product_product pp ON pp.default_code = r.sku
          JOIN product_template pt ON pt.id = pp.product_tmpl_id
         WHERE %(own)s
        """,
        rows=rows,
        own=own_products,
    )
    by_barcode = SQL(
        """
        SELECT r.sku, pp.id, 2
          FROM %(rows)s r
          JOIN product_product pp ON pp.barcode = r.sku
          JOIN product_template pt ON pt.id = pp.product_tmpl_id
         WHERE %(own)s
        """,
        rows=rows,
        own=own_products,
    )
    # A vendor code on a variant's line matches that variant; on a
    # template's line, the template's variant when it has only one (the
    # vendor's figure is not split between variants).
    by_vendor = SQL(
        """
        SELECT r.sku, pp.id, CASE WHEN si.product_id IS NULL THEN 1 ELSE 0 END
          FROM %(rows)s r
          JOIN product_supplierinfo si ON si.product_code = r.sku
          JOIN product_product pp
            ON pp.id = si.product_id
            OR (si.product_id IS NULL AND pp.product_tmpl_id = si.product_tmpl_id
                AND NOT EXISTS (SELECT 1 FROM product_product other
                                 WHERE other.product_tmpl_id = pp.product_tmpl_id
                                   AND other.active AND other.id <> pp.id))
          JOIN product_template pt ON pt.id = pp.product_tmpl_id
         WHERE si.partner_id = %(partner)s
           AND (si.company_id IS NULL OR si.company_id = %(company)s)
           AND %(own)s
        """,
        rows=rows,
        partner=state["partner_id"],
        company=company,
        own=own_products,
    )
    candidates = {
        "barcode": by_barcode,
        "default_code": by_code,
        "vendor_code": SQL("%s UNION ALL %s", by_vendor, by_code),
    }[state["match_by"] or "vendor_code"]
    env.cr.execute(SQL("DROP TABLE IF EXISTS %s", SQL.identifier(MATCH_TABLE)))
    env.cr.execute(
        SQL(
            """
            CREATE TEMPORARY TABLE %(match)s ON COMMIT DROP AS
            WITH candidate(sku, product_id, rank) AS (%(candidates)s),
            best_of_sku AS (
                SELECT sku, product_id, rank,
                       MIN(rank) OVER (PARTITION BY sku) AS best
                  FROM candidate
            )
            SELECT DISTINCT ON (b.product_id) b.sku, b.product_id, r.quantity
              FROM best_of_sku b
              JOIN %(rows)s r ON r.sku = b.sku
             WHERE b.rank = b.best
          ORDER BY b.product_id, b.rank, r.line
            """,
            match=SQL.identifier(MATCH_TABLE),
            candidates=candidates,
            rows=rows,
        )
    )


def _changed_products(cr, state, was_fresh):
    """Products whose effective quantity changes with this file: before,
    the stored figure after the buffer (0 while the feed was stale or
    inactive); after, the file's (0 when absent and *Zero When Missing*)."""
    buffer_type = SQL("%s", state["buffer_type"] or "fixed")
    buffer_value = SQL("%s", state["buffer_value"] or 0.0)
    after_qty = SQL(
        "COALESCE(m.quantity, CASE WHEN %s THEN 0 ELSE s.quantity END)",
        bool(state["zero_when_missing"]),
    )
    before = (
        effective_sql(SQL("COALESCE(s.quantity, 0)"), buffer_type, buffer_value)
        if was_fresh and state["active"]
        else SQL("0")
    )
    after = (
        effective_sql(after_qty, buffer_type, buffer_value)
        if state["active"]
        else SQL("0")
    )
    cr.execute(
        SQL(
            """
            SELECT COALESCE(m.product_id, s.product_id)
              FROM %(match)s m
         FULL JOIN (SELECT product_id, quantity
                      FROM stock_channel_supplier_stock
                     WHERE feed_id = %(feed)s) s
                ON s.product_id = m.product_id
             WHERE (%(before)s) <> (%(after)s)
            """,
            match=SQL.identifier(MATCH_TABLE),
            feed=state["id"],
            before=before,
            after=after,
        )
    )
    return [row[0] for row in cr.fetchall()]


def _write_stock(env, state, now):
    """Upsert the new and changed rows (unchanged ones are left out before
    the upsert: a daily file changes a fraction of its rows), zero the
    absent ones; the count zeroed."""
    cr = env.cr
    env["stock.channel.supplier.stock"].flush_model()
    cr.execute(
        SQL(
            """
            INSERT INTO stock_channel_supplier_stock AS s
                   (feed_id, product_id, company_id, vendor_code, quantity,
                    updated_at, create_uid, create_date, write_uid, write_date)
            SELECT %(feed)s, m.product_id, %(company)s, m.sku, m.quantity,
                   %(now)s, %(uid)s, %(now)s, %(uid)s, %(now)s
              FROM %(match)s m
         LEFT JOIN stock_channel_supplier_stock old
                ON old.feed_id = %(feed)s AND old.product_id = m.product_id
             WHERE old.id IS NULL
                OR old.quantity IS DISTINCT FROM m.quantity
                OR old.vendor_code IS DISTINCT FROM m.sku
                ON CONFLICT (feed_id, product_id) DO UPDATE
               SET quantity = EXCLUDED.quantity,
                   vendor_code = EXCLUDED.vendor_code,
                   updated_at = EXCLUDED.updated_at,
                   write_uid = EXCLUDED.write_uid,
                   write_date = EXCLUDED.write_date
             WHERE s.quantity IS DISTINCT FROM EXCLUDED.quantity
                OR s.vendor_code IS DISTINCT FROM EXCLUDED.vendor_code
            """,
            feed=state["id"],
            company=state["company_id"],
            now=now,
            uid=env.uid,
            match=SQL.identifier(MATCH_TABLE),
        )
    )
    if not state["zero_when_missing"]:
        return 0
    cr.execute(
        SQL(
            """
            UPDATE stock_channel_supplier_stock s
               SET quantity = 0, updated_at = %(now)s,
                   write_uid = %(uid)s, write_date = %(now)s
             WHERE s.feed_id = %(feed)s
               AND s.quantity <> 0
               AND NOT EXISTS (SELECT 1 FROM %(match)s m
                                WHERE m.product_id = s.product_id)
            """,
            feed=state["id"],
            now=now,
            uid=env.uid,
            match=SQL.identifier(MATCH_TABLE),
        )
    )
    return cr.rowcount


def _unknown(cr):
    """(products matched, SKUs matched to no product, a sample of them)."""
    cr.execute(
        SQL(
            """
            WITH unknown AS (
                SELECT r.sku, r.line FROM %(rows)s r
                 WHERE NOT EXISTS (SELECT 1 FROM %(match)s m WHERE m.sku = r.sku)
            )
            SELECT (SELECT COUNT(*) FROM %(match)s),
                   (SELECT COUNT(*) FROM unknown),
                   ARRAY(SELECT sku FROM unknown ORDER BY line LIMIT %(sample)s)
            """,
            rows=SQL.identifier(ROWS_TABLE),
            match=SQL.identifier(MATCH_TABLE),
            sample=UNKNOWN_SAMPLE,
        )
    )
    matched, unknown, sample = cr.fetchone()
    return matched, unknown, sample
