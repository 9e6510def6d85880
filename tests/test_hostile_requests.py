import http.client
import json
import logging
import socket
import struct
import time
import uuid
from datetime import timedelta

from odoo import SUPERUSER_ID, Command, api, fields, sql_db
from odoo.exceptions import UserError, ValidationError
from odoo.modules.registry import Registry
from odoo.tests import HttpCase, get_db_name, new_test_user, tagged
from odoo.tools import mute_logger

from odoo.addons.queue_job.job import Job

from ..adapters.signing import (
    MAX_SKEW,
    SignedRequest,
    check_request,
    sign_base64,
    sign_hex,
    sign_request,
    signed_message,
)
from ..services.payloads import MAX_BODY
from .common import technical_user

SECRET = "hostile-secret-0123456789"
PATH = "/stock_channel_sync/hostile/orders"
CONTROLLER_LOG = "odoo.addons.stock_channel_sync.controllers.main"


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
                "warehouse_ids": [Command.set(warehouse.ids)],
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

    def _send(self, method, path, body=b"", headers=None):
        return self.opener.request(
            method,
            self.base_url() + path,
            data=body or None,
            headers=headers or {},
            timeout=12,
            allow_redirects=False,
        )

    def _raw_request(self, head, body_part, ending):
        """Send ``head`` (request line and headers) and ``body_part`` over a
        raw socket, then ``ending``: ``"half-close"`` (no more data; the
        answer is read and returned) or ``"reset"`` (a TCP reset once the
        server is reading the body; returns None)."""
        host, port = self.base_url().split("//")[1].split(":")
        sock = socket.create_connection((host, int(port)), timeout=20)
        try:
            sock.sendall(head + body_part)
            if ending == "reset":
                time.sleep(0.5)  # the server is now waiting for the rest
                sock.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                )
                return None
            sock.shutdown(socket.SHUT_WR)
            answer = b""
            while chunk := sock.recv(65536):
                answer += chunk
            return answer
        finally:
            sock.close()

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
        # Read up to one byte past the limit, then refused as too large.
        self.assertEqual(status, 413)
        self.assertFalse(self._orders())

    def test_odd_headers_answered_in_json_on_every_signed_endpoint(self):
        """A timestamp that is not 1 to 12 ASCII digits (a latin-1
        superscript digit, Arabic-Indic digits, empty, huge, negative, a
        float, hex, NUL, a sign) or an odd signature header, each signed
        consistently: every signed endpoint, also of an unknown channel,
        answers 401 invalid_signature in JSON (never a 500, never HTML) and
        writes nothing; the log says why."""
        self.assertEqual(self._post(self._order()).status_code, 202)
        order_path = "/stock_channel_sync/hostile/orders/H-1"
        ret = json.dumps(
            {"return_id": "R-1", "lines": [{"sku": "HOSTILE-1", "quantity": 1}]}
        ).encode()
        endpoints = [
            ("POST", PATH, self._order("H-2")),
            ("GET", order_path, b""),
            ("POST", order_path + "/cancel", b"{}"),
            ("POST", order_path + "/returns", ret),
            ("POST", "/stock_channel_sync/nobody/orders", self._order("H-3")),
            ("GET", "/stock_channel_sync/nobody/orders/H-1", b""),
        ]
        now = str(int(time.time()))
        stamps = [
            "\xb2",  # superscript two: str.isdigit() is true
            now[:-1] + "\xb2",
            "\u0661\u0667".encode(),  # Arabic-Indic digits, as UTF-8
            now.encode("utf-16-be"),
            "",
            "9" * 4000,
            "9" * 13,
            "-" + now,
            "-5",
            now + ".5",
            "1.7e9",
            "+" + now,
            "0x" + now,
            now + "\x00",
            "\x00",
            now + ",0",
            "\u00bd",
        ]
        for method, path, body in endpoints:
            for stamp in stamps:
                text = stamp.decode("latin-1") if isinstance(stamp, bytes) else stamp
                digest = sign_hex(SECRET, signed_message(text, method, path, body))
                headers = {
                    "Content-Type": "application/json",
                    "X-Channel-Timestamp": stamp,
                    "X-Channel-Signature": f"sha256={digest}",
                }
                with self.subTest(method=method, path=path, stamp=stamp):
                    response = self._send(method, path, body, headers)
                    self.assertEqual(response.status_code, 401, response.text)
                    self.assertEqual(response.json(), {"error": "invalid_signature"})
                    self.assertTrue(
                        response.headers["Content-Type"].startswith("application/json")
                    )
            for signature in ("\xb2", "sha256=" + "\xe9" * 64, "", "sha256=" * 500):
                headers = sign_request(SECRET, method, path, body)
                headers["X-Channel-Signature"] = signature
                with self.subTest(method=method, path=path, signature=signature):
                    response = self._send(method, path, body, headers)
                    self.assertEqual(response.status_code, 401, response.text)
                    self.assertEqual(response.json(), {"error": "invalid_signature"})
        # A valid request still works after all that.
        response = self._send(
            "GET", order_path, b"", sign_request(SECRET, "GET", order_path)
        )
        self.assertEqual(response.json()["state"], "received")
        self.assertEqual(len(self._orders()), 1)
        self.assertFalse(self.env["stock.channel.return"].search([]))
        # The reason, for the log only.
        for stamp in ("\xb2", "-5", "1.5", "9" * 13, "12\n"):
            signed = SignedRequest("POST", PATH, {"X-Channel-Timestamp": stamp}, b"{}")
            self.assertEqual(check_request([SECRET], signed), "bad_timestamp")
        signed = SignedRequest("POST", PATH, {}, b"{}")
        self.assertEqual(check_request([SECRET], signed), "missing_timestamp")

    def test_unknown_path_answered_in_json(self):
        """A path under the addon's prefix that no endpoint serves: 404 in
        JSON too. (A wrong method is refused by Odoo's router before any
        of this runs: 405, Odoo's page.)"""
        for method, path in (
            ("POST", "/stock_channel_sync/hostile/nothing"),
            ("GET", "/stock_channel_sync/hostile/orders/H-1/x/y"),
        ):
            with self.subTest(method=method, path=path):
                response = self._send(method, path, b"{}")
                self.assertEqual(
                    (response.status_code, response.json()),
                    (404, {"error": "not_found"}),
                )
        self.assertEqual(self._send("GET", PATH).status_code, 405)

    def test_odd_native_signature_and_delivery_headers(self):
        """Shopify and WooCommerce channels: odd signature headers answer 401
        in JSON; a signed Shopify order whose (unsigned) delivery id holds a
        NUL or non-ASCII characters is stored, the id being ignored."""
        Channel = self.env["stock.channel"]
        shop = Channel.create(
            {
                "name": "Hostile Shop",
                "code": "hostile-shop",
                "adapter": "shopify",
                "webhook_secret": "shpss_hostile",
                "location_ref": "1",
                "user_id": self.robot.id,
            }
        )
        Channel.create(
            {
                "name": "Hostile Woo",
                "code": "hostile-woo",
                "adapter": "woocommerce",
                "webhook_secret": "wc_hostile",
                "user_id": self.robot.id,
            }
        )
        line = {"id": 1, "sku": "HOSTILE-1", "quantity": 1, "price": "5"}
        for code, header in (
            ("hostile-shop", "X-Shopify-Hmac-Sha256"),
            ("hostile-woo", "X-WC-Webhook-Signature"),
        ):
            for value in ("\xb2", "\x00", "=" * 3000, "\xe9t\xe9", ""):
                with self.subTest(code=code, value=value):
                    response = self._send(
                        "POST",
                        f"/stock_channel_sync/{code}/orders",
                        json.dumps({"id": 9, "line_items": [line]}).encode(),
                        {header: value, "Content-Type": "application/json"},
                    )
                    self.assertEqual(response.status_code, 401, response.text)
                    self.assertEqual(response.json(), {"error": "invalid_signature"})
        for number, webhook_id in enumerate(("\x00x", "\xe9", "a b", "x" * 200), 1):
            body = json.dumps(
                {
                    "id": 500 + number,
                    "customer": {"first_name": "Di"},
                    "line_items": [line],
                }
            ).encode()
            with self.subTest(webhook_id=webhook_id):
                response = self._send(
                    "POST",
                    "/stock_channel_sync/hostile-shop/orders",
                    body,
                    {
                        "Content-Type": "application/json",
                        "X-Shopify-Topic": "orders/create",
                        "X-Shopify-Hmac-Sha256": sign_base64("shpss_hostile", body),
                        "X-Shopify-Webhook-Id": webhook_id,
                    },
                )
                self.assertEqual(response.status_code, 202, response.text)
        self.assertFalse(
            self.env["stock.channel.delivery"].search([("channel_id", "=", shop.id)])
        )

    def test_woocommerce_ping_tells_nothing(self):
        """The unsigned ping is answered the same, 200, for a WooCommerce
        channel, a channel of another adapter, an archived one and a code
        nobody has: codes cannot be enumerated. Nothing is written; a body
        that is not exactly a ping is an unsigned request (401)."""
        Channel = self.env["stock.channel"]
        Channel.create(
            {
                "name": "Ping Woo",
                "code": "ping-woo",
                "adapter": "woocommerce",
                "webhook_secret": "wc_ping",
                "user_id": self.robot.id,
            }
        )
        archived = Channel.create(
            {
                "name": "Ping Archived",
                "code": "ping-archived",
                "adapter": "woocommerce",
                "webhook_secret": "wc_ping_2",
                "user_id": self.robot.id,
            }
        )
        archived.action_archive()
        answers = set()
        for code in ("ping-woo", "hostile", "ping-archived", "nobody-at-all"):
            for content_type in (
                "application/x-www-form-urlencoded",
                "application/json",
                None,
            ):
                headers = {"Content-Type": content_type} if content_type else {}
                with self.subTest(code=code, content_type=content_type):
                    response = self._send(
                        "POST",
                        f"/stock_channel_sync/{code}/orders",
                        b"webhook_id=12",
                        headers,
                    )
                    answers.add(
                        (
                            response.status_code,
                            response.text,
                            response.headers["Content-Type"],
                        )
                    )
        ((status, text, content_type),) = answers  # one answer for all
        self.assertEqual((status, json.loads(text)), (200, {"status": "ok"}))
        self.assertTrue(content_type.startswith("application/json"))
        form = "application/x-www-form-urlencoded"
        for body in (b"webhook_id=\xb2", b"webhook_id=", b"webhook_id=1&x=2"):
            for code in ("ping-woo", "nobody-at-all"):
                for content_type in (form, "application/json"):
                    with self.subTest(body=body, code=code, content_type=content_type):
                        response = self._send(
                            "POST",
                            f"/stock_channel_sync/{code}/orders",
                            body,
                            {"Content-Type": content_type},
                        )
                        # A form Odoo cannot parse is refused before the
                        # handler: not the JSON the contract takes.
                        expected = (
                            (400, "invalid_json")
                            if content_type == form and b"\xb2" in body
                            else (401, "invalid_signature")
                        )
                        self.assertEqual(
                            (response.status_code, response.json()),
                            (expected[0], {"error": expected[1]}),
                        )
        self.assertFalse(self.env["stock.channel.order"].search([]))

    def test_signed_chunked_oversized_body_answers_413(self):
        """A correctly signed 5 MiB body sent chunked (no Content-Length):
        413 payload_too_large as documented, not a bad signature of the
        truncated first MiB; nothing stored, nothing logged as refused."""
        body = self._order(note="x" * (5 * 1024 * 1024))
        headers = sign_request(SECRET, "POST", PATH, body)
        headers["Content-Type"] = "application/json"
        host, port = self.base_url().split("//")[1].split(":")
        connection = http.client.HTTPConnection(host, int(port), timeout=60)

        def chunks():
            for start in range(0, len(body), 65536):
                yield body[start : start + 65536]

        with self.assertNoLogs(CONTROLLER_LOG, level=logging.INFO):
            try:
                connection.request(
                    "POST", PATH, body=chunks(), headers=headers, encode_chunked=True
                )
                response = connection.getresponse()
                status, payload = response.status, response.read()
            finally:
                connection.close()
        self.assertEqual(status, 413)
        self.assertEqual(json.loads(payload), {"error": "payload_too_large"})
        self.assertFalse(self._orders())
        # One byte past the limit, chunked: also 413; at the limit: read.
        for size, expected in ((MAX_BODY + 1, 413), (MAX_BODY, 401)):
            connection = http.client.HTTPConnection(host, int(port), timeout=60)
            try:
                connection.request(
                    "POST",
                    PATH,
                    body=iter([b"x" * size]),
                    headers={"Content-Type": "application/json"},
                    encode_chunked=True,
                )
                self.assertEqual(connection.getresponse().status, expected, size)
            finally:
                connection.close()

    def test_client_gone_mid_body_is_transient(self):
        """A client that stops sending before the announced length (or in
        the middle of a chunk) gets 408 incomplete_body, logged as transient
        (the marketplace sends it again), not as a bad signature or a bad
        request; a reset connection the same, in the log. Nothing stored."""
        body = self._order()
        signature = sign_request(SECRET, "POST", PATH, body)
        head = (
            f"POST {PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            "Content-Type: application/json\r\n"
            + "".join(f"{name}: {value}\r\n" for name, value in signature.items())
        )
        announced = (head + f"Content-Length: {len(body) + 500}\r\n\r\n").encode()
        chunked = (head + "Transfer-Encoding: chunked\r\n\r\n").encode()
        chunk_part = f"{len(body) + 500:x}\r\n".encode() + body
        for name, request_head, part in (
            ("announced", announced, body),
            ("chunked", chunked, chunk_part),
        ):
            with (
                self.subTest(name),
                self.assertLogs(CONTROLLER_LOG, logging.INFO) as logs,
            ):
                answer = self._raw_request(request_head, part, "half-close")
                status_line, _, rest = answer.partition(b"\r\n")
                self.assertIn(b" 408 ", status_line, answer[:300])
                self.assertEqual(
                    json.loads(rest.split(b"\r\n\r\n", 1)[1]),
                    {"error": "incomplete_body"},
                )
            self.assertIn("transient", logs.output[0])
            self.assertNotIn("refused", " ".join(logs.output))
        with self.assertLogs(CONTROLLER_LOG, logging.INFO) as logs:
            self._raw_request(announced, body, "reset")
            deadline = time.monotonic() + 10
            while not logs.records and time.monotonic() < deadline:
                time.sleep(0.05)
        self.assertIn("transient", logs.output[0])
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


def commit_stocked_product(quantity):
    """A storable product with ``quantity`` in the main warehouse, committed
    on its own connection (call before the test class's transaction
    starts): ``(product id, quant id)``."""
    with Registry(get_db_name()).cursor() as cr:
        env = api.Environment(
            cr, SUPERUSER_ID, {"tracking_disable": True, "mail_create_nolog": True}
        )
        code = f"SYNC-{uuid.uuid4().hex[:8].upper()}"
        product = env["product.product"].create(
            {"name": code, "default_code": code, "is_storable": True}
        )
        warehouse = env["stock.warehouse"].search(
            [("company_id", "=", env.company.id)], limit=1
        )
        env["stock.quant"]._update_available_quantity(
            product, warehouse.lot_stock_id, quantity
        )
        quant = env["stock.quant"].search([("product_id", "=", product.id)])
        return product.id, quant.id


def drop_stocked_product(product_id):
    """Remove what :func:`commit_stocked_product` committed."""
    with Registry(get_db_name()).cursor() as cr:
        cr.execute("DELETE FROM stock_quant WHERE product_id = %s", [product_id])
        cr.execute(
            "DELETE FROM product_template WHERE id IN (SELECT product_tmpl_id"
            " FROM product_product WHERE id = %s)",
            [product_id],
        )


class SyncChannelCase(HttpCase):
    """A channel that confirms inside the request (*At once*), selling a
    product whose quant is committed (another connection must see it)."""

    @classmethod
    def setUpClass(cls):
        cls.product_id, cls.quant_id = commit_stocked_product(10)
        cls.addClassCleanup(drop_stocked_product, cls.product_id)
        super().setUpClass()
        robot = technical_user(cls.env, "sync_robot")
        cls.warehouse = cls.env["stock.warehouse"].search(
            [("company_id", "=", cls.env.company.id)], limit=1
        )
        cls.product = cls.env["product.product"].browse(cls.product_id)
        cls.channel = cls.env["stock.channel"].create(
            {
                "name": "Sync",
                "code": "sync-portal",
                "webhook_secret": SECRET,
                "user_id": robot.id,
                "warehouse_ids": [Command.set(cls.warehouse.ids)],
                "order_processing": "sync",
            }
        )
        cls.env["stock.channel.listing"].create(
            {"channel_id": cls.channel.id, "product_id": cls.product_id}
        )

    def _post(self, external_id):
        path = "/stock_channel_sync/sync-portal/orders"
        body = json.dumps(
            {
                "external_id": external_id,
                "customer": {"name": "Ada"},
                "lines": [
                    {
                        "sku": self.product.default_code,
                        "quantity": 2,
                        "unit_price": 5,
                    }
                ],
            }
        ).encode()
        headers = sign_request(SECRET, "POST", path, body)
        headers["Content-Type"] = "application/json"
        return self.url_open(path, data=body, headers=headers, timeout=30)

    def _order(self, external_id):
        return self.env["stock.channel.order"].search(
            [("channel_id", "=", self.channel.id), ("external_id", "=", external_id)]
        )

    def _confirmation_job(self, order):
        jobs = self.env["queue.job"].search(
            [
                ("model_name", "=", "stock.channel.order"),
                ("method_name", "=", "_process"),
            ]
        )
        return jobs.filtered(lambda job: job.records.ids == order.ids)

    def _other_connection(self):
        """A connection of its own (the registry's cursors share this test's
        transaction), that never waits long for a lock this test holds."""
        other = sql_db.db_connect(get_db_name()).cursor()
        other.execute("SET lock_timeout = '5s'")
        return other

    def _assert_accepted_for_later(self, response, external_id):
        """202 accepted in JSON; the order stored and promised, without a
        sale order; one confirmation job; lock_timeout put back."""
        self.assertEqual(response.status_code, 202, response.text)
        self.assertTrue(response.headers["Content-Type"].startswith("application/json"))
        order = self._order(external_id)
        self.assertEqual(
            response.json(),
            {"status": "accepted", "external_id": external_id, "id": order.id},
        )
        self.assertEqual(order.state, "received")
        self.assertFalse(order.sale_order_id)
        self.assertEqual(order.line_ids.product_qty, 2)
        self.assertEqual(len(self._confirmation_job(order)), 1)
        self.env.cr.execute("SELECT current_setting('lock_timeout')")
        self.assertEqual(self.env.cr.fetchone()[0], "0")
        return order


@tagged("post_install", "-at_install")
class TestSyncModeContention(SyncChannelCase):
    """Sync-mode confirmation meeting locks: never Odoo's HTML 500, never a
    request that waits without bound; what cannot be confirmed now is
    answered 202 accepted and finishes in its job."""

    def test_uncontended_sync_order_is_created(self):
        """Without contention: 201 with the sale order, as documented."""
        response = self._post("S-0")
        self.assertEqual(response.status_code, 201, response.text)
        self.assertEqual(response.json()["status"], "created")
        self.assertEqual(self._order("S-0").state, "done")

    def test_quant_locked_by_another_transaction(self):
        """Another connection holds the quant row: Odoo 18 reserves on a new
        quant rather than wait for it (``SKIP LOCKED``), so the request
        answers 201 created at once."""
        other = self._other_connection()
        try:
            other.execute(
                "SELECT id FROM stock_quant WHERE id = %s FOR UPDATE", [self.quant_id]
            )
            started = time.monotonic()
            response = self._post("S-1")
            waited = time.monotonic() - started
        finally:
            other.rollback()
            other.close()
        self.assertEqual(response.status_code, 201, response.text)
        self.assertEqual(self._order("S-1").state, "done")
        self.assertLess(waited, 2)

    def test_lock_held_past_the_sync_timeout(self):
        """Another connection holds a row the confirmation must wait for
        (the stock location its delivery leaves from, locked as a key
        update would): the request waits the sync lock timeout, answers 202
        accepted in JSON, and the order's job confirms it once the lock is
        gone."""
        other = self._other_connection()
        try:
            other.execute(
                "SELECT id FROM stock_location WHERE id = %s FOR UPDATE",
                [self.warehouse.lot_stock_id.id],
            )
            started = time.monotonic()
            # PostgreSQL's refusal is logged as a bad query by Odoo's cursor.
            with mute_logger("odoo.sql_db"):
                response = self._post("S-2")
            waited = time.monotonic() - started
        finally:
            other.rollback()
            other.close()
        order = self._assert_accepted_for_later(response, "S-2")
        self.assertGreaterEqual(waited, 2)
        self.assertLess(waited, 10)
        job = self._confirmation_job(order)
        Job.load(self.env, job.uuid).perform()
        order.invalidate_recordset()
        self.assertEqual(order.state, "done")
        self.assertEqual(order.sale_order_id.state, "sale")


@tagged("post_install", "-at_install")
class TestSyncModeSerialization(SyncChannelCase):
    """Its own class: the concurrent update below is committed after this
    class's snapshot and would stay visible to every later test."""

    def test_quant_changed_by_a_concurrent_transaction(self):
        """Another transaction (a concurrent confirmation) updated the quant
        after this request's snapshot: the confirmation's serialization
        failure is answered 202 accepted and left to the job, not a 500."""
        self.env.cr.execute("SELECT 1")  # this transaction's snapshot
        other = self._other_connection()
        try:
            other.execute(
                "UPDATE stock_quant SET in_date = in_date WHERE id = %s",
                [self.quant_id],
            )
            other.commit()
        finally:
            other.close()
        with mute_logger("odoo.sql_db"):
            response = self._post("S-3")
        self._assert_accepted_for_later(response, "S-3")
