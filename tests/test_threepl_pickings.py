import json

from odoo.exceptions import ValidationError
from odoo.tests import tagged

from odoo.addons.queue_job.tests.common import trap_jobs

from ..adapters import x12
from ..adapters.signing import sign_request
from ..services import shipments
from ..services.atp import AtpEngine
from ..services.threepl_apply import apply_event
from ..services.threepl_errors import EventWaiting
from .test_threepl_events import SAMPLES, SECRET, ThreeplCase

WHEN = "2026-12-03T09:00:00Z"


class PickingsCase(ThreeplCase):
    """``ThreeplCase`` with a not sellable damaged location on the
    connection, a second product without stock and builders of receipts,
    deliveries and events."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.damaged = cls.env["stock.location"].create(
            {
                "name": "3PL Damaged",
                "location_id": cls.warehouse.view_location_id.id,
                "usage": "internal",
                "channel_sellable": False,
            }
        )
        cls.connection.damaged_location_id = cls.damaged
        cls.vase = cls.env["product.product"].create(
            {"name": "3PL Vase", "default_code": "TPL-VASE", "is_storable": True}
        )
        cls.vase_listing = cls.env["stock.channel.listing"].create(
            {"channel_id": cls.channel.id, "product_id": cls.vase.id}
        )
        cls.stock = cls.warehouse.lot_stock_id
        cls.supplier_loc = cls.env.ref("stock.stock_location_suppliers")
        cls.customer_loc = cls.env.ref("stock.stock_location_customers")

    def _picking(self, picking_type, source, destination, lines, origin=False):
        picking = self.env["stock.picking"].create(
            {
                "picking_type_id": picking_type.id,
                "location_id": source.id,
                "location_dest_id": destination.id,
                "origin": origin,
                "move_ids": [
                    (
                        0,
                        0,
                        {
                            "name": product.display_name,
                            # Not merged at confirmation: one product may
                            # be on two moves.
                            "description_picking": f"line {index}",
                            "product_id": product.id,
                            "product_uom_qty": quantity,
                            "product_uom": product.uom_id.id,
                            "location_id": source.id,
                            "location_dest_id": destination.id,
                        },
                    )
                    for index, (product, quantity) in enumerate(lines)
                ],
            }
        )
        picking.action_confirm()
        return picking

    def _receipt(self, lines, origin=False):
        return self._picking(
            self.warehouse.in_type_id, self.supplier_loc, self.stock, lines, origin
        )

    def _delivery(self, lines, origin=False):
        picking = self._picking(
            self.warehouse.out_type_id, self.stock, self.customer_loc, lines, origin
        )
        picking.action_assign()
        return picking

    @staticmethod
    def _received(ref, lines, event_id="WR-1"):
        return {
            "id": event_id,
            "type": "goods_received",
            "occurred_at": WHEN,
            "order_ref": ref,
            "lines": lines,
        }

    @staticmethod
    def _shipped(ref, lines, event_id="SHP-1", **extra):
        return {
            "id": event_id,
            "type": "shipment_dispatched",
            "occurred_at": WHEN,
            "order_ref": ref,
            "lines": lines,
            **extra,
        }

    def _accepted(self, payload):
        response = self._post(payload)
        self.assertEqual(response.status_code, 202, response.text)
        return response

    def _event(self, business_id):
        return self._events().filtered(lambda e: e.business_id == business_id)

    def _on_hand(self, product, location):
        """Units in ``location`` (and its sublocations), reserved or not."""
        quants = self.env["stock.quant"]._gather(product, location)
        return sum(quants.mapped("quantity"))

    def _listing_atp(self, listing):
        self.env.flush_all()
        return AtpEngine(self.env).compute(listing.ids)[listing.id].qty


@tagged("post_install", "-at_install")
class TestThreeplReceipts(PickingsCase):
    """``goods_received``: the named receipt validated with the 3PL's
    quantities, damaged units apart, the rest in a backorder."""

    def test_receipt_fully_received(self):
        """Every line received: the receipt is done, no backorder, ATP up."""
        receipt = self._receipt([(self.product, 5), (self.vase, 3)])
        self._accepted(
            self._received(
                receipt.name,
                [
                    {"sku": "TPL-LAMP", "quantity": 5},
                    {"sku": "TPL-VASE", "quantity": 3},
                ],
            )
        )
        event = self._event("WR-1")
        self.assertEqual(
            (event.kind, event.order_ref, event.product_id.id),
            ("goods_received", receipt.name, False),
        )
        self.assertEqual(json.loads(event.payload)["lines"][1]["sku"], "TPL-VASE")
        self._apply_all()
        self.assertEqual(event.state, "done", event.error_message)
        self.assertEqual(receipt.state, "done")
        self.assertFalse(receipt.backorder_ids)
        self.assertEqual(event.picking_id, receipt)
        self.assertEqual(event.move_ids, receipt.move_ids)
        self.assertEqual(self._atp(), 25)
        self.assertEqual(self._listing_atp(self.vase_listing), 3)
        self.assertTrue(any("WR-1" in message.body for message in receipt.message_ids))

    def test_partial_receipt_leaves_a_backorder(self):
        """6 of 10 received: 6 done, 4 in a backorder, which a later event
        naming the same receipt completes."""
        receipt = self._receipt([(self.product, 10)])
        self._accepted(
            self._received(receipt.name, [{"sku": "TPL-LAMP", "quantity": 6}])
        )
        self._apply_all()
        self.assertEqual(receipt.state, "done")
        self.assertEqual(receipt.move_ids.quantity, 6)
        backorder = receipt.backorder_ids
        self.assertEqual(
            (backorder.state, backorder.move_ids.product_uom_qty), ("assigned", 4)
        )
        self.assertEqual(self._atp(), 26)
        self._accepted(
            self._received(
                receipt.name, [{"sku": "TPL-LAMP", "quantity": 4}], event_id="WR-2"
            )
        )
        self._apply_all()
        self.assertEqual(self._event("WR-2").state, "done")
        self.assertEqual(backorder.state, "done")
        self.assertEqual(self._atp(), 30)

    def test_matched_by_source_document_and_lines_fill_moves_in_order(self):
        """An order_ref matching one open receipt's origin (the purchase
        order) names it; one product on two moves fills them in order."""
        receipt = self._receipt([(self.product, 4), (self.product, 4)], "PO-0042")
        self._accepted(self._received("PO-0042", [{"sku": "TPL-LAMP", "quantity": 6}]))
        self._apply_all()
        self.assertEqual(receipt.state, "done")
        self.assertEqual(receipt.move_ids.sorted("id").mapped("quantity"), [4.0, 2.0])
        self.assertEqual(receipt.backorder_ids.move_ids.product_uom_qty, 2)

    def test_damaged_units_go_to_the_damaged_location_not_to_atp(self):
        """10 received of which 3 damaged: 7 sellable, 3 in the damaged
        location, out of every channel's ATP."""
        receipt = self._receipt([(self.product, 10)])
        self._accepted(
            self._received(
                receipt.name, [{"sku": "TPL-LAMP", "quantity": 10, "damaged": 3}]
            )
        )
        self._apply_all()
        self.assertEqual(receipt.state, "done")
        self.assertFalse(receipt.backorder_ids)
        self.assertEqual(self._on_hand(self.product, self.damaged), 3)
        self.assertEqual(self._on_hand(self.product, self.stock), 27)
        self.assertEqual(self._atp(), 27)

    def test_damaged_without_damaged_location_is_an_error(self):
        """Damaged units and no damaged location: Error, with a to-do,
        nothing received."""
        self.connection.damaged_location_id = False
        receipt = self._receipt([(self.product, 10)])
        self._accepted(
            self._received(
                receipt.name, [{"sku": "TPL-LAMP", "quantity": 10, "damaged": 1}]
            )
        )
        self._apply_all()
        event = self._event("WR-1")
        self.assertEqual(event.state, "error")
        self.assertIn("no damaged location", event.error_message)
        self.assertTrue(event.activity_ids)
        self.assertEqual(receipt.state, "assigned")

    def test_damaged_location_must_not_be_sellable(self):
        """A sellable damaged location is refused on the connection."""
        with self.assertRaises(ValidationError):
            self.connection.damaged_location_id = self.stock

    def test_receipt_not_found_or_draft_waits(self):
        """No such receipt yet, or a draft one: the event waits (it is not
        applied, nothing is written)."""
        self._accepted(
            self._received("WH/IN/NOPE", [{"sku": "TPL-LAMP", "quantity": 1}])
        )
        event = self._event("WR-1")
        with self.assertRaises(EventWaiting):
            apply_event(event.with_user(self.robot))
        draft = self.env["stock.picking"].create(
            {
                "picking_type_id": self.warehouse.in_type_id.id,
                "location_id": self.supplier_loc.id,
                "location_dest_id": self.stock.id,
                "origin": "PO-DRAFT",
            }
        )
        self._accepted(
            self._received("PO-DRAFT", [{"sku": "TPL-LAMP", "quantity": 1}], "WR-2")
        )
        with self.assertRaises(EventWaiting):
            apply_event(self._event("WR-2").with_user(self.robot))
        self.assertEqual(draft.state, "draft")
        self.assertEqual(set(self._events().mapped("state")), {"received"})
        self.assertEqual(self._atp(), 20)

    def test_done_receipt_is_an_error(self):
        """A receipt already validated: Error with a to-do, stock untouched."""
        receipt = self._receipt([(self.product, 2)])
        receipt.move_ids.picked = True
        receipt.button_validate()
        self._accepted(
            self._received(receipt.name, [{"sku": "TPL-LAMP", "quantity": 2}])
        )
        self._apply_all()
        event = self._event("WR-1")
        self.assertEqual(event.state, "error")
        self.assertIn("already", event.error_message)
        self.assertTrue(event.activity_ids)
        self.assertEqual(self._atp(), 22)

    def test_product_not_on_the_receipt_is_an_error(self):
        """A line for a product the receipt does not have: Error."""
        receipt = self._receipt([(self.product, 2)])
        self._accepted(
            self._received(receipt.name, [{"sku": "TPL-VASE", "quantity": 2}])
        )
        self._apply_all()
        event = self._event("WR-1")
        self.assertEqual(event.state, "error")
        self.assertIn("3PL Vase", event.error_message)
        self.assertEqual(receipt.state, "assigned")

    def test_unknown_sku_in_a_line_refused_nothing_written(self):
        """An unknown SKU on any line: 422 naming the line, nothing stored."""
        response = self._post(
            self._received(
                "WH/IN/00001",
                [{"sku": "TPL-LAMP", "quantity": 1}, {"sku": "NOPE", "quantity": 1}],
            )
        )
        self.assertEqual(response.status_code, 422)
        self.assertEqual(
            [d["field"] for d in response.json()["details"]],
            ["events[0].lines[1].sku"],
        )
        self.assertFalse(self._events())

    def test_every_problem_of_the_lines_at_once(self):
        """Missing order_ref, bad lines, damaged above quantity, nothing
        above zero: every problem in one 422."""
        response = self._post(
            {
                "events": [
                    {"id": "WR-9", "type": "goods_received", "occurred_at": WHEN},
                    self._received(
                        "R",
                        [
                            {"sku": "TPL-LAMP", "quantity": 2, "damaged": 3},
                            {"sku": "", "quantity": -1},
                            "a line",
                        ],
                        "WR-10",
                    ),
                    self._received("R", [{"sku": "TPL-LAMP", "quantity": 0}], "WR-11"),
                    self._shipped("S", [], carrier=4),
                ]
            }
        )
        self.assertEqual(response.status_code, 422)
        fields_ = {d["field"] for d in response.json()["details"]}
        self.assertEqual(
            fields_,
            {
                "events[0].order_ref",
                "events[0].lines",
                "events[1].lines[0].damaged",
                "events[1].lines[1].sku",
                "events[1].lines[1].quantity",
                "events[1].lines[2]",
                "events[2].lines",
                "events[3].carrier",
                "events[3].lines",
            },
        )
        self.assertFalse(self._events())

    def test_connection_not_driving_receipts_refused(self):
        """Drives Receipts off: 422 on the event's type, nothing written."""
        self.connection.drive_receipts = False
        response = self._post(self._received("R", [{"sku": "TPL-LAMP", "quantity": 1}]))
        self.assertEqual(response.status_code, 422)
        self.assertEqual(response.json()["details"][0]["field"], "events[0].type")
        self.assertFalse(self._events())


@tagged("post_install", "-at_install")
class TestThreeplShipments(PickingsCase):
    """``shipment_dispatched``: the named delivery validated with the units
    shipped from the 3PL stock location, carrier and tracking on it."""

    def test_shipment_fully_shipped(self):
        """Every unit shipped: delivery done, stock down, carrier and
        tracking on the delivery."""
        delivery = self._delivery([(self.product, 5)])
        self._accepted(
            self._shipped(
                delivery.name,
                [{"sku": "TPL-LAMP", "quantity": 5}],
                carrier="UPS",
                tracking_ref="1Z999",
            )
        )
        event = self._event("SHP-1")
        self.assertEqual((event.carrier, event.tracking_ref), ("UPS", "1Z999"))
        self.assertEqual((event.product_id, event.quantity), (self.product, 5))
        self._apply_all()
        self.assertEqual(event.state, "done", event.error_message)
        self.assertEqual(delivery.state, "done")
        self.assertFalse(delivery.backorder_ids)
        self.assertEqual(
            (delivery.channel_carrier_name, delivery.channel_tracking_ref),
            ("UPS", "1Z999"),
        )
        self.assertEqual(self._on_hand(self.product, self.stock), 15)
        self.assertEqual(self._atp(), 15)

    def test_short_shipment_leaves_a_backorder(self):
        """3 of 5 shipped: 3 done, 2 in a backorder still reserved."""
        delivery = self._delivery([(self.product, 5)])
        self._accepted(
            self._shipped(delivery.name, [{"sku": "TPL-LAMP", "quantity": 3}])
        )
        self._apply_all()
        self.assertEqual(delivery.state, "done")
        self.assertEqual(delivery.move_ids.quantity, 3)
        backorder = delivery.backorder_ids
        self.assertEqual(
            (backorder.state, backorder.move_ids.product_uom_qty), ("assigned", 2)
        )
        self.assertFalse(backorder.channel_tracking_ref)
        self.assertEqual(self._on_hand(self.product, self.stock), 17)
        # 17 on hand, 2 reserved for the backorder.
        self.assertEqual(self._atp(), 15)

    def test_shipment_from_a_sublocation_of_the_3pl_stock(self):
        """Units held in a sublocation of the 3PL stock location are taken
        where they are."""
        shelf = self.env["stock.location"].create(
            {"name": "Shelf 9", "location_id": self.stock.id, "usage": "internal"}
        )
        self.env["stock.quant"]._update_available_quantity(self.vase, shelf, 4)
        delivery = self._delivery([(self.vase, 4)])
        self._accepted(
            self._shipped(delivery.name, [{"sku": "TPL-VASE", "quantity": 4}])
        )
        self._apply_all()
        self.assertEqual(delivery.state, "done")
        self.assertEqual(delivery.move_line_ids.location_id, shelf)
        self.assertEqual(self._on_hand(self.vase, shelf), 0)

    def test_shipment_never_takes_damaged_units(self):
        """Damaged units kept under the 3PL stock location are not shipped:
        the shipment waits for sellable ones."""
        broken = self.env["stock.location"].create(
            {
                "name": "Broken Bin",
                "location_id": self.stock.id,
                "usage": "internal",
                "channel_sellable": False,
            }
        )
        self.connection.damaged_location_id = broken
        self.env["stock.quant"]._update_available_quantity(self.vase, broken, 4)
        delivery = self._delivery([(self.vase, 4)])
        self._accepted(
            self._shipped(delivery.name, [{"sku": "TPL-VASE", "quantity": 4}])
        )
        with self.assertRaises(EventWaiting):
            apply_event(self._event("SHP-1").with_user(self.robot))
        self.assertEqual(self._on_hand(self.vase, broken), 4)

    def test_shipment_before_its_receipt_waits(self):
        """A shipment of units the 3PL location does not hold yet waits;
        once the receipt is applied, the shipment applies."""
        delivery = self._delivery([(self.vase, 4)])
        receipt = self._receipt([(self.vase, 4)])
        self._accepted(
            self._shipped(delivery.name, [{"sku": "TPL-VASE", "quantity": 4}])
        )
        shipment = self._event("SHP-1")
        shipment.with_user(self.robot)._apply()
        self.assertEqual(shipment.state, "waiting")
        self.assertIn("TPL-VASE", shipment.error_message)
        self.assertEqual(delivery.state, "confirmed")
        self._accepted(
            self._received(receipt.name, [{"sku": "TPL-VASE", "quantity": 4}])
        )
        self._event("WR-1").with_user(self.robot)._apply()
        self.assertEqual(receipt.state, "done")
        # The receipt applied wakes the waiting shipment.
        self.assertEqual(shipment.state, "received")
        shipment.with_user(self.robot)._apply()
        self.assertEqual(shipment.state, "done", shipment.error_message)
        self.assertEqual(delivery.state, "done")
        self.assertEqual(self._on_hand(self.vase, self.stock), 0)

    def test_delivery_not_found_waits_and_done_is_an_error(self):
        """No such delivery: waits; a delivery already done: Error."""
        self._accepted(
            self._shipped("WH/OUT/NOPE", [{"sku": "TPL-LAMP", "quantity": 1}])
        )
        with self.assertRaises(EventWaiting):
            apply_event(self._event("SHP-1").with_user(self.robot))
        delivery = self._delivery([(self.product, 1)])
        delivery.move_ids.picked = True
        delivery.button_validate()
        self._accepted(
            self._shipped(delivery.name, [{"sku": "TPL-LAMP", "quantity": 1}], "SHP-2")
        )
        self._event("SHP-2").with_user(self.robot)._apply()
        self.assertEqual(self._event("SHP-2").state, "error")
        self.assertEqual(self._on_hand(self.product, self.stock), 19)

    def test_connection_not_driving_deliveries_refused(self):
        """Drives Deliveries off: 422 on the event's type, nothing written."""
        self.connection.drive_deliveries = False
        response = self._post(self._shipped("S", [{"sku": "TPL-LAMP", "quantity": 1}]))
        self.assertEqual(response.status_code, 422)
        self.assertEqual(response.json()["details"][0]["field"], "events[0].type")
        self.assertFalse(self._events())

    def test_channel_order_shipped_by_the_3pl_tells_carrier_and_tracking(self):
        """A channel order's delivery shipped by a 3PL event (named by the
        sale order) gets its ship job, whose payload has the 3PL's carrier
        and tracking."""
        channel = self.channel.with_user(self.robot)
        body = {
            "external_id": "3PL-7001",
            "customer": {"name": "Dock Buyer", "email": "dock@example.com"},
            "shipping_address": {
                "name": "Dock 4",
                "street": "Quai 1",
                "city": "Antwerp",
                "zip": "2000",
                "country_code": "BE",
            },
            "lines": [
                {"sku": self.listing.external_sku, "quantity": 2, "unit_price": 10}
            ],
        }
        channel.env["stock.channel.order"]._receive(
            channel, "create", json.dumps(body).encode()
        )
        order = self.env["stock.channel.order"].search(
            [("channel_id", "=", self.channel.id), ("external_id", "=", "3PL-7001")]
        )
        order.with_user(self.robot)._process()
        sale = order.sale_order_id
        delivery = sale.picking_ids
        # The delivery's origin is "<sale order> - <channel order>": the
        # sale order names it.
        self.assertEqual(delivery.sale_id, sale)
        self._accepted(
            self._shipped(
                sale.name,
                [{"sku": "TPL-LAMP", "quantity": 2}],
                carrier="UPSN",
                tracking_ref="1Z999AA10123456784",
            )
        )
        with trap_jobs() as trap:
            self._event("SHP-1").with_user(self.robot)._apply()
            trap.assert_jobs_count(1, only=order._send_shipment)
        self.assertEqual(delivery.state, "done")
        self.assertEqual(order.shipment_state, "pending")
        payload = shipments.payload(order, delivery)
        self.assertEqual(
            (payload["carrier"], payload["tracking_ref"]),
            ("UPSN", "1Z999AA10123456784"),
        )
        self.assertEqual(
            payload["lines"], [{"sku": self.listing.external_sku, "quantity": 2.0}]
        )


@tagged("post_install", "-at_install")
class TestThreeplPickingsEdi(PickingsCase):
    """944 and 945 files on /edi: mapped to ``goods_received`` and
    ``shipment_dispatched``, accepted with a 997, applied."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        Product = cls.env["product.product"]
        cls.red, cls.blue = (
            Product.create({"name": code, "default_code": code, "is_storable": True})
            for code in ("SKU-RED-M", "SKU-BLU-L")
        )

    def _post_edi(self, body):
        path = "/stock_channel_sync/3pl/east-3pl/edi"
        headers = {"Content-Type": "application/edi-x12"}
        headers.update(sign_request(SECRET, "POST", path, body))
        return self.url_open(path, data=body, headers=headers)

    def _accepted_edi(self, body):
        response = self._post_edi(body)
        self.assertEqual(response.status_code, 202, response.text)
        (ack,) = response.json()["ack"]
        # The 997 is in the file's own delimiters: read it.
        ((tset,),) = (group.sets for group in x12.parse(ack.encode()).groups)
        statuses = [seg.text(1) for seg in tset.segments if seg.id == "AK5"]
        self.assertEqual(statuses, ["A"])
        return response.json()

    def test_944_receives_the_purchase_receipt(self):
        """The 944 names its receipt by W17-04 (the origin): W07-01 received,
        W13 condition 01 the damaged part of it."""
        receipt = self._receipt([(self.red, 48), (self.blue, 30)], "PO-4410")
        answer = self._accepted_edi((SAMPLES / "944_receipt.edi").read_bytes())
        self.assertEqual(answer["events"], [{"id": "WR-7781", "status": "accepted"}])
        event = self._event("WR-7781")
        self.assertEqual(
            json.loads(event.payload)["lines"],
            [
                {"sku": "SKU-RED-M", "quantity": 48.0, "damaged": 0.0},
                {"sku": "SKU-BLU-L", "quantity": 24.0, "damaged": 2.0},
            ],
        )
        self.assertEqual(str(event.occurred_at), "2024-05-02 14:25:00")
        self._apply_all()
        self.assertEqual(event.state, "done", event.error_message)
        self.assertEqual(self._on_hand(self.red, self.stock), 48)
        self.assertEqual(self._on_hand(self.blue, self.stock), 22)
        self.assertEqual(self._on_hand(self.blue, self.damaged), 2)
        self.assertEqual(receipt.backorder_ids.move_ids.product_uom_qty, 6)

    def test_945_ships_the_sale_delivery_with_carrier_and_tracking(self):
        """The 945 names its delivery by W06-02 (the origin): W12-03
        shipped, the short line in a backorder, W27-02 and N9 CN on it."""
        for product in (self.red, self.blue):
            self.env["stock.quant"]._update_available_quantity(product, self.stock, 10)
        delivery = self._delivery([(self.red, 10), (self.blue, 5)], "SO-1001")
        self._accepted_edi((SAMPLES / "945_shipment.edi").read_bytes())
        event = self._event("SHP-88231")
        self.assertEqual(
            (event.order_ref, event.carrier, event.tracking_ref),
            ("SO-1001", "UPSN", "1Z999AA10123456784"),
        )
        self._apply_all()
        self.assertEqual(event.state, "done", event.error_message)
        self.assertEqual(delivery.state, "done")
        self.assertEqual(delivery.channel_tracking_ref, "1Z999AA10123456784")
        self.assertEqual(self._on_hand(self.red, self.stock), 0)
        self.assertEqual(self._on_hand(self.blue, self.stock), 7)
        self.assertEqual(delivery.backorder_ids.move_ids.product_uom_qty, 2)

    def test_944_for_a_product_of_the_test_products(self):
        """A 944 rewritten for this test's SKU (built from the sample) and
        posted twice: applied once."""
        receipt = self._receipt([(self.product, 5)], "PO-LAMP")
        body = (
            (SAMPLES / "944_receipt.edi")
            .read_text()
            .replace("PO-4410", "PO-LAMP")
            .replace("SKU-RED-M", "TPL-LAMP")
            .replace("W07*48*", "W07*5*")
            .replace("W07*24*EA**SK*SKU-BLU-L~\nW13*2*EA*01**AP~\n", "")
            .replace("W14*72~", "W14*5~")
            .replace("SE*10*0001~", "SE*8*0001~")
        ).encode()
        self._accepted_edi(body)
        again = self._post_edi(body)
        self.assertEqual(again.status_code, 200, again.text)
        self._apply_all()
        self.assertEqual(receipt.state, "done")
        self.assertEqual(self._atp(), 25)
