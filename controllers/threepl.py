"""Thin HTTP entry point for a 3PL's inventory events: authenticate,
delegate to ``services/threepl_intake.py``, answer."""

import logging
import secrets

from odoo import http
from odoo.http import request

from ..adapters.signing import check_request
from ..services import threepl_edi, threepl_intake
from .main import channel_route, json_error, read_body, signed_request
from .status import status_of

_logger = logging.getLogger(__name__)


class ThreeplEventController(http.Controller):
    def _authenticated_connection(self, code, body):
        """The active 3PL connection with this code whose secret signs this
        request (signature v2), as its technical user; None otherwise. The
        only ``sudo()``: finding the connection and reading its secret
        before anything is trusted; an unknown code costs and answers the
        same as a bad signature."""
        signed = signed_request(body)
        connections = (
            request.env["stock.channel.threepl"]
            .sudo()
            .search([("code", "=", code), ("active", "=", True)])
        )
        reasons = []
        for connection in connections:
            valid = connection._inbound_secrets()
            if not valid:
                reasons.append("no_secret")
                continue
            reason = check_request(valid, signed)
            if reason is None:
                return connection._as_technical_user()
            reasons.append(reason)
        if not connections:
            check_request([secrets.token_hex(16)], signed)
            reasons.append("unknown_connection")
        _logger.info("3PL request to %r refused: %s", code, reasons)
        return None

    @channel_route("/stock_channel_sync/3pl/<string:code>/events", "POST")
    def post_events(self, code, **_kwargs):
        return self._receive(code, threepl_intake.receive)

    @channel_route("/stock_channel_sync/3pl/<string:code>/edi", "POST")
    def post_edi(self, code, **_kwargs):
        return self._receive(code, threepl_edi.receive_edi)

    def _receive(self, code, intake):
        body, error = read_body()
        if error:
            return error
        connection = self._authenticated_connection(code, body)
        if connection is None:
            return json_error(401, "invalid_signature")
        outcome = intake(connection, body)
        return request.make_json_response(outcome.answer, status=status_of(outcome))
