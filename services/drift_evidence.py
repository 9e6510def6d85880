"""The evidence behind the discrepancies of one reconciliation run, read
set-based, and their causes stored back.

A fixed number of statements whatever the number of discrepancies: one read
of the discrepancies with their listing, change log and last publication,
one of the channels' publication jobs, one of the orders received since,
one of the 3PL adjustments shortly before, one of the competing listings;
then one UPDATE and, per kind of evidence link, one DELETE and one INSERT.
The rules themselves are in ``drift_causes``.
"""

from datetime import timedelta

from odoo import fields
from odoo.tools import SQL

from . import drift_causes
from .atp import id_array

# A 3PL adjustment booked this long before the read-back may explain it.
ADJUSTMENT_WINDOW = timedelta(hours=6)

LINKS = (
    # (relation table, column, Verdict attribute)
    ("stock_channel_discrepancy_publication_rel", "publication_id", "publication_ids"),
    ("stock_channel_discrepancy_order_rel", "order_id", "order_ids"),
    ("stock_channel_discrepancy_threepl_event_rel", "event_id", "event_ids"),
)


def explain_discrepancies(env, discrepancy_ids, read_at, found_ids=None):
    """Choose and store the cause of each open discrepancy of ``discrepancy_ids``.
    ``read_at``: when the channel was read back. ``found_ids``: those this
    run found again (every one when None); the others are about to be
    resolved, and only an order received since can still change their cause.
    Return the number of discrepancies whose cause was written."""
    ids = sorted(set(discrepancy_ids))
    if not ids:
        return 0
    for model in (
        "stock.channel.discrepancy",
        "stock.channel.listing",
        "stock.channel.publication",
        "stock.channel.order",
        "stock.channel.order.line",
        "stock.channel.threepl.event",
    ):
        env[model].flush_model()
    found = set(ids if found_ids is None else found_ids)
    evidence = _read(env, ids, read_at, found)
    verdicts = {
        ev.discrepancy_id: verdict
        for ev in evidence
        if (verdict := drift_causes.explain(ev, env._))
    }
    _store(env, verdicts)
    return len(verdicts)


def _read(env, ids, read_at, found):
    cr = env.cr
    cr.execute(
        SQL(
            """
            SELECT d.id, d.kind, d.channel_qty, d.published_qty, d.atp_qty,
                   d.channel_id, c.adapter, COALESCE(l.external_ref, ''),
                   COALESCE(l.feed_ref, ''),
                   -- Forced changes are republications (auto-heal, the
                   -- Republish button): they do not explain the drift.
                   EXISTS (SELECT FROM stock_channel_listing_change ch
                            WHERE ch.listing_id = d.listing_id AND NOT ch.force),
                   p.id, p.state = 'failed'
              FROM stock_channel_discrepancy d
              JOIN stock_channel_listing l ON l.id = d.listing_id
              JOIN stock_channel c ON c.id = d.channel_id
         LEFT JOIN LATERAL (
                   SELECT p.id, p.state FROM stock_channel_publication p
                    WHERE p.listing_id = d.listing_id
                      AND COALESCE(p.location_ref, '') = COALESCE(d.location_ref, '')
                 ORDER BY p.id DESC LIMIT 1) p ON TRUE
             WHERE d.id = ANY(%s::int[]) AND d.state = 'open'
          ORDER BY d.id
            """,
            id_array(ids),
        )
    )
    base = cr.fetchall()
    if not base:
        return []
    channel_ids = sorted({row[5] for row in base})
    running, retrying = _publication_jobs(env, channel_ids)
    pulls = {
        channel.id: channel.pulls_orders
        for channel in env["stock.channel"].browse(channel_ids)
    }
    present = [row[0] for row in base]
    orders = _orders(env, present)
    adjustments = _adjustments(env, present, read_at)
    competitors = _competitors(env, present)
    evidence = []
    for (
        did,
        kind,
        channel_qty,
        published_qty,
        atp_qty,
        channel_id,
        adapter,
        ref,
        feed_ref,
        pending,
        publication_id,
        publication_failed,
    ) in base:
        on_its_way = (
            env._("feed %(feed)s", feed=feed_ref)
            if feed_ref
            else (env._("publication job running") if channel_id in running else "")
        )
        evidence.append(
            drift_causes.Evidence(
                discrepancy_id=did,
                kind=kind,
                channel_qty=channel_qty if kind != "unknown_on_channel" else None,
                published_qty=published_qty or 0,
                atp_qty=atp_qty or 0,
                adapter=adapter or "",
                external_ref=ref,
                pulls_orders=pulls.get(channel_id, False),
                pending=pending,
                batch_on_its_way=on_its_way,
                last_publication_id=publication_id or 0,
                last_publication_failed=bool(publication_failed),
                retrying=channel_id in retrying,
                orders=tuple(orders.get(did, ())),
                adjustments=tuple(adjustments.get(did, ())),
                competitor=competitors.get(did),
                found=did in found,
            )
        )
    return evidence


def _publication_jobs(env, channel_ids):
    """(channels whose publication job is running, channels whose
    publication job waits for a retry after a failure)."""
    env.cr.execute(
        SQL(
            """
            SELECT stock_channel_id, state, COALESCE(retry, 0)
              FROM queue_job
             WHERE stock_channel_id = ANY(%s::int[])
               AND method_name = '_publish_pending'
               AND state IN ('pending', 'enqueued', 'started')
            """,
            id_array(channel_ids),
        )
    )
    running, retrying = set(), set()
    for channel_id, state, retry in env.cr.fetchall():
        if state == "started":
            running.add(channel_id)
        elif retry > 0:
            retrying.add(channel_id)
    return running, retrying


def _orders(env, ids):
    """``{discrepancy id: [Order]}``: the channel's orders of the listing
    received after the discrepancy was first read back (not cancelled)."""
    env.cr.execute(
        SQL(
            """
            SELECT d.id, o.id, o.external_id, COALESCE(o.received_via, 'webhook'),
                   SUM(ol.channel_qty)
              FROM stock_channel_discrepancy d
              JOIN stock_channel_order_line ol ON ol.listing_id = d.listing_id
              JOIN stock_channel_order o ON o.id = ol.order_id
             WHERE d.id = ANY(%s::int[])
               AND d.kind = 'channel_drift' AND d.location_ref IS NULL
               AND o.channel_id = d.channel_id AND o.state != 'cancelled'
               AND o.create_date > d.detected_at
          GROUP BY d.id, o.id
          ORDER BY d.id, o.id
            """,
            id_array(ids),
        )
    )
    found = {}
    for did, order_id, name, via, quantity in env.cr.fetchall():
        found.setdefault(did, []).append(
            drift_causes.Order(order_id, name, quantity or 0.0, via)
        )
    return found


def _adjustments(env, ids, read_at):
    """``{discrepancy id: [Adjustment]}``: 3PL adjustments of the product,
    at a warehouse the channel sells, booked shortly before the read-back."""
    env.cr.execute(
        SQL(
            """
            SELECT d.id, e.id, e.business_id, COALESCE(e.reason_code, ''),
                   e.quantity
              FROM stock_channel_discrepancy d
              JOIN stock_channel_threepl_event e
                ON e.product_id = d.product_id AND e.kind = 'adjustment'
               AND e.state = 'done'
              JOIN stock_channel_threepl t ON t.id = e.connection_id
              JOIN stock_channel_warehouse_rel w
                ON w.channel_id = d.channel_id AND w.warehouse_id = t.warehouse_id
             WHERE d.id = ANY(%(ids)s::int[])
               AND COALESCE(e.applied_at, e.occurred_at)
                   BETWEEN %(since)s AND %(until)s
          ORDER BY d.id, e.id
            """,
            ids=id_array(ids),
            since=read_at - ADJUSTMENT_WINDOW,
            until=read_at,
        )
    )
    found = {}
    for did, event_id, business_id, reason, quantity in env.cr.fetchall():
        found.setdefault(did, []).append(
            drift_causes.Adjustment(event_id, business_id, reason, quantity or 0.0)
        )
    return found


def _competitors(env, ids):
    """``{discrepancy id: Competitor}``: the listing of the same SKU most
    recently published by another active channel on the same marketplace
    account (same adapter, base URL and seller), e.g. two channels of one
    Amazon unified account."""
    env.cr.execute(
        SQL(
            """
            SELECT DISTINCT ON (d.id) d.id, o.id, oc.name, o.last_published_qty
              FROM stock_channel_discrepancy d
              JOIN stock_channel_listing l ON l.id = d.listing_id
              JOIN stock_channel c ON c.id = d.channel_id
              JOIN stock_channel_listing o
                ON o.external_sku = l.external_sku AND o.id != l.id AND o.active
               AND o.last_published_at IS NOT NULL
              JOIN stock_channel oc
                ON oc.id = o.channel_id AND oc.id != c.id AND oc.active
               -- Of the same company: another's channel is not named here.
               AND oc.company_id = c.company_id
               AND oc.adapter = c.adapter
               AND rtrim(COALESCE(oc.base_url, ''), '/')
                   = rtrim(COALESCE(c.base_url, ''), '/')
               AND COALESCE(oc.amazon_seller_id, '') = COALESCE(c.amazon_seller_id, '')
             WHERE d.id = ANY(%s::int[])
          ORDER BY d.id, o.last_published_at DESC, o.id DESC
            """,
            id_array(ids),
        )
    )
    return {
        did: drift_causes.Competitor(listing_id, name, qty or 0)
        for did, listing_id, name, qty in env.cr.fetchall()
    }


def _store(env, verdicts):
    """Write the verdicts and their evidence links, one statement each."""
    if not verdicts:
        return
    cr = env.cr
    ids = sorted(verdicts)
    cr.execute(
        SQL(
            """
            UPDATE stock_channel_discrepancy d
               SET cause = v.cause, cause_detail = v.detail,
                   recommended_action = v.action,
                   competing_listing_id = NULLIF(v.competing, 0),
                   explained_at = %(now)s
              FROM unnest(%(ids)s::int[], %(causes)s::varchar[],
                          %(details)s::text[], %(actions)s::varchar[],
                          %(competing)s::int[])
                   AS v(id, cause, detail, action, competing)
             WHERE d.id = v.id
            """,
            now=fields.Datetime.now(),
            ids=id_array(ids),
            causes=[verdicts[i].cause for i in ids],
            details=[verdicts[i].detail for i in ids],
            actions=[verdicts[i].action for i in ids],
            competing=id_array(verdicts[i].competing_listing_id for i in ids),
        )
    )
    for table, column, attribute in LINKS:
        cr.execute(
            SQL(
                "DELETE FROM %s WHERE discrepancy_id = ANY(%s::int[])",
                SQL.identifier(table),
                id_array(ids),
            )
        )
        pairs = [(i, ref) for i in ids for ref in getattr(verdicts[i], attribute)]
        if pairs:
            cr.execute(
                SQL(
                    "INSERT INTO %s (discrepancy_id, %s)"
                    " SELECT * FROM unnest(%s::int[], %s::int[])"
                    " ON CONFLICT DO NOTHING",
                    SQL.identifier(table),
                    SQL.identifier(column),
                    id_array(p[0] for p in pairs),
                    id_array(p[1] for p in pairs),
                )
            )
    env["stock.channel.discrepancy"].invalidate_model()
