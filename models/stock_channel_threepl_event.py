from odoo import fields, models
from odoo.exceptions import UserError

from ..services import jobs
from ..services.retries import retry_contention
from ..services.threepl_apply import apply_event
from ..services.threepl_errors import EventError, EventWaiting


class StockChannelThreeplEvent(models.Model):
    """One inventory event of a 3PL, stored once per (connection, type,
    business id) whatever the number of deliveries, and applied once by a
    job as the connection's technical user."""

    _name = "stock.channel.threepl.event"
    _inherit = [
        "mail.thread",
        "mail.activity.mixin",
        "stock.channel.threepl.owned.mixin",
    ]
    _description = "3PL Inventory Event"
    _order = "occurred_at desc, id desc"
    _rec_name = "business_id"
    _sql_constraints = [
        (
            "connection_kind_business_uniq",
            "UNIQUE (connection_id, kind, business_id)",
            "A 3PL event is stored once per connection, type and id.",
        ),
    ]

    kind = fields.Selection(
        [
            ("adjustment", "Adjustment"),
            ("goods_received", "Goods Received"),
            ("shipment_dispatched", "Shipment Dispatched"),
        ],
        string="Type",
        required=True,
        readonly=True,
    )
    business_id = fields.Char(
        string="Event ID",
        required=True,
        readonly=True,
        help="The 3PL's own id of the event: what makes it stored once.",
    )
    occurred_at = fields.Datetime(
        string="Occurred At", required=True, readonly=True, index=True
    )
    received_at = fields.Datetime(readonly=True)
    product_id = fields.Many2one("product.product", readonly=True, index=True)
    sku = fields.Char(string="SKU", readonly=True)
    quantity = fields.Float(readonly=True, digits="Product Unit of Measure")
    reason_code = fields.Char(readonly=True)
    order_ref = fields.Char(
        string="Order Reference",
        readonly=True,
        index=True,
        help="Goods received and shipments: the Odoo receipt or delivery the "
        "3PL names (its reference, e.g. WH/IN/00004, or its source document, "
        "e.g. the purchase or sale order).",
    )
    carrier = fields.Char(
        readonly=True, help="Shipments: the carrier the 3PL shipped with."
    )
    tracking_ref = fields.Char(
        string="Tracking Reference",
        readonly=True,
        help="Shipments: the carrier's tracking number, sent on to the sales "
        "channels with the shipment.",
    )
    payload = fields.Text(readonly=True, help="The event as the 3PL sent it (JSON).")
    state = fields.Selection(
        [
            ("received", "Received"),
            ("waiting", "Waiting"),
            ("done", "Applied"),
            ("superseded", "Included in Snapshot"),
            ("error", "Error"),
        ],
        required=True,
        default="received",
        readonly=True,
        index=True,
        help="Received: stored, its job pending. Waiting: it needs what "
        "another event brings first (a release before its hold, a shipment "
        "before its receipt); tried again whenever this connection applies "
        "an event, and hourly. Applied: booked. Included in Snapshot: an "
        "adjustment older than a snapshot already applied, which counted it "
        "(booking it would count it twice). Error: refused; see the to-do.",
    )
    waiting_since = fields.Datetime(readonly=True)
    error_message = fields.Text(readonly=True)
    applied_at = fields.Datetime(readonly=True)
    move_ids = fields.Many2many(
        "stock.move", string="Stock Moves", readonly=True, copy=False
    )
    picking_id = fields.Many2one(
        "stock.picking",
        string="Transfer",
        compute="_compute_picking_id",
        help="Goods received and shipments: the receipt or delivery the event "
        "validated.",
    )

    def _compute_picking_id(self):
        for event in self:
            event.picking_id = event.move_ids.picking_id[:1]

    def _enqueue_apply(self):
        jobs.enqueue("threepl_event", self)

    def _apply(self):
        """Job: apply the event as a real stock operation, once. Stock
        contention is retried without limit; a permanent problem (an
        unknown product, a hold without hold location) puts the event in
        Error with a to-do for the connection's technical user."""
        self.ensure_one()
        if self._locked_state() != "received":
            return f"nothing to do: {self.state}"
        if self._counted_by_applied_snapshot():
            self._record({"state": "superseded", "error_message": False})
            return "included in the last applied snapshot"
        try:
            with self.env.cr.savepoint():
                moves = apply_event(self)
        except EventWaiting as exc:
            self._record(
                {
                    "state": "waiting",
                    "error_message": str(exc),
                    "waiting_since": self.waiting_since or fields.Datetime.now(),
                }
            )
            return f"waiting: {exc}"
        except EventError as exc:
            self._record({"state": "error", "error_message": str(exc)})
            self._schedule_todo(str(exc))
            return f"error: {exc}"
        except Exception as exc:
            retry_contention(exc, self.create_date)
        self._record(
            {
                "state": "done",
                "applied_at": fields.Datetime.now(),
                "error_message": False,
                "move_ids": [fields.Command.set(moves.ids)],
            }
        )
        woken = self._wake_waiting()
        return f"applied: {len(moves)} move(s), {len(woken)} waiting event(s) woken"

    def _counted_by_applied_snapshot(self):
        """An adjustment that happened before the last snapshot booked with
        the *apply* policy: the 3PL's count already holds it."""
        applied_at = self.connection_id.last_applied_snapshot_at
        return bool(
            self.kind == "adjustment" and applied_at and self.occurred_at <= applied_at
        )

    def _wake_waiting(self):
        """Waiting events of this connection, back to Received with a job
        each: what they waited for may have just been booked. One UPDATE;
        an event still short of what it needs simply waits again."""
        self.env.cr.execute(
            "UPDATE stock_channel_threepl_event SET state = 'received'"
            " WHERE connection_id = %s AND state = 'waiting' AND id != %s"
            " RETURNING id",
            [self.connection_id.id, self.id],
        )
        woken = self.browse([row[0] for row in self.env.cr.fetchall()])
        woken.invalidate_recordset(["state"])
        woken._enqueue_apply()
        return woken

    def _cron_retry_waiting(self):
        """Hourly: every waiting event tried again (what it waits for may
        have come by another way, a receipt validated by hand); one to-do
        per event waiting for more than a day."""
        waiting = self.sudo().search([("state", "=", "waiting")])
        stale = waiting.filtered(
            lambda e: e.waiting_since
            and e.waiting_since
            < fields.Datetime.subtract(fields.Datetime.now(), days=1)
        )
        for event in stale:
            event._schedule_todo(
                self.env._(
                    "Waiting since %(since)s: %(reason)s",
                    since=event.waiting_since,
                    reason=event.error_message,
                )
            )
        waiting._record({"state": "received"})
        # Each job runs as its connection's technical user (services/jobs.py).
        waiting._enqueue_apply()

    def _locked_state(self):
        """The event's state, its row locked for the rest of the job: the
        same event's job run twice at once (a requeue beside a run) waits
        here, then fails to serialize (queue_job retries it) and finds it
        applied, instead of booking the moves twice."""
        self.flush_recordset(["state"])
        self.env.cr.execute(
            "SELECT state FROM stock_channel_threepl_event WHERE id = %s FOR UPDATE",
            [self.id],
        )
        self.invalidate_recordset(["state"])
        return self.env.cr.fetchone()[0]

    def _record(self, vals):
        """The event's outcome. sudo(): events are read-only to every user
        (what the 3PL said is never edited over JSON-RPC); only the apply
        job and Reprocess record an outcome, on this one record."""
        self.sudo().write(vals)

    def _schedule_todo(self, reason):
        """One to-do per event for the connection's technical user (sudo:
        the event is read-only, see :meth:`_record`)."""
        summary = self.env._("3PL event %s could not be applied", self.business_id)
        if not self.activity_ids.filtered(lambda a: a.summary == summary):
            self.sudo().activity_schedule(
                "mail.mail_activity_data_todo",
                summary=summary,
                note=reason,
                user_id=self.connection_id.user_id.id,
            )

    def action_reprocess(self):
        """Managers: apply an event in Error again (after fixing the cause),
        or a waiting one now."""
        if not self.env.user.has_group("stock_channel_sync.group_channel_manager"):
            raise UserError(self.env._("Only Channel Sync managers can reprocess."))
        again = self.filtered(lambda e: e.state in ("error", "waiting"))
        again._record({"state": "received", "error_message": False})
        again._enqueue_apply()
