#!/usr/bin/env python3
"""Amazon publication benchmark against the local SP-API stand-in.

    flock /tmp/stock_channel_sync-odoo.lock /work/main/.venv/bin/python \\
        bench/amazon_bench.py                      # docs/benchmarks.rst figures, ~3 min
    ... bench/amazon_bench.py --full               # 10,000 PATCHes (~34 min)

What it measures: the adapter (``adapters/amazon/``, the code the
publication job runs) driven directly, without Odoo, against
``tests/amazon_standin.py`` on 127.0.0.1, which enforces Amazon's documented
rates (``patchListingsItem`` 5/s burst 5, ``createFeed`` 1 per 2 min burst
15, ``getFeed`` 2/s, ...) with 429 answers. For 10 and 10,000 changed
quantities, by the PATCH path, the feed path, and the automatic choice
(``use_feed`` with the default threshold): the time from the first request
(token exchange included) until Amazon has accepted every quantity (the last
PATCH answered ``ACCEPTED``; for a feed, its processing report read), the
requests made, the 429s, and the throttled requests never sent again (must
be 0). Not measured: the database side of a run (snapshot, ATP, audit rows;
see publication_bench.py) and the one-time product-type lookup (20 SKUs per
request at 5/s: 100 s for 10,000 listings, once).

A feed's processing time is Amazon's and is not documented; the stand-in
takes ``--feed-delay`` seconds (default 30) and the bench looks at the feed
every ``--poll`` seconds (the follow-up job: every 60 s; default here 10 to
keep the run short). The 10,000 PATCHes take 33 minutes at 5/s: without
``--full`` the PATCH path sends ``--patch-sample`` of them and the time for
10,000 is extrapolated from the measured steady rate (printed as such).
"""

import argparse
import sys
import time
import types
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
# The adapters without Odoo's module loader: a bare package for the addon.
package = types.ModuleType("stock_channel_sync")
package.__path__ = [str(ROOT)]
sys.modules["stock_channel_sync"] = package
# The stand-ins without the tests package's Odoo imports: a bare package too
# (amazon_standin imports its siblings relatively).
tests_package = types.ModuleType("stock_channel_sync.tests")
tests_package.__path__ = [str(ROOT / "tests")]
sys.modules["stock_channel_sync.tests"] = tests_package
from stock_channel_sync.adapters import amazon  # noqa: E402
from stock_channel_sync.adapters.base import ChannelConfig, Item  # noqa: E402
from stock_channel_sync.tests import amazon_standin  # noqa: E402

MARKETPLACE = "ATVPDKIKX0DER"


def make_adapter(stand_in, threshold):
    config = ChannelConfig(
        code="bench",
        adapter="amazon",
        base_url=stand_in.url,
        seller_id=stand_in.seller_id,
        marketplace_ids=(MARKETPLACE,),
        lwa_client_id=stand_in.client_id,
        lwa_client_secret=stand_in.client_secret,
        lwa_refresh_token=stand_in.refresh_token,
        lwa_token_url=stand_in.token_url,
        feed_threshold=threshold,
        allowed_hosts=("127.0.0.1",),  # the stand-in: plain http, loopback
    )
    return amazon.AmazonAdapter(config, requests.Session())


def run(path, count, args, send=None):
    """One scenario on a fresh stand-in and fresh client state; return a
    dict of figures. ``send``: how many to actually PATCH (sample)."""
    amazon.reset_process_state()
    stand_in = amazon_standin.AmazonStandIn(feed_delay=args.feed_delay).start()
    try:
        skus = [f"SKU-{i:05d}" for i in range(count)]
        stand_in.add_listings(skus, "PRODUCT", quantity=0)
        items = [
            Item(i + 1, sku, "", 7 + i % 50, 0, "PRODUCT") for i, sku in enumerate(skus)
        ]
        threshold = {"patch": 0, "feed": 1, "auto": amazon.DEFAULT_FEED_THRESHOLD}
        adapter = make_adapter(stand_in, threshold[path])
        feed = adapter.use_feed(len(items))
        sent = items if feed else items[: send or count]
        start = time.monotonic()
        if feed:
            feed_ref = adapter.submit_feed(sent)
            while (result := adapter.feed_result(feed_ref)) is None:
                time.sleep(args.poll)
            errors = len(result.errors) + (len(sent) if result.failed else 0)
        else:
            errors = 0
            for index in range(0, len(sent), adapter.batch_limit):
                outcome = adapter.push_levels(
                    sent[index : index + adapter.batch_limit], "bench", "bench"
                )
                errors += len(outcome.item_errors)
        elapsed = time.monotonic() - start
        wrong = sum(
            1
            for item in sent
            if stand_in.listings[item.sku]["quantity"] != item.quantity
        )
        figures = {
            "path": path,
            "count": count,
            "used": "feed" if feed else "patch",
            "sent": len(sent),
            "seconds": elapsed,
            "requests": len(stand_in.requests),
            "throttled": stand_in.throttled,
            "unretried": stand_in.unretried_throttles(),
            "refused": errors,
            "wrong": wrong,
        }
        if len(sent) < count:
            # Steady state: the burst goes at once, the rest at the rate seen.
            burst = amazon.RATES["patchListingsItem"][1]
            rate = (len(sent) - burst) / elapsed
            figures["estimated"] = (count - burst) / rate
            figures["rate"] = rate
        return figures
    finally:
        stand_in.stop()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feed-delay", type=float, default=30.0)
    parser.add_argument("--poll", type=float, default=10.0)
    parser.add_argument("--patch-sample", type=int, default=250)
    parser.add_argument("--full", action="store_true")
    args = parser.parse_args()
    print(
        f"stand-in feed processing {args.feed_delay:.0f} s, feed polled every "
        f"{args.poll:.0f} s, default threshold {amazon.DEFAULT_FEED_THRESHOLD}"
    )
    print(
        f"{'path':<6} {'changes':>7} {'used':<5} {'accepted after':>16} "
        f"{'requests':>8} {'429s':>5} {'not retried':>11} {'refused':>7}"
    )
    rows = []
    for count in (10, 10000):
        for path in ("patch", "feed", "auto"):
            sample = None if args.full else args.patch_sample
            figures = run(path, count, args, send=sample if count > sample else None)
            rows.append(figures)
            if "estimated" in figures:
                when = f"~{figures['estimated']:.0f} s (est.)"
                # The token exchange once, then one request per quantity.
                per_item = (figures["requests"] - 1) / figures["sent"]
                requests_made = f"~{1 + per_item * count:.0f}"
            else:
                when = f"{figures['seconds']:.1f} s"
                requests_made = str(figures["requests"])
            print(
                f"{path:<6} {count:>7} {figures['used']:<5} {when:>16} "
                f"{requests_made:>8} {figures['throttled']:>5} "
                f"{figures['unretried']:>11} {figures['refused']:>7}",
                flush=True,
            )
            if figures["wrong"] or figures["unretried"] or figures["refused"]:
                print("  !! quantities missing on the stand-in", figures)
    sampled = [r for r in rows if "estimated" in r]
    for row in sampled:
        print(
            f"PATCH sample: {row['sent']} sent in {row['seconds']:.1f} s, "
            f"{row['rate']:.2f} accepted/s in steady state"
        )
    feeds = [r for r in rows if r["used"] == "feed"]
    overhead = max(r["seconds"] for r in feeds) - args.feed_delay
    print(
        f"feed path overhead beyond Amazon's processing: up to {overhead:.1f} s "
        f"(document, upload, createFeed, polls, report)"
    )
    for processing in (30, 60, 120, 300):
        # PATCH time (n - burst) / 5 exceeds the feed's from this many on;
        # the follow-up job looks every 60 s, so a feed is known after the
        # first look past its processing.
        known = 60 * -(-processing // 60)
        crossover = 5 + 5 * (known + overhead)
        print(
            f"if Amazon processes a feed in {processing:>3} s: feed wins from "
            f"~{crossover:.0f} changed quantities"
        )


if __name__ == "__main__":
    main()
