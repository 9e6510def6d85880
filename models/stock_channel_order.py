import json
import uuid

from psycopg2.errors import SerializationFailure

from odoo import api, fields, models
from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.tools import SQL

from odoo.addons.queue_job.exception import RetryableJobError

from ..adapters import ADAPTERS
from ..services import shipments
from ..services.payloads import InvalidOrder, validate_order, validate_reference
from ..services.retries import (
    contention_delay,
    is_contention,
)
from ..services.sale_order_builder import SaleOrderBuilder

# Failures a retry cannot fix: the order goes to 'error' for a human.
PERMANENT_ERRORS = (UserError, ValidationError, AccessError)


class StockChannelOrder(models.Model):
    """One marketplace order delivery, stored exactly once per
    (channel, external id) whatever the number of deliveries."""

    _name = "stock.channel.order"
    _inherit = ["mail.thread", "mail.activity.mixin"]
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

    channel_id = fields.Many2one(
        "stock.channel", required=True, index=True, ondelete="restrict"
    )
    company_id = fields.Many2one(related="channel_id.company_id", store=True)
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
    payload = fields.Text(help="The order as the channel sent it, kept for audit.")
    canonical_order = fields.Json(
        readonly=True,
        help="The order translated by the channel's adapter and validated at "
        "intake: what processing reads, whatever the marketplace.",
    )
    correlation_id = fields.Char(index=True)
    customer_name = fields.Char()
    customer_email = fields.Char()
    currency_id = fields.Many2one("res.currency")
    line_ids = fields.One2many("stock.channel.order.line", "order_id", string="Lines")
    error_message = fields.Text(readonly=True)
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
    def _receive(self, channel, event, body):
        """One authenticated order webhook of ``channel``: the JSON is
        parsed once, then handled by ``event`` (an adapter's
        ``order_event``). Returns ``(HTTP status, JSON answer)``; nothing is
        written for an error answer."""
        handlers = {
            "create": self._intake,
            "cancel": self._intake_cancellation,
            "update": self._intake_update,
        }
        if event not in handlers:
            return 400, {"error": "unsupported_event"}
        try:
            data = json.loads(body)
        except (UnicodeDecodeError, ValueError):
            return 400, {"error": "invalid_json"}
        return handlers[event](channel, body, data)

    @api.model
    def _intake(self, channel, body, data):
        """Accept one order: validate completely, store once; 202 (or 201
        when processed at once) is the only answer that writes.

        The hot path of a burst: a replay is answered from one query, and a
        new order costs four statements plus its job. Marketplaces retry
        every delivery, so most posts are replays."""
        try:
            order = validate_order(ADAPTERS[channel.adapter].to_canonical(data))
            stored = self._stored_delivery(self.env.cr, channel, order["external_id"])
            if stored:
                return 200, stored
            lines, currency = self._resolve(channel, order)
        except InvalidOrder as exc:
            return 422, {"error": "invalid_order", "details": exc.details}
        order_id = self._insert_once(channel, order, currency, body)
        if order_id is None:
            # A concurrent delivery committed it after this request began:
            # only a new snapshot sees it.
            with self.env.registry.cursor() as cr:
                return 200, self._stored_delivery(cr, channel, order["external_id"])
        self._insert_lines(channel, order_id, lines)
        self._mark_promised(channel, {line["product_id"] for line in lines})
        record = self.with_company(channel.company_id).browse(order_id)
        if channel.order_processing == "sync":
            record._process()
            return 201, dict(record._answer_status(), status="created")
        record._delay_processing(order["external_id"])
        return 202, {
            "status": "accepted",
            "external_id": order["external_id"],
            "id": order_id,
        }

    @api.model
    def _stored_delivery(self, cr, channel, external_id):
        """The duplicate answer for an order already stored, or None."""
        cr.execute(
            SQL(
                "SELECT id, state FROM stock_channel_order"
                " WHERE channel_id = %s AND external_id = %s",
                channel.id,
                external_id,
            )
        )
        row = cr.fetchone()
        if not row:
            return None
        return {
            "status": "duplicate",
            "external_id": external_id,
            "state": row[1],
            "order": row[0],
        }

    @api.model
    def _resolve(self, channel, order):
        """Lines with products (through the channel's active listings, then
        the internal reference of a storable product of the channel's
        company) and the currency; every unknown at once. Two queries,
        company filtered explicitly like the record rules would."""
        company_id = channel.company_id.id
        skus = [line["sku"] for line in order["lines"]]
        self.env["stock.channel.listing"].flush_model()
        self.env.cr.execute(
            SQL(
                """
                SELECT s.sku, l.id, COALESCE(l.product_id, p.id),
                       COALESCE(l.pack_size, 1.0)
                  FROM unnest(%s::varchar[]) AS s(sku)
             LEFT JOIN stock_channel_listing l
                    ON l.channel_id = %s AND l.active AND l.external_sku = s.sku
             LEFT JOIN LATERAL (
                       SELECT pp.id
                         FROM product_product pp
                         JOIN product_template pt ON pt.id = pp.product_tmpl_id
                        WHERE l.id IS NULL AND pp.default_code = s.sku
                          AND pp.active AND pt.is_storable
                          AND (pt.company_id IS NULL OR pt.company_id = %s)
                     ORDER BY pp.id
                        LIMIT 1) p ON TRUE
                """,
                skus,
                channel.id,
                company_id,
            )
        )
        found = {sku: row for sku, *row in self.env.cr.fetchall()}
        self.env.cr.execute(
            SQL(
                """SELECT (SELECT id FROM res_currency WHERE name = %s),
                          (SELECT active FROM res_currency WHERE name = %s),
                          EXISTS(SELECT FROM res_country WHERE code = %s)""",
                order["currency"] or "",
                order["currency"] or "",
                order["shipping_address"].get("country_code") or "",
            )
        )
        currency_id, currency_active, country_known = self.env.cr.fetchone()
        errors, lines = [], []
        for index, line in enumerate(order["lines"]):
            listing_id, product_id, pack = found[line["sku"]]
            if not product_id:
                errors.append(
                    {
                        "field": f"lines[{index}].sku",
                        "message": f"unknown SKU '{line['sku']}'",
                    }
                )
                continue
            lines.append(
                {
                    "listing_id": listing_id,
                    "product_id": product_id,
                    "sku": line["sku"],
                    "channel_qty": line["quantity"],
                    "product_qty": line["quantity"] * pack,
                    "unit_price": line["unit_price"],
                }
            )
        currency = channel.company_id.currency_id
        if order["currency"]:
            currency = self.env["res.currency"].browse(currency_id)
            if not currency_active:
                message = (
                    "unknown currency '%s'"
                    if not currency_id
                    else "currency '%s' is not active in Odoo"
                )
                errors.append(
                    {"field": "currency", "message": message % order["currency"]}
                )
        country = order["shipping_address"].get("country_code")
        if country and not country_known:
            errors.append(
                {
                    "field": "shipping_address.country_code",
                    "message": f"unknown country '{country}'",
                }
            )
        if errors:
            raise InvalidOrder(errors)
        return lines, currency

    @api.model
    def _insert_once(self, channel, order, currency, body, state="received"):
        """INSERT ... ON CONFLICT DO NOTHING under the unique index: a
        concurrent duplicate waits on the index. If the first delivery commits
        after this transaction's snapshot, PostgreSQL reports a serialization
        failure, which here means "stored by the other request" (and not
        Odoo's retry of the whole request, which sleeps up to seconds).
        Returns the new id or None."""
        customer = order["customer"]
        query = SQL(
            """
            INSERT INTO stock_channel_order
                   (channel_id, company_id, external_id, state,
                    shipment_state, payload, canonical_order, correlation_id,
                    customer_name, customer_email, currency_id, create_uid,
                    write_uid, create_date, write_date)
            VALUES (%s, %s, %s, %s, 'none', %s, %s::jsonb, %s, %s, %s, %s,
                    %s, %s,
                    now() at time zone 'UTC', now() at time zone 'UTC')
            ON CONFLICT (channel_id, external_id) DO NOTHING
            RETURNING id
            """,
            channel.id,
            channel.company_id.id,
            order["external_id"],
            state,
            body.decode(),
            json.dumps(order) if order.get("lines") else None,
            uuid.uuid4().hex[:16],
            customer.get("name") or customer.get("email"),
            customer.get("email"),
            currency.id,
            self.env.uid,
            self.env.uid,
        )
        try:
            with self.env.cr.savepoint(flush=False):
                self.env.cr.execute(query, log_exceptions=False)
                row = self.env.cr.fetchone()
        except SerializationFailure:
            return None
        return row[0] if row else None

    @api.model
    def _insert_lines(self, channel, order_id, lines):
        """The resolved lines, in one statement."""
        self.env.cr.execute(
            SQL(
                """INSERT INTO stock_channel_order_line
                          (order_id, company_id, listing_id, product_id, sku,
                           channel_qty, product_qty, unit_price, create_uid,
                           write_uid, create_date, write_date)
                   VALUES %s""",
                SQL(", ").join(
                    SQL(
                        "(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s,"
                        " now() at time zone 'UTC', now() at time zone 'UTC')",
                        order_id,
                        channel.company_id.id,
                        line["listing_id"],
                        line["product_id"],
                        line["sku"],
                        line["channel_qty"],
                        line["product_qty"],
                        line["unit_price"],
                        self.env.uid,
                        self.env.uid,
                    )
                    for line in lines
                ),
            )
        )

    @api.model
    def _intake_update(self, channel, body, data):
        """An order changed on the marketplace (WooCommerce's order.updated):
        a cancellation is carried out, anything else is acknowledged and
        ignored (Odoo owns the order from intake on)."""
        if ADAPTERS[channel.adapter].is_cancelled(data):
            return self._intake_cancellation(channel, body, data)
        return 200, {"status": "ignored", "reason": "not a cancellation"}

    @api.model
    def _intake_cancellation(self, channel, body, data):
        """The marketplace cancelled an order (Shopify's orders/cancelled).

        Webhooks arrive in any order: the cancellation of an order not
        received yet is stored as a cancelled order, so that its late
        creation is a duplicate and never becomes a sale order. A
        cancellation after shipping cannot be carried out here: it is
        acknowledged (a refused webhook is retried for hours) and the
        channel's responsible gets a to-do."""
        try:
            canonical = ADAPTERS[channel.adapter].to_canonical(data)
            external_id = validate_reference(canonical)
        except InvalidOrder as exc:
            return 422, {"error": "invalid_order", "details": exc.details}
        order = self.search(
            [("channel_id", "=", channel.id), ("external_id", "=", external_id)]
        )
        if not order:
            order_id = self._insert_once(
                channel,
                {
                    "external_id": external_id,
                    "customer": canonical.get("customer") or {},
                },
                channel.company_id.currency_id,
                body,
                state="cancelled",
            )
            if order_id is None:
                # Its creation is being stored right now: ask for a retry.
                return 409, {"error": "concurrent_delivery"}
            return 200, dict(self.browse(order_id)._answer_status(), status="cancelled")
        status, answer = order._cancel_from_channel()
        if status == 409:
            order._schedule_todo(
                self.env._(
                    "Order %s was cancelled on the channel after shipping", external_id
                ),
                self.env._("Arrange the return or refund with the customer."),
            )
            return 200, dict(order._answer_status(), status="already_shipped")
        return status, answer

    @api.model
    def _mark_promised(self, channel, product_ids):
        """Accepted lines lower the ATP of every channel sharing a warehouse
        with this one: mark their listings of these products."""
        self.env["stock.channel.listing"]._mark_pending(
            SQL(
                """l.active AND l.product_id = ANY(%s) AND l.channel_id IN (
                    SELECT other.channel_id
                      FROM stock_channel_warehouse_rel other
                      JOIN stock_channel_warehouse_rel mine
                        ON mine.warehouse_id = other.warehouse_id
                     WHERE mine.channel_id = %s)""",
                list(product_ids),
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
            "error": self.error_message or None,
        }

    # -- processing ----------------------------------------------------------

    def _enqueue_processing(self):
        for order in self:
            order.with_company(order.company_id)._delay_processing(
                order.external_id,
                identity_key=f"stock_channel_sync.process.{order.id}",
            )

    def _delay_processing(self, external_id, identity_key=None):
        """One confirmation job. A fresh order needs no identity key (it is
        inserted once, so it is enqueued once), which spares intake a
        lookup; _process ignores an order that is no longer 'received'."""
        self.ensure_one()
        self.with_delay(
            description=self.env._("Confirm channel order %s", external_id),
            identity_key=identity_key,
        )._process()

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

    def action_cancel(self):
        """Cancel from Odoo, with the same rules as the channel's request."""
        for order in self:
            status, answer = order._cancel_from_channel()
            if status == 409:
                raise UserError(answer["message"])

    def _cancel_from_channel(self):
        """Cancel unless something shipped: ``(HTTP status, JSON answer)``."""
        self.ensure_one()
        if self.state == "cancelled":
            return 200, dict(self._answer_status(), status="cancelled")
        sale = self.sale_order_id
        shipped = sale.picking_ids.filtered(
            lambda p: p.state == "done" and p.picking_type_code == "outgoing"
        )
        if shipped:
            return 409, {
                "error": "already_shipped",
                "message": self.env._(
                    "Order %s has shipped: it cannot be cancelled.", self.external_id
                ),
            }
        if sale and sale.state != "cancel":
            # Odoo's public cancel (its checks and overrides), without the
            # wizard meant for a salesperson: the marketplace already told
            # the customer. A locked order (Sales setting) is unlocked first:
            # the marketplace's cancellation wins over the lock.
            if sale.locked:
                sale.action_unlock()
            sale.with_context(disable_cancel_warning=True).action_cancel()
        self.write({"state": "cancelled"})
        return 200, dict(self._answer_status(), status="cancelled")

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
            if not is_contention(exc):
                raise
            waited = (fields.Datetime.now() - self.create_date).total_seconds()
            raise RetryableJobError(
                f"stock is busy ({type(exc).__name__}): retrying",
                seconds=contention_delay(waited),
                ignore_retry=True,
            ) from exc
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
