"""Anomalies of a channel measured against its own history, for every
channel at once: a fixed number of grouped queries, never one per listing.

* ``atp_drop``: a listing's available-to-sell quantity fell since the last
  check by more than the channel's share and number of units, beyond what
  the window's channel orders and customer deliveries explain;
* ``lag_jump`` / ``failure_jump``: the last hour's median publication
  latency or failure rate against the previous 7 days;
* ``order_gap``: no order for much longer than the channel's median gap
  between orders over 14 days.

Each finding carries the units at risk and their price (``pricing``).
"""

from datetime import timedelta
from typing import NamedTuple

from odoo.tools import SQL

from .atp import AtpEngine
from .pricing import listing_unit_prices

ANOMALY_KINDS = [
    ("atp_drop", "Unexplained Stock Fall"),
    ("lag_jump", "Publication Lag Jump"),
    ("failure_jump", "Failure Rate Jump"),
    ("order_gap", "Orders Stopped"),
]

RECENT = timedelta(hours=1)
BASELINE = timedelta(days=7)
ORDER_HISTORY = timedelta(days=14)
FIRST_WINDOW = timedelta(hours=1)
# Orders and moves of transactions still open at the last check commit
# after it with earlier times: the explanation window starts this early.
EXPLAIN_MARGIN = timedelta(minutes=10)


class Finding(NamedTuple):
    """One anomaly of one channel, as an alert states it."""

    channel_id: int
    kind: str
    value: int
    threshold: int
    units: int
    revenue: float
    lines: tuple = ()
    # atp_drop: {listing id: the quantity it must climb back to}.
    watch: dict | None = None


class AnomalyDetector:
    """Finds the anomalies of ``channels`` at ``now``."""

    def __init__(self, env, channels, now):
        self.env = env
        self.cr = env.cr
        self.channels = channels
        self.now = now
        self._atp_cache = {}

    # -- helpers -------------------------------------------------------------

    def atp(self, listing_ids):
        """``{listing id: ATP now}``, one engine run per call."""
        missing = [i for i in listing_ids if i not in self._atp_cache]
        if missing:
            for listing_id, result in AtpEngine(self.env).compute(missing).items():
                self._atp_cache[listing_id] = result.qty
        return {i: self._atp_cache.get(i, 0) for i in listing_ids}

    def _pending_risk(self, channel_ids):
        """``{channel id: (units, revenue)}`` of the unpublished listings:
        the difference between what the channel shows and what is there."""
        if not channel_ids:
            return {}
        self.cr.execute(
            SQL(
                """SELECT DISTINCT c.listing_id FROM stock_channel_listing_change c
                     JOIN stock_channel_listing l ON l.id = c.listing_id
                    WHERE c.channel_id = ANY(%s) AND l.active""",
                list(channel_ids),
            )
        )
        listings = self.env["stock.channel.listing"].browse(
            [row[0] for row in self.cr.fetchall()]
        )
        atp = self.atp(listings.ids)
        prices = listing_unit_prices(self.env, listings)
        risk = {channel_id: (0, 0.0) for channel_id in channel_ids}
        for listing in listings:
            units = abs(atp[listing.id] - listing.last_published_qty)
            old_units, old_revenue = risk[listing.channel_id.id]
            risk[listing.channel_id.id] = (
                old_units + units,
                old_revenue + units * prices[listing.id],
            )
        return risk

    # -- (a) stock falls -----------------------------------------------------

    def atp_drops(self):
        """Unexplained falls of every listing of the channels, and the new
        baselines (the ATP now) to keep for the next check."""
        channels = self.channels
        if not channels:
            return [], {}
        self.env["stock.channel.listing"].flush_model()
        self.env["stock.channel.order.line"].flush_model()
        self.env["stock.move"].flush_model()
        self.cr.execute(
            SQL(
                """SELECT l.id, l.channel_id, l.product_id, l.pack_size,
                          COALESCE(l.anomaly_atp_qty, l.last_published_qty, 0),
                          COALESCE(c.anomaly_checked_at, %s)
                     FROM stock_channel_listing l
                     JOIN stock_channel c ON c.id = l.channel_id
                    WHERE l.channel_id = ANY(%s) AND l.active""",
                self.now - FIRST_WINDOW,
                channels.ids,
            )
        )
        rows = self.cr.fetchall()
        atp = self.atp([row[0] for row in rows])
        baselines = dict(atp)
        if not rows:
            return [], baselines
        since = min(row[5] for row in rows)
        explained = self._explained_units(channels.ids, since)
        by_channel = {channel.id: channel for channel in channels}
        falls = {}
        for listing_id, channel_id, product_id, pack, base, _since in rows:
            channel = by_channel[channel_id]
            fall = base - atp[listing_id]
            if fall <= 0:
                continue
            explained_units = explained.get((channel_id, product_id), 0.0) / (
                pack or 1.0
            )
            unexplained = int(fall - explained_units)
            if (
                unexplained >= channel.anomaly_atp_drop_min_units
                and unexplained * 100 >= channel.anomaly_atp_drop_percent * base
            ):
                falls.setdefault(channel_id, []).append((listing_id, base, unexplained))
        findings = []
        listings = self.env["stock.channel.listing"].browse(
            [fall[0] for channel_falls in falls.values() for fall in channel_falls]
        )
        prices = listing_unit_prices(self.env, listings)
        skus = {listing.id: listing.external_sku for listing in listings}
        for channel_id, channel_falls in falls.items():
            channel = by_channel[channel_id]
            units = sum(fall[2] for fall in channel_falls)
            lines = tuple(
                (skus[lid], base, atp[lid], n) for lid, base, n in channel_falls
            )
            findings.append(
                Finding(
                    channel_id,
                    "atp_drop",
                    units,
                    channel.anomaly_atp_drop_min_units,
                    units,
                    sum(n * prices[lid] for lid, _base, n in channel_falls),
                    lines,
                    {
                        lid: base
                        - max(
                            channel.anomaly_atp_drop_min_units,
                            base * channel.anomaly_atp_drop_percent / 100,
                        )
                        for lid, base, _n in channel_falls
                    },
                )
            )
        return findings, baselines

    def _explained_units(self, channel_ids, since):
        """``{(channel id, product id): product units}`` that left or were
        promised since ``since``: lines of channel orders of any channel
        sharing the product, and moves to a customer from one of the
        channel's warehouses. Both are counted: an order later delivered
        explains its fall twice, so an alert is never raised for a fall
        that an order or a delivery could explain."""
        self.cr.execute(
            SQL(
                """WITH w AS (
                       SELECT id AS channel_id,
                              COALESCE(anomaly_checked_at, %(since)s) - %(margin)s
                                  AS start
                         FROM stock_channel WHERE id = ANY(%(ids)s))
                   SELECT w.channel_id, ol.product_id, SUM(ol.product_qty)
                     FROM stock_channel_order_line ol
                     JOIN stock_channel_order o ON o.id = ol.order_id
                     JOIN w ON o.create_date >= w.start
                    WHERE ol.product_id IS NOT NULL
                 GROUP BY w.channel_id, ol.product_id
                UNION ALL
                   SELECT w.channel_id, m.product_id, SUM(m.product_qty)
                     FROM stock_move m
                     JOIN stock_location src ON src.id = m.location_id
                     JOIN stock_location dest ON dest.id = m.location_dest_id
                     JOIN stock_channel_warehouse_rel rel
                       ON rel.warehouse_id = src.warehouse_id
                     JOIN w ON w.channel_id = rel.channel_id
                    WHERE dest.usage = 'customer' AND src.usage = 'internal'
                      AND m.state NOT IN ('draft', 'cancel')
                      AND (m.create_date >= w.start OR m.date >= w.start)
                 GROUP BY w.channel_id, m.product_id""",
                ids=list(channel_ids),
                since=since,
                margin=EXPLAIN_MARGIN,
            )
        )
        explained = {}
        for channel_id, product_id, qty in self.cr.fetchall():
            key = (channel_id, product_id)
            explained[key] = explained.get(key, 0.0) + (qty or 0.0)
        return explained

    # -- (b) publication lag and failures ---------------------------------

    def publication_jumps(self):
        """The last hour against the 7 days before, per channel."""
        if not self.channels:
            return []
        self.env["stock.channel.publication"].flush_model()
        recent = self.now - RECENT
        self.cr.execute(
            SQL(
                """SELECT channel_id,
                          COUNT(*) FILTER (WHERE create_date >= %(recent)s),
                          COUNT(*) FILTER (WHERE create_date >= %(recent)s
                                             AND state = 'failed'),
                          percentile_cont(0.5) WITHIN GROUP (ORDER BY latency_ms)
                            FILTER (WHERE create_date >= %(recent)s
                                      AND state = 'sent'),
                          COUNT(*) FILTER (WHERE create_date < %(recent)s),
                          COUNT(*) FILTER (WHERE create_date < %(recent)s
                                             AND state = 'failed'),
                          percentile_cont(0.5) WITHIN GROUP (ORDER BY latency_ms)
                            FILTER (WHERE create_date < %(recent)s
                                      AND state = 'sent')
                     FROM stock_channel_publication
                    WHERE channel_id = ANY(%(ids)s) AND create_date >= %(start)s
                      AND create_date <= %(now)s
                 GROUP BY channel_id""",
                recent=recent,
                start=recent - BASELINE,
                now=self.now,
                ids=self.channels.ids,
            )
        )
        by_channel = {channel.id: channel for channel in self.channels}
        jumps = []
        for row in self.cr.fetchall():
            channel_id, n, failed, lag, base_n, base_failed, base_lag = row
            channel = by_channel[channel_id]
            factor = channel.anomaly_jump_factor
            if n < channel.anomaly_min_publications:
                continue
            rate = 100 * failed / n
            base_rate = 100 * base_failed / base_n if base_n else 0.0
            floor = max(factor * base_rate, channel.anomaly_min_failure_rate)
            if rate >= floor:
                jumps.append((channel_id, "failure_jump", round(rate), round(floor)))
            if (
                lag is not None
                and base_lag
                and base_n >= channel.anomaly_min_publications
                and lag >= factor * base_lag
            ):
                jumps.append(
                    (channel_id, "lag_jump", round(lag), round(factor * base_lag))
                )
        risk = self._pending_risk({jump[0] for jump in jumps})
        return [
            Finding(channel_id, kind, value, limit, *risk[channel_id])
            for channel_id, kind, value, limit in jumps
        ]

    # -- (c) orders stopped --------------------------------------------------

    def order_gaps(self):
        """Channels silent for longer than their factor times their median
        gap between orders over 14 days."""
        if not self.channels:
            return []
        self.env["stock.channel.order"].flush_model()
        self.env["stock.channel.order.line"].flush_model()
        since = self.now - ORDER_HISTORY
        self.cr.execute(
            SQL(
                """WITH o AS (
                       SELECT channel_id, create_date,
                              EXTRACT(EPOCH FROM create_date - LAG(create_date)
                                  OVER (PARTITION BY channel_id
                                        ORDER BY create_date)) AS gap
                         FROM stock_channel_order
                        WHERE channel_id = ANY(%s) AND create_date >= %s
                          AND create_date <= %s)
                   SELECT channel_id, COUNT(*), MIN(create_date), MAX(create_date),
                          percentile_cont(0.5) WITHIN GROUP (ORDER BY gap)
                     FROM o GROUP BY channel_id""",
                self.channels.ids,
                since,
                self.now,
            )
        )
        by_channel = {channel.id: channel for channel in self.channels}
        silent = {}
        for channel_id, count, first, last, median in self.cr.fetchall():
            channel = by_channel[channel_id]
            if count < channel.anomaly_min_orders or not median:
                continue
            silence = (self.now - last).total_seconds()
            limit = channel.anomaly_order_gap_factor * median
            if silence > limit:
                span = max((self.now - first).total_seconds(), 1.0)
                silent[channel_id] = (silence, limit, span)
        if not silent:
            return []
        # The units each silent channel usually sells in as long a time.
        self.cr.execute(
            SQL(
                """SELECT ol.listing_id, SUM(ol.channel_qty)
                     FROM stock_channel_order_line ol
                     JOIN stock_channel_order o ON o.id = ol.order_id
                    WHERE o.channel_id = ANY(%s) AND o.create_date >= %s
                      AND ol.listing_id IS NOT NULL
                 GROUP BY ol.listing_id""",
                list(silent),
                since,
            )
        )
        sold = dict(self.cr.fetchall())
        listings = self.env["stock.channel.listing"].browse(list(sold))
        prices = listing_unit_prices(self.env, listings)
        expected = {channel_id: [0.0, 0.0] for channel_id in silent}
        for listing in listings:
            silence, _limit, span = silent[listing.channel_id.id]
            units = sold[listing.id] * silence / span
            expected[listing.channel_id.id][0] += units
            expected[listing.channel_id.id][1] += units * prices[listing.id]
        return [
            Finding(
                channel_id,
                "order_gap",
                round(silence / 60),
                round(limit / 60),
                round(expected[channel_id][0]),
                expected[channel_id][1],
            )
            for channel_id, (silence, limit, _span) in silent.items()
        ]
