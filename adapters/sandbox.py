"""The sandbox marketplace: a channel that needs no network.

What it would publish lands on a local *shelf* (the quantities the
marketplace would show, per channel, with when and in which batch each
arrived); reconciliation reads the shelf back and shipments are recorded on
it. Orders are the generic contract's, signed the same way, so a simulated
order goes through the real intake.

The adapter holds no ORM record: the shelf is handed to it in place of an
HTTP session, as an object with ``put``, ``shown`` and ``ship`` (see
``services/sandbox.py``).
"""

from .base import Adapter, Outcome, register


@register
class SandboxAdapter(Adapter):
    code = "sandbox"
    publishes_per_location = True
    batch_limit = 500
    read_page_size = 1000

    def push_levels(self, items, batch_id, correlation_id):
        self.session.put(
            [(i.listing_id, i.sku, i.location, i.quantity) for i in items], batch_id
        )
        return Outcome(200, f"{len(items)} quantities on the sandbox shelf")

    def push_shipment(self, shipment, correlation_id):
        self.session.ship(shipment)
        return Outcome(200, "shipment recorded on the sandbox shelf")

    def _read_page(self, refs, correlation_id):
        shown = self.session.shown([ref.sku for ref in refs])
        return {
            ref.key: shown[ref.sku, ref.location]
            for ref in refs
            if (ref.sku, ref.location) in shown
        }
