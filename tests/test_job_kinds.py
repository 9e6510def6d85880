import base64
import json
import traceback
from datetime import timedelta
from urllib.parse import urlsplit

from odoo import fields
from odoo.tests import new_test_user, tagged
from odoo.tools import SQL

from odoo.addons.queue_job.exception import RetryableJobError
from odoo.addons.queue_job.job import DEFAULT_MAX_RETRIES, Job

from ..services import jobs
from .common import OrderCase, run_autovacuum
from .marketplace import Marketplace, Reply
from .test_migrations import load_migration

WOO_KEY, WOO_SECRET = "ck_kinds", "cs_kinds"
MANAGER_GROUPS = "base.group_user,stock_channel_sync.group_channel_manager"


def run_like_the_runner(env, record):
    """What queue_job's runner does with one stored job (``RunJobController``),
    without its commits: the job's state afterwards."""
    job = Job.load(env, record.uuid)
    job.set_started()
    job.store()
    try:
        with env.cr.savepoint():
            job.perform()
    except RetryableJobError as exc:
        job.postpone(result=str(exc), seconds=exc.seconds)
        job.set_pending(reset_retry=False)
        job.store()
    except Exception as exc:
        job.set_failed(
            exc_name=type(exc).__name__,
            exc_message=str(exc),
            exc_info=traceback.format_exc(),
        )
        job.store()
    else:
        job.set_done()
        job.store()
    env.invalidate_all()
    return record.state


@tagged("post_install", "-at_install")
class TestJobRegistry(OrderCase):
    """One registry of job kinds: each declared in data, each enqueued as
    its channel's technical user and tied to its channel."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.clicker = new_test_user(
            cls.env, login="kinds_clicker", groups=MANAGER_GROUPS
        )

    def test_every_kind_has_its_job_function(self):
        """Each kind's method has its queue.job.function (job channel, retry
        pattern, related action), and each function of the addon is a
        kind."""
        Function = self.env["queue.job.function"]
        for kind in jobs.KINDS.values():
            function = Function.search(
                [("model_id.model", "=", kind.model), ("method", "=", kind.method)]
            )
            self.assertEqual(len(function), 1, kind.name)
            self.assertTrue(
                function.channel_id.complete_name.startswith("root.stock_channel_sync"),
                kind.name,
            )
            self.assertTrue(function.retry_pattern, kind.name)
            self.assertEqual(
                function.related_action,
                {"func_name": "related_action_open_record"},
                kind.name,
            )
        declared = self.env["ir.model.data"].search(
            [("module", "=", "stock_channel_sync"), ("model", "=", Function._name)]
        )
        functions = Function.browse(declared.mapped("res_id"))
        self.assertEqual(
            {(function.model_id.model, function.method) for function in functions},
            {(kind.model, kind.method) for kind in jobs.KINDS.values()},
        )

    def test_every_kind_runs_as_the_technical_user(self):
        """Triggered by another manager, every kind is stored as the
        channel's technical user in its company, with the kind's retries,
        key and function, and tied to its channel."""
        order = self.env["stock.channel.order"].create(
            {"channel_id": self.channel.id, "external_id": "K-1"}
        )
        before = self.channel._channel_jobs()
        channel = self.channel.with_user(self.clicker)
        order = order.with_user(self.clicker)
        enqueued = {
            "publish": jobs.enqueue("publish", channel, force=True, variant="force"),
            "feed": jobs.enqueue("feed", channel, "77"),
            "reconcile": jobs.enqueue("reconcile", channel),
            "pull": jobs.enqueue("pull", channel),
            "confirm": jobs.enqueue("confirm", order),
            "ship": jobs.enqueue("ship", order, 4242),
            "return": jobs.enqueue("return", order, 4343),
            "refunds": jobs.enqueue("refunds", order),
            "cancel": jobs.enqueue("cancel", order),
        }
        # Every kind owned by a channel (3PL events: test_threepl_events).
        self.assertEqual(
            set(enqueued),
            {
                name
                for name, kind in jobs.KINDS.items()
                if jobs.MODELS[kind.model].owner_model == "stock.channel"
            },
        )
        for name, by_record in enqueued.items():
            kind = jobs.KINDS[name]
            (job,) = by_record.values()
            record = job.db_record()
            self.assertEqual(record.user_id, self.robot, name)
            self.assertEqual(record.company_id, self.channel.company_id, name)
            self.assertEqual(record.stock_channel_id, self.channel, name)
            self.assertEqual(record.method_name, kind.method, name)
            self.assertEqual(record.job_function_id.method, kind.method, name)
            self.assertEqual(
                record.max_retries, kind.max_retries or DEFAULT_MAX_RETRIES, name
            )
            self.assertTrue(record.name, name)
            self.assertTrue(record.identity_key.startswith("stock_channel_sync."))
        self.assertEqual(
            enqueued["publish"][self.channel.id].identity_key,
            f"stock_channel_sync.publish.{self.channel.id}.force",
        )
        self.assertEqual(
            enqueued["ship"][order.id].identity_key,
            f"stock_channel_sync.ship.{order.id}.4242",
        )
        self.assertEqual(len(self.channel._channel_jobs() - before), len(enqueued))

    def test_existing_jobs_tied_at_install(self):
        """Installing the addon computes each existing job's channel, from
        a channel or a channel order, and none (no error) for a job whose
        order was deleted since or of another model."""
        order, gone = self.env["stock.channel.order"].create(
            [
                {"channel_id": self.channel_both.id, "external_id": "K-2"},
                {"channel_id": self.channel.id, "external_id": "K-3"},
            ]
        )
        records = self.env["queue.job"]
        for job in (
            self.channel.with_delay()._reconcile(),
            order.with_delay()._process(),
            gone.with_delay()._read_refunds(),
            self.env["res.partner"].with_delay().name_search("x"),
        ):
            records |= job.db_record()
        self.assertEqual(
            records.mapped("stock_channel_id"), self.channel | self.channel_both
        )
        self.env.flush_all()
        self.env.cr.execute(
            SQL("DELETE FROM stock_channel_order WHERE id = %s", gone.id)
        )
        self.env.cr.execute(
            SQL(
                "UPDATE queue_job SET stock_channel_id = NULL WHERE id = ANY(%s)",
                records.ids,
            )
        )
        self.env.invalidate_all()
        field = records._fields["stock_channel_id"]
        self.env.add_to_compute(field, records)
        records._recompute_recordset(["stock_channel_id"])
        none = self.env["stock.channel"]
        self.assertEqual(
            [job.stock_channel_id for job in records],
            [self.channel, self.channel_both, none, none],
        )

    def test_feed_function_gets_its_related_action_on_upgrade(self):
        """18.0.1.3.0: the feed check's function (noupdate data) gets the
        related action the others have."""
        function = self.env.ref(
            "stock_channel_sync.queue_job_function_check_listings_feed"
        )
        self.env.flush_all()
        self.env.cr.execute(
            SQL(
                "UPDATE queue_job_function SET related_action = '{}' WHERE id = %s",
                function.id,
            )
        )
        load_migration("18.0.1.3.0", "post-job-kinds.py").migrate(
            self.env.cr, "18.0.1.2.0"
        )
        function.invalidate_recordset()
        self.assertEqual(
            function.related_action, {"func_name": "related_action_open_record"}
        )

    def test_channel_without_technical_user_gets_no_job(self):
        """Never as whoever triggered it: an archived channel without
        technical user enqueues nothing."""
        self.channel.write({"active": False, "user_id": False})
        before = self.channel._channel_jobs()
        self.assertEqual(jobs.enqueue("reconcile", self.channel), {})
        self.assertEqual(self.channel._channel_jobs(), before)


@tagged("post_install", "-at_install")
class TestEveryFailureVisible(OrderCase):
    """A refund read, a shipment and a confirmation that fail for good show
    on the channel's health, are requeued by Retry Failed and removed by
    the retention once old, like publications; an invalid refund becomes a
    to-do."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.refunds = {}
        cls.market = Marketplace()
        cls.market.responder = cls._woo_answer
        cls.market.start()
        cls.addClassCleanup(cls.market.stop)
        cls.woo = cls._create_channel(
            "kinds-woo",
            cls.wh_main,
            adapter="woocommerce",
            base_url=cls.market.url,
            api_key=WOO_KEY,
            api_secret=WOO_SECRET,
            webhook_secret="wc_kinds",
            user_id=cls.robot.id,
        )
        cls.woo_listing = cls._create_listing(cls.woo, cls.product, external_ref="93")
        cls.manager = new_test_user(
            cls.env, login="kinds_manager", groups=MANAGER_GROUPS
        )
        cls.woo.responsible_id = cls.manager

    @classmethod
    def _woo_answer(cls, received):
        """WooCommerce's refunds of the orders in ``refunds``; any write is
        refused (400), as WooCommerce refuses an order it will not update."""
        basic = base64.b64encode(f"{WOO_KEY}:{WOO_SECRET}".encode()).decode()
        if received.headers.get("Authorization") != f"Basic {basic}":
            return Reply(401, {"code": "woocommerce_rest_cannot_view"})
        path = urlsplit(received.path).path
        order_id = path.removeprefix("/wp-json/wc/v3/orders/").partition("/")[0]
        if received.method == "GET" and path.endswith("/refunds"):
            if order_id in cls.refunds:
                return Reply(200, cls.refunds[order_id], {"X-WP-TotalPages": "1"})
            return Reply(404, {"code": "woocommerce_rest_shop_order_invalid_id"})
        return Reply(400, {"code": "woocommerce_rest_shop_order_invalid"})

    def _woo_order(self, external_id, quantity=1):
        status, answer = self._receive(
            self.woo,
            {
                "id": int(external_id),
                "status": "processing",
                "billing": {"first_name": "Kay", "last_name": "Nd", "email": "k@x.be"},
                "line_items": [
                    {
                        "id": 315,
                        "sku": self.woo_listing.external_sku,
                        "quantity": quantity,
                        "price": 10.0,
                    }
                ],
            },
        )
        self.assertEqual(status, 202, answer)
        return self._channel_order(self.woo, external_id)

    def _job(self, method):
        return self.env["queue.job"].search(
            [("stock_channel_id", "=", self.woo.id), ("method_name", "=", method)]
        )

    def _assert_visible_requeued_and_cleaned(self, record):
        """Failed for good: on the health figures (not Healthy), requeued
        by Retry Failed (as a manager without queue_job rights), removed
        by the retention once older than it, a recent one kept."""
        self.assertEqual(run_like_the_runner(self.env, record), "failed")
        channel = self.woo.with_user(self.manager)
        channel.invalidate_recordset()
        self.assertEqual(channel.failed_job_count, 1)
        self.assertNotEqual(channel.health_state, "ok")
        self.assertEqual(channel._channel_jobs(states=["failed"]), record)
        channel.action_retry_failed()
        self.assertEqual(record.state, "pending")
        self.assertEqual(run_like_the_runner(self.env, record), "failed")
        run_autovacuum(self.env)
        self.assertTrue(record.exists(), "recent: kept")
        self.env.cr.execute(
            SQL(
                "UPDATE queue_job SET date_created = %s WHERE id = %s",
                fields.Datetime.now() - timedelta(days=91),
                record.id,
            )
        )
        run_autovacuum(self.env)
        self.env.invalidate_all()
        self.assertFalse(record.exists())
        self.woo.invalidate_recordset()
        self.assertEqual(self.woo.failed_job_count, 0)

    def test_failed_refund_read(self):
        """WooCommerce refuses the refund read for good (its order is
        gone there: 404)."""
        order = self._woo_order("8101")
        jobs.enqueue("refunds", order)
        record = self._job("_read_refunds")
        self.assertEqual(record.user_id, self.robot)
        self._assert_visible_requeued_and_cleaned(record)

    def test_failed_shipment(self):
        """WooCommerce refuses the shipment's order update (400)."""
        order = self._woo_order("8102")
        order.with_user(self.robot)._process()
        picking = order.sale_order_id.picking_ids
        picking.move_ids.picked = True
        picking.button_validate()
        record = self._job("_send_shipment")
        self.assertEqual(record.user_id, self.robot, "not the stock user")
        self._assert_visible_requeued_and_cleaned(record)

    def test_failed_confirmation(self):
        """An order whose stored payload cannot be read fails its
        confirmation job (not an order error: a bug or corrupt data); the
        intake's job has no identity key and is counted all the same."""
        order = self.env["stock.channel.order"].create(
            {"channel_id": self.woo.id, "external_id": "legacy-1", "payload": "{oops"}
        )
        jobs.enqueue("confirm", order, coalesce=False)
        record = self._job("_process")
        self.assertFalse(record.identity_key)
        self._assert_visible_requeued_and_cleaned(record)

    def test_invalid_refunds_get_a_todo(self):
        """A refund Odoo cannot read (a line naming no order line) and one
        the order cannot take (an order line never ordered): one to-do each
        for the responsible, with the reason, however often read again;
        the valid refund beside them is stored."""
        order = self._woo_order("8104", quantity=2)
        order.with_user(self.robot)._process()

        def refund(refund_id, *meta):
            line = {"id": 1, "quantity": -1, "sku": "", "meta_data": list(meta)}
            return {"id": refund_id, "reason": "", "line_items": [line]}

        def item(line_id):
            return {"key": "_refunded_item_id", "value": str(line_id)}

        self.refunds["8104"] = [
            refund(931),
            refund(932, item(999)),
            refund(933, item(315)),
        ]
        result = order.with_user(self.robot)._read_refunds()
        self.assertIn("931: refused", result)
        self.assertIn("932: refused", result)
        self.assertIn("933: accepted", result)
        self.assertEqual(order.return_ids.mapped("external_id"), ["933"])
        todos = order.activity_ids
        self.assertEqual(len(todos), 2)
        self.assertEqual(todos.user_id, self.manager)
        by_refund = {
            ref: todos.filtered(lambda a, ref=ref: ref in a.summary)
            for ref in ("931", "932")
        }
        self.assertIn("sku", str(by_refund["931"].note))
        self.assertTrue(by_refund["932"].note)
        order.with_user(self.robot)._read_refunds()
        self.assertEqual(len(order.activity_ids), 2)


@tagged("post_install", "-at_install")
class TestNoEmailNeeded(OrderCase):
    """A technical user without e-mail address, in a company without one:
    its jobs post and schedule to-dos all the same."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.robot.partner_id.email = False
        cls.company.partner_id.email = False
        cls.responsible = new_test_user(
            cls.env, login="kinds_responsible", groups=MANAGER_GROUPS
        )
        cls.shop = cls._create_channel(
            "mailless",
            cls.wh_main,
            adapter="sandbox",
            user_id=cls.robot.id,
            responsible_id=cls.responsible.id,
        )
        cls.shop_listing = cls._create_listing(cls.shop, cls.product)

    def setUp(self):
        super().setUp()
        self.assertFalse(self.robot.email)
        self.assertFalse(self.company.email)

    def _order(self, external_id, quantity=2):
        status, answer = self._receive(
            self.shop,
            {
                "external_id": external_id,
                "customer": {"name": "Mail Less", "email": "ml@example.com"},
                "lines": [
                    {
                        "sku": self.shop_listing.external_sku,
                        "quantity": quantity,
                        "unit_price": 10.0,
                    }
                ],
            },
        )
        self.assertEqual(status, 202, answer)
        return self._channel_order(self.shop, external_id)

    def _delivered(self, external_id):
        order = self._order(external_id)
        order.with_user(self.robot)._process()
        self.assertEqual(order.state, "done", order.error_message)
        picking = order.sale_order_id.picking_ids
        picking.move_ids.picked = True
        picking.button_validate()
        return order

    def _return(self, order, return_id, quantity):
        line = {"sku": self.shop_listing.external_sku, "quantity": quantity}
        body = json.dumps({"return_id": return_id, "lines": [line]}).encode()
        outcome = order.with_user(self.robot)._receive_return(body)
        self.assertEqual(outcome.kind, "accepted", outcome.answer)
        return self.env["stock.channel.return"].browse(outcome.answer["id"])

    def test_return_job(self):
        """The return receipt is built (Odoo notes its origin in the
        receipt's chatter) and the return is open."""
        order = self._delivered("NM-1")
        channel_return = self._return(order, "NM-R1", 1)
        result = order.with_user(self.robot)._process_return(channel_return.id)
        self.assertEqual(channel_return.state, "open", result)
        receipt = channel_return.picking_ids
        self.assertEqual(receipt.state, "assigned")
        notes = receipt.message_ids.filtered(
            lambda m: m.author_id == self.robot.partner_id
        )
        self.assertTrue(notes, "posted as the technical user")

    def test_return_error_schedules_a_todo(self):
        """A return whose goods were already taken back by hand in Odoo:
        Error, with a to-do for the responsible."""
        order = self._delivered("NM-2")
        channel_return = self._return(order, "NM-R2", 2)
        wizard = self.env["stock.return.picking"].create(
            {"picking_id": order.sale_order_id.picking_ids.id}
        )
        wizard.product_return_moves.quantity = 2
        wizard._create_return()
        result = order.with_user(self.robot)._process_return(channel_return.id)
        self.assertIn("error", result)
        self.assertEqual(channel_return.state, "error")
        self.assertEqual(order.activity_ids.user_id, self.responsible)

    def test_order_errors_schedule_todos(self):
        """An order that cannot be processed and one cancelled after
        shipping: each gets its to-do for the responsible, the jobs end
        normally."""
        order = self._order("NM-3")
        self.robot.groups_id -= self.env.ref("sales_team.group_sale_salesman")
        result = order.with_user(self.robot)._process()
        self.robot.groups_id |= self.env.ref("sales_team.group_sale_salesman")
        self.assertEqual(order.state, "error", result)
        self.assertEqual(order.activity_ids.user_id, self.responsible)
        shipped = self._delivered("NM-4")
        status, answer = self._receive(
            self.shop, {"external_id": "NM-4"}, event="cancel"
        )
        self.assertEqual(answer["status"], "already_shipped", answer)
        self.assertEqual(shipped.activity_ids.user_id, self.responsible)

    def test_other_users_still_need_an_address(self):
        """Mail's own rule is kept for everyone else."""
        clerk = new_test_user(
            self.env, login="kinds_clerk", groups=MANAGER_GROUPS, email=False
        )
        order = self._order("NM-5")
        with self.assertRaisesRegex(Exception, "configure the sender"):
            order.with_user(clerk).message_post(body="hello")
