from odoo import fields, models


class StockChannelThreeplSnapshotLine(models.Model):
    """One SKU of a 3PL snapshot as the 3PL counted it. Written in bulk
    (one statement per request, ``services/threepl_snapshot.py``), never
    through the ORM, hence no log columns."""

    _name = "stock.channel.threepl.snapshot.line"
    _description = "3PL Inventory Snapshot Line"
    _order = "snapshot_id, sku"
    _rec_name = "sku"
    _log_access = False
    _sql_constraints = [
        (
            "snapshot_sku_uniq",
            "UNIQUE (snapshot_id, sku)",
            "A SKU is listed once per 3PL snapshot.",
        ),
    ]

    snapshot_id = fields.Many2one(
        "stock.channel.threepl.snapshot",
        required=True,
        ondelete="cascade",
        readonly=True,
    )
    page = fields.Integer(readonly=True, help="The page of the snapshot it came in.")
    sku = fields.Char(string="SKU", required=True, readonly=True)
    quantity = fields.Float(
        string="On Hand at the 3PL",
        digits="Product Unit of Measure",
        readonly=True,
        help="Every unit the 3PL holds for you, committed and on hold included: "
        "what is compared with Odoo.",
    )
    available = fields.Float(
        string="Available at the 3PL",
        digits="Product Unit of Measure",
        readonly=True,
        help="What the 3PL could ship now (846 QTY 33, polled fulfillable), "
        "when it says: for reading only.",
    )
