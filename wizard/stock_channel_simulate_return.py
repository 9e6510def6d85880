from odoo import api, fields, models
from odoo.exceptions import UserError

from ..controllers.status import status_of
from ..services.sandbox import post_simulated_return, simulated_return


class StockChannelSimulateReturn(models.TransientModel):
    """Post a signed return of a sandbox order through the real returns
    intake, so a new user sees a return received, inspected and published
    without a marketplace."""

    _name = "stock.channel.simulate.return"
    _description = "Simulate a Sandbox Return"

    order_id = fields.Many2one(
        "stock.channel.order",
        required=True,
        domain="[('channel_id.adapter', '=', 'sandbox'), ('state', '=', 'done')]",
        help="The sandbox order whose goods come back.",
    )
    reason = fields.Char(default="Simulated return", help="The buyer's reason.")
    restock = fields.Boolean(
        default=True,
        help="The goods come back (a return receipt, then inspection). "
        "Untick for a refund without goods, recorded only.",
    )
    line_ids = fields.One2many(
        "stock.channel.simulate.return.line", "wizard_id", string="Lines"
    )

    @api.model
    def default_get(self, fields_list):
        values = super().default_get(fields_list)
        order = self.env["stock.channel.order"].browse(values.get("order_id"))
        if "line_ids" in fields_list and order:
            values["line_ids"] = [
                fields.Command.create({"sku": line.sku, "quantity": 1})
                for line in order.line_ids
            ]
        return values

    def action_post(self):
        """Sign the return with the channel's secret and post it to the
        returns intake as the channel's technical user, like the HTTP
        endpoint would."""
        self.ensure_one()
        order = self.order_id
        channel = order.channel_id
        channel._check_manager()
        if channel.adapter != "sandbox":
            raise UserError(self.env._("Only sandbox channels simulate returns."))
        lines = [(line.sku, line.quantity) for line in self.line_ids]
        if not lines or any(qty <= 0 for _sku, qty in lines):
            raise UserError(self.env._("Add at least one line, each quantity above 0."))
        body = simulated_return(lines, self.reason or "", self.restock)
        technical = channel._as_technical_user()
        # The secret is read as the manager clicking, who may read it.
        outcome = post_simulated_return(
            order.with_env(technical.env), body, channel.webhook_secret
        )
        status, answer = status_of(outcome), outcome.answer
        if status >= 300:
            raise UserError(
                self.env._(
                    "The sandbox refused the return (%(status)s): %(answer)s",
                    status=status,
                    answer=answer,
                )
            )
        return {
            "type": "ir.actions.act_window",
            "res_model": "stock.channel.return",
            "res_id": answer.get("id") or answer.get("return"),
            "view_mode": "form",
            "target": "current",
        }


class StockChannelSimulateReturnLine(models.TransientModel):
    _name = "stock.channel.simulate.return.line"
    _description = "Simulated Return Line"

    wizard_id = fields.Many2one(
        "stock.channel.simulate.return", required=True, ondelete="cascade"
    )
    sku = fields.Char(string="SKU", required=True, help="A SKU of the order.")
    quantity = fields.Integer(default=1, required=True)
