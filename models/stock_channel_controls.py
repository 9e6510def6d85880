from markupsafe import Markup

from odoo import fields, models
from odoo.tools import SQL


class StockChannel(models.Model):
    """What an operator reaches for during an incident: pause and resume
    publication, replay a time window; each recorded in the channel's
    chatter with who and when (Retry Failed: ``stock_channel_jobs.py``)."""

    _inherit = "stock.channel"

    publication_paused = fields.Boolean(
        string="Publication Paused",
        readonly=True,
        copy=False,
        help="Set by Pause Publication: publication jobs end without calling "
        "the marketplace and changes accumulate as pending; Resume "
        "Publication sends them all.",
    )
    publication_paused_at = fields.Datetime(
        string="Paused Since",
        readonly=True,
        copy=False,
        help="When publication was paused.",
    )
    publication_paused_by = fields.Many2one(
        "res.users",
        string="Paused By",
        readonly=True,
        copy=False,
        help="Who paused publication.",
    )

    def action_pause_publication(self):
        """Stop publishing this channel until resumed; nothing is lost."""
        self._check_manager()
        channels = self.filtered(lambda c: not c.publication_paused)
        channels.write(
            {
                "publication_paused": True,
                "publication_paused_at": fields.Datetime.now(),
                "publication_paused_by": self.env.uid,
            }
        )
        for channel in channels:
            channel._post_control(
                self.env._(
                    "Publication paused by %(user)s: changes accumulate as pending "
                    "until it is resumed.",
                    user=self.env.user.name,
                )
            )
        return self._notify(self.env._("Publication paused."))

    def action_resume_publication(self):
        """Publish again, starting with everything that accumulated."""
        self._check_manager()
        channels = self.filtered("publication_paused")
        pending = {channel.id: channel.pending_listing_count for channel in channels}
        channels.write(
            {
                "publication_paused": False,
                "publication_paused_at": False,
                "publication_paused_by": False,
            }
        )
        channels._enqueue_publication(delay=0)
        for channel in channels:
            channel._post_control(
                self.env._(
                    "Publication resumed by %(user)s: %(count)s pending listing(s) "
                    "queued for publication.",
                    user=self.env.user.name,
                    count=pending[channel.id],
                )
            )
        return self._notify(self.env._("Publication resumed."))

    def action_open_replay(self):
        """The Replay wizard for this channel."""
        self.ensure_one()
        self._check_manager()
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Replay Publications"),
            "res_model": "stock.channel.replay",
            "view_mode": "form",
            "target": "new",
            "context": {"default_channel_id": self.id},
        }

    def _replay(self, date_from, date_to):
        """Republish (forced) every listing of this channel that changed
        between ``date_from`` and ``date_to``: published then (its audit
        rows) or still pending from then (its change rows). One marking
        statement; return how many listings."""
        self.ensure_one()
        self._check_manager()
        self.env["stock.channel.publication"].flush_model()
        self.env.cr.execute(
            SQL(
                """
                SELECT l.id FROM stock_channel_listing l
                 WHERE l.channel_id = %(channel)s
                   AND (l.active OR l.last_published_qty <> 0)
                   AND (EXISTS (SELECT 1 FROM stock_channel_publication p
                                 WHERE p.listing_id = l.id
                                   AND p.create_date BETWEEN %(from)s AND %(to)s)
                        OR EXISTS (SELECT 1 FROM stock_channel_listing_change ch
                                    WHERE ch.listing_id = l.id
                                      AND ch.changed_at BETWEEN %(from)s AND %(to)s))
                """,
                channel=self.id,
                **{"from": date_from, "to": date_to},
            )
        )
        listing_ids = [row[0] for row in self.env.cr.fetchall()]
        if listing_ids:
            self.env["stock.channel.listing"]._mark_pending(
                SQL("l.id = ANY(%s)", listing_ids), schedule=False, force=True
            )
            self._enqueue_publication(delay=0, force=True)
        self._post_control(
            self.env._(
                "Replay by %(user)s of %(start)s to %(end)s (UTC): %(count)s "
                "listing(s) queued for publication.",
                user=self.env.user.name,
                start=fields.Datetime.to_string(date_from),
                end=fields.Datetime.to_string(date_to),
                count=len(listing_ids),
            )
        )
        return len(listing_ids)

    def _post_control(self, text):
        """A note in the channel's chatter: its author and date say who and
        when, the text says what."""
        self.ensure_one()
        self.message_post(body=Markup("<p>%s</p>") % text, subtype_xmlid="mail.mt_note")
