"""Thin HTTP entry points for marketplace orders: authenticate, parse,
delegate to ``stock.channel.order``, answer. No business logic here."""

from odoo import http
from odoo.http import request

from ..adapters import ADAPTERS
from ..adapters.woocommerce import WooCommerceAdapter
from ..services import order_intake
from ..services.order_intake import OUTCOME_STATUS
from ..services.payloads import MAX_BODY


def channel_route(path, method):
    """A public, session-less JSON endpoint: the signature is the auth."""
    return http.route(
        path,
        type="http",
        auth="public",
        methods=[method],
        csrf=False,
        save_session=False,
    )


class ChannelOrderController(http.Controller):
    def _authenticated_channel(self, code, signed, native=True):
        """The active channel with this code whose secret signs ``signed``,
        the way its adapter's marketplace signs.

        The only ``sudo()``: finding the channel and reading its secret before
        anything is trusted. Codes are unique per company, so several channels
        may share one; the signature tells them apart. Returns the channel as
        its technical user, None when no signature matches, False when no
        channel has this code. ``native=False``: the generic contract's
        signature whatever the adapter (status and cancel requests).
        """
        headers = request.httprequest.headers
        channels_sudo = (
            request.env["stock.channel"]
            .sudo()
            .search([("code", "=", code), ("active", "=", True)])
        )
        for channel_sudo in channels_sudo:
            adapter = ADAPTERS[channel_sudo.adapter if native else "webhook"]
            if adapter.verify_order_request(
                channel_sudo.webhook_secret, headers, signed
            ):
                return channel_sudo._as_technical_user()
        return None if channels_sudo else False

    def _is_woocommerce_ping(self, code, body):
        """WooCommerce checks a new webhook with an unsigned form post."""
        # Odoo may already have parsed the form, consuming the raw body.
        webhook_id = request.httprequest.form.get("webhook_id", "")
        if not (WooCommerceAdapter.is_ping(body) or webhook_id.isdigit()):
            return False
        return bool(
            request.env["stock.channel"]
            .sudo()
            .search_count(
                [
                    ("code", "=", code),
                    ("active", "=", True),
                    ("adapter", "=", "woocommerce"),
                ]
            )
        )

    def _error(self, status, error):
        return request.make_json_response({"error": error}, status=status)

    @channel_route("/stock_channel_sync/<string:code>/orders", "POST")
    def post_order(self, code, **_kwargs):
        length = request.httprequest.content_length or 0
        if length > MAX_BODY:
            return self._error(413, "payload_too_large")
        # Cached: Odoo replays the request after a serialization failure.
        body = request.httprequest.get_data()
        if len(body) > MAX_BODY:
            return self._error(413, "payload_too_large")
        if self._is_woocommerce_ping(code, body):
            return request.make_json_response({"status": "ok"})
        channel = self._authenticated_channel(code, body)
        if channel is False:
            return self._error(404, "unknown_channel")
        if channel is None:
            return self._error(401, "invalid_signature")
        orders = request.env["stock.channel.order"].with_env(channel.env)
        event = ADAPTERS[channel.adapter].order_event(request.httprequest.headers)
        outcome = order_intake.receive(orders, channel, event, body)
        return self._answer(outcome)

    def _answer(self, outcome):
        return request.make_json_response(
            outcome.answer, status=OUTCOME_STATUS[outcome.kind]
        )

    def _signed_order(self, code, external_id):
        """(order, error response): the channel's order named in a request
        whose path is signed."""
        channel = self._authenticated_channel(
            code, request.httprequest.path.encode(), native=False
        )
        if channel is False:
            return None, self._error(404, "unknown_channel")
        if channel is None:
            return None, self._error(401, "invalid_signature")
        order = channel.env["stock.channel.order"].search(
            [("channel_id", "=", channel.id), ("external_id", "=", external_id)]
        )
        if not order:
            return None, self._error(404, "unknown_order")
        return order, None

    @channel_route(
        "/stock_channel_sync/<string:code>/orders/<string:external_id>/cancel", "POST"
    )
    def cancel_order(self, code, external_id, **_kwargs):
        # Signed over the path, like the status request.
        order, error = self._signed_order(code, external_id)
        if error:
            return error
        return self._answer(order._cancel_from_channel())

    @channel_route(
        "/stock_channel_sync/<string:code>/orders/<string:external_id>", "GET"
    )
    def get_order(self, code, external_id, **_kwargs):
        # The GET has no body: its path is what is signed.
        order, error = self._signed_order(code, external_id)
        if error:
            return error
        return request.make_json_response(order._answer_status())
