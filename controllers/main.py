"""Thin HTTP entry points for marketplace orders: authenticate, parse,
delegate to ``stock.channel.order``, answer. No business logic here."""

import logging
import re
import secrets

from werkzeug.exceptions import ClientDisconnected, RequestEntityTooLarge

from odoo import http
from odoo.http import request

from ..adapters import ADAPTERS
from ..adapters.signing import SignedRequest
from ..services import order_intake
from ..services.payloads import MAX_BODY
from .status import status_of

_logger = logging.getLogger(__name__)

# A marketplace's delivery id (a UUID, typically): printable ASCII only,
# anything else is no id at all (it is stored and compared in SQL).
DELIVERY_ID = re.compile(r"[!-~]{1,128}")


def channel_route(path, method, max_bytes=MAX_BODY):
    """A public, session-less JSON endpoint: the signature is the auth.
    ``max_bytes``: the largest body taken (a supplier feed's is larger)."""
    return http.route(
        path,
        type="http",
        auth="public",
        methods=[method],
        csrf=False,
        save_session=False,
        # Enforced before the body is read. One byte past the documented
        # limit: a chunked body announces no length and werkzeug stops
        # reading it at this limit without a word, so a body that reaches
        # it is known to be too large (and is never verified truncated).
        max_content_length=max_bytes + 1,
    )


def json_error(status, error):
    return request.make_json_response({"error": error}, status=status)


def read_body(limit=MAX_BODY):
    """``(raw body, None)``, or ``(None, the error answer)``: 413 over
    ``limit`` (the route's ``max_bytes``), announced or not (a chunked body
    is read up to one byte past it, see :func:`channel_route`); 408 when
    the client went away before sending the whole body, which is transient
    (the sender sends it again), never a bad signature or a bad request."""
    try:
        # Cached: Odoo replays the request after a serialization failure.
        body = request.httprequest.get_data()
    except RequestEntityTooLarge:
        body = None
    except ClientDisconnected:
        _logger.info(
            "Request to %s: the client disconnected before sending the whole"
            " body (transient: it will be sent again)",
            request.httprequest.path,
        )
        return None, json_error(408, "incomplete_body")
    if body is None or len(body) > limit:
        return None, json_error(413, "payload_too_large")
    return body, None


def signed_request(body):
    """This request as its signature covers it: method, the path as sent
    (percent-escapes and query string included), headers and body."""
    httprequest = request.httprequest
    environ = httprequest.environ
    path = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    return SignedRequest(
        httprequest.method,
        path or httprequest.full_path.rstrip("?"),
        httprequest.headers,
        body,
    )


class ChannelOrderController(http.Controller):
    def _authenticated_channel(self, code, body, native=True):
        """The active channel with this code whose secret (or previous
        secret, during a rotation) signs this request the way its adapter's
        marketplace signs; None when none does.

        The only ``sudo()``: finding the channel and reading its secrets
        before anything is trusted. Codes are unique per company, so several
        channels may share one; the signature tells them apart. An unknown
        code is checked against a throw-away secret, so that it costs and
        answers the same as a bad signature. ``native=False``: the generic
        contract's signature whatever the adapter (status and cancel).
        """
        signed = signed_request(body)
        channels_sudo = (
            request.env["stock.channel"]
            .sudo()
            .search([("code", "=", code), ("active", "=", True)])
        )
        reasons = []
        for channel_sudo in channels_sudo:
            adapter = ADAPTERS[channel_sudo.adapter if native else "webhook"]
            reason = adapter.verify_order_request(
                channel_sudo._inbound_secrets(), signed
            )
            if reason is None:
                return channel_sudo._as_technical_user()
            reasons.append(reason)
        if not channels_sudo:
            ADAPTERS["webhook"].verify_order_request([secrets.token_hex(16)], signed)
            reasons.append("unknown_channel")
        # The reason stays here: the caller learns only invalid_signature.
        _logger.info("Order request to channel %r refused: %s", code, reasons)
        return None

    @staticmethod
    def _is_inbound_ping(body):
        """Whether an adapter recognises this unsigned request as its
        marketplace's check of a new webhook (its ``inbound_ping`` hook). It
        is told nothing: the same 200 whatever the code, whether a channel
        has it and whatever its adapter, and without looking it up, so that
        pings cannot tell which codes exist."""
        # Odoo may already have parsed the form, consuming the raw body.
        form = request.httprequest.form
        return any(adapter.inbound_ping(body, form) for adapter in ADAPTERS.values())

    def _error(self, status, error):
        return json_error(status, error)

    def _body(self):
        return read_body()

    @channel_route("/stock_channel_sync/<string:code>/orders", "POST")
    def post_order(self, code, **_kwargs):
        body, error = self._body()
        if error:
            return error
        if self._is_inbound_ping(body):
            return request.make_json_response({"status": "ok"})
        channel = self._authenticated_channel(code, body)
        if channel is None:
            return self._error(401, "invalid_signature")
        orders = request.env["stock.channel.order"].with_env(channel.env)
        adapter = ADAPTERS[channel.adapter]
        headers = request.httprequest.headers
        delivery_id = adapter.delivery_id(headers)
        outcome = order_intake.receive(
            orders,
            channel,
            headers.get(adapter.topic_header) if adapter.topic_header else "create",
            body,
            delivery_id=(
                delivery_id
                if delivery_id and DELIVERY_ID.fullmatch(delivery_id)
                else None
            ),
        )
        return self._answer(outcome)

    def _answer(self, outcome):
        return request.make_json_response(outcome.answer, status=status_of(outcome))

    def _signed_order(self, code, external_id):
        """(order, raw body, error response): the channel's order named in a
        request signed with the generic contract (method, path, time, body)."""
        body, error = self._body()
        if error:
            return None, None, error
        channel = self._authenticated_channel(code, body, native=False)
        if channel is None:
            return None, None, self._error(401, "invalid_signature")
        order = channel.env["stock.channel.order"].search(
            [("channel_id", "=", channel.id), ("external_id", "=", external_id)]
        )
        if not order:
            return None, None, self._error(404, "unknown_order")
        return order, body, None

    @channel_route(
        "/stock_channel_sync/<string:code>/orders/<string:external_id>/cancel", "POST"
    )
    def cancel_order(self, code, external_id, **_kwargs):
        order, _body, error = self._signed_order(code, external_id)
        if error:
            return error
        return self._answer(order._cancel_from_channel())

    @channel_route(
        "/stock_channel_sync/<string:code>/orders/<string:external_id>", "GET"
    )
    def get_order(self, code, external_id, **_kwargs):
        order, _body, error = self._signed_order(code, external_id)
        if error:
            return error
        return request.make_json_response(order._answer_status())

    @channel_route(
        "/stock_channel_sync/<string:code>/orders/<string:external_id>/returns", "POST"
    )
    def post_return(self, code, external_id, **_kwargs):
        """A return of a received order (generic contract, signature v2):
        stored once per return_id, its receipt built by a job."""
        order, body, error = self._signed_order(code, external_id)
        if error:
            return error
        return self._answer(order._receive_return(body))
