from odoo import fields, models


class StockChannelOwnedMixin(models.AbstractModel):
    """A record that belongs to one sales channel: its company is the
    channel's, so the multi-company record rules and Odoo's company checks
    (``_check_company_auto``) apply to it like to the channel itself."""

    _name = "stock.channel.owned.mixin"
    _description = "Record Owned by a Sales Channel"
    _check_company_auto = True

    channel_id = fields.Many2one(
        "stock.channel",
        required=True,
        index=True,
        ondelete="cascade",
        check_company=True,
    )
    company_id = fields.Many2one(related="channel_id.company_id", store=True)
