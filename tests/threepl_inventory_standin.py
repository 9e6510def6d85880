"""A real HTTP server on 127.0.0.1 standing in for a 3PL's inventory API
(the generic paged JSON contract of ``adapters/threepl/generic.py``).

``GET /inventory?page=N&per_page=M`` with ``Authorization: Bearer
<token>`` answers ``{"items": [{"sku", "on_hand", "committed",
"fulfillable"}], "next_page": N + 1 or null, "total": count}`` from
``levels`` (``{sku: on_hand}``, listed in SKU order); a wrong or missing
token gets 401. Provocations, each used once then cleared: ``throttle`` (a
429 with that Retry-After before the next answer), ``fail_status`` (that
status instead of the next answer), ``shift_after_page`` (once that page
is served, ``shift`` is called: it changes ``levels`` before the next page
is read, as a busy warehouse would). ``with_total=False`` leaves the
``total`` out.
"""

import threading
from http.server import ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from .marketplace import StandInHandler


class ThreeplApi:
    def __init__(self, token, levels=None):
        self.token = token
        self.levels = dict(levels or {})
        self.requests = []  # (page, status) in the order answered
        self.throttle = None
        self.fail_status = None
        self.shift_after_page = None
        self.shift = None
        self.with_total = True
        self._lock = threading.Lock()
        api = self

        class Handler(StandInHandler):
            def do_GET(self):
                status, body, headers = api._answer(self)
                self.send_json(status, body, headers)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def _answer(self, handler):
        parts = urlsplit(handler.path)
        query = parse_qs(parts.query)
        page = int((query.get("page") or ["1"])[0])
        per_page = int((query.get("per_page") or ["100"])[0])
        with self._lock:
            if parts.path != "/inventory":
                return self._log(page, 404, {"error": "not found"})
            if handler.headers.get("Authorization") != f"Bearer {self.token}":
                return self._log(page, 401, {"error": "invalid token"})
            if self.throttle is not None:
                wait, self.throttle = self.throttle, None
                return self._log(
                    page, 429, {"error": "slow down"}, {"Retry-After": str(wait)}
                )
            if self.fail_status:
                status, self.fail_status = self.fail_status, None
                return self._log(page, status, {"error": "unavailable"})
            skus = sorted(self.levels)
            chunk = skus[(page - 1) * per_page : page * per_page]
            more = page * per_page < len(skus)
            body = {
                "items": [
                    {
                        "sku": sku,
                        "on_hand": self.levels[sku],
                        "committed": 0,
                        "fulfillable": self.levels[sku],
                    }
                    for sku in chunk
                ],
                "next_page": page + 1 if more else None,
            }
            if self.with_total:
                body["total"] = len(skus)
            if self.shift_after_page == page and self.shift:
                shift, self.shift = self.shift, None
                shift(self.levels)
            return self._log(page, 200, body)

    def _log(self, page, status, body, headers=None):
        self.requests.append((page, status))
        return status, body, headers or {}

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
