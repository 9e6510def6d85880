#!/usr/bin/env python3
"""Order intake benchmark against a running Odoo with queue_job's runner.

    python3 bench/orders_bench.py                # 1,000 orders (docs/benchmarks.rst)
    python3 bench/orders_bench.py --orders 200   # a quicker run

8 concurrent clients post distinct 3-line orders on the same 3 hot SKUs, each
order 3 times at once (a marketplace retrying). Reported: intake rate and
p50/p95 latency, duplicates answered, 5xx answers; then the time until every
order is confirmed by the job runner, sale orders created (must equal the
orders), failed jobs. The anchor, in the same run on the same server: plain
Odoo's JSON-RPC create + confirm of 3-line sale orders by 8 clients; for the
intake, the same posts to an unknown channel (Odoo's HTTP floor, 404).
"""

import argparse
import json
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

import psycopg2
import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import server  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "adapters"))
from signing import sign_request  # noqa: E402

DB = "scs_bench_orders"
PORT = 8398
SECRET = "bench-order-secret"
CLIENTS = 8
SKUS = ("HOT-1", "HOT-2", "HOT-3")


def seed(env):
    products = server.stocked_products(env, SKUS)
    channel = env["stock.channel"].create(
        {
            "name": "Bench Orders",
            "code": "orders",
            "webhook_secret": SECRET,
            "user_id": server.technical_user(env).id,
            "sync_mode": "batch",  # no marketplace to publish to here
        }
    )
    env["stock.channel.listing"].create(
        [{"channel_id": channel.id, "product_id": p.id} for p in products]
    )
    partner = env["res.partner"].create({"name": "Anchor Buyer"})
    env.cr.commit()
    return products.ids, partner.id


def percentile(values, share):
    values = sorted(values)
    return values[max(int(len(values) * share) - 1, 0)]


def intake(count, url):
    """Post every order 3 times, the copies at the same moment."""
    session_per_thread = {}

    def post(index):
        import threading

        session = session_per_thread.setdefault(
            threading.get_ident(), requests.Session()
        )
        body = json.dumps(
            {
                "external_id": f"B{index:06d}",
                "customer": {
                    "name": f"Buyer {index % 50}",
                    "email": f"b{index % 50}@x.be",
                },
                "lines": [{"sku": sku, "quantity": 1, "unit_price": 5} for sku in SKUS],
            }
        ).encode()
        started = time.perf_counter()
        response = session.post(
            url,
            data=body,
            headers=sign_request(SECRET, "POST", urlsplit(url).path, body),
            timeout=120,
        )
        return response.status_code, time.perf_counter() - started

    tasks = [index for index in range(count) for _copy in range(3)]
    started = time.perf_counter()
    with ThreadPoolExecutor(CLIENTS) as pool:
        results = list(pool.map(post, tasks))
    return results, time.perf_counter() - started


def anchor(count, call, product_ids, partner_id):
    """Plain Odoo: create and confirm a 3-line sale order over JSON-RPC."""

    def one(_index):
        started = time.perf_counter()
        try:
            order = call(
                "sale.order",
                "create",
                {
                    "partner_id": partner_id,
                    "order_line": [
                        (0, 0, {"product_id": p, "product_uom_qty": 1})
                        for p in product_ids
                    ],
                },
            )
            call("sale.order", "action_confirm", [order])
            ok = True
        except RuntimeError:
            ok = False
        return ok, time.perf_counter() - started

    started = time.perf_counter()
    with ThreadPoolExecutor(CLIENTS) as pool:
        results = list(pool.map(one, range(count)))
    return results, time.perf_counter() - started


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=1000)
    parser.add_argument("--anchor-orders", type=int, default=200)
    parser.add_argument(
        "--intake-only",
        action="store_true",
        help="no job runner: measure intake alone, without confirmations "
        "competing for the CPU",
    )
    args = parser.parse_args()
    odoo, env = server.fresh_env(DB)
    product_ids, partner_id = seed(env)
    env.cr.close()

    process = server.start_server(
        odoo, DB, PORT, workers=4, runner=not args.intake_only
    )
    base = f"http://127.0.0.1:{PORT}"
    conn = psycopg2.connect(dbname=DB)
    conn.autocommit = True
    try:
        # The floor, in the same run: the same posts to an unknown channel
        # (Odoo's dispatch, a database cursor and one query, then 404).
        results, floor_wall = intake(
            args.orders, base + "/stock_channel_sync/no-such-channel/orders"
        )
        floor_latencies = [t for _s, t in results]
        print(
            f"\nfloor (404 on an unknown channel): {len(results) / floor_wall:.0f} "
            f"posts/s, {args.orders / floor_wall:.0f} orders/s; latency p50 "
            f"{statistics.median(floor_latencies) * 1000:.0f} ms, p95 "
            f"{percentile(floor_latencies, 0.95) * 1000:.0f} ms"
        )
        results, wall = intake(args.orders, base + "/stock_channel_sync/orders/orders")
        statuses = [s for s, _t in results]
        latencies = [t for _s, t in results]
        print(
            f"\nintake: {len(results)} posts ({args.orders} orders x 3) by {CLIENTS} "
            f"clients in {wall:.1f} s = {len(results) / wall:.0f} posts/s, "
            f"{args.orders / wall:.0f} orders/s; latency p50 "
            f"{statistics.median(latencies) * 1000:.0f} ms, p95 "
            f"{percentile(latencies, 0.95) * 1000:.0f} ms; "
            f"{wall / floor_wall:.2f}x the floor's time"
        )
        print(
            f"answers: 202 x {statuses.count(202)}, 200 duplicate x "
            f"{statuses.count(200)}, 5xx x {sum(1 for s in statuses if s >= 500)}, "
            f"other {sorted({s for s in statuses} - {200, 202})}"
        )
        if args.intake_only:
            return 0
        started = time.time() - wall
        deadline = time.time() + 3600
        while time.time() < deadline:
            with conn.cursor() as cr:
                cr.execute(
                    "SELECT state, count(*) FROM stock_channel_order GROUP BY state"
                )
                states = dict(cr.fetchall())
            if states.get("received", 0) == 0:
                break
            time.sleep(1)
        confirmed_after = time.time() - started
        with conn.cursor() as cr:
            cr.execute("SELECT count(*) FROM sale_order WHERE channel_id IS NOT NULL")
            sale_orders = cr.fetchone()[0]
            cr.execute(
                "SELECT state, count(*) FROM queue_job WHERE method_name = '_process'"
                " GROUP BY state"
            )
            jobs = dict(cr.fetchall())
        print(
            f"confirmation: all {args.orders} orders processed {confirmed_after:.1f} s "
            f"after the first post = {args.orders / confirmed_after:.2f} orders/s; "
            f"states {states}; sale orders {sale_orders}; jobs {jobs}"
        )

        call = server.JsonRpc(PORT, DB).call

        results, wall = anchor(args.anchor_orders, call, product_ids, partner_id)
        latencies = [t for _ok, t in results]
        failures = sum(1 for ok, _t in results if not ok)
        print(
            f"anchor, plain Odoo create+confirm by {CLIENTS} clients: "
            f"{args.anchor_orders / wall:.2f} orders/s, p50 "
            f"{statistics.median(latencies):.2f} s, p95 "
            f"{percentile(latencies, 0.95):.2f} s, {failures} failed"
        )
    finally:
        process.terminate()
        process.wait(timeout=30)
        conn.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
