from odoo import api, fields, models

from ..services import jobs, return_guard


class StockChannelReturn(models.Model):
    """One marketplace return or refund, stored exactly once per (channel,
    return id) whatever the number of deliveries. A job turns it into a
    return receipt (``services/return_receipts.py``). Only the addon's own
    code creates it, moves it between states and links its receipts and
    credit note (``services/return_guard.py``)."""

    _name = "stock.channel.return"
    _inherit = ["stock.channel.owned.mixin"]
    _description = "Channel Return"
    _order = "id desc"
    _rec_name = "external_id"
    _sql_constraints = [
        (
            "external_id_channel_uniq",
            "UNIQUE (channel_id, external_id)",
            "This return was already received on this channel.",
        ),
    ]

    channel_id = fields.Many2one(ondelete="restrict")
    order_id = fields.Many2one(
        "stock.channel.order",
        string="Channel Order",
        required=True,
        index=True,
        ondelete="restrict",
    )
    external_id = fields.Char(
        string="Return / Refund ID",
        required=True,
        readonly=True,
        help="The marketplace's id of the return (generic contract's "
        "return_id, Shopify's or WooCommerce's refund id): a second delivery "
        "of the same id is a duplicate.",
    )
    source = fields.Selection(
        [
            ("generic", "Generic contract"),
            ("shopify", "Shopify refund"),
            ("woocommerce", "WooCommerce refund"),
        ],
        required=True,
        readonly=True,
        default="generic",
    )
    state = fields.Selection(
        [
            ("received", "Received"),
            ("open", "Open"),
            ("done", "Done"),
            ("error", "Error"),
        ],
        required=True,
        default="received",
        index=True,
        help="Received: stored, a job builds its return receipt. Open: the "
        "receipt waits for the goods or its lines for inspection. Done: every "
        "line is accepted, damaged, scrapped, recorded or cancelled. Error: "
        "the job could not build the receipt (see the error, Reprocess).",
    )
    error_message = fields.Text(
        readonly=True,
        groups="stock_channel_sync.group_channel_manager",
        help="Why the return receipt could not be built.",
    )
    line_ids = fields.One2many(
        "stock.channel.return.line", "channel_return_id", string="Lines"
    )
    sale_order_id = fields.Many2one(related="order_id.sale_order_id")
    picking_ids = fields.Many2many(
        "stock.picking",
        string="Return Receipts",
        readonly=True,
        copy=False,
        help="Odoo's return receipts of the order's deliveries, into the "
        "warehouse's returns location. The warehouse validates them when the "
        "goods arrive.",
    )
    credit_note_id = fields.Many2one(
        "account.move",
        string="Draft Credit Note",
        readonly=True,
        copy=False,
        help="Created as a draft when the sale order was invoiced; never "
        "posted by the addon.",
    )
    received_at = fields.Datetime(
        string="Received On",
        readonly=True,
        default=fields.Datetime.now,
        help="When the marketplace's return reached Odoo.",
    )

    @api.model_create_multi
    def create(self, vals_list):
        return_guard.check_create(self)
        return super().create(vals_list)

    def write(self, vals):
        return_guard.check_write(self, vals)
        return super().write(vals)

    def unlink(self):
        return_guard.check_unlink(self)
        return super().unlink()

    def _answer_status(self):
        self.ensure_one()
        return {
            "return_id": self.external_id,
            "state": self.state,
            "return": self.id,
            "external_id": self.order_id.external_id,
        }

    def action_view_receipts(self):
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Return Receipts"),
            "res_model": "stock.picking",
            "view_mode": "list,form",
            "domain": [("id", "in", self.picking_ids.ids)],
        }

    def action_reprocess(self):
        """After fixing the cause of an error: build the receipt again."""
        returns = self.filtered(lambda r: r.state == "error")
        with return_guard.trusted():
            returns.write({"state": "received", "error_message": False})
        for channel_return in returns:
            # The job runs as the channel's technical user, like the first
            # (the registry enqueues it so).
            jobs.enqueue(
                "return", channel_return.order_id, channel_return.id, variant="retry"
            )

    def _refresh_state(self):
        """Done once no line waits for the goods or for inspection."""
        for channel_return in self.filtered(lambda r: r.state == "open"):
            waiting = channel_return.line_ids.filtered(
                lambda line: line.state in ("to_receive", "to_inspect")
            )
            if not waiting:
                with return_guard.trusted():
                    channel_return.state = "done"
