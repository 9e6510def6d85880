#!/usr/bin/env python3
"""Pulled orders benchmark: a WooCommerce stand-in lists 1,000 orders over 10
pages while the same 1,000 orders are posted as signed webhooks to a running
Odoo (4 workers, the job runner confirming beside).

    python3 bench/pull_bench.py                 # 1,000 orders (docs/benchmarks.rst)
    python3 bench/pull_bench.py --orders 200    # a quicker run

Reported: the pull's time and requests, webhooks answered (202 accepted / 200
duplicate / 5xx) and how long they took to answer (a webhook for an order the
pull has just inserted waits until the pull commits that page), channel
orders stored (must equal the orders: exactly once), how many arrived by each
path, and the anchor in the same run: the pull alone over the same pages once
everything is stored (all duplicates, recognised with one query a page).
"""

import argparse
import base64
import hashlib
import hmac
import json
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import server  # noqa: E402

DB = "scs_bench_pull"
PORT = 8397
SECRET = "bench-pull-secret"
PAGE = 100
CLIENTS = 8
SKUS = ("PULL-1", "PULL-2", "PULL-3")
START = datetime(2026, 11, 20, 8, 0, 0)


def woo_order(number):
    """A WooCommerce REST order, as its webhook and its listing carry it."""
    modified = (START + timedelta(seconds=number)).strftime("%Y-%m-%dT%H:%M:%S")
    return {
        "id": 10_000 + number,
        "status": "processing",
        "currency": "USD",
        "date_created_gmt": modified,
        "date_modified_gmt": modified,
        "billing": {
            "first_name": "Buyer",
            "last_name": str(number),
            "email": f"buyer{number}@example.com",
        },
        "shipping": {
            "first_name": "Buyer",
            "last_name": str(number),
            "address_1": "1 Main St",
            "city": "Austin",
            "postcode": "78701",
            "country": "US",
        },
        "line_items": [
            {"id": i, "sku": sku, "quantity": 1, "price": 5}
            for i, sku in enumerate(SKUS)
        ],
        "shipping_lines": [{"total": "2.00"}],
    }


class WooStandIn(server.LoopbackServer):
    """``GET /wp-json/wc/v3/orders?modified_after=&page=``, oldest change
    first, 100 a page, ``X-WP-TotalPages``."""

    def __init__(self, orders):
        self.orders = orders
        self.requests = 0
        stand_in = self

        class Handler(server.JsonHandler):
            def do_GET(self):
                stand_in.requests += 1
                query = parse_qs(urlsplit(self.path).query)
                after = query["modified_after"][0].replace("Z", "")[:19]
                page = int(query.get("page", ["1"])[0])
                rows = [o for o in stand_in.orders if o["date_modified_gmt"] > after]
                pages = max((len(rows) + PAGE - 1) // PAGE, 1)
                body = json.dumps(rows[(page - 1) * PAGE : page * PAGE]).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("X-WP-TotalPages", str(pages))
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        super().__init__(Handler)


def seed(env, market):
    products = server.stocked_products(env, SKUS)
    channel = env["stock.channel"].create(
        {
            "name": "Bench Pull",
            "code": "pull",
            "adapter": "woocommerce",
            "base_url": market.url,
            "api_key": "ck_bench",
            "api_secret": "cs_bench",
            "webhook_secret": SECRET,
            "user_id": server.technical_user(env).id,
            "sync_mode": "batch",  # nothing to publish here
            "order_pull_interval": 0,
            "orders_pulled_until": START - timedelta(hours=1),
        }
    )
    env["stock.channel.listing"].create(
        [{"channel_id": channel.id, "product_id": p.id} for p in products]
    )
    env.cr.commit()
    return channel.id


def post_webhooks(orders, url):
    """Every order as a signed ``order.created`` webhook, 8 clients."""
    local = threading.local()

    def post(order):
        if not hasattr(local, "session"):
            local.session = requests.Session()
        body = json.dumps(order).encode()
        signature = base64.b64encode(
            hmac.new(SECRET.encode(), body, hashlib.sha256).digest()
        ).decode()
        started = time.perf_counter()
        response = local.session.post(
            url,
            data=body,
            headers={
                "Content-Type": "application/json",
                "X-WC-Webhook-Topic": "order.created",
                "X-WC-Webhook-Signature": signature,
            },
            timeout=120,
        )
        return response.status_code, time.perf_counter() - started

    with ThreadPoolExecutor(CLIENTS) as pool:
        return list(pool.map(post, orders))


def cursor_env(registry):
    """A superuser environment on a new cursor of ``registry``."""
    from odoo import SUPERUSER_ID, api

    return api.Environment(registry.cursor(), SUPERUSER_ID, {})


def pull(registry, channel_id):
    """One pull job's work, in this process as the channel's technical user
    (a worker's job would run the same code); returns (seconds, summary)."""
    env = cursor_env(registry)
    try:
        channel = env["stock.channel"].browse(channel_id)._as_technical_user()
        started = time.perf_counter()
        summary = channel.with_context(job_uuid="bench-pull")._pull_orders()
        env.cr.commit()
        return time.perf_counter() - started, summary
    finally:
        env.cr.close()


def stored(registry, channel_id):
    env = cursor_env(registry)
    try:
        env.cr.execute(
            "SELECT received_via, COUNT(*), COUNT(DISTINCT external_id)"
            " FROM stock_channel_order WHERE channel_id = %s GROUP BY 1",
            [channel_id],
        )
        return env.cr.fetchall()
    finally:
        env.cr.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=1000)
    args = parser.parse_args()
    orders = [woo_order(n) for n in range(1, args.orders + 1)]
    market = WooStandIn(orders)
    odoo, env = server.fresh_env(DB)
    channel_id = seed(env, market)
    registry = env.registry
    env.cr.close()
    process = server.start_server(odoo, DB, PORT, workers=4)
    try:
        url = f"http://127.0.0.1:{PORT}/stock_channel_sync/pull/orders"
        results = {}
        webhooks = threading.Thread(
            target=lambda: results.update(statuses=post_webhooks(orders, url))
        )
        started = time.perf_counter()
        webhooks.start()
        time.sleep(1.0)  # the pull starts while webhooks are arriving
        pull_seconds, summary = pull(registry, channel_id)
        webhooks.join()
        total = time.perf_counter() - started
        statuses = [status for status, _seconds in results["statuses"]]
        answers = sorted(seconds for _status, seconds in results["statuses"])
        rows = stored(registry, channel_id)
        env = cursor_env(registry)
        env["stock.channel"].browse(channel_id).orders_pulled_until = START - timedelta(
            hours=1
        )
        env.cr.commit()
        env.cr.close()
        requests_before = market.requests
        anchor_seconds, anchor_summary = pull(registry, channel_id)
    finally:
        process.terminate()
        process.wait(timeout=60)
    count = sum(row[1] for row in rows)
    distinct = sum(row[2] for row in rows)
    print(f"\n{args.orders} orders over {(args.orders + PAGE - 1) // PAGE} pages:")
    print(f"  pull with webhooks racing: {pull_seconds:.1f} s, {summary}")
    print(
        "  webhooks: "
        + ", ".join(f"{statuses.count(s)} x {s}" for s in sorted(set(statuses)))
    )
    print(
        f"  webhook answer times: p50 {answers[len(answers) // 2]:.2f} s, "
        f"p95 {answers[int(len(answers) * 0.95)]:.2f} s, max {answers[-1]:.2f} s"
    )
    print(f"  stored: {count} channel orders ({distinct} distinct) by path {rows}")
    print(f"  everything stored after {total:.1f} s")
    print(
        f"  anchor, the same pull over stored orders (all duplicates): "
        f"{anchor_seconds:.1f} s, {market.requests - requests_before} requests; "
        f"{anchor_summary}"
    )
    ok = count == distinct == args.orders and not any(s >= 500 for s in statuses)
    print("EXACTLY ONCE" if ok else "FAILED: not exactly once")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
