"""A real HTTP server on 127.0.0.1 standing in for a vendor publishing its
stock file: ``GET /stock.csv`` answers ``body`` (CSV or JSON bytes) to a
request with ``Authorization: Bearer <token>`` (401 otherwise, when a token
is set); ``fail_status`` answers that status instead, once. Requests are
kept in ``requests`` as ``(path, Authorization header)``."""

import threading
from http.server import ThreadingHTTPServer

from .marketplace import StandInHandler


class VendorFeedServer:
    def __init__(self, body=b"", token=None):
        self.body = body
        self.token = token
        self.fail_status = None
        self.requests = []
        server = self

        class Handler(StandInHandler):
            def do_GET(self):
                auth = self.headers.get("Authorization")
                server.requests.append((self.path, auth))
                if server.fail_status:
                    status, server.fail_status = server.fail_status, None
                    return self.send_json(status, {"error": "nope"}, {})
                if server.token and auth != f"Bearer {server.token}":
                    return self.send_json(401, {"error": "token"}, {})
                if self.path != "/stock.csv":
                    return self.send_json(404, {"error": "not found"}, {})
                return self.send_json(200, server.body, {})

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/stock.csv"
