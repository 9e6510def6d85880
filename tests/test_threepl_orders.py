import json
import traceback
from datetime import datetime, timedelta

from odoo import Command, fields
from odoo.exceptions import AccessError, UserError
from odoo.tests import BaseCase, new_test_user, tagged

from odoo.addons.queue_job.exception import RetryableJobError
from odoo.addons.queue_job.job import Job
from odoo.addons.queue_job.tests.common import trap_jobs

from ..adapters import x12
from ..adapters.x12 import order_940
from ..services import jobs
from ..services.retries import OUTAGE_SECONDS, retry_span
from .common import TECHNICAL_USER_GROUPS
from .test_threepl_events import SECRET, ThreeplCase
from .threepl_order_standin import Reply, ThreeplApi, read_940

TOKEN = "tpl-api-token-7f3a9c"
USER_GROUPS = "stock.group_stock_user,stock_channel_sync.group_channel_user"
MANAGER_GROUPS = "stock.group_stock_user,stock_channel_sync.group_channel_manager"


class ThreeplOrderCase(ThreeplCase):
    """``ThreeplCase`` whose connection has a 3PL API (a stand-in on
    127.0.0.1 that checks the token and honours idempotency keys), a
    customer with a full address and a second product sold by the dozen."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env["ir.config_parameter"].set_param(
            "stock_channel_sync.allowed_http_hosts", "127.0.0.1"
        )
        cls.api = ThreeplApi(TOKEN).start()
        cls.addClassCleanup(cls.api.stop)
        cls.connection.write({"api_url": cls.api.url, "api_token": TOKEN})
        us = cls.env.ref("base.us")
        cls.customer = cls.env["res.partner"].create(
            {
                "name": "Jane Doe",
                "street": "1 Harbor Way",
                "street2": "Dock *4~B",
                "city": "Saint Louis",
                "zip": "63101",
                "state_id": cls.env["res.country.state"]
                .search([("country_id", "=", us.id), ("code", "=", "MO")], limit=1)
                .id,
                "country_id": us.id,
                "phone": "+1 314 555 0100",
                "email": "jane@example.com",
            }
        )
        cls.bulb = cls.env["product.product"].create(
            {
                "name": "3PL Bulb",
                "default_code": "TPL-BULB",
                "barcode": "0012345678905",
                "is_storable": True,
            }
        )
        cls.env["stock.quant"]._update_available_quantity(
            cls.bulb, cls.warehouse.lot_stock_id, 24
        )
        cls.dozen = cls.env.ref("uom.product_uom_dozen")
        cls.manager = new_test_user(
            cls.env, login="tpl_order_manager", groups=MANAGER_GROUPS
        )
        cls.user = new_test_user(cls.env, login="tpl_order_user", groups=USER_GROUPS)

    def setUp(self):
        super().setUp()
        self.api.reset()

    # -- builders ------------------------------------------------------------

    def _delivery(self, lines=None, warehouse=None, partner=None, reserve=True):
        """A confirmed delivery of ``lines`` ``[(product, quantity, uom)]``,
        reserved as far as stock allows, committed as far as the hook sees
        (flush and precommit)."""
        warehouse = warehouse or self.warehouse
        customers = self.env.ref("stock.stock_location_customers")
        lines = lines or [(self.product, 3, self.product.uom_id)]
        picking = self.env["stock.picking"].create(
            {
                "picking_type_id": warehouse.out_type_id.id,
                "partner_id": (partner or self.customer).id,
                "location_id": warehouse.lot_stock_id.id,
                "location_dest_id": customers.id,
                "move_ids": [
                    Command.create(
                        {
                            "name": product.display_name,
                            "product_id": product.id,
                            "product_uom_qty": quantity,
                            "product_uom": uom.id,
                            "location_id": warehouse.lot_stock_id.id,
                            "location_dest_id": customers.id,
                        }
                    )
                    for product, quantity, uom in lines
                ],
            }
        )
        picking.action_confirm()
        if reserve:
            picking.action_assign()
        else:
            picking.do_unreserve()
        self._commit()
        return picking

    def _commit(self):
        """What a commit runs: flush, then the precommit hooks."""
        self.env.flush_all()
        self.env.cr.flush()

    def _order(self, picking):
        return self.env["stock.channel.threepl.order"].search(
            [("picking_id", "=", picking.id)]
        )

    def _jobs(self, order):
        return self.env["queue.job"].search(
            [("identity_key", "=", f"stock_channel_sync.threepl_order.{order.id}")]
        )

    def _run(self, job):
        """What queue_job's runner does with one stored job, without its
        commits nor a savepoint (what the job records in transactions of
        its own must stay): the job's state afterwards."""
        loaded = Job.load(self.env, job.uuid)
        loaded.set_started()
        loaded.store()
        try:
            loaded.perform()
        except RetryableJobError as exc:
            loaded.postpone(result=str(exc), seconds=exc.seconds)
            loaded.set_pending(reset_retry=False)
            loaded.store()
        except Exception as exc:  # the job fails, as in the runner
            loaded.set_failed(
                exc_name=type(exc).__name__,
                exc_message=str(exc),
                exc_info=traceback.format_exc(),
            )
            loaded.store()
        else:
            loaded.set_done()
            loaded.store()
        self.env.invalidate_all()
        return job.state

    def _ship_date(self, picking):
        """The scheduled date in the technical user's time zone."""
        return fields.Datetime.context_timestamp(
            picking.with_user(self.robot), picking.scheduled_date
        ).date()

    def _send(self, picking):
        """The order of ``picking`` and the state of its job once run."""
        order = self._order(picking)
        return order, self._run(self._jobs(order))


@tagged("post_install", "-at_install")
class TestThreeplOrders(ThreeplOrderCase):
    def test_ready_delivery_sends_one_order(self):
        """A delivery reserved at the 3PL's warehouse becomes one pending
        order and one job (the technical user's, its key, its retries); the
        job posts the JSON order, with the token and the key, for what is
        reserved, each product in its own unit."""
        picking = self._delivery(
            [
                (self.product, 25, self.product.uom_id),  # 20 in stock
                (self.bulb, 1, self.dozen),
            ]
        )
        self.assertEqual(picking.state, "assigned")
        order = self._order(picking)
        self.assertEqual(
            (order.state, order.order_ref, order.revision, order.message_format),
            ("pending", picking.name, 1, "json"),
        )
        self.assertEqual(order.idempotency_key, f"east-3pl:{picking.name}:1")
        self.assertEqual(order.company_id, self.connection.company_id)
        job = self._jobs(order)
        self.assertEqual(len(job), 1)
        self.assertEqual(job.user_id, self.robot)
        self.assertEqual(job.company_id, self.connection.company_id)
        self.assertEqual(job.job_function_id.method, "_send")
        self.assertEqual(job.channel, "root.stock_channel_sync")
        self.assertEqual(job.max_retries, jobs.KINDS["threepl_order"].max_retries)
        self.assertIn(picking.name, job.name)
        self.assertFalse(self.api.received, "nothing is sent before the job runs")

        self.assertEqual(self._run(job), "done")
        (received,) = self.api.received
        self.assertEqual(received.path, "/shipping_orders")
        self.assertEqual(received.headers["Authorization"], f"Bearer {TOKEN}")
        self.assertEqual(received.headers["Idempotency-Key"], order.idempotency_key)
        self.assertEqual(
            received.json(),
            {
                "order_ref": picking.name,
                "origin": "",
                "ship_to": {
                    "name": "Jane Doe",
                    "street": "1 Harbor Way",
                    "street2": "Dock *4~B",
                    "city": "Saint Louis",
                    "zip": "63101",
                    "state": "MO",
                    "country": "US",
                    "phone": "+1 314 555 0100",
                    "email": "jane@example.com",
                },
                "carrier": "",
                "requested_ship_date": self._ship_date(picking).isoformat(),
                "lines": [
                    {"line": 1, "sku": "TPL-LAMP", "quantity": 20, "uom": "EA"},
                    {"line": 2, "sku": "TPL-BULB", "quantity": 12, "uom": "EA"},
                ],
            },
        )
        self.assertEqual(
            (order.state, order.attempts, order.last_status, order.external_ref),
            ("sent", 1, 201, "3PL-1"),
        )
        self.assertTrue(order.sent_at)
        self.assertEqual(json.loads(order.payload), received.json())
        self.assertFalse(order.sending_until)
        self.assertEqual(picking.with_user(self.user).threepl_order_state, "sent")
        self.assertEqual(self.connection.shipping_order_count, 1)
        action = picking.with_user(self.user).action_view_threepl_order()
        self.assertEqual(action["res_id"], order.id)

    def test_enqueued_once_per_transaction(self):
        """Ten deliveries reserved in one transaction: one query at commit,
        ten orders, ten jobs, each with its order's identity key."""
        with trap_jobs() as trap:
            pickings = self.env["stock.picking"]
            for _i in range(10):
                pickings |= self._delivery(
                    [(self.product, 1, self.product.uom_id)], reserve=False
                )
            pickings.action_assign()
            self._commit()
            orders = self.env["stock.channel.threepl.order"].search(
                [("picking_id", "in", pickings.ids)]
            )
            self.assertEqual(len(orders), 10)
            sends = [j for j in trap.enqueued_jobs if j.method_name == "_send"]
            self.assertEqual(len(sends), 10)
            self.assertEqual({j.recordset for j in sends}, set(orders))
            trap.assert_enqueued_job(
                orders[0]._send,
                properties={
                    "identity_key": f"stock_channel_sync.threepl_order.{orders[0].id}"
                },
            )

    def test_ready_twice_and_run_twice_make_one_order(self):
        """Unreserved and reserved again before the job ran, then the job
        run twice: one row, one job, one order at the 3PL; ready again
        after: nothing more."""
        picking = self._delivery()
        picking.do_unreserve()
        self._commit()
        self.assertEqual(picking.state, "confirmed")
        picking.action_assign()
        self._commit()
        order = self._order(picking)
        self.assertEqual(len(order), 1)
        job = self._jobs(order)
        self.assertEqual(len(job), 1, "the waiting job absorbed the second ready")
        self.assertEqual(self._run(job), "done")
        self.assertEqual(order._send(), "nothing to do: sent")
        picking.do_unreserve()
        picking.action_assign()
        self._commit()
        self.assertEqual(len(self._jobs(order)), 1)
        self.assertEqual(len(self.api.received), 1)
        self.assertEqual(len(self.api.orders), 1)

    def test_concurrent_attempt_waits_and_a_replay_is_answered_once(self):
        """A job finding another attempt in flight (the lease) calls
        nothing and retries; a retry whose first answer was lost sends the
        same key and body: the 3PL replays its answer, one order."""
        picking = self._delivery()
        order = self._order(picking)
        self.env.cr.execute(
            "UPDATE stock_channel_threepl_order SET sending_until = %s WHERE id = %s",
            [fields.Datetime.now() + timedelta(minutes=5), order.id],
        )
        order.invalidate_recordset()
        with self.assertRaisesRegex(RetryableJobError, "another attempt"):
            order.with_user(self.robot)._send()
        self.assertFalse(self.api.received)
        self.env.cr.execute(
            "UPDATE stock_channel_threepl_order SET sending_until = NULL WHERE id = %s",
            [order.id],
        )
        order.invalidate_recordset()
        self.assertEqual(self._run(self._jobs(order)), "done")
        # The answer "lost": the order is still pending on our side.
        self.env.cr.execute(
            "UPDATE stock_channel_threepl_order SET state = 'pending' WHERE id = %s",
            [order.id],
        )
        order.invalidate_recordset()
        self.assertIn("sent", order.with_user(self.robot)._send())
        first, again = self.api.received
        self.assertEqual(first.body, again.body)
        self.assertEqual(
            first.headers["Idempotency-Key"], again.headers["Idempotency-Key"]
        )
        self.assertEqual(self.api.replays, 1)
        self.assertEqual(len(self.api.orders), 1)
        self.assertEqual(order.attempts, 2)

    def test_outage_then_throttling_then_success(self):
        """503, then 429 with Retry-After, then accepted: the order stays
        pending with its attempts and last status, the job is retried (after
        the 3PL's Retry-After), the same body is sent each time."""
        self.api.script += [
            Reply(503, {"error": "maintenance"}),
            Reply(429, {"error": "slow down"}, {"Retry-After": "7"}),
        ]
        picking = self._delivery()
        order = self._order(picking)
        job = self._jobs(order)
        self.assertEqual(self._run(job), "pending")
        self.assertEqual(
            (order.state, order.attempts, order.last_status), ("pending", 1, 503)
        )
        self.assertIn("maintenance", order.response_excerpt)
        self.assertFalse(order.sending_until, "the lease ends with the attempt")
        self.assertEqual(job.retry, 1)
        self.assertEqual(self._run(job), "pending")
        self.assertEqual((order.attempts, order.last_status), (2, 429))
        self.assertAlmostEqual(
            (job.eta - fields.Datetime.now()).total_seconds(), 7, delta=3
        )
        self.assertEqual(self._run(job), "done")
        self.assertEqual((order.state, order.attempts), ("sent", 3))
        self.assertFalse(order.error_message)
        bodies = {received.body for received in self.api.received}
        self.assertEqual(len(self.api.received), 3)
        self.assertEqual(len(bodies), 1)
        self.assertEqual(len(self.api.orders), 1)

    def test_retries_outlast_a_day_then_fail_the_order(self):
        """The job's retry pattern outlasts a day of outage; its last try
        fails the order (with a to-do), never leaves it pending."""
        function = self.env.ref("stock_channel_sync.queue_job_function_threepl_order")
        kind = jobs.KINDS["threepl_order"]
        self.assertGreater(
            retry_span(function.retry_pattern, kind.max_retries), OUTAGE_SECONDS
        )
        self.api.script.append(Reply(503, {"error": "down"}))
        picking = self._delivery()
        order = self._order(picking)
        job = self._jobs(order)
        job.sudo().write({"retry": job.max_retries - 1})
        self.assertEqual(self._run(job), "failed")
        self.assertEqual((order.state, order.last_status), ("failed", 503))
        self.assertTrue(order.activity_ids)

    def test_refusal_fails_with_a_todo_and_resend_sends_a_new_revision(self):
        """A 422 echoing the credentials: Failed, the 3PL's (redacted) answer
        kept, the job failed, one to-do for the technical user; no token nor
        secret anywhere. A plain user cannot resend; a manager's Resend is
        a new revision, sent."""
        self.api.script.append(
            Reply(
                422,
                {
                    "error": "ship_to.zip: unknown postal code",
                    "echo": [f"Bearer {TOKEN}", TOKEN, SECRET],
                },
            )
        )
        picking = self._delivery()
        order = self._order(picking)
        job = self._jobs(order)
        self.assertEqual(self._run(job), "failed")
        self.assertEqual((order.state, order.last_status), ("failed", 422))
        self.assertIn("unknown postal code", order.response_excerpt)
        self.assertIn("HTTP 422", order.error_message)
        (todo,) = order.activity_ids
        self.assertEqual(todo.user_id, self.robot)
        self.assertIn(picking.name, todo.summary)
        texts = [
            order.response_excerpt,
            order.error_message,
            order.payload,
            todo.note,
            job.exc_info,
            job.exc_message,
            job.result or "",
        ]
        for text in texts:
            self.assertNotIn(TOKEN, text)
            self.assertNotIn(SECRET, text)
        self.assertIn("***", order.response_excerpt)

        stock_only = new_test_user(
            self.env, login="tpl_stock_only", groups="stock.group_stock_user"
        )
        for who in (self.user, stock_only):
            with self.assertRaises(UserError):
                order.with_user(who).action_resend()
        self.assertEqual(order.state, "failed")
        with self.assertRaises(AccessError):
            order.with_user(self.manager).write({"state": "pending"})

        order.with_user(self.manager).action_resend()
        self.assertEqual(
            (order.state, order.revision, order.attempts, order.payload),
            ("pending", 2, 0, False),
        )
        self.assertEqual(order.idempotency_key, f"east-3pl:{picking.name}:2")
        self.assertFalse(order.activity_ids, "the to-do is done")
        new_job = self._jobs(order).filtered(lambda j: j.state == "pending")
        self.assertEqual(len(new_job), 1)
        self.assertEqual(new_job.user_id, self.robot)
        self.assertEqual(self._run(new_job), "done")
        self.assertEqual(order.state, "sent")
        self.assertEqual(
            self.api.received[-1].headers["Idempotency-Key"], order.idempotency_key
        )
        self.assertEqual(list(self.api.orders), [picking.name])

    def test_already_at_the_3pl_counts_as_sent(self):
        """409: the 3PL has this order reference already (its answer to an
        earlier key was lost): the order is sent, nothing is duplicated."""
        picking = self._delivery()
        self.api.orders[picking.name] = {"order_ref": picking.name}
        order, state = self._send(picking)
        self.assertEqual(state, "done")
        self.assertEqual((order.state, order.last_status), ("sent", 409))
        self.assertIn("already", self._jobs(order).result)
        self.assertEqual(len(self.api.orders), 1)

    def test_unusable_delivery_fails_before_any_call(self):
        """A product without SKU and an address without street: Failed with
        every problem, a to-do, nothing sent; fixed, then resent."""
        nameless = self.env["product.product"].create(
            {"name": "No Code", "is_storable": True, "type": "consu"}
        )
        self.env["stock.quant"]._update_available_quantity(
            nameless, self.warehouse.lot_stock_id, 5
        )
        homeless = self.customer.copy({"street": False, "street2": False})
        picking = self._delivery([(nameless, 1, nameless.uom_id)], partner=homeless)
        order, state = self._send(picking)
        self.assertEqual(state, "failed")
        self.assertEqual(order.state, "failed")
        self.assertIn("No Code", order.error_message)
        self.assertIn("street", order.error_message)
        self.assertFalse(self.api.received)
        self.assertEqual(order.attempts, 0)
        self.assertTrue(order.activity_ids)
        nameless.default_code = "TPL-NOCODE"
        homeless.street = "2 Harbor Way"
        order.with_user(self.manager).action_resend()
        new_job = self._jobs(order).filtered(lambda j: j.state == "pending")
        self.assertEqual(self._run(new_job), "done")
        self.assertEqual(order.state, "sent")
        self.assertEqual(self.api.received[0].json()["lines"][0]["sku"], "TPL-NOCODE")

    def test_barcode_mapping(self):
        """A connection mapping SKUs to barcodes sends the barcode."""
        self.connection.sku_field = "barcode"
        picking = self._delivery([(self.bulb, 2, self.bulb.uom_id)])
        self._send(picking)
        self.assertEqual(
            self.api.received[0].json()["lines"][0]["sku"], "0012345678905"
        )

    def test_x12_connection_sends_a_940_that_parses(self):
        """An X12 connection posts a 940 to /edi: the addon's reader accepts
        its envelopes; W05, N1/N3/N4/PER, G62, W66, LX/W01 and W76 carry the
        delivery; ISA13 is the connection's next control number (shared with
        its 997s), kept with the order; delimiters in the address are
        blanked."""
        self.connection.write(
            {
                "protocol": "x12",
                "x12_sender_id": "SCSDEPOSITOR",
                "x12_receiver_id": "ACME3PL",
            }
        )
        self.connection.ack_control_number = 41
        picking = self._delivery(
            [(self.product, 4, self.product.uom_id), (self.bulb, 1, self.dozen)]
        )
        order, state = self._send(picking)
        self.assertEqual(state, "done")
        self.assertEqual((order.message_format, order.state), ("x12", "sent"))
        (received,) = self.api.received
        self.assertEqual(received.path, "/edi")
        self.assertEqual(received.headers["Content-Type"], "application/edi-x12")
        self.assertEqual(received.body.decode(), order.payload)
        interchange, tset = read_940(received.body)
        self.assertEqual(interchange.control_number, "000000042")
        self.assertEqual(order.control_number, 42)
        self.assertEqual(self.connection.ack_control_number, 42)
        self.assertEqual(
            (interchange.sender, interchange.receiver),
            ("ZZ:SCSDEPOSITOR", "ZZ:ACME3PL"),
        )
        self.assertEqual(interchange.groups[0].control_number, "42")
        self.assertEqual(interchange.delimiters[:3], ("*", ">", "~"))
        segments = {}
        for seg in tset.segments:
            segments.setdefault(seg.id, []).append(list(seg))
        self.assertEqual(segments["W05"], [["W05", "N", picking.name]])
        self.assertEqual(segments["N1"], [["N1", "ST", "Jane Doe"]])
        self.assertEqual(segments["N3"], [["N3", "1 Harbor Way", "Dock 4 B"]])
        self.assertEqual(segments["N4"], [["N4", "Saint Louis", "MO", "63101", "US"]])
        self.assertEqual(
            segments["PER"],
            [
                [
                    "PER",
                    "IC",
                    "Jane Doe",
                    "TE",
                    "+1 314 555 0100",
                    "EM",
                    "jane@example.com",
                ]
            ],
        )
        self.assertEqual(
            segments["G62"],
            [["G62", "10", self._ship_date(picking).strftime("%Y%m%d")]],
        )
        self.assertEqual(segments["W66"], [["W66", "PP", "M"]])
        self.assertEqual(segments["LX"], [["LX", "1"], ["LX", "2"]])
        self.assertEqual(
            segments["W01"],
            [
                ["W01", "4", "EA", "", "SK", "TPL-LAMP"],
                ["W01", "12", "EA", "", "SK", "TPL-BULB"],
            ],
        )
        self.assertEqual(segments["W76"], [["W76", "16"]])
        # The next 940 takes the next number.
        second = self._delivery()
        self._send(second)
        self.assertEqual(self._order(second).control_number, 43)
        self.assertEqual(len(self.api.orders), 2)

    def test_x12_without_interchange_ids_fails_clearly(self):
        self.connection.protocol = "x12"
        picking = self._delivery()
        order, state = self._send(picking)
        self.assertEqual((state, order.state), ("failed", "failed"))
        self.assertIn("ISA ID", order.error_message)
        self.assertFalse(order.control_number)
        self.assertEqual(self.connection.ack_control_number, 0)
        self.assertFalse(self.api.received)

    def test_deliveries_not_driven_send_nothing(self):
        """No order for a warehouse without connection, a connection that
        does not drive deliveries, one without API URL, a delivery not
        reserved, a receipt."""
        other = self.env["stock.warehouse"].create({"name": "No 3PL", "code": "NO3PL"})
        self.env["stock.quant"]._update_available_quantity(
            self.product, other.lot_stock_id, 5
        )
        Order = self.env["stock.channel.threepl.order"]
        self._delivery(warehouse=other)
        self._delivery(reserve=False)
        receipt_from = self.env.ref("stock.stock_location_suppliers")
        receipt = self.env["stock.picking"].create(
            {
                "picking_type_id": self.warehouse.in_type_id.id,
                "location_id": receipt_from.id,
                "location_dest_id": self.warehouse.lot_stock_id.id,
                "move_ids": [
                    Command.create(
                        {
                            "name": "in",
                            "product_id": self.product.id,
                            "product_uom_qty": 2,
                            "product_uom": self.product.uom_id.id,
                            "location_id": receipt_from.id,
                            "location_dest_id": self.warehouse.lot_stock_id.id,
                        }
                    )
                ],
            }
        )
        receipt.action_confirm()
        self._commit()
        self.assertEqual(receipt.state, "assigned")
        self.assertFalse(Order.search([]))
        self.connection.drive_deliveries = False
        self._delivery()
        self.connection.write({"drive_deliveries": True, "api_url": False})
        self._delivery()
        self.assertFalse(Order.search([]))
        self.assertFalse(
            self.env["queue.job"].search(
                [("identity_key", "like", "stock_channel_sync.threepl_order.%")]
            )
        )

    def test_cancelled_delivery(self):
        """Cancelled before its order was sent: the order is cancelled,
        nothing reaches the 3PL; cancelled after: a to-do to cancel it at
        the 3PL."""
        early = self._delivery()
        early.action_cancel()
        self._commit()
        order = self._order(early)
        self.assertEqual(order.state, "cancelled")
        self.assertEqual(
            order.with_user(self.robot)._send(), "nothing to do: cancelled"
        )
        late = self._delivery()
        late_order, _state = self._send(late)
        self.assertEqual(late_order.state, "sent")
        late.action_cancel()
        self._commit()
        self.assertEqual(late_order.state, "sent")
        (todo,) = late_order.activity_ids
        self.assertEqual(todo.user_id, self.robot)
        self.assertIn("at the 3PL", todo.summary)
        self.assertEqual(len(self.api.received), 1)

    def test_orders_are_read_only(self):
        picking = self._delivery()
        order = self._order(picking)
        for who in (self.user, self.manager, self.robot):
            with self.assertRaises(AccessError):
                order.with_user(who).write({"state": "sent"})
            with self.assertRaises(AccessError):
                order.with_user(who).unlink()

    def test_form_buttons(self):
        """The delivery form shows its 3PL order to channel users only; the
        connection form counts its orders."""
        Picking = self.env["stock.picking"]
        arch = Picking.with_user(self.user).get_views([(False, "form")])["views"]
        self.assertIn("action_view_threepl_order", arch["form"]["arch"])
        stock_only = new_test_user(
            self.env, login="tpl_plain_stock", groups="stock.group_stock_user"
        )
        arch = Picking.with_user(stock_only).get_views([(False, "form")])["views"]
        self.assertNotIn("action_view_threepl_order", arch["form"]["arch"])
        connection_form = self.env["stock.channel.threepl"].get_views(
            [(False, "form")]
        )["views"]["form"]["arch"]
        self.assertIn("action_view_shipping_orders", connection_form)
        self._delivery()
        action = self.connection.action_view_shipping_orders()
        self.assertEqual(len(self.env[action["res_model"]].search(action["domain"])), 1)


@tagged("post_install", "-at_install")
class TestThreeplOrdersMultiCompany(ThreeplOrderCase):
    def test_other_company_orders_invisible(self):
        """A manager of another company sees none of this company's
        shipping orders."""
        company_b = self.env["res.company"].create({"name": "3PL Co B"})
        manager_b = new_test_user(
            self.env,
            login="tpl_manager_b",
            groups=TECHNICAL_USER_GROUPS,
            company_id=company_b.id,
            company_ids=[Command.set(company_b.ids)],
        )
        order = self._order(self._delivery())
        self.assertTrue(order)
        Order = self.env["stock.channel.threepl.order"].with_user(manager_b)
        self.assertFalse(Order.search([]))
        with self.assertRaises(AccessError):
            order.with_user(manager_b).read(["state"])


@tagged("post_install", "-at_install")
class TestOrder940(BaseCase):
    """The 940 writer, database-free."""

    DOCUMENT = {
        "order_ref": "WH/OUT/00042",
        "origin": "S00042",
        "ship_to": {
            "name": "Jane*Doe~",
            "street": "1 Harbor Way",
            "street2": "",
            "city": "Saint Louis",
            "zip": "63101",
            "state": "MO",
            "country": "US",
            "phone": "",
            "email": "",
        },
        "carrier": "UPS Ground",
        "requested_ship_date": "2026-12-04",
        "lines": [
            {"line": 1, "sku": "SKU-RED-M", "quantity": 2.5, "uom": "KG"},
            {"line": 2, "sku": "SKU-BLU-L", "quantity": 3, "uom": "EA"},
        ],
    }
    ENVELOPE = {
        "sender": ("ZZ", "SCSDEPOSITOR"),
        "receiver": ("01", "123456789"),
        "control_number": 7,
        "when": datetime(2026, 12, 3, 9, 30),
    }

    def test_parses_back_with_its_totals(self):
        text = order_940.render(self.DOCUMENT, **self.ENVELOPE)
        interchange = x12.parse(text)
        self.assertEqual(interchange.groups[0].functional_id, "OW")
        self.assertEqual(interchange.groups[0].version, "004010")
        self.assertEqual(interchange.date, "261203")
        self.assertEqual(interchange.usage, "P")
        (tset,) = interchange.groups[0].sets
        by_id = {seg.id: list(seg) for seg in tset.segments}
        self.assertEqual(by_id["W05"], ["W05", "N", "WH/OUT/00042", "S00042"])
        self.assertEqual(by_id["N1"], ["N1", "ST", "Jane Doe"])
        self.assertNotIn("PER", by_id)
        self.assertEqual(by_id["G62"], ["G62", "10", "20261204"])
        self.assertEqual(by_id["W66"], ["W66", "PP", "M", "", "", "UPS Ground"])
        self.assertEqual(by_id["W76"], ["W76", "5.5"])
        self.assertTrue(
            text.startswith("ISA*00*          *00*          *ZZ*SCSDEPOSITOR   ")
        )
        self.assertTrue(text.endswith("IEA*1*000000007~"))

    def test_every_problem_at_once(self):
        bad = dict(
            self.DOCUMENT,
            order_ref="WH/OUT/" + "9" * 20,
            ship_to=dict(self.DOCUMENT["ship_to"], name=" ~ "),
            lines=[{"line": 1, "sku": "", "quantity": 0, "uom": "Box of 6"}],
        )
        with self.assertRaises(order_940.OrderRefused) as caught:
            order_940.segments(bad)
        found = " | ".join(caught.exception.problems)
        for expected in ("W05-02", "N1-02", "W01-01", "W01-02", "W01-05"):
            self.assertIn(expected, found)
        with self.assertRaises(order_940.OrderRefused):
            order_940.render(self.DOCUMENT, **dict(self.ENVELOPE, sender=("XX", "a*b")))
        with self.assertRaises(order_940.OrderRefused):
            order_940.render(self.DOCUMENT, **dict(self.ENVELOPE, control_number=0))
