"""What a publication run and a reconciliation run share."""

import uuid
from typing import NamedTuple

from odoo.tools import SQL

from .atp import NO_ATP, AtpEngine, id_array


class Node(NamedTuple):
    """A listing at one marketplace location: its ATP there now, and what
    was last published there (None: never)."""

    location_ref: str
    qty: int
    published: int | None
    # The handling time published with it (drop-ship), None: none said.
    lead_time_days: int | None = None


class ChannelRun:
    """One run for one channel, inside a job (``job_uuid``) or not."""

    def __init__(self, channel, job_uuid=None):
        channel.ensure_one()
        self.channel = channel
        self.env = channel.env
        self.cr = channel.env.cr
        self.job_uuid = job_uuid or str(uuid.uuid4())

    def _nodes(self, listing_ids):
        """A per-location channel's listings at each location:
        ``{listing id: [Node]}`` in mapping order, with the ATP there now
        (one computation for every node) and what was last published there.
        Missing (listing, location) rows are created first."""
        self.channel._sync_listing_nodes(listing_ids)
        atp = AtpEngine(self.env).compute_nodes(listing_ids)
        self.env["stock.channel.location"].flush_model()
        self.env["stock.channel.listing.node"].flush_model()
        self.cr.execute(
            SQL(
                """
                SELECT nd.listing_id, m.warehouse_id, m.location_ref,
                       nd.last_published_qty, nd.last_published_at
                  FROM stock_channel_listing_node nd
                  JOIN stock_channel_location m ON m.id = nd.location_id
                 WHERE nd.listing_id = ANY(%s::int[])
              ORDER BY nd.listing_id, m.sequence, m.id
                """,
                id_array(listing_ids),
            )
        )
        nodes = {}
        for (
            listing_id,
            warehouse_id,
            location_ref,
            last_qty,
            last_at,
        ) in self.cr.fetchall():
            # A drop-ship location has no warehouse: its node is None's.
            result = atp.get((listing_id, warehouse_id), NO_ATP)
            nodes.setdefault(listing_id, []).append(
                Node(
                    location_ref,
                    result.qty,
                    last_qty if last_at else None,
                    result.lead_time_days,
                )
            )
        return nodes
