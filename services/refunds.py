"""Marketplace refunds arriving on the order webhook: Shopify's
``refunds/create`` carries the refund itself; a WooCommerce order update
only lists its refunds' ids, so the refunds are read by a job. Both end in
``return_intake.store``: once per refund id."""

from ..adapters import ADAPTERS
from . import jobs
from .outcomes import Outcome
from .return_intake import invalid, known_returns, store
from .return_payloads import InvalidReturn, validate_return


def _order(orders, channel, external_id):
    return orders.search(
        [("channel_id", "=", channel.id), ("external_id", "=", external_id)]
    )


def refund(orders, channel, body, data):
    """A refund with its lines (Shopify): stored once by refund id; its
    order must be known (404 ``unknown_order``: the marketplace retries
    after the order arrives). A refund of an amount only, with no line, is
    acknowledged: nothing to receive or release."""
    try:
        external_id, translated = ADAPTERS[channel.adapter].refund_to_canonical(data)
    except (AttributeError, TypeError, ValueError, KeyError):
        return invalid(
            InvalidReturn(
                [{"field": "", "message": f"not a {channel.adapter} refund payload"}]
            )
        )
    if not translated["lines"]:
        return Outcome("ignored", {"status": "ignored", "reason": "no line refunded"})
    try:
        canonical = validate_return(translated)
    except InvalidReturn as exc:
        return invalid(exc)
    order = _order(orders, channel, external_id)
    if not order:
        return Outcome("unknown_order", {"error": "unknown_order"})
    return store(order, canonical, channel.adapter)


def refund_ids(orders, channel, body, data):
    """An order update listing refunds (WooCommerce): the refunds not stored
    yet are read by a job (202); none new, or an order never received, is
    acknowledged (WooCommerce disables a webhook after 5 failures)."""
    external_id = str(data.get("id"))
    listed = {
        str(refund["id"])
        for refund in data.get("refunds") or []
        if isinstance(refund, dict) and refund.get("id")
    }
    order = _order(orders, channel, external_id)
    if not order:
        return Outcome("ignored", {"status": "ignored", "reason": "unknown order"})
    new = listed - known_returns(orders.env.cr, channel, listed)
    if not new:
        return Outcome("ignored", {"status": "ignored", "reason": "refunds known"})
    # One read of the order's refunds at a time (identity key): a burst of
    # order updates makes one request.
    jobs.enqueue("refunds", order)
    return Outcome(
        "accepted",
        {"status": "accepted", "external_id": external_id, "refunds": sorted(new)},
    )
