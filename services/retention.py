"""How long the addon keeps what it records, from system parameters: audit
rows, traces, resolved discrepancies and failed jobs for
``stock_channel_sync.retention_days`` (default 90), the marketplaces'
personal data in stored orders for
``stock_channel_sync.payload_retention_days`` (default 30). Each model that
owns such rows cleans them in an ``@api.autovacuum`` method (Odoo's daily
*Base: Auto-vacuum internal data*)."""

RETENTION_PARAM = "stock_channel_sync.retention_days"
PAYLOAD_RETENTION_PARAM = "stock_channel_sync.payload_retention_days"


def retention_days(env):
    return _days(env, RETENTION_PARAM, 90)


def payload_retention_days(env):
    return _days(env, PAYLOAD_RETENTION_PARAM, 30)


def _days(env, param, default):
    # sudo(): system parameters are readable by administrators only; these
    # are numbers of days, no secret.
    return int(env["ir.config_parameter"].sudo().get_param(param, default))
