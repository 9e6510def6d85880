from odoo import fields, models


class StockChannelThreeplFile(models.Model):
    """An X12 interchange a 3PL sent and Odoo took: what recognises the
    same file sent again (a 3PL resending until it gets its 997) before
    any of its events is read, even once the partner reuses its control
    numbers on another day."""

    _name = "stock.channel.threepl.file"
    _inherit = ["stock.channel.threepl.owned.mixin"]
    _description = "3PL EDI File"
    _order = "received_at desc, id desc"
    _rec_name = "control_number"
    _sql_constraints = [
        (
            "interchange_uniq",
            "UNIQUE (connection_id, sender, control_number, interchange_date)",
            "An interchange is taken once per sender, control number and date.",
        ),
    ]

    sender = fields.Char(
        required=True, readonly=True, help="ISA05:ISA06, the partner's id."
    )
    control_number = fields.Char(
        string="Interchange Control Number", required=True, readonly=True
    )
    interchange_date = fields.Char(
        required=True, readonly=True, help="ISA09 (YYMMDD) and ISA10 (HHMM)."
    )
    checksum = fields.Char(
        required=True, readonly=True, index=True, help="SHA-256 of the file's bytes."
    )
    event_count = fields.Integer(string="Events", readonly=True)
    received_at = fields.Datetime(readonly=True)
