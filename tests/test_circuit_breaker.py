import threading
import time
import uuid
from datetime import timedelta

from odoo import SUPERUSER_ID, api, fields
from odoo.exceptions import ValidationError
from odoo.tests import new_test_user, tagged
from odoo.tools import SQL

from odoo.addons.queue_job.exception import RetryableJobError
from odoo.addons.queue_job.tests.common import trap_jobs

from ..adapters.base import PermanentError
from ..adapters.webhook import WebhookAdapter
from ..services import breaker
from .common import run_autovacuum
from .marketplace import Reply, closed_port_url
from .test_publication import PublicationCase
from .test_publication_lock import CommittedChannelCase, committed


class BreakerCase(PublicationCase):
    """``channel`` behind the local marketplace, with a small breaker: it
    opens when half of its last 4 calls failed, from 2 calls on, for 60 s.
    Odoo's test mode hands the breaker's own transactions the test's
    connection, so what they commit is seen here and rolled back after."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.channel.write(
            {
                "breaker_failure_rate": 50,
                "breaker_window": 4,
                "breaker_min_calls": 2,
                "breaker_wait_seconds": 60,
            }
        )
        cls.listing_b = cls._create_listing(cls.channel, cls.product_b)
        cls.env["stock.quant"]._update_available_quantity(
            cls.product_b, cls.stock_main, 7
        )
        cls.manager = new_test_user(
            cls.env,
            login="breaker_manager",
            groups="base.group_user,stock_channel_sync.group_channel_manager",
        )

    def setUp(self):
        super().setUp()
        self.env.flush_all()
        self.registry.enter_test_mode(self.cr)
        self.addCleanup(self.registry.leave_test_mode)

    def _publish_error(self):
        """The exception a publication run raises (no assertRaises: its
        savepoint would roll back what the breaker recorded)."""
        try:
            result = self._publish()
        except RetryableJobError as exc:
            return exc
        self.fail(f"the publication must retry, it returned {result!r}")

    def _state(self):
        self.channel.invalidate_recordset()
        return self.channel.breaker_state

    def _calls(self):
        return self.env["stock.channel.call"].search(
            [("channel_id", "=", self.channel.id)], order="id"
        )

    def _open(self):
        """Two failing publications: the breaker opens."""
        self.market.script.extend([Reply(status=503), Reply(status=503)])
        first = self._publish_error()
        self.assertFalse(first.ignore_retry, "1 call: below the minimum")
        self.assertEqual(self._state(), "closed")
        second = self._publish_error()
        self.assertEqual(self._state(), "open")
        return second

    def _wait_over(self):
        """As if the open wait had elapsed."""
        self.env.cr.execute(
            SQL(
                "UPDATE stock_channel_breaker_state"
                "   SET since = since - interval '61 seconds'"
                " WHERE channel_id = %s",
                self.channel.id,
            )
        )


@tagged("post_install", "-at_install")
class TestBreakerStates(BreakerCase):
    """Closed, open, half-open, closed again, against a marketplace that
    fails and recovers."""

    def test_opens_and_holds_publication(self):
        """Half of the window failed: the failing job waits for the probe
        without using up a try; the next job sends nothing, ends at once
        with a clear result and schedules the probe; nothing is lost."""
        tripped = self._open()
        self.assertTrue(tripped.ignore_retry)
        self.assertIn("Circuit breaker open", str(tripped))
        self.assertGreaterEqual(tripped.seconds, 55)
        calls = self._calls()
        self.assertEqual(calls.mapped("kind"), ["server", "server"])
        self.assertEqual(calls.mapped("http_status"), [503, 503])
        self.assertEqual(set(calls.mapped("summary")), {"POST /inventory"})
        self.assertEqual(self.channel.failed_call_ids, calls)
        self.assertEqual(self.channel.breaker_failure_share, 100)
        self.assertTrue(self.channel.breaker_since)
        sent = len(self.market.received)
        with trap_jobs() as trap:
            started = time.monotonic()
            result = self._publish(force=True)
            self.assertLess(time.monotonic() - started, 1)
            (job,) = [
                j for j in trap.enqueued_jobs if j.method_name == "_publish_pending"
            ]
            self.assertGreater(job.eta, fields.Datetime.now() + timedelta(seconds=50))
            self.assertEqual(job.kwargs, {"force": True}, "a forced run stays forced")
        self.assertIn("Circuit breaker open since", result)
        self.assertEqual(len(self.market.received), sent, "the marketplace is spared")
        (self.listing | self.listing_b).invalidate_recordset()
        self.assertTrue(self.listing.pending and self.listing_b.pending)

    def test_probe_success_closes_and_delivers_everything(self):
        """After the wait one probe goes out; answered, the breaker closes,
        its window starts afresh, the channel's publication is scheduled and
        every listing lands with its latest quantity."""
        self._open()
        # Changes keep accumulating while it is open.
        self._set_stock(self.product, self.stock_main, 5)
        self._set_stock(self.product_b, self.stock_main, 1)
        self._flush_marks()
        self.assertIn("Circuit breaker open", self._publish())
        self._wait_over()
        with trap_jobs() as trap:
            result = self._publish()
            self.assertTrue(
                [j for j in trap.enqueued_jobs if j.method_name == "_publish_pending"],
                "closing schedules the publication of what is left",
            )
        self.assertEqual(result, "2 sent, 0 unchanged")
        self.assertEqual(self._state(), "closed")
        self.assertEqual(self.channel.breaker_window_calls, 1, "a fresh window")
        self.assertEqual(self.channel.breaker_failure_share, 0)
        self.assertEqual(
            self.market.levels,
            {
                (self.listing.external_sku, ""): self._atp(self.listing),
                (self.listing_b.external_sku, ""): self._atp(self.listing_b),
            },
        )
        self.assertEqual(self._atp(self.listing), 25)
        self.assertEqual(self._atp(self.listing_b), 8)
        (self.listing | self.listing_b).invalidate_recordset()
        self.assertFalse(self.listing.pending or self.listing_b.pending)

    def test_probe_failure_reopens(self):
        """The probe fails: open again, for another whole wait."""
        self._open()
        self._wait_over()
        self.market.script.append(Reply(status=502))
        error = self._publish_error()
        self.assertTrue(error.ignore_retry)
        self.assertEqual(self._state(), "open")
        self.assertGreater(
            self.channel.breaker_since, fields.Datetime.now() - timedelta(seconds=5)
        )
        sent = len(self.market.received)
        self.assertIn("Circuit breaker open", self._publish())
        self.assertEqual(len(self.market.received), sent)

    def test_probe_with_nothing_to_send_is_released(self):
        """A probe job with nothing pending makes no call: the next job
        probes at once instead of waiting for another wait."""
        self._open()
        self._clear_pending()
        self._wait_over()
        self.assertEqual(self._publish(), "nothing pending")
        self.assertEqual(self._state(), "open")
        self._set_stock(self.product, self.stock_main, 1)
        self._flush_marks()
        self.assertEqual(
            self.channel.with_context(job_uuid="job-2")._publish_pending(),
            "1 sent, 0 unchanged",
        )
        self.assertEqual(self._state(), "closed")

    def test_refused_connection_and_timeout_count(self):
        """A marketplace that refuses connections or does not answer in
        time is failing like one answering 5xx."""
        self.channel.base_url = closed_port_url()
        self.env.flush_all()
        self._publish_error()
        self.channel.base_url = self.market.url
        self.market.script.append(Reply(delay=3))
        self.env.flush_all()
        self._publish_error()
        self.assertEqual(self._calls().mapped("kind"), ["connection", "timeout"])
        self.assertEqual(self._state(), "open")

    def test_refused_items_are_no_failure(self):
        """A 4xx about the items is the marketplace answering: however
        many, the breaker stays closed."""
        for _i in range(4):
            self.market.script.append(Reply(status=400, body={"error": "bad sku"}))
            try:
                self._publish()
            except Exception as exc:  # noqa: BLE001 - the refusal fails the job
                self.assertIn("bad sku", str(exc))
        self.assertEqual(self._calls().mapped("ok"), [True] * 4)
        self.assertEqual(self._state(), "closed")

    def test_below_the_share_stays_closed(self):
        """One failure in four calls (25 %): closed."""
        self.market.script.append(Reply(status=500))
        self._publish_error()
        for quantity in (1, 1, 1):
            self._set_stock(self.product, self.stock_main, quantity)
            self._flush_marks()
            self._publish()
        self.assertEqual(self._calls().mapped("ok"), [False, True, True, True])
        self.assertEqual(self._state(), "closed")
        self.assertEqual(self.channel.breaker_failure_share, 25)

    def test_parameters_for_managers_with_bounds(self):
        """Managers set the parameters; out-of-range values are refused."""
        channel = self.channel.with_user(self.manager)
        channel.breaker_wait_seconds = 30
        for values in (
            {"breaker_failure_rate": 0},
            {"breaker_failure_rate": 101},
            {"breaker_min_calls": 5, "breaker_window": 4},
            {"breaker_wait_seconds": 0},
        ):
            with self.subTest(values=values), self.assertRaises(ValidationError):
                with self.env.cr.savepoint():
                    channel.write(values)
                    channel.flush_recordset()

    def test_form_and_dashboard_show_it(self):
        """The channel form and the health card load the breaker's state,
        since when and the failing calls, for a manager."""
        self._open()
        Channel = self.env["stock.channel"].with_user(self.manager)
        kanban = self.env.ref("stock_channel_sync.stock_channel_view_kanban_health")
        views = Channel.get_views([(kanban.id, "kanban"), (False, "form")])
        for view_type in ("kanban", "form"):
            self.assertIn("breaker_state", views["views"][view_type]["arch"])
        form_fields = views["models"]["stock.channel"]["fields"]
        self.assertIn("failed_call_ids", form_fields)
        (values,) = Channel.browse(self.channel.id).web_read(
            {
                "breaker_state": {},
                "breaker_since": {},
                "breaker_failure_share": {},
                "publication_paused": {},
                "failed_call_ids": {"fields": {"kind": {}, "http_status": {}}},
            }
        )
        self.assertEqual(values["breaker_state"], "open")
        self.assertTrue(values["breaker_since"])
        self.assertEqual(
            [call["http_status"] for call in values["failed_call_ids"]], [503, 503]
        )

    def test_retention_trims_calls(self):
        """Calls older than the retention go with the daily vacuum."""
        self._open()
        old, recent = self._calls()
        self.env.cr.execute(
            SQL(
                "UPDATE stock_channel_call SET called_at = %s WHERE id = %s",
                fields.Datetime.now() - timedelta(days=91),
                old.id,
            )
        )
        run_autovacuum(self.env)
        self.assertEqual(self._calls(), recent)


@tagged("post_install", "-at_install")
class TestCallHook(PublicationCase):
    """The adapters' one request path tells its observer every outcome."""

    def _adapter(self, url):
        self.channel.base_url = url
        adapter = self.channel._get_adapter()
        seen = []
        adapter.observer = seen.append
        return adapter, seen

    def test_outcomes(self):
        adapter, seen = self._adapter(self.market.url)
        self.market.script.extend(
            [Reply(), Reply(status=429), Reply(status=404), Reply(status=503)]
        )
        adapter.request("GET", f"{self.market.url}/a?token=hidden")
        for _i in range(3):
            try:
                adapter.request("GET", f"{self.market.url}/b")
            except Exception:  # noqa: BLE001, S110 - outcomes checked below
                pass
        self.assertEqual(
            [(c.ok, c.kind, c.status) for c in seen],
            [
                (True, "ok", 200),
                (False, "rate_limit", 429),
                (True, "ok", 404),
                (False, "server", 503),
            ],
        )
        self.assertEqual(seen[0].summary, "GET /a", "never the query")

    def test_refused_destination_is_no_call(self):
        """A destination the guard refuses is never called: nothing told."""
        adapter, seen = self._adapter("https://10.0.0.1:9")
        with self.assertRaises(PermanentError):
            adapter.request("GET", "https://10.0.0.1:9/x")
        self.assertEqual(seen, [])

    def test_channel_adapters_are_observed(self):
        """Every channel adapter gets the breaker's recorder."""
        adapter = self.channel._get_adapter()
        self.assertIsInstance(adapter, WebhookAdapter)
        self.assertIsInstance(adapter.observer, breaker.Recorder)


@tagged("post_install", "-at_install")
class TestRacingProbes(CommittedChannelCase):
    """Two publication jobs on their own connections ask for the probe of
    an open breaker at the same moment: exactly one is let through."""

    def setUp(self):
        super().setUp()
        self._open_it()

    def _open_it(self):
        """Commit the breaker open for an hour: its wait is over."""

        def open_it(env):
            env.cr.execute(
                SQL(
                    """
                    INSERT INTO stock_channel_breaker_state
                           (channel_id, company_id, state, since, reset_call_id)
                    SELECT id, company_id, 'open',
                           now() at time zone 'UTC' - interval '1 hour', 0
                      FROM stock_channel WHERE id = %s
                    ON CONFLICT (channel_id) DO UPDATE
                       SET state = 'open', probe_job_uuid = NULL,
                           since = EXCLUDED.since
                    """,
                    self.ids["channel"],
                )
            )

        committed(open_it)

    def _gate(self, job_uuid, barrier, outcome):
        def run():
            try:
                with self.registry.cursor() as cr:
                    cr.transaction = api.Transaction(self.registry)
                    env = api.Environment(cr, SUPERUSER_ID, {})
                    channel = env["stock.channel"].browse(self.ids["channel"])
                    barrier.wait(10)
                    outcome[job_uuid] = breaker.gate(channel, job_uuid)
            except Exception as exc:  # noqa: BLE001 - kept for the assertion
                outcome[job_uuid] = exc

        thread = threading.Thread(target=run)
        thread.start()
        return thread

    def _probe(self):
        def read(env):
            env.cr.execute(
                "SELECT state, probe_job_uuid FROM stock_channel_breaker_state"
                " WHERE channel_id = %s",
                [self.ids["channel"]],
            )
            return env.cr.fetchone()

        return committed(read)

    def test_two_threads_one_probe(self):
        """Both ask together, over several rounds: one probe each time."""
        for round_ in range(5):
            with self.subTest(round=round_):
                self._open_it()
                barrier = threading.Barrier(2)
                outcome = {}
                names = [f"probe-{round_}-{i}-{uuid.uuid4().hex[:6]}" for i in (1, 2)]
                threads = [self._gate(name, barrier, outcome) for name in names]
                for thread in threads:
                    thread.join(30)
                let_through = [n for n in names if outcome[n] == (None, True)]
                held = [n for n in names if isinstance(outcome[n][0], breaker.Hold)]
                self.assertEqual(len(let_through), 1, outcome)
                self.assertEqual(len(held), 1, outcome)
                self.assertEqual(self._probe(), ("half_open", let_through[0]))

    def test_second_cursor_waits_on_the_row_lock(self):
        """A claim not yet committed holds the row: the other job's claim
        waits for it, then finds it taken and is held."""
        with self.registry.cursor() as first:
            first.transaction = api.Transaction(self.registry)
            current = breaker._state(first, self.ids["channel"])
            self.assertTrue(
                breaker._move(
                    first, self.ids["channel"], current, "half_open", probe="A"
                )
            )
            outcome = {}
            thread = self._gate("B", threading.Barrier(1), outcome)
            time.sleep(0.5)
            self.assertTrue(thread.is_alive(), "B waits for A's row lock")
            first.commit()
            thread.join(30)
        self.assertIsInstance(outcome["B"][0], breaker.Hold)
        self.assertEqual(self._probe(), ("half_open", "A"))


@tagged("post_install", "-at_install")
class TestBreakerCommitted(CommittedChannelCase):
    """Publication jobs on their own connections, committed or rolled back
    like the job runner's, against a marketplace that fails and recovers."""

    def _committed_breaker(self):
        """(the channel's call outcomes in order, its breaker state)."""

        def read(env):
            env.cr.execute(
                "SELECT ok FROM stock_channel_call WHERE channel_id = %s ORDER BY id",
                [self.ids["channel"]],
            )
            calls = [row[0] for row in env.cr.fetchall()]
            env.cr.execute(
                "SELECT state FROM stock_channel_breaker_state WHERE channel_id = %s",
                [self.ids["channel"]],
            )
            row = env.cr.fetchone()
            return calls, row and row[0]

        return committed(read)

    def _run(self, name):
        job = self._job(name)
        job.join(30)
        return job.outcome

    def test_failures_survive_the_rollback_and_recovery_delivers(self):
        """The failing jobs roll back, their calls and the opening stay;
        the next job is held without calling; after the wait the probe
        closes the breaker and the latest quantity lands."""

        def configure(env):
            env["stock.channel"].browse(self.ids["channel"]).write(
                {"breaker_min_calls": 2, "breaker_window": 4}
            )

        committed(configure)
        self.market.script.extend([Reply(status=503), Reply(status=503)])
        for name in ("fail-1", "fail-2"):
            self._change_stock(1)
            outcome = self._run(name)
            self.assertIsInstance(outcome.get("error"), RetryableJobError, outcome)
        self.assertTrue(outcome["error"].ignore_retry, "opened: no try burnt")
        self.assertEqual(self._committed_breaker(), ([False, False], "open"))
        self._change_stock(5)
        outcome = self._run("held")
        self.assertIn("Circuit breaker open", outcome.get("result", ""), outcome)
        self.assertEqual(len(self.market.received), 2, "the marketplace is spared")

        def wait_over(env):
            env.cr.execute(
                "UPDATE stock_channel_breaker_state"
                "   SET since = since - interval '61 seconds' WHERE channel_id = %s",
                [self.ids["channel"]],
            )

        committed(wait_over)
        self.assertEqual(self._run("probe"), {"result": "1 sent, 0 unchanged"})
        self.assertEqual(self._committed_breaker(), ([False, False, True], "closed"))
        atp, published, pending = self._state()
        self.assertEqual((published, pending), (atp, False))
        self.assertEqual(self.market.levels, {(self.ids["sku"], ""): atp})
