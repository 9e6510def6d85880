from odoo import api, fields, models
from odoo.exceptions import ValidationError

from ..adapters import amazon
from .stock_channel import MANAGER_GROUP


class StockChannelAmazon(models.Model):
    """An Amazon channel's configuration: seller account, marketplaces,
    region and endpoint, feed threshold, Login with Amazon credentials (the
    protocol itself is ``adapters/amazon``)."""

    _inherit = "stock.channel"

    amazon_seller_id = fields.Char(
        string="Seller ID",
        help="Amazon: the seller account's merchant token (Seller Central, "
        "Settings, Account Info, Merchant Token).",
    )

    amazon_marketplace_ids = fields.Char(
        string="Marketplace IDs",
        help="Amazon: the marketplaces to publish in, comma-separated, e.g. "
        "ATVPDKIKX0DER (United States) or A1PA6795UKMFR9,A13V1IB3VIYZZH "
        "(Germany, France). Quantities are sent to each; product types and "
        "quantities are read in the first.",
    )

    amazon_region = fields.Selection(
        [("na", "North America"), ("eu", "Europe"), ("fe", "Far East")],
        string="Region",
        default="na",
        help="Amazon: the Selling Partner API region of the marketplaces; it "
        "gives the endpoint.",
    )

    amazon_endpoint = fields.Char(
        string="SP-API Endpoint",
        compute="_compute_amazon_endpoint",
        store=True,
        readonly=False,
        precompute=True,
        help="Amazon: the region's Selling Partner API endpoint; change it only "
        "for a sandbox or a test stand-in.",
    )

    amazon_feed_threshold = fields.Integer(
        string="Feed From",
        default=amazon.DEFAULT_FEED_THRESHOLD,
        help="Amazon: from this many changed quantities in one run, they go in "
        "one JSON_LISTINGS_FEED (one request for all, applied when Amazon has "
        "processed it, usually minutes); fewer are sent one PATCH each (5 per "
        "second, accepted at once). 0 never uses a feed.",
    )

    lwa_client_id = fields.Char(
        string="LWA Client ID", groups=MANAGER_GROUP, copy=False
    )

    lwa_client_secret = fields.Char(
        string="LWA Client Secret", groups=MANAGER_GROUP, copy=False
    )

    lwa_refresh_token = fields.Char(
        string="LWA Refresh Token",
        groups=MANAGER_GROUP,
        copy=False,
        help="Amazon: the refresh token the seller's authorisation of the "
        "application gave. Exchanged for one-hour access tokens that are kept "
        "in memory only.",
    )

    lwa_token_url = fields.Char(
        string="LWA Token URL",
        default=amazon.DEFAULT_TOKEN_URL,
        help="Amazon: the Login with Amazon token endpoint.",
    )

    @api.depends("amazon_region")
    def _compute_amazon_endpoint(self):
        for channel in self:
            channel.amazon_endpoint = amazon.REGIONS.get(channel.amazon_region or "na")

    @api.constrains("amazon_feed_threshold")
    def _check_amazon_feed_threshold(self):
        if any(channel.amazon_feed_threshold < 0 for channel in self):
            raise ValidationError(
                self.env._("The Amazon feed threshold cannot be negative.")
            )

    def _adapter_config_values(self):
        values = super()._adapter_config_values()
        is_amazon = self.adapter == "amazon"
        if is_amazon:
            values["base_url"] = self.amazon_endpoint or ""
        values.update(
            seller_id=(self.amazon_seller_id or "").strip(),
            marketplace_ids=tuple(
                m.strip()
                for m in (self.amazon_marketplace_ids or "").split(",")
                if m.strip()
            ),
            lwa_client_id=self.lwa_client_id or "",
            lwa_client_secret=self.lwa_client_secret or "",
            lwa_refresh_token=self.lwa_refresh_token or "",
            lwa_token_url=self.lwa_token_url or amazon.DEFAULT_TOKEN_URL,
            feed_threshold=self.amazon_feed_threshold if is_amazon else 0,
        )
        return values

    def _called_urls(self):
        urls = super()._called_urls()
        if self.adapter == "amazon":
            urls["SP-API Endpoint"] = self.amazon_endpoint
            urls["LWA Token URL"] = self.lwa_token_url
        return urls

    @api.constrains("amazon_endpoint", "lwa_token_url")
    def _check_amazon_urls(self):
        self._check_called_urls()
