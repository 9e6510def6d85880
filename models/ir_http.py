from werkzeug.exceptions import RequestEntityTooLarge

from odoo import models
from odoo.http import request

ROUTE_PREFIX = "/stock_channel_sync/"


class IrHttp(models.AbstractModel):
    _inherit = "ir.http"

    @classmethod
    def _handle_error(cls, exception):
        """A body over the order routes' limit is refused by Odoo before the
        handler runs (``max_content_length``); answer it in the contract's
        JSON, not as an HTML page."""
        if isinstance(exception, RequestEntityTooLarge) and (
            request.httprequest.path.startswith(ROUTE_PREFIX)
        ):
            return request.make_json_response(
                {"error": "payload_too_large"}, status=413
            )
        return super()._handle_error(exception)
