"""The generic contract: our own signed JSON, for web stores, B2B portals and
middleware (documented in README.rst)."""

import json
from datetime import datetime, timezone

from ..services.signatures import sign_hex
from .base import Adapter, Outcome, register


@register
class WebhookAdapter(Adapter):
    code = "webhook"
    batch_limit = 500

    def push_levels(self, items, batch_id, correlation_id):
        body = json.dumps(
            {
                "channel": self.config.code,
                "batch_id": batch_id,
                "generated_at": datetime.now(timezone.utc).isoformat(
                    timespec="seconds"
                ),
                "items": [{"sku": i.sku, "quantity": i.quantity} for i in items],
            },
            separators=(",", ":"),
        ).encode()
        response = self.request(
            "POST",
            self.config.base_url.rstrip("/") + "/inventory",
            data=body,
            headers={
                "Content-Type": "application/json",
                "Idempotency-Key": batch_id,
                "X-Correlation-Id": correlation_id,
                "X-Channel-Signature": "sha256="
                + sign_hex(self.config.webhook_secret, body),
            },
        )
        return Outcome(response.status_code, self.redact(response.text))
