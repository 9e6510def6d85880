"""One reconciliation run for one channel: read back what the channel shows,
compare it with what was last published and with the ATP now, record the
differences as discrepancies, and with auto-heal republish the wrong ones.

Set-based like the ATP engine: a fixed number of queries whatever the number
of listings (the listings, the ATP, one upsert, one resolve, the heal), and
the channel is read in pages.
"""

from dataclasses import dataclass
from typing import NamedTuple

from odoo import fields
from odoo.tools import SQL

from ..adapters.base import ListingRef
from .atp import AtpEngine, id_array
from .channel_run import ChannelRun
from .drift_evidence import explain_discrepancies


@dataclass(frozen=True)
class Finding:
    listing_id: int
    sku: str
    kind: str
    channel_qty: int | None
    published_qty: int
    atp_qty: int
    location: str = ""  # per-location publication: the marketplace location


def classify(channel_qty, published_qty, published, atp_qty, pending):
    """The discrepancy kind of one listing, or None when all agree.

    ``published``: the listing was published at least once. A listing with a
    publication pending is on its way: only drift from what was last sent
    counts then."""
    if channel_qty is None:
        return "unknown_on_channel"
    if published and channel_qty != published_qty:
        return "channel_drift"
    if channel_qty != atp_qty and not pending:
        return "unpublished_change"
    return None


class Listed(NamedTuple):
    """An active listing of the channel, as a reconciliation reads it."""

    listing_id: int
    sku: str
    ref: str | None
    last_published_qty: int
    last_published_at: object
    pending: bool


class Reconciler(ChannelRun):
    healed = 0

    def run(self, session=None):
        """Reconcile every active listing (at each location, for a channel
        that publishes per location); return a short summary."""
        rows = self._listings()
        compared = self._compared(rows)
        adapter = self.channel._get_adapter(session)
        read_at = fields.Datetime.now()
        shown = adapter.fetch_levels([c[0] for c in compared], self.job_uuid)
        findings = []
        for ref, last_qty, published, atp_qty, pending in compared:
            kind = classify(shown.get(ref.key), last_qty, published, atp_qty, pending)
            if kind:
                findings.append(
                    Finding(
                        ref.listing_id,
                        ref.sku,
                        kind,
                        shown.get(ref.key),
                        last_qty or 0,
                        atp_qty,
                        ref.location,
                    )
                )
        findings = self._without_published_meanwhile(findings, rows)
        self._record(findings)
        self._explain([row.listing_id for row in rows], findings, read_at)
        resolved = self._resolve([row.listing_id for row in rows], findings)
        self.healed = self._heal(findings) if self.channel.auto_heal else 0
        self.channel.last_reconciled_at = fields.Datetime.now()
        return (
            f"{len(compared)} quantities compared, {len(findings)} discrepancies, "
            f"{resolved} resolved, {self.healed} republished"
        )

    def _compared(self, rows):
        """(ref to read, last published qty, published once, ATP now,
        pending) per listing, or per listing and location."""
        if not self.channel.publish_per_location:
            atp = AtpEngine(self.env).compute(row.listing_id for row in rows)
            return [
                (
                    ListingRef(listing_id, sku, ref or ""),
                    last_qty,
                    bool(last_at),
                    atp[listing_id].qty,
                    pending,
                )
                for listing_id, sku, ref, last_qty, last_at, pending in rows
            ]
        nodes = self._nodes([row.listing_id for row in rows])
        return [
            (
                ListingRef(listing_id, sku, ref or "", node.location_ref),
                node.published,
                node.published is not None,
                node.qty,
                pending,
            )
            for listing_id, sku, ref, _qty, _at, pending in rows
            for node in nodes.get(listing_id, ())
        ]

    # -- steps -------------------------------------------------------------

    def _without_published_meanwhile(self, findings, rows):
        """Drop the findings of listings published while the channel was
        being read: the channel may show the new quantity while this
        transaction's snapshot still holds the old one. One query on a fresh
        cursor, which sees what committed since; the next run checks them."""
        if not findings:
            return findings
        with self.env.registry.cursor() as cr:
            cr.execute(
                SQL(
                    "SELECT id, last_published_at FROM stock_channel_listing"
                    " WHERE id = ANY(%s::int[])",
                    id_array(f.listing_id for f in findings),
                )
            )
            now = dict(cr.fetchall())
        then = {row.listing_id: row.last_published_at for row in rows}
        # A listing the fresh cursor cannot see is not committed yet: kept.
        return [
            f
            for f in findings
            if f.listing_id not in now or now[f.listing_id] == then[f.listing_id]
        ]

    def _listings(self):
        """A :class:`Listed` row per active listing of the channel."""
        self.env["stock.channel.listing"].flush_model()
        self.cr.execute(
            SQL(
                """
                SELECT l.id, l.external_sku, l.external_ref, l.last_published_qty,
                       l.last_published_at,
                       EXISTS (SELECT FROM stock_channel_listing_change ch
                                WHERE ch.listing_id = l.id)
                  FROM stock_channel_listing l
                 WHERE l.channel_id = %s AND l.active
                   -- Amazon-fulfilled offers are Amazon's stock, not ours.
                   AND NOT COALESCE(l.amazon_fba, FALSE)
              ORDER BY l.id
                """,
                self.channel.id,
            )
        )
        return [Listed._make(row) for row in self.cr.fetchall()]

    def _record(self, findings):
        """Insert new discrepancies and refresh the open ones, in one upsert
        on the open (listing, kind) index."""
        if not findings:
            return
        now = fields.Datetime.now()
        self.cr.execute(
            SQL(
                """
                INSERT INTO stock_channel_discrepancy AS d
                       (listing_id, channel_id, company_id, product_id,
                        external_sku, location_ref, kind, channel_qty,
                        published_qty, atp_qty,
                        difference, detected_at, last_seen_at, state, healed,
                        job_uuid, create_uid, write_uid, create_date, write_date)
                SELECT f.listing_id, %(channel)s, %(company)s, l.product_id,
                       f.sku, NULLIF(f.location, ''), f.kind, f.channel_qty,
                       f.published_qty, f.atp_qty,
                       COALESCE(f.channel_qty, 0) - f.atp_qty, %(now)s, %(now)s,
                       'open', FALSE, %(job)s, %(uid)s, %(uid)s, %(now)s, %(now)s
                  FROM unnest(%(ids)s::int[], %(skus)s::varchar[],
                              %(locations)s::varchar[],
                              %(kinds)s::varchar[], %(channel_qtys)s::int[],
                              %(published)s::int[], %(atps)s::int[])
                       AS f(listing_id, sku, location, kind, channel_qty,
                            published_qty, atp_qty)
                  JOIN stock_channel_listing l ON l.id = f.listing_id
                    ON CONFLICT (listing_id, kind, (COALESCE(location_ref, '')))
                       WHERE state = 'open'
                    DO UPDATE SET channel_qty = EXCLUDED.channel_qty,
                                  published_qty = EXCLUDED.published_qty,
                                  atp_qty = EXCLUDED.atp_qty,
                                  difference = EXCLUDED.difference,
                                  last_seen_at = EXCLUDED.last_seen_at,
                                  job_uuid = EXCLUDED.job_uuid,
                                  write_date = EXCLUDED.write_date
                """,
                channel=self.channel.id,
                company=self.channel.company_id.id,
                now=now,
                job=self.job_uuid,
                uid=self.env.uid,
                ids=id_array(f.listing_id for f in findings),
                skus=[f.sku for f in findings],
                locations=[f.location for f in findings],
                kinds=[f.kind for f in findings],
                channel_qtys=[f.channel_qty for f in findings],
                published=id_array(f.published_qty for f in findings),
                atps=id_array(f.atp_qty for f in findings),
            )
        )
        self.env["stock.channel.discrepancy"].invalidate_model()

    def _explain(self, compared_ids, findings, read_at):
        """Choose the cause of every open discrepancy of the compared
        listings: those found again by this run from the whole evidence,
        those about to be resolved only from orders received since (one
        read of the open rows, then a fixed number of statements)."""
        if not compared_ids:
            return
        self.cr.execute(
            SQL(
                """SELECT id, listing_id, kind, COALESCE(location_ref, '')
                     FROM stock_channel_discrepancy
                    WHERE state = 'open' AND listing_id = ANY(%s::int[])""",
                id_array(compared_ids),
            )
        )
        open_rows = self.cr.fetchall()
        keys = {(f.listing_id, f.kind, f.location) for f in findings}
        explain_discrepancies(
            self.env,
            [row[0] for row in open_rows],
            read_at,
            found_ids=[row[0] for row in open_rows if tuple(row[1:]) in keys],
        )

    def _resolve(self, compared_ids, findings):
        """Resolve the open discrepancies of the compared listings that this
        run did not find again; return how many."""
        if not compared_ids:
            return 0
        self.cr.execute(
            SQL(
                """
                UPDATE stock_channel_discrepancy d
                   SET state = 'resolved', resolved_at = %(now)s,
                       write_date = %(now)s
                 WHERE d.state = 'open'
                   AND d.listing_id = ANY(%(compared)s::int[])
                   AND (d.listing_id, d.kind, COALESCE(d.location_ref, ''))
                       NOT IN (SELECT * FROM unnest(%(ids)s::int[],
                                                    %(kinds)s::varchar[],
                                                    %(locations)s::varchar[]))
                """,
                now=fields.Datetime.now(),
                compared=id_array(compared_ids),
                ids=id_array(f.listing_id for f in findings),
                kinds=[f.kind for f in findings],
                locations=[f.location for f in findings],
            )
        )
        self.env["stock.channel.discrepancy"].invalidate_model()
        return self.cr.rowcount

    def _heal(self, findings):
        """Republish what the channel shows wrongly: the listings are marked
        pending with ``force``, so the publisher sends the ATP even where it
        equals what was last published (the drift case). The discrepancy
        stays open until a run finds the channel right."""
        healable = [f for f in findings if f.kind != "unknown_on_channel"]
        if not healable:
            return 0
        ids = id_array(f.listing_id for f in healable)
        self.env["stock.channel.listing"]._mark_pending(
            SQL("l.id = ANY(%s::int[])", ids), force=True
        )
        self.cr.execute(
            SQL(
                """UPDATE stock_channel_discrepancy SET healed = TRUE
                    WHERE state = 'open' AND listing_id = ANY(%s::int[])""",
                ids,
            )
        )
        return len(healable)
