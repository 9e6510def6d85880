"""The daily digest: a day of a channel in figures, from the addon's own
tables, for each channel and for all of a company's channels together.

The window is ``[start, end)`` in UTC, stated in the digest. Each figure is
one grouped query with ``GROUPING SETS``: the per-channel rows and the
all-channels row (channel NULL) come together, percentiles included.
"""

from markupsafe import Markup, escape

from odoo.tools import SQL

from .anomalies import ANOMALY_KINDS

TOTAL = None  # the key of the all-channels figures

FIGURES = (
    "published",
    "latency_p50",
    "latency_p95",
    "failed",
    "failed_delivered_later",
    "failed_undelivered",
    "jobs_failed",
    "jobs_retried_done",
    "discrepancies",
    "discrepancies_resolved",
    "discrepancies_healed",
    "orders",
    "orders_error",
    "returns_to_inspect",
    "anomaly_alerts",
    "revenue_at_risk",
)


class ChannelDigest:
    """Figures and words of the digest of ``channels`` over the window."""

    def __init__(self, env, channels, start, end):
        self.env = env
        self.cr = env.cr
        self.channels = channels
        self.start = start
        self.end = end

    def figures(self):
        """``{channel id or TOTAL: {figure: value}}`` (and ``causes``:
        ``{cause label: count}`` when discrepancies have a cause)."""
        ids = self.channels.ids
        figures = {key: dict.fromkeys(FIGURES, 0) for key in [*ids, TOTAL]}
        for key in figures:
            figures[key]["causes"] = {}
        if not ids:
            return figures
        self.env.flush_all()
        window = {"ids": ids, "start": self.start, "end": self.end}
        queries = {
            ("published", "latency_p50", "latency_p95", "failed"): """
                SELECT channel_id,
                       COUNT(*) FILTER (WHERE state = 'sent'),
                       percentile_cont(0.5) WITHIN GROUP (ORDER BY latency_ms)
                         FILTER (WHERE state = 'sent'),
                       percentile_cont(0.95) WITHIN GROUP (ORDER BY latency_ms)
                         FILTER (WHERE state = 'sent'),
                       COUNT(*) FILTER (WHERE state = 'failed')
                  FROM stock_channel_publication
                 WHERE channel_id = ANY(%(ids)s)
                   AND create_date >= %(start)s AND create_date < %(end)s
              GROUP BY GROUPING SETS ((channel_id), ())""",
            # How the day's failed publications ended, by the time of the
            # digest: a later publication of the listing went through or not.
            ("failed_delivered_later", "failed_undelivered"): """
                SELECT p.channel_id,
                       COUNT(*) FILTER (WHERE later.id IS NOT NULL),
                       COUNT(*) FILTER (WHERE later.id IS NULL)
                  FROM stock_channel_publication p
             LEFT JOIN LATERAL (
                       SELECT n.id FROM stock_channel_publication n
                        WHERE n.listing_id = p.listing_id AND n.id > p.id
                          AND n.state = 'sent'
                          AND n.location_ref IS NOT DISTINCT FROM p.location_ref
                        LIMIT 1) later ON TRUE
                 WHERE p.channel_id = ANY(%(ids)s) AND p.state = 'failed'
                   AND p.create_date >= %(start)s AND p.create_date < %(end)s
              GROUP BY GROUPING SETS ((p.channel_id), ())""",
            ("jobs_failed", "jobs_retried_done"): """
                SELECT stock_channel_id,
                       COUNT(*) FILTER (WHERE state = 'failed'),
                       COUNT(*) FILTER (WHERE state = 'done' AND retry > 1)
                  FROM queue_job
                 WHERE stock_channel_id = ANY(%(ids)s)
                   AND date_created >= %(start)s AND date_created < %(end)s
              GROUP BY GROUPING SETS ((stock_channel_id), ())""",
            ("discrepancies", "discrepancies_resolved", "discrepancies_healed"): """
                SELECT channel_id,
                       COUNT(*) FILTER (WHERE detected_at >= %(start)s
                                          AND detected_at < %(end)s),
                       COUNT(*) FILTER (WHERE resolved_at >= %(start)s
                                          AND resolved_at < %(end)s),
                       COUNT(*) FILTER (WHERE resolved_at >= %(start)s
                                          AND resolved_at < %(end)s AND healed)
                  FROM stock_channel_discrepancy
                 WHERE channel_id = ANY(%(ids)s)
                   AND ((detected_at >= %(start)s AND detected_at < %(end)s)
                        OR (resolved_at >= %(start)s AND resolved_at < %(end)s))
              GROUP BY GROUPING SETS ((channel_id), ())""",
            ("orders", "orders_error"): """
                SELECT channel_id, COUNT(*), COUNT(*) FILTER (WHERE state = 'error')
                  FROM stock_channel_order
                 WHERE channel_id = ANY(%(ids)s)
                   AND create_date >= %(start)s AND create_date < %(end)s
              GROUP BY GROUPING SETS ((channel_id), ())""",
            # A state, not an event: what waits at the time of the digest.
            ("returns_to_inspect",): """
                SELECT channel_id, COUNT(*) FROM stock_channel_return_line
                 WHERE channel_id = ANY(%(ids)s) AND state = 'to_inspect'
              GROUP BY GROUPING SETS ((channel_id), ())""",
            ("anomaly_alerts", "revenue_at_risk"): """
                SELECT channel_id, COUNT(*), SUM(revenue_at_risk)
                  FROM stock_channel_alert
                 WHERE channel_id = ANY(%(ids)s) AND kind = ANY(%(kinds)s)
                   AND opened_at >= %(start)s AND opened_at < %(end)s
              GROUP BY GROUPING SETS ((channel_id), ())""",
        }
        params = {**window, "kinds": [kind for kind, _label in ANOMALY_KINDS]}
        for names, query in queries.items():
            self.cr.execute(SQL(query, **params))
            for channel_id, *values in self.cr.fetchall():
                for name, value in zip(names, values, strict=True):
                    figures[channel_id][name] = value or 0
        self._causes(figures, params)
        return figures

    def _causes(self, figures, params):
        """The day's discrepancies by cause, when discrepancies have one."""
        Discrepancy = self.env["stock.channel.discrepancy"]
        if "cause" not in Discrepancy._fields:
            return
        labels = dict(Discrepancy._fields["cause"]._description_selection(self.env))
        self.cr.execute(
            SQL(
                """SELECT channel_id, cause, COUNT(*)
                     FROM stock_channel_discrepancy
                    WHERE channel_id = ANY(%(ids)s)
                      AND detected_at >= %(start)s AND detected_at < %(end)s
                 GROUP BY GROUPING SETS ((channel_id, cause), (cause))""",
                **params,
            )
        )
        for channel_id, cause, count in self.cr.fetchall():
            label = labels.get(cause) or self.env._("No cause")
            figures[channel_id]["causes"][label] = count

    def render(self, title, figures, currency):
        """The digest as HTML, every value escaped."""
        _ = self.env._
        f = figures
        rows = [
            _(
                "Publications: %(sent)s sent, latency p50 %(p50)s ms, "
                "p95 %(p95)s ms.",
                sent=f["published"],
                p50=round(f["latency_p50"]),
                p95=round(f["latency_p95"]),
            ),
            _(
                "Failed publications: %(failed)s, of which %(later)s delivered "
                "by a later publication and %(open)s not yet delivered.",
                failed=f["failed"],
                later=f["failed_delivered_later"],
                open=f["failed_undelivered"],
            ),
            _(
                "Jobs created this day: %(failed)s failed now, %(retried)s "
                "succeeded after a retry.",
                failed=f["jobs_failed"],
                retried=f["jobs_retried_done"],
            ),
            _(
                "Discrepancies: %(found)s found, %(resolved)s resolved, of which "
                "%(healed)s healed by republication.",
                found=f["discrepancies"],
                resolved=f["discrepancies_resolved"],
                healed=f["discrepancies_healed"],
            ),
        ]
        if f["causes"]:
            causes = ", ".join(
                f"{label} {count}" for label, count in sorted(f["causes"].items())
            )
            rows.append(_("Discrepancies by cause: %(causes)s.", causes=causes))
        # Formatted outside the translated call: the term extractor reads
        # the call's arguments and chokes on an f-string.
        revenue = format(f["revenue_at_risk"], ".2f")
        rows += [
            _(
                "Orders: %(orders)s received, %(errors)s in error.",
                orders=f["orders"],
                errors=f["orders_error"],
            ),
            _(
                "Returns awaiting inspection (now): %(returns)s.",
                returns=f["returns_to_inspect"],
            ),
            _(
                "Anomaly alerts: %(alerts)s opened, revenue at risk %(revenue)s "
                "%(currency)s.",
                alerts=f["anomaly_alerts"],
                revenue=revenue,
                currency=currency.name,
            ),
        ]
        items = Markup("").join(Markup("<li>%s</li>") % escape(row) for row in rows)
        return Markup("<p><b>%s</b></p><ul>%s</ul>") % (title, items)

    def title(self, name):
        return self.env._(
            "Daily digest of %(name)s, %(start)s to %(end)s (UTC)",
            name=name,
            start=self.start.strftime("%Y-%m-%d %H:%M"),
            end=self.end.strftime("%Y-%m-%d %H:%M"),
        )

    def post(self, only=None):
        """Post the digest of each channel (of ``only`` if given) in its
        chatter, and each company's all-channels digest on its first
        channel; e-mail those whose channel asks for it. Returns the posted
        messages."""
        messages = self.env["mail.message"]
        for company in self.channels.company_id:
            channels = self.channels.filtered(lambda c, co=company: c.company_id == co)
            # Per company: the all-channels row is the company's.
            figures = ChannelDigest(self.env, channels, self.start, self.end).figures()
            currency = company.currency_id
            for channel in channels & (only or channels):
                title = self.title(channel.name)
                body = self.render(title, figures[channel.id], currency)
                messages |= channel._post_digest(title, body)
            title = self.title(self.env._("all channels of %s", company.name))
            body = self.render(title, figures[TOTAL], currency)
            messages |= channels[:1]._post_digest(title, body)
        return messages
