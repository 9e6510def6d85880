"""18.0.1.4.0: retention moved from the cron *publication retention* to
``@api.autovacuum`` methods of the models that own the rows (Odoo's daily
autovacuum runs them). The cron record was ``noupdate``: an upgrade keeps
it, and it would call a method that no longer exists."""

from odoo import SUPERUSER_ID, api


def migrate(cr, version):
    if not version:
        return
    env = api.Environment(cr, SUPERUSER_ID, {})
    cron = env.ref("stock_channel_sync.ir_cron_gc_publications", False)
    if cron:
        cron.unlink()
