from odoo import api, fields, models
from odoo.exceptions import UserError

from ..services import return_guard, return_inspection
from ..services.return_intake import moved_qty

LINE_STATES = [
    ("to_receive", "To Receive"),
    ("to_inspect", "To Inspect"),
    ("accepted", "Accepted"),
    ("damaged", "Damaged"),
    ("scrapped", "Scrapped"),
    ("cancelled", "Cancelled"),
    ("recorded", "Recorded"),
]


class StockChannelReturnLine(models.Model):
    """One returned or refunded line: what came back, why, and what
    inspection decided. Its state and quantities are the return ledger:
    only the addon's own code writes them (``services/return_guard.py``)."""

    _name = "stock.channel.return.line"
    _description = "Channel Return Line"
    _order = "received_at, id"
    _rec_name = "sku"

    channel_return_id = fields.Many2one(
        "stock.channel.return",
        string="Return",
        required=True,
        index=True,
        ondelete="cascade",
    )
    company_id = fields.Many2one(related="channel_return_id.company_id", store=True)
    channel_id = fields.Many2one(
        related="channel_return_id.channel_id", store=True, string="Channel"
    )
    order_id = fields.Many2one(
        related="channel_return_id.order_id", store=True, string="Channel Order"
    )
    return_external_id = fields.Char(
        related="channel_return_id.external_id", string="Return / Refund ID"
    )
    order_line_id = fields.Many2one(
        "stock.channel.order.line",
        string="Order Line",
        readonly=True,
        ondelete="set null",
    )
    product_id = fields.Many2one(
        "product.product", required=True, index=True, ondelete="restrict"
    )
    sku = fields.Char(string="SKU", required=True, readonly=True)
    channel_qty = fields.Float(
        string="Returned",
        digits="Product Unit of Measure",
        readonly=True,
        help="As the marketplace counts it (channel units: cases for a pack "
        "listing).",
    )
    product_qty = fields.Float(
        string="Quantity",
        digits="Product Unit of Measure",
        readonly=True,
        help="In product units: returned quantity times the pack size.",
    )
    reason = fields.Char(readonly=True, help="The reason the marketplace gave.")
    restock_type = fields.Selection(
        [
            ("return", "Return"),
            ("cancel", "Cancel (not shipped)"),
            ("no_restock", "No restock"),
        ],
        required=True,
        readonly=True,
        help="Return: the goods come back and are inspected. Cancel: not "
        "shipped yet, fewer left to deliver. No restock: refunded only, "
        "recorded.",
    )
    restock = fields.Boolean(
        compute="_compute_restock",
        help="Whether the goods come back to a warehouse.",
    )
    state = fields.Selection(
        LINE_STATES,
        required=True,
        default="to_receive",
        index=True,
        readonly=True,
    )
    unshipped = fields.Boolean(
        string="Not Shipped",
        readonly=True,
        help="Refunded before it shipped: what is left to deliver shrinks. "
        "Every cancel line, and the part of a marketplace's no-restock refund "
        "that had not shipped yet (the marketplace removes it from "
        "fulfilment).",
    )
    applied = fields.Boolean(
        readonly=True,
        help="A line not shipped: whether what is left to deliver was reduced.",
    )
    receipt_move_ids = fields.Many2many(
        "stock.move",
        "stock_channel_return_line_receipt_move_rel",
        "line_id",
        "move_id",
        string="Receipt Moves",
        readonly=True,
        copy=False,
    )
    receipt_picking_id = fields.Many2one(
        "stock.picking",
        string="Return Receipt",
        readonly=True,
        copy=False,
        index="btree_not_null",
    )
    received_qty = fields.Float(
        string="Received",
        digits="Product Unit of Measure",
        readonly=True,
        help="In product units: what the validated return receipt brought "
        "back for this line, what inspection moves.",
    )
    received_at = fields.Datetime(
        string="Goods Received On",
        readonly=True,
        help="When the return receipt was validated: the line waits for "
        "inspection since then.",
    )
    inspection_move_id = fields.Many2one(
        "stock.move",
        string="Inspection Move",
        readonly=True,
        copy=False,
        help="The move out of the returns location: to stock (accepted) or to "
        "the damaged location.",
    )
    scrap_id = fields.Many2one("stock.scrap", string="Scrap", readonly=True, copy=False)
    inspection_note = fields.Char(help="What inspection found.")
    inspected_by_id = fields.Many2one("res.users", string="Inspected By", readonly=True)
    credit_note_id = fields.Many2one(
        related="channel_return_id.credit_note_id", string="Draft Credit Note"
    )
    warehouse_id = fields.Many2one(
        related="receipt_picking_id.picking_type_id.warehouse_id", string="Warehouse"
    )
    location_ref = fields.Char(
        string="Marketplace Location",
        readonly=True,
        help="The marketplace location the item comes back to, when the "
        "marketplace names one (Shopify's refund line location).",
    )
    return_warehouse_id = fields.Many2one(
        "stock.warehouse",
        string="Returned To",
        readonly=True,
        help="On a channel that publishes per location: the warehouse mapped "
        "to the marketplace location, whose returns location receives the "
        "item. Empty: the warehouse that shipped it.",
    )

    @api.depends("restock_type")
    def _compute_restock(self):
        for line in self:
            line.restock = line.restock_type == "return"

    @api.model_create_multi
    def create(self, vals_list):
        return_guard.check_create(self)
        return super().create(vals_list)

    def write(self, vals):
        """Users write only the inspection note, while the line waits for
        inspection; the rest is the addon's (``return_guard``)."""
        if not return_guard.is_trusted(self.env):
            waiting = all(line.state == "to_inspect" for line in self)
            return_guard.check_write(
                self, vals, ("inspection_note",) if waiting else ()
            )
        return super().write(vals)

    def unlink(self):
        return_guard.check_unlink(self)
        return super().unlink()

    def action_accept(self):
        """Accepted: back to the warehouse's stock, sellable again."""
        return self._inspect("accepted")

    def action_damaged(self):
        """To the warehouse's damaged/hold location, never sellable."""
        return self._inspect("damaged")

    def action_scrap(self):
        """Scrapped, with the line's reason and note on the scrap."""
        return self._inspect("scrapped")

    def _inspect(self, outcome):
        """The only way, besides the addon's jobs, a line changes state."""
        waiting = self.filtered(lambda line: line.state == "to_inspect")
        if waiting != self:
            raise UserError(
                self.env._("Only lines waiting for inspection can be inspected.")
            )
        return_inspection.inspect(waiting, outcome)
        return True

    def action_open_order(self):
        self.ensure_one()
        return self._open(self.order_id)

    def action_open_receipt(self):
        self.ensure_one()
        return self._open(self.receipt_picking_id)

    def action_open_inspection_move(self):
        self.ensure_one()
        return self._open(self.inspection_move_id)

    @api.model
    def _receipts_done(self, pickings):
        """Validated return receipts: once a receipt and its backorders are
        all done or cancelled, its lines wait for inspection in the returns
        location (still not sellable) with what actually arrived; a line of
        which nothing arrived is cancelled."""
        roots = pickings.sudo()
        while roots.backorder_id - roots:
            roots |= roots.backorder_id
        # sudo(): bookkeeping of the validation, like the listings' marking;
        # whoever validates (a POS or manufacturing user too) needs no
        # rights on returns. Narrow: the lines of these receipts only.
        lines = self.sudo().search(
            [
                ("receipt_move_ids.picking_id", "in", roots.ids),
                ("state", "=", "to_receive"),
            ]
        )
        taken = {}  # (receipts, product) -> quantity given to earlier lines
        for line in lines.sorted("id"):
            # Every receipt of the line (one per delivery that shipped its
            # goods) and their backorders.
            chain = line.receipt_move_ids.picking_id
            while chain.backorder_ids - chain:
                chain |= chain.backorder_ids
            if any(p.state not in ("done", "cancel") for p in chain):
                continue
            key = (
                tuple(sorted(line.receipt_move_ids.picking_id.ids)),
                line.product_id.id,
            )
            arrived = sum(
                moved_qty(move)
                for move in chain.move_ids
                if move.state == "done" and move.product_id == line.product_id
            ) - taken.get(key, 0.0)
            received = max(min(line.product_qty, arrived), 0.0)
            taken[key] = taken.get(key, 0.0) + received
            line.write(
                {
                    "state": "to_inspect" if received > 0 else "cancelled",
                    "received_qty": received,
                    "received_at": fields.Datetime.now(),
                }
            )
        lines.channel_return_id._refresh_state()

    def _open(self, record):
        return {
            "type": "ir.actions.act_window",
            "res_model": record._name,
            "res_id": record.id,
            "view_mode": "form",
        }
