import json
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

from odoo import fields
from odoo.exceptions import UserError
from odoo.tests import BaseCase, new_test_user, tagged

from odoo.addons.queue_job.tests.common import trap_jobs

from ..services import drift_causes
from ..services.drift_evidence import explain_discrepancies
from .marketplace import Reply
from .test_publication import SECRET
from .test_reconciliation import ReconciliationCase


class DriftCauseCase(ReconciliationCase):
    """``ReconciliationCase`` (the generic stand-in shows ``shown``; the
    listing was published at 20, its ATP is 20) with a Channel Sync manager
    who is not an administrator."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.manager = new_test_user(
            cls.env,
            login="causes_manager",
            groups="stock.group_stock_user,stock_channel_sync.group_channel_manager",
        )
        cls.viewer = new_test_user(
            cls.env,
            login="causes_viewer",
            groups="stock.group_stock_user,stock_channel_sync.group_channel_user",
        )

    def _drift(self, listing=None):
        (drift,) = self._open(listing)
        return drift

    def _back_date_read_back(self, drift, minutes=5):
        """A test is one transaction, whose rows all carry its start as
        creation date: move the read-back that found ``drift`` before the
        rows created since, as it was in time."""
        self.env.flush_all()
        then = self.env.cr.now() - timedelta(minutes=minutes)
        self.env.cr.execute(
            "UPDATE stock_channel_discrepancy SET detected_at = %s, last_seen_at = %s"
            " WHERE id = %s",
            [then, then, drift.id],
        )
        drift.invalidate_recordset()

    def _order_body(self, external_id, quantity):
        return {
            "external_id": external_id,
            "ordered_at": "2026-11-23T10:00:00Z",
            "currency": self.env.company.currency_id.name,
            "customer": {"name": "Ada Buyer", "email": "ada@example.com"},
            "shipping_address": {
                "name": "Ada",
                "city": "Brussels",
                "country_code": "BE",
            },
            "lines": [{"sku": self.sku, "quantity": quantity, "unit_price": 9.5}],
        }

    def _receive_order(self, external_id, quantity):
        """What the order webhook does once the signature is checked."""
        channel = self.channel.with_user(self.channel.user_id)
        channel.env["stock.channel.order"]._receive(
            channel,
            "create",
            json.dumps(self._order_body(external_id, quantity)).encode(),
        )
        return self.env["stock.channel.order"].search(
            [("channel_id", "=", self.channel.id), ("external_id", "=", external_id)]
        )


@tagged("post_install", "-at_install")
class TestDriftCauses(DriftCauseCase):
    """Each cause from a scenario on the real stand-ins."""

    def test_in_flight_when_a_change_waits_to_be_published(self):
        """A stock change is logged, not yet sent, when the channel is read
        back showing the old quantity edited: in flight, wait."""
        self.shown[self.sku] = 18
        self._set_stock(self.product, self.stock_main, 5)
        self._flush_marks()
        self._reconcile()
        drift = self._drift()
        self.assertEqual(drift.cause, "in_flight")
        self.assertEqual(drift.recommended_action, "wait")
        self.assertIn("waiting to be published", drift.cause_detail)

    def test_in_flight_when_a_feed_is_on_its_way(self):
        """A feed submitted and not yet checked holds the listing's batch."""
        self.shown[self.sku] = 18
        self.env.cr.execute(
            "UPDATE stock_channel_listing SET feed_ref = 'FEED-CAUSES-1' WHERE id = %s",
            [self.listing.id],
        )
        self._reconcile()
        drift = self._drift()
        self.assertEqual(drift.cause, "in_flight")
        self.assertIn("FEED-CAUSES-1", drift.cause_detail)

    def _publication_job(self, state, retry=0):
        """The channel's publication job, as queue_job keeps it, moved to
        ``state`` (the runner's work)."""
        self.channel._enqueue_publication(delay=0)
        job = self.env["queue.job"].search(
            [
                ("stock_channel_id", "=", self.channel.id),
                ("method_name", "=", "_publish_pending"),
            ]
        )
        self.assertEqual(len(job), 1)
        self.env.flush_all()
        self.env.cr.execute(
            "UPDATE queue_job SET state = %s, retry = %s WHERE id = %s",
            [state, retry, job.id],
        )
        return job

    def test_in_flight_while_the_publication_job_runs(self):
        """The channel's publication job is running (its batch on its way)
        when the channel is read back."""
        self._publication_job("started")
        self.shown[self.sku] = 18
        self._reconcile()
        drift = self._drift()
        self.assertEqual(drift.cause, "in_flight")
        self.assertIn("publication job running", drift.cause_detail)

    def test_failed_publication_while_its_job_waits_for_a_retry(self):
        """A transient failure leaves no failed row: the job waits for its
        retry and the listing stays pending."""
        self._set_stock(self.product, self.stock_main, 5)
        self._flush_marks()
        self._publication_job("pending", retry=2)
        self.shown[self.sku] = 18
        self._reconcile()
        drift = self._drift()
        self.assertEqual(drift.cause, "failed_publication")
        self.assertIn("waiting to be retried", drift.cause_detail)

    def test_failed_publication_after_a_failing_batch(self):
        """The marketplace refuses the batch (400): the listing stays pending
        but its last publication failed; the cause links that row and
        recommends republishing."""
        self._set_stock(self.product, self.stock_main, 5)
        self._flush_marks()
        self.market.script.append(Reply(status=400, body={"error": "bad batch"}))
        self._failed_publication()
        failed = self.env["stock.channel.publication"].search(
            [("listing_id", "=", self.listing.id)], limit=1
        )
        self.assertEqual(failed.state, "failed")
        self.shown[self.sku] = 18
        self._reconcile()
        drift = self._drift()
        self.assertEqual(drift.cause, "failed_publication")
        self.assertEqual(drift.cause_publication_ids, failed)
        self.assertEqual(drift.recommended_action, "republish")

    def test_order_not_received_when_it_arrives_after_the_read_back(self):
        """The marketplace sold 2 and shows 18 before its order reaches
        Odoo: edited, as far as the first run knows. The order arrives, is
        published, and the run that finds the channel right resolves the
        row as an order not yet received, linked to the order."""
        self.shown[self.sku] = 18
        self._reconcile()
        drift = self._drift()
        self.assertEqual(drift.cause, "edited_on_marketplace")
        self._back_date_read_back(drift)
        order = self._receive_order("CAUSES-ORD-1", 2)
        self.assertTrue(order)
        self._flush_marks()
        self._publish()
        self.assertEqual(self.listing.last_published_qty, 18)
        self._reconcile()
        drift.invalidate_recordset()
        self.assertEqual(drift.state, "resolved")
        self.assertEqual(drift.cause, "order_not_received")
        self.assertEqual(drift.cause_order_ids, order)
        self.assertIn("CAUSES-ORD-1 (webhook)", drift.cause_detail)
        self.assertEqual(drift.recommended_action, "wait", "webhooks are not pulled")

    def test_threepl_adjustment_with_its_reason_code(self):
        """A 3PL booked a damage (W19 reason AU) of the product at a
        warehouse the channel sells, an hour before the read-back."""
        hold = self.env["stock.location"].create(
            {
                "name": "Causes Hold",
                "location_id": self.wh_main.view_location_id.id,
                "usage": "internal",
                "channel_sellable": False,
            }
        )
        connection = self.env["stock.channel.threepl"].create(
            {
                "name": "Causes 3PL",
                "code": "causes-3pl",
                "warehouse_id": self.wh_main.id,
                "hold_location_id": hold.id,
                "user_id": self.channel.user_id.id,
                "webhook_secret": SECRET,
            }
        )
        an_hour_ago = fields.Datetime.now() - timedelta(hours=1)
        event = self.env["stock.channel.threepl.event"].create(
            {
                "connection_id": connection.id,
                "kind": "adjustment",
                "business_id": "CAUSES-ADJ-1",
                "occurred_at": an_hour_ago,
                "applied_at": an_hour_ago,
                "product_id": self.product.id,
                "sku": self.product.default_code,
                "quantity": -3,
                "reason_code": "AU",
                "state": "done",
            }
        )
        self.shown[self.sku] = 17
        self._reconcile()
        drift = self._drift()
        self.assertEqual(drift.cause, "threepl_adjustment")
        self.assertEqual(drift.cause_threepl_event_ids, event)
        self.assertIn("CAUSES-ADJ-1 -3 reason AU", drift.cause_detail)

    def test_collision_of_two_channels_on_one_account(self):
        """A second channel on the same stand-in account publishes the same
        SKU at 7: the stand-in shows 7 to both, the first channel's drift is
        a collision naming the other channel."""
        self.market.reset()
        self.market.responder = self._respond_levels
        twin = self._create_channel(
            "causes-twin",
            self.wh_other,
            base_url=self.market.url,
            webhook_secret=SECRET,
            request_timeout=1,
        )
        twin_listing = self._create_listing(twin, self.product, external_sku=self.sku)
        self._set_stock(self.product, self.stock_other, 7)
        self._flush_marks()
        self._publish(twin)
        self.assertEqual(self.market.levels[(self.sku, "")], 7)
        self._clear_pending()
        self._reconcile()
        drift = self._drift()
        self.assertEqual((drift.channel_qty, drift.cause), (7, "collision"))
        self.assertEqual(drift.competing_listing_id, twin_listing)
        self.assertEqual(drift.competing_channel_id, twin)
        self.assertEqual(drift.recommended_action, "open_competing")
        action = drift.with_user(self.manager).action_view_competing_channel()
        self.assertEqual(
            (action["res_model"], action["res_id"]), ("stock.channel", twin.id)
        )

    def _respond_levels(self, received):
        """What the stand-in applied, as the generic read-back answers it."""
        if received.method != "GET":
            return Reply()
        skus = parse_qs(urlsplit(received.path).query)["skus"][0].split(",")
        return Reply(
            body={
                "items": [
                    {"sku": sku, "quantity": self.market.levels[(sku, "")]}
                    for sku in skus
                    if (sku, "") in self.market.levels
                ]
            }
        )

    def test_edited_on_the_marketplace(self):
        """Nothing pending, nothing failed, no order: edited."""
        self.shown[self.sku] = 25
        self._reconcile()
        drift = self._drift()
        self.assertEqual(drift.cause, "edited_on_marketplace")
        self.assertEqual(drift.recommended_action, "republish")
        self.assertIn("shows 25 where 20 was published", drift.cause_detail)

    def test_unknown_on_the_channel(self):
        self.shown = {}
        self._reconcile()
        drift = self._drift()
        self.assertEqual(
            (drift.cause, drift.recommended_action),
            ("unknown_on_channel", "open_listing"),
        )

    def test_unmapped_listing(self):
        """Shopify reads by reference: a listing without one is unmapped."""
        self.channel.write(
            {"adapter": "shopify", "location_ref": "77", "api_secret": "shpat_x"}
        )
        self.market.script.append(Reply(body={"data": {"nodes": []}}))
        self._reconcile()
        drift = self._drift()
        self.assertEqual(
            (drift.cause, drift.recommended_action), ("unmapped", "open_listing")
        )

    def test_unexplained_unpublished_change(self):
        """The ATP moved with no change logged (a lost mark): unexplained."""
        self._set_stock(self.product, self.stock_main, 5)
        self._clear_pending()
        self._reconcile()
        drift = self._drift()
        self.assertEqual(drift.kind, "unpublished_change")
        self.assertEqual(drift.cause, "unexplained")


@tagged("post_install", "-at_install")
class TestDriftCauseOrder(DriftCauseCase):
    """The first rule that matches wins; a row found again is reclassified."""

    def test_in_flight_before_failed(self):
        """Failed last time and a feed on its way now: in flight."""
        self._set_stock(self.product, self.stock_main, 5)
        self._flush_marks()
        self.market.script.append(Reply(status=400, body={"error": "bad batch"}))
        self._failed_publication()
        self.env.cr.execute(
            "UPDATE stock_channel_listing SET feed_ref = 'FEED-CAUSES-2' WHERE id = %s",
            [self.listing.id],
        )
        self.shown[self.sku] = 18
        self._reconcile()
        self.assertEqual(self._drift().cause, "in_flight")

    def test_order_before_edited(self):
        """An order received after the read-back explains the shortfall
        exactly: not an edit, although nothing else explains it."""
        evidence = drift_causes.Evidence(
            discrepancy_id=1,
            kind="channel_drift",
            channel_qty=18,
            published_qty=20,
            atp_qty=20,
            orders=(drift_causes.Order(7, "X-1", 2.0, "pull"),),
            pulls_orders=True,
        )
        verdict = drift_causes.explain(evidence)
        self.assertEqual(
            (verdict.cause, verdict.action), ("order_not_received", "pull_orders")
        )
        short = drift_causes.Evidence(**{**evidence.__dict__, "channel_qty": 17})
        self.assertEqual(drift_causes.explain(short).cause, "edited_on_marketplace")

    def test_threepl_before_collision(self):
        evidence = drift_causes.Evidence(
            discrepancy_id=1,
            kind="channel_drift",
            channel_qty=7,
            published_qty=20,
            atp_qty=20,
            adjustments=(drift_causes.Adjustment(3, "ADJ", "AA", -13),),
            competitor=drift_causes.Competitor(9, "Twin", 7),
        )
        self.assertEqual(drift_causes.explain(evidence).cause, "threepl_adjustment")
        alone = drift_causes.Evidence(**{**evidence.__dict__, "adjustments": ()})
        self.assertEqual(drift_causes.explain(alone).cause, "collision")

    def test_reclassified_when_found_again(self):
        """Edited at the first run; a stock change is pending at the second:
        the same row, now in flight."""
        self.shown[self.sku] = 25
        self._reconcile()
        drift = self._drift()
        self.assertEqual(drift.cause, "edited_on_marketplace")
        self._set_stock(self.product, self.stock_main, 5)
        self._flush_marks()
        self._reconcile()
        self.assertEqual(self._drift(), drift)
        self.assertEqual(drift.cause, "in_flight")

    def test_healed_edit_stays_an_edit(self):
        """Auto-heal's forced republication is not a change in flight: the
        run before it goes out still calls the drift an edit."""
        self.channel.auto_heal = True
        self.shown[self.sku] = 25
        self._reconcile()
        drift = self._drift()
        self.assertTrue(drift.healed)
        self.assertTrue(self.listing.pending)
        self._reconcile(channel=self.channel.with_context(job_uuid="recon-job-2"))
        self.assertEqual(drift.cause, "edited_on_marketplace")


@tagged("post_install", "-at_install")
class TestDriftCauseActions(DriftCauseCase):
    """The recommended actions, as a Channel Sync manager (no administrator)."""

    def test_republish_marks_the_listing_and_schedules_it(self):
        self.shown[self.sku] = 25
        self._reconcile()
        drift = self._drift().with_user(self.manager)
        self.assertFalse(self.manager.has_group("base.group_system"))
        with trap_jobs() as trap:
            drift.action_republish()
            self.env.flush_all()
            trap.assert_enqueued_job(
                self.channel._publish_pending,
                kwargs={"force": False},
                properties={
                    "identity_key": f"stock_channel_sync.publish.{self.channel.id}",
                },
            )
        self.listing.invalidate_recordset()
        self.assertTrue(self.listing.pending)
        self.env.cr.execute(
            "SELECT bool_or(force) FROM stock_channel_listing_change"
            " WHERE listing_id = %s",
            [self.listing.id],
        )
        self.assertTrue(self.env.cr.fetchone()[0])

    def test_user_cannot_republish(self):
        self.shown[self.sku] = 25
        self._reconcile()
        with self.assertRaises(UserError):
            self._drift().with_user(self.viewer).action_republish()

    def test_pull_orders_now_on_a_pulled_channel(self):
        woo = self._create_channel(
            "causes-woo",
            self.wh_main,
            adapter="woocommerce",
            base_url=self.market.url,
            api_key="ck_causes",
            api_secret="cs_causes",
        )
        listing = self._create_listing(woo, self.product_b)
        drift = self.env["stock.channel.discrepancy"].create(
            {
                "listing_id": listing.id,
                "channel_id": woo.id,
                "external_sku": listing.external_sku,
                "kind": "channel_drift",
                "cause": "order_not_received",
                "recommended_action": "pull_orders",
            }
        )
        with trap_jobs() as trap:
            drift.with_user(self.manager).action_pull_orders_now()
            trap.assert_jobs_count(1, only=woo._pull_orders)

    def test_fix_mapping_opens_the_listing(self):
        self.shown = {}
        self._reconcile()
        action = self._drift().with_user(self.manager).action_fix_mapping()
        self.assertEqual(
            (action["res_model"], action["res_id"]),
            ("stock.channel.listing", self.listing.id),
        )

    def test_form_shows_the_cause_to_a_manager(self):
        """The form renders with the cause and its buttons for a manager."""
        self.shown[self.sku] = 25
        self._reconcile()
        drift = self._drift().with_user(self.manager)
        arch = drift.get_views([(False, "form")])["views"]["form"]["arch"]
        for name in ("action_republish", "action_pull_orders_now", "cause_detail"):
            self.assertIn(name, arch)
        self.assertTrue(drift.cause_detail)


@tagged("post_install", "-at_install")
class TestDriftCauseQueries(DriftCauseCase):
    """Set-based: the evidence of 21 discrepancies costs the same queries
    as that of one."""

    def test_queries_do_not_grow_with_discrepancies(self):
        def queries_for_explaining():
            self.env.flush_all()
            self.env.invalidate_all()
            ids = self._open_ids()
            read_at = fields.Datetime.now()
            explain_discrepancies(self.env, ids, read_at)  # warm caches
            self.env.invalidate_all()
            before = self.env.cr.sql_log_count
            explain_discrepancies(self.env, ids, read_at)
            return self.env.cr.sql_log_count - before, len(ids)

        self.shown[self.sku] = 25
        self._reconcile()
        few, count = queries_for_explaining()
        self.assertEqual(count, 1)
        for index in range(20):
            product = self._create_product(f"Causes Many {index}")
            listing = self._create_listing(self.channel, product)
            listing.write(
                {"last_published_qty": 0, "last_published_at": fields.Datetime.now()}
            )
            self.shown[listing.external_sku] = 3
        self._clear_pending()
        self._reconcile()
        many, count = queries_for_explaining()
        self.assertEqual(count, 21)
        self.assertEqual(many, few)

    def _open_ids(self):
        return (
            self.env["stock.channel.discrepancy"]
            .search([("channel_id", "=", self.channel.id), ("state", "=", "open")])
            .ids
        )


@tagged("post_install", "-at_install")
class TestDriftCauseRules(BaseCase):
    """The rules alone, without a database."""

    def _evidence(self, **values):
        base = {
            "discrepancy_id": 1,
            "kind": "channel_drift",
            "channel_qty": 18,
            "published_qty": 20,
            "atp_qty": 20,
        }
        return drift_causes.Evidence(**{**base, **values})

    def test_retrying_job_is_a_failed_publication(self):
        verdict = drift_causes.explain(self._evidence(pending=True, retrying=True))
        self.assertEqual(
            (verdict.cause, verdict.action), ("failed_publication", "republish")
        )

    def test_unknown_sku_failing_its_publications_is_a_mapping_issue(self):
        verdict = drift_causes.explain(
            self._evidence(
                kind="unknown_on_channel",
                channel_qty=None,
                last_publication_id=4,
                last_publication_failed=True,
            )
        )
        self.assertEqual(
            (verdict.cause, verdict.action), ("unknown_on_channel", "open_listing")
        )

    def test_resolved_row_keeps_its_cause_without_orders(self):
        self.assertIsNone(drift_causes.explain(self._evidence(found=False)))

    def test_every_cause_has_a_label_and_every_action_too(self):
        causes = dict(drift_causes.CAUSES)
        actions = dict(drift_causes.ACTIONS)
        for evidence in (
            self._evidence(),
            self._evidence(kind="unknown_on_channel", channel_qty=None),
            self._evidence(kind="unpublished_change", channel_qty=20, atp_qty=25),
        ):
            verdict = drift_causes.explain(evidence)
            self.assertIn(verdict.cause, causes)
            self.assertIn(verdict.action, actions)
