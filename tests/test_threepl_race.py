import threading
import time
import uuid

from psycopg2.errors import SerializationFailure

from odoo import SUPERUSER_ID, api
from odoo.tests import TransactionCase, tagged
from odoo.tools import SQL, mute_logger

from .common import technical_user
from .test_publication_lock import committed


@tagged("post_install", "-at_install")
class TestThreeplEventRace(TransactionCase):
    """The same event's job run twice at once (a requeue beside a run), each
    on its own connection and committed: the second waits on the event's
    row lock, fails to serialize (queue_job retries it) and then finds the
    event applied: one move, never two."""

    @classmethod
    def setUpClass(cls):
        cls.ids = committed(cls._create_fixture)
        cls.addClassCleanup(committed, cls._drop_fixture)
        super().setUpClass()

    @classmethod
    def _create_fixture(cls, env):
        code = f"race-{uuid.uuid4().hex[:8]}"
        warehouse = env["stock.warehouse"].search(
            [("company_id", "=", env.company.id)], limit=1
        )
        user = technical_user(env, "scs_committed_user")
        product = env["product.product"].create(
            {"name": code, "default_code": code.upper(), "is_storable": True}
        )
        env["stock.quant"]._update_available_quantity(
            product, warehouse.lot_stock_id, 10
        )
        connection = env["stock.channel.threepl"].create(
            {
                "name": code,
                "code": code,
                "warehouse_id": warehouse.id,
                "user_id": user.id,
            }
        )
        event = env["stock.channel.threepl.event"].create(
            {
                "connection_id": connection.id,
                "kind": "adjustment",
                "business_id": "RACE-1",
                "occurred_at": "2026-12-03 09:00:00",
                "product_id": product.id,
                "sku": product.default_code,
                "quantity": -2,
                "reason_code": "AU",
            }
        )
        return {
            "connection": connection.id,
            "event": event.id,
            "product": product.id,
            "user": user.id,
        }

    @classmethod
    def _drop_fixture(cls, env):
        ids = cls.ids
        env.cr.execute(
            "DELETE FROM queue_job WHERE identity_key = %s",
            [f"stock_channel_sync.threepl.{ids['event']}"],
        )
        for table in ("stock_valuation_layer", "stock_move_line"):
            env.cr.execute(
                SQL(
                    "DELETE FROM %s WHERE product_id = %s",
                    SQL.identifier(table),
                    ids["product"],
                )
            )
        env.cr.execute("DELETE FROM stock_move WHERE product_id = %s", [ids["product"]])
        env.cr.execute(
            "DELETE FROM stock_quant WHERE product_id = %s", [ids["product"]]
        )
        env.cr.execute(
            "DELETE FROM stock_channel_threepl WHERE id = %s", [ids["connection"]]
        )
        env.cr.execute(
            "DELETE FROM product_template WHERE id IN"
            " (SELECT product_tmpl_id FROM product_product WHERE id = %s)",
            [ids["product"]],
        )

    def _event(self, env):
        return (
            env["stock.channel.threepl.event"]
            .browse(self.ids["event"])
            .with_user(self.ids["user"])
        )

    def _thread(self, work):
        """``work(env)`` on its own connection; its outcome or exception."""
        outcome = {}

        def run():
            try:
                with self.registry.cursor() as cr:
                    cr.transaction = api.Transaction(self.registry)
                    outcome["result"] = work(api.Environment(cr, SUPERUSER_ID, {}))
            except Exception as exc:  # noqa: BLE001 - kept for the assertion
                outcome["error"] = exc

        thread = threading.Thread(target=run)
        thread.outcome = outcome
        thread.start()
        return thread

    def _moves(self):
        def count(env):
            env.cr.execute(
                "SELECT count(*) FROM stock_move WHERE product_id = %s"
                " AND state = 'done'",
                [self.ids["product"]],
            )
            return env.cr.fetchone()[0]

        return committed(count)

    @mute_logger("odoo.sql_db")  # the second run's serialization failure
    def test_the_same_event_run_twice_at_once_is_booked_once(self):
        first = self.registry.cursor()
        first.transaction = api.Transaction(self.registry)
        try:
            event = self._event(api.Environment(first, SUPERUSER_ID, {}))
            self.assertEqual(event._locked_state(), "received")
            second = self._thread(lambda env: self._event(env)._apply())
            time.sleep(0.5)
            self.assertTrue(second.is_alive(), "the second run must wait")
            self.assertTrue(event._apply().startswith("applied"))
            first.commit()
        finally:
            first.close()
        second.join(30)
        self.assertFalse(second.is_alive())
        self.assertIsInstance(second.outcome.get("error"), SerializationFailure)
        # queue_job's retry of the second run finds it applied.
        retry = self._thread(lambda env: self._event(env)._apply())
        retry.join(30)
        self.assertEqual(retry.outcome.get("result"), "nothing to do: done")
        self.assertEqual(self._moves(), 1)
