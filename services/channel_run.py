"""What a publication run and a reconciliation run share."""

import uuid

from odoo.tools import SQL

from .atp import id_array


class ChannelRun:
    """One run for one channel, inside a job (``job_uuid``) or not."""

    def __init__(self, channel, job_uuid=None):
        channel.ensure_one()
        self.channel = channel
        self.env = channel.env
        self.cr = channel.env.cr
        self.job_uuid = job_uuid or str(uuid.uuid4())

    def _listing_nodes(self, listing_ids):
        """Rows (listing, warehouse, location ref, last published qty and
        time) of the listings' locations, in mapping order."""
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
        return self.cr.fetchall()
