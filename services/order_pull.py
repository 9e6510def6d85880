"""Pulled orders: the orders a channel changed since its watermark, listed
through its adapter and handed to the same intake as a posted order.

A safety net behind the webhooks (a marketplace gives up on a delivery
after hours of failures) and the only way in for a marketplace that posts
nothing. Each pulled order is in the JSON shape its webhook would have
carried, so validation, exactly-once storage on the marketplace's order id,
promised demand and the processing job are the webhook's own: an order that
arrives both ways is stored once, whichever comes first.

Reading. Every pull reads from the watermark minus :data:`OVERLAP`: an order
a marketplace shows late with a change at or before the watermark (the
marketplaces filter on whole seconds; Amazon shows changes up to two minutes
late) is read by the next pull. The orders stored already come back as
duplicates, recognised with one query per page: no intake, no job. Paging
never skips an order that changes while the pages are read (each adapter's
``fetch_orders`` says how).

Transactions. One pull per channel at a time (a transaction-level advisory
lock the job holds). Each page is a transaction of its own: its listing
request, the lookup of its stored orders, the intake of the new ones and
the watermark, committed when the page is done. A failure rolls back that
page only, and the retry starts from the watermark the pages before it
left. Nothing in a page takes stock locks: a new order is confirmed by its
processing job even on a channel that confirms synchronously, and a stored
order the marketplace cancelled is cancelled by a job of its own.

Watermark (``orders_pulled_until``). After each page it moves to what the
listing says has been read (``OrderPage.read_until``), never back, and never
past an order the intake could not store for a passing reason (one being
stored by a concurrent delivery). An order the intake refuses (it fails
validation: an unknown SKU, currency, country) does not hold it: it is kept
as a ``stock.channel.order.refusal`` with its error, for managers to see
(one to-do for the channel's responsible when it is first refused, a
health figure), and tried again at the end of every later pull until it
is stored (its cause fixed) or dismissed; a newer version of it listed by
a pull replaces it. Its stored order is cleared after the payload
retention; it is then tried again only when a pull lists it again.

Cancellations. A stored order listed cancelled gets one cancellation job
(its identity key coalesces the pulls while it waits); once it ran, the
order is cancelled or, shipped, marked handled (``channel_cancelled_at``,
with its to-do): the pulls that list it again enqueue nothing.
"""

import json
import logging
import uuid
from collections import Counter
from contextlib import contextmanager
from datetime import timedelta

from odoo import fields
from odoo.tools import SQL

from . import channel_lock, jobs, order_intake
from .return_intake import known_returns

_logger = logging.getLogger(__name__)

# How far before the watermark every pull reads again.
OVERLAP = timedelta(minutes=5)
# Outcomes of an order stored by this pull (not already there): recovered.
RECOVERED = ("accepted", "created")
# A pull that pages through more than this stops; the next one continues
# from the watermark (a safeguard against a marketplace that pages forever).
MAX_PAGES = 200
# Refused orders tried again at the end of one pull, least recently first.
MAX_RETRIED_REFUSALS = 50
# pg_try_advisory_xact_lock(PULL_LOCK, channel id): one pull per channel.
PULL_LOCK = 18_0318


def pull(channel, job_uuid=None):
    """Pull ``channel``'s orders (the channel as its technical user, in its
    company); returns a summary for the job's result."""
    channel.ensure_one()
    if not channel_lock.try_lock(channel.env.cr, PULL_LOCK, channel.id):
        return "another pull of this channel is running: nothing done"
    return Pull(channel, job_uuid).run()


class StoredOrders:
    """Which listed orders are stored already, in which state, and whether
    the marketplace's cancellation of each was handled already: one query
    per page (the adapter may ask first, for part of the page)."""

    def __init__(self, channel):
        self.channel = channel
        self.states = {}
        self.cancel_handled = set()
        self.asked = set()

    def __call__(self, external_ids):
        missing = {str(i) for i in external_ids} - self.asked
        if missing:
            orders = self.channel.env["stock.channel.order"]
            orders.flush_model(["state", "channel_cancelled_at"])
            orders.env.cr.execute(
                SQL(
                    "SELECT external_id, state, channel_cancelled_at IS NOT NULL"
                    "  FROM stock_channel_order"
                    " WHERE channel_id = %s AND external_id = ANY(%s)",
                    self.channel.id,
                    sorted(missing),
                )
            )
            for external_id, state, handled in orders.env.cr.fetchall():
                self.states[external_id] = state
                if handled:
                    self.cancel_handled.add(external_id)
            self.asked |= missing
        return {str(i) for i in external_ids} & set(self.states)


class Pull:
    """One pull of one channel: its pages, counts and watermark."""

    def __init__(self, channel, job_uuid):
        self.channel = channel
        self.adapter = channel._get_adapter()
        self.correlation_id = (job_uuid or uuid.uuid4().hex)[:16]
        self.counts = Counter()
        self.pages = 0
        self.latest = None  # the latest change listed
        self.blocked_at = None  # the earliest change of an order not stored
        self.watermark = None
        self.listed = set()  # external ids listed by this pull
        self.refused = []  # external ids refused by this pull
        self.unstored = []  # external ids not stored for now
        self.refusals = set()  # external ids with a refusal kept
        self.refused_versions = set()  # (external id, change) refused now

    @contextmanager
    def _transaction(self):
        """The channel in a transaction of its own, committed when the block
        ends (rolled back if it raises): what a page stored is kept whatever
        happens to the pages after it."""
        with self.channel.env.registry.cursor() as cr:
            yield self.channel.with_env(self.channel.env(cr=cr))

    def run(self):
        with self._transaction() as channel:
            self.watermark = channel.orders_pulled_until or channel.create_date
            refusals = channel.env["stock.channel.order.refusal"]
            self.refusals = set(
                refusals.search([("channel_id", "=", channel.id)]).mapped("external_id")
            )
        since = self.watermark - OVERLAP
        cursor = None
        while self.pages < MAX_PAGES:
            with self._transaction() as channel:
                stored = StoredOrders(channel)
                page = self.adapter.fetch_orders(
                    since, cursor, self.correlation_id, known=stored
                )
                self.pages += 1
                self._intake(channel, page, stored)
                if page.next_cursor:
                    self._advance(channel, page.read_until)
                else:
                    self._advance(channel, max_of(page.read_until, self.latest))
            cursor = page.next_cursor
            if not cursor:
                break
        if self.refusals - self.listed:
            with self._transaction() as channel:
                self._retry_refusals(channel)
        return self._summary()

    # -- one page ---------------------------------------------------------

    def _intake(self, channel, page, stored):
        """The page's orders: the stored ones recognised from ``stored``
        (a cancellation of one becomes its cancellation job, once: not
        again when it is cancelled already or its cancellation was handled,
        a shipped order's to-do), the others through the intake, a
        synchronous confirmation deferred to its job."""
        orders = channel.env["stock.channel.order"].with_context(
            **{order_intake.DEFER_PROCESSING: True}
        )
        stored([pulled.external_id for pulled in page.orders])
        recovered, cancels, with_refunds, settled, refused = [], [], [], [], []
        for pulled in page.orders:
            self.latest = max_of(self.latest, pulled.updated_at)
            self.listed.add(pulled.external_id)
            state = stored.states.get(pulled.external_id)
            if pulled.action == "ignore":
                self.counts["ignored"] += 1
                settled.append(pulled.external_id)
                continue
            if state is not None:
                if (
                    pulled.action == "cancel"
                    and state != "cancelled"
                    and pulled.external_id not in stored.cancel_handled
                ):
                    cancels.append(pulled.external_id)
                    self.counts["cancel_queued"] += 1
                else:
                    self.counts["duplicate"] += 1
                    with_refunds.append(pulled)
                settled.append(pulled.external_id)
                continue
            version = (pulled.external_id, pulled.updated_at)
            if version in self.refused_versions:
                continue  # listed again at a page boundary: refused already
            body = json.dumps(pulled.payload).encode()
            outcome = order_intake.handle(orders, channel, pulled.action, body)
            self.counts[outcome.kind] += 1
            if outcome.kind in RECOVERED:
                recovered.append(outcome.answer.get("id") or outcome.answer["order"])
            if outcome.kind in order_intake.WRITTEN:
                settled.append(pulled.external_id)
                with_refunds.append(pulled)
            elif outcome.kind == "invalid_order":
                refused.append((pulled, outcome.answer))
                self.refused_versions.add(version)
            else:
                self.blocked_at = min(
                    self.blocked_at or pulled.updated_at, pulled.updated_at
                )
                self.unstored.append(pulled.external_id)
        _mark_pulled(channel, recovered)
        _check_refunds(channel, orders, with_refunds)
        _enqueue_cancellations(channel, cancels)
        self._settle_refusals(channel, settled)
        self._keep_refusals(channel, refused)

    def _advance(self, channel, until):
        """The watermark to ``until`` (what the listing has read so far),
        not past an order not stored, not past the present (a marketplace
        clock ahead of Odoo's: those orders are read again, as duplicates),
        never back."""
        if until is None:
            return
        until = min(until, fields.Datetime.now())
        if self.blocked_at is not None:
            until = min(until, self.blocked_at - timedelta(seconds=1))
        current = channel.orders_pulled_until
        if not current or until > current:
            channel.orders_pulled_until = until
        self.watermark = channel.orders_pulled_until or self.watermark

    # -- refused orders -----------------------------------------------------

    def _keep_refusals(self, channel, refused):
        """Keep each refused order with its error (the latest version listed
        replaces an earlier one), so that it holds nothing; a new refusal
        gets its to-do, a refusal listed again does not."""
        if not refused:
            return
        refusals = channel.env["stock.channel.order.refusal"]
        existing = {
            refusal.external_id: refusal
            for refusal in refusals.search(
                [
                    ("channel_id", "=", channel.id),
                    ("external_id", "in", [p.external_id for p, _a in refused]),
                ]
            )
        }
        now = fields.Datetime.now()
        new = []
        for pulled, answer in refused:
            values = {
                "action": pulled.action,
                "changed_at": pulled.updated_at,
                "error_message": refusal_message(answer),
                "payload": json.dumps(pulled.payload),
                "listed_at": now,
                "last_tried_at": now,
            }
            if pulled.external_id in existing:
                refusal = existing[pulled.external_id]
                refusal.write(dict(values, tries=refusal.tries + 1))
            else:
                new.append(
                    dict(
                        values,
                        channel_id=channel.id,
                        external_id=pulled.external_id,
                        tries=1,
                    )
                )
            self.refusals.add(pulled.external_id)
            self.refused.append(pulled.external_id)
            _logger.warning(
                "Channel %s: pulled order %s refused: %s",
                channel.code,
                pulled.external_id,
                values["error_message"],
            )
        if new:
            refusals.with_context(
                mail_create_nolog=True, mail_create_nosubscribe=True
            ).create(new)._schedule_todos()

    def _settle_refusals(self, channel, external_ids):
        """Orders stored (or acknowledged) now drop their refusal."""
        done = self.refusals.intersection(external_ids)
        if done:
            channel.env["stock.channel.order.refusal"].search(
                [("channel_id", "=", channel.id), ("external_id", "in", list(done))]
            ).unlink()
            self.refusals -= done

    def _retry_refusals(self, channel):
        """The refused orders this pull did not list again, through the
        intake once more: stored if their cause was fixed meanwhile (a SKU
        created, a currency activated)."""
        refusals = channel.env["stock.channel.order.refusal"].search(
            [
                ("channel_id", "=", channel.id),
                ("external_id", "not in", list(self.listed)),
                # Cleared by the payload retention: nothing left to try.
                ("payload", "!=", False),
            ],
            order="last_tried_at asc, id",
            limit=MAX_RETRIED_REFUSALS,
        )
        orders = channel.env["stock.channel.order"].with_context(
            **{order_intake.DEFER_PROCESSING: True}
        )
        now = fields.Datetime.now()
        for refusal in refusals:
            body = refusal.payload.encode()
            outcome = order_intake.handle(orders, channel, refusal.action, body)
            self.counts[outcome.kind] += 1
            if outcome.kind in RECOVERED:
                _mark_pulled(
                    channel, [outcome.answer.get("id") or outcome.answer["order"]]
                )
            if outcome.kind in order_intake.WRITTEN:
                _logger.info(
                    "Channel %s: refused order %s stored on retry",
                    channel.code,
                    refusal.external_id,
                )
                refusal.unlink()
            elif outcome.kind == "invalid_order":
                refusal.write(
                    {
                        "error_message": refusal_message(outcome.answer),
                        "last_tried_at": now,
                        "tries": refusal.tries + 1,
                    }
                )
            else:
                refusal.last_tried_at = now

    def _summary(self):
        summary = ", ".join(
            f"{count} {kind}" for kind, count in sorted(self.counts.items())
        )
        text = (
            f"{self.pages} page(s), {summary or 'no orders'}; "
            f"recovered {sum(self.counts[k] for k in RECOVERED)}; "
            f"watermark {self.watermark}"
        )
        if self.refused:
            text += f"; not stored: {', '.join(self.refused)} (refused, kept)"
        if self.unstored:
            text += f"; not stored yet: {', '.join(self.unstored)}"
        return text


def max_of(*moments):
    moments = [moment for moment in moments if moment]
    return max(moments) if moments else None


def refusal_message(answer):
    """The intake's details as one line per problem."""
    details = answer.get("details") or [{"message": answer.get("error", "")}]
    return "\n".join(
        f"{detail['field']}: {detail['message']}"
        if detail.get("field")
        else detail.get("message", "")
        for detail in details
    )


def _check_refunds(channel, orders, pulled_orders):
    """A pulled order listing refunds (WooCommerce) is checked for new ones
    as its *Order updated* webhook would be: a missed webhook loses no
    refund. The refund ids of the whole page are looked up at once; only an
    order listing one not stored goes through the intake (which enqueues the
    read)."""
    listed = {
        pulled.external_id: {
            str(refund["id"])
            for refund in pulled.payload.get("refunds") or []
            if isinstance(refund, dict) and refund.get("id")
        }
        for pulled in pulled_orders
        if pulled.action == "create" and pulled.payload.get("refunds")
    }
    listed = {external_id: ids for external_id, ids in listed.items() if ids}
    if not listed:
        return
    known = known_returns(channel.env.cr, channel, set().union(*listed.values()))
    for pulled in pulled_orders:
        refund_ids = listed.pop(pulled.external_id, set())
        if refund_ids - known:
            body = json.dumps(pulled.payload).encode()
            order_intake.handle(orders, channel, "refund_ids", body)


def _enqueue_cancellations(channel, external_ids):
    """A stored order the marketplace cancelled: its cancellation is a job
    (it cancels the sale order and releases its reservations, which lock
    stock rows the pull must not hold); one per order (identity key)."""
    if external_ids:
        orders = channel.env["stock.channel.order"].search(
            [("channel_id", "=", channel.id), ("external_id", "in", external_ids)]
        )
        jobs.enqueue("cancel", orders)


def _mark_pulled(channel, order_ids):
    """The orders this pull stored came in by pulling (the health figure
    "Recovered by pulling"): one statement for the page."""
    if not order_ids:
        return
    orders = channel.env["stock.channel.order"]
    orders.env.cr.execute(
        SQL(
            "UPDATE stock_channel_order SET received_via = 'pull' WHERE id = ANY(%s)",
            order_ids,
        )
    )
    orders.browse(order_ids).invalidate_recordset(["received_via"])
