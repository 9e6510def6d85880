"""Shipments: ``confirmShipment`` with carrier, tracking number and the
shipped order item ids, which Amazon needs and which are read from the order
as pulled (Odoo's lines know SKUs, not Amazon's item ids)."""

import json
from urllib.parse import quote

from ..base import Outcome, PermanentError
from .client import ORDERS_PATH, AmazonClient

# Carrier codes Amazon knows by name; any other carrier is sent as "Other"
# with its name.
CARRIER_CODES = {
    code.lower(): code
    for code in ("UPS", "USPS", "FedEx", "DHL", "DPD", "GLS", "Royal Mail")
}


class AmazonShipments(AmazonClient):
    """Confirming a shipped package."""

    def push_shipment(self, shipment, correlation_id):
        """``confirmShipment`` of one package: the shipped quantities mapped
        to the order's item ids by seller SKU (from the order as pulled)."""
        try:
            order = json.loads(shipment.get("order_payload") or "null")
        except ValueError:
            order = None
        if not isinstance(order, dict):
            raise PermanentError(
                f"amazon: order {shipment['external_id']} was not pulled from "
                "Amazon (no order items to confirm)"
            )
        carrier = (shipment.get("carrier") or "").strip()
        code = CARRIER_CODES.get(carrier.lower(), "Other")
        package = {
            "packageReferenceId": shipment["package_ref"],
            "carrierCode": code,
            "shipDate": shipment["shipped_at"].replace(" ", "T") + "Z",
            "orderItems": self._shipped_items(order, shipment),
        }
        if code == "Other":
            package["carrierName"] = carrier or "Other"
        if shipment.get("tracking_ref"):
            package["trackingNumber"] = shipment["tracking_ref"]
        response = self.call(
            "confirmShipment",
            "POST",
            f"{ORDERS_PATH}/{quote(str(shipment['external_id']), safe='')}"
            "/shipmentConfirmation",
            correlation_id,
            json={
                "marketplaceId": order.get("MarketplaceId") or self.marketplaces[0],
                "packageDetail": package,
            },
        )
        return Outcome(response.status_code, self.redact(response.text))

    @staticmethod
    def _shipped_items(order, shipment):
        """``[{orderItemId, quantity}]``: each shipped SKU's quantity spread
        over the order's items of that SKU, in order, none beyond what was
        ordered. (Each package is mapped on its own: a second package of a
        partly shipped item starts again from the item's ordered quantity.)"""
        remaining = {
            item["OrderItemId"]: int(item.get("QuantityOrdered") or 0)
            for item in order.get("OrderItems") or []
        }
        shipped = {}
        for line in shipment["lines"]:
            left = int(round(line["quantity"]))
            for item in order.get("OrderItems") or []:
                item_id = item["OrderItemId"]
                if left <= 0 or item.get("SellerSKU") != line["sku"]:
                    continue
                taken = min(left, remaining[item_id])
                if taken > 0:
                    remaining[item_id] -= taken
                    shipped[item_id] = shipped.get(item_id, 0) + taken
                    left -= taken
            if left > 0:
                raise PermanentError(
                    f"amazon: order {shipment['external_id']} has no item "
                    f"left for {left} of SKU {line['sku']}"
                )
        return [{"orderItemId": i, "quantity": q} for i, q in shipped.items()]
