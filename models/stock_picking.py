from odoo import fields, models

from ..services import threepl_outbound
from .stock_channel_threepl_order import STATES

USER_GROUP = "stock_channel_sync.group_channel_user"


class StockPicking(models.Model):
    _inherit = "stock.picking"

    channel_carrier_name = fields.Char(
        string="Carrier (3PL)",
        readonly=True,
        copy=False,
        help="The carrier a 3PL reported shipping this delivery with: sent to "
        "the sales channels with the shipment when the delivery module gives "
        "no carrier.",
    )
    channel_tracking_ref = fields.Char(
        string="Tracking Reference (3PL)",
        readonly=True,
        copy=False,
        help="The tracking number a 3PL reported for this delivery: sent to "
        "the sales channels with the shipment when the delivery module gives "
        "none.",
    )

    threepl_order_state = fields.Selection(
        STATES,
        string="3PL Shipping Order",
        compute="_compute_threepl_order_state",
        groups=USER_GROUP,
        help="The state of the shipping order this delivery was sent to its "
        "3PL as (none: not a delivery a 3PL connection drives, or not ready "
        "yet).",
    )

    def _compute_threepl_order_state(self):
        # Stored pickings only (a new one in a form has no order).
        ids = [picking_id for picking_id in self.ids if isinstance(picking_id, int)]
        orders = self.env["stock.channel.threepl.order"].search(
            [("picking_id", "in", ids)], order="id"
        )
        state_of = {order.picking_id.id: order.state for order in orders}
        for picking in self:
            picking.threepl_order_state = state_of.get(picking.id, False)

    def _compute_state(self):
        """The hook of shipping orders to 3PLs: a delivery is sent once it
        is Ready (``services/threepl_outbound.py``).

        Why here: ``state`` is a stored computed field, so the ORM's
        recomputation writes it, never ``write()`` (an override of write
        on ``state`` would never run), and every way a delivery becomes
        Ready passes through this method: ``action_assign``, the
        scheduler's reservation, a reservation at confirmation, a quantity
        typed by hand (``stock.move._recompute_state``), stock freed by
        another picking. Post-processing ``stock.move._action_assign``
        would miss the last three. Cheap: after ``super()`` only an
        in-memory filter and a set of ids in the cursor's precommit data;
        the one query runs once per transaction, before it commits."""
        res = super()._compute_state()
        threepl_outbound.collect(self)
        return res

    def _action_done(self):
        res = super()._action_done()
        # Deliveries of channel orders are confirmed back to the channel.
        self.env["stock.channel.order"]._enqueue_shipments(self)
        # Return receipts of channel returns: their lines await inspection.
        self.env["stock.channel.return.line"]._receipts_done(self)
        return res

    def action_view_threepl_order(self):
        self.ensure_one()
        order = self.env["stock.channel.threepl.order"].search(
            [("picking_id", "=", self.id)], limit=1
        )
        return {
            "type": "ir.actions.act_window",
            "res_model": "stock.channel.threepl.order",
            "res_id": order.id,
            "view_mode": "form",
        }
