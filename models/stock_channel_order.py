from odoo import api, fields, models
from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.tools import SQL

from ..services import jobs, order_intake, retention, shipments
from ..services.kits import related_product_ids
from ..services.outcomes import Outcome
from ..services.retries import retry_contention
from ..services.sale_order_builder import SaleOrderBuilder
from ..services.shipped import shipped_pickings

# Failures a retry cannot fix: the order goes to 'error' for a human.
PERMANENT_ERRORS = (UserError, ValidationError, AccessError)


class StockChannelOrder(models.Model):
    """One marketplace order delivery, stored exactly once per
    (channel, external id) whatever the number of deliveries."""

    _name = "stock.channel.order"
    _inherit = ["stock.channel.owned.mixin", "mail.thread", "mail.activity.mixin"]
    _description = "Channel Order"
    _order = "id desc"
    _rec_name = "external_id"
    _sql_constraints = [
        (
            "external_id_channel_uniq",
            "UNIQUE (channel_id, external_id)",
            "This order was already received on this channel.",
        ),
    ]

    channel_id = fields.Many2one(ondelete="restrict")
    external_id = fields.Char(string="External ID", required=True)
    state = fields.Selection(
        [
            ("received", "Received"),
            ("done", "Done"),
            ("error", "Error"),
            ("cancelled", "Cancelled"),
        ],
        required=True,
        default="received",
        index=True,
        help="Received or Error: accepted, its lines count as promised stock "
        "until its sale order exists (an order in error is still owed to the "
        "customer); Done: the sale order's moves carry the demand.",
    )
    channel_adapter = fields.Selection(related="channel_id.adapter")
    received_via = fields.Selection(
        [("webhook", "Posted"), ("pull", "Pulled")],
        default="webhook",
        readonly=True,
        help="Posted: the marketplace's webhook (or a sandbox's simulated "
        "order) delivered it. Pulled: the channel's order pull found it first, "
        "a webhook that never arrived (see Recovered by Pulling).",
    )
    payload = fields.Text(
        groups="stock_channel_sync.group_channel_manager",
        help="The order as the channel sent it (names, addresses, payment "
        "details), for managers only; cleared once the order is done or "
        "cancelled and older than stock_channel_sync.payload_retention_days "
        "(default 30).",
    )
    canonical_order = fields.Json(
        readonly=True,
        groups="stock_channel_sync.group_channel_manager",
        help="The order translated by the channel's adapter and validated at "
        "intake: what processing reads, whatever the marketplace.",
    )
    correlation_id = fields.Char(index=True)
    customer_name = fields.Char()
    customer_email = fields.Char()
    currency_id = fields.Many2one("res.currency")
    line_ids = fields.One2many("stock.channel.order.line", "order_id", string="Lines")
    error_message = fields.Text(
        readonly=True,
        groups="stock_channel_sync.group_channel_manager",
        help="Why processing failed. Never sent to the marketplace, which gets "
        "the code processing_failed.",
    )
    sale_order_id = fields.Many2one("sale.order", readonly=True, copy=False)
    shipment_state = fields.Selection(
        [
            ("none", "Not shipped"),
            ("pending", "Sending"),
            ("sent", "Sent"),
            ("failed", "Failed"),
        ],
        default="none",
        required=True,
        readonly=True,
        help="Whether the channel was told about the shipment.",
    )
    shipment_message = fields.Text(readonly=True)
    channel_cancelled_at = fields.Datetime(
        string="Cancelled on Channel",
        readonly=True,
        copy=False,
        help="When the marketplace's cancellation of this stored order was "
        "handled: the order cancelled, or, when it had shipped, a to-do for "
        "the responsible. A pull that lists it cancelled again enqueues "
        "nothing.",
    )

    def write(self, vals):
        res = super().write(vals)
        if "state" in vals:
            self._mark_state_change()
        return res

    def _mark_state_change(self):
        """Every state change moves promised demand (it starts, stays or
        stops counting, or the sale order's moves take over): mark the
        listings of the orders' products on every sharing channel."""
        for channel in self.channel_id:
            orders = self.filtered(lambda o, c=channel: o.channel_id == c)
            product_ids = set(orders.line_ids.product_id.ids)
            if product_ids:
                self._mark_promised(channel, product_ids)

    @api.model
    def _receive(self, channel, action, body):
        """An order body of ``channel`` from a trusted in-process caller (a
        sandbox's *Simulate Order*) that says what it is: ``action`` is
        ``create``, ``cancel`` or ``update``. The :class:`Outcome` exactly
        as the order webhook gets it (the controller answers it in HTTP).
        Marketplaces' webhooks go through
        :func:`..services.order_intake.receive`, which decides the action
        from the signed payload."""
        return order_intake.handle(self, channel, action, body)

    @api.model
    def _mark_promised(self, channel, product_ids):
        """Accepted lines lower the ATP of every channel sharing a warehouse
        with this one: mark their listings of these products, of the
        components of kits among them and of every kit sharing those."""
        self.env["stock.channel.listing"]._mark_pending(
            SQL(
                """l.active AND l.product_id = ANY(%s) AND l.channel_id IN (
                    SELECT other.channel_id
                      FROM stock_channel_warehouse_rel other
                      JOIN stock_channel_warehouse_rel mine
                        ON mine.warehouse_id = other.warehouse_id
                     WHERE mine.channel_id = %s)""",
                list(related_product_ids(self.env, product_ids)),
                channel.id,
            )
        )

    def _answer_status(self):
        self.ensure_one()
        return {
            "external_id": self.external_id,
            "state": self.state,
            "order": self.id,
            "sale_order": self.sale_order_id.name or None,
            # A documented code only: the reason (which may name users,
            # models or records) is on the order, for managers, and in the log.
            "error": "processing_failed" if self.state == "error" else None,
        }

    # -- processing ----------------------------------------------------------

    def _enqueue_processing(self):
        """Reprocess: coalesced by identity key, so clicking twice enqueues
        once."""
        jobs.enqueue("confirm", self)

    # -- shipments -----------------------------------------------------------

    @api.model
    def _enqueue_shipments(self, pickings):
        """After delivery validation: one job per (channel order, picking)
        (``services/shipments.py``)."""
        shipments.enqueue(self.env, pickings)

    def _send_shipment(self, picking_id):
        """Job: tell the channel what shipped, with the tracking reference."""
        self.ensure_one()
        return shipments.send(self, self.env["stock.picking"].browse(picking_id))

    def _set_shipment_state(self, state, message=False):
        """``pending`` when enqueued, ``sent`` with the channel's answer."""
        self.write({"shipment_state": state, "shipment_message": message})

    def _set_shipment_failed(self, message):
        """In its own transaction: the job's is rolled back when it fails."""
        self.ensure_one()
        with self.env.registry.cursor() as cr:
            cr.execute(
                SQL(
                    "UPDATE stock_channel_order SET shipment_state = 'failed',"
                    " shipment_message = %s WHERE id = %s",
                    message,
                    self.id,
                )
            )

    def action_simulate_return(self):
        """Open the wizard that posts a signed return of this sandbox order."""
        self.ensure_one()
        self.channel_id._check_manager()
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Simulate Return"),
            "res_model": "stock.channel.simulate.return",
            "view_mode": "form",
            "target": "new",
            "context": {"default_order_id": self.id},
        }

    def action_cancel(self):
        """Cancel from Odoo, with the same rules as the channel's request."""
        for order in self:
            outcome = order._cancel_from_channel()
            if outcome.kind == "shipped":
                raise UserError(outcome.answer["message"])

    def _cancel_from_channel(self):
        """Cancel unless something shipped: an :class:`Outcome`,
        ``cancelled`` or ``shipped`` (refused)."""
        self.ensure_one()
        if self.state == "cancelled":
            return Outcome("cancelled", dict(self._answer_status(), status="cancelled"))
        sale = self.sale_order_id
        shipped = shipped_pickings(sale.picking_ids)
        if shipped:
            return Outcome(
                "shipped",
                {
                    "error": "already_shipped",
                    "message": self.env._(
                        "Order %s has shipped: it cannot be cancelled.",
                        self.external_id,
                    ),
                },
            )
        if sale and sale.state != "cancel":
            # Odoo's public cancel (its checks and overrides), without the
            # wizard meant for a salesperson: the marketplace already told
            # the customer. A locked order (Sales setting) is unlocked first:
            # the marketplace's cancellation wins over the lock.
            if sale.locked:
                sale.action_unlock()
            sale.with_context(disable_cancel_warning=True).action_cancel()
        self.write({"state": "cancelled"})
        return Outcome("cancelled", dict(self._answer_status(), status="cancelled"))

    def _cancel_listed(self):
        """Job: the marketplace lists this order cancelled; cancel it as its
        cancellation webhook would (a to-do if it shipped). Stock contention
        is retried like a confirmation's."""
        self.ensure_one()
        try:
            with self.env.cr.savepoint():
                outcome = order_intake.cancel_stored(self)
        except Exception as exc:
            retry_contention(exc, self.write_date)
        return outcome.kind

    def action_reprocess(self):
        """After fixing the cause of an error: try again."""
        orders = self.filtered(lambda o: o.state == "error")
        orders.write({"state": "received", "error_message": False})
        orders.activity_ids.action_feedback(feedback=self.env._("Reprocessed"))
        orders._enqueue_processing()

    def _process(self):
        """Job: build the sale order and confirm it, all or nothing.

        Stock contention (serialization failures, deadlocks, locks not
        available on hot quants) is not the order's fault: it is retried
        without limit (``ignore_retry``: it never uses up the job's tries),
        after a jittered delay that grows with the order's wait, so that no
        order ends in a failed job because others confirmed the same SKUs
        at the same moment. Anything else the order cannot fix sends it to
        'error' with one to-do."""
        self.ensure_one()
        if self.state != "received":
            return f"nothing to do: {self.state}"
        try:
            with self.env.cr.savepoint():
                sale = self._create_sale_order()
        except PERMANENT_ERRORS as exc:
            self.write({"state": "error", "error_message": str(exc)})
            self._schedule_error_activity(str(exc))
            return f"error: {exc}"
        except Exception as exc:
            retry_contention(exc, self.create_date)
        self.write({"state": "done", "sale_order_id": sale.id})
        return f"created {sale.name}"

    def _schedule_error_activity(self, reason):
        self._schedule_todo(
            self.env._("Channel order %s could not be processed", self.external_id),
            reason,
        )

    def _schedule_todo(self, summary, note):
        """One to-do for the channel's responsible per summary, however often
        the cause repeats."""
        self.ensure_one()
        channel = self.channel_id
        responsible = channel.responsible_id or channel.user_id
        if not self.activity_ids.filtered(lambda a: a.summary == summary):
            self.activity_schedule(
                "mail.mail_activity_data_todo",
                summary=summary,
                note=note,
                user_id=responsible.id,
            )

    def _create_sale_order(self):
        return SaleOrderBuilder(self).build()

    @api.model
    @api.autovacuum
    def _gc_old_payloads(self):
        self._gc_payloads(retention.payload_retention_days(self.env))

    def _gc_payloads(self, days):
        """Personal data is kept no longer than needed: the raw and the
        translated order of orders cancelled, or done and shipped (a
        shipment confirmation may need the stored order), for ``days`` days
        are cleared (the sale order keeps what the business needs)."""
        self.env.cr.execute(
            SQL(
                """
                UPDATE stock_channel_order
                   SET payload = NULL, canonical_order = NULL
                 WHERE (state = 'cancelled'
                        OR (state = 'done' AND shipment_state = 'sent'))
                   AND (payload IS NOT NULL OR canonical_order IS NOT NULL)
                   AND write_date < (now() at time zone 'UTC')
                                    - make_interval(days => %s)
                """,
                days,
            )
        )
        cleared = self.env.cr.rowcount
        self.invalidate_model(["payload", "canonical_order"])
        return cleared
