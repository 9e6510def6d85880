"""A real HTTP server on 127.0.0.1 standing in for a 3PL's order API.

Like a 3PL that honours ``Idempotency-Key``: it refuses a request without
the bearer token (401) or without a key (400), keeps the answer it gave to
each key and gives it again to a replay (never a second order), refuses a
new key for an order reference it already holds (409, "already exists"),
and validates what it gets: the JSON shipping order's shape on
``POST /shipping_orders``, an X12 interchange holding one 940 on
``POST /edi`` (read with the addon's own reader, envelopes checked). A
script of replies (503, 429 + Retry-After, 422...) is answered first, as a
3PL failing before it stored anything.
"""

import json
import threading
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer

from ..adapters import x12
from .marketplace import Received, StandInHandler

SHIP_TO_FIELDS = (
    "name",
    "street",
    "street2",
    "city",
    "zip",
    "state",
    "country",
    "phone",
    "email",
)


@dataclass
class Reply:
    status: int = 200
    body: object = field(default_factory=lambda: {"error": "scripted"})
    headers: dict = field(default_factory=dict)


def shape_problems(body):
    """What is wrong with a JSON shipping order, as a strict 3PL reads it."""
    problems = []
    if not isinstance(body, dict):
        return ["a JSON object"]
    for key in ("order_ref", "origin", "carrier", "requested_ship_date"):
        if not isinstance(body.get(key), str):
            problems.append(f"{key}: a string")
    if not body.get("order_ref"):
        problems.append("order_ref: required")
    ship_to = body.get("ship_to")
    if not isinstance(ship_to, dict) or set(ship_to) != set(SHIP_TO_FIELDS):
        problems.append(f"ship_to: an object of {', '.join(SHIP_TO_FIELDS)}")
    elif not all(isinstance(v, str) for v in ship_to.values()):
        problems.append("ship_to: strings")
    lines = body.get("lines")
    if not isinstance(lines, list) or not lines:
        problems.append("lines: a non-empty list")
        return problems
    for index, line in enumerate(lines):
        ok = (
            isinstance(line, dict)
            and set(line) == {"line", "sku", "quantity", "uom"}
            and line["line"] == index + 1
            and isinstance(line["sku"], str)
            and line["sku"]
            and isinstance(line["quantity"], int | float)
            and not isinstance(line["quantity"], bool)
            and line["quantity"] > 0
            and isinstance(line["uom"], str)
        )
        if not ok:
            problems.append(f"lines[{index}]: {{line, sku, quantity > 0, uom}}")
    return problems


def read_940(body):
    """``(interchange, transaction set)`` of a 940 interchange, or raise
    ``ValueError`` naming what is wrong."""
    interchange = x12.parse(body)
    (group,) = interchange.groups
    if group.functional_id != "OW":
        raise ValueError(f"a 940 travels in an OW group, not {group.functional_id}")
    (tset,) = group.sets
    if tset.set_id != "940":
        raise ValueError(f"set {tset.set_id} is not a 940")
    return interchange, tset


class ThreeplApi:
    def __init__(self, token):
        self.token = token
        self.received = []  # every request, in order
        self.script = []  # replies answered first
        self.answers = {}  # Idempotency-Key -> (status, body)
        self.orders = {}  # order_ref -> the order as accepted
        self.replays = 0
        self._lock = threading.Lock()
        api = self

        class Handler(StandInHandler):
            def do_POST(self):
                body = self.read_body()
                received = Received(self.command, self.path, dict(self.headers), body)
                api.received.append(received)
                status, answer, headers = api._answer(received)
                self.send_json(status, answer, headers)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    def reset(self):
        with self._lock:
            self.received.clear()
            self.script.clear()
            self.answers.clear()
            self.orders.clear()
            self.replays = 0

    def _answer(self, received):
        headers = {k.lower(): v for k, v in received.headers.items()}
        if headers.get("authorization") != f"Bearer {self.token}":
            return 401, {"error": "unauthorized"}, {}
        key = headers.get("idempotency-key")
        if not key:
            return 400, {"error": "Idempotency-Key required"}, {}
        with self._lock:
            if key in self.answers:
                self.replays += 1
                status, answer = self.answers[key]
                return status, answer, {"Idempotent-Replayed": "true"}
            if self.script:
                reply = self.script.pop(0)
                return reply.status, reply.body, reply.headers
            status, answer = self._order(received, headers)
            if status < 500:
                self.answers[key] = (status, answer)
            return status, answer, {}

    def _order(self, received, headers):
        if received.path == "/shipping_orders":
            if not headers.get("content-type", "").startswith("application/json"):
                return 415, {"error": "application/json expected"}
            try:
                order = json.loads(received.body)
            except ValueError:
                return 400, {"error": "invalid JSON"}
            problems = shape_problems(order)
            if problems:
                return 422, {"error": "invalid_order", "details": problems}
            ref = order["order_ref"]
        elif received.path == "/edi":
            if headers.get("content-type") != "application/edi-x12":
                return 415, {"error": "application/edi-x12 expected"}
            try:
                _interchange, tset = read_940(received.body)
            except ValueError as exc:  # X12Error is a ValueError
                return 422, {"error": "invalid_edi", "details": str(exc)}
            w05 = next(seg for seg in tset.segments if seg.id == "W05")
            ref, order = w05.text(2), received.body.decode()
        else:
            return 404, {"error": "not found"}
        if ref in self.orders:
            return 409, {"error": "already_exists", "order_ref": ref}
        self.orders[ref] = order
        return 201, {"id": f"3PL-{len(self.orders)}", "status": "accepted"}
