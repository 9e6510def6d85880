from odoo import api, fields, models
from odoo.exceptions import ValidationError

from ..adapters import shopify_versions


class StockChannelShopify(models.Model):
    """A Shopify channel's configuration: its Admin API version and the
    location a summed quantity is set at."""

    _inherit = "stock.channel"

    api_version = fields.Char(
        string="API Version",
        default=shopify_versions.DEFAULT_VERSION,
        help="Shopify Admin API stable version (YYYY-MM). New channels get the "
        "newest one this module knows; older versions than it supports are "
        "refused. Shopify retires a version after about a year.",
    )

    location_ref = fields.Char(
        string="Channel Location",
        help="Shopify: the location id whose 'available' quantity is set.",
    )

    @api.constrains("adapter", "api_version")
    def _check_api_version(self):
        """The Shopify documents need ``changeFromQuantity`` and
        ``@idempotent``: a version without them would be refused at the first
        publication, or silently served as another version. Empty means the
        default."""
        for channel in self.filtered(lambda c: c.adapter == "shopify"):
            version = (channel.api_version or "").strip()
            if version and not shopify_versions.is_supported(version):
                raise ValidationError(
                    self.env._(
                        "Shopify API version '%(version)s' is not supported: use "
                        "a stable version (YYYY-MM, month 01, 04, 07 or 10) from "
                        "%(oldest)s on, e.g. %(default)s.",
                        version=version,
                        oldest=shopify_versions.OLDEST_VERSION,
                        default=shopify_versions.DEFAULT_VERSION,
                    )
                )
