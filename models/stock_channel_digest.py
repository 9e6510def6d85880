from datetime import datetime, time, timedelta

from odoo import api, fields, models
from odoo.exceptions import AccessError

from ..services.digest import ChannelDigest
from .stock_channel_secret_mixin import MANAGER_GROUP


class StockChannel(models.Model):
    """The daily digest of a channel: posted, optionally e-mailed."""

    _inherit = "stock.channel"

    digest_email = fields.Boolean(
        string="E-mail Digest",
        help="Also e-mail the daily digest to the responsible (else the "
        "technical user); it is posted in the channel's chatter either way.",
    )

    def action_send_digest_now(self):
        """Today's digest so far (UTC) of these channels and of all their
        company's channels, for a manager during an incident."""
        if not self.env.user.has_group(MANAGER_GROUP):
            raise AccessError(
                self.env._("Only a Channel Sync manager can send the digest.")
            )
        now = fields.Datetime.now()
        start = datetime.combine(now.date(), time.min)
        company_channels = self.search([("company_id", "in", self.company_id.ids)])
        ChannelDigest(self.env, company_channels, start, now).post(only=self)
        return True

    @api.model
    def _cron_send_digest(self):
        """Yesterday's digest (a full UTC day) of every active channel."""
        end = datetime.combine(fields.Datetime.now().date(), time.min)
        channels = self.search([])
        ChannelDigest(self.env, channels, end - timedelta(days=1), end).post()

    def _post_digest(self, title, body):
        """One digest in the chatter, and by e-mail if the channel asks."""
        self.ensure_one()
        message = self.message_post(
            body=body, subject=title, subtype_xmlid="mail.mt_note"
        )
        if self.digest_email:
            self._send_channel_email(title, body)
        return message
