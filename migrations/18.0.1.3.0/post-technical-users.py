"""No channel keeps running as an administrator or OdooBot after the upgrade.

Releases before 18.0.1.2.0 let any user be a channel's technical user, and
defaulted it to the channel's creator, usually an administrator; 18.0.1.2.0
refuses administrators and OdooBot on save but left existing channels as
they were. Their jobs, orders and customers run with every access rule
skipped. Each active channel whose technical user is OdooBot (the
superuser) or an administrator (*Administration: Settings* or *Access
Rights*, implied groups included) is archived and loses that technical user
(nothing runs as anyone until a manager chooses one), its queued jobs that
would run as that user are cancelled (an order whose confirmation was
cancelled goes to *Error*, to be reprocessed; a shipment to *Failed*), and
its responsible gets one to-do saying what to do.

Everything this migration relies on is frozen here (group and record
xmlids, job models), not read from the addon's current code.
"""

import json
import logging

from markupsafe import Markup

from odoo import SUPERUSER_ID, api

_logger = logging.getLogger(__name__)

ADMIN_GROUPS = ("group_system", "group_erp_manager")
MANAGER_GROUP = ("stock_channel_sync", "group_channel_manager")
CHANNEL_JOB_MODELS = ("stock.channel", "stock.channel.order")
WAITING_JOB_STATES = ("wait_dependencies", "pending", "enqueued")


def offending_channels(cr):
    """``[(channel id, user id, responsible id, company id)]`` of the active
    channels run by OdooBot or an administrator."""
    cr.execute(
        """
        SELECT c.id, c.user_id, c.responsible_id, c.company_id
          FROM stock_channel c
         WHERE c.active AND c.user_id IS NOT NULL
           AND (c.user_id = %s OR EXISTS (
                SELECT 1
                  FROM res_groups_users_rel r
                  JOIN ir_model_data d
                    ON d.model = 'res.groups' AND d.res_id = r.gid
                 WHERE r.uid = c.user_id AND d.module = 'base'
                   AND d.name = ANY(%s)))
         ORDER BY c.id
        """,
        [SUPERUSER_ID, list(ADMIN_GROUPS)],
    )
    return cr.fetchall()


def cancel_jobs(cr, channels):
    """Cancel the not yet started jobs of these channels (and of their
    orders) that would run as their technical user. Returns ``{channel id:
    [job description]}``; orders whose confirmation was cancelled are set
    to Error, shipments to Failed."""
    users = {channel_id: user_id for channel_id, user_id, _r, _c in channels}
    cr.execute(
        """
        SELECT uuid, model_name, method_name, name, user_id, records
          FROM queue_job
         WHERE state = ANY(%s) AND model_name = ANY(%s) AND user_id = ANY(%s)
        """,
        [list(WAITING_JOB_STATES), list(CHANNEL_JOB_MODELS), list(set(users.values()))],
    )
    jobs = [
        (*row[:5], json.loads(row[5]) if isinstance(row[5], str) else row[5])
        for row in cr.fetchall()
    ]
    order_ids = {
        order_id
        for _u, model, _m, _n, _uid, records in jobs
        if model == "stock.channel.order"
        for order_id in (records or {}).get("ids", [])
    }
    order_channel = {}
    if order_ids:
        cr.execute(
            "SELECT id, channel_id FROM stock_channel_order WHERE id = ANY(%s)",
            [list(order_ids)],
        )
        order_channel = dict(cr.fetchall())
    cancelled, processing, shipping, uuids = {}, [], [], []
    for uuid, model, method, name, user_id, records in jobs:
        ids = (records or {}).get("ids", [])
        if model == "stock.channel":
            channel_ids = set(ids)
        else:
            channel_ids = {order_channel.get(order_id) for order_id in ids}
        channel_ids = {c for c in channel_ids if users.get(c) == user_id}
        if not channel_ids:
            continue
        uuids.append(uuid)
        for channel_id in channel_ids:
            cancelled.setdefault(channel_id, []).append(name or method)
        if method == "_process":
            processing += ids
        elif method == "_send_shipment":
            shipping += ids
    reason = (
        "Cancelled by the upgrade to 18.0.1.3.0: it would have run as an "
        "administrator or OdooBot. Choose another technical user for the "
        "channel, then reprocess."
    )
    if uuids:
        cr.execute(
            """
            UPDATE queue_job
               SET state = 'cancelled', date_cancelled = now() at time zone 'UTC',
                   result = %s
             WHERE uuid = ANY(%s)
            """,
            [reason, uuids],
        )
    if processing:
        cr.execute(
            """
            UPDATE stock_channel_order SET state = 'error', error_message = %s
             WHERE id = ANY(%s) AND state = 'received'
            """,
            [reason, processing],
        )
    if shipping:
        cr.execute(
            """
            UPDATE stock_channel_order
               SET shipment_state = 'failed', shipment_message = %s
             WHERE id = ANY(%s) AND shipment_state = 'pending'
            """,
            [reason, shipping],
        )
    return cancelled


def assignee(env, former_user, responsible, company_id):
    """Who gets the to-do: the channel's responsible, else the former
    technical user, else the company's first Channel Sync manager; never
    OdooBot, never an archived or portal user."""

    def person(user):
        return user and user.active and not user.share and user.id != SUPERUSER_ID

    for user in (responsible, former_user):
        if person(user):
            return user
    group = env.ref(".".join(MANAGER_GROUP), raise_if_not_found=False)
    managers = (group.users if group else env["res.users"]).filtered(
        lambda u: person(u) and company_id in u.company_ids.ids
    )
    return managers.sorted("id")[:1] or env.ref("base.user_admin", False)


def migrate(cr, version):
    channels = offending_channels(cr)
    if not channels:
        return
    cancelled = cancel_jobs(cr, channels)
    cr.execute(
        "UPDATE stock_channel SET active = FALSE, user_id = NULL WHERE id = ANY(%s)",
        [[row[0] for row in channels]],
    )
    env = api.Environment(cr, SUPERUSER_ID, {"tracking_disable": True})
    env.invalidate_all()
    Users = env["res.users"].with_context(active_test=False)
    for channel_id, user_id, responsible_id, company_id in channels:
        channel = (
            env["stock.channel"].with_context(active_test=False).browse(channel_id)
        )
        former = Users.browse(user_id)
        who = "OdooBot" if user_id == SUPERUSER_ID else "an administrator"
        jobs = cancelled.get(channel_id, [])
        note = Markup(
            "<p>The upgrade archived channel %(name)s (%(code)s): its technical "
            "user %(user)s is %(who)s, whose rights skip every access rule.</p>"
            "<p>Choose a technical user (an active internal user of the "
            "channel's company with Channel Sync: Manager, Sales: User, "
            "Inventory: User and Contact Creation, never an administrator), "
            "then unarchive the channel: its listings are published again.</p>"
        ) % {
            "name": channel.name,
            "code": channel.code,
            "user": former.name,
            "who": who,
        }
        if jobs:
            note += Markup(
                "<p>%(count)s queued job(s) that would have run as %(user)s were "
                "cancelled; the orders whose confirmation was cancelled are in "
                "Error: reprocess them once the channel runs again.</p>"
            ) % {"count": len(jobs), "user": former.name}
        user = assignee(env, former, Users.browse(responsible_id), company_id)
        channel.activity_schedule(
            "mail.mail_activity_data_todo",
            summary=f"Choose a technical user for channel {channel.name}",
            note=note,
            user_id=user.id if user else SUPERUSER_ID,
        )
        _logger.warning(
            "Channel %s (company %s) archived: technical user %s is %s; %s "
            "queued job(s) cancelled",
            channel.code,
            company_id,
            former.login,
            who,
            len(jobs),
        )
