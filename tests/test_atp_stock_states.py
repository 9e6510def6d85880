from odoo import Command
from odoo.tests import tagged

from ..services.atp import AtpEngine
from .common import ChannelCase


@tagged("post_install", "-at_install")
class TestAtpStockStates(ChannelCase):
    """Which stock counts as available to sell, without any buffer rule."""

    def test_on_hand_counts(self):
        """Free stock in a sellable internal location is offered."""
        self._set_stock(self.product, self.stock_main, 12)
        self.assertEqual(self._atp(self.listing), 12)

    def test_reserved_stock_not_counted(self):
        """A reserved delivery takes its quantity out of ATP."""
        self._set_stock(self.product, self.stock_main, 12)
        picking = self._create_delivery(self.product, 5)
        self.assertEqual(picking.move_ids.state, "assigned")
        self.assertEqual(self._atp(self.listing), 7)

    def test_unreserved_demand_not_counted(self):
        """A confirmed delivery waiting for stock is promised stock too."""
        self._set_stock(self.product, self.stock_main, 12)
        picking = self._create_delivery(self.product, 5, reserve=False)
        self.assertEqual(picking.move_ids.state, "confirmed")
        self.assertEqual(self._atp(self.listing), 7)

    def test_partially_reserved_demand_counted_once(self):
        """Reserved part via the quant, the rest via the move: never twice."""
        self._set_stock(self.product, self.stock_main, 4)
        picking = self._create_delivery(self.product, 6)
        self.assertEqual(picking.move_ids.state, "partially_available")
        self._set_stock(self.product, self.stock_main, 10)
        # 14 on hand, 4 reserved, 2 still wanted.
        self.assertEqual(self._atp(self.listing), 8)

    def test_oversold_never_negative(self):
        """More demand than stock publishes 0, not a negative number."""
        self._set_stock(self.product, self.stock_main, 2)
        self._create_delivery(self.product, 5)
        self.assertEqual(self._atp(self.listing), 0)

    def test_done_delivery_leaves_stock(self):
        """Once shipped the quantity is gone from stock and from demand."""
        self._set_stock(self.product, self.stock_main, 12)
        picking = self._create_delivery(self.product, 5)
        picking.button_validate()
        self.assertEqual(picking.state, "done")
        self.assertEqual(self._atp(self.listing), 7)

    def test_quant_in_inventory_adjustment(self):
        """Between an inventory-mode ``create`` (a quant with no quantity
        yet, NULL in the table) and its ``action_apply_inventory``, the
        engine counts it as 0 and never raises; applied, it counts."""
        self._set_stock(self.product, self.stock_main, 3)
        shelf = self.env["stock.location"].create(
            {"name": "Counted shelf", "location_id": self.stock_main.id}
        )
        quant = (
            self.env["stock.quant"]
            .with_context(inventory_mode=True)
            .create(
                {
                    "product_id": self.product.id,
                    "location_id": shelf.id,
                    "inventory_quantity": 9,
                }
            )
        )
        quant.flush_recordset()
        self.env.cr.execute(
            "SELECT quantity, reserved_quantity FROM stock_quant WHERE id = %s",
            [quant.id],
        )
        self.assertFalse(self.env.cr.fetchone()[0])
        self.assertEqual(self._atp(self.listing), 3)
        self.env.cr.execute(
            "UPDATE stock_quant SET quantity = NULL WHERE id = %s",
            [quant.id],
        )
        self.env["stock.quant"].invalidate_model()
        self.assertEqual(self._atp(self.listing), 3)
        quant.inventory_quantity = 9
        quant.action_apply_inventory()
        self.assertEqual(self._atp(self.listing), 12)

    def test_cancelled_delivery_releases_stock(self):
        """Cancelling a delivery gives its quantity back."""
        self._set_stock(self.product, self.stock_main, 12)
        picking = self._create_delivery(self.product, 5, reserve=False)
        picking.action_cancel()
        self.assertEqual(self._atp(self.listing), 12)

    def test_non_sellable_location_not_counted(self):
        """Quality hold, returns inspection, damaged: never offered."""
        hold = self.env["stock.location"].create(
            {
                "name": "Quality Hold",
                "usage": "internal",
                "location_id": self.wh_main.view_location_id.id,
                "channel_sellable": False,
            }
        )
        self._set_stock(self.product, self.stock_main, 12)
        self._set_stock(self.product, hold, 30)
        self.assertEqual(self._atp(self.listing), 12)

    def test_child_of_non_sellable_location_not_counted(self):
        """A shelf inside a hold location is on hold too."""
        hold = self.env["stock.location"].create(
            {
                "name": "Returns Inspection",
                "usage": "internal",
                "location_id": self.stock_main.id,
                "channel_sellable": False,
            }
        )
        shelf = self.env["stock.location"].create(
            {"name": "Shelf 1", "usage": "internal", "location_id": hold.id}
        )
        self._set_stock(self.product, self.stock_main, 12)
        self._set_stock(self.product, shelf, 7)
        self.assertEqual(self._atp(self.listing), 12)

    def test_sublocation_of_stock_counted(self):
        """Stock on a sellable shelf below WH/Stock counts."""
        shelf = self.env["stock.location"].create(
            {"name": "Shelf 2", "usage": "internal", "location_id": self.stock_main.id}
        )
        self._set_stock(self.product, shelf, 3)
        self._set_stock(self.product, self.stock_main, 4)
        self.assertEqual(self._atp(self.listing), 7)

    def test_other_warehouse_not_counted(self):
        """A channel only sells the warehouses it is fed by."""
        self._set_stock(self.product, self.stock_main, 12)
        self._set_stock(self.product, self.stock_other, 20)
        self.assertEqual(self._atp(self.listing), 12)
        self.assertEqual(self._atp(self.listing_both), 32)

    def test_demand_of_other_warehouse_not_counted(self):
        """A delivery from another warehouse does not lower this channel."""
        self._set_stock(self.product, self.stock_main, 12)
        self._set_stock(self.product, self.stock_other, 20)
        self._create_delivery(self.product, 5, warehouse=self.wh_other)
        self.assertEqual(self._atp(self.listing), 12)
        self.assertEqual(self._atp(self.listing_both), 27)

    def test_incoming_receipt_not_counted(self):
        """Expected receipts are not stock until they are received."""
        self._set_stock(self.product, self.stock_main, 12)
        receipt = self._create_receipt(self.product, 50)
        self.assertEqual(receipt.state, "assigned")
        self.assertEqual(self._atp(self.listing), 12)
        receipt.move_ids.quantity = 50
        receipt.button_validate()
        self.assertEqual(self._atp(self.listing), 62)

    def test_internal_transfer_not_demand(self):
        """Moving stock inside a warehouse is not a promise to a customer."""
        shelf = self.env["stock.location"].create(
            {"name": "Shelf 3", "usage": "internal", "location_id": self.stock_main.id}
        )
        self._set_stock(self.product, self.stock_main, 12)
        self._create_picking(
            self.wh_main.int_type_id, self.product, 20, self.stock_main, shelf
        )
        # 12 reserved by the transfer, the 8 missing are not demand.
        self.assertEqual(self._atp(self.listing), 0)
        self._set_stock(self.product, self.stock_main, 8)
        self.assertEqual(self._atp(self.listing), 8)

    def test_multi_step_delivery_counted_once(self):
        """Pick + ship: the pick carries the demand, the waiting ship does not."""
        self.wh_other.delivery_steps = "pick_ship"
        output = self.wh_other.wh_output_stock_loc_id
        self._set_stock(self.product, self.stock_other, 10)
        ship = self._create_picking(
            self.wh_other.out_type_id, self.product, 4, output, self.customer_loc
        )
        ship.do_unreserve()
        pick = self.env["stock.picking"].create(
            {
                "picking_type_id": self.wh_other.pick_type_id.id,
                "location_id": self.stock_other.id,
                "location_dest_id": output.id,
                "move_ids": [
                    Command.create(
                        {
                            "name": "pick",
                            "product_id": self.product.id,
                            "product_uom_qty": 4,
                            "product_uom": self.product.uom_id.id,
                            "location_id": self.stock_other.id,
                            "location_dest_id": output.id,
                            "move_dest_ids": [Command.link(ship.move_ids.id)],
                            "reservation_date": False,
                        }
                    )
                ],
            }
        )
        ship.move_ids._recompute_state()
        pick.action_confirm()
        pick.do_unreserve()
        self.assertEqual(ship.move_ids.state, "waiting")
        self.assertEqual(pick.move_ids.state, "confirmed")
        both = self.listing_both
        # Before reservation: the demand of the pick step.
        self.assertEqual(self._atp(both), 6)
        pick.action_assign()
        self.assertEqual(self._atp(both), 6)
        pick.button_validate()
        ship.action_assign()
        # Goods wait at WH/Output, reserved by the ship move.
        self.assertEqual(ship.move_ids.state, "assigned")
        self.assertEqual(self._atp(both), 6)

    def test_inactive_listing_channel_or_product_publish_zero(self):
        """Archiving the listing, its product or its channel publishes 0."""
        self._set_stock(self.product, self.stock_main, 12)
        self.listing.active = False
        self.assertEqual(self._atp(self.listing), 0)
        self.listing.active = True
        self.channel.active = False
        self.assertEqual(self._atp(self.listing), 0)
        self.channel.active = True
        self.product.active = False
        self.assertEqual(self._atp(self.listing), 0)

    def test_atp_fields_on_listing(self):
        """The form shows the sellable quantity, the rule and the result."""
        self._set_stock(self.product, self.stock_main, 12)
        rule = self._create_rule(channel_id=self.channel.id, buffer_value=2)
        self.listing.invalidate_recordset()
        self.assertEqual(self.listing.atp_sellable_qty, 12)
        self.assertEqual(self.listing.atp_rule_id, rule)
        self.assertEqual(self.listing.atp_qty, 10)

    def test_many_listings_fixed_number_of_queries(self):
        """ATP of 1 or 40 listings costs the same number of queries."""
        products = self.env["product.product"].create(
            [
                {"name": f"Bulk {i}", "default_code": f"BULK-{i}", "is_storable": True}
                for i in range(40)
            ]
        )
        listings = self.env["stock.channel.listing"].create(
            [{"channel_id": self.channel.id, "product_id": p.id} for p in products]
        )
        for product in products:
            self._set_stock(product, self.stock_main, 3)
        self.env.flush_all()
        # With mrp, the first computation after a kit BoM change also reads
        # the kit BoMs (once per process and change, whatever the listings).
        AtpEngine(self.env).compute(listings[:1].ids)
        engine_counts = []
        for subset in (listings[:1], listings):
            count0 = self.cr.sql_log_count
            results = AtpEngine(self.env).compute(subset.ids)
            engine_counts.append(self.cr.sql_log_count - count0)
            self.assertEqual({r.qty for r in results.values()}, {3})
        self.assertEqual(engine_counts[0], engine_counts[1])
