from odoo import api, fields, models


class StockChannelDelivery(models.Model):
    """A marketplace's webhook delivery already handled, by the id the
    marketplace keeps across its retries (Shopify's ``X-Shopify-Webhook-Id``):
    a replay within 48 hours is answered as a duplicate and changes nothing.
    Written in SQL by the intake (``services/order_intake.py``)."""

    _name = "stock.channel.delivery"
    _description = "Handled Marketplace Delivery"
    _order = "id desc"
    _sql_constraints = [
        (
            "channel_delivery_uniq",
            "UNIQUE (channel_id, delivery_id)",
            "A delivery is handled once per channel.",
        ),
    ]
    _retention_hours = 48

    channel_id = fields.Many2one(
        "stock.channel", required=True, ondelete="cascade", index=True, readonly=True
    )
    company_id = fields.Many2one("res.company", required=True, readonly=True)
    delivery_id = fields.Char(required=True, readonly=True)
    received_at = fields.Datetime(required=True, readonly=True)

    @api.autovacuum
    def _gc(self):
        """Forget deliveries older than the retention (48 hours)."""
        self.env.cr.execute(
            "DELETE FROM stock_channel_delivery WHERE received_at <"
            " (now() at time zone 'UTC') - make_interval(hours => %s)",
            [self._retention_hours],
        )
        return self.env.cr.rowcount
