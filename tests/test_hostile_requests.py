import http.client
import json
import time
from datetime import timedelta

from odoo import fields
from odoo.exceptions import UserError, ValidationError
from odoo.tests import HttpCase, new_test_user, tagged

from ..adapters.signing import MAX_SKEW, SignedRequest, check_request, sign_request
from ..services.payloads import MAX_BODY

SECRET = "hostile-secret-0123456789"
PATH = "/stock_channel_sync/hostile/orders"


@tagged("post_install", "-at_install")
class TestHostileRequests(HttpCase):
    """Replays, stale signatures, rotation, oversized and malformed bodies,
    through the real HTTP stack: each refused with its documented code, and
    nothing written."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.robot = new_test_user(
            cls.env,
            login="hostile_robot",
            groups="stock.group_stock_user,sales_team.group_sale_salesman,"
            "stock_channel_sync.group_channel_manager",
        )
        cls.manager = new_test_user(
            cls.env,
            login="hostile_manager",
            groups="base.group_user,stock_channel_sync.group_channel_manager",
        )
        warehouse = cls.env["stock.warehouse"].search(
            [("company_id", "=", cls.env.company.id)], limit=1
        )
        product = cls.env["product.product"].create(
            {"name": "Hostile Mug", "default_code": "HOSTILE-1", "is_storable": True}
        )
        cls.env["stock.quant"]._update_available_quantity(
            product, warehouse.lot_stock_id, 50
        )
        cls.channel = cls.env["stock.channel"].create(
            {
                "name": "Hostile",
                "code": "hostile",
                "webhook_secret": SECRET,
                "user_id": cls.robot.id,
                "warehouse_ids": [(6, 0, warehouse.ids)],
            }
        )
        cls.env["stock.channel.listing"].create(
            {"channel_id": cls.channel.id, "product_id": product.id}
        )

    def _order(self, external_id="H-1", **overrides):
        order = {
            "external_id": external_id,
            "customer": {"name": "Ada"},
            "lines": [{"sku": "HOSTILE-1", "quantity": 1, "unit_price": 5}],
        }
        order.update(overrides)
        return json.dumps(order).encode()

    def _post(self, body, path=PATH, secret=SECRET, timestamp=None, method="POST"):
        headers = sign_request(secret, method, path, body, timestamp=timestamp)
        headers["Content-Type"] = "application/json"
        return self.url_open(path, data=body, headers=headers)

    def _orders(self):
        return self.env["stock.channel.order"].search(
            [("channel_id", "=", self.channel.id)]
        )

    def _refused(self, response, status, error):
        self.assertEqual(response.status_code, status, response.text)
        self.assertEqual(response.json(), {"error": error})
        self.assertFalse(self._orders())

    # -- signature v2 ----------------------------------------------------------

    def test_stale_and_future_timestamps_refused(self):
        """More than 300 s from the server's clock, either way: 401 (the
        reason, stale_timestamp, is for the log only)."""
        now = int(time.time())
        for stamp in (now - MAX_SKEW - 5, now + MAX_SKEW + 5):
            with self.subTest(stamp=stamp):
                self._refused(
                    self._post(self._order(), timestamp=stamp), 401, "invalid_signature"
                )
                body = self._order()
                headers = sign_request(SECRET, "POST", PATH, body, timestamp=stamp)
                signed = SignedRequest("POST", PATH, headers, body)
                self.assertEqual(check_request([SECRET], signed), "stale_timestamp")
        self.assertEqual(self._post(self._order(), timestamp=now - 60).status_code, 202)

    def test_missing_timestamp_refused(self):
        """The body's old-style signature alone (no timestamp): 401."""
        body = self._order()
        headers = sign_request(SECRET, "POST", PATH, body)
        del headers["X-Channel-Timestamp"]
        self._refused(
            self.url_open(PATH, data=body, headers=headers), 401, "invalid_signature"
        )

    def test_signature_bound_to_method_and_path(self):
        """A captured status request's signature cannot cancel the order: the
        method and path are signed."""
        self.assertEqual(self._post(self._order()).status_code, 202)
        status_path = "/stock_channel_sync/hostile/orders/H-1"
        captured = sign_request(SECRET, "GET", status_path)
        self.assertEqual(self.url_open(status_path, headers=captured).status_code, 200)
        cancel = self.url_open(status_path + "/cancel", data=b"{}", headers=captured)
        self.assertEqual(cancel.status_code, 401)
        self.assertEqual(self._orders().state, "received")

    def test_unknown_channel_answers_like_a_bad_signature(self):
        response = self._post(self._order(), path="/stock_channel_sync/nobody/orders")
        self._refused(response, 401, "invalid_signature")

    # -- rotation -----------------------------------------------------------

    def test_rotation_overlap_and_expiry(self):
        """Rotate Secret: the new secret is shown once and signs at once; the
        previous one is accepted during the overlap, refused after it."""
        action = self.channel.with_user(self.manager).action_rotate_secret()
        new = self.channel.webhook_secret
        self.assertNotEqual(new, SECRET)
        self.assertGreaterEqual(len(new), 32)
        self.assertIn(new, action["params"]["message"])
        self.assertEqual(self.channel.previous_webhook_secret, SECRET)
        self.assertEqual(self._post(self._order("R-1"), secret=new).status_code, 202)
        self.assertEqual(self._post(self._order("R-2"), secret=SECRET).status_code, 202)
        self.channel.sudo().previous_secret_valid_until = (
            fields.Datetime.now() - timedelta(seconds=1)
        )
        response = self._post(self._order("R-3"), secret=SECRET)
        self.assertEqual(response.status_code, 401)
        self.assertEqual(len(self._orders()), 2)

    def test_rotation_for_managers_only_and_bounded(self):
        user = new_test_user(
            self.env,
            login="hostile_reader",
            groups="base.group_user,stock_channel_sync.group_channel_user",
        )
        with self.assertRaises(UserError):
            self.channel.with_user(user).action_rotate_secret()
        with self.assertRaises(ValidationError):
            self.channel.secret_overlap_hours = -1

    # -- bodies -------------------------------------------------------------

    def test_chunked_oversized_body_refused_before_reading(self):
        """A chunked body announces no length: it is never read past 1 MiB
        (413, or refused unread as unsigned), nothing is stored and the
        server answers in the contract's JSON."""
        host, port = self.base_url().split("//")[1].split(":")
        connection = http.client.HTTPConnection(host, int(port), timeout=60)
        chunk = b"x" * 65536

        def chunks():
            for _ in range((MAX_BODY // len(chunk)) + 4):
                yield chunk

        try:
            connection.request(
                "POST",
                PATH,
                body=chunks(),
                headers={"Content-Type": "application/json"},
                encode_chunked=True,
            )
            response = connection.getresponse()
            status, payload = response.status, response.read()
        except (BrokenPipeError, ConnectionResetError):
            # The server may close the connection once it has answered.
            return
        finally:
            connection.close()
        self.assertIn(status, (401, 413))
        self.assertIn(
            json.loads(payload),
            ({"error": "payload_too_large"}, {"error": "invalid_signature"}),
        )
        self.assertFalse(self._orders())

    def test_announced_oversized_body_refused(self):
        body = self._order(note="x" * MAX_BODY)
        self._refused(self._post(body), 413, "payload_too_large")

    def test_hostile_bodies_answered_400_or_422(self):
        """UTF-16, NaN, Infinity, deep nesting: 400 invalid_json; NUL and
        lone surrogates in strings, booleans and strings as numbers,
        quantities over 1,000,000: 422 with the field; never a 500."""
        utf16 = json.dumps(json.loads(self._order())).encode("utf-16")
        nan = self._order().replace(b'"quantity": 1', b'"quantity": NaN')
        for body in (utf16, nan, b'{"a": Infinity}', b"[" * 5000 + b"]" * 5000):
            with self.subTest(body=body[:30]):
                self._refused(self._post(body), 400, "invalid_json")
        cases = {
            "customer.name": {"customer": {"name": "A\u0000B"}},
            "external_id": {"external_id": "\ud800"},
            "lines[0].quantity": {
                "lines": [{"sku": "HOSTILE-1", "quantity": True, "unit_price": 1}]
            },
            "lines[0].unit_price": {
                "lines": [{"sku": "HOSTILE-1", "quantity": 1, "unit_price": "1"}]
            },
        }
        for field, override in cases.items():
            with self.subTest(field=field):
                body = json.dumps(json.loads(self._order()) | override).encode()
                response = self._post(body)
                self.assertEqual(response.status_code, 422, response.text)
                self.assertIn(field, [d["field"] for d in response.json()["details"]])
        huge = self._order(
            lines=[{"sku": "HOSTILE-1", "quantity": 1_000_001, "unit_price": 1}]
        )
        self.assertEqual(self._post(huge).status_code, 422)
        self.assertFalse(self._orders())

    # -- what leaves the server, what is kept -------------------------------

    def test_status_says_nothing_internal(self):
        """An order in error answers the documented code only; its reason
        stays on the order, for managers."""
        self.assertEqual(self._post(self._order("E-1")).status_code, 202)
        order = self._orders()
        order.write(
            {"state": "error", "error_message": "AccessError: user hostile_robot ..."}
        )
        path = "/stock_channel_sync/hostile/orders/E-1"
        response = self.url_open(path, headers=sign_request(SECRET, "GET", path))
        self.assertEqual(response.json()["error"], "processing_failed")
        self.assertNotIn("AccessError", response.text)
        self.assertNotIn("hostile_robot", response.text)

    def test_raw_payload_for_managers_and_pruned(self):
        """The raw and translated orders (personal data) are readable by
        managers only, and cleared 30 days after the order is done and
        shipped."""
        self.assertEqual(self._post(self._order("P-1")).status_code, 202)
        order = self._orders()
        reader = new_test_user(
            self.env,
            login="payload_reader",
            groups="base.group_user,stock_channel_sync.group_channel_user",
        )
        self.assertEqual(order.with_user(reader).state, "received")
        self.assertNotIn("payload", order.with_user(reader).fields_get())
        self.assertTrue(order.with_user(self.manager).payload)
        order.state = "done"
        self.env.flush_all()
        Order = self.env["stock.channel.order"]
        self.env.cr.execute(
            "UPDATE stock_channel_order SET write_date = write_date"
            " - interval '31 days' WHERE id = %s",
            [order.id],
        )
        self.assertEqual(Order._gc_payloads(30), 0)  # not shipped yet: kept
        order.shipment_state = "sent"
        self.env.flush_all()
        self.assertEqual(Order._gc_payloads(30), 0)  # shipped today: kept
        self.env.cr.execute(
            "UPDATE stock_channel_order SET write_date = write_date"
            " - interval '31 days' WHERE id = %s",
            [order.id],
        )
        self.assertEqual(Order._gc_payloads(30), 1)
        order.invalidate_recordset()
        self.assertFalse(order.payload)
        self.assertFalse(order.canonical_order)
