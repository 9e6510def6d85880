"""A circuit breaker per channel, in the spirit of Resilience4j.

Every HTTP call an adapter of the channel makes is recorded with its
outcome (:class:`Recorder`, the adapters' one observer hook in
``Adapter.request``). When at least the channel's *Failure Share* of its
last *Window* calls failed, and at least *Minimum Calls* were made since it
last closed, the breaker **opens**: publication jobs no longer call the
marketplace (:func:`gate`); they end at once, their listings stay pending.
After the *Open Wait* the first publication job to ask takes the one probe
(**half-open**): a compare-and-set UPDATE of the breaker's row, whose row
lock lets exactly one of two racing jobs win. The next call's outcome
decides: answered, the breaker **closes**, its window starts afresh and
the channel's publication is scheduled, so every pending listing goes out
without anyone acting; failed, it opens again for another wait.

The breaker's bookkeeping is written by short transactions of its own
(``registry.cursor()``), committed at once: it survives the rollback of the
job that made the call, parallel jobs see it at once, and it never writes
a row that a job writes (the channel's state lives in
``stock.channel.breaker.state``), so no job ever fails to serialize over
it. A transition lost to a concurrent one is simply not made.
"""

import logging
from datetime import datetime, timedelta
from typing import NamedTuple

from psycopg2 import errors

from odoo import SUPERUSER_ID, api
from odoo.tools import SQL

from . import publication_guard

_logger = logging.getLogger(__name__)

# The defaults, Resilience4j's (its minimum number of calls is the window
# itself: 20 trips a channel sooner, on evidence that is still clear).
DEFAULT_FAILURE_RATE = 50
DEFAULT_WINDOW = 100
DEFAULT_MIN_CALLS = 20
DEFAULT_WAIT_SECONDS = 60

CONFLICTS = (errors.SerializationFailure, errors.UniqueViolation)


class Settings(NamedTuple):
    failure_rate: int
    window: int
    min_calls: int
    wait_seconds: int


class State(NamedTuple):
    """A breaker as read: ``since`` naive UTC, ``probe`` the job let
    through while half-open, ``reset_call_id`` where its window starts."""

    state: str
    since: datetime | None
    probe: str | None
    reset_call_id: int


CLOSED = State("closed", None, None, 0)


class Hold(NamedTuple):
    """Why a publication job does not call the marketplace now, and when
    the next one may (naive UTC)."""

    message: str
    retry_at: datetime


class Recorder:
    """The observer of one channel's adapter: records each call (an
    ``adapters.base.Call``) and moves the breaker. Never raises: a broken
    record must not fail the call it describes."""

    def __init__(self, channel):
        self.registry = channel.env.registry
        self.channel_id = channel._origin.id

    def __call__(self, call):
        try:
            with _fresh_cursor(self.registry) as cr:
                record(cr, self.channel_id, call)
        except Exception:  # noqa: BLE001 - logged; the call itself stands
            _logger.exception("Could not record a call of channel %s", self.channel_id)


def record(cr, channel_id, call):
    """Insert ``call`` and make the transition it causes (on ``cr``, the
    breaker's own transaction). Nothing for a channel this transaction
    cannot see (another transaction's uncommitted channel)."""
    cr.execute(
        SQL(
            """
            INSERT INTO stock_channel_call
                   (channel_id, company_id, called_at, ok, kind, http_status,
                    summary, message, duration_ms)
            SELECT id, company_id, now() at time zone 'UTC', %s, %s, %s, %s,
                   %s, %s
              FROM stock_channel WHERE id = %s
         RETURNING id
            """,
            call.ok,
            call.kind,
            call.status,
            call.summary,
            call.message or None,
            call.duration_ms,
            channel_id,
        )
    )
    row = cr.fetchone()
    if not row:
        return
    call_id = row[0]
    current = _state(cr, channel_id, ensure=True)
    if current.state == "half_open":
        if call.ok:
            # The window starts afresh with this answered call.
            if _move(cr, channel_id, current, "closed", reset_call_id=call_id - 1):
                _logger.info("Circuit breaker of channel %s closed", channel_id)
                _schedule_publication(cr, channel_id)
        elif _move(cr, channel_id, current, "open"):
            _logger.warning("Circuit breaker of channel %s re-opened", channel_id)
    elif current.state == "closed" and not call.ok:
        settings = _settings(cr, channel_id)
        total, failed = window_counts(cr, channel_id, current, settings)
        if trips(total, failed, settings) and _move(cr, channel_id, current, "open"):
            _logger.warning(
                "Circuit breaker of channel %s opened: %s of %s calls failed",
                channel_id,
                failed,
                total,
            )


def trips(total, failed, settings):
    """Whether ``failed`` of ``total`` calls open the breaker."""
    return (
        total >= settings.min_calls
        and total > 0
        and failed * 100 >= settings.failure_rate * total
    )


def window_counts(cr, channel_id, current, settings):
    """(calls, failed calls) of the window: the channel's last ``window``
    calls since the breaker last closed."""
    cr.execute(
        SQL(
            """
            SELECT COUNT(*), COUNT(*) FILTER (WHERE NOT ok)
              FROM (SELECT ok FROM stock_channel_call
                     WHERE channel_id = %s AND id > %s
                  ORDER BY id DESC LIMIT %s) w
            """,
            channel_id,
            current.reset_call_id,
            settings.window,
        )
    )
    return cr.fetchone()


def gate(channel, job_uuid, fresh=False):
    """Whether publication job ``job_uuid`` may call the marketplace:
    ``(hold, probing)``, ``hold`` None when it may (closed, or this job
    holds the probe, then ``probing``), else a :class:`Hold`. Read on the
    job's own snapshot first (a closed breaker costs one query), unless
    ``fresh``: after a failure the job's snapshot predates what the
    breaker's own transactions committed since."""
    if not fresh:
        channel.env.cr.execute(
            SQL(
                "SELECT state FROM stock_channel_breaker_state"
                " WHERE channel_id = %s",
                channel.id,
            )
        )
        row = channel.env.cr.fetchone()
        if not row or row[0] == "closed":
            return None, False
    with _fresh_cursor(channel.env.registry) as cr:
        current = _state(cr, channel.id, ensure=True)
        if current.state == "closed":
            return None, False
        if current.state == "half_open" and current.probe == job_uuid:
            return None, True
        settings = _settings(cr, channel.id)
        retry_at = current.since + timedelta(seconds=settings.wait_seconds)
        # A half-open breaker whose probe never reported (its job died or
        # sent nothing) is probed again after another wait.
        if _now(cr) >= retry_at and _move(
            cr, channel.id, current, "half_open", probe=job_uuid
        ):
            _logger.info("Circuit breaker of channel %s half-open", channel.id)
            return None, True
        return Hold(
            channel.env._(
                "Circuit breaker open since %(since)s UTC: the marketplace "
                "failed too often, nothing was sent; the listings stay pending "
                "and one probe goes out after %(retry)s UTC.",
                since=current.since.replace(microsecond=0),
                retry=max(retry_at, _now(cr)).replace(microsecond=0),
            ),
            retry_at,
        ), False


def release_probe(channel, job_uuid):
    """The probe job ``job_uuid`` made no call (nothing to send): the next
    publication job may probe at once."""
    with _fresh_cursor(channel.env.registry) as cr:
        current = _state(cr, channel.id)
        if current.state == "half_open" and current.probe == job_uuid:
            wait = _settings(cr, channel.id).wait_seconds
            _move(
                cr,
                channel.id,
                current,
                "open",
                since=_now(cr) - timedelta(seconds=wait),
            )


def states(env, channel_ids):
    """``{channel id: State}`` as this transaction sees them (display)."""
    env.cr.execute(
        SQL(
            "SELECT channel_id, state, since, probe_job_uuid, reset_call_id"
            "  FROM stock_channel_breaker_state WHERE channel_id = ANY(%s)",
            list(channel_ids),
        )
    )
    return {row[0]: State(*row[1:4], row[4] or 0) for row in env.cr.fetchall()}


# -- internals -----------------------------------------------------------


def _fresh_cursor(registry):
    """A cursor of its own, committed when the block ends (in test mode,
    the test's, as Odoo hands it out), tied to ``registry`` rather than to
    one looked up by name (and its lock)."""
    cr = registry.cursor()
    cr.transaction = api.Transaction(registry)
    return cr


def _now(cr):
    cr.execute("SELECT now() at time zone 'UTC'")
    return cr.fetchone()[0]


def _settings(cr, channel_id):
    cr.execute(
        SQL(
            """
            SELECT breaker_failure_rate, breaker_window, breaker_min_calls,
                   breaker_wait_seconds
              FROM stock_channel WHERE id = %s
            """,
            channel_id,
        )
    )
    row = cr.fetchone() or ()
    defaults = (
        DEFAULT_FAILURE_RATE,
        DEFAULT_WINDOW,
        DEFAULT_MIN_CALLS,
        DEFAULT_WAIT_SECONDS,
    )
    return Settings(
        *(
            value or default
            for value, default in zip(row or defaults, defaults, strict=False)
        )
    )


def _state(cr, channel_id, ensure=False):
    """The channel's :class:`State` on ``cr``; with ``ensure``, its row is
    created first if missing (a concurrent creation wins: nothing lost)."""
    if ensure:
        try:
            with cr.savepoint(flush=False):
                cr.execute(
                    SQL(
                        """
                        INSERT INTO stock_channel_breaker_state
                               (channel_id, company_id, state, reset_call_id)
                        SELECT id, company_id, 'closed', 0
                          FROM stock_channel WHERE id = %s
                        ON CONFLICT (channel_id) DO NOTHING
                        """,
                        channel_id,
                    ),
                    log_exceptions=False,
                )
        except CONFLICTS:
            pass
    cr.execute(
        SQL(
            "SELECT state, since, probe_job_uuid, reset_call_id"
            "  FROM stock_channel_breaker_state WHERE channel_id = %s",
            channel_id,
        )
    )
    row = cr.fetchone()
    return State(*row[:3], row[3] or 0) if row else CLOSED


def _move(cr, channel_id, current, state, probe=None, reset_call_id=None, since=None):
    """Compare-and-set: from ``current`` (state, since and probe as read)
    to ``state``. False when another transaction moved it first: its row
    lock makes this one wait, then fail to serialize (or find it moved)."""
    try:
        with cr.savepoint(flush=False):
            cr.execute(
                SQL(
                    """
                    UPDATE stock_channel_breaker_state
                       SET state = %(state)s,
                           since = COALESCE(%(since)s, now() at time zone 'UTC'),
                           probe_job_uuid = %(probe)s,
                           reset_call_id = COALESCE(%(reset)s, reset_call_id)
                     WHERE channel_id = %(channel)s AND state = %(old)s
                       AND since IS NOT DISTINCT FROM %(old_since)s
                       AND probe_job_uuid IS NOT DISTINCT FROM %(old_probe)s
                 RETURNING 1
                    """,
                    state=state,
                    since=since,
                    probe=probe,
                    reset=reset_call_id,
                    channel=channel_id,
                    old=current.state,
                    old_since=current.since,
                    old_probe=current.probe,
                ),
                log_exceptions=False,
            )
            return bool(cr.fetchone())
    except errors.SerializationFailure:
        return False


def _schedule_publication(cr, channel_id):
    """Closed again: publish what accumulated, now (as the job's user)."""
    env = api.Environment(cr, SUPERUSER_ID, {})
    channel = env["stock.channel"].browse(channel_id)
    publication_guard.enqueue_publication(channel, delay=0)
