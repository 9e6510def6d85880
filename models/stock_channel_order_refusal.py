from odoo import fields, models


class StockChannelOrderRefusal(models.Model):
    """A pulled order the intake refused (it fails validation: an unknown
    SKU, currency or country), kept with its error so that it no longer
    holds the pull's watermark. Every later pull tries it again and drops it
    once it is stored; a newer version listed by a pull replaces it; a
    manager may dismiss it (``services/order_pull.py``)."""

    _name = "stock.channel.order.refusal"
    _description = "Refused Pulled Order"
    _order = "last_tried_at desc, id desc"
    _rec_name = "external_id"
    _sql_constraints = [
        (
            "channel_external_uniq",
            "UNIQUE (channel_id, external_id)",
            "A channel keeps one refusal per marketplace order.",
        ),
    ]

    channel_id = fields.Many2one(
        "stock.channel", required=True, index=True, ondelete="cascade"
    )
    company_id = fields.Many2one(related="channel_id.company_id", store=True)
    external_id = fields.Char(string="External ID", required=True, readonly=True)
    action = fields.Selection(
        [("create", "Order"), ("cancel", "Cancellation")],
        required=True,
        readonly=True,
        help="What the pull handed to the intake.",
    )
    changed_at = fields.Datetime(
        string="Changed on Marketplace",
        readonly=True,
        help="The marketplace's last change of the order, as listed.",
    )
    error_message = fields.Text(
        string="Error",
        readonly=True,
        help="Why the intake refused it, one problem a line: fix the cause "
        "(create the SKU or listing, activate the currency) and the next pull "
        "stores it.",
    )
    payload = fields.Text(
        readonly=True,
        groups="stock_channel_sync.group_channel_manager",
        help="The order as listed (names, addresses), for managers only; "
        "removed with the refusal.",
    )
    tries = fields.Integer(readonly=True, help="Pulls that refused it.")
    last_tried_at = fields.Datetime(string="Last Tried", readonly=True)

    def action_dismiss(self):
        """Stop trying (a test order, an order handled by hand)."""
        self.channel_id._check_manager()
        self.unlink()
        return {"type": "ir.actions.client", "tag": "soft_reload"}
