"""The sandbox marketplace's side in Odoo: its shelf, and simulated orders.

The shelf stands where an HTTP session would for the sandbox adapter
(``adapters/sandbox.py``): what is published lands in
``stock.channel.sandbox.shelf``, one row per SKU, written set-based (one
upsert per batch). A simulated order is signed with the channel's secret and
handed to the same intake as a marketplace's post.
"""

import json
import uuid
from datetime import datetime, timezone

from odoo.tools import SQL

from ..adapters.base import ADAPTERS
from ..adapters.signing import SignedRequest, sign_request
from .outcomes import Outcome


class SandboxShelf:
    """One sandbox channel's shelf, for its adapter."""

    def __init__(self, channel):
        channel.ensure_one()
        self.channel = channel
        self.env = channel.env

    def put(self, rows, batch_id):
        """Shelve ``[(listing id, sku, location, quantity)]`` in one
        statement (location ``""`` for a summed channel); a quantity edited
        by hand is overwritten, as a marketplace would."""
        if not rows:
            return
        self.env["stock.channel.sandbox.shelf"].flush_model()
        self.env.cr.execute(
            SQL(
                """
                INSERT INTO stock_channel_sandbox_shelf
                       (channel_id, company_id, listing_id, external_sku,
                        location_ref, quantity, batch_id, received_at, edited,
                        create_uid, create_date, write_uid, write_date)
                SELECT %(channel)s, %(company)s, r.listing_id, r.sku,
                       NULLIF(r.location, ''), r.qty,
                       %(batch)s, now() at time zone 'UTC', false,
                       %(uid)s, now() at time zone 'UTC',
                       %(uid)s, now() at time zone 'UTC'
                  FROM unnest(%(listings)s::int[], %(skus)s::varchar[],
                              %(locations)s::varchar[], %(qtys)s::int[])
                       AS r(listing_id, sku, location, qty)
                ON CONFLICT (channel_id, external_sku, (COALESCE(location_ref, '')))
                DO UPDATE
                   SET quantity = EXCLUDED.quantity,
                       listing_id = EXCLUDED.listing_id,
                       batch_id = EXCLUDED.batch_id,
                       received_at = EXCLUDED.received_at,
                       edited = false,
                       write_uid = EXCLUDED.write_uid,
                       write_date = EXCLUDED.write_date
                """,
                channel=self.channel.id,
                company=self.channel.company_id.id,
                batch=batch_id,
                uid=self.env.uid,
                listings=[row[0] for row in rows],
                skus=[row[1] for row in rows],
                locations=[row[2] for row in rows],
                qtys=[row[3] for row in rows],
            )
        )
        self.env["stock.channel.sandbox.shelf"].invalidate_model()

    def shown(self, skus):
        """``{(sku, location): quantity}`` of the shelved SKUs among
        ``skus``."""
        self.env["stock.channel.sandbox.shelf"].flush_model()
        self.env.cr.execute(
            SQL(
                """
                SELECT external_sku, COALESCE(location_ref, ''), quantity
                  FROM stock_channel_sandbox_shelf
                 WHERE channel_id = %s AND external_sku = ANY(%s::varchar[])
                """,
                self.channel.id,
                list(skus),
            )
        )
        return {(sku, loc): qty for sku, loc, qty in self.env.cr.fetchall()}

    def ship(self, shipment):
        """Record a shipment the way the marketplace would have received it."""
        self.env["stock.channel.sandbox.shipment"].create(
            {
                "channel_id": self.channel.id,
                "external_id": shipment["external_id"],
                "carrier": shipment.get("carrier") or "",
                "tracking_ref": shipment.get("tracking_ref") or "",
                "lines": json.dumps(shipment.get("lines") or []),
            }
        )


def simulated_order(channel, lines, customer):
    """The generic contract's order for ``lines`` ``[(listing, quantity)]``,
    as the raw body a marketplace would post."""
    return json.dumps(
        {
            "external_id": f"SIM-{uuid.uuid4().hex[:10].upper()}",
            "ordered_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "currency": channel.company_id.currency_id.name,
            "customer": customer,
            "shipping_address": {
                "name": customer.get("name"),
                "street": "1 Sandbox Street",
                "city": "Brussels",
                "zip": "1000",
                "country_code": "BE",
            },
            "lines": [
                {
                    "sku": listing.external_sku,
                    "quantity": quantity,
                    "unit_price": listing.product_id.lst_price,
                }
                for listing, quantity in lines
            ],
            "note": "Simulated from Odoo",
        },
        separators=(",", ":"),
    ).encode()


def simulated_return(lines, reason, restock):
    """The generic contract's return of ``lines`` ``[(sku, quantity)]``, as
    the raw body a marketplace would post."""
    return json.dumps(
        {
            "return_id": f"SIM-RET-{uuid.uuid4().hex[:10].upper()}",
            "lines": [
                {"sku": sku, "quantity": quantity, "reason": reason, "restock": restock}
                for sku, quantity in lines
            ],
        },
        separators=(",", ":"),
    ).encode()


# What a simulated post signed with the wrong secret gets, as the
# endpoint's 401 answer.
INVALID_SIGNATURE = Outcome("invalid_signature", {"error": "invalid_signature"})


def _signed_by(path, body, secret):
    """Whether ``body`` signed for ``path`` with ``secret`` passes the
    generic contract's check, as the HTTP controller runs it."""
    signed = SignedRequest("POST", path, sign_request(secret, "POST", path, body), body)
    return ADAPTERS["webhook"].verify_order_request([secret], signed) is None


def post_simulated_order(channel, body, secret):
    """Sign ``body`` like a marketplace and hand it to the intake exactly as
    the HTTP controller does: signature check, then ``_receive``. Returns
    the :class:`Outcome` (``invalid_signature`` when the check fails);
    ``channel`` runs as its technical user."""
    if not _signed_by(f"/stock_channel_sync/{channel.code}/orders", body, secret):
        return INVALID_SIGNATURE
    return channel.env["stock.channel.order"]._receive(channel, "create", body)


def post_simulated_return(order, body, secret):
    """The same for a return of ``order`` (as the channel's technical user):
    signature check, then the returns intake. Returns the :class:`Outcome`."""
    path = (
        f"/stock_channel_sync/{order.channel_id.code}/orders/"
        f"{order.external_id}/returns"
    )
    if not _signed_by(path, body, secret):
        return INVALID_SIGNATURE
    return order._receive_return(body)
