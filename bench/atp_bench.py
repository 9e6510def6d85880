#!/usr/bin/env python3
"""ATP benchmark: our engine against Odoo's ``free_qty`` and a raw SQL floor.

    python3 bench/atp_bench.py                 # 20,000 products (docs/benchmarks.rst)
    python3 bench/atp_bench.py --products 500  # a quick smoke run

Seeds a fresh database in bulk (products through one batched ORM create,
quants, listings and open demand mostly in SQL: 20,000 ORM creates one by one
take ~5 minutes here), then times in one run, best of ``--repeat``:

(a) ``AtpEngine.compute`` for every listing of a one-warehouse channel;
(b) Odoo's ``product.product.free_qty`` for the same products with the same
    warehouse in context;
(c) a raw ``SUM(quantity - reserved_quantity)`` over the same quants, grouped
    by product: the floor no correct implementation can beat;

and prints the ratios against the targets (ours <= 5x the floor, >= 20x faster
than free_qty). Also reported: the three-warehouse channel, and one marking
statement for 1,000 touched (product, location) pairs.

Per-location publication: ``AtpEngine.compute_nodes`` for every listing of a
three-warehouse channel that publishes per location, against the summed ATP
of the same listings on the same warehouses (target: within 2x).

Kits (when ``mrp`` is installed): ``--kits`` kit products of 3 components
each (kit BoMs over the seeded products), listed on a one-warehouse channel,
against as many plain listings of the first channel (target: within 2x).

Drop-ship: a supplier feed of ``--feed-rows`` rows imported
(``bench/supplier_feed_bench.py``; target under 20 s).
"""

import argparse
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))
import server  # noqa: E402
import supplier_feed_bench  # noqa: E402

BENCH_DB = "scs_bench_atp"


def seed(env, count, rng):
    """Three warehouses, ``count`` storable products with stock in each, a
    hold location, open demand, three channels listing every product, and a
    rule of each kind. Returns the channels."""
    cr = env.cr
    started = time.perf_counter()
    warehouses = env["stock.warehouse"].search([], limit=1)
    warehouses |= env["stock.warehouse"].create(
        [{"name": "Bench East", "code": "BE"}, {"name": "Bench West", "code": "BW"}]
    )
    hold = env["stock.location"].create(
        {
            "name": "Bench Hold",
            "usage": "internal",
            "location_id": warehouses[0].view_location_id.id,
            "channel_sellable": False,
        }
    )
    categ = env["product.category"].create({"name": "Bench"})
    templates = env["product.template"].create(
        [
            {
                "name": f"Bench product {i}",
                "default_code": f"BENCH-{i:06d}",
                "is_storable": True,
                "categ_id": categ.id,
            }
            for i in range(count)
        ]
    )
    product_ids = templates.product_variant_ids.ids
    env.flush_all()  # SQL below reads default_code
    print(f"  {count} products created in {time.perf_counter() - started:.1f} s")

    # Quants: every product in every warehouse, some reserved, some on hold.
    rows = []
    for product_id in product_ids:
        for warehouse in warehouses:
            qty = rng.randint(0, 200)
            rows.append(
                (product_id, warehouse.lot_stock_id.id, qty, rng.randint(0, qty // 4))
            )
        if rng.random() < 0.1:
            rows.append((product_id, hold.id, rng.randint(1, 20), 0))
    cr.execute(
        """
        INSERT INTO stock_quant (product_id, location_id, company_id, quantity,
                                 reserved_quantity, in_date, create_uid, write_uid,
                                 create_date, write_date)
        SELECT r.product_id, r.location_id, %s, r.qty, r.reserved,
               now() at time zone 'UTC', 1, 1, now() at time zone 'UTC',
               now() at time zone 'UTC'
          FROM unnest(%s::int[], %s::int[], %s::float8[], %s::float8[])
               AS r(product_id, location_id, qty, reserved)
        """,
        [
            env.company.id,
            [r[0] for r in rows],
            [r[1] for r in rows],
            [r[2] for r in rows],
            [r[3] for r in rows],
        ],
    )

    # Open demand: confirmed deliveries for 5 % of the products.
    customers = env.ref("stock.stock_location_customers")
    demand = rng.sample(product_ids, max(1, count // 20))
    moves = env["stock.move"].create(
        [
            {
                "name": "bench demand",
                "product_id": product_id,
                "product_uom_qty": rng.randint(1, 30),
                "product_uom": env.ref("uom.product_uom_unit").id,
                "location_id": warehouses[0].lot_stock_id.id,
                "location_dest_id": customers.id,
                "state": "confirmed",
            }
            for product_id in demand
        ]
    )

    user_id = server.technical_user(env).id
    channels = env["stock.channel"].create(
        [
            {
                "name": "Bench One",
                "code": "bench-one",
                "warehouse_ids": [(6, 0, warehouses[:1].ids)],
                "user_id": user_id,
            },
            {
                "name": "Bench Two",
                "code": "bench-two",
                "warehouse_ids": [(6, 0, warehouses[:2].ids)],
                "user_id": user_id,
            },
            {
                "name": "Bench All",
                "code": "bench-all",
                "warehouse_ids": [(6, 0, warehouses.ids)],
                "user_id": user_id,
            },
            {
                "name": "Bench Nodes",
                "code": "bench-nodes",
                "adapter": "sandbox",
                "warehouse_ids": [(6, 0, warehouses.ids)],
                "user_id": user_id,
                "publish_per_location": True,
                "location_ids": [
                    (0, 0, {"warehouse_id": wh.id, "location_ref": wh.code})
                    for wh in warehouses
                ],
            },
        ]
    )
    for channel in channels:
        cr.execute(
            """
            INSERT INTO stock_channel_listing
                   (channel_id, company_id, product_id, external_sku, pack_size,
                    active, create_uid, write_uid,
                    create_date, write_date)
            SELECT %s, %s, pp.id, pp.default_code, 1, TRUE, 1, 1,
                   now() at time zone 'UTC', now() at time zone 'UTC'
              FROM product_product pp
             WHERE pp.id = ANY(%s)
            """,
            [channel.id, env.company.id, product_ids],
        )
    sample = rng.sample(product_ids, 50)
    env["stock.channel.buffer.rule"].create(
        [
            {"buffer_type": "percent", "buffer_value": 10},
            {"channel_id": channels[0].id, "buffer_value": 2},
            {"categ_id": categ.id, "buffer_value": 1, "zero_below": 3},
            *({"product_id": p, "max_quantity": 25} for p in sample),
        ]
    )
    env.flush_all()
    cr.commit()
    # As autovacuum would after a bulk load: fresh planner statistics.
    cr.execute("ANALYZE stock_quant, stock_move, stock_channel_listing")
    print(
        f"  seeded {len(rows)} quants, {len(moves)} open moves, "
        f"{len(channels) * len(product_ids)} listings in "
        f"{time.perf_counter() - started:.1f} s"
    )
    return channels, warehouses


def seed_kits(env, count, rng, warehouse, user_id):
    """``count`` kits of 3 random seeded products each (one per BoM line,
    1 to 3 per kit), listed on a channel of ``warehouse``; returns it."""
    started = time.perf_counter()
    components = (
        env["product.product"]
        .search([("default_code", "=like", "BENCH-%")], order="id")
        .ids
    )
    templates = env["product.template"].create(
        [
            {
                "name": f"Bench kit {i}",
                "default_code": f"KIT-{i:06d}",
                "is_storable": True,
            }
            for i in range(count)
        ]
    )
    # In chunks: mrp's cycle check builds one OR per BoM created at once.
    for start in range(0, count, 250):
        env["mrp.bom"].create(
            [
                {
                    "product_tmpl_id": template.id,
                    "type": "phantom",
                    "bom_line_ids": [
                        (0, 0, {"product_id": c, "product_qty": rng.randint(1, 3)})
                        for c in rng.sample(components, 3)
                    ],
                }
                for template in templates[start : start + 250]
            ]
        )
    channel = env["stock.channel"].create(
        {
            "name": "Bench Kits",
            "code": "bench-kits",
            "warehouse_ids": [(6, 0, warehouse.ids)],
            "user_id": user_id,
        }
    )
    env.flush_all()
    env.cr.execute(
        """
        INSERT INTO stock_channel_listing
               (channel_id, company_id, product_id, external_sku, pack_size,
                active, create_uid, write_uid, create_date, write_date)
        SELECT %s, %s, pp.id, pp.default_code, 1, TRUE, 1, 1,
               now() at time zone 'UTC', now() at time zone 'UTC'
          FROM product_product pp
         WHERE pp.product_tmpl_id = ANY(%s)
        """,
        [channel.id, env.company.id, templates.ids],
    )
    env.cr.commit()
    env.cr.execute("ANALYZE mrp_bom, mrp_bom_line, stock_channel_listing")
    elapsed = time.perf_counter() - started
    print(f"  {count} kits of 3 components seeded in {elapsed:.1f} s")
    return channel


def measure_kits(env, kit_channel, plain_channel, repeat):
    """(kit listings' ATP, as many plain listings' ATP), best of ``repeat``."""
    from odoo.addons.stock_channel_sync.services.atp import AtpEngine

    kit_ids = kit_channel.listing_ids.ids
    plain_ids = plain_channel.listing_ids.ids[: len(kit_ids)]

    def compute(ids):
        env.invalidate_all()
        return AtpEngine(env).compute(ids)

    kits, result = best_of(repeat, lambda: compute(kit_ids))
    plain, _r = best_of(repeat, lambda: compute(plain_ids))
    offered = sum(1 for r in result.values() if r.qty > 0)
    return kits, plain, len(kit_ids), offered


def best_of(repeat, func):
    timings = []
    result = None
    for _i in range(repeat):
        started = time.perf_counter()
        result = func()
        timings.append(time.perf_counter() - started)
    return min(timings), result


def measure(env, channels, warehouses, repeat):
    from odoo.addons.stock_channel_sync.services.atp import AtpEngine

    cr = env.cr
    channel = channels[0]
    listing_ids = channel.with_context(active_test=False).listing_ids.ids
    products = channel.listing_ids.product_id
    warehouse = warehouses[0]

    def ours():
        env.invalidate_all()
        return AtpEngine(env).compute(listing_ids)

    def ours_all_warehouses():
        env.invalidate_all()
        return AtpEngine(env).compute(channels[2].listing_ids.ids)

    node_listing_ids = channels[3].listing_ids.ids

    def ours_per_node():
        env.invalidate_all()
        return AtpEngine(env).compute_nodes(node_listing_ids)

    def ours_summed_same_listings():
        env.invalidate_all()
        return AtpEngine(env).compute(node_listing_ids)

    def odoo_free_qty():
        env.invalidate_all()
        return products.with_context(warehouse_id=warehouse.id).mapped("free_qty")

    location_ids = (
        env["stock.location"]
        .search(
            [
                ("id", "child_of", warehouse.view_location_id.id),
                ("usage", "=", "internal"),
            ]
        )
        .ids
    )

    def floor():
        cr.execute(
            """
            SELECT product_id, SUM(quantity - reserved_quantity)
              FROM stock_quant
             WHERE location_id = ANY(%s)
          GROUP BY product_id
            """,
            [location_ids],
        )
        return cr.fetchall()

    pairs = [(p, warehouse.lot_stock_id.id) for p in products.ids[:1000]]

    def marking():
        env["stock.channel.listing"]._mark_pending_for_stock(pairs)

    figures = {}
    figures["ours"], result = best_of(repeat, ours)
    figures["ours_3wh"], _r = best_of(repeat, ours_all_warehouses)
    figures["summed_nodes"], _r = best_of(repeat, ours_summed_same_listings)
    figures["per_node"], nodes = best_of(repeat, ours_per_node)
    figures["node_count"] = len(nodes)
    # The slow anchor: one run is plenty against its own spread.
    figures["free_qty"], _r = best_of(1, odoo_free_qty)
    figures["floor"], _r = best_of(repeat, floor)
    figures["marking"], _r = best_of(repeat, marking)
    cr.rollback()
    return figures, len(listing_ids), result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, default=20000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--kits", type=int, default=5000)
    parser.add_argument("--feed-rows", type=int, default=100_000)
    args = parser.parse_args()
    _odoo, env = server.fresh_env(BENCH_DB)
    kit_figures = None
    try:
        rng = random.Random(args.seed)
        channels, warehouses = seed(env, args.products, rng)
        if "mrp.bom" in env.registry and args.kits:
            kit_channel = seed_kits(
                env, args.kits, rng, warehouses[:1], channels[0].user_id.id
            )
            kit_figures = measure_kits(env, kit_channel, channels[0], args.repeat)
        figures, listings, result = measure(env, channels, warehouses, args.repeat)
        feed_seconds = (
            supplier_feed_bench.bench_feed_import(env, args.feed_rows, rng)
            if args.feed_rows
            else None
        )
    finally:
        env.cr.close()
    ours, free_qty, floor = figures["ours"], figures["free_qty"], figures["floor"]
    print(f"\nATP of {listings} listings, one warehouse (best of {args.repeat}):")
    print(f"  (a) AtpEngine.compute            {ours:8.3f} s")
    print(f"  (b) Odoo free_qty, same products {free_qty:8.3f} s")
    print(f"  (c) raw SQL floor                {floor:8.3f} s")
    print(f"  ours / floor     = {ours / floor:6.1f}x   (target <= 5x)")
    print(f"  free_qty / ours  = {free_qty / ours:6.1f}x   (target >= 20x)")
    print(f"  three-warehouse channel: {figures['ours_3wh']:.3f} s")
    print(f"  marking 1,000 touched pairs: {figures['marking'] * 1000:.1f} ms")
    print(f"  sample: {sorted(r.qty for r in result.values())[-3:]} (largest ATPs)")
    per_node, summed = figures["per_node"], figures["summed_nodes"]
    print(
        f"\nPer location, {listings} listings x 3 warehouses "
        f"({figures['node_count']} node quantities):"
    )
    print(f"  (d) AtpEngine.compute_nodes      {per_node:8.3f} s")
    print(f"  (e) AtpEngine.compute, summed    {summed:8.3f} s")
    print(f"  per node / summed = {per_node / summed:6.2f}x   (target <= 2x)")
    ok = ours / floor <= 5 and free_qty / ours >= 20 and per_node / summed <= 2
    if kit_figures:
        kits, plain, count, offered = kit_figures
        print(f"\nKits: {count} kit listings of 3 components, one warehouse:")
        print(f"  (f) AtpEngine.compute, kits      {kits:8.3f} s ({offered} offered)")
        print(f"  (g) AtpEngine.compute, plain     {plain:8.3f} s ({count} listings)")
        print(f"  kits / plain = {kits / plain:6.2f}x   (target <= 2x)")
        ok = ok and kits / plain <= 2
    else:
        print("\nKits: mrp is not installed, not measured")
    if feed_seconds is not None:
        ok = ok and feed_seconds < supplier_feed_bench.TARGET_SECONDS
    print("targets met" if ok else "TARGETS MISSED")
    return 0


if __name__ == "__main__":
    sys.exit(main())
