#!/usr/bin/env python3
"""Publication benchmark against a running Odoo with queue_job's runner.

    python3 bench/publication_bench.py                 # docs/benchmarks.rst figures
    python3 bench/publication_bench.py --products 2000 # a quicker run

A real HTTP server on 127.0.0.1 stands in for 3 marketplaces (one path each);
Odoo runs as a separate process with 2 workers and the job runner. Measured:

1. one picking of 1,000 move lines validated: requests per channel (expected
   ceil(changed listings / 500), not one per product);
2. event-to-publish latency over 200 stock changes (an inventory adjustment
   applied over XML-RPC, until the marketplace receives the new quantity):
   p50 / p95, real-time mode, default 1 s debounce;
3. a full resync of every listing of the 3 channels: wall time and requests.
"""

import argparse
import json
import math
import statistics
import sys
import threading
import time
from pathlib import Path

import psycopg2

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import server  # noqa: E402

DB = "scs_bench_pub"
PORT = 8399


class StandIn(server.LoopbackServer):
    """Three marketplaces on one loopback server: /m1, /m2, /m3."""

    def __init__(self):
        self.received = []  # (time, channel path, items)
        self.lock = threading.Lock()
        stand_in = self

        class Handler(server.JsonHandler):
            def do_POST(self):
                items = json.loads(self.read_body()).get("items", [])
                with stand_in.lock:
                    stand_in.received.append(
                        (time.time(), self.path.split("/")[1], items)
                    )
                self.answer({})

        super().__init__(Handler)

    def take(self):
        with self.lock:
            received, self.received = self.received, []
        return received


def seed(env, count, stand_in):
    """``count`` products with stock, listed on 3 real-time channels."""
    import random

    rng = random.Random(7)
    warehouse = env["stock.warehouse"].search([], limit=1)
    templates = env["product.template"].create(
        [
            {"name": f"Pub {i}", "default_code": f"PUB-{i:06d}", "is_storable": True}
            for i in range(count)
        ]
    )
    products = templates.product_variant_ids
    env.flush_all()  # SQL below reads default_code
    env.cr.execute(
        """
        INSERT INTO stock_quant (product_id, location_id, company_id, quantity,
                                 reserved_quantity, in_date)
        SELECT p, %s, %s, 100 + (p %% 50), 0, now() at time zone 'UTC'
          FROM unnest(%s::int[]) AS p
        """,
        [warehouse.lot_stock_id.id, env.company.id, products.ids],
    )
    user_id = server.technical_user(env).id
    channels = env["stock.channel"].create(
        [
            {
                "user_id": user_id,
                "name": f"Bench {n}",
                "code": f"m{n}",
                "base_url": f"{stand_in.url}/m{n}",
                "webhook_secret": f"bench-secret-{n}",
                "warehouse_ids": [(6, 0, warehouse.ids)],
            }
            for n in (1, 2, 3)
        ]
    )
    for channel in channels:
        env.cr.execute(
            """
            INSERT INTO stock_channel_listing
                   (channel_id, company_id, product_id, external_sku, pack_size,
                    active, last_published_qty,
                    last_published_at, create_uid, write_uid)
            SELECT %s, %s, pp.id, pp.default_code, 1, TRUE,
                   100 + (pp.id %% 50), now() at time zone 'UTC', 1, 1
              FROM product_product pp WHERE pp.id = ANY(%s)
            """,
            [channel.id, env.company.id, products.ids],
        )
    env.cr.commit()
    env.cr.execute("ANALYZE stock_quant, stock_channel_listing")
    rng.shuffle(ids := list(products.ids))
    return warehouse, channels, ids


def wait_idle(conn, timeout=600):
    """Until no job of ours is waiting or running."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        with conn.cursor() as cr:
            cr.execute(
                "SELECT count(*) FROM queue_job WHERE model_name = 'stock.channel'"
                " AND state IN ('wait_dependencies', 'pending', 'enqueued', 'started')"
            )
            if not cr.fetchone()[0]:
                return
        time.sleep(0.2)
    raise TimeoutError("jobs still running")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, default=20000)
    parser.add_argument("--changes", type=int, default=200)
    args = parser.parse_args()
    stand_in = StandIn()
    odoo, env = server.fresh_env(DB)
    started = time.time()
    warehouse, channels, product_ids = seed(env, args.products, stand_in)
    channel_ids = channels.ids
    picking_type = warehouse.in_type_id.id
    stock_loc, supplier_loc = (
        warehouse.lot_stock_id.id,
        env.ref("stock.stock_location_suppliers").id,
    )
    env.cr.close()
    print(
        f"seeded {args.products} products x 3 channels in {time.time() - started:.0f} s"
    )

    process = server.start_server(odoo, DB, PORT)
    conn = psycopg2.connect(dbname=DB)
    conn.autocommit = True
    call = server.JsonRpc(PORT, DB).call

    try:
        # 1. One receipt of 1,000 lines (validation changes every ATP).
        lines = product_ids[: min(1000, len(product_ids) // 2)]
        picking = call(
            "stock.picking",
            "create",
            {
                "picking_type_id": picking_type,
                "location_id": supplier_loc,
                "location_dest_id": stock_loc,
                "move_ids": [
                    (
                        0,
                        0,
                        {
                            "name": "bench",
                            "product_id": p,
                            "product_uom_qty": 1,
                            "location_id": supplier_loc,
                            "location_dest_id": stock_loc,
                        },
                    )
                    for p in lines
                ],
            },
        )
        call("stock.picking", "action_confirm", [picking])
        wait_idle(conn)
        stand_in.take()
        validate_started = time.time()
        call("stock.picking", "button_validate", [picking])
        validate_rpc = time.time() - validate_started
        wait_idle(conn)
        received = stand_in.take()
        per_channel = {f"m{n}": 0 for n in (1, 2, 3)}
        items = {f"m{n}": 0 for n in (1, 2, 3)}
        for _t, path, batch in received:
            per_channel[path] += 1
            items[path] += len(batch)
        last = max((t for t, _p, _b in received), default=validate_started)
        print(
            f"\n1. receipt of {len(lines)} lines validated: requests per channel "
            f"{per_channel}, items {items}, expected {math.ceil(len(lines) / 500)} "
            f"per channel; validation RPC {validate_rpc:.2f} s, last request "
            f"{last - validate_started - validate_rpc:.2f} s after it returned"
        )

        # 2. Latency of single changes.
        latencies = []
        targets = product_ids[len(lines) : len(lines) + args.changes]
        pending = {}
        for index, product_id in enumerate(targets):
            quantity = 500 + index
            quant = call(
                "stock.quant",
                "create",
                {
                    "product_id": product_id,
                    "location_id": stock_loc,
                    "inventory_quantity": quantity,
                },
                context={"inventory_mode": True},
            )
            call("stock.quant", "action_apply_inventory", [quant])
            pending[product_id] = (time.time(), product_id, quantity)
            time.sleep(0.25)
        wait_idle(conn)
        time.sleep(0.5)
        sku_of = {}
        with conn.cursor() as cr:
            cr.execute(
                "SELECT id, default_code FROM product_product WHERE id = ANY(%s)",
                [targets],
            )
            sku_of = dict(cr.fetchall())
        sent_at = {}
        for when, path, batch in stand_in.take():
            if path != "m1":
                continue
            for item in batch:
                sent_at.setdefault((item["sku"], item["quantity"]), when)
        for when, product_id, quantity in pending.values():
            got = sent_at.get((sku_of[product_id], quantity))
            if got:
                latencies.append(got - when)
        latencies.sort()
        p50 = statistics.median(latencies)
        p95 = latencies[int(len(latencies) * 0.95) - 1]
        print(
            f"2. event-to-publish latency over {len(latencies)}/{len(targets)} "
            f"changes: p50 {p50:.2f} s, p95 {p95:.2f} s (target p95 <= 2 s)"
        )

        # 3. Full resync of every listing.
        stand_in.take()
        resync_started = time.time()
        for channel_id in channel_ids:
            call("stock.channel", "action_full_resync", [channel_id])
        wait_idle(conn, timeout=1200)
        received = stand_in.take()
        wall = max(t for t, _p, _b in received) - resync_started
        sent = sum(len(b) for _t, _p, b in received)
        print(
            f"3. full resync: {sent} listings over 3 channels in {wall:.1f} s, "
            f"{len(received)} requests ({sent / wall:.0f} listings/s)"
        )
        with conn.cursor() as cr:
            cr.execute(
                "SELECT state, count(*) FROM queue_job"
                " WHERE model_name = 'stock.channel' GROUP BY state"
            )
            print(f"   jobs by state: {dict(cr.fetchall())}")
    finally:
        process.terminate()
        process.wait(timeout=30)
        conn.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
