from odoo import api, fields, models
from odoo.exceptions import ValidationError
from odoo.tools import SQL

from ..adapters.base import (
    ADAPTERS,
    location_key,
)


class StockChannelPerLocation(models.Model):
    """Publication per marketplace location: the mapping of warehouses to
    marketplace locations, its checks, and the (listing, location) nodes it
    needs."""

    _inherit = "stock.channel"

    def write(self, vals):
        if vals.get("publish_per_location"):
            self.filtered(lambda c: not c.publish_per_location)._retire_summed()
        # A mapping row replaced in the same save (removed, then added) is
        # checked once, by the constraint, when the whole write is done.
        res = super(
            StockChannelPerLocation,
            self.with_context(stock_channel_sync_mapping_write=True),
        ).write(vals)
        if "publish_per_location" in vals:
            if vals["publish_per_location"]:
                self._sync_listing_nodes()
            # Another shape on the marketplace: every quantity is sent again
            # (a 0 to every location no longer published to).
            self.env["stock.channel.listing"]._mark_pending(
                SQL(
                    "l.channel_id = ANY(%s)"
                    " AND (l.active OR l.last_published_qty <> 0)",
                    self.ids,
                ),
                force=True,
            )
        return res

    publish_per_location = fields.Boolean(
        help="Publish one quantity per marketplace location instead of one "
        "summed quantity: each fulfillment warehouse is mapped to a location "
        "of the marketplace and offers its own stock there (Shopify, generic "
        "webhook and sandbox channels).",
    )

    location_ids = fields.One2many(
        "stock.channel.location",
        "channel_id",
        string="Location Mapping",
        help="Per-location publication: the marketplace location of each "
        "fulfillment warehouse, every warehouse exactly once.",
    )

    @api.constrains(
        "publish_per_location",
        "adapter",
        "warehouse_ids",
        "location_ids",
        "sell_dropship",
    )
    def _check_location_mapping(self):
        for channel in self.filtered("publish_per_location"):
            if not ADAPTERS[channel.adapter].publishes_per_location:
                raise ValidationError(
                    self.env._(
                        "Channel %(channel)s cannot publish per location: "
                        "%(adapter)s has no locations to publish to. Untick "
                        "Publish per Location to publish one summed quantity.",
                        channel=channel.display_name,
                        adapter=channel._adapter_label(),
                    )
                )
            channel._check_location_refs()
            warehouse_mappings = channel.location_ids.filtered(lambda m: not m.dropship)
            dropship_mappings = channel.location_ids - warehouse_mappings
            if len(dropship_mappings) > 1 or (
                dropship_mappings and not channel.sell_dropship
            ):
                raise ValidationError(
                    self.env._(
                        "Channel %s may map one marketplace location to drop-ship "
                        "stock, and only when it sells drop-ship stock.",
                        channel.display_name,
                    )
                )
            mapped = warehouse_mappings.warehouse_id
            missing = channel.warehouse_ids - mapped
            extra = mapped - channel.warehouse_ids
            if missing or extra or len(mapped) != len(warehouse_mappings):
                raise ValidationError(
                    self.env._(
                        "Channel %(channel)s publishes per location: map every "
                        "fulfillment warehouse to a marketplace location exactly "
                        "once. Not mapped: %(missing)s. Mapped but not a "
                        "fulfillment warehouse: %(extra)s.",
                        channel=channel.display_name,
                        missing=", ".join(missing.mapped("display_name")) or "-",
                        extra=", ".join(extra.mapped("display_name")) or "-",
                    )
                )

    def _check_location_refs(self):
        """Each marketplace location mapped once (Shopify: an id and its
        gid are one location), and Shopify's in a form its API takes."""
        for channel in self.filtered("publish_per_location"):
            keys = [location_key(m.location_ref) for m in channel.location_ids]
            if len(set(keys)) != len(keys):
                raise ValidationError(
                    self.env._(
                        "Channel %s maps one marketplace location twice (Shopify: "
                        "an id and its gid:// are the same location).",
                        channel.display_name,
                    )
                )
            bad, form = ADAPTERS[channel.adapter].invalid_location_refs(
                channel.location_ids.mapped("location_ref")
            )
            if bad:
                raise ValidationError(
                    self.env._(
                        "%(adapter)s locations are %(form)s, not %(refs)s.",
                        adapter=channel._adapter_label(),
                        form=form,
                        refs=", ".join(bad),
                    )
                )

    def _sync_listing_nodes(self, listing_ids=None):
        """Create the missing (listing, location) rows of these channels'
        listings (or of ``listing_ids`` only) in one INSERT; only channels
        that publish per location have nodes."""
        self.env["stock.channel.location"].flush_model()
        self.env["stock.channel.listing"].flush_model(["channel_id", "company_id"])
        self.flush_model(["publish_per_location"])
        self.env.cr.execute(
            SQL(
                """
                INSERT INTO stock_channel_listing_node
                       (listing_id, location_id, location_ref, company_id,
                        create_uid, create_date, write_uid, write_date)
                SELECT l.id, m.id, m.location_ref, l.company_id, %(uid)s,
                       now() at time zone 'UTC', %(uid)s, now() at time zone 'UTC'
                  FROM stock_channel_listing l
                  JOIN stock_channel_location m ON m.channel_id = l.channel_id
                  JOIN stock_channel c
                    ON c.id = l.channel_id AND c.publish_per_location
                 WHERE l.channel_id = ANY(%(channels)s)
                   AND (%(all)s OR l.id = ANY(%(listings)s))
                    ON CONFLICT (listing_id, location_id) DO NOTHING
                """,
                uid=self.env.uid,
                channels=self.ids,
                all=listing_ids is None,
                listings=list(listing_ids or ()),
            )
        )
        self.env["stock.channel.listing.node"].invalidate_model()

    def _retire_summed(self):
        """Before these channels publish per location: the summed quantity
        they published at a marketplace location (Shopify's Channel
        Location) would stay there. One retired node per listing that shows
        something there, in one INSERT, so the next publication sends it 0
        once (or just drops it when that location is mapped). The generic
        contract's summed item names no location: nothing to retire."""
        summed = {
            channel: ADAPTERS[channel.adapter].summed_location(channel.location_ref)
            for channel in self
        }
        channels = self.filtered(lambda c: summed[c])
        if not channels:
            return
        self.env["stock.channel.listing"].flush_model()
        self.env.cr.execute(
            SQL(
                """
                INSERT INTO stock_channel_listing_node
                       (listing_id, location_ref, last_published_qty,
                        last_published_at, company_id, create_uid, create_date,
                        write_uid, write_date)
                SELECT l.id, s.ref, l.last_published_qty,
                       l.last_published_at, l.company_id, %(uid)s,
                       now() at time zone 'UTC', %(uid)s, now() at time zone 'UTC'
                  FROM unnest(%(channels)s::int[], %(refs)s::varchar[])
                       AS s(channel_id, ref)
                  JOIN stock_channel_listing l ON l.channel_id = s.channel_id
                 WHERE l.last_published_at IS NOT NULL
                   AND l.last_published_qty <> 0
                """,
                uid=self.env.uid,
                channels=channels.ids,
                refs=[summed[c] for c in channels],
            )
        )
        self.env["stock.channel.listing.node"].invalidate_model()
        self.env["stock.channel.listing"].invalidate_model(["node_ids"])
