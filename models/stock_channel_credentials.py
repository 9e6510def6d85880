from odoo import api, fields, models
from odoo.exceptions import ValidationError

from ..adapters import outbound
from .stock_channel import MANAGER_GROUP


class StockChannelCredentials(models.Model):
    """Where a channel is reached and how both directions are signed: its
    URL (through the outbound guard), API credentials, the webhook secret
    and its rotation."""

    _inherit = "stock.channel"

    base_url = fields.Char(
        string="Base URL",
        help="Root URL of the channel's API, e.g. https://shop.example.com/api. "
        "It must use https://, unless its host is listed in the system parameter "
        "stock_channel_sync.allowed_http_hosts (an on-premise B2B portal); hosts "
        "at private or loopback addresses must be listed there too. Redirects "
        "are not followed.",
    )

    api_key = fields.Char(string="API Key", groups=MANAGER_GROUP, copy=False)

    api_secret = fields.Char(string="API Secret", groups=MANAGER_GROUP, copy=False)

    webhook_secret = fields.Char(
        help="Shared secret used to sign what Odoo sends and to verify what the "
        "channel posts. A strong random one is generated for a new channel; "
        "Shopify and WooCommerce channels take the marketplace's own.",
    )

    @api.constrains("base_url", "adapter")
    def _check_base_url(self):
        self._check_called_urls()

    def _check_called_urls(self):
        """Every URL the channel calls: https, unless its host is listed in
        stock_channel_sync.allowed_http_hosts (see adapters/outbound.py)."""
        allowed = self._allowed_http_hosts()
        for channel in self.filtered(lambda c: c.adapter != "sandbox"):
            for label, url in channel._called_urls().items():
                problem = url and outbound.url_problem(url, allowed)
                if problem:
                    raise ValidationError(
                        self.env._(
                            "The %(field)s of channel %(channel)s is refused: "
                            "%(problem)s.",
                            field=label,
                            channel=channel.display_name,
                            problem=problem,
                        )
                    )

    def _called_urls(self):
        """``{field label: URL}`` this channel calls; a marketplace with
        more endpoints adds them (``stock_channel_amazon.py``)."""
        return {"Base URL": self.base_url}

    def _allowed_http_hosts(self):
        # sudo: system parameters are readable by administrators only, and
        # this one is a list of host names, no secret.
        return outbound.allowed_hosts(
            self.env["ir.config_parameter"]
            .sudo()
            .get_param(outbound.ALLOWED_HOSTS_PARAM, "")
        )
