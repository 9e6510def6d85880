import base64
import binascii

from odoo import fields, models
from odoo.exceptions import UserError

from ..controllers.status import status_of
from ..services.payloads import MAX_BODY
from ..services.threepl_edi import receive_edi


class StockChannelThreeplUploadEdi(models.TransientModel):
    """An X12 file a 3PL sent by mail or SFTP, taken exactly as if it had
    been posted to the connection's /edi endpoint: the same checks, the
    same exactly-once storage, the same 997."""

    _name = "stock.channel.threepl.upload.edi"
    _description = "Upload a 3PL EDI File"

    connection_id = fields.Many2one(
        "stock.channel.threepl", string="3PL Connection", required=True
    )
    edi_file = fields.Binary(
        string="EDI File",
        required=True,
        help="The X12 interchange (944, 945, 947 or 846) as the 3PL sent it, "
        "at most 1 MiB.",
    )
    filename = fields.Char()
    result = fields.Text(readonly=True)
    ack = fields.Text(
        string="997 Acknowledgment",
        readonly=True,
        help="The functional acknowledgment(s) to send back to the 3PL.",
    )
    state = fields.Selection(
        [("draft", "Draft"), ("done", "Done")], default="draft", required=True
    )

    def action_upload(self):
        self.ensure_one()
        connection = self.connection_id
        if not self.env.user.has_group("stock_channel_sync.group_channel_manager"):
            raise UserError(self.env._("Only Channel Sync managers can upload files."))
        try:
            body = base64.b64decode(self.edi_file or b"", validate=True)
        except (binascii.Error, ValueError) as exc:
            raise UserError(self.env._("The file could not be read.")) from exc
        if not body or len(body) > MAX_BODY:
            raise UserError(self.env._("The file must hold 1 byte to 1 MiB."))
        outcome = receive_edi(connection._as_technical_user(), body)
        status, answer = status_of(outcome), outcome.answer
        if status >= 300:
            # Nothing of the file was written (the 997 rejecting it was).
            problems = "\n".join(
                f"- {d['field']}: {d['message']}" for d in answer.get("details", [])
            )
            raise UserError(
                self.env._(
                    "The file was refused (%(error)s), nothing was written:\n"
                    "%(problems)s",
                    error=answer.get("error"),
                    problems=problems,
                )
            )
        events = answer.get("events", [])
        accepted = sum(1 for e in events if e.get("status") == "accepted")
        self.write(
            {
                "state": "done",
                "result": self.env._(
                    "%(accepted)s new event(s), %(known)s already received%(file)s.",
                    accepted=accepted,
                    known=len(events) - accepted,
                    file=self.env._(" (the same file again)")
                    if answer.get("file")
                    else "",
                ),
                "ack": "\n\n".join(answer.get("ack", [])),
            }
        )
        return {
            "type": "ir.actions.act_window",
            "res_model": self._name,
            "res_id": self.id,
            "view_mode": "form",
            "target": "new",
        }
