from datetime import datetime, timedelta
from pathlib import Path
from unittest.mock import patch

from odoo import Command, fields
from odoo.exceptions import AccessError, UserError
from odoo.tests import new_test_user, tagged

from odoo.addons.queue_job.exception import RetryableJobError

from ..adapters.signing import sign_request
from ..adapters.threepl.generic import GenericJsonAdapter
from ..services import threepl_snapshot
from ..services.atp import AtpEngine
from .test_backend_views import WAIT_FOR
from .test_threepl_events import SECRET, ThreeplCase
from .threepl_inventory_standin import ThreeplApi

SAMPLES = Path(__file__).parent / "x12_samples"
CODE = "snap-3pl"
TOKEN = "tpl-api-token-0123456789"
AS_OF = "2026-12-03T10:00:00Z"
# What the polled stand-in lists: SNAP-A 2 more than Odoo, the rest equal.
LEVELS = {"SNAP-A": 12, "SNAP-B": 7, "SNAP-C": 4, "SNAP-D": 6}


class SnapshotCase(ThreeplCase):
    """A warehouse of its own run by a 3PL (connection ``snap-3pl``, with a
    hold location), so that nothing else (demo stock) is in its count:
    SNAP-A 10 in stock, SNAP-B 5 in stock and 2 on hold, SNAP-C 4, SNAP-D
    6; a channel selling that warehouse lists SNAP-A."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env["ir.config_parameter"].set_param(
            "stock_channel_sync.allowed_http_hosts", "127.0.0.1"
        )
        cls.snap_wh = cls.env["stock.warehouse"].create(
            {"name": "Snapshot 3PL", "code": "SNP"}
        )
        cls.snap_stock = cls.snap_wh.lot_stock_id
        cls.snap_hold = cls.env["stock.location"].create(
            {
                "name": "Snapshot Hold",
                "location_id": cls.snap_wh.view_location_id.id,
                "usage": "internal",
                "channel_sellable": False,
            }
        )
        cls.snap = cls.env["stock.channel.threepl"].create(
            {
                "name": "Snapshot 3PL",
                "code": CODE,
                "warehouse_id": cls.snap_wh.id,
                "hold_location_id": cls.snap_hold.id,
                "user_id": cls.robot.id,
                "webhook_secret": SECRET,
                "api_token": TOKEN,
            }
        )
        Product = cls.env["product.product"]
        cls.products = {}
        for sku, stock, held in (
            ("SNAP-A", 10, 0),
            ("SNAP-B", 5, 2),
            ("SNAP-C", 4, 0),
            ("SNAP-D", 6, 0),
        ):
            product = Product.create(
                {"name": sku, "default_code": sku, "is_storable": True}
            )
            cls.env["stock.quant"]._update_available_quantity(
                product, cls.snap_stock, stock
            )
            if held:
                cls.env["stock.quant"]._update_available_quantity(
                    product, cls.snap_hold, held
                )
            cls.products[sku] = product
        cls.snap_channel = cls.env["stock.channel"].create(
            {
                "name": "Snapshot Web",
                "code": "snap-web",
                "user_id": cls.robot.id,
                "warehouse_ids": [Command.set(cls.snap_wh.ids)],
            }
        )
        cls.snap_listing = cls.env["stock.channel.listing"].create(
            {"channel_id": cls.snap_channel.id, "product_id": cls.products["SNAP-A"].id}
        )

    # -- helpers -------------------------------------------------------------

    @staticmethod
    def _doc(snapshot_id, lines, occurred_at=AS_OF, **extra):
        return {
            "id": snapshot_id,
            "type": "snapshot",
            "occurred_at": occurred_at,
            "lines": [{"sku": sku, "quantity": qty} for sku, qty in lines.items()],
            **extra,
        }

    def _post_snapshot(self, document):
        return self._post(document, code=CODE)

    def _snapshots(self):
        return self.env["stock.channel.threepl.snapshot"].search(
            [("connection_id", "=", self.snap.id)]
        )

    def _process(self, snapshot=None):
        snapshot = snapshot or self._snapshots()[:1]
        return snapshot.with_user(self.robot)._process()

    def _drift(self, state="open"):
        rows = self.env["stock.channel.threepl.discrepancy"].search(
            [("connection_id", "=", self.snap.id), ("state", "=", state)]
        )
        return {row.sku: row for row in rows}

    def _on_hand(self, sku):
        product = self.products[sku]
        quants = self.env["stock.quant"].search(
            [
                ("product_id", "=", product.id),
                ("location_id", "child_of", (self.snap_stock | self.snap_hold).ids),
            ]
        )
        return sum(quants.mapped("quantity"))

    def _atp(self):
        self.env.flush_all()
        result = AtpEngine(self.env).compute(self.snap_listing.ids)
        return result[self.snap_listing.id].qty

    def _compare_and_report(self, lines, snapshot_id="INV-1", occurred_at=AS_OF):
        response = self._post_snapshot(self._doc(snapshot_id, lines, occurred_at))
        self.assertEqual(response.status_code, 202, response.text)
        snapshot = self._snapshots().filtered(lambda s: s.business_id == snapshot_id)
        return snapshot, self._process(snapshot)


@tagged("post_install", "-at_install")
class TestSnapshotDrift(SnapshotCase):
    def test_report_policy_drift_rows(self):
        """More, less, an unknown SKU and a product the snapshot omits are
        four open drift rows; a matching SKU none; stock is untouched."""
        response = self._post_snapshot(
            self._doc(
                "INV-1",
                {"SNAP-A": 12, "SNAP-B": 4, "SNAP-D": 6, "NOPE-1": 3},
            )
        )
        self.assertEqual(response.status_code, 202, response.text)
        self.assertEqual(
            response.json(),
            {
                "status": "accepted",
                "snapshot": {
                    "id": "INV-1",
                    "page": 1,
                    "pages": 1,
                    "pages_received": 1,
                    "complete": True,
                },
            },
        )
        snapshot = self._snapshots()
        self.assertEqual(
            (snapshot.state, snapshot.source, snapshot.line_count),
            ("received", "json", 4),
        )
        self.assertEqual(snapshot.as_of, datetime(2026, 12, 3, 10, 0))
        key = f"stock_channel_sync.threepl.snapshot.{snapshot.id}"
        job = self.env["queue.job"].search([("identity_key", "=", key)])
        self.assertEqual(job.user_id, self.robot)
        self.assertEqual(job.job_function_id.method, "_process")
        summary = self._process(snapshot)
        self.assertIn("4 SKU(s) compared: 4 differ", summary)
        drift = self._drift()
        self.assertEqual(set(drift), {"SNAP-A", "SNAP-B", "SNAP-C", "NOPE-1"})
        a, b, c, nope = (drift[s] for s in ("SNAP-A", "SNAP-B", "SNAP-C", "NOPE-1"))
        self.assertEqual((a.odoo_qty, a.threepl_qty, a.difference), (10, 12, 2))
        # Held units count: 5 in stock + 2 on hold against the 3PL's 4.
        self.assertEqual((b.odoo_qty, b.threepl_qty, b.difference), (7, 4, -3))
        self.assertEqual(a.kind, "threepl_drift")
        self.assertEqual(a.product_id, self.products["SNAP-A"])
        self.assertFalse(a.cause)
        self.assertEqual((c.threepl_qty, c.difference, c.in_snapshot), (0, -4, False))
        self.assertEqual(c.cause_kind, "not_in_snapshot")
        self.assertIn("says 0", c.cause)
        self.assertFalse(nope.product_id)
        self.assertEqual((nope.odoo_qty, nope.difference), (0, 3))
        self.assertEqual(nope.cause_kind, "unknown_sku")
        self.assertIn("unknown SKU", nope.cause)
        self.assertEqual(
            (snapshot.state, snapshot.drift_count, snapshot.unknown_sku_count),
            ("compared", 4, 1),
        )
        self.assertEqual(self.snap.drift_count, 4)
        self.assertEqual(self.snap.last_snapshot_at, snapshot.as_of)
        # Reported only: Odoo's stock is what it was.
        self.assertEqual(self._on_hand("SNAP-A"), 10)
        self.assertEqual(self._on_hand("SNAP-C"), 4)
        # Compared once: the job run again does nothing.
        self.assertEqual(self._process(snapshot), "nothing to do: compared")

    def test_later_clean_snapshot_resolves(self):
        """A difference still there is the same row, refreshed; one gone is
        resolved; an older snapshot compared after a newer one is
        superseded."""
        clean = {"SNAP-A": 10, "SNAP-B": 7, "SNAP-C": 4, "SNAP-D": 6}
        self._compare_and_report(dict(clean, **{"SNAP-A": 12, "SNAP-B": 4}))
        first = self._drift()
        self.assertEqual(set(first), {"SNAP-A", "SNAP-B"})
        self._compare_and_report(
            dict(clean, **{"SNAP-B": 4}), "INV-2", "2026-12-03T11:00:00Z"
        )
        second = self._drift()
        self.assertEqual(set(second), {"SNAP-B"})
        self.assertEqual(second["SNAP-B"], first["SNAP-B"])
        self.assertEqual(second["SNAP-B"].snapshot_id.business_id, "INV-2")
        self.assertEqual(first["SNAP-A"].state, "resolved")
        self.assertTrue(first["SNAP-A"].resolved_at)
        self._compare_and_report(clean, "INV-3", "2026-12-03T12:00:00Z")
        self.assertFalse(self._drift())
        old, summary = self._compare_and_report(
            {"SNAP-A": 99}, "INV-0", "2026-12-03T08:00:00Z"
        )
        self.assertIn("superseded", summary)
        self.assertEqual(old.state, "superseded")
        self.assertFalse(self._drift())

    def test_apply_policy_books_adjustments(self):
        """With the apply policy the differences of known products are
        booked (Odoo's on hand equals the 3PL's, ATP follows); the unknown
        SKU stays open."""
        self.snap.snapshot_policy = "apply"
        self.assertEqual(self._atp(), 10)
        snapshot, summary = self._compare_and_report(
            {"SNAP-A": 12, "SNAP-B": 4, "SNAP-D": 6, "NOPE-1": 3}
        )
        self.assertIn("3 applied", summary)
        self.assertEqual(snapshot.state, "applied")
        self.assertEqual(snapshot.applied_count, 3)
        for sku, quantity in (("SNAP-A", 12), ("SNAP-B", 4), ("SNAP-C", 0)):
            self.assertEqual(self._on_hand(sku), quantity, sku)
        self.assertEqual(self._on_hand("SNAP-D"), 6)
        self.assertEqual(self._atp(), 12)
        applied = self._drift("applied")
        self.assertEqual(set(applied), {"SNAP-A", "SNAP-B", "SNAP-C"})
        move = applied["SNAP-A"].move_id
        self.assertEqual((move.state, move.is_inventory), ("done", True))
        self.assertEqual(move.product_qty, 2)
        self.assertEqual(move.location_dest_id, self.snap_stock)
        self.assertIn("3PL snapshot", move.name)
        self.assertEqual(move.origin, f"{CODE}/INV-1")
        self.assertEqual(set(self._drift()), {"NOPE-1"})
        self.assertEqual(self.snap.last_applied_snapshot_at, snapshot.as_of)
        # Now Odoo matches: the same counts again find nothing to book.
        again, summary = self._compare_and_report(
            {"SNAP-A": 12, "SNAP-B": 4, "SNAP-D": 6, "NOPE-1": 3},
            "INV-2",
            "2026-12-03T11:00:00Z",
        )
        self.assertIn("0 applied", summary)
        self.assertEqual(set(self._drift()), {"NOPE-1"})

    def test_cause_events_in_flight_and_last_reason(self):
        """An event applied after the snapshot time explains a difference
        (and is not booked again with the apply policy); one before it
        names the last adjustment's reason."""
        self.snap.snapshot_policy = "apply"
        events = [
            dict(
                self._adjustment("AU-1", -1, "AU", "SNAP-A"),
                occurred_at="2026-12-03T08:00:00Z",
            ),
            dict(
                self._adjustment("AA-1", 2, "AA", "SNAP-D"),
                occurred_at="2026-12-03T10:30:00Z",
            ),
        ]
        response = self._post({"events": events}, code=CODE)
        self.assertEqual(response.status_code, 202, response.text)
        for event in self.env["stock.channel.threepl.event"].search(
            [("connection_id", "=", self.snap.id)]
        ):
            event.with_user(self.robot)._apply()
        # Odoo: A 9 (10 - 1 at 08:00), D 8 (6 + 2 at 10:30). The 3PL counted
        # at 10:00: A 7 (two more lost since), D 6 (the count came later).
        self._compare_and_report({"SNAP-A": 7, "SNAP-B": 7, "SNAP-C": 4, "SNAP-D": 6})
        drift = self._drift("applied") | self._drift()
        d = drift["SNAP-D"]
        self.assertEqual(
            (d.state, d.difference, d.cause_kind), ("open", -2, "in_flight")
        )
        self.assertEqual(d.in_flight_count, 1)
        self.assertIn(
            "1 event(s) received after the snapshot time still in flight", d.cause
        )
        self.assertEqual(self._on_hand("SNAP-D"), 8)
        a = drift["SNAP-A"]
        self.assertEqual((a.state, a.difference), ("applied", -2))
        self.assertEqual(a.cause, "last adjustment reason AU Damaged in Facility")
        self.assertEqual(a.last_event_at, datetime(2026, 12, 3, 8, 0))
        self.assertGreater(a.last_event_age, 0)

    def test_same_snapshot_twice_is_a_duplicate(self):
        document = self._doc("INV-1", {"SNAP-A": 10})
        self.assertEqual(self._post_snapshot(document).status_code, 202)
        again = self._post_snapshot(document)
        self.assertEqual(again.status_code, 200, again.text)
        self.assertEqual(again.json()["status"], "duplicate")
        self.assertEqual(len(self._snapshots()), 1)
        jobs = self.env["queue.job"].search(
            [("identity_key", "like", "stock_channel_sync.threepl.snapshot.%")]
        )
        self.assertEqual(len(jobs), 1)

    def test_invalid_snapshot_refused_nothing_written(self):
        bad = {
            "id": "",
            "type": "snapshot",
            "occurred_at": "today",
            "page": 3,
            "pages": 2,
            "lines": [
                {"sku": "SNAP-A", "quantity": -1},
                {"sku": "", "quantity": 1},
                {"sku": "SNAP-B", "quantity": "4"},
                {"sku": "SNAP-A", "quantity": 1},
                "nope",
            ],
        }
        response = self._post_snapshot(bad)
        self.assertEqual(response.status_code, 422, response.text)
        self.assertEqual(response.json()["error"], "invalid_snapshot")
        fields_ = {d["field"] for d in response.json()["details"]}
        self.assertEqual(
            fields_,
            {
                "id",
                "occurred_at",
                "page",
                "lines[0].quantity",
                "lines[1].sku",
                "lines[2].quantity",
                "lines[3].sku",
                "lines[4]",
            },
        )
        empty = self._post_snapshot(self._doc("INV-E", {}))
        self.assertEqual(empty.status_code, 422)
        self.assertEqual(empty.json()["details"][0]["field"], "lines")
        self.assertFalse(self._snapshots())
        self.assertNotIn("Traceback", response.text)

    def test_snapshot_in_pages(self):
        """Pages of one snapshot id: compared once all are in; a page sent
        again is a duplicate; a page that does not fit is refused."""
        page1 = self._doc("INV-P", {"SNAP-A": 12, "SNAP-B": 7}, page=1, pages=2)
        first = self._post_snapshot(page1)
        self.assertEqual(first.status_code, 202, first.text)
        self.assertFalse(first.json()["snapshot"]["complete"])
        snapshot = self._snapshots()
        self.assertEqual(snapshot.state, "receiving")
        self.assertEqual(self._process(snapshot), "nothing to do: receiving")
        self.assertEqual(self._post_snapshot(page1).json()["status"], "duplicate")
        overlap = self._doc("INV-P", {"SNAP-A": 1, "SNAP-C": 4}, page=2, pages=2)
        refused = self._post_snapshot(overlap)
        self.assertEqual(refused.status_code, 422)
        self.assertEqual(refused.json()["details"][0]["field"], "lines[0].sku")
        moved = self._doc(
            "INV-P", {"SNAP-C": 4}, "2026-12-03T10:05:00Z", page=2, pages=2
        )
        self.assertEqual(self._post_snapshot(moved).status_code, 422)
        last = self._post_snapshot(
            self._doc("INV-P", {"SNAP-C": 4, "SNAP-D": 6}, page=2, pages=2)
        )
        self.assertEqual(last.status_code, 202, last.text)
        self.assertTrue(last.json()["snapshot"]["complete"])
        snapshot.invalidate_recordset()
        self.assertEqual((snapshot.state, snapshot.line_count), ("received", 4))
        self._process(snapshot)
        self.assertEqual(set(self._drift()), {"SNAP-A"})

    def test_compare_runs_in_a_fixed_number_of_queries(self):
        """The comparison's queries do not grow with the SKUs: 10 and 200
        SKUs (with drift on every one) cost the same."""
        products = self.env["product.product"].create(
            [
                {"name": f"Q{i}", "default_code": f"SNAP-Q{i:03d}", "is_storable": True}
                for i in range(200)
            ]
        )
        for product in products:
            self.env["stock.quant"]._update_available_quantity(
                product, self.snap_stock, 5
            )
        counts = []
        for index, size in enumerate((10, 10, 200)):
            lines = {p.default_code: 7 for p in products[:size]}
            snapshot_id = f"INV-Q{index}"
            moment = datetime(2026, 12, 3, 10) + timedelta(hours=index)
            stored = threepl_snapshot.store(
                self.snap.with_user(self.robot),
                threepl_snapshot.validate_snapshot(
                    self._doc(snapshot_id, lines, f"{moment.isoformat()}Z")
                ),
                "json",
                enqueue_compare=False,
            )
            snapshot = self.env["stock.channel.threepl.snapshot"].browse(
                stored.snapshot_id
            )
            self.env.flush_all()
            self.env.invalidate_all()
            before = self.env.cr.sql_log_count
            compared = threepl_snapshot.compare(snapshot.with_user(self.robot))
            counts.append(self.env.cr.sql_log_count - before)
            self.assertGreaterEqual(compared.drift, size)
        # The first run warms caches (decimal precision): compare the others.
        self.assertEqual(counts[1], counts[2], counts)
        self.assertTrue(0 < counts[2] <= 10, counts)

    def test_manager_sees_drift_stock_user_cannot_edit(self):
        self._compare_and_report({"SNAP-A": 12, "SNAP-B": 7, "SNAP-C": 4, "SNAP-D": 6})
        row = self._drift()["SNAP-A"]
        manager = new_test_user(
            self.env,
            login="snap_manager",
            groups="base.group_user,stock.group_stock_user,"
            "stock_channel_sync.group_channel_manager",
        )
        stock_user = new_test_user(
            self.env,
            login="snap_stock_user",
            groups="base.group_user,stock.group_stock_user",
        )
        channel_user = new_test_user(
            self.env,
            login="snap_channel_user",
            groups="base.group_user,stock_channel_sync.group_channel_user",
        )
        seen = (
            self.env["stock.channel.threepl.discrepancy"]
            .with_user(manager)
            .search([("connection_id", "=", self.snap.id)])
        )
        self.assertEqual(seen, row)
        self.assertEqual(seen.difference, 2)
        self.assertEqual(self.snap.with_user(manager).drift_count, 1)
        self.assertTrue(row.snapshot_id.with_user(manager).line_ids)
        with self.assertRaises(AccessError):
            row.with_user(manager).write({"difference": 0})
        with self.assertRaises(AccessError):
            row.with_user(manager).unlink()
        with self.assertRaises(AccessError):
            row.with_user(stock_user).read(["difference"])
        with self.assertRaises(AccessError):
            row.with_user(stock_user).write({"state": "resolved"})
        with self.assertRaises(AccessError):
            row.snapshot_id.with_user(stock_user).read(["state"])
        with self.assertRaises(UserError):
            row.with_user(channel_user).action_resolve()
        row.with_user(manager).action_resolve()
        self.assertEqual(row.state, "resolved")

    def test_cron_enqueues_due_polled_connections_once(self):
        self.snap.write({"protocol": "poll", "api_url": "http://127.0.0.1:9/api"})
        Job = self.env["queue.job"]
        key = f"stock_channel_sync.threepl.read.{self.snap.id}"
        self.env["stock.channel.threepl"]._cron_read_snapshots()
        self.env["stock.channel.threepl"]._cron_read_snapshots()
        job = Job.search([("identity_key", "=", key)])
        self.assertEqual(len(job), 1)
        self.assertEqual(job.user_id, self.robot)
        self.assertEqual(job.max_retries, 60)
        self.assertEqual(job.job_function_id.method, "_read_snapshot")
        job.unlink()
        self.snap.last_snapshot_at = fields.Datetime.now() - timedelta(minutes=20)
        self.env["stock.channel.threepl"]._cron_read_snapshots()
        self.assertFalse(Job.search([("identity_key", "=", key)]))
        self.snap.last_snapshot_at = fields.Datetime.now() - timedelta(minutes=55)
        self.env["stock.channel.threepl"]._cron_read_snapshots()
        self.assertTrue(Job.search([("identity_key", "=", key)]))
        with self.assertRaises(UserError):
            self.connection.action_read_snapshot()


@tagged("post_install", "-at_install")
class TestSnapshotEdi(SnapshotCase):
    """X12 846 on /edi: one snapshot per set, stored once per BIA-03, on
    hand from QTY*17 (held units included), answered with a 997."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        for sku, stock in (("SKU-RED-M", 40), ("SKU-BLU-L", 22), ("V-300", 3)):
            product = cls.env["product.product"].create(
                {"name": sku, "default_code": sku, "is_storable": True}
            )
            cls.env["stock.quant"]._update_available_quantity(
                product, cls.snap_stock, stock
            )
            cls.products[sku] = product

    def _post_edi(self, body):
        path = f"/stock_channel_sync/3pl/{CODE}/edi"
        headers = {"Content-Type": "application/edi-x12"}
        headers.update(sign_request(SECRET, "POST", path, body))
        return self.url_open(path, data=body, headers=headers)

    def test_846_stored_once_and_compared(self):
        body = (SAMPLES / "846_snapshot.edi").read_bytes()
        response = self._post_edi(body)
        self.assertEqual(response.status_code, 202, response.text)
        answer = response.json()
        self.assertEqual(
            answer["snapshots"], [{"id": "INV-20240505", "status": "accepted"}]
        )
        (ack,) = answer["ack"]
        # In the partner's own delimiters.
        self.assertIn("AK1~IB~304", ack)
        self.assertIn("AK9~A~1~1~1", ack)
        snapshot = self._snapshots()
        self.assertEqual((snapshot.source, snapshot.line_count), ("x12", 3))
        self.assertEqual(snapshot.as_of, datetime(2024, 5, 5, 6, 0))
        lines = {line.sku: line for line in snapshot.line_ids}
        self.assertEqual(
            {sku: (line.quantity, line.available) for sku, line in lines.items()},
            {"SKU-RED-M": (46, 40), "SKU-BLU-L": (22, 19), "V-300": (0, 0)},
        )
        self._process(snapshot)
        drift = self._drift()
        # SKU-BLU-L matches: QTY*17 22 counts its 3 held units (QH).
        self.assertEqual(drift["SKU-RED-M"].difference, 6)
        self.assertEqual(drift["V-300"].difference, -3)
        self.assertNotIn("SKU-BLU-L", drift)
        # Not in the 846: SNAP-A..D, the 3PL says 0.
        self.assertEqual(drift["SNAP-A"].cause_kind, "not_in_snapshot")
        again = self._post_edi(body)
        self.assertEqual(again.status_code, 200, again.text)
        self.assertEqual(again.json()["status"], "duplicate")
        self.assertEqual(len(self._snapshots()), 1)

    def test_846_without_on_hand_rejected(self):
        body = (SAMPLES / "846_snapshot.edi").read_bytes()
        body = body.replace(b"QTY~17~46~EA!", b"QTY~QH~46~EA!")
        response = self._post_edi(body)
        self.assertEqual(response.status_code, 422, response.text)
        self.assertIn("QTY*17", response.json()["details"][0]["message"])
        self.assertIn("AK5~R", response.json()["ack"][0])
        self.assertFalse(self._snapshots())


@tagged("post_install", "-at_install")
class TestPolledSnapshot(SnapshotCase):
    """The generic paged JSON API, read from a real local server."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.api = ThreeplApi(TOKEN, LEVELS).start()
        cls.addClassCleanup(cls.api.stop)
        cls.snap.write({"protocol": "poll", "api_url": cls.api.url})

    def setUp(self):
        super().setUp()
        self.api.requests.clear()
        self.api.throttle = self.api.fail_status = self.api.shift = None
        self.api.with_total = True
        self.addCleanup(setattr, self.api, "levels", dict(LEVELS))
        patcher = patch.object(GenericJsonAdapter, "per_page", 2)
        patcher.start()
        self.addCleanup(patcher.stop)

    def _read(self):
        return self.snap.with_user(self.robot)._read_snapshot()

    def test_polled_snapshot_with_a_429_and_a_shifted_page(self):
        """A 429 with a short Retry-After is waited for and the same page
        asked again; a SKU added while the pages are read (the second page
        starts with the first page's last SKU) makes the read start again,
        and every SKU counts once."""
        self.api.throttle = 0

        def shift(levels):
            levels["SNAP-0"] = 1  # sorts first: SNAP-B moves to page 2

        self.api.shift_after_page, self.api.shift = 1, shift
        summary = self._read()
        self.assertIn("5 SKU(s) compared", summary)
        self.assertEqual(
            self.api.requests,
            [(1, 429), (1, 200), (2, 200), (3, 200), (1, 200), (2, 200), (3, 200)],
        )
        snapshot = self._snapshots()
        self.assertEqual((snapshot.source, snapshot.line_count), ("poll", 5))
        self.assertTrue(snapshot.business_id.startswith("poll/"))
        self.assertEqual(
            sorted(snapshot.line_ids.mapped("sku")),
            ["SNAP-0", "SNAP-A", "SNAP-B", "SNAP-C", "SNAP-D"],
        )
        drift = self._drift()
        self.assertEqual(set(drift), {"SNAP-A", "SNAP-0"})
        self.assertEqual(drift["SNAP-A"].difference, 2)
        self.assertFalse(self.snap.snapshot_error)

    def test_listed_twice_counts_once_without_a_total(self):
        """Without a total to check, an item pushed onto the next page is
        read twice and counted once, the later page winning."""
        self.api.with_total = False

        def shift(levels):
            levels["SNAP-0"] = 1
            levels["SNAP-B"] = 8  # changed between the two pages

        self.api.shift_after_page, self.api.shift = 1, shift
        self._read()
        self.assertEqual(self.api.requests, [(1, 200), (2, 200), (3, 200)])
        lines = {line.sku: line.quantity for line in self._snapshots().line_ids}
        self.assertEqual(lines, {"SNAP-A": 12, "SNAP-B": 8, "SNAP-C": 4, "SNAP-D": 6})

    def test_transient_failures_retry_the_job(self):
        self.api.throttle = 120
        with self.assertRaises(RetryableJobError) as caught:
            self._read()
        self.assertEqual(caught.exception.seconds, 120)
        self.api.fail_status = 503
        with self.assertRaises(RetryableJobError):
            self._read()
        self.assertFalse(self._snapshots())
        self.assertFalse(self.snap.snapshot_error)

    def test_bad_token_fails_clearly_and_shows_on_the_connection(self):
        self.snap.api_token = "wrong-token"
        try:
            self._read()
        except UserError as exc:
            message = str(exc)
        else:
            self.fail("a refused token must fail the job")
        self.assertIn("refused the API token (HTTP 401)", message)
        self.assertNotIn("wrong-token", message)
        self.snap.invalidate_recordset(["snapshot_error"])
        self.assertEqual(self.snap.snapshot_error, message)
        self.assertFalse(self._snapshots())
        # Fixed: the next read clears it.
        self.snap.api_token = TOKEN
        self._read()
        self.assertFalse(self.snap.snapshot_error)

    def test_read_snapshot_now(self):
        """Managers queue a read (one job per connection)."""
        self.snap.action_read_snapshot()
        self.snap.action_read_snapshot()
        jobs = self.env["queue.job"].search(
            [("identity_key", "=", f"stock_channel_sync.threepl.read.{self.snap.id}")]
        )
        self.assertEqual(len(jobs), 1)
        self.assertEqual(jobs.records.ids, self.snap.ids)


@tagged("post_install", "-at_install")
class TestSnapshotViews(SnapshotCase):
    """The drift list, a snapshot and the connection form open in a real
    browser without errors."""

    def test_drift_snapshot_and_connection_form(self):
        snapshot, _summary = self._compare_and_report({"SNAP-A": 12, "NOPE-1": 3})
        drift = self.env.ref(
            "stock_channel_sync.stock_channel_threepl_discrepancy_action"
        )
        self.browser_js(
            f"/odoo/action-{drift.id}",
            WAIT_FOR % ".o_list_view .o_data_row",
            login="admin",
            timeout=60,
        )
        snapshots = self.env.ref(
            "stock_channel_sync.stock_channel_threepl_snapshot_action"
        )
        self.browser_js(
            f"/odoo/action-{snapshots.id}/{snapshot.id}",
            WAIT_FOR % ".o_form_view .o_notebook .o_data_row",
            login="admin",
            timeout=60,
        )
        connections = self.env.ref("stock_channel_sync.stock_channel_threepl_action")
        self.browser_js(
            f"/odoo/action-{connections.id}/{self.snap.id}",
            WAIT_FOR % ".o_form_view .oe_stat_button .o_stat_value",
            login="admin",
            timeout=60,
        )
