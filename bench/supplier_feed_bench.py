#!/usr/bin/env python3
"""Supplier feed benchmark: a vendor's file of 100,000 rows imported.

    python3 bench/supplier_feed_bench.py               # docs/benchmarks.rst
    python3 bench/supplier_feed_bench.py --rows 10000  # a quicker run

Seeds products in bulk (one ORM product and one vendor pricelist line,
cloned in SQL: 100,000 ORM creates take many minutes here), half of them
with a vendor code of the feed's vendor, then times, on one 2-core
machine, ``services.supplier_feed_import.import_feed`` of:

(a) a CSV of ``--rows`` rows (90 % matched, by vendor code or internal
    reference, 10 % unknown SKUs) into an empty feed: every row inserted;
(b) the same feed again, a third of the quantities changed and 5 % of the
    SKUs left out (zeroed): the update path;

target: each under 20 s, set-based (a fixed number of statements).
:func:`bench_feed_import` is what ``bench/atp_bench.py`` calls in its run;
it leaves the database as it found it (a savepoint rolled back).
"""

import argparse
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import odoo_dev  # noqa: E402
import server  # noqa: E402

BENCH_DB = "scs_bench_supplier_feed"
TARGET_SECONDS = 20.0
PREFIX = "FEEDBENCH"


def _columns(cr, table, skip):
    cr.execute(
        "SELECT column_name FROM information_schema.columns"
        " WHERE table_name = %s AND column_name <> ALL(%s) ORDER BY ordinal_position",
        [table, list(skip)],
    )
    return [row[0] for row in cr.fetchall()]


def seed(env, count):
    """``count`` products (internal references ``FEEDBENCH-000001``...),
    the even ones with a vendor code ``V-000002``... of the feed's vendor;
    returns the feed."""
    started = time.perf_counter()
    vendor = env["res.partner"].create({"name": "Feed Bench Vendor"})
    template = env["product.template"].create(
        {"name": "Feed bench seed", "default_code": f"{PREFIX}-SEED"}
    )
    info = env["product.supplierinfo"].create(
        {"partner_id": vendor.id, "product_tmpl_id": template.id, "product_code": "V"}
    )
    env.flush_all()
    cr = env.cr
    tcols = ", ".join(_columns(cr, "product_template", ["id"]))
    pcols = _columns(
        cr, "product_product", ["id", "product_tmpl_id", "default_code", "barcode"]
    )
    scols = _columns(
        cr, "product_supplierinfo", ["id", "product_tmpl_id", "product_code"]
    )
    p_into, p_from = ", ".join(pcols), ", ".join(f"p.{c}" for c in pcols)
    s_into, s_from = ", ".join(scols), ", ".join(f"s.{c}" for c in scols)
    cr.execute(
        f"""
        WITH new_t AS (
            INSERT INTO product_template ({tcols})
            SELECT {tcols} FROM product_template t, generate_series(1, %(n)s)
             WHERE t.id = %(tmpl)s
            RETURNING id
        ), numbered AS (
            SELECT id, row_number() OVER (ORDER BY id) AS n FROM new_t
        ), variants AS (
            INSERT INTO product_product ({p_into}, product_tmpl_id, default_code)
            SELECT {p_from}, numbered.id,
                   %(prefix)s || '-' || lpad(numbered.n::text, 6, '0')
              FROM product_product p, numbered
             WHERE p.product_tmpl_id = %(tmpl)s
            RETURNING product_tmpl_id
        )
        INSERT INTO product_supplierinfo ({s_into}, product_tmpl_id, product_code)
        SELECT {s_from}, numbered.id,
               'V-' || lpad(numbered.n::text, 6, '0')
          FROM product_supplierinfo s, numbered
         WHERE s.id = %(info)s AND numbered.n %% 2 = 0
        """,  # noqa: S608 - column names read from the catalogue, no input
        {"n": count, "tmpl": template.id, "prefix": PREFIX, "info": info.id},
    )
    cr.execute("ANALYZE product_product")
    cr.execute("ANALYZE product_supplierinfo")
    env.invalidate_all()
    feed = env["stock.channel.supplier.feed"].create(
        {"name": "Feed Bench", "code": "feed-bench", "partner_id": vendor.id}
    )
    print(f"  {count} products seeded in {time.perf_counter() - started:.1f} s")
    return feed


def feed_file(count, rng, changed=0.0, left_out=0.0):
    """The vendor's CSV: even products by vendor code, odd ones by internal
    reference, one unknown SKU in ten rows."""
    lines = ["sku,quantity"]
    matched = int(count * 0.9)
    for n in range(1, matched + 1):
        if left_out and rng.random() < left_out:
            continue
        sku = f"V-{n:06d}" if n % 2 == 0 else f"{PREFIX}-{n:06d}"
        qty = n % 50 + (rng.randint(1, 9) if rng.random() < changed else 0)
        lines.append(f"{sku},{qty}")
    lines.extend(f"UNKNOWN-{n:06d},1" for n in range(count - matched))
    return ("\n".join(lines) + "\n").encode()


def _timed(feed, data):
    from odoo.addons.stock_channel_sync.services.supplier_feed_import import (
        import_feed,
    )

    started = time.perf_counter()
    result = import_feed(feed, data)
    feed.env.flush_all()
    return time.perf_counter() - started, result


def bench_feed_import(env, rows=100_000, rng=None, verbose=True):
    """Seconds to import a feed of ``rows`` rows into an empty feed (the
    insert path, the slower one), with the update path printed; the
    database is left as found."""
    rng = rng or random.Random(42)
    env.cr.execute("SAVEPOINT supplier_feed_bench")
    try:
        feed = seed(env, rows)
        first, result = _timed(feed, feed_file(rows, rng))
        second, again = _timed(feed, feed_file(rows, rng, changed=0.33, left_out=0.05))
    finally:
        env.cr.execute("ROLLBACK TO SAVEPOINT supplier_feed_bench")
        env.invalidate_all()
    if verbose:
        print(f"\nSupplier feed of {rows} rows (target < {TARGET_SECONDS:.0f} s each):")
        print(
            f"  (a) first import     {first:7.2f} s  ({result.matched} matched, "
            f"{result.unknown} unknown)"
        )
        print(
            f"  (b) changed file     {second:7.2f} s  ({again.changed} changed, "
            f"{again.zeroed} zeroed)"
        )
        ok = max(first, second) < TARGET_SECONDS
        print("target met" if ok else "TARGET MISSED")
    return first


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()
    with odoo_dev.machine_lock():
        _odoo, env = server.fresh_env(BENCH_DB)
        try:
            seconds = bench_feed_import(env, args.rows)
        finally:
            env.cr.close()
    return 0 if seconds < TARGET_SECONDS else 1


if __name__ == "__main__":
    sys.exit(main())
