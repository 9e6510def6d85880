"""Which listings' changes wait for a marketplace feed rather than for a
publication run: those in a feed the marketplace is still processing. The
publication run and the publication guard must agree on it, or the guard
would enqueue runs that find nothing to send, over and over."""

from datetime import datetime, timedelta

from odoo.tools import SQL

# A feed whose result has not come back after this long is forgotten: its
# listings are sent again.
FEED_STALE = timedelta(hours=6)


def outside_feed(alias="l"):
    """SQL: listing ``alias`` is in no feed being processed."""
    return SQL(
        "(%s IS NULL OR %s < %s)",
        SQL.identifier(alias, "feed_ref"),
        SQL.identifier(alias, "feed_submitted_at"),
        datetime.utcnow() - FEED_STALE,
    )
