from odoo import fields, models


class StockChannelThreeplOwnedMixin(models.AbstractModel):
    """A record that belongs to one 3PL connection (an event, a file, a
    snapshot, a discrepancy, a shipping order): removed with it, and in its
    company, so the multi-company record rules apply to it like to the
    connection itself. Read-only: only the addon's jobs write it."""

    _name = "stock.channel.threepl.owned.mixin"
    _description = "Record Owned by a 3PL Connection"
    _check_company_auto = True

    connection_id = fields.Many2one(
        "stock.channel.threepl",
        string="3PL Connection",
        required=True,
        index=True,
        ondelete="cascade",
        readonly=True,
    )
    company_id = fields.Many2one(
        related="connection_id.company_id", store=True, index=True
    )
