from odoo import api, fields, models
from odoo.exceptions import UserError

from ..controllers.status import status_of
from ..services.sandbox import post_simulated_order, simulated_order


class StockChannelSimulateOrder(models.TransientModel):
    """Post a signed order to a sandbox channel through the real intake, so
    a new user sees an order promised, confirmed and published everywhere."""

    _name = "stock.channel.simulate.order"
    _description = "Simulate a Sandbox Order"

    channel_id = fields.Many2one(
        "stock.channel",
        required=True,
        domain="[('adapter', '=', 'sandbox')]",
        help="The sandbox channel the order comes from.",
    )
    customer_name = fields.Char(required=True, default="Sandbox Customer")
    customer_email = fields.Char(default="sandbox.customer@example.com")
    line_ids = fields.One2many(
        "stock.channel.simulate.order.line", "wizard_id", string="Lines"
    )

    @api.model
    def default_get(self, fields_list):
        values = super().default_get(fields_list)
        channel = self.env["stock.channel"].browse(values.get("channel_id"))
        if "line_ids" in fields_list and channel:
            listings = channel.listing_ids.filtered("active")[:3]
            values["line_ids"] = [
                fields.Command.create({"listing_id": listing.id, "quantity": 1})
                for listing in listings
            ]
        return values

    def action_post(self):
        """Sign the order with the channel's secret and post it to intake as
        the channel's technical user, like the HTTP endpoint would."""
        self.ensure_one()
        channel = self.channel_id
        channel._check_manager()
        if channel.adapter != "sandbox":
            raise UserError(self.env._("Only sandbox channels simulate orders."))
        lines = [(line.listing_id, line.quantity) for line in self.line_ids]
        if not lines or any(qty <= 0 for _listing, qty in lines):
            raise UserError(self.env._("Add at least one line, each quantity above 0."))
        body = simulated_order(
            channel,
            lines,
            {"name": self.customer_name, "email": self.customer_email or None},
        )
        # The secret is read as the manager clicking, who may read it.
        outcome = post_simulated_order(
            channel._as_technical_user(), body, channel.webhook_secret
        )
        status, answer = status_of(outcome), outcome.answer
        if status >= 300:
            raise UserError(
                self.env._(
                    "The sandbox refused the order (%(status)s): %(answer)s",
                    status=status,
                    answer=answer,
                )
            )
        order = self.env["stock.channel.order"].browse(
            answer.get("id") or answer.get("order")
        )
        return {
            "type": "ir.actions.act_window",
            "res_model": "stock.channel.order",
            "res_id": order.id,
            "view_mode": "form",
            "target": "current",
        }


class StockChannelSimulateOrderLine(models.TransientModel):
    _name = "stock.channel.simulate.order.line"
    _description = "Simulated Order Line"

    wizard_id = fields.Many2one(
        "stock.channel.simulate.order", required=True, ondelete="cascade"
    )
    listing_id = fields.Many2one(
        "stock.channel.listing",
        required=True,
        domain="[('channel_id', '=', parent.channel_id)]",
    )
    quantity = fields.Integer(default=1, required=True)
