"""Who may change a return: its state, quantities and links (the return
ledger every later return is checked against) change only through the
addon's own code, the intake, the return job, receipt validation and the
inspection actions, never through a plain ``write`` from a client.

The UI's ``readonly`` is no rule: any user with write access may send
``write`` over JSON-RPC, and may pass any context with it, so a context key
would be forgeable. The trusted scope is a :class:`contextvars.ContextVar`
instead: process state that only Python code running in the server can set
(an RPC call cannot), reset when the block ends, private to the thread or
task that set it. The superuser environment (``sudo()``, upgrade scripts,
the shell) is code too, never an RPC caller, and is trusted as well.

Services wrap their own writes in :func:`trusted` (also usable as a
decorator); the models' ``create``, ``write`` and ``unlink`` refuse
everything else except the fields a user may edit.
"""

import contextvars
from contextlib import contextmanager

from odoo.exceptions import AccessError

_TRUSTED = contextvars.ContextVar("stock_channel_sync_return_writes", default=False)


@contextmanager
def trusted():
    """The addon's own writes to returns and their lines."""
    token = _TRUSTED.set(True)
    try:
        yield
    finally:
        _TRUSTED.reset(token)


def is_trusted(env):
    return env.su or _TRUSTED.get()


def check_create(model):
    if not is_trusted(model.env):
        raise AccessError(
            model.env._(
                "%(model)s records are created only by the channel's own return "
                "intake (the returns endpoint and the marketplaces' refunds).",
                model=model._description,
            )
        )


def check_unlink(records):
    if records and not is_trusted(records.env):
        raise AccessError(
            records.env._(
                "%(model)s records cannot be deleted: they are the ledger of "
                "what the channel's orders took back.",
                model=records._description,
            )
        )


def check_write(records, vals, editable=()):
    """Refuse a write of anything but ``editable`` fields outside the
    trusted scope, naming the fields; nothing is written."""
    if not records or is_trusted(records.env):
        return
    refused = sorted(set(vals) - set(editable))
    if refused:
        labels = ", ".join(
            records._fields[name].string if name in records._fields else name
            for name in refused
        )
        raise AccessError(
            records.env._(
                "%(model)s: %(fields)s cannot be written. A return's state and "
                "quantities change only through its processing, the validation "
                "of its return receipt and the inspection actions (Accept to "
                "Stock, Send to Damaged, Scrap).",
                model=records._description,
                fields=labels,
            )
        )
