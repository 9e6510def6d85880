"""A 3PL's side of the events endpoint, for tests: a client that signs and
posts its events and, like a real 3PL, posts them again until it gets an
answer (a timeout, a reset connection, a 5xx); and a loopback proxy in
front of Odoo that can lose answers, so that the retry really happens."""

import json
import threading
import time
from http.server import ThreadingHTTPServer
from urllib.parse import urlsplit

import requests

from ..adapters.signing import sign_request
from .marketplace import StandInHandler

RETRIED = (408, 429, 500, 502, 503, 504)


class LosingProxy:
    """Forwards every POST to ``target`` (Odoo); the first ``lose`` answers
    are dropped after Odoo has handled the request: the connection is
    closed without a reply, as when a 3PL's timeout fires too early."""

    def __init__(self, target, lose=1):
        self.target, self.lose, self.forwarded = target.rstrip("/"), lose, 0
        self.lock = threading.Lock()
        proxy = self

        class Handler(StandInHandler):
            def do_POST(self):
                body = self.read_body()
                headers = {
                    k: v
                    for k, v in self.headers.items()
                    if k.lower().startswith("x-channel") or k.lower() == "content-type"
                }
                answer = requests.post(
                    proxy.target + self.path, data=body, headers=headers, timeout=60
                )
                with proxy.lock:
                    proxy.forwarded += 1
                    drop = proxy.lose > 0
                    proxy.lose -= 1 if drop else 0
                if drop:
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                self.send_json(answer.status_code, answer.content, {})

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True

    @property
    def url(self):
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def start(self):
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class ThreeplPoster:
    """Posts signed events to ``url`` (``.../3pl/<code>/events``) until an
    answer that is not worth retrying; ``attempts`` counts the posts."""

    def __init__(self, url, secret, tries=5, pause=0.05):
        self.url, self.secret, self.tries, self.pause = url, secret, tries, pause
        self.attempts = 0

    def post(self, events):
        body = json.dumps({"events": events}).encode()
        for attempt in range(self.tries):
            self.attempts += 1
            headers = {
                "Content-Type": "application/json",
                # Signed again at each try: a retry carries a fresh timestamp.
                **sign_request(self.secret, "POST", urlsplit(self.url).path, body),
            }
            try:
                response = requests.post(
                    self.url, data=body, headers=headers, timeout=30
                )
            except requests.ConnectionError:
                time.sleep(self.pause * 2**attempt)
                continue
            if response.status_code not in RETRIED:
                return response
            time.sleep(self.pause * 2**attempt)
        raise AssertionError(f"no answer after {self.tries} tries")
