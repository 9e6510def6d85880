"""One publication run for one channel: snapshot the pending listings,
compute their ATP, send what changed in batches, audit, clear.

A run only deletes the change-log rows it snapshotted: a stock change landing
while a request is in flight adds a newer row, keeps its listing pending for
the next run, so nothing is lost and nothing is sent twice for the same
state.
"""

import hashlib
import uuid
from datetime import datetime
from typing import NamedTuple

from odoo.tools import SQL

from ..adapters.base import Item, PermanentError, location_key, location_key_sql
from . import jobs, publication_guard
from .atp import AtpEngine, id_array
from .channel_lock import fetch_fresh, lock_channel
from .channel_run import ChannelRun
from .feed_window import outside_feed

BATCH_NAMESPACE = uuid.UUID("5b0c3f4e-7a0e-4d8a-9a51-3c9f1c8f2a10")
# Seconds between two looks at a feed being processed (each a retry of its
# "feed" job, see jobs.FEED_POLL_TRIES).
FEED_POLL_SECONDS = 60


class Pending(NamedTuple):
    """A pending listing as :meth:`Publisher._snapshot` reads it (the
    columns of its query, in order)."""

    listing_id: int
    last_change: int  # newest change row snapshotted
    since: datetime | None  # oldest change's time
    correlation_id: str | None  # oldest change's
    last_published_qty: int | None
    last_published_at: datetime | None
    sku: str
    ref: str | None
    forced: bool
    amazon_product_type: str | None
    amazon_fba: bool


class InFeed(NamedTuple):
    """A listing waiting for a feed's result, as :meth:`Publisher.check_feed`
    reads it (the columns of its query, in order). Like :class:`Pending` it
    has the ``since`` and ``correlation_id`` that ``_audit`` reads."""

    listing_id: int
    feed_change_id: int  # newest change row the feed covers
    since: datetime | None
    correlation_id: str | None
    last_published_qty: int | None
    last_published_at: datetime | None
    sku: str
    feed_qty: int


class PublicationFailed(Exception):
    """The channel refused a batch for good; the job fails with its message.

    ``audit`` holds the publication rows to keep although the job's
    transaction is rolled back."""

    def __init__(self, message, audit):
        super().__init__(message)
        self.audit = audit


class Publisher(ChannelRun):
    # Items sending 0 to a location no longer published to: {key: node ids}.
    retiring = None

    def run(self, force=False, session=None):
        """Publish; return a short summary for the job's result. The
        channel's lock comes first and the snapshot under it (see
        ``channel_lock``): one run per channel at a time, each sending
        quantities at least as new as the previous run's."""
        generated_at = lock_channel(self.channel)
        snapshot = self._snapshot()
        # Changes committed after this snapshot get a job of their own.
        publication_guard.ran(
            self.channel,
            self.job_uuid,
            [(row.listing_id, row.last_change) for row in snapshot],
        )
        if not snapshot:
            return "nothing pending"
        adapter = self.channel._get_adapter(session)
        if self.channel.publish_per_location:
            to_send, unchanged = self._changed_nodes(snapshot, force)
        else:
            to_send, unchanged = self._changed_listings(snapshot, force)
        retired = self._retired_nodes(snapshot, adapter)
        if retired:
            to_send += retired
            retiring = {i.listing_id for i in retired}
            unchanged = [pair for pair in unchanged if pair[0] not in retiring]
        for item in to_send:
            item.generated_at = generated_at
        self._clear_pending(unchanged)
        rows = {row.listing_id: row for row in snapshot}
        sent, kept, failed = 0, [], set()
        correlation_id = self._correlation_id(snapshot) or self.job_uuid
        if adapter.needs_listing_details:
            to_send, skipped = self._listing_details(adapter, to_send, rows)
            self._clear_pending(skipped)
            unchanged += skipped
        if to_send and adapter.use_feed(len(to_send)):
            return self._submit_feed(adapter, to_send, rows, correlation_id) + (
                f", {len(unchanged)} unchanged or not published to"
            )
        for index in range(0, len(to_send), adapter.batch_limit):
            batch = to_send[index : index + adapter.batch_limit]
            batch_id = self._batch_id(index, batch)
            try:
                outcome = adapter.push_levels(batch, batch_id, correlation_id)
            except PermanentError as exc:
                # The job's transaction is rolled back: the rows of the
                # batches the marketplace already took are kept with the
                # failed batch's.
                raise PublicationFailed(
                    str(exc),
                    kept
                    + self._audit(
                        batch, rows, batch_id, "failed", exc.status, exc.excerpt
                    ),
                ) from exc
            errors = outcome.item_errors
            done = [i for i in batch if i.key not in errors]
            audit = self._audit(
                done, rows, batch_id, "sent", outcome.status, outcome.excerpt
            )
            for item in batch:
                if item.key in errors:
                    failed.add(item.listing_id)
                    audit += self._audit(
                        [item],
                        rows,
                        batch_id,
                        "failed",
                        outcome.status,
                        errors[item.key],
                    )
            self.env["stock.channel.publication"].create(audit)
            kept += audit
            self._mark_published(done)
            sent += len(done)
        # A listing is no longer pending once all it had to send went out: a
        # location refused keeps it pending, the others are not sent twice.
        self._clear_pending(
            [
                (listing_id, rows[listing_id].last_change)
                for listing_id in dict.fromkeys(i.listing_id for i in to_send)
                if listing_id not in failed
            ]
        )
        return f"{sent} sent, {len(unchanged)} unchanged"

    def _changed_listings(self, snapshot, force):
        """(items to send, (listing, change) pairs unchanged): one summed
        quantity per listing."""
        atp = AtpEngine(self.env).compute(row.listing_id for row in snapshot)
        to_send, unchanged = [], []
        for row in snapshot:
            result = atp[row.listing_id]
            qty = result.qty
            last_qty, last_at = row.last_published_qty, row.last_published_at
            if force or row.forced or last_at is None or qty != last_qty:
                previous = last_qty if last_at else None
                to_send.append(
                    Item(
                        row.listing_id,
                        row.sku,
                        row.ref or "",
                        qty,
                        previous,
                        lead_time_days=result.lead_time_days,
                    )
                )
            else:
                unchanged.append((row.listing_id, row.last_change))
        return to_send, unchanged

    def _changed_nodes(self, snapshot, force):
        """(items to send, (listing, change) pairs unchanged) of a channel
        that publishes per location: one item per location whose quantity
        changed, from one ATP computation for every node."""
        nodes = self._nodes([row.listing_id for row in snapshot])
        to_send, unchanged = [], []
        for row in snapshot:
            changed = [
                Item(
                    row.listing_id,
                    row.sku,
                    row.ref or "",
                    node.qty,
                    node.published,
                    location=node.location_ref,
                    lead_time_days=node.lead_time_days,
                )
                for node in nodes.get(row.listing_id, ())
                if force or row.forced or node.qty != node.published
            ]
            if changed:
                to_send += changed
            else:
                unchanged.append((row.listing_id, row.last_change))
        return to_send, unchanged

    def _retired_nodes(self, snapshot, adapter):
        """Items sending 0 once to each marketplace location these listings
        showed something at and are no longer published to: a retired node
        (its mapping removed or remapped, or the summed quantity of a
        channel now publishing per location), or any node of a channel
        publishing one summed quantity again. A location in use again
        (mapped, or where the summed quantity goes) gets no 0, nor one that
        shows nothing: their nodes are deleted now, the others' once the 0
        is accepted (``_mark_published``)."""
        per_location = self.channel.publish_per_location
        self.retiring = {}
        self.env["stock.channel.listing.node"].flush_model()
        self.cr.execute(
            SQL(
                """
                SELECT id, listing_id, location_ref, last_published_qty,
                       last_published_at
                  FROM stock_channel_listing_node
                 WHERE listing_id = ANY(%s::int[])
                   AND (location_id IS NULL OR NOT %s)
              ORDER BY listing_id, last_published_at DESC NULLS LAST, id
                """,
                id_array(row.listing_id for row in snapshot),
                per_location,
            )
        )
        found = self.cr.fetchall()
        if not found:
            return []
        if per_location:
            in_use = {location_key(m.location_ref) for m in self.channel.location_ids}
        else:
            summed = adapter.summed_location(self.channel.location_ref)
            in_use = {location_key(summed)}
        rows = {row.listing_id: row for row in snapshot}
        # One decision per listing and location (it may have been retired
        # twice), taken on its newest publication.
        decided, drop = {}, []
        for node_id, listing_id, ref, qty, published_at in found:
            place = (listing_id, location_key(ref))
            if place not in decided:
                decided[place] = None
                if place[1] not in in_use and published_at and qty:
                    pending = rows[listing_id]
                    decided[place] = Item(
                        listing_id,
                        pending.sku,
                        pending.ref or "",
                        0,
                        qty,
                        location=ref or "",
                    )
                    self.retiring[decided[place].key] = []
            item = decided[place]
            if item is not None:
                self.retiring[item.key].append(node_id)
            else:
                drop.append(node_id)
        self._delete_nodes(drop)
        return [item for item in decided.values() if item is not None]

    # -- steps -------------------------------------------------------------

    def _snapshot(self):
        """:class:`Pending` rows of the pending listings, but those in a
        feed the marketplace is processing. Each newest change row is then
        locked (``fetch_fresh``): a previous run that committed after this
        transaction's snapshot deleted them, and this run retries instead of
        sending from rows it has already published."""
        self.env["stock.channel.listing"].flush_model()
        self.cr.execute(
            SQL(
                """
                SELECT l.id, ch.last_change, ch.since, ch.correlation_id,
                       l.last_published_qty, l.last_published_at, l.external_sku,
                       l.external_ref, ch.forced, l.amazon_product_type,
                       l.amazon_fba
                  FROM (SELECT listing_id, MAX(id) AS last_change,
                               MIN(changed_at) AS since, bool_or(force) AS forced,
                               (array_agg(correlation_id ORDER BY id))[1]
                                   AS correlation_id
                          FROM stock_channel_listing_change
                         WHERE channel_id = %s
                      GROUP BY listing_id) ch
                  JOIN stock_channel_listing l ON l.id = ch.listing_id
                 WHERE %s
              ORDER BY l.id
                """,
                self.channel.id,
                outside_feed("l"),
            )
        )
        snapshot = [Pending._make(row) for row in self.cr.fetchall()]
        if snapshot:
            # KEY SHARE: only a delete conflicts, and only runs delete them.
            fetch_fresh(
                self.channel,
                SQL(
                    "SELECT 1 FROM stock_channel_listing_change"
                    " WHERE id = ANY(%s::int[]) FOR KEY SHARE",
                    id_array(row.last_change for row in snapshot),
                ),
            )
        return snapshot

    def _listing_details(self, adapter, items, rows):
        """What the marketplace needs to know of each listing (Amazon: its
        product type), looked up once for the listings that lack it and
        stored; listings the marketplace fulfils itself (FBA) are left out.
        Return (items to send, (listing, change) pairs left out)."""
        missing = []
        for item in items:
            item.product_type = rows[item.listing_id].amazon_product_type or ""
            if not item.product_type and not rows[item.listing_id].amazon_fba:
                missing.append(item)
        fba = {item.listing_id for item in items if rows[item.listing_id].amazon_fba}
        if missing:
            try:
                details = adapter.lookup_listings([i.sku for i in missing])
            except PermanentError as exc:
                raise PublicationFailed(str(exc), []) from exc
            found = [i for i in missing if i.sku in details]
            for item in found:
                item.product_type = details[item.sku].product_type
                if details[item.sku].fba:
                    fba.add(item.listing_id)
            if found:
                self.cr.execute(
                    SQL(
                        """
                        UPDATE stock_channel_listing l
                           SET amazon_product_type = NULLIF(found.product_type, ''),
                               amazon_fba = found.fba
                          FROM unnest(%s::int[], %s::varchar[], %s::bool[])
                               AS found(id, product_type, fba)
                         WHERE l.id = found.id
                        """,
                        id_array(i.listing_id for i in found),
                        [i.product_type for i in found],
                        [i.listing_id in fba for i in found],
                    )
                )
                self.env["stock.channel.listing"].invalidate_model(
                    ["amazon_product_type", "amazon_fba"]
                )
        return (
            [i for i in items if i.listing_id not in fba],
            [
                (i.listing_id, rows[i.listing_id].last_change)
                for i in items
                if i.listing_id in fba
            ],
        )

    def _submit_feed(self, adapter, items, rows, correlation_id):
        """Send ``items`` in one feed; their listings wait for its result
        (:meth:`check_feed`, a follow-up job). Listings the marketplace does
        not know are audited as failed at once and stay pending."""
        unknown = [i for i in items if not i.product_type]
        items = [i for i in items if i.product_type]
        audit = self._audit(
            unknown, rows, "", "failed", 0, "SKU not found on the marketplace"
        )
        if not items:
            self.env["stock.channel.publication"].create(audit)
            return f"0 sent, {len(unknown)} unknown on the marketplace"
        try:
            feed_ref = adapter.submit_feed(items, correlation_id)
        except PermanentError as exc:
            raise PublicationFailed(
                str(exc),
                audit + self._audit(items, rows, "", "failed", exc.status, exc.excerpt),
            ) from exc
        self.env["stock.channel.publication"].create(audit)
        self.env["stock.channel.listing"].flush_model()
        self.cr.execute(
            SQL(
                """
                UPDATE stock_channel_listing l
                   SET feed_ref = %s, feed_qty = sent.qty,
                       feed_change_id = sent.change,
                       feed_submitted_at = now() at time zone 'UTC'
                  FROM unnest(%s::int[], %s::int[], %s::int[]) AS sent(id, qty, change)
                 WHERE l.id = sent.id
                """,
                feed_ref,
                id_array(i.listing_id for i in items),
                id_array(i.quantity for i in items),
                id_array(rows[i.listing_id].last_change for i in items),
            )
        )
        self.env["stock.channel.listing"].invalidate_model(
            ["feed_ref", "feed_qty", "feed_change_id", "feed_submitted_at"]
        )
        # Looked at until processed (each look that finds it unfinished is a
        # retry of the job).
        jobs.enqueue("feed", self.channel, feed_ref, eta=FEED_POLL_SECONDS)
        return f"{len(items)} submitted in feed {feed_ref}"

    def check_feed(self, feed_ref, session=None):
        """The result of feed ``feed_ref``: None while the marketplace is
        processing it; else its accepted listings are published (their
        changes up to the submitted one cleared), its refused ones audited
        with the reason and left pending. Return a short summary. It
        records published quantities: the channel's lock comes first."""
        lock_channel(self.channel)
        adapter = self.channel._get_adapter(session)
        result = adapter.feed_result(feed_ref, self.job_uuid)
        if result is None:
            return None
        self.env["stock.channel.listing"].flush_model()
        self.cr.execute(
            SQL(
                """
                SELECT l.id, l.feed_change_id, ch.since, ch.correlation_id,
                       l.last_published_qty, l.last_published_at, l.external_sku,
                       l.feed_qty
                  FROM stock_channel_listing l
             LEFT JOIN LATERAL (
                        SELECT MIN(changed_at) AS since,
                               (array_agg(correlation_id ORDER BY id))[1]
                                   AS correlation_id
                          FROM stock_channel_listing_change c
                         WHERE c.listing_id = l.id AND c.id <= l.feed_change_id
                       ) ch ON TRUE
                 WHERE l.channel_id = %s AND l.feed_ref = %s
              ORDER BY l.id
                """,
                self.channel.id,
                feed_ref,
            )
        )
        in_feed = [InFeed._make(row) for row in self.cr.fetchall()]
        rows = {row.listing_id: row for row in in_feed}
        items = [
            Item(
                row.listing_id,
                row.sku,
                "",
                row.feed_qty,
                row.last_published_qty if row.last_published_at else None,
            )
            for row in rows.values()
        ]
        if result.failed:
            errors = {item.listing_id: result.failed for item in items}
        else:
            errors = {
                item.listing_id: result.errors[item.listing_id]
                for item in items
                if item.listing_id in result.errors
            }
        accepted = [i for i in items if i.listing_id not in errors]
        audit = self._audit(accepted, rows, feed_ref, "sent", 200, result.excerpt)
        for item in items:
            if item.listing_id in errors:
                audit += self._audit(
                    [item], rows, feed_ref, "failed", 200, errors[item.listing_id]
                )
        self.env["stock.channel.publication"].create(audit)
        self._mark_published(accepted)
        self._clear_pending(
            [(i.listing_id, rows[i.listing_id].feed_change_id) for i in accepted]
        )
        self.cr.execute(
            SQL(
                "UPDATE stock_channel_listing SET feed_ref = NULL"
                " WHERE channel_id = %s AND feed_ref = %s",
                self.channel.id,
                feed_ref,
            )
        )
        self.env["stock.channel.listing"].invalidate_model(["feed_ref"])
        # Changes that came while the feed was processed wait for no one.
        self.cr.execute(
            SQL(
                "SELECT 1 FROM stock_channel_listing_change"
                " WHERE listing_id = ANY(%s::int[]) LIMIT 1",
                id_array(i.listing_id for i in accepted),
            )
        )
        if self.cr.fetchone():
            publication_guard.enqueue_publication(self.channel, delay=0)
        return (
            f"feed {feed_ref} {result.status}: {len(accepted)} published, "
            f"{len(errors)} refused"
        )

    def _batch_id(self, index, batch):
        """Stable for the same job, batch position and content: a retried job
        re-sends the same id, a changed batch gets a new one."""
        content = ",".join(
            f"{i.listing_id}{'@' + i.location if i.location else ''}:{i.quantity}"
            for i in batch
        )
        digest = hashlib.sha256(content.encode()).hexdigest()[:16]
        return str(uuid.uuid5(BATCH_NAMESPACE, f"{self.job_uuid}:{index}:{digest}"))

    @staticmethod
    def _correlation_id(snapshot):
        ids = sorted({row.correlation_id for row in snapshot if row.correlation_id})
        return ids[0] if len(ids) == 1 else (ids[0] + f"+{len(ids) - 1}" if ids else "")

    def _audit(self, items, rows, batch_id, state, status, excerpt):
        """Publication row values for ``items``; ``rows``: their
        :class:`Pending` or :class:`InFeed` rows by listing id."""
        now = datetime.utcnow()
        return [
            {
                "listing_id": item.listing_id,
                "channel_id": self.channel.id,
                "external_sku": item.sku,
                "location_ref": item.location or False,
                "quantity": item.quantity,
                "previous_qty": item.previous or 0,
                "state": state,
                "batch_id": batch_id,
                "job_uuid": self.job_uuid,
                "correlation_id": rows[item.listing_id].correlation_id,
                "http_status": status or 0,
                "response_excerpt": excerpt,
                "latency_ms": int(
                    (now - rows[item.listing_id].since).total_seconds() * 1000
                )
                if rows[item.listing_id].since
                else 0,
            }
            for item in items
        ]

    def _mark_published(self, items):
        """Record what was published, in one statement per kind (listings,
        locations, retired locations: their nodes go); the changes it
        covered are cleared by the caller."""
        if not items:
            return
        retiring = self.retiring or {}
        retired = [i for i in items if i.key in retiring]
        items = [i for i in items if i.key not in retiring]
        self._delete_nodes(n for i in retired for n in retiring[i.key])
        located = [i for i in items if i.location]
        if located:
            self._mark_nodes_published(located)
        if self.channel.publish_per_location and (located or retired):
            self._refresh_totals({i.listing_id for i in located + retired})
        summed = [i for i in items if not i.location]
        if not summed:
            return
        self.cr.execute(
            SQL(
                """
                UPDATE stock_channel_listing l
                   SET last_published_qty = sent.qty,
                       last_published_at = now() at time zone 'UTC',
                       -- published: no feed of it (a forgotten one) counts
                       feed_ref = NULL
                  FROM unnest(%s::int[], %s::int[]) AS sent(id, qty)
                 WHERE l.id = sent.id
                """,
                id_array(i.listing_id for i in summed),
                id_array(i.quantity for i in summed),
            )
        )
        self.env["stock.channel.listing"].invalidate_model(
            ["last_published_qty", "last_published_at", "feed_ref"]
        )

    def _mark_nodes_published(self, items):
        """Per-location publication: each location's quantity."""
        self.cr.execute(
            SQL(
                """
                UPDATE stock_channel_listing_node nd
                   SET last_published_qty = sent.qty,
                       last_published_at = now() at time zone 'UTC'
                  FROM unnest(%s::int[], %s::varchar[], %s::int[])
                       AS sent(listing_id, location_ref, qty),
                       stock_channel_location m
                 WHERE m.channel_id = %s AND %s
                   AND nd.location_id = m.id AND nd.listing_id = sent.listing_id
                """,
                id_array(i.listing_id for i in items),
                [i.location for i in items],
                id_array(i.quantity for i in items),
                self.channel.id,
                SQL(
                    f"{location_key_sql('m.location_ref')}"
                    f" = {location_key_sql('sent.location_ref')}"
                ),
            )
        )
        self.env["stock.channel.listing.node"].invalidate_model(
            ["last_published_qty", "last_published_at"]
        )

    def _refresh_totals(self, listing_ids):
        """A per-location listing's published total: the sum over the
        locations it is mapped to."""
        self.cr.execute(
            SQL(
                """
                UPDATE stock_channel_listing l
                   SET last_published_qty = total.qty,
                       last_published_at = now() at time zone 'UTC'
                  FROM (SELECT listing_id, SUM(last_published_qty) AS qty
                          FROM stock_channel_listing_node
                         WHERE listing_id = ANY(%s::int[])
                           AND location_id IS NOT NULL
                      GROUP BY listing_id) total
                 WHERE l.id = total.listing_id
                """,
                id_array(listing_ids),
            )
        )
        self.env["stock.channel.listing"].invalidate_model(
            ["last_published_qty", "last_published_at"]
        )

    def _delete_nodes(self, node_ids):
        """Delete retired nodes: their location got its 0, or needs none."""
        node_ids = list(node_ids)
        if not node_ids:
            return
        self.cr.execute(
            SQL(
                "DELETE FROM stock_channel_listing_node WHERE id = ANY(%s::int[])",
                id_array(node_ids),
            )
        )
        self.env["stock.channel.listing.node"].invalidate_model()
        self.env["stock.channel.listing"].invalidate_model(["node_ids"])

    def _clear_pending(self, snapshotted):
        """Delete the change rows up to each listing's snapshot."""
        if not snapshotted:
            return
        self.cr.execute(
            SQL(
                """
                DELETE FROM stock_channel_listing_change ch
                 USING unnest(%s::int[], %s::int[]) AS seen(id, last_change)
                 WHERE ch.listing_id = seen.id AND ch.id <= seen.last_change
                """,
                id_array(i for i, _c in snapshotted),
                id_array(c for _i, c in snapshotted),
            )
        )
        self.env["stock.channel.listing"].invalidate_model(
            ["pending", "pending_since", "correlation_id"]
        )
