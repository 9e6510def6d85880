"""Pulled orders: the orders a channel changed since its watermark, listed
through its adapter and handed to the same intake as a posted order.

A safety net behind the webhooks (a marketplace gives up on a delivery
after hours of failures) and the only way in for a marketplace that posts
nothing. Each pulled order is in the JSON shape its webhook would have
carried, so validation, exactly-once storage on the marketplace's order id,
promised demand and the processing job are the webhook's own: an order that
arrives both ways is stored once, whichever comes first.

The watermark (``orders_pulled_until``) advances only past what was stored:
to the last change of the last order stored, or to just before the first
order that could not be stored (an invalid order, one being stored by a
concurrent delivery), which the next pull reads again. The whole pull is one
transaction: a crash stores nothing and moves nothing, and the next pull
re-reads and deduplicates.
"""

import json
import logging
import uuid
from collections import Counter
from datetime import timedelta

from odoo.tools import SQL

from . import order_intake

_logger = logging.getLogger(__name__)

# Outcomes of an order stored by this pull (not already there): recovered.
RECOVERED = ("accepted", "created")
# A pull that pages through more than this stops; the next one continues
# from the watermark (a safeguard against a marketplace that pages forever).
MAX_PAGES = 200


def pull(channel, job_uuid=None):
    """Pull ``channel``'s orders (the channel as its technical user, in its
    company); returns a summary for the job's result."""
    channel.ensure_one()
    adapter = channel._get_adapter()
    orders = channel.env["stock.channel.order"]
    since = channel.orders_pulled_until or channel.create_date
    correlation_id = (job_uuid or uuid.uuid4().hex)[:16]
    counts = Counter()
    stored_until = None  # last change of the last order stored
    blocked_at = None  # last change of the first order not stored
    refused = []
    cursor, pages = None, 0
    while pages < MAX_PAGES:
        page = adapter.fetch_orders(since, cursor, correlation_id)
        pages += 1
        for pulled in page.orders:
            body = json.dumps(pulled.payload).encode()
            outcome = order_intake.handle(orders, channel, pulled.action, body)
            counts[outcome.kind] += 1
            if outcome.kind in RECOVERED:
                _mark_pulled(orders, outcome.answer)
            if outcome.kind in order_intake.WRITTEN:
                stored_until = max(stored_until or pulled.updated_at, pulled.updated_at)
                _check_refunds(orders, channel, pulled, body)
            else:
                blocked_at = min(blocked_at or pulled.updated_at, pulled.updated_at)
                refused.append((pulled.external_id, outcome.answer))
        cursor = page.next_cursor
        if not cursor:
            break
    watermark = _watermark(since, stored_until, blocked_at)
    channel.orders_pulled_until = watermark
    for external_id, answer in refused:
        _logger.warning(
            "Channel %s: pulled order %s not stored: %s",
            channel.code,
            external_id,
            answer,
        )
    summary = ", ".join(f"{count} {kind}" for kind, count in sorted(counts.items()))
    return (
        f"{pages} page(s), {summary or 'no orders'}; "
        f"recovered {sum(counts[k] for k in RECOVERED)}; watermark {watermark}"
        + (f"; not stored: {', '.join(r[0] for r in refused)}" if refused else "")
    )


def _check_refunds(orders, channel, pulled, body):
    """A pulled order listing refunds (WooCommerce) is checked for new ones
    as its *Order updated* webhook would be: a missed webhook loses no
    refund."""
    if pulled.action == "create" and pulled.payload.get("refunds"):
        order_intake.handle(orders, channel, "refund_ids", body)


def _watermark(since, stored_until, blocked_at):
    """Past the stored orders, never past one that was not stored (the
    marketplaces filter on whole seconds, strictly after), never back."""
    if blocked_at is not None:
        return max(since, blocked_at - timedelta(seconds=1))
    return max(since, stored_until) if stored_until else since


def _mark_pulled(orders, answer):
    """The order this pull stored came in by pulling (the health figure
    "Recovered by pulling")."""
    order_id = answer.get("id") or answer.get("order")
    orders.env.cr.execute(
        SQL(
            "UPDATE stock_channel_order SET received_via = 'pull' WHERE id = %s",
            order_id,
        )
    )
    orders.browse(order_id).invalidate_recordset(["received_via"])
