#!/usr/bin/env python3
"""Reconciliation benchmark: one channel of 20,000 listings against a local
HTTP stand-in that shows what was published, except 1% drifted.

    python3 bench/reconcile_bench.py                  # 20,000 listings
    python3 bench/reconcile_bench.py --products 1000  # a quick run

Seeds the ATP benchmark's data (20,000 products, three channels listing them
all), marks everything published at its ATP, then times one reconciliation
run of the one-warehouse channel with auto-heal on: wall time, SQL queries
issued, HTTP requests sent, discrepancies found. The anchor, in the same run:
the two parts no reconciliation can skip, reading the channel back (the same
adapter, the same pages) and computing the ATP of every listing.
"""

import argparse
import random
import sys
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import atp_bench  # noqa: E402
import server  # noqa: E402

DB = "scs_bench_recon"
SECRET = "bench-recon-secret"
DRIFT_SHARE = 0.01


class StandIn(server.LoopbackServer):
    """The marketplace: ``GET /inventory?skus=`` answers ``shown``."""

    def __init__(self, shown):
        self.shown = shown
        self.requests = 0
        stand_in = self

        class Handler(server.JsonHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as requests uses it

            def do_GET(self):
                stand_in.requests += 1
                skus = parse_qs(urlsplit(self.path).query)["skus"][0].split(",")
                self.answer(
                    {
                        "items": [
                            {"sku": sku, "quantity": stand_in.shown[sku]}
                            for sku in skus
                            if sku in stand_in.shown
                        ]
                    }
                )

        super().__init__(Handler)


def publish_everything(env, channel):
    """Every listing published at its ATP now, nothing pending; returns
    ``{sku: published qty}``."""
    from odoo.addons.stock_channel_sync.services.atp import AtpEngine, id_array

    listings = env["stock.channel.listing"].search([("channel_id", "=", channel.id)])
    atp = AtpEngine(env).compute(listings.ids)
    env.cr.execute(
        """UPDATE stock_channel_listing l
              SET last_published_qty = p.qty,
                  last_published_at = now() at time zone 'UTC'
             FROM unnest(%s::int[], %s::int[]) AS p(id, qty)
            WHERE l.id = p.id""",
        [id_array(listings.ids), id_array(atp[i].qty for i in listings.ids)],
    )
    env.cr.execute("DELETE FROM stock_channel_listing_change")
    env.invalidate_all()
    return {listing.external_sku: atp[listing.id].qty for listing in listings}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, default=20000)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    _odoo, env = server.fresh_env(DB)
    try:
        run(env, args)
    finally:
        env.cr.close()
    return 0


def run(env, args):
    from odoo.addons.stock_channel_sync.adapters.base import ListingRef, get_adapter
    from odoo.addons.stock_channel_sync.services.atp import AtpEngine
    from odoo.addons.stock_channel_sync.services.reconciler import Reconciler

    rng = random.Random(args.seed)
    channels, _warehouses = atp_bench.seed(env, args.products, rng)
    channel = channels[0]
    published = publish_everything(env, channel)
    shown = dict(published)
    drifted = rng.sample(sorted(shown), int(len(shown) * DRIFT_SHARE))
    for sku in drifted:
        shown[sku] += 3
    stand_in = StandIn(shown)
    channel.write(
        {"base_url": stand_in.url, "webhook_secret": SECRET, "auto_heal": True}
    )
    env.cr.commit()

    # The anchor: read back and ATP alone.
    listings = env["stock.channel.listing"].search([("channel_id", "=", channel.id)])
    refs = [ListingRef(listing.id, listing.external_sku, "") for listing in listings]
    env.invalidate_all()
    started = time.perf_counter()
    get_adapter(channel._adapter_config()).fetch_levels(refs, "bench")
    fetch_time = time.perf_counter() - started
    started = time.perf_counter()
    AtpEngine(env).compute(listings.ids)
    atp_time = time.perf_counter() - started
    anchor = fetch_time + atp_time

    figures = []
    for label in ("first run (finds the drift)", "second run (still drifted)"):
        env.invalidate_all()
        stand_in.requests = 0
        queries = env.cr.sql_log_count
        started = time.perf_counter()
        summary = Reconciler(channel).run()
        wall = time.perf_counter() - started
        queries = env.cr.sql_log_count - queries
        env.cr.commit()
        figures.append((label, wall, queries, stand_in.requests, summary))

    env.cr.execute(
        "SELECT kind, count(*), bool_and(healed) FROM stock_channel_discrepancy"
        " WHERE state = 'open' GROUP BY kind"
    )
    open_rows = env.cr.fetchall()
    count = len(listings)
    print(f"\nReconciling {count} listings, {len(drifted)} drifted on the channel:")
    print(
        f"  anchor: read-back alone {fetch_time:.2f} s + ATP alone {atp_time:.2f} s"
        f" = {anchor:.2f} s"
    )
    ok = True
    for label, wall, queries, requests, summary in figures:
        per_thousand = queries / count * 1000
        print(
            f"  {label}: {wall:.2f} s ({wall / anchor:.2f}x the anchor), "
            f"{queries} queries ({per_thousand:.1f} per 1,000 listings), "
            f"{requests} requests; {summary}"
        )
        ok = ok and wall < 30 and per_thousand < 100
    print(f"  open discrepancies (kind, rows, all healed): {open_rows}")
    print("targets met (< 30 s, < 100 queries per 1,000)" if ok else "TARGETS MISSED")


if __name__ == "__main__":
    sys.exit(main())
