"""A real HTTP server on 127.0.0.1 standing in for a marketplace.

It records every request and answers from a script of responses, else from
``responder`` (a function of the request), else 200 ``{"ok": true}``; a
response may be delayed to provoke a client timeout. A request to Shopify's
GraphQL path is first checked against the API version in its URL
(``shopify_standin``): one that version would refuse gets Shopify's refusal
instead, is kept in ``refused``, and leaves the script alone.
"""

import json
import socket
import threading
from dataclasses import dataclass, field, replace
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


class Marketplace:
    def __init__(self):
        self.received = []
        self.refused = []  # (request, Shopify's refusal)
        self.script = []
        self.responder = None
        self._stop_delays = threading.Event()
        marketplace = self

        class Handler(StandInHandler):
            def _handle(self):
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
                self.send_json(reply.status, reply.body, reply.headers)

            do_GET = do_POST = do_PUT = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

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
