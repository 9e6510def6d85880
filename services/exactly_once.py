"""Exactly-once storage of one inbound message (an order, a return, the
next kind: a 3PL warehouse event), whatever the number of deliveries and
however many arrive at the same moment.

One primitive, :func:`insert_once`: a savepoint, ``INSERT ... ON CONFLICT
DO NOTHING RETURNING``, a serialization failure read as "stored by another
request", and, when asked, a read of the stored row on a new cursor when the
current snapshot cannot see it.

What it relies on:

* **A unique index on** ``conflict_columns`` (an ``_sql_constraints``
  ``UNIQUE``): the index, not a prior lookup, is what makes the message
  stored once. A concurrent insert of the same key waits on the index
  until the other transaction ends.
* **REPEATABLE READ** (Odoo's isolation level): when the row in conflict
  was committed by a transaction this one's snapshot cannot see (it
  committed after the snapshot was taken, or while this insert waited on
  the index), PostgreSQL refuses the insert with a serialization failure
  rather than doing nothing. Here that failure means "stored by the other
  request", not Odoo's retry of the whole request (which sleeps up to
  seconds and replays everything): the savepoint is rolled back and the
  transaction goes on, on the same snapshot.
* **Why a new cursor**: after such a failure the stored row is invisible
  to this transaction for its whole life (its snapshot is fixed), so
  whatever must be answered about it (a duplicate's state and id) is read
  on a new cursor, whose transaction starts after the winner committed.
  A conflict without failure is a row the snapshot sees (committed before
  it, or written by this transaction): it is read on the current cursor.

A caller looks its key up first (a replay, the common case, is then
answered without an insert); :func:`insert_once` closes the race between
that lookup and the insert. It costs one statement (in its savepoint) on
the caller's cursor, and the row's read on a new cursor only in a race.
"""

from typing import NamedTuple

from psycopg2.errors import SerializationFailure

from odoo.tools import SQL

# The ORM's clock for the log columns (naive UTC).
NOW_UTC = SQL("now() at time zone 'UTC'")


class Inserted(NamedTuple):
    """``created``: this call stored the row, ``id`` is its ``returning``
    column. Otherwise ``id`` is None and ``stored`` is what ``read`` read
    of the row already stored (None without ``read``)."""

    created: bool
    id: object = None
    stored: object = None


def insert_once(env, table, values, conflict_columns, returning="id", read=None):
    """Insert one row of ``table`` (an Odoo model's table) unless a row with
    the same ``conflict_columns`` (those of its unique index) exists or is
    being stored by a concurrent transaction; returns an :class:`Inserted`.

    ``values``: ``{column: value}``, a value may be an ``SQL`` expression
    (a cast, ``NOW_UTC``); the ORM's log columns (``create_uid``,
    ``write_uid``, ``create_date``, ``write_date``) are added as the ORM
    would fill them, unless given. ``read(cr)``, if given, reads the stored
    row when this call did not store it (see the module's docstring for the
    cursor it gets). Nothing is flushed: the caller flushes what the
    insert depends on."""
    values = {
        "create_uid": env.uid,
        "write_uid": env.uid,
        "create_date": NOW_UTC,
        "write_date": NOW_UTC,
        **values,
    }
    query = SQL(
        "INSERT INTO %s (%s) VALUES (%s) ON CONFLICT (%s) DO NOTHING RETURNING %s",
        SQL.identifier(table),
        SQL(", ").join(SQL.identifier(column) for column in values),
        SQL(", ").join(
            value if isinstance(value, SQL) else SQL("%s", value)
            for value in values.values()
        ),
        SQL(", ").join(SQL.identifier(column) for column in conflict_columns),
        SQL.identifier(returning),
    )
    try:
        with env.cr.savepoint(flush=False):
            env.cr.execute(query, log_exceptions=False)
            row = env.cr.fetchone()
    except SerializationFailure:
        # Committed by a transaction this snapshot cannot see.
        if read is None:
            return Inserted(False)
        with env.registry.cursor() as cr:
            return Inserted(False, stored=read(cr))
    if row:
        return Inserted(True, row[0])
    return Inserted(False, stored=read(env.cr) if read else None)
