from odoo import api, models

from ..services import supplier_feed_stale


class StockChannelSupplierFeedStale(models.Model):
    """The staleness cron's entry point (``services/supplier_feed_stale.py``)."""

    _inherit = "stock.channel.supplier.feed"

    @api.model
    def _cron_mark_stale(self):
        """Tell the channels about the feeds that went stale since the last
        run: their products' listings are published again, with 0."""
        return supplier_feed_stale.mark_stale(self.env)
