#!/usr/bin/env python3
"""3PL events benchmark against a running Odoo with queue_job's runner.

    python3 bench/threepl_events_bench.py               # docs/benchmarks.rst
    python3 bench/threepl_events_bench.py --events 200  # a quicker run

(also run by ``bench/threepl_bench.py`` after its snapshot part)

1. intake: ``--events`` adjustment events (default 1,000) on 100 SKUs, each
   posted twice at the same moment (a 3PL retrying), by 8 clients, signed,
   to /stock_channel_sync/3pl/<code>/events. Reported: p50/p95 latency,
   answers, then the time from the last post until every event is applied,
   events applied (must equal the events), failed jobs (must be 0). The
   anchor, in the same run: the same posts to an unknown connection code
   (the signature check's floor, 401).
2. effect on ATP: 100 events one after another, each on its own product;
   the time from the post to a real-time channel's marketplace (a local
   stand-in) receiving the product's new quantity: p50/p95, against the
   channel's debounce + 1 s.
"""

import argparse
import json
import statistics
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlsplit

import psycopg2
import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import odoo_dev  # noqa: E402
import server  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "adapters"))
from signing import sign_request  # noqa: E402

DB = "scs_bench_threepl_events"
PORT = 8397
SECRET = "bench-3pl-secret"
CLIENTS = 8
SKUS = [f"TPL-{i:03d}" for i in range(100)]
LATENCY_SKUS = [f"TPL-LAT-{i:03d}" for i in range(100)]


class Marketplace(server.LoopbackServer):
    """A channel's marketplace: records when each SKU's quantity arrives."""

    def __init__(self):
        self.received = []  # (time, sku, quantity)
        self.lock = threading.Lock()
        stand_in = self

        class Handler(server.JsonHandler):
            def do_POST(self):
                items = json.loads(self.read_body()).get("items", [])
                now = time.time()
                with stand_in.lock:
                    stand_in.received.extend(
                        (now, item["sku"], item["quantity"]) for item in items
                    )
                self.answer({})

        super().__init__(Handler)


def seed(env, market_url):
    warehouse = env["stock.warehouse"].search([], limit=1)
    server.stocked_products(env, SKUS)
    latency_products = env["product.product"].create(
        [{"name": s, "default_code": s, "is_storable": True} for s in LATENCY_SKUS]
    )
    user = server.technical_user(env)
    env["stock.channel.threepl"].create(
        {
            "name": "Bench 3PL",
            "code": "bench-3pl",
            "warehouse_id": warehouse.id,
            "user_id": user.id,
            "webhook_secret": SECRET,
        }
    )
    channel = env["stock.channel"].create(
        {
            "name": "Bench Real-time",
            "code": "rt",
            "base_url": f"{market_url}/m1",
            "user_id": user.id,
            "warehouse_ids": [(6, 0, warehouse.ids)],
        }
    )
    env["stock.channel.listing"].create(
        [{"channel_id": channel.id, "product_id": p.id} for p in latency_products]
    )
    env.cr.commit()
    return channel.debounce_seconds


def event(event_id, sku, quantity):
    return {
        "id": event_id,
        "type": "adjustment",
        "occurred_at": datetime.now(timezone.utc).isoformat(),
        "sku": sku,
        "quantity": quantity,
        "reason_code": "AA",
    }


def percentile(values, share):
    values = sorted(values)
    return values[max(int(len(values) * share) - 1, 0)]


def post_all(url, bodies):
    """Each body posted by the pool of clients; (status, seconds) each."""
    sessions = {}

    def post(body):
        session = sessions.setdefault(threading.get_ident(), requests.Session())
        started = time.perf_counter()
        response = session.post(
            url,
            data=body,
            headers={
                "Content-Type": "application/json",
                **sign_request(SECRET, "POST", urlsplit(url).path, body),
            },
            timeout=120,
        )
        return response.status_code, time.perf_counter() - started

    started = time.perf_counter()
    with ThreadPoolExecutor(CLIENTS) as pool:
        results = list(pool.map(post, bodies))
    return results, time.perf_counter() - started


def wait_applied(conn, count, timeout=1800):
    deadline = time.time() + timeout
    while time.time() < deadline:
        with conn.cursor() as cr:
            cr.execute(
                "SELECT count(*) FILTER (WHERE state = 'done'),"
                " count(*) FILTER (WHERE state = 'received'), max(applied_at)"
                " FROM stock_channel_threepl_event"
            )
            done, received, last = cr.fetchone()
        if done >= count or (received == 0 and done):
            return done, last
        time.sleep(0.5)
    raise TimeoutError("events still waiting")


def add_arguments(parser):
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--latency-events", type=int, default=100)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(parser)
    args = parser.parse_args()
    with odoo_dev.machine_lock():
        return run(args)


def run(args):
    market = Marketplace()
    odoo, env = server.fresh_env(DB)
    debounce = seed(env, market.url)
    env.cr.close()
    process = server.start_server(odoo, DB, PORT, workers=4)
    base = f"http://127.0.0.1:{PORT}/stock_channel_sync/3pl"
    conn = psycopg2.connect(dbname=DB)
    conn.autocommit = True
    try:
        bodies = [
            json.dumps(
                event(f"E{n:06d}", SKUS[n % len(SKUS)], 1 if n % 2 else -1)
            ).encode()
            for n in range(args.events)
        ]
        twice = [body for body in bodies for _copy in range(2)]
        results, floor_wall = post_all(f"{base}/no-such-3pl/events", twice)
        floor = [t for _s, t in results]
        print(
            f"\nfloor (401, unknown connection): p50 "
            f"{statistics.median(floor) * 1000:.0f} ms, p95 "
            f"{percentile(floor, 0.95) * 1000:.0f} ms, {len(twice) / floor_wall:.0f}"
            " posts/s"
        )
        results, wall = post_all(f"{base}/bench-3pl/events", twice)
        last_post = time.time()
        statuses = [s for s, _t in results]
        latencies = [t for _s, t in results]
        print(
            f"1. intake: {len(twice)} posts ({args.events} events x 2) by {CLIENTS} "
            f"clients in {wall:.1f} s; latency p50 "
            f"{statistics.median(latencies) * 1000:.0f} ms, p95 "
            f"{percentile(latencies, 0.95) * 1000:.0f} ms (target <= 300 ms); "
            f"{wall / floor_wall:.2f}x the floor's time; answers 202 x "
            f"{statuses.count(202)}, 200 x {statuses.count(200)}, other "
            f"{sorted(set(statuses) - {200, 202})}"
        )
        done, last_applied = wait_applied(conn, args.events)
        with conn.cursor() as cr:
            cr.execute(
                "SELECT count(*), count(DISTINCT business_id), sum(quantity)"
                " FROM stock_channel_threepl_event"
            )
            stored, distinct, units = cr.fetchone()
            cr.execute(
                "SELECT state, count(*) FROM queue_job WHERE method_name = '_apply'"
                " GROUP BY state"
            )
            jobs = dict(cr.fetchall())
            cr.execute(
                "SELECT count(*) FROM stock_move WHERE origin LIKE 'bench-3pl/%%'"
                " AND state = 'done'"
            )
            moves = cr.fetchone()[0]
        # applied_at is naive UTC.
        tail = last_applied.replace(tzinfo=timezone.utc).timestamp() - last_post
        print(
            f"   applied {done} of {args.events} ({stored} stored, {distinct} "
            f"distinct, {moves} done moves, net units {units}); last applied "
            f"{tail:.1f} s after the last post; jobs {jobs}"
        )

        # 2. ATP latency: one event at a time on its own listed product.
        sent = {}
        for n, sku in enumerate(LATENCY_SKUS[: args.latency_events]):
            body = json.dumps(event(f"L{n:04d}", sku, 5 + n)).encode()
            posted = time.time()
            status, _t = post_all(f"{base}/bench-3pl/events", [body])[0][0]
            sent[sku] = (posted, 5 + n, status)
            time.sleep(0.3)
        time.sleep(debounce + 3)
        with market.lock:
            received = list(market.received)
        delays = []
        for sku, (posted, quantity, _status) in sent.items():
            arrived = [t for t, s, q in received if s == sku and q == quantity]
            if arrived:
                delays.append(min(arrived) - posted)
        print(
            f"2. event to marketplace over {len(delays)}/{len(sent)} events: p50 "
            f"{statistics.median(delays):.2f} s, p95 {percentile(delays, 0.95):.2f} s"
            f" (target <= debounce {debounce} s + 1 s)"
        )
    finally:
        process.terminate()
        process.wait(timeout=30)
        conn.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
