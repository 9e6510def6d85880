import logging
import secrets
from datetime import timedelta

from odoo import api, fields, models
from odoo.exceptions import UserError, ValidationError

_logger = logging.getLogger(__name__)

MANAGER_GROUP = "stock_channel_sync.group_channel_manager"


class StockChannelSecretMixin(models.AbstractModel):
    """A webhook secret that signs what a partner posts (a channel, a 3PL),
    rotatable without downtime: the previous secret stays valid for an
    overlap, then is erased."""

    _name = "stock.channel.secret.mixin"
    _description = "Rotatable Webhook Secret"

    webhook_secret = fields.Char(
        groups=MANAGER_GROUP,
        copy=False,
        default=lambda self: secrets.token_urlsafe(32),
        help="Shared secret the partner signs its requests with (signature "
        "v2). A strong random one is generated for a new record.",
    )
    previous_webhook_secret = fields.Char(
        groups=MANAGER_GROUP,
        copy=False,
        readonly=True,
        help="The secret replaced by the last rotation: inbound requests signed "
        "with it are still accepted until Previous Secret Valid Until.",
    )
    previous_secret_valid_until = fields.Datetime(
        groups=MANAGER_GROUP,
        copy=False,
        readonly=True,
        help="Until then requests signed with the previous secret are accepted, "
        "so the partner can be switched to the new one without downtime.",
    )
    secret_overlap_hours = fields.Integer(
        string="Rotation Overlap",
        default=24,
        groups=MANAGER_GROUP,
        help="Hours the previous webhook secret stays valid after Rotate Secret.",
    )

    @api.constrains("secret_overlap_hours")
    def _check_secret_overlap(self):
        if any(not 0 <= c.sudo().secret_overlap_hours <= 24 * 30 for c in self):
            raise ValidationError(
                self.env._("The rotation overlap is between 0 and 720 hours.")
            )

    def action_rotate_secret(self):
        """Generate a strong new webhook secret, shown once; the previous one
        stays valid for the overlap, so requests signed by a partner not yet
        switched over are still accepted. Outbound requests sign with the
        new one at once."""
        self.ensure_one()
        if not self.env.user.has_group(MANAGER_GROUP):
            raise UserError(
                self.env._("Only Channel Sync managers can rotate secrets.")
            )
        new = secrets.token_urlsafe(32)
        until = fields.Datetime.now() + timedelta(hours=self.secret_overlap_hours)
        self.write(
            {
                "previous_webhook_secret": self.webhook_secret,
                "previous_secret_valid_until": until,
                "webhook_secret": new,
            }
        )
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "title": self.env._("New webhook secret (shown once)"),
                "message": self.env._(
                    "%(secret)s\nThe previous secret is accepted until %(until)s "
                    "(UTC).",
                    secret=new,
                    until=fields.Datetime.to_string(until),
                ),
                "type": "warning",
                "sticky": True,
                "next": {"type": "ir.actions.client", "tag": "soft_reload"},
            },
        }

    def _inbound_secrets(self):
        """The secrets an inbound request may be signed with: the current
        one, and the previous one during a rotation's overlap."""
        self.ensure_one()
        valid = [self.webhook_secret]
        until = self.previous_secret_valid_until
        if self.previous_webhook_secret and until and until > fields.Datetime.now():
            valid.append(self.previous_webhook_secret)
        return [secret for secret in valid if secret]

    @api.autovacuum
    def _gc_previous_secrets(self):
        """A rotated-out webhook secret is a credential: once its overlap has
        ended (it is no longer accepted, see ``_inbound_secrets``) it is
        erased, with its end date, by Odoo's daily autovacuum."""
        if self._abstract:
            return
        fields_ = ["previous_webhook_secret", "previous_secret_valid_until"]
        self.flush_model(fields_)
        self.env.cr.execute(
            f"""
            UPDATE {self._table}
               SET previous_webhook_secret = NULL,
                   previous_secret_valid_until = NULL
             WHERE previous_webhook_secret IS NOT NULL
               AND (previous_secret_valid_until IS NULL
                    OR previous_secret_valid_until <= now() at time zone 'UTC')
            """  # noqa: S608 - the table name is the model's own, no input
        )
        erased = self.env.cr.rowcount
        if erased:
            self.invalidate_model(fields_)
            _logger.info(
                "%s expired previous webhook secret(s) of %s erased",
                erased,
                self._name,
            )
