from odoo import api, fields, models
from odoo.exceptions import UserError

from odoo.addons.queue_job.exception import RetryableJobError

from ..adapters.base import PermanentError, TransientError
from ..services import return_guard, return_intake, return_receipts
from ..services.retries import retry_contention
from ..services.return_payloads import InvalidReturn, validate_return
from .stock_channel_order import PERMANENT_ERRORS


class StockChannelOrder(models.Model):
    """The returns and refunds of a channel order, and their jobs."""

    _inherit = "stock.channel.order"

    return_ids = fields.One2many(
        "stock.channel.return", "order_id", string="Returns", readonly=True
    )
    return_count = fields.Integer(compute="_compute_return_count")

    @api.depends("return_ids")
    def _compute_return_count(self):
        for order in self:
            order.return_count = len(order.return_ids)

    def action_view_returns(self):
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Returns"),
            "res_model": "stock.channel.return",
            "view_mode": "list,form",
            "domain": [("order_id", "=", self.id)],
        }

    def _receive_return(self, body):
        """The generic contract's return of this order (the order as the
        channel's technical user): an :class:`~..services.order_intake.Outcome`."""
        self.ensure_one()
        return return_intake.receive_generic(self, body)

    def _process_return(self, return_id):
        """Job: the return's stock work, all or nothing. Contention retries
        without limit, like order confirmation; what a retry cannot fix puts
        the return in error, for the channel's responsible."""
        self.ensure_one()
        channel_return = self.env["stock.channel.return"].browse(return_id)
        if channel_return.state != "received":
            return f"nothing to do: {channel_return.state}"
        try:
            with self.env.cr.savepoint():
                return_receipts.process(channel_return)
        except PERMANENT_ERRORS as exc:
            with return_guard.trusted():
                channel_return.write({"state": "error", "error_message": str(exc)})
            self._schedule_todo(
                self.env._(
                    "Return %s could not be processed", channel_return.external_id
                ),
                str(exc),
            )
            return f"error: {exc}"
        except Exception as exc:
            retry_contention(exc, channel_return.create_date)
        receipts = ", ".join(channel_return.picking_ids.mapped("name")) or "none"
        return f"return {channel_return.external_id}: receipts {receipts}"

    # -- WooCommerce refunds -------------------------------------------------

    def _read_refunds(self):
        """Job: read the order's refunds from the marketplace and store each
        one not known yet, once per refund id. A refund that is invalid or
        that the order cannot take (a quantity never ordered) gets a to-do
        for the channel's responsible, with the reasons, and is skipped:
        the others still count."""
        self.ensure_one()
        adapter = self.channel_id._get_adapter()
        try:
            refunds = adapter.fetch_refunds(self.external_id, self.correlation_id or "")
        except TransientError as exc:
            raise RetryableJobError(str(exc), seconds=exc.retry_after) from exc
        except PermanentError as exc:
            raise UserError(str(exc)) from exc
        known = return_intake.known_returns(
            self.env.cr, self.channel_id, [r["return_id"] for r in refunds]
        )
        results = []
        for refund in refunds:
            if refund["return_id"] in known:
                continue
            if not refund["lines"]:
                # An amount refunded (shipping, a gesture): known from now on.
                return_intake.record_amount_only(self, refund["return_id"])
                results.append(f"{refund['return_id']}: amount only")
                continue
            try:
                canonical = validate_return(refund)
            except InvalidReturn as exc:
                results.append(self._refund_refused(refund["return_id"], exc.details))
                continue
            outcome = return_intake.store(self, canonical, self.channel_id.adapter)
            if outcome.kind == "invalid_return":
                details = outcome.answer["details"]
                results.append(self._refund_refused(canonical["return_id"], details))
                continue
            results.append(f"{canonical['return_id']}: {outcome.kind}")
        return "; ".join(results) or "no new refund"

    def _refund_refused(self, refund_id, details):
        """A refund the marketplace holds and Odoo cannot store: one to-do
        on the order (however often it is read again) naming every problem,
        and the job's result line."""
        reasons = "; ".join(
            f"{d['field']}: {d['message']}" if d.get("field") else d["message"]
            for d in details
        )
        self._schedule_todo(
            self.env._(
                "Refund %(refund)s of channel order %(order)s was refused",
                refund=refund_id,
                order=self.external_id,
            ),
            self.env._(
                "Odoo did not record this refund: %(reasons)s. Check it on the "
                "marketplace and handle its stock and credit by hand.",
                reasons=reasons,
            ),
        )
        return f"{refund_id}: refused ({reasons})"
