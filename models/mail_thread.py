from odoo import models
from odoo.tools import SQL


class MailThread(models.AbstractModel):
    """A channel's technical user needs no e-mail address.

    Its jobs post in chatters and schedule to-dos: the addon's own (an order
    or return in error, a refused refund, alerts) and Odoo's, on the records
    the jobs work on (the return receipt's origin note, a sale order whose
    quantities a refund lowers). Mail refuses a message whose author has no
    e-mail address ("Unable to send message, please configure the sender's
    email address"), which failed those jobs. A technical user is a robot
    nobody writes back to: its messages keep it as their author and are sent
    from the company's notification address, else the company's, else
    OdooBot's. Everyone else is refused as before."""

    _inherit = "mail.thread"

    def _message_compute_author(
        self, author_id=None, email_from=None, raise_on_email=True
    ):
        author_id, email_from = super()._message_compute_author(
            author_id, email_from, raise_on_email=False
        )
        if email_from or not raise_on_email or self.env.su:
            return author_id, email_from
        if not self._is_channel_technical_user():
            # Mail's own refusal, for everyone else.
            return super()._message_compute_author(
                author_id, email_from, raise_on_email=True
            )
        return author_id, self._channel_robot_sender()

    def _channel_robot_sender(self):
        """The address a technical user's messages are sent from: the
        company's notification address (what mail itself falls back to),
        else the company's own, else OdooBot's; False if none exists (the
        message is posted; its e-mails wait for an address in the outgoing
        queue)."""
        default = self.env["ir.mail_server"]._get_default_from_address()
        if default:
            return default
        company = self.env.company.partner_id
        if company.email_formatted:
            return company.email_formatted
        # sudo(): OdooBot's partner belongs to the main company, which a
        # technical user of another company cannot read; only its address
        # is read.
        robot = self.env.ref("base.partner_root", raise_if_not_found=False)
        return (robot and robot.sudo().email_formatted) or False

    def _is_channel_technical_user(self):
        """Whether the current user runs a channel's jobs (any channel, an
        archived one included): one query, only when mail would refuse."""
        self.env["stock.channel"].flush_model(["user_id"])
        self.env.cr.execute(
            SQL(
                "SELECT 1 FROM stock_channel WHERE user_id = %s LIMIT 1",
                self.env.uid,
            )
        )
        return bool(self.env.cr.fetchone())
