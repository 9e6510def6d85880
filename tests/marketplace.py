"""A real HTTP server on 127.0.0.1 standing in for a marketplace.

It records every request and answers from a script of responses, else from
``responder`` (a function of the request), else 200 ``{"ok": true}``; a
response may be delayed to provoke a client timeout, or held until the test
releases it. Like a receiver of the generic contract, it applies each
accepted ``POST /inventory`` when it answers it, keeping per SKU and
location the newest quantity by the payload's ``generated_at`` (an older
one is dropped): ``levels`` is what it shows, ``applied`` every item in the
order it was processed. A request to Shopify's
GraphQL path is first checked against the API version in its URL
(``shopify_standin``): one that version would refuse gets Shopify's refusal
instead, is kept in ``refused``, and leaves the script alone.
"""

import json
import socket
import threading
import time
from dataclasses import dataclass, field, replace
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests

from . import shopify_standin


class StandInHandler(BaseHTTPRequestHandler):
    """What every local marketplace stand-in's request handler shares: the
    raw body read once, JSON answers, no Nagle delay, no request log."""

    def setup(self):
        result = super().setup()
        # Headers and body are two writes: no Nagle delay between.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return result

    def read_body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def send_json(self, status, payload, headers):
        payload = (
            payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        )
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout tests)

    def log_message(self, *args):
        pass


@dataclass
class Received:
    method: str
    path: str
    headers: dict
    body: bytes

    def json(self):
        return json.loads(self.body)


@dataclass
class Reply:
    status: int = 200
    body: object = field(default_factory=lambda: {"ok": True})
    headers: dict = field(default_factory=dict)
    delay: float = 0.0
    # Answered once this event is set (at most HOLD_LIMIT seconds).
    hold: threading.Event | None = None


HOLD_LIMIT = 60


@dataclass(frozen=True)
class Applied:
    """One inventory item as the stand-in processed it."""

    sku: str
    location: str
    quantity: int
    generated_at: datetime
    kept: bool


class Marketplace:
    def __init__(self):
        self.received = []
        self.refused = []  # (request, Shopify's refusal)
        self.script = []
        self.responder = None
        self.levels = {}  # (sku, location or "") -> quantity shown
        self.applied = []  # [Applied], in the order processed
        self.in_flight = self.most_in_flight = 0
        self._level_at = {}
        self._lock = threading.Lock()
        self._stop_delays = threading.Event()
        marketplace = self

        class Handler(StandInHandler):
            def _handle(self):
                with marketplace._lock:
                    marketplace.in_flight += 1
                    marketplace.most_in_flight = max(
                        marketplace.most_in_flight, marketplace.in_flight
                    )
                try:
                    self._answer()
                finally:
                    with marketplace._lock:
                        marketplace.in_flight -= 1

            def _answer(self):
                body = self.read_body()
                received = Received(self.command, self.path, dict(self.headers), body)
                marketplace.received.append(received)
                try:
                    version = shopify_standin.check(self.path, body)
                except shopify_standin.Refused as refused:
                    marketplace.refused.append((received, refused.body))
                    reply = Reply(status=refused.status, body=refused.body)
                else:
                    reply = marketplace._reply(received)
                    if version:
                        reply = replace(
                            reply,
                            headers={**reply.headers, "X-Shopify-API-Version": version},
                        )
                if reply.delay:
                    marketplace._stop_delays.wait(reply.delay)
                if reply.hold:
                    marketplace._wait(reply.hold)
                if 200 <= reply.status < 300:
                    marketplace._apply(received)
                self.send_json(reply.status, reply.body, reply.headers)

            do_GET = do_POST = do_PUT = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def _wait(self, hold):
        deadline = time.monotonic() + HOLD_LIMIT
        while not hold.wait(0.05) and time.monotonic() < deadline:
            if self._stop_delays.is_set():
                return

    def _apply(self, received):
        """Apply an accepted generic-contract inventory post: an item older
        (``generated_at``) than the one applied for its SKU and location is
        dropped, as the contract allows a receiver to do."""
        if received.method != "POST" or not received.path.endswith("/inventory"):
            return
        try:
            body = received.json()
            at = datetime.fromisoformat(body["generated_at"])
            items = [
                (i["sku"], i.get("location") or "", i["quantity"])
                for i in body["items"]
            ]
        except (ValueError, KeyError, TypeError, AttributeError):
            return
        with self._lock:
            for sku, location, quantity in items:
                key = (sku, location)
                kept = key not in self._level_at or self._level_at[key] <= at
                if kept:
                    self.levels[key] = quantity
                    self._level_at[key] = at
                self.applied.append(Applied(sku, location, quantity, at, kept))

    def reset(self):
        """Forget requests, answers to come and what was applied."""
        self.received.clear()
        self.refused.clear()
        self.script.clear()
        self.responder = None
        with self._lock:
            self.levels.clear()
            self._level_at.clear()
            self.applied.clear()
            self.most_in_flight = self.in_flight

    def _reply(self, received):
        if self.script:
            return self.script.pop(0)
        if self.responder:
            return self.responder(received)
        return Reply()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self._stop_delays.set()
        self.server.shutdown()
        self.server.server_close()


def closed_port_url():
    """A URL where nothing listens: connection refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def post_in_parallel(url, body, headers, count=4):
    """The answers' status codes (or the error) of ``count`` simultaneous
    posts of the same request, one session per thread (``url_open``'s shared
    session is not thread-safe)."""
    statuses = []

    def post():
        try:
            response = requests.post(url, data=body, headers=headers, timeout=60)
            statuses.append(response.status_code)
        except requests.RequestException as exc:
            statuses.append(repr(exc))

    threads = [threading.Thread(target=post) for _i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return statuses
