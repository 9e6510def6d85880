from odoo import api, fields, models


class StockChannelOrderBooking(models.Model):
    """How a channel's orders become sale orders: processing mode,
    confirmation, who the customer is and on which terms they are booked
    (``services/sale_order_builder.py``)."""

    _inherit = "stock.channel"

    order_processing = fields.Selection(
        [("async", "In the background"), ("sync", "At once")],
        required=True,
        default="async",
        help="In the background: orders are accepted in milliseconds and "
        "confirmed by a job. At once: the sale order is created in the request "
        "and its name returned (for a B2B portal that needs it).",
    )

    auto_confirm = fields.Boolean(
        default=True, help="Confirm the sale orders of this channel's orders."
    )

    team_id = fields.Many2one("crm.team", string="Sales Team", check_company=True)

    trust_customer_email = fields.Boolean(
        string="Match Customers by E-mail",
        compute="_compute_customer_policy",
        store=True,
        readonly=False,
        precompute=True,
        help="Book an order on the existing contact with the order's e-mail "
        "address even when the order gives another name. Only for a channel "
        "that proves who its buyers are (a B2B portal whose users log in): a "
        "marketplace buyer can type any e-mail address, e.g. a B2B "
        "customer's, and would be booked on that customer. Off: the contact "
        "is reused only when its name matches too (case, spacing and accents "
        "aside), otherwise a new contact is created. Defaults to on for "
        "generic webhook channels, off for marketplaces.",
    )

    use_customer_terms = fields.Boolean(
        string="Use Customer's Terms",
        compute="_compute_customer_policy",
        store=True,
        readonly=False,
        precompute=True,
        help="Give sale orders the customer's own payment term, fiscal position "
        "and pricelist (those of the matched contact, e.g. negotiated B2B "
        "terms); the channel's fill what the customer has none of. Off: the "
        "channel's Payment Term, Fiscal Position and Pricelist apply, and one "
        "left empty is what Odoo gives a new contact at the delivery address. "
        "Defaults to on for generic webhook channels, off for marketplaces, "
        "whose buyers pay the marketplace and are taxed as consumers.",
    )

    payment_term_id = fields.Many2one(
        "account.payment.term",
        string="Payment Term",
        check_company=True,
        help="Payment term of the channel's sale orders (see Use Customer's "
        "Terms). Empty: a new contact's default.",
    )

    pricelist_id = fields.Many2one(
        "product.pricelist",
        check_company=True,
        help="Pricelist of the channel's sale orders when it is in the order's "
        "currency (see Use Customer's Terms). Empty: a new contact's default "
        "in that currency.",
    )

    fiscal_position_id = fields.Many2one(
        "account.fiscal.position",
        check_company=True,
        help="Fiscal position of the channel's sale orders (see Use Customer's "
        "Terms). Empty: the one Odoo finds for a new contact at the delivery "
        "address.",
    )

    shipping_product_id = fields.Many2one(
        "product.product",
        string="Shipping Product",
        check_company=True,
        domain="[('type', '=', 'service')]",
        default=lambda self: self.env.ref(
            "stock_channel_sync.product_channel_shipping", raise_if_not_found=False
        ),
        help="Bills an order's shipping amount on its sale order.",
    )

    @api.depends("adapter")
    def _compute_customer_policy(self):
        """What an order's e-mail address proves depends on the channel: a
        B2B portal (the generic webhook) has logged-in customers, so it trusts
        the address and books the customer's own terms; a marketplace buyer
        types any address and pays the marketplace, so neither applies. A new
        adapter resets both to its default; they can be changed afterwards."""
        for channel in self:
            trusted = channel.adapter == "webhook"
            channel.trust_customer_email = trusted
            channel.use_customer_terms = trusted
