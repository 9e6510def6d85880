from odoo import fields, models


class StockChannelListingChange(models.Model):
    """Insert-only log of changes not yet published, one row per mark.

    Stock operations only ever INSERT here, never UPDATE a listing: inserts
    do not conflict, so a stock transaction never fails to serialize against
    a publication job that is updating the same listings. A listing is
    pending while it has rows; a publication deletes the rows it snapshotted,
    so a change that lands while a request is in flight stays for the next
    run. ``listing_id`` is a plain integer on purpose: a foreign key check
    would lock the listing row and bring the conflict back.
    """

    _name = "stock.channel.listing.change"
    _description = "Unpublished Channel Listing Change"
    _order = "id"
    _log_access = False

    listing_id = fields.Integer(required=True, index=True)
    channel_id = fields.Integer(required=True, index=True)
    # A plain integer too (no foreign key lock), for the company record rule.
    company_id = fields.Integer(index=True)
    changed_at = fields.Datetime(required=True)
    correlation_id = fields.Char()
    force = fields.Boolean(
        help="Send even if the quantity equals the last published one: the "
        "channel was found showing something else (reconciliation)."
    )
