from odoo import fields, models
from odoo.exceptions import UserError
from odoo.tools import SQL

from ..services.drift_causes import ACTIONS, CAUSES


class StockChannelDiscrepancy(models.Model):
    """Why the channel disagreed, and what to do about it: written by each
    reconciliation run from the addon's own evidence (``services/
    drift_causes`` and ``drift_evidence``), never typed by hand."""

    _inherit = "stock.channel.discrepancy"

    cause = fields.Selection(
        CAUSES,
        readonly=True,
        index=True,
        help="Chosen by ordered rules, the first that matches: Publication in "
        "Flight (the listing was pending, or a batch of it on its way, when "
        "read back); Failed Publication (its last publication failed or is "
        "retrying); Order Not Yet Received (the channel shows less by exactly "
        "the quantity of orders received after the read-back); 3PL Adjustment "
        "(a 3PL adjusted the product shortly before); Collision (another "
        "channel on the same marketplace account publishes the same SKU); "
        "Edited on the Marketplace (changed with no publication, order or 3PL "
        "event to explain it); Unmapped / Unknown on the Channel; else "
        "Unexplained.",
    )
    cause_detail = fields.Text(
        string="Why",
        readonly=True,
        help="The cause in words, naming the evidence it rests on.",
    )
    recommended_action = fields.Selection(
        ACTIONS,
        readonly=True,
        help="What the cause calls for; the button of the same name does it.",
    )
    explained_at = fields.Datetime(
        string="Cause Found At",
        readonly=True,
        help="The reconciliation run that last chose the cause.",
    )
    cause_publication_ids = fields.Many2many(
        "stock.channel.publication",
        "stock_channel_discrepancy_publication_rel",
        "discrepancy_id",
        "publication_id",
        string="Evidence: Publications",
        readonly=True,
    )
    cause_order_ids = fields.Many2many(
        "stock.channel.order",
        "stock_channel_discrepancy_order_rel",
        "discrepancy_id",
        "order_id",
        string="Evidence: Orders",
        readonly=True,
        help="Orders received after the read-back that explain the difference.",
    )
    cause_threepl_event_ids = fields.Many2many(
        "stock.channel.threepl.event",
        "stock_channel_discrepancy_threepl_event_rel",
        "discrepancy_id",
        "event_id",
        string="Evidence: 3PL Events",
        readonly=True,
    )
    competing_listing_id = fields.Many2one(
        "stock.channel.listing",
        string="Competing Listing",
        readonly=True,
        ondelete="set null",
        help="The other channel's listing of the same SKU on the same "
        "marketplace account.",
    )
    competing_channel_id = fields.Many2one(
        related="competing_listing_id.channel_id", string="Competing Channel"
    )

    def action_republish(self):
        """Send the listings' quantity again, even where it equals the last
        one published (the channel shows something else)."""
        self._check_action_rights()
        listings = self.filtered(lambda d: d.state == "open").listing_id
        if listings:
            self.env["stock.channel.listing"]._mark_pending(
                SQL("l.id = ANY(%s::int[])", listings.ids), force=True
            )
        return self.channel_id[:1]._notify(
            self.env._(
                "%(count)s listing(s) queued for publication.", count=len(listings)
            )
        )

    def action_pull_orders_now(self):
        self._check_action_rights()
        return self.channel_id.action_fetch_orders_now()

    def action_fix_mapping(self):
        """The listing's form, where its SKU and reference are set."""
        self.ensure_one()
        self._check_action_rights()
        return self.action_view_listing()

    def action_view_competing_channel(self):
        self.ensure_one()
        if not self.competing_channel_id:
            raise UserError(self.env._("No competing channel was found."))
        return self.competing_channel_id.get_formview_action()

    def _check_action_rights(self):
        self.channel_id._check_manager()
