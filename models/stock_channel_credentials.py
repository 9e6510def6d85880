import logging
import secrets
from datetime import timedelta

from odoo import api, fields, models
from odoo.exceptions import ValidationError

from ..adapters import outbound
from .stock_channel import MANAGER_GROUP

_logger = logging.getLogger(__name__)


class StockChannelCredentials(models.Model):
    """Where a channel is reached and how both directions are signed: its
    URL (through the outbound guard), API credentials, the webhook secret
    and its rotation."""

    _inherit = "stock.channel"

    base_url = fields.Char(
        string="Base URL",
        help="Root URL of the channel's API, e.g. https://shop.example.com/api. "
        "It must use https://, unless its host is listed in the system parameter "
        "stock_channel_sync.allowed_http_hosts (an on-premise B2B portal); hosts "
        "at private or loopback addresses must be listed there too. Redirects "
        "are not followed.",
    )

    api_key = fields.Char(string="API Key", groups=MANAGER_GROUP, copy=False)

    api_secret = fields.Char(string="API Secret", groups=MANAGER_GROUP, copy=False)

    webhook_secret = fields.Char(
        groups=MANAGER_GROUP,
        copy=False,
        default=lambda self: secrets.token_urlsafe(32),
        help="Shared secret used to sign what Odoo sends and to verify what the "
        "channel posts. A strong random one is generated for a new channel; "
        "Shopify and WooCommerce channels take the marketplace's own.",
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
        "so the marketplace can be switched to the new one without downtime.",
    )

    secret_overlap_hours = fields.Integer(
        string="Rotation Overlap",
        default=24,
        groups=MANAGER_GROUP,
        help="Hours the previous webhook secret stays valid after Rotate Secret.",
    )

    @api.constrains("base_url", "adapter")
    def _check_base_url(self):
        self._check_called_urls()

    def _check_called_urls(self):
        """Every URL the channel calls: https, unless its host is listed in
        stock_channel_sync.allowed_http_hosts (see adapters/outbound.py)."""
        allowed = self._allowed_http_hosts()
        for channel in self.filtered(lambda c: c.adapter != "sandbox"):
            for label, url in channel._called_urls().items():
                problem = url and outbound.url_problem(url, allowed)
                if problem:
                    raise ValidationError(
                        self.env._(
                            "The %(field)s of channel %(channel)s is refused: "
                            "%(problem)s.",
                            field=label,
                            channel=channel.display_name,
                            problem=problem,
                        )
                    )

    def _called_urls(self):
        """``{field label: URL}`` this channel calls; a marketplace with
        more endpoints adds them (``stock_channel_amazon.py``)."""
        return {"Base URL": self.base_url}

    @api.constrains("secret_overlap_hours")
    def _check_secret_overlap(self):
        if any(not 0 <= c.sudo().secret_overlap_hours <= 24 * 30 for c in self):
            raise ValidationError(
                self.env._("The rotation overlap is between 0 and 720 hours.")
            )

    def _allowed_http_hosts(self):
        # sudo: system parameters are readable by administrators only, and
        # this one is a list of host names, no secret.
        return outbound.allowed_hosts(
            self.env["ir.config_parameter"]
            .sudo()
            .get_param(outbound.ALLOWED_HOSTS_PARAM, "")
        )

    def action_rotate_secret(self):
        """Generate a strong new webhook secret, shown once; the previous one
        stays valid for the overlap, so requests signed by a marketplace not
        yet switched over are still accepted. Outbound requests sign with the
        new one at once."""
        self.ensure_one()
        self._check_manager()
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
        fields_ = ["previous_webhook_secret", "previous_secret_valid_until"]
        self.flush_model(fields_)
        self.env.cr.execute(
            """
            UPDATE stock_channel
               SET previous_webhook_secret = NULL,
                   previous_secret_valid_until = NULL
             WHERE previous_webhook_secret IS NOT NULL
               AND (previous_secret_valid_until IS NULL
                    OR previous_secret_valid_until <= now() at time zone 'UTC')
            """
        )
        erased = self.env.cr.rowcount
        if erased:
            self.invalidate_model(fields_)
            _logger.info("%s expired previous webhook secret(s) erased", erased)
