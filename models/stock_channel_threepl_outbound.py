from odoo import api, fields, models
from odoo.exceptions import ValidationError

from ..adapters import outbound
from ..adapters.base import ChannelConfig
from ..adapters.x12 import order_940

# Seconds to wait for the 3PL's answer to a shipping order.
SHIPPING_ORDER_TIMEOUT = 30


class StockChannelThreeplOutbound(models.Model):
    """What a 3PL connection needs to send shipping orders: its X12
    interchange ids, the HTTP configuration of the calls, and the orders
    it sent."""

    _inherit = "stock.channel.threepl"

    x12_sender_qualifier = fields.Char(
        string="Our ISA Qualifier",
        default="ZZ",
        help="X12: ISA05 of the 940s sent to this 3PL (ZZ: mutually defined).",
    )
    x12_sender_id = fields.Char(
        string="Our ISA ID",
        help="X12: the interchange id this 3PL knows us by (ISA06, and GS02), "
        "1 to 15 characters, as agreed with the 3PL. Required to send 940s.",
    )
    x12_receiver_qualifier = fields.Char(
        string="3PL ISA Qualifier",
        default="ZZ",
        help="X12: ISA07 of the 940s sent to this 3PL.",
    )
    x12_receiver_id = fields.Char(
        string="3PL ISA ID",
        help="X12: the 3PL's interchange id (ISA08, and GS03), 1 to 15 "
        "characters. Required to send 940s.",
    )
    shipping_order_ids = fields.One2many(
        "stock.channel.threepl.order", "connection_id", string="Shipping Orders"
    )
    shipping_order_count = fields.Integer(compute="_compute_shipping_order_counts")
    failed_shipping_order_count = fields.Integer(
        string="Failed Shipping Orders", compute="_compute_shipping_order_counts"
    )

    def _compute_shipping_order_counts(self):
        groups = self.env["stock.channel.threepl.order"]._read_group(
            [("connection_id", "in", self.ids)], ["connection_id", "state"], ["__count"]
        )
        counts = {}
        for connection, state, count in groups:
            total, failed = counts.get(connection.id, (0, 0))
            counts[connection.id] = (
                total + count,
                failed + (count if state == "failed" else 0),
            )
        for connection in self:
            (
                connection.shipping_order_count,
                connection.failed_shipping_order_count,
            ) = counts.get(connection.id, (0, 0))

    @api.constrains(
        "x12_sender_qualifier",
        "x12_sender_id",
        "x12_receiver_qualifier",
        "x12_receiver_id",
    )
    def _check_x12_parties(self):
        for connection in self:
            for qualifier, identifier in (
                (connection.x12_sender_qualifier, connection.x12_sender_id),
                (connection.x12_receiver_qualifier, connection.x12_receiver_id),
            ):
                problem = identifier and order_940.check_party(qualifier, identifier)
                if problem:
                    raise ValidationError(
                        self.env._(
                            "3PL connection %(connection)s: %(problem)s.",
                            connection=connection.display_name,
                            problem=problem,
                        )
                    )

    def action_view_shipping_orders(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id(
            "stock_channel_sync.stock_channel_threepl_order_action"
        )
        action["domain"] = [("connection_id", "=", self.id)]
        return action

    def _shipping_order_config(self):
        """What the shipping-order client needs (the job runs as the
        technical user, a manager: the token is readable): the API URL
        through the outbound guard, the token as the bearer, and every
        secret of the connection for redaction."""
        self.ensure_one()
        allowed = outbound.allowed_hosts(
            self.env["ir.config_parameter"]
            .sudo()
            .get_param(outbound.ALLOWED_HOSTS_PARAM, "")
        )
        return ChannelConfig(
            code=self.code,
            adapter="threepl",
            base_url=self.api_url or "",
            api_key=self.api_token or "",
            webhook_secret=self.webhook_secret or "",
            timeout=SHIPPING_ORDER_TIMEOUT,
            allowed_hosts=allowed,
            company_id=self.company_id.id,
        )

    def _x12_parties(self):
        """``sender`` and ``receiver`` of this connection's 940 envelopes;
        :class:`~..adapters.x12.order_940.OrderRefused` when they are not
        configured."""
        self.ensure_one()
        if not (self.x12_sender_id and self.x12_receiver_id):
            raise order_940.OrderRefused(
                [
                    self.env._(
                        "3PL connection %s needs Our ISA ID and 3PL ISA ID to "
                        "send X12 940s.",
                        self.display_name,
                    )
                ]
            )
        return {
            "sender": (self.x12_sender_qualifier or "ZZ", self.x12_sender_id),
            "receiver": (self.x12_receiver_qualifier or "ZZ", self.x12_receiver_id),
        }
