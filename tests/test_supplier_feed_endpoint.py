from unittest import mock

from odoo.sql_db import db_connect
from odoo.tests import HttpCase, get_db_name, tagged

from ..adapters import signing
from ..adapters.signing import sign_request
from ..controllers import supplier_feed as controller
from ..services import supplier_feed_import
from ..services.supplier_feed_parse import MAX_FILE_BYTES
from .supplier_feed_common import SupplierFeedFixtures, csv_bytes, json_bytes

SECRET = "feed-secret-0123456789abcdef"
PATH = "/stock_channel_sync/supplier_feed/{}"


@tagged("post_install", "-at_install")
class TestSupplierFeedEndpoint(SupplierFeedFixtures, HttpCase):
    """The signed POST endpoint: applied at once, or one clear error code;
    nothing internal leaves the server."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls._setup_feed_world()
        cls.pushed = cls._create_feed(
            "feedt-pushed", source="push", user_id=cls.robot.id, webhook_secret=SECRET
        )

    def _post(self, body, code="feedt-pushed", secret=SECRET, headers=None):
        path = PATH.format(code)
        sent = {"Content-Type": "text/csv"}
        if secret:
            sent.update(sign_request(secret, "POST", path, body))
        sent.update(headers or {})
        return self.url_open(path, data=body, headers=sent)

    def test_signed_post_is_applied(self):
        """200 with what was done; quantities stored as the technical user;
        the signature checked by the shared constant-time helper."""
        self._clear_marks()
        with mock.patch.object(
            controller, "check_request", wraps=signing.check_request
        ) as check:
            response = self._post(csv_bytes([("FEEDT-A1", 6), ("NOPE-1", 1)]))
        self.assertEqual(response.status_code, 200, response.text)
        self.assertEqual(
            response.json(),
            {
                "status": "applied",
                "rows_read": 2,
                "matched": 1,
                "unknown": 1,
                "zeroed": 0,
                "changed_products": 1,
            },
        )
        check.assert_called_once()
        self.assertEqual(self._stock(self.pushed), {self.p_code: 6.0})
        row = self.env["stock.channel.supplier.stock"].search(
            [("feed_id", "=", self.pushed.id)]
        )
        self.assertEqual(row.create_uid, self.robot)
        self.assertEqual(self._marked(), self.p_code)

    def test_previous_secret_still_accepted(self):
        """During a rotation's overlap the previous secret signs too."""
        self.pushed.with_user(self.manager).action_rotate_secret()
        response = self._post(json_bytes([("FEEDT-A1", 2)]))
        self.assertEqual(response.status_code, 200, response.text)

    def test_bad_signature_401(self):
        body = csv_bytes([("FEEDT-A1", 6)])
        for secret in ("not-the-secret", None):
            with self.subTest(secret=secret):
                response = self._post(body, secret=secret)
                self.assertEqual(response.status_code, 401)
                self.assertEqual(response.json(), {"error": "invalid_signature"})
        self.assertEqual(self._stock(self.pushed), {})

    def test_unknown_feed_404(self):
        """No active pushed feed with the code: 404 (an upload-only feed's
        code too)."""
        body = csv_bytes([("FEEDT-A1", 6)])
        for code in ("feedt-nobody", self.feed.code):
            with self.subTest(code=code):
                response = self._post(body, code=code)
                self.assertEqual(response.status_code, 404)
                self.assertEqual(response.json(), {"error": "unknown_feed"})

    def test_invalid_file_422_changes_nothing(self):
        """422 with the problems, row by row; nothing stored but the error."""
        response = self._post(csv_bytes([("FEEDT-A1", 6), ("FEEDT-A2", -2)]))
        self.assertEqual(response.status_code, 422)
        answer = response.json()
        self.assertEqual(answer["error"], "invalid_feed")
        self.assertIn("row 3: the quantity -2 is negative", answer["message"])
        self.assertNotIn("Traceback", response.text)
        self.assertEqual(self._stock(self.pushed), {})
        self.pushed.invalidate_recordset()
        self.assertIn("row 3", self.pushed.last_error)
        self.assertFalse(self.pushed.last_update)

    def test_too_large_413(self):
        """A body over the limit is refused before it is read or verified."""
        response = self._post(b"x" * (MAX_FILE_BYTES + 1))
        self.assertEqual(response.status_code, 413)
        self.assertEqual(response.json(), {"error": "payload_too_large"})

    def test_concurrent_import_409(self):
        """Another import of the feed in progress: 409 at once."""
        other = db_connect(get_db_name()).cursor()
        self.addCleanup(other.close)
        self.addCleanup(other.rollback)
        other.execute(
            "SELECT pg_try_advisory_xact_lock(%s, %s)",
            [supplier_feed_import.NAMESPACE, self.pushed.id],
        )
        response = self._post(csv_bytes([("FEEDT-A1", 6)]))
        self.assertEqual(response.status_code, 409)
        self.assertEqual(response.json(), {"error": "concurrent_import"})

    def test_stale_replay_409(self):
        """A file generated before the last one applied: 409, not applied."""
        first = json_bytes([("FEEDT-A1", 5)], "2026-12-04T10:00:00Z")
        self.assertEqual(self._post(first).status_code, 200)
        older = json_bytes([("FEEDT-A1", 50)], "2026-12-04T09:00:00Z")
        response = self._post(older)
        self.assertEqual(response.status_code, 409)
        self.assertEqual(response.json()["error"], "stale_feed")
        self.assertEqual(self._stock(self.pushed), {self.p_code: 5.0})
