"""Nodes keep their marketplace location.

Before 18.0.1.3.0 a node's *Marketplace Location* was read through its
mapping, and a node went with its mapping. Now the node stores it, so that
a removed or remapped mapping leaves the node behind, retired, and the next
publication sends 0 there once. The column is new: fill it from the
mappings (a node always had one).
"""


def migrate(cr, version):
    cr.execute(
        """
        UPDATE stock_channel_listing_node nd
           SET location_ref = m.location_ref
          FROM stock_channel_location m
         WHERE m.id = nd.location_id AND nd.location_ref IS NULL
        """
    )
