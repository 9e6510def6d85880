from werkzeug.exceptions import (
    ClientDisconnected,
    HTTPException,
    RequestEntityTooLarge,
)

from odoo import models
from odoo.http import request

ROUTE_PREFIX = "/stock_channel_sync/"


class IrHttp(models.AbstractModel):
    _inherit = "ir.http"

    @classmethod
    def _handle_error(cls, exception):
        """The order routes answer JSON whatever happens, never Odoo's HTML
        page. Before the handler runs: a body over the limit
        (``max_content_length``) is 413 ``payload_too_large``, a form body
        Odoo cannot parse 400 ``invalid_json``, a client gone mid-body 408
        ``incomplete_body`` (transient); another HTTP error keeps its code
        (a redirect stays one); anything else is 500 ``internal_error``, its
        traceback in the log only."""
        if not request.httprequest.path.startswith(ROUTE_PREFIX):
            return super()._handle_error(exception)
        if isinstance(exception, RequestEntityTooLarge):
            status, error = 413, "payload_too_large"
            if isinstance(exception.__cause__, ValueError):
                # werkzeug's form parser says "too large" for a form body
                # that is not UTF-8: it is not the JSON the contract takes.
                status, error = 400, "invalid_json"
        elif isinstance(exception, ClientDisconnected):
            status, error = 408, "incomplete_body"
        elif isinstance(exception, HTTPException):
            if (exception.code or 500) < 400:  # a redirect stays one
                return super()._handle_error(exception)
            status = exception.code
            error = (exception.name or "error").lower().replace(" ", "_")
        else:
            status, error = 500, "internal_error"
        return request.make_json_response({"error": error}, status=status)
