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

from odoo.tools import SQL

from ..adapters.base import Item, PermanentError
from .atp import AtpEngine, id_array
from .channel_run import ChannelRun

BATCH_NAMESPACE = uuid.UUID("5b0c3f4e-7a0e-4d8a-9a51-3c9f1c8f2a10")


class PublicationFailed(Exception):
    """The channel refused a batch for good; the job fails with its message.

    ``audit`` holds the publication rows to keep although the job's
    transaction is rolled back."""

    def __init__(self, message, audit):
        super().__init__(message)
        self.audit = audit


class Publisher(ChannelRun):
    def run(self, force=False, session=None):
        """Publish; return a short summary for the job's result."""
        snapshot = self._snapshot()
        if not snapshot:
            return "nothing pending"
        atp = AtpEngine(self.env).compute(row[0] for row in snapshot)
        to_send, unchanged = [], []
        for row in snapshot:
            listing_id, counter, _since, _corr, last_qty, last_at, sku, ref = row[:8]
            qty = atp[listing_id].qty
            if force or row[8] or last_at is None or qty != last_qty:
                previous = last_qty if last_at else None
                to_send.append(Item(listing_id, sku, ref or "", qty, previous))
            else:
                unchanged.append((listing_id, counter))
        self._clear_pending(unchanged)
        rows = {row[0]: row for row in snapshot}
        adapter = self.channel._get_adapter(session)
        sent, kept = 0, []
        correlation_id = self._correlation_id(snapshot) or self.job_uuid
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
            done = [i for i in batch if i.listing_id not in outcome.item_errors]
            audit = self._audit(
                done, rows, batch_id, "sent", outcome.status, outcome.excerpt
            )
            for item in batch:
                if item.listing_id in outcome.item_errors:
                    audit += self._audit(
                        [item],
                        rows,
                        batch_id,
                        "failed",
                        outcome.status,
                        outcome.item_errors[item.listing_id],
                    )
            self.env["stock.channel.publication"].create(audit)
            kept += audit
            self._mark_published(done, rows)
            sent += len(done)
        return f"{sent} sent, {len(unchanged)} unchanged"

    # -- steps -------------------------------------------------------------

    def _snapshot(self):
        """Rows (listing, newest change id, oldest change time, its
        correlation id, last published qty and time, SKU, reference, forced)."""
        self.env["stock.channel.listing"].flush_model()
        self.cr.execute(
            SQL(
                """
                SELECT l.id, ch.last_change, ch.since, ch.correlation_id,
                       l.last_published_qty, l.last_published_at, l.external_sku,
                       l.external_ref, ch.forced
                  FROM (SELECT listing_id, MAX(id) AS last_change,
                               MIN(changed_at) AS since, bool_or(force) AS forced,
                               (array_agg(correlation_id ORDER BY id))[1]
                                   AS correlation_id
                          FROM stock_channel_listing_change
                         WHERE channel_id = %s
                      GROUP BY listing_id) ch
                  JOIN stock_channel_listing l ON l.id = ch.listing_id
              ORDER BY l.id
                """,
                self.channel.id,
            )
        )
        return self.cr.fetchall()

    def _batch_id(self, index, batch):
        """Stable for the same job, batch position and content: a retried job
        re-sends the same id, a changed batch gets a new one."""
        content = ",".join(f"{i.listing_id}:{i.quantity}" for i in batch)
        digest = hashlib.sha256(content.encode()).hexdigest()[:16]
        return str(uuid.uuid5(BATCH_NAMESPACE, f"{self.job_uuid}:{index}:{digest}"))

    @staticmethod
    def _correlation_id(snapshot):
        ids = sorted({row[3] for row in snapshot if row[3]})
        return ids[0] if len(ids) == 1 else (ids[0] + f"+{len(ids) - 1}" if ids else "")

    def _audit(self, items, rows, batch_id, state, status, excerpt):
        """Publication row values for ``items``."""
        now = datetime.utcnow()
        return [
            {
                "listing_id": item.listing_id,
                "channel_id": self.channel.id,
                "external_sku": item.sku,
                "quantity": item.quantity,
                "previous_qty": item.previous or 0,
                "state": state,
                "batch_id": batch_id,
                "job_uuid": self.job_uuid,
                "correlation_id": rows[item.listing_id][3],
                "http_status": status or 0,
                "response_excerpt": excerpt,
                "latency_ms": int(
                    (now - rows[item.listing_id][2]).total_seconds() * 1000
                )
                if rows[item.listing_id][2]
                else 0,
            }
            for item in items
        ]

    def _mark_published(self, items, rows):
        """Record what was published and forget the changes it covered, in
        two statements."""
        if not items:
            return
        self.cr.execute(
            SQL(
                """
                UPDATE stock_channel_listing l
                   SET last_published_qty = sent.qty,
                       last_published_at = now() at time zone 'UTC'
                  FROM unnest(%s::int[], %s::int[]) AS sent(id, qty)
                 WHERE l.id = sent.id
                """,
                id_array(i.listing_id for i in items),
                id_array(i.quantity for i in items),
            )
        )
        self.env["stock.channel.listing"].invalidate_model(
            ["last_published_qty", "last_published_at"]
        )
        self._clear_pending([(i.listing_id, rows[i.listing_id][1]) for i in items])

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
