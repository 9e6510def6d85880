from datetime import timedelta

from odoo import api, fields, models
from odoo.tools import SQL

from ..services.kits import kits_installed

# When the kit BoMs were last checked for changes (UTC, ir.config_parameter).
BOM_WATERMARK = "stock_channel_sync.kit_bom_checked_at"
# A BoM edit stamps its transaction's start and may commit after a check
# began: each check looks this far before the last one (a kit marked twice
# costs one comparison).
BOM_OVERLAP = timedelta(minutes=10)


class StockChannelListingKits(models.Model):
    """Kit BoM edits republish their kits. ``mrp`` is a soft dependency, so
    the addon cannot hook ``mrp.bom.write``; a cron reads what changed since
    its last run instead (``write_date`` of BoMs and their lines)."""

    _inherit = "stock.channel.listing"

    @api.model
    def _cron_mark_changed_kits(self):
        """Mark the listings of kits whose BoM changed since the last run
        (and of their components' other kits: the same closure as stock)."""
        if not kits_installed(self.env):
            return
        params = self.env["ir.config_parameter"].sudo()
        now = fields.Datetime.now()
        last = fields.Datetime.to_datetime(params.get_param(BOM_WATERMARK)) or now
        since = last - BOM_OVERLAP
        for model in ("mrp.bom", "mrp.bom.line"):
            self.env[model].flush_model()
        self.env.cr.execute(
            SQL(
                """
                SELECT DISTINCT pp.id
                  FROM mrp_bom b
                  JOIN product_product pp ON pp.product_tmpl_id = b.product_tmpl_id
                   AND (b.product_id IS NULL OR pp.id = b.product_id)
                 WHERE b.type = 'phantom'
                   AND (b.write_date >= %(since)s OR EXISTS (
                        SELECT 1 FROM mrp_bom_line bl
                         WHERE bl.bom_id = b.id AND bl.write_date >= %(since)s))
                """,
                since=since,
            )
        )
        kit_ids = [row[0] for row in self.env.cr.fetchall()]
        if kit_ids:
            self._mark_pending_for_products(kit_ids)
        params.set_param(BOM_WATERMARK, fields.Datetime.to_string(now))

    @api.model
    def _demo_create_kit(self):
        """Demo data, when ``mrp`` is installed: a *Desk Starter Set* kit (a
        keyboard, a mouse, 2 cables) listed on the Web Store, offered from
        its components' stock. The demo file cannot name ``mrp`` records
        (the addon does not depend on it), hence a function."""
        if not kits_installed(self.env) or self.env.ref(
            "stock_channel_sync.demo_listing_web_starter", raise_if_not_found=False
        ):
            return
        ref = self.env.ref
        kit = self.env["product.product"].create(
            {
                "name": "Desk Starter Set",
                "default_code": "CS-STARTER",
                "is_storable": True,
                "list_price": 59.0,
            }
        )
        self.env["mrp.bom"].create(
            {
                "product_tmpl_id": kit.product_tmpl_id.id,
                "type": "phantom",
                "bom_line_ids": [
                    (
                        0,
                        0,
                        {
                            "product_id": ref(f"stock_channel_sync.{xmlid}").id,
                            "product_qty": qty,
                        },
                    )
                    for xmlid, qty in (
                        ("demo_product_keyboard", 1),
                        ("demo_product_mouse", 1),
                        ("demo_product_cable", 2),
                    )
                ],
            }
        )
        listing = self.create(
            {
                "channel_id": ref("stock_channel_sync.demo_channel_webstore").id,
                "product_id": kit.id,
            }
        )
        self.env["ir.model.data"].create(
            {
                "module": "stock_channel_sync",
                "name": "demo_listing_web_starter",
                "model": self._name,
                "res_id": listing.id,
                "noupdate": True,
            }
        )
