import json
from pathlib import Path

from odoo import Command
from odoo.exceptions import AccessError, ValidationError
from odoo.tests import HttpCase, tagged

from ..adapters import x12
from ..adapters.signing import sign_request
from ..services.atp import AtpEngine
from .common import technical_user

SECRET = "tpl-secret-0123456789"
SAMPLES = Path(__file__).parent / "x12_samples"


class ThreeplCase(HttpCase):
    """A 3PL connection on the main warehouse, a hold location, a product
    with stock there and a channel selling that warehouse."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env["stock.channel.buffer.rule"].search([]).action_archive()
        cls.robot = technical_user(cls.env)
        cls.warehouse = cls.env["stock.warehouse"].search(
            [("company_id", "=", cls.env.company.id)], limit=1
        )
        cls.hold = cls.env["stock.location"].create(
            {
                "name": "3PL Hold",
                "location_id": cls.warehouse.view_location_id.id,
                "usage": "internal",
                "channel_sellable": False,
            }
        )
        cls.product = cls.env["product.product"].create(
            {"name": "3PL Lamp", "default_code": "TPL-LAMP", "is_storable": True}
        )
        cls.env["stock.quant"]._update_available_quantity(
            cls.product, cls.warehouse.lot_stock_id, 20
        )
        cls.connection = cls.env["stock.channel.threepl"].create(
            {
                "name": "East 3PL",
                "code": "east-3pl",
                "warehouse_id": cls.warehouse.id,
                "hold_location_id": cls.hold.id,
                "user_id": cls.robot.id,
                "webhook_secret": SECRET,
            }
        )
        cls.channel = cls.env["stock.channel"].create(
            {
                "name": "3PL Web",
                "code": "tpl-web",
                "user_id": cls.robot.id,
                "warehouse_ids": [Command.set(cls.warehouse.ids)],
            }
        )
        cls.listing = cls.env["stock.channel.listing"].create(
            {"channel_id": cls.channel.id, "product_id": cls.product.id}
        )

    def _post(self, payload, code="east-3pl", secret=SECRET):
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        path = f"/stock_channel_sync/3pl/{code}/events"
        headers = {"Content-Type": "application/json"}
        if secret:
            headers.update(sign_request(secret, "POST", path, body))
        return self.url_open(path, data=body, headers=headers)

    def _events(self):
        return self.env["stock.channel.threepl.event"].search(
            [("connection_id", "=", self.connection.id)]
        )

    @staticmethod
    def _adjustment(event_id="ADJ-1", quantity=-3, reason="AU", sku="TPL-LAMP"):
        return {
            "id": event_id,
            "type": "adjustment",
            "occurred_at": "2026-12-03T09:00:00Z",
            "sku": sku,
            "quantity": quantity,
            "reason_code": reason,
        }

    def _apply_all(self):
        """Run the events' jobs, oldest first, as the queue would, until
        none is left (an applied event wakes the waiting ones)."""
        for _round in range(5):
            pending = self._events().filtered(lambda e: e.state == "received")
            if not pending:
                return
            for event in pending.sorted("id"):
                event.with_user(self.robot)._apply()

    def _atp(self):
        self.env.flush_all()
        return AtpEngine(self.env).compute(self.listing.ids)[self.listing.id].qty


@tagged("post_install", "-at_install")
class TestThreeplIntake(ThreeplCase):
    def test_event_stored_once_and_applied_as_a_move(self):
        response = self._post({"events": [self._adjustment()]})
        self.assertEqual(response.status_code, 202, response.text)
        self.assertEqual(
            response.json(),
            {"status": "accepted", "events": [{"id": "ADJ-1", "status": "accepted"}]},
        )
        event = self._events()
        self.assertEqual(
            (event.kind, event.quantity, event.state), ("adjustment", -3, "received")
        )
        job = self.env["queue.job"].search(
            [("identity_key", "=", f"stock_channel_sync.threepl.{event.id}")]
        )
        # Run as the connection's technical user, with its job function.
        self.assertEqual(job.user_id, self.robot)
        self.assertEqual(job.company_id, self.connection.company_id)
        self.assertEqual(job.job_function_id.method, "_apply")
        self.assertEqual(job.channel, "root.stock_channel_sync.orders")
        again = self._post(self._adjustment())
        self.assertEqual(again.status_code, 200)
        self.assertEqual(again.json()["status"], "duplicate")
        self.assertEqual(len(self._events()), 1)
        self._apply_all()
        self.assertEqual(event.state, "done")
        move = event.move_ids
        self.assertEqual(
            (move.state, move.product_qty, move.is_inventory), ("done", 3, True)
        )
        self.assertIn("ADJ-1", move.origin)
        self.assertEqual(self._atp(), 17)
        # Applied once: a second run does nothing.
        self.assertEqual(event.with_user(self.robot)._apply(), "nothing to do: done")
        self.assertEqual(self._atp(), 17)

    def test_hold_and_release_move_to_and_from_the_hold_location(self):
        self._post({"events": [self._adjustment("H-1", 5, "05")]})
        self._apply_all()
        self.assertEqual(self._atp(), 15)
        held = self.env["stock.quant"]._get_available_quantity(self.product, self.hold)
        self.assertEqual(held, 5)
        self._post({"events": [self._adjustment("R-1", 2, "55")]})
        self._apply_all()
        self.assertEqual(self._atp(), 17)

    def test_every_problem_at_once_and_nothing_written(self):
        bad = [
            {
                "id": "",
                "type": "teleport",
                "occurred_at": "yesterday",
                "sku": 4,
                "quantity": "3",
            },
            self._adjustment("X-1", quantity=0),
            self._adjustment("X-2", sku="NOPE"),
            self._adjustment("X-2", sku="NOPE"),
        ]
        response = self._post({"events": bad})
        self.assertEqual(response.status_code, 422)
        fields_ = {d["field"] for d in response.json()["details"]}
        self.assertTrue(
            {
                "events[0].id",
                "events[0].type",
                "events[0].occurred_at",
                "events[0].sku",
                "events[0].quantity",
                "events[1].quantity",
                "events[3].id",
            }
            <= fields_,
            fields_,
        )
        self.assertFalse(self._events())
        unknown = self._post(self._adjustment(sku="NOPE"))
        self.assertEqual(unknown.status_code, 422)
        self.assertEqual(unknown.json()["details"][0]["field"], "events[0].sku")
        self.assertFalse(self._events())

    def test_hold_without_hold_location_refused(self):
        self.connection.hold_location_id = False
        response = self._post(self._adjustment("H-2", 1, "05"))
        self.assertEqual(response.status_code, 422)
        self.assertEqual(
            response.json()["details"][0]["field"], "events[0].reason_code"
        )
        self.assertFalse(self._events())

    def test_signature_and_body_errors(self):
        self.assertEqual(
            self._post(self._adjustment(), secret="wrong").status_code, 401
        )
        self.assertEqual(self._post(self._adjustment(), secret=None).status_code, 401)
        self.assertEqual(self._post(self._adjustment(), code="nope").status_code, 401)
        bad_json = self._post(b"{not json")
        self.assertEqual(
            (bad_json.status_code, bad_json.json()), (400, {"error": "invalid_json"})
        )
        too_large = self._post(b" " * (1024 * 1024 + 10))
        self.assertEqual(too_large.status_code, 413)
        self.assertNotIn("Traceback", too_large.text)
        self.assertFalse(self._events())

    def test_events_are_read_only(self):
        self._post(self._adjustment())
        event = self._events()
        manager = self.robot
        with self.assertRaises(AccessError):
            event.with_user(manager).write({"state": "done"})
        with self.assertRaises(AccessError):
            event.with_user(manager).unlink()

    def test_connection_checks(self):
        with self.assertRaises(ValidationError):
            self.connection.code = "Not Valid"
        with self.assertRaises(ValidationError):
            self.connection.user_id = self.env.ref("base.user_admin")
        with self.assertRaises(ValidationError):
            self.connection.hold_location_id = self.connection.location_id


class EdiCase(ThreeplCase):
    """The products the X12 samples name, with stock at the warehouse."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        Product = cls.env["product.product"]
        for code in ("SKU-RED-M", "SKU-BLU-L", "V-300"):
            product = Product.create(
                {"name": code, "default_code": code, "is_storable": True}
            )
            cls.env["stock.quant"]._update_available_quantity(
                product, cls.warehouse.lot_stock_id, 10
            )

    def _sample(self, name):
        return (SAMPLES / name).read_bytes()

    def _post_edi(self, body, secret=SECRET):
        path = "/stock_channel_sync/3pl/east-3pl/edi"
        headers = {"Content-Type": "application/edi-x12"}
        headers.update(sign_request(secret, "POST", path, body))
        return self.url_open(path, data=body, headers=headers)


@tagged("post_install", "-at_install")
class TestThreeplEdi(EdiCase):
    """X12 interchanges on /edi: 947 adjustments stored once per business id
    and applied like JSON events; a 997 per group in the partner's
    delimiters; sets not read refused, nothing written."""

    def test_947_applied_once_with_a_997(self):
        response = self._post_edi(self._sample("947_adjustment.edi"))
        self.assertEqual(response.status_code, 202, response.text)
        answer = response.json()
        self.assertEqual(
            [e["id"] for e in answer["events"]],
            ["ADJ-3001/1", "ADJ-3001/2", "ADJ-3001/3", "ADJ-3001/4"],
        )
        (ack,) = answer["ack"]
        parsed = x12.parse(ack.encode())
        self.assertEqual(parsed.groups[0].functional_id, "FA")
        self.assertIn("AK1*AW*303", ack)
        self.assertIn("AK9*A*1*1*1", ack)
        events = self._events()
        self.assertEqual(len(events), 4)
        self.assertEqual(sorted(events.mapped("reason_code")), ["05", "55", "AA", "AU"])
        self._apply_all()
        self.assertEqual(set(events.mapped("state")), {"done"})
        red = self.env["product.product"].search([("default_code", "=", "SKU-RED-M")])
        self.assertEqual(
            self.env["stock.quant"]._get_available_quantity(red, self.hold), 2
        )
        # The same file again (a 3PL resending until it gets its 997).
        again = self._post_edi(self._sample("947_adjustment.edi"))
        self.assertEqual(again.status_code, 200)
        self.assertEqual(again.json()["status"], "duplicate")
        self.assertEqual(len(self._events()), 4)
        self.assertEqual(self.connection.ack_control_number, 2)

    def test_a_set_not_read_is_refused_with_a_rejecting_997(self):
        """A set the addon does not read (here a 940 in a 947's place):
        422, a rejecting 997, nothing written."""
        body = self._sample("947_adjustment.edi").replace(b"ST*947*", b"ST*940*")
        response = self._post_edi(body)
        self.assertEqual(response.status_code, 422)
        answer = response.json()
        self.assertEqual(answer["error"], "invalid_edi")
        self.assertIn("940", answer["details"][0]["message"])
        self.assertIn("AK5*R", answer["ack"][0])
        self.assertFalse(self._events())

    def test_broken_file_every_problem_nothing_written(self):
        body = self._sample("947_adjustment.edi").replace(b"SE*8*0042", b"SE*5*0042")
        response = self._post_edi(body)
        self.assertEqual(response.status_code, 422)
        self.assertEqual(response.json()["error"], "invalid_edi")
        self.assertNotIn("Traceback", response.text)
        self.assertFalse(self._events())
        garbage = self._post_edi(b"not an interchange")
        self.assertEqual(garbage.status_code, 422)
        self.assertFalse(self._events())

    def test_unknown_sku_rejects_its_set(self):
        body = self._sample("947_adjustment.edi").replace(b"V-300", b"V-999")
        response = self._post_edi(body)
        self.assertEqual(response.status_code, 422)
        self.assertEqual(response.json()["error"], "invalid_events")
        self.assertIn("AK5*R", response.json()["ack"][0])
        self.assertFalse(self._events())

    def test_too_many_lines_refused_with_a_997_not_a_500(self):
        """More events than one request takes: 422 naming ``events``, every
        set rejected in the 997, nothing written."""
        sample = self._sample("947_adjustment.edi").decode()
        # This sample's segment terminator is the line feed.
        lines = "".join("W19*AA*1*EA**VN*V-300\n" for _ in range(501))
        body = sample.replace("W19*AA*3*EA**VN*V-300\n", lines).replace(
            "SE*8*0042", "SE*508*0042"
        )
        response = self._post_edi(body.encode())
        self.assertEqual(response.status_code, 422, response.text)
        self.assertEqual(response.json()["details"][0]["field"], "events")
        self.assertIn("AK5*R", response.json()["ack"][0])
        self.assertFalse(self._events())
        self.assertEqual(self._post(self._adjustment()).status_code, 202)
        (event,) = self._events()
        self.assertEqual(event._locked_state(), "received")
