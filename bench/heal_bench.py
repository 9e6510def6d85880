#!/usr/bin/env python3
"""Drift end to end: a live Odoo with the job runner and a local marketplace
whose quantities are changed behind Odoo's back.

    python3 bench/heal_bench.py

The stand-in keeps what was pushed to it (``POST /inventory``) and answers
``GET /inventory?skus=`` from it, checking both signatures. Once Odoo has
published every listing, 5 of 50 quantities are changed on the marketplace;
then *Reconcile Now* is called over JSON-RPC as a manager would click it.
Reported: discrepancies recorded, the time until the marketplace shows Odoo's
quantities again (reconciliation job, forced publication job), and the
second run that resolves the discrepancies.
"""

import json
import sys
import threading
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import psycopg2

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import server  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "adapters"))
from signing import SignedRequest, check_request  # noqa: E402

DB = "scs_bench_heal"
PORT = 8399
SECRET = "bench-heal-secret"
PRODUCTS = 50
DRIFTED = 5


class Marketplace(server.LoopbackServer):
    """Shows what it was last told, unless someone edits ``levels``."""

    def __init__(self):
        self.levels = {}
        self.bad_signatures = 0
        self.lock = threading.Lock()
        market = self

        class Handler(server.JsonHandler):
            def _check(self, body):
                signed = SignedRequest(self.command, self.path, self.headers, body)
                if check_request([SECRET], signed) is not None:
                    market.bad_signatures += 1

            def do_POST(self):
                body = self.read_body()
                self._check(body)
                with market.lock:
                    for item in json.loads(body).get("items", []):
                        market.levels[item["sku"]] = item["quantity"]
                self.answer({})

            def do_GET(self):
                self._check(b"")
                skus = parse_qs(urlsplit(self.path).query)["skus"][0].split(",")
                with market.lock:
                    items = [
                        {"sku": sku, "quantity": market.levels[sku]}
                        for sku in skus
                        if sku in market.levels
                    ]
                self.answer({"items": items})

        super().__init__(Handler)


def seed(env, market):
    warehouse = env["stock.warehouse"].search([], limit=1)
    products = env["product.product"].create(
        [
            {"name": f"Heal {i}", "default_code": f"HEAL-{i:03d}", "is_storable": True}
            for i in range(PRODUCTS)
        ]
    )
    for index, product in enumerate(products):
        env["stock.quant"]._update_available_quantity(
            product, warehouse.lot_stock_id, 10 + index
        )
    channel = env["stock.channel"].create(
        {
            "name": "Heal",
            "code": "heal",
            "base_url": market.url,
            "webhook_secret": SECRET,
            "user_id": server.technical_user(env).id,
            "reconcile_interval": 0,
            "auto_heal": True,
        }
    )
    env["stock.channel.listing"].create(
        [{"channel_id": channel.id, "product_id": p.id} for p in products]
    )
    env.cr.commit()
    return channel.id, {p.default_code: 10 + i for i, p in enumerate(products)}


def wait_for(condition, timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


def main():
    market = Marketplace()
    odoo, env = server.fresh_env(DB)
    channel_id, expected = seed(env, market)
    env.cr.close()
    process = server.start_server(odoo, DB, PORT)
    conn = psycopg2.connect(dbname=DB)
    conn.autocommit = True

    def discrepancies():
        with conn.cursor() as cr:
            cr.execute(
                "SELECT state, count(*) FROM stock_channel_discrepancy GROUP BY state"
            )
            return dict(cr.fetchall())

    try:
        if not wait_for(lambda: market.levels == expected):
            sys.exit("the first publication did not arrive")
        print(f"\npublished: {len(market.levels)} listings on the marketplace")
        with market.lock:
            for sku in sorted(expected)[:DRIFTED]:
                market.levels[sku] += 7
        drifted_at = time.time()
        call = server.JsonRpc(PORT, DB).call
        call("stock.channel", "action_reconcile_now", [channel_id])
        healed = wait_for(lambda: market.levels == expected)
        healed_after = time.time() - drifted_at
        found = discrepancies()
        print(
            f"drift of {DRIFTED} quantities: recorded {found}, marketplace right "
            f"again {healed_after:.1f} s after Reconcile Now"
            if healed
            else "NOT HEALED"
        )
        call("stock.channel", "action_reconcile_now", [channel_id])
        resolved = wait_for(lambda: discrepancies().get("resolved") == DRIFTED)
        print(
            f"second run: {discrepancies()} "
            f"({'resolved' if resolved else 'NOT RESOLVED'}); "
            f"bad signatures seen by the marketplace: {market.bad_signatures}"
        )
        return 0 if healed and resolved and not market.bad_signatures else 1
    finally:
        process.terminate()
        process.wait(timeout=30)
        conn.close()


if __name__ == "__main__":
    sys.exit(main())
