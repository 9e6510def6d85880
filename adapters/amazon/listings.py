"""Listings: the merchant-fulfilled quantity of each SKU, one
``patchListingsItem`` per SKU and marketplace (small batches), and the
listing details a ``merge`` of ``/attributes/fulfillment_availability``
needs: the product type, looked up once through ``searchListingsItems``,
which also tells Amazon-fulfilled (FBA) offers apart (FBA stock is Amazon's:
never published to) and reads quantities back."""

from dataclasses import dataclass
from urllib.parse import quote

from ..base import Outcome, PermanentError
from .client import AmazonClient

LISTINGS_PATH = "/listings/2021-08-01/items/"
SEARCH_PAGE = 20  # searchListingsItems: at most 20 identifiers per request


@dataclass
class ListingDetails:
    """What Amazon says of one SKU: its product type, whether Amazon fulfils
    it (FBA) and the merchant-fulfilled quantity it shows."""

    product_type: str
    fba: bool
    quantity: int | None


def availability_patch(quantity, lead_time_days=None):
    """The merchant-fulfilled quantity; with a handling time when the
    channel sells drop-ship stock (``merge`` leaves it alone otherwise)."""
    value = {"fulfillment_channel_code": "DEFAULT", "quantity": quantity}
    if lead_time_days is not None:
        value["lead_time_to_ship_max_days"] = lead_time_days
    return [
        {
            "op": "merge",
            "path": "/attributes/fulfillment_availability",
            "value": [value],
        }
    ]


class AmazonListings(AmazonClient):
    """Listing details, read-back and one PATCH per SKU."""

    def _sku_path(self, sku):
        return f"{LISTINGS_PATH}{quote(self.config.seller_id, safe='')}/" + quote(
            sku, safe=""
        )

    # -- listing details and read-back ---------------------------------------

    def lookup_listings(self, skus, correlation_id=""):
        """``{sku: ListingDetails}`` of the SKUs Amazon knows, 20 per
        ``searchListingsItems`` request, in the first marketplace."""
        found = {}
        for index in range(0, len(skus), SEARCH_PAGE):
            found.update(
                self._search(skus[index : index + SEARCH_PAGE], correlation_id)
            )
        return found

    def _search(self, skus, correlation_id):
        response = self.call(
            "searchListingsItems",
            "GET",
            LISTINGS_PATH + quote(self.config.seller_id, safe=""),
            correlation_id,
            params={
                "marketplaceIds": self.marketplaces[0],
                "identifiers": ",".join(skus),
                "identifiersType": "SKU",
                "includedData": "summaries,fulfillmentAvailability",
                "pageSize": SEARCH_PAGE,
            },
        )
        found = {}
        for entry in self.json_of(response).get("items") or []:
            sku = entry.get("sku")
            if sku not in skus:
                continue
            summaries = entry.get("summaries") or [{}]
            channels = {
                a.get("fulfillmentChannelCode"): a.get("quantity")
                for a in entry.get("fulfillmentAvailability") or []
            }
            default = channels.get("DEFAULT")
            found[sku] = ListingDetails(
                product_type=summaries[0].get("productType") or "",
                fba="DEFAULT" not in channels and bool(channels),
                quantity=int(default) if default is not None else None,
            )
        return found

    def _read_page(self, refs, correlation_id):
        """The merchant-fulfilled quantity Amazon shows for each SKU."""
        found = self._search([ref.sku for ref in refs], correlation_id)
        return {
            ref.listing_id: found[ref.sku].quantity
            for ref in refs
            if ref.sku in found and found[ref.sku].quantity is not None
        }

    # -- publication: one PATCH per SKU --------------------------------------

    def push_levels(self, items, batch_id, correlation_id):
        """``patchListingsItem`` for each item and marketplace. A refusal of
        one SKU (4xx other than 401/403/429, or an ``INVALID`` answer) is that
        listing's error; the others go on."""
        item_errors, status, excerpt = {}, 200, ""
        for item in items:
            if not item.product_type:
                item_errors[item.key] = (
                    f"amazon: SKU {item.sku} not found in the seller's listings "
                    "(no product type)"
                )
                continue
            for marketplace in self.marketplaces:
                try:
                    response = self.call(
                        "patchListingsItem",
                        "PATCH",
                        self._sku_path(item.sku),
                        correlation_id,
                        params={"marketplaceIds": marketplace, "issueLocale": "en_US"},
                        json={
                            "productType": item.product_type,
                            "patches": availability_patch(
                                item.quantity, item.lead_time_days
                            ),
                        },
                    )
                except PermanentError as exc:
                    if exc.status in (None, 401, 403):
                        raise
                    item_errors[item.key] = exc.excerpt or str(exc)
                    break
                data = self.json_of(response)
                status, excerpt = response.status_code, self.redact(response.text)
                if data.get("status") != "ACCEPTED":
                    item_errors[item.key] = self.redact(
                        "; ".join(
                            i.get("message") or i.get("code") or ""
                            for i in data.get("issues") or []
                        )
                        or f"amazon: {data.get('status') or 'no status'}"
                    )
                    break
        return Outcome(status, excerpt, item_errors)
