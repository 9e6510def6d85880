# Copyright 2026 Channel Stock Sync contributors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl.html)
{
    "name": "Channel Stock Sync",
    "summary": "Per-channel available-to-sell stock with safety buffers, "
    "kept in sync with marketplaces",
    "version": "18.0.1.6.0",
    "category": "Inventory/Inventory",
    "website": "https://github.com/channel-stock-sync/stock_channel_sync",
    "author": "Channel Stock Sync contributors",
    "maintainers": ["channel-stock-sync"],
    "license": "LGPL-3",
    "development_status": "Alpha",
    "application": False,
    "installable": True,
    "depends": [
        "mail",
        "stock",
        "sale_stock",
        # OCA/queue
        "queue_job",
        # Not here on purpose: mrp (kits) and stock_dropshipping (drop-ship
        # orders) are used when installed and never required
        # (services/kits.py, services/dropship_split.py).
    ],
    "external_dependencies": {"python": ["requests"]},
    "data": [
        "security/stock_channel_sync_groups.xml",
        "security/ir.model.access.csv",
        "security/stock_channel_sync_security.xml",
        "data/queue_job_data.xml",
        "data/product_data.xml",
        "data/stock_channel_cron.xml",
        "data/kit_cron.xml",
        "data/digest_cron.xml",
        "views/stock_channel_views.xml",
        "views/stock_channel_listing_views.xml",
        "views/stock_channel_buffer_rule_views.xml",
        "views/stock_channel_publication_views.xml",
        "views/stock_channel_order_views.xml",
        "views/stock_channel_discrepancy_views.xml",
        "views/stock_channel_alert_views.xml",
        "views/stock_channel_dashboard_views.xml",
        "views/stock_channel_breaker_views.xml",
        "views/stock_location_views.xml",
        "views/stock_picking_views.xml",
        "views/stock_channel_sandbox_views.xml",
        "views/stock_channel_threepl_upload_edi_views.xml",
        "views/stock_channel_threepl_views.xml",
        "views/stock_channel_supplier_feed_upload_views.xml",
        "views/stock_channel_supplier_feed_views.xml",
        "views/stock_channel_threepl_snapshot_views.xml",
        "views/stock_channel_sync_menus.xml",
        "views/stock_channel_return_views.xml",
        "views/stock_channel_order_refusal_views.xml",
        "views/stock_channel_threepl_order_views.xml",
        "views/stock_channel_digest_views.xml",
    ],
    "assets": {
        "web.assets_tests": [
            "stock_channel_sync/static/tests/tours/*.js",
        ],
    },
    "demo": [
        "demo/stock_channel_demo.xml",
    ],
}
