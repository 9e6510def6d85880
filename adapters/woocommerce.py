"""WooCommerce REST v3: batch stock updates with HTTP basic auth.

``external_ref`` is the product id, or ``parent_id/variation_id`` for a
variation (sent through the parent's variations batch endpoint).
"""

from collections import defaultdict

from .base import Adapter, Outcome, PermanentError, register


@register
class WooCommerceAdapter(Adapter):
    code = "woocommerce"
    batch_limit = 100  # WooCommerce's own limit per batch request

    def push_levels(self, items, batch_id, correlation_id):
        groups = defaultdict(list)  # endpoint path -> items
        for item in items:
            ref = (item.external_ref or "").strip()
            parent, _sep, variation = ref.partition("/")
            if not parent.isdigit() or (variation and not variation.isdigit()):
                raise PermanentError(
                    f"woocommerce: listing {item.sku} needs a numeric external "
                    f"reference (product id or parent_id/variation_id), got {ref!r}"
                )
            path = (
                f"products/{parent}/variations/batch" if variation else "products/batch"
            )
            groups[path].append((int(variation or parent), item))
        base = self.config.base_url.rstrip("/") + "/wp-json/wc/v3/"
        item_errors, last = {}, None
        for path, entries in groups.items():
            last = self.request(
                "POST",
                base + path,
                json={
                    "update": [
                        {
                            "id": ref,
                            "stock_quantity": item.quantity,
                            "manage_stock": True,
                        }
                        for ref, item in entries
                    ]
                },
                auth=(self.config.api_key, self.config.api_secret),
                headers={
                    "Idempotency-Key": batch_id,
                    "X-Correlation-Id": correlation_id,
                },
            )
            answered = {
                entry.get("id"): entry for entry in (last.json().get("update") or [])
            }
            for ref, item in entries:
                error = (answered.get(ref) or {}).get("error")
                if error:
                    item_errors[item.listing_id] = self.redact(
                        error.get("message") or str(error)
                    )
        return Outcome(last.status_code, self.redact(last.text), item_errors)
