"""What the server benchmarks share: a fresh database with the addon, an Odoo
server process with queue_job's runner, and a JSON-RPC client."""

import json
import os
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import odoo_dev
import requests

# BENCH_QUEUE_JOB_CHANNELS overrides it, e.g. root:4,root.stock_channel_sync:4
# for 4 confirmations in parallel.
RUNNER_CHANNELS = os.environ.get(
    "BENCH_QUEUE_JOB_CHANNELS", "root:2,root.stock_channel_sync:2"
)


class JsonHandler(BaseHTTPRequestHandler):
    """Request handler of a local stand-in marketplace: JSON answers sent
    without delay, no request log."""

    def setup(self):
        result = super().setup()
        # Headers and body leave in two writes: without this, Nagle and
        # delayed ACKs add 40 ms to every keep-alive request.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return result

    def read_body(self):
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def answer(self, payload, status=200):
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class LoopbackServer:
    """Serves ``handler`` on 127.0.0.1 (a free port) from a thread."""

    def __init__(self, handler):
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"


def fresh_env(db):
    """(odoo, an Odoo environment in this process) on a fresh database with
    the addon installed; exits when Odoo is not importable."""
    odoo = odoo_dev.find_odoo()
    if odoo is None:
        sys.exit("Odoo 18 is not importable by this python3: see README.rst.")
    print(f"Preparing {db} ...", flush=True)
    prepare_db(odoo, db)
    env = open_env(odoo, db)
    # The benches' marketplaces listen on plain http, loopback.
    env["ir.config_parameter"].set_param(
        "stock_channel_sync.allowed_http_hosts", "127.0.0.1"
    )
    return odoo, env


def stocked_products(env, skus):
    """Storable products, one per SKU, with plenty of stock in the first
    warehouse (orders never run short)."""
    warehouse = env["stock.warehouse"].search([], limit=1)
    products = env["product.product"].create(
        [{"name": sku, "default_code": sku, "is_storable": True} for sku in skus]
    )
    for product in products:
        env["stock.quant"]._update_available_quantity(
            product, warehouse.lot_stock_id, 1_000_000
        )
    return products


def technical_user(env):
    """A channel's technical user with exactly the rights it needs (never an
    administrator: the addon refuses one)."""
    groups = [
        env.ref(xmlid).id
        for xmlid in (
            "base.group_user",
            "base.group_partner_manager",
            "sales_team.group_sale_salesman",
            "stock.group_stock_user",
            "stock_channel_sync.group_channel_manager",
        )
    ]
    return env["res.users"].create(
        {
            "name": "Bench Technical User",
            "login": "bench-technical-user",
            "groups_id": [(6, 0, groups)],
        }
    )


def open_env(odoo, db):
    """An Odoo environment inside this process (superuser), on ``db``."""
    import odoo as odoo_module

    _bin, core_paths = odoo
    addons_path = ",".join(str(p) for p in [odoo_dev.addons_dir(), *core_paths])
    odoo_module.tools.config.parse_config(
        [f"--addons-path={addons_path}", f"--database={db}", "--log-level=warn"]
    )
    registry = odoo_module.modules.registry.Registry(db)
    return odoo_module.api.Environment(registry.cursor(), odoo_module.SUPERUSER_ID, {})


def prepare_db(odoo, db):
    """A fresh database (no demo data) with the addon installed."""
    odoo_dev.fresh_db(odoo, db, demo=False)
    subprocess.run(
        odoo_dev.odoo_command(
            odoo, db, "-i", odoo_dev.ADDON, "--stop-after-init", "--log-level=warn"
        ),
        check=True,
    )


def start_server(odoo, db, port, workers=2, runner=True):
    """Odoo in its own process; returns it once it answers HTTP."""
    command = odoo_dev.odoo_command(
        odoo,
        db,
        f"--http-port={port}",
        "--load=base,web,queue_job" if runner else "--load=base,web",
        f"--workers={workers}",
        "--max-cron-threads=0",
        "--log-level=warn",
    )
    env = dict(os.environ, ODOO_QUEUE_JOB_CHANNELS=RUNNER_CHANNELS)
    process = subprocess.Popen(command, env=env)
    for _i in range(120):
        try:
            requests.get(f"http://127.0.0.1:{port}/web/login", timeout=2)
            return process
        except requests.RequestException:
            time.sleep(0.5)
    process.kill()
    sys.exit("Odoo did not start")


class JsonRpc:
    """JSON-RPC as admin (it carries None, which XML-RPC cannot)."""

    def __init__(self, port, db):
        self.url = f"http://127.0.0.1:{port}/jsonrpc"
        self.db = db
        self.uid = self._rpc("common", "authenticate", [db, "admin", "admin", {}])

    def _rpc(self, service, method, args):
        answer = requests.post(
            self.url,
            json={
                "jsonrpc": "2.0",
                "method": "call",
                "params": {"service": service, "method": method, "args": args},
            },
            timeout=600,
        ).json()
        if "error" in answer:
            raise RuntimeError(answer["error"]["data"].get("message"))
        return answer.get("result")

    def call(self, model, method, *args, **kwargs):
        return self._rpc(
            "object",
            "execute_kw",
            [self.db, self.uid, "admin", model, method, list(args), kwargs],
        )
