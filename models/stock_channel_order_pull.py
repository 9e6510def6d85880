from datetime import timedelta

from odoo import api, fields, models
from odoo.exceptions import UserError, ValidationError

from odoo.addons.queue_job.exception import RetryableJobError

from ..adapters import ADAPTERS
from ..adapters.base import PermanentError, TransientError
from ..services import jobs, order_pull


class StockChannel(models.Model):
    """Pulled orders: the channel's orders listed from the marketplace since
    a watermark, through the same intake as its webhooks
    (``services/order_pull.py``)."""

    _inherit = "stock.channel"

    order_pull_interval = fields.Integer(
        string="Pull Orders Every",
        default=15,
        help="Minutes between two scheduled order pulls (Shopify, WooCommerce, "
        "Amazon): orders changed on the marketplace since the last pull are "
        "read and any not stored yet (a missed webhook; every Amazon order) is "
        "stored, exactly once. 0 turns the scheduled pull off (Fetch Orders "
        "Now still works).",
    )
    orders_pulled_until = fields.Datetime(
        string="Orders Pulled Until",
        copy=False,
        help="Watermark: every order changed on the marketplace up to this "
        "moment is stored (or kept as a refused order). The next pull reads "
        "the changes after it, from 5 minutes before it (orders a marketplace "
        "shows late). Empty: from the channel's creation.",
    )
    order_refusal_count = fields.Integer(
        string="Refused Orders",
        # A health figure (models/stock_channel_health.py): the channel
        # needs attention while one is kept.
        compute="_compute_health",
        help="Pulled orders refused by validation (an unknown SKU, currency, "
        "country), kept with their error and a to-do each: each pull tries "
        "them again. The channel needs attention while there is one.",
    )
    last_order_pull_at = fields.Datetime(
        string="Last Order Pull", readonly=True, copy=False
    )
    pulls_orders = fields.Boolean(compute="_compute_pulls_orders")

    @api.depends("adapter")
    def _compute_pulls_orders(self):
        for channel in self:
            adapter = ADAPTERS.get(channel.adapter)
            channel.pulls_orders = bool(adapter and adapter.pulls_orders)

    @api.constrains("order_pull_interval")
    def _check_order_pull_interval(self):
        if any(channel.order_pull_interval < 0 for channel in self):
            raise ValidationError(
                self.env._("The order pull interval cannot be negative.")
            )

    def action_fetch_orders_now(self):
        """Pull the channel's orders now, whatever the schedule."""
        self._check_manager()
        channels = self.filtered("pulls_orders")
        if not channels:
            raise UserError(self.env._("This channel's marketplace is not pulled."))
        channels._enqueue_order_pull()
        return self._notify(self.env._("Order pull queued."))

    def action_view_order_refusals(self):
        return self._channel_action("stock_channel_order_refusal_action")

    def _enqueue_order_pull(self):
        """One job per channel (identity key), as its technical user."""
        jobs.enqueue("pull", self)

    def _pull_orders(self):
        """Job: store the orders changed on the marketplace since the
        watermark that are not stored yet, and advance the watermark; each
        page in a transaction of its own."""
        self.ensure_one()
        try:
            return order_pull.pull(self, self.env.context.get("job_uuid"))
        except TransientError as exc:
            raise RetryableJobError(str(exc), seconds=exc.retry_after) from exc
        except PermanentError as exc:
            raise UserError(str(exc)) from exc

    @api.model
    def _cron_pull_orders(self):
        """Enqueue the pulling channels whose pull interval has elapsed."""
        now = fields.Datetime.now()
        due = (
            self.search([("order_pull_interval", ">", 0)])
            .filtered("pulls_orders")
            .filtered(
                lambda c: not c.last_order_pull_at
                or c.last_order_pull_at + timedelta(minutes=c.order_pull_interval)
                <= now
            )
        )
        due.write({"last_order_pull_at": now})
        due._enqueue_order_pull()
