"""Thin HTTP entry point for a vendor pushing its stock feed: authenticate
(signature v2, ``adapters/signing.py``), delegate to
``services/supplier_feed_import.py``, answer.

The file is imported inside the request: a feed of 100,000 rows takes a
few seconds (``bench/supplier_feed_bench.py``), a usual one of a few
thousand well under a second, and the vendor learns at once whether its
file was applied, or why not (422 with the problems, row by row), without
Odoo storing 20 MiB payloads to import later. Status codes: 200 applied,
401 bad signature, 404 no pushed feed has this code, 408 body cut short,
409 another import of the feed is running or the file is older than the
last one applied, 413 too large, 422 not a valid feed file."""

import logging
import secrets

from odoo import http
from odoo.http import request

from ..adapters.signing import check_request
from ..services import supplier_feed_import
from ..services.supplier_feed_parse import MAX_FILE_BYTES
from .main import channel_route, json_error, read_body, signed_request

_logger = logging.getLogger(__name__)


class SupplierFeedController(http.Controller):
    def _pushed_feeds(self, code):
        """The active pushed feeds with this code, as superuser: the only
        ``sudo()``, before anything is trusted (codes are unique per
        company; the signature tells feeds sharing one apart)."""
        return (
            request.env["stock.channel.supplier.feed"]
            .sudo()
            .search(
                [("code", "=", code), ("active", "=", True), ("source", "=", "push")]
            )
        )

    def _authenticated_feed(self, feeds_sudo, body):
        """The feed whose secret (or previous secret, during a rotation)
        signs this request, as its technical user; None otherwise."""
        signed = signed_request(body)
        reasons = []
        for feed_sudo in feeds_sudo:
            valid = feed_sudo._inbound_secrets()
            if not valid:
                reasons.append("no_secret")
                continue
            reason = check_request(valid, signed)
            if reason is None:
                return feed_sudo._as_technical_user()
            reasons.append(reason)
        # The reason stays here: the caller learns only invalid_signature.
        _logger.info("Supplier feed post refused: %s", reasons)
        return None

    @channel_route(
        "/stock_channel_sync/supplier_feed/<string:code>",
        "POST",
        max_bytes=MAX_FILE_BYTES,
    )
    def post_feed(self, code, **_kwargs):
        body, error = read_body(MAX_FILE_BYTES)
        if error:
            return error
        feeds_sudo = self._pushed_feeds(code)
        if not feeds_sudo:
            # Checked against a throw-away secret: it costs the same.
            check_request([secrets.token_hex(16)], signed_request(body))
            return json_error(404, "unknown_feed")
        feed = self._authenticated_feed(feeds_sudo, body)
        if feed is None:
            return json_error(401, "invalid_signature")
        try:
            result = supplier_feed_import.import_feed(feed, body)
        except supplier_feed_import.FeedFileError as exc:
            supplier_feed_import.record_error(feed, str(exc))
            return request.make_json_response(
                {"error": "invalid_feed", "message": str(exc)}, status=422
            )
        except supplier_feed_import.FeedBusy:
            return json_error(409, "concurrent_import")
        except supplier_feed_import.StaleFeed as exc:
            return request.make_json_response(
                {"error": "stale_feed", "message": str(exc)}, status=409
            )
        return request.make_json_response(result.as_dict())
