"""The generic contract: our own signed JSON, for web stores, B2B portals and
middleware (documented in README.rst)."""

import json
from datetime import datetime, timezone
from urllib.parse import urlencode, urlsplit

from .base import Adapter, Outcome, register
from .signing import sign_hex


@register
class WebhookAdapter(Adapter):
    code = "webhook"
    batch_limit = 500

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
        response = self.request(
            "POST",
            self.config.base_url.rstrip("/") + path,
            data=body,
            headers={
                "Content-Type": "application/json",
                "Idempotency-Key": idempotency_key,
                "X-Correlation-Id": correlation_id,
                "X-Channel-Signature": "sha256="
                + sign_hex(self.config.webhook_secret, body),
            },
        )
        return Outcome(response.status_code, self.redact(response.text))

    def push_levels(self, items, batch_id, correlation_id):
        return self._post_signed(
            "/inventory",
            {
                "channel": self.config.code,
                "batch_id": batch_id,
                "generated_at": datetime.now(timezone.utc).isoformat(
                    timespec="seconds"
                ),
                "items": [{"sku": i.sku, "quantity": i.quantity} for i in items],
            },
            correlation_id,
            idempotency_key=batch_id,
        )

    def _read_page(self, refs, correlation_id):
        """``GET {base_url}/inventory?skus=a,b`` signed over its path and
        query, answering ``{"items": [{"sku", "quantity"}]}``."""
        url = (
            self.config.base_url.rstrip("/")
            + "/inventory?"
            + urlencode({"skus": ",".join(ref.sku for ref in refs)})
        )
        parts = urlsplit(url)
        signed = f"{parts.path}?{parts.query}".encode()
        response = self.request(
            "GET",
            url,
            headers={
                "X-Correlation-Id": correlation_id,
                "X-Channel-Signature": "sha256="
                + sign_hex(self.config.webhook_secret, signed),
            },
        )
        by_sku = {ref.sku: ref.listing_id for ref in refs}
        return {
            by_sku[entry["sku"]]: int(entry["quantity"])
            for entry in self.json_of(response).get("items") or []
            if entry.get("sku") in by_sku and entry.get("quantity") is not None
        }
