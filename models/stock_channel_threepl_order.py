from odoo import api, fields, models
from odoo.exceptions import UserError
from odoo.tools import SQL

from ..services import jobs, threepl_outbound
from .stock_channel import MANAGER_GROUP

STATES = [
    ("pending", "Pending"),
    ("sent", "Sent"),
    ("failed", "Failed"),
    ("cancelled", "Cancelled"),
]


class StockChannelThreeplOrder(models.Model):
    """A delivery sent to a 3PL as its shipping order: one row per
    (connection, picking), whatever the number of times the picking becomes
    ready or the job runs, and the audit of its sending (what was sent, how
    often, what the 3PL answered). Read-only to every user; the job and
    *Resend* record (``services/threepl_outbound.py``)."""

    _name = "stock.channel.threepl.order"
    _inherit = [
        "mail.thread",
        "mail.activity.mixin",
        "stock.channel.threepl.owned.mixin",
    ]
    _description = "3PL Shipping Order"
    _order = "id desc"
    _rec_name = "order_ref"
    _sql_constraints = [
        (
            "connection_picking_uniq",
            "UNIQUE (connection_id, picking_id)",
            "A delivery is sent to a 3PL as one shipping order.",
        ),
    ]

    company_id = fields.Many2one(
        "res.company", required=True, index=True, readonly=True
    )
    picking_id = fields.Many2one(
        "stock.picking",
        string="Delivery",
        required=True,
        index=True,
        ondelete="cascade",
        readonly=True,
    )
    order_ref = fields.Char(
        string="Depositor Order Number",
        required=True,
        readonly=True,
        help="The delivery's reference, sent as the order's order_ref (X12: "
        "W05-02): the 3PL echoes it in its shipment events (945 W06-02).",
    )
    revision = fields.Integer(
        required=True,
        default=1,
        readonly=True,
        help="1 for the first document; each Resend after a failure is a "
        "new document, so a new revision and a new idempotency key.",
    )
    idempotency_key = fields.Char(
        required=True,
        readonly=True,
        help="Sent in the Idempotency-Key header: <connection code>:"
        "<delivery>:<revision>. Every retry of one revision sends the same "
        "key and the same body; the 3PL answers a replay with its first "
        "answer instead of making a second order.",
    )
    message_format = fields.Selection(
        [("json", "JSON"), ("x12", "X12 940")],
        string="Format",
        required=True,
        default="json",
        readonly=True,
        help="JSON to <API URL>/shipping_orders, or an X12 940 to <API URL>/edi "
        "for a connection whose protocol is X12.",
    )
    state = fields.Selection(
        STATES,
        required=True,
        default="pending",
        readonly=True,
        index=True,
        tracking=True,
        help="Pending: to be sent (or being retried after a timeout, an "
        "outage, a 429). Sent: the 3PL accepted it, or already had it (409). "
        "Failed: refused by the 3PL or unusable (see the error); a manager "
        "resends it once the cause is fixed. Cancelled: the delivery was "
        "cancelled before its order was sent.",
    )
    attempts = fields.Integer(
        readonly=True, help="Calls made to the 3PL for the current revision."
    )
    last_status = fields.Integer(
        string="Last HTTP Status",
        readonly=True,
        help="The 3PL's HTTP status at the last attempt (0: no answer, e.g. "
        "a timeout).",
    )
    response_excerpt = fields.Text(
        string="3PL Answer",
        readonly=True,
        help="The start of the 3PL's last answer, secrets removed.",
    )
    error_message = fields.Text(
        readonly=True, help="Why the last attempt did not succeed, secrets removed."
    )
    external_ref = fields.Char(
        string="3PL Order ID",
        readonly=True,
        help="The 3PL's id of the order, when its answer names one.",
    )
    payload = fields.Text(
        string="Payload Sent",
        readonly=True,
        help="The body sent (JSON or the X12 interchange), stored before the "
        "first attempt: every retry sends exactly it. No credentials are in it.",
    )
    control_number = fields.Integer(
        string="Interchange Control Number",
        readonly=True,
        help="X12: ISA13 and GS06 of the 940 sent, from the connection's "
        "counter (shared with its 997s).",
    )
    sent_at = fields.Datetime(string="Sent At", readonly=True)
    sending_until = fields.Datetime(
        readonly=True,
        help="An attempt is in flight until then: another job of this order "
        "waits instead of calling the 3PL at the same time.",
    )

    # -- the job -------------------------------------------------------------

    def _enqueue_send(self):
        jobs.enqueue("threepl_order", self)

    def _send(self):
        """Job: send the shipping order once (``services/threepl_outbound``)."""
        self.ensure_one()
        return threepl_outbound.send(self)

    def _claim(self, render):
        """One attempt's right to call, in a transaction of its own committed
        before the call (a retry or a failure rolls the job's back): the
        attempt counted and the lease taken, only if the order is pending and
        no other attempt is in flight; on the first attempt the body stored,
        ``render(control number)`` (the X12 control number taken from the
        connection's counter in the same transaction, so it is never
        reused). A :class:`~..services.threepl_outbound.Claim`."""
        self.ensure_one()
        now = fields.Datetime.now()
        with self.env.registry.cursor() as cr:
            cr.execute(
                SQL(
                    """
                    UPDATE stock_channel_threepl_order
                       SET attempts = attempts + 1, sending_until = %(until)s,
                           write_date = %(now)s, write_uid = %(uid)s
                     WHERE id = %(id)s AND state = 'pending'
                       AND (sending_until IS NULL OR sending_until < %(now)s)
                 RETURNING payload
                    """,
                    until=threepl_outbound.lease_until(now),
                    now=now,
                    uid=self.env.uid,
                    id=self.id,
                )
            )
            row = cr.fetchone()
            if row is None:
                cr.execute(
                    SQL(
                        "SELECT state, COALESCE(sending_until >= %s, FALSE)"
                        "  FROM stock_channel_threepl_order WHERE id = %s",
                        now,
                        self.id,
                    )
                )
                state, leased = cr.fetchone()
                return threepl_outbound.Claim(
                    None, state, leased and state == "pending"
                )
            payload = row[0]
            if not payload and render is None:
                # The job read a stored body that is gone (a Resend since):
                # nothing claimed, tried again on a fresh read.
                cr.rollback()
                return threepl_outbound.Claim(None, "pending", leased=True)
            if not payload:
                control = None
                if self.message_format == "x12":
                    connection = self.connection_id.with_env(self.env(cr=cr, su=True))
                    control = connection._next_ack_control_number()
                payload = render(control)
                cr.execute(
                    SQL(
                        "UPDATE stock_channel_threepl_order"
                        "   SET payload = %s, control_number = %s WHERE id = %s",
                        payload,
                        control,
                        self.id,
                    )
                )
        self.invalidate_recordset()
        return threepl_outbound.Claim(payload, "pending")

    def _write_outcome(self, vals, todo=None):
        """An attempt's outcome (and a to-do: ``(summary, note)``), in a
        transaction of its own: the job's is rolled back when it retries or
        fails, and the claim committed after its snapshot was taken."""
        self.ensure_one()
        with self.env.registry.cursor() as cr:
            order = self.with_env(self.env(cr=cr, su=True))
            order.write(vals)
            if todo:
                order._schedule_todo(*todo)
        self.invalidate_recordset()
        if todo:
            self.invalidate_recordset(["activity_ids"])

    def _record(self, vals):
        """An outcome in the current transaction. sudo(): orders are
        read-only to every user (what was sent is never edited over
        JSON-RPC); only the job, the delivery hook and *Resend* record, on
        these records."""
        self.sudo().write(vals)

    def _schedule_todo(self, summary, note):
        """One to-do per summary for the connection's technical user (sudo:
        the order is read-only, see :meth:`_record`)."""
        for order in self.sudo():
            if not order.activity_ids.filtered(lambda a, s=summary: a.summary == s):
                order.activity_schedule(
                    "mail.mail_activity_data_todo",
                    summary=summary,
                    note=note,
                    user_id=order.connection_id.user_id.id,
                )

    @api.model
    def _flush_pickings(self):
        """Precommit hook of ``stock.picking._compute_state``'s collection."""
        threepl_outbound.flush(self.env)

    # -- actions -------------------------------------------------------------

    def action_resend(self):
        """Managers: send a failed order again, once its cause is fixed
        (an address, a SKU, the 3PL's configuration): a new revision, so a
        new document built from the delivery as it is now and a new
        idempotency key; the to-dos of the old one are closed."""
        if not self.env.user.has_group(MANAGER_GROUP):
            raise UserError(
                self.env._("Only Channel Sync managers can resend shipping orders.")
            )
        failed = self.filtered(lambda o: o.state == "failed")
        for order in failed:
            revision = order.revision + 1
            order._record(
                {
                    "revision": revision,
                    "idempotency_key": threepl_outbound.idempotency_key(
                        order.connection_id.code, order.order_ref, revision
                    ),
                    "message_format": threepl_outbound.message_format(
                        order.connection_id.protocol
                    ),
                    "state": "pending",
                    "attempts": 0,
                    "payload": False,
                    "control_number": False,
                    "last_status": False,
                    "response_excerpt": False,
                    "error_message": False,
                    "sending_until": False,
                }
            )
        failed.sudo().activity_ids.action_feedback(
            feedback=self.env._("Resent as a new revision")
        )
        failed._enqueue_send()

    def action_view_picking(self):
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "res_model": "stock.picking",
            "res_id": self.picking_id.id,
            "view_mode": "form",
        }
