import base64
import binascii

from odoo import fields, models
from odoo.exceptions import UserError

from ..models.stock_channel import MANAGER_GROUP
from ..services import supplier_feed_import
from ..services.supplier_feed_parse import MAX_FILE_BYTES


class StockChannelSupplierFeedUpload(models.TransientModel):
    """A vendor's stock file (CSV or JSON) received by mail or downloaded
    from its portal, applied exactly as a pushed one: the same checks, the
    same import. A refused file changes nothing but the feed's Last Error,
    and the wizard says why."""

    _name = "stock.channel.supplier.feed.upload"
    _description = "Upload a Supplier Feed File"

    feed_id = fields.Many2one(
        "stock.channel.supplier.feed",
        string="Supplier Feed",
        required=True,
        help="The vendor feed the file belongs to.",
    )
    feed_file = fields.Binary(
        string="File",
        required=True,
        help="The vendor's CSV (header row with sku and quantity columns, "
        "',' or ';' separated, UTF-8) or JSON file "
        '({"items": [{"sku": ..., "quantity": ...}]}), at most 20 MiB and '
        "200,000 rows.",
    )
    filename = fields.Char(help="The uploaded file's name.")
    result = fields.Text(readonly=True, help="What the import did, or why not.")
    state = fields.Selection(
        [("draft", "Draft"), ("done", "Applied"), ("refused", "Refused")],
        default="draft",
        required=True,
        help="Applied: the quantities are in. Refused: nothing was changed.",
    )

    def action_upload(self):
        self.ensure_one()
        if not self.env.user.has_group(MANAGER_GROUP):
            raise UserError(
                self.env._("Only Channel Sync managers can upload supplier feeds.")
            )
        feed = self.feed_id
        if not feed.active:
            raise UserError(self.env._("Archived supplier feeds take no file."))
        try:
            data = base64.b64decode(self.feed_file or b"", validate=True)
        except (binascii.Error, ValueError) as exc:
            raise UserError(self.env._("The file could not be read.")) from exc
        if len(data) > MAX_FILE_BYTES:
            raise UserError(self.env._("The file is larger than 20 MiB."))
        try:
            result = supplier_feed_import.import_feed(feed, data)
        except supplier_feed_import.FeedFileError as exc:
            supplier_feed_import.record_error(feed, str(exc))
            self.write({"state": "refused", "result": str(exc)})
            return self._reopen()
        except (supplier_feed_import.FeedBusy, supplier_feed_import.StaleFeed) as exc:
            raise UserError(str(exc)) from exc
        self.write(
            {
                "state": "done",
                "result": self.env._(
                    "%(rows)s rows read: %(matched)s products matched, %(unknown)s "
                    "unknown SKUs, %(zeroed)s quantities zeroed (not in the file), "
                    "%(changed)s products whose sellable quantity changed.",
                    rows=result.rows_read,
                    matched=result.matched,
                    unknown=result.unknown,
                    zeroed=result.zeroed,
                    changed=result.changed,
                ),
            }
        )
        return self._reopen()

    def _reopen(self):
        return {
            "type": "ir.actions.act_window",
            "res_model": self._name,
            "res_id": self.id,
            "view_mode": "form",
            "target": "new",
        }
