from odoo import api, fields, models

from ..services import retention

KINDS = [
    ("channel_drift", "Channel Drift"),
    ("unpublished_change", "Unpublished Change"),
    ("unknown_on_channel", "Unknown on Channel"),
]


class StockChannelDiscrepancy(models.Model):
    """A listing whose quantity on the channel is not what Odoo says, found
    by a reconciliation run. One open row per listing and kind: later runs
    refresh it while the difference lasts and resolve it once it is gone."""

    _name = "stock.channel.discrepancy"
    _inherit = ["stock.channel.listing.mixin"]
    _description = "Channel Discrepancy"
    _order = "state, detected_at desc, id desc"
    _rec_name = "external_sku"

    kind = fields.Selection(
        KINDS,
        required=True,
        readonly=True,
        help="Channel Drift: the channel shows something else than what was "
        "last published (edited on the marketplace, a lost request). "
        "Unpublished Change: the channel shows what was published but the "
        "quantity available to sell has moved and no publication is pending. "
        "Unknown on Channel: the channel does not know this SKU.",
    )
    location_ref = fields.Char(
        string="Marketplace Location",
        readonly=True,
        help="On a channel that publishes per location: the marketplace "
        "location whose quantity differs.",
    )
    channel_qty = fields.Integer(
        string="Channel Quantity",
        readonly=True,
        help="What the channel showed at the last run.",
    )
    published_qty = fields.Integer(
        string="Last Published",
        readonly=True,
        help="What Odoo last sent the channel.",
    )
    atp_qty = fields.Integer(
        string="Available to Sell",
        readonly=True,
        help="The listing's available-to-sell quantity at the last run.",
    )
    difference = fields.Integer(
        readonly=True,
        aggregator="sum",
        help="Channel quantity minus available to sell: above zero the channel "
        "offers stock that is not there (overselling risk).",
    )
    detected_at = fields.Datetime(readonly=True, help="First found.")
    last_seen_at = fields.Datetime(readonly=True, help="Last run that found it.")
    resolved_at = fields.Datetime(readonly=True)
    state = fields.Selection(
        [("open", "Open"), ("resolved", "Resolved")],
        required=True,
        default="open",
        readonly=True,
        index=True,
    )
    healed = fields.Boolean(
        readonly=True,
        help="Auto-heal queued a republication of this listing.",
    )
    job_uuid = fields.Char(
        string="Job UUID", readonly=True, help="The reconciliation run's job."
    )

    def init(self):
        # Reconciliation upserts on it: one open row per listing, kind and
        # location, "no location" (NULL, a summed channel) counting as one
        # location: COALESCE rather than NULLS NOT DISTINCT, which needs
        # PostgreSQL 15 (migrations/18.0.1.3.0 drops that older index).
        self.env.cr.execute(
            "DROP INDEX IF EXISTS stock_channel_discrepancy_open_uniq;"
            " CREATE UNIQUE INDEX IF NOT EXISTS"
            " stock_channel_discrepancy_open_key_uniq"
            " ON stock_channel_discrepancy"
            " (listing_id, kind, COALESCE(location_ref, '')) WHERE state = 'open'"
        )

    def action_view_job(self):
        self.ensure_one()
        return self.env["stock.channel.publication"]._job_action(self.job_uuid)

    def action_view_moves(self):
        """The stock moves behind the listing's last publication."""
        self.ensure_one()
        last = self.env["stock.channel.publication"].search(
            [("listing_id", "=", self.listing_id.id)], limit=1
        )
        if last:
            return last.action_view_moves()
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Stock Moves"),
            "res_model": "stock.move",
            "view_mode": "list,form",
            "domain": [("product_id", "=", self.product_id.id)],
        }

    def action_resolve(self):
        """Close by hand (e.g. a SKU the channel will never list)."""
        self.filtered(lambda d: d.state == "open").write(
            {"state": "resolved", "resolved_at": fields.Datetime.now()}
        )

    @api.autovacuum
    def _gc_resolved(self):
        """Resolved discrepancies older than the retention."""
        self.env.cr.execute(
            "DELETE FROM stock_channel_discrepancy WHERE state = 'resolved' AND"
            " resolved_at < (now() at time zone 'UTC') - make_interval(days => %s)",
            [retention.retention_days(self.env)],
        )
