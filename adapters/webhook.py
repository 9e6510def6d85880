"""The generic contract: our own signed JSON, for web stores, B2B portals and
middleware (documented in README.rst)."""

import json
from datetime import datetime, timezone
from urllib.parse import urlencode, urlsplit

from .base import Adapter, Outcome, register, whole_number
from .signing import sign_request


@register
class WebhookAdapter(Adapter):
    code = "webhook"
    batch_limit = 500
    publishes_per_location = True

    def push_shipment(self, shipment, correlation_id):
        return self._post_signed(
            "/shipments",
            {
                k: shipment[k]
                for k in ("external_id", "carrier", "tracking_ref", "lines")
            },
            correlation_id,
            idempotency_key=shipment["idempotency_key"],
        )

    def _post_signed(self, path, payload, correlation_id, idempotency_key):
        body = json.dumps(payload, separators=(",", ":")).encode()
        response = self._signed(
            "POST",
            self.config.base_url.rstrip("/") + path,
            body,
            {
                "Content-Type": "application/json",
                "Idempotency-Key": idempotency_key,
                "X-Correlation-Id": correlation_id,
            },
        )
        return Outcome(response.status_code, self.redact(response.text))

    def _signed(self, method, url, body, headers):
        """A request signed with signature v2 (method, path with its query,
        time, body), so the receiver can refuse a replay."""
        parts = urlsplit(url)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        signature = sign_request(self.config.webhook_secret, method, path, body)
        return self.request(
            method, url, data=body or None, headers={**headers, **signature}
        )

    def push_levels(self, items, batch_id, correlation_id):
        return self._post_signed(
            "/inventory",
            {
                "channel": self.config.code,
                "batch_id": batch_id,
                "generated_at": generated_at(items),
                "items": [item_entry(i) for i in items],
            },
            correlation_id,
            idempotency_key=batch_id,
        )

    def _read_page(self, refs, correlation_id):
        """``GET {base_url}/inventory?skus=a,b`` (signature v2), answering
        ``{"items": [{"sku", "quantity"}]}`` (with ``"location"`` per entry
        for a channel that publishes per location); an entry whose quantity
        is not a whole number is left out (unknown on the channel)."""
        url = (
            self.config.base_url.rstrip("/")
            + "/inventory?"
            + urlencode({"skus": ",".join(ref.sku for ref in refs)})
        )
        response = self._signed("GET", url, b"", {"X-Correlation-Id": correlation_id})
        by_sku = {(ref.sku, ref.location): ref.key for ref in refs}
        items = self.json_of(response).get("items")
        levels = {}
        for entry in items if isinstance(items, list) else []:
            if not isinstance(entry, dict):
                continue
            location = entry.get("location") or ""
            key = by_sku.get((entry.get("sku"), location))
            quantity = whole_number(entry.get("quantity"))
            if key is not None and quantity is not None:
                levels[key] = quantity
        return levels


def generated_at(items):
    """When the batch's quantities were computed, ISO-8601 UTC with
    microseconds: a receiver may drop an item older than the one it last
    applied for the same SKU (and location)."""
    moments = [i.generated_at for i in items if i.generated_at]
    moment = max(moments) if moments else datetime.now(timezone.utc)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).isoformat(timespec="microseconds")


def item_entry(item):
    """One quantity of the inventory webhook; ``location`` only when the
    channel publishes per location, so summed channels see no change."""
    entry = {"sku": item.sku, "quantity": item.quantity}
    if item.location:
        entry["location"] = item.location
    if item.lead_time_days is not None:  # a channel selling drop-ship stock
        entry["lead_time_days"] = item.lead_time_days
    return entry
