"""A 3PL's inventory snapshot, whatever it came by (a JSON ``snapshot``
event, an X12 846, a polled API): its validation (every problem at once,
nothing written on any), its storage (a header once per connection and
business id, its lines in one statement per request), and its comparison
with Odoo's on hand in one statement, whatever the number of SKUs.

What is compared: the 3PL's **on hand**, every unit it holds for the
depositor, committed and on hold included (846 ``QTY*17``, the polled
``on_hand``, the JSON ``quantity``), against the quants of the connection's
3PL stock location and its children, plus its hold location and children
(held units are in the 3PL's building and in its count). A SKU is a storable
active product of the connection's company (or of none) by the connection's
*SKU Mapping*; a SKU that two products share counts against the first
created.

Each difference is one open ``stock.channel.threepl.discrepancy`` per
(connection, product), or per (connection, SKU) for a SKU Odoo does not
know: later snapshots refresh it while it lasts and resolve it once it is
gone. With the *apply* policy, the differences of known products that no
event in flight explains are booked as inventory moves (reason "3PL
snapshot") at the 3PL stock location, in one ``create`` and one
``_action_done``.
"""

from typing import NamedTuple

from odoo import Command, fields
from odoo.tools import SQL, float_is_zero, float_round

from odoo.addons.queue_job.exception import RetryableJobError

from .channel_lock import try_lock
from .exactly_once import NOW_UTC, insert_once
from .jobs import enqueue
from .outcomes import Outcome
from .payloads import MAX_ERRORS, MAX_QUANTITY, _number
from .threepl_events import MAX_ID, _moment, _text

TYPE = "snapshot"
# Lines of one request (a JSON page). A request body is at most 1 MiB: with
# short SKUs that is ~25,000 lines, so a large inventory comes in pages.
MAX_LINES = 50_000
MAX_PAGES = 100
# SKUs of one snapshot, all its pages (and of a polled read).
MAX_SKUS = 500_000
SKU_COLUMNS = ("default_code", "barcode")
# First key of the per-connection lock of snapshot jobs: CRC-32 of
# "stock_channel_sync.threepl_snapshot" (see channel_lock.py).
LOCK_NAMESPACE = 1185532365
BUSY_RETRY_SECONDS = 5
HEADER = "stock_channel_threepl_snapshot"
LINES = "stock_channel_threepl_snapshot_line"


class InvalidSnapshot(Exception):
    def __init__(self, details):
        super().__init__("invalid snapshot")
        self.details = details[:MAX_ERRORS]


class Snapshot(NamedTuple):
    """A snapshot (or one page of it) in normal form."""

    id: str
    as_of: object  # naive UTC datetime
    page: int
    pages: int
    skus: list
    quantities: list
    available: list


def is_snapshot(data):
    """Whether a JSON document posted to the events endpoint is a snapshot
    (which is posted alone, never inside an ``events`` list)."""
    return isinstance(data, dict) and data.get("type") == TYPE


def validate_snapshot(data, max_lines=MAX_LINES):
    """A :class:`Snapshot` from ``{"id", "type": "snapshot", "occurred_at",
    "lines": [{"sku", "quantity", "available"?}], "page"?, "pages"?}``, or
    :class:`InvalidSnapshot` with every problem as ``[{"field",
    "message"}]``."""
    problems = []

    def error(field, message):
        problems.append({"field": field, "message": message})

    if not isinstance(data, dict):
        raise InvalidSnapshot([{"field": "", "message": "a JSON object"}])
    if data.get("type") != TYPE:
        error("type", TYPE)
    business_id = _text(data.get("id"), "id", error, MAX_ID)
    as_of = _moment(data.get("occurred_at"), "occurred_at", error)
    pages, page = data.get("pages", 1), data.get("page", 1)
    if not _whole(pages) or not 1 <= pages <= MAX_PAGES:
        error("pages", f"a whole number from 1 to {MAX_PAGES}")
        pages = None
    if not _whole(page) or not 1 <= page <= (pages or MAX_PAGES):
        error("page", "a whole number from 1 to pages")
    lines = data.get("lines")
    if not isinstance(lines, list) or not 1 <= len(lines) <= max_lines:
        error("lines", f"a list of 1 to {max_lines:,} lines")
        lines = []
    skus, quantities, available, seen = [], [], [], set()
    for index, line in enumerate(lines):
        where = f"lines[{index}]."
        if not isinstance(line, dict):
            error(where.rstrip("."), "an object")
            continue
        sku = _text(line.get("sku"), f"{where}sku", error, MAX_ID)
        if sku in seen:
            error(f"{where}sku", "the same SKU twice in one snapshot")
        seen.add(sku)
        quantity = line.get("quantity")
        if not _quantity(quantity):
            error(f"{where}quantity", f"a JSON number from 0 to {MAX_QUANTITY:,}")
        free = line.get("available")
        if free is not None and not _quantity(free):
            error(f"{where}available", f"null or a number from 0 to {MAX_QUANTITY:,}")
        skus.append(sku)
        quantities.append(quantity)
        available.append(free)
        if len(problems) > MAX_ERRORS:
            break
    if problems:
        raise InvalidSnapshot(problems)
    return Snapshot(business_id, as_of, page, pages, skus, quantities, available)


def _whole(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _quantity(value):
    return _number(value) and 0 <= value <= MAX_QUANTITY


def lock_connection(connection):
    """One snapshot job (a read, a comparison) per connection at a time:
    queue_job's identity key only merges jobs still waiting, so a read
    queued while another runs would compare beside it. A transaction-level
    advisory lock, released by the job's commit or rollback; a job that
    cannot take it is retried shortly, the try not counted."""
    if not try_lock(connection.env.cr, LOCK_NAMESPACE, connection.id):
        raise RetryableJobError(
            connection.env._(
                "3PL %s: another snapshot job is running: retried shortly.",
                connection.code,
            ),
            seconds=BUSY_RETRY_SECONDS,
            ignore_retry=True,
        )


# -- storage -----------------------------------------------------------------


class Stored(NamedTuple):
    """What storing one request of a snapshot did: ``status`` accepted,
    duplicate (that page was stored already) or concurrent (the header is
    being stored by another request: send again); ``complete``: every page
    is in and the comparison was queued (or, with
    ``enqueue_compare=False``, is the caller's)."""

    status: str
    snapshot_id: int | None = None
    pages_received: int = 0
    complete: bool = False


def receive(connection, data):
    """A JSON snapshot (or one page of one) posted to the events endpoint;
    ``connection`` runs as its technical user. An :class:`Outcome`."""
    try:
        snapshot = validate_snapshot(data)
        stored = store(connection, snapshot, "json")
    except InvalidSnapshot as exc:
        return Outcome(
            "invalid_snapshot", {"error": "invalid_snapshot", "details": exc.details}
        )
    if stored.status == "concurrent":
        return Outcome("concurrent_delivery", {"error": "concurrent_delivery"})
    answer = {
        "status": stored.status,
        "snapshot": {
            "id": snapshot.id,
            "page": snapshot.page,
            "pages": snapshot.pages,
            "pages_received": stored.pages_received,
            "complete": stored.complete,
        },
    }
    return Outcome(stored.status, answer)


def store(connection, snapshot, source, enqueue_compare=True):
    """Store one request's page of ``snapshot`` (a :class:`Snapshot`): the
    header once per (connection, business id), the lines in one ``INSERT
    ... SELECT FROM unnest``; when it is the last page missing, queue the
    comparison. Raises :class:`InvalidSnapshot` (nothing written) for a
    page that does not fit the pages stored before it.

    Pages of one snapshot are stored one at a time: each locks the header
    row and updates it, so a concurrent page fails to serialize and is
    replayed by Odoo once this one committed (and then sees it)."""
    env = connection.env
    cr = env.cr
    env["stock.channel.threepl.snapshot"].flush_model()
    cr.execute(
        SQL(
            "SELECT id, as_of, page_count, pages_received, line_count FROM %s"
            " WHERE connection_id = %s AND business_id = %s FOR UPDATE",
            SQL.identifier(HEADER),
            connection.id,
            snapshot.id,
        )
    )
    row = cr.fetchone()
    if row is None:
        inserted = insert_once(
            env,
            HEADER,
            {
                "connection_id": connection.id,
                "company_id": connection.company_id.id,
                "business_id": snapshot.id,
                "source": source,
                "as_of": snapshot.as_of,
                "received_at": NOW_UTC,
                "page_count": snapshot.pages,
                "pages_received": 0,
                "line_count": 0,
                "state": "receiving",
            },
            ("connection_id", "business_id"),
        )
        if not inserted.created:
            # Stored by a request this transaction cannot see yet.
            return Stored("concurrent")
        snapshot_id = inserted.id
    else:
        snapshot_id, as_of, page_count, pages_received, line_count = row
        if _page_stored(cr, snapshot_id, snapshot.page):
            return Stored(
                "duplicate", snapshot_id, pages_received, pages_received >= page_count
            )
        _check_page(cr, snapshot_id, snapshot, as_of, page_count, line_count)
    cr.execute(
        SQL(
            """
            INSERT INTO %(lines)s (snapshot_id, page, sku, quantity, available)
            SELECT %(snapshot)s, %(page)s, l.sku, l.quantity, l.available
              FROM unnest(%(skus)s::text[], %(quantities)s::numeric[],
                          %(available)s::numeric[]) AS l(sku, quantity, available)
            """,
            lines=SQL.identifier(LINES),
            snapshot=snapshot_id,
            page=snapshot.page,
            skus=snapshot.skus,
            quantities=snapshot.quantities,
            available=snapshot.available,
        )
    )
    cr.execute(
        SQL(
            """
            UPDATE %(header)s
               SET pages_received = pages_received + 1,
                   line_count = line_count + %(count)s,
                   state = CASE WHEN pages_received + 1 >= page_count
                                THEN 'received' ELSE state END,
                   write_uid = %(uid)s, write_date = %(now)s
             WHERE id = %(snapshot)s
         RETURNING pages_received, state
            """,
            header=SQL.identifier(HEADER),
            count=len(snapshot.skus),
            uid=env.uid,
            now=NOW_UTC,
            snapshot=snapshot_id,
        )
    )
    pages_received, state = cr.fetchone()
    records = env["stock.channel.threepl.snapshot"].browse(snapshot_id)
    records.invalidate_recordset()
    complete = state == "received"
    if complete and enqueue_compare:
        enqueue("threepl_snapshot", records)
    return Stored("accepted", snapshot_id, pages_received, complete)


def _page_stored(cr, snapshot_id, page):
    cr.execute(
        SQL(
            "SELECT 1 FROM %s WHERE snapshot_id = %s AND page = %s LIMIT 1",
            SQL.identifier(LINES),
            snapshot_id,
            page,
        )
    )
    return bool(cr.fetchone())


def _check_page(cr, snapshot_id, snapshot, as_of, page_count, line_count):
    """A new page of a stored snapshot: the same time and number of pages as
    its first, no SKU of another page, within :data:`MAX_SKUS` in all."""
    problems = []
    if snapshot.as_of != as_of:
        problems.append(
            {
                "field": "occurred_at",
                "message": f"this snapshot's first page says {as_of}Z: every page "
                "of a snapshot has the same occurred_at",
            }
        )
    if snapshot.pages != page_count:
        problems.append(
            {
                "field": "pages",
                "message": f"this snapshot's first page says {page_count} pages",
            }
        )
    if line_count + len(snapshot.skus) > MAX_SKUS:
        problems.append(
            {"field": "lines", "message": f"at most {MAX_SKUS:,} SKUs in one snapshot"}
        )
    cr.execute(
        SQL(
            "SELECT sku FROM %s WHERE snapshot_id = %s AND sku = ANY(%s) LIMIT %s",
            SQL.identifier(LINES),
            snapshot_id,
            snapshot.skus,
            MAX_ERRORS,
        )
    )
    position = {sku: index for index, sku in enumerate(snapshot.skus)}
    for (sku,) in cr.fetchall():
        problems.append(
            {
                "field": f"lines[{position[sku]}].sku",
                "message": "already listed by another page of this snapshot",
            }
        )
    if problems:
        raise InvalidSnapshot(problems)


# -- comparison --------------------------------------------------------------


class Compared(NamedTuple):
    """What one comparison found: ``to_apply`` is ``[(discrepancy id,
    product id, difference)]`` of the known products whose difference no
    event in flight explains."""

    lines: int
    drift: int
    new: int
    unknown: int
    resolved: int
    to_apply: list


# One statement: the snapshot's lines matched to products, Odoo's on hand
# at the connection's locations, their differences upserted as open
# discrepancies with the events that explain them, and the open ones this
# snapshot no longer shows resolved.
COMPARE = """
WITH lines AS (
    SELECT sku, quantity FROM stock_channel_threepl_snapshot_line
     WHERE snapshot_id = %(snapshot)s
), catalogue AS (
    SELECT pp.id, pp.%(column)s AS sku
      FROM product_product pp
      JOIN product_template pt ON pt.id = pp.product_tmpl_id
     WHERE pp.active AND pt.is_storable
       AND (pt.company_id IS NULL OR pt.company_id = %(company)s)
), matched AS (
    SELECT DISTINCT ON (l.sku) l.sku, l.quantity, c.id AS product_id
      FROM lines l LEFT JOIN catalogue c ON c.sku = l.sku
     ORDER BY l.sku, c.id
), on_hand AS (
    SELECT q.product_id, sum(q.quantity) AS quantity
      FROM stock_quant q
      JOIN stock_location sl ON sl.id = q.location_id
     WHERE sl.parent_path LIKE ANY(%(paths)s)
     GROUP BY q.product_id
), compared AS (
    SELECT m.product_id, m.sku, TRUE AS in_snapshot,
           coalesce(oh.quantity, 0) AS odoo_qty, m.quantity AS threepl_qty
      FROM matched m LEFT JOIN on_hand oh ON oh.product_id = m.product_id
     UNION ALL
    -- On hand, left out of the snapshot: neither matched nor sharing a
    -- listed SKU. Anti-joins as outer joins, never a subquery per row: the
    -- planner hashes them whatever it guesses of the snapshot's size.
    SELECT c.id, c.sku, FALSE, oh.quantity, 0
      FROM on_hand oh
      JOIN catalogue c ON c.id = oh.product_id
      LEFT JOIN matched m ON m.product_id = oh.product_id
      LEFT JOIN lines l ON l.sku = c.sku
     WHERE m.product_id IS NULL AND l.sku IS NULL
), drift AS (
    SELECT c.*, round(c.threepl_qty - c.odoo_qty, %(digits)s) AS difference,
           CASE WHEN c.product_id IS NULL THEN 'sku:' || c.sku
                ELSE 'product:' || c.product_id END AS drift_key
      FROM compared c
     WHERE round(c.threepl_qty - c.odoo_qty, %(digits)s) <> 0
), events AS (
    SELECT e.product_id,
           count(*) FILTER (WHERE e.state = 'done' AND e.occurred_at > %(as_of)s)
               AS after_count,
           count(*) FILTER (WHERE e.state <> 'done' AND e.occurred_at <= %(as_of)s)
               AS pending_count,
           max(e.occurred_at) FILTER (WHERE e.state = 'done') AS last_event_at,
           (array_agg(e.reason_code ORDER BY e.occurred_at DESC, e.id DESC)
               FILTER (WHERE e.state = 'done' AND e.kind = 'adjustment'))[1]
               AS last_reason
      FROM stock_channel_threepl_event e
     WHERE e.connection_id = %(connection)s
       AND e.product_id IN (SELECT product_id FROM drift)
     GROUP BY e.product_id
), found AS (
    SELECT d.*, coalesce(ev.after_count, 0) AS after_count,
           coalesce(ev.pending_count, 0) AS pending_count,
           ev.last_event_at, ev.last_reason,
           CASE WHEN d.product_id IS NULL THEN 'unknown_sku'
                WHEN coalesce(ev.after_count, 0) + coalesce(ev.pending_count, 0) > 0
                     THEN 'in_flight'
                WHEN NOT d.in_snapshot THEN 'not_in_snapshot'
                WHEN ev.last_reason IS NOT NULL THEN 'adjustment'
           END AS cause_kind
      FROM drift d LEFT JOIN events ev ON ev.product_id = d.product_id
), upserted AS (
    INSERT INTO stock_channel_threepl_discrepancy AS t
           (connection_id, company_id, snapshot_id, kind, drift_key, product_id,
            sku, odoo_qty, threepl_qty, difference, in_snapshot, in_flight_count,
            pending_event_count, last_event_at, last_reason_code, cause_kind,
            state, detected_at, last_seen_at,
            create_uid, write_uid, create_date, write_date)
    SELECT %(connection)s, %(company)s, %(snapshot)s, 'threepl_drift', f.drift_key,
           f.product_id, f.sku, f.odoo_qty, f.threepl_qty, f.difference,
           f.in_snapshot, f.after_count, f.pending_count, f.last_event_at,
           f.last_reason, f.cause_kind, 'open', %(now)s, %(now)s,
           %(uid)s, %(uid)s, %(now)s, %(now)s
      FROM found f
        ON CONFLICT (connection_id, drift_key) WHERE state = 'open'
        DO UPDATE SET snapshot_id = EXCLUDED.snapshot_id,
                      sku = EXCLUDED.sku,
                      odoo_qty = EXCLUDED.odoo_qty,
                      threepl_qty = EXCLUDED.threepl_qty,
                      difference = EXCLUDED.difference,
                      in_snapshot = EXCLUDED.in_snapshot,
                      in_flight_count = EXCLUDED.in_flight_count,
                      pending_event_count = EXCLUDED.pending_event_count,
                      last_event_at = EXCLUDED.last_event_at,
                      last_reason_code = EXCLUDED.last_reason_code,
                      cause_kind = EXCLUDED.cause_kind,
                      last_seen_at = EXCLUDED.last_seen_at,
                      write_uid = EXCLUDED.write_uid,
                      write_date = EXCLUDED.write_date
    RETURNING t.id, t.product_id, t.difference, t.cause_kind, (t.xmax = 0) AS new
), resolved AS (
    UPDATE stock_channel_threepl_discrepancy t
       SET state = 'resolved', resolved_at = %(now)s,
           write_uid = %(uid)s, write_date = %(now)s
     WHERE t.connection_id = %(connection)s AND t.state = 'open'
       AND t.drift_key NOT IN (SELECT drift_key FROM found)
    RETURNING t.id
)
SELECT (SELECT count(*) FROM lines),
       (SELECT count(*) FROM upserted),
       (SELECT count(*) FROM upserted WHERE new),
       (SELECT count(*) FROM upserted WHERE product_id IS NULL),
       (SELECT count(*) FROM resolved),
       coalesce((SELECT json_agg(json_build_array(id, product_id, difference))
                   FROM upserted
                  WHERE product_id IS NOT NULL
                    AND cause_kind IS DISTINCT FROM 'in_flight'), '[]')
"""


def compare(snapshot):
    """Compare ``snapshot`` (a ``stock.channel.threepl.snapshot``, as the
    connection's technical user) with Odoo's on hand: one statement, plus a
    fixed handful of reads, whatever the number of SKUs. A
    :class:`Compared`."""
    env = snapshot.env
    connection = snapshot.connection_id
    column = connection.sku_field
    if column not in SKU_COLUMNS:
        raise ValueError(f"unknown SKU mapping {column!r}")
    locations = connection.location_id | connection.hold_location_id
    for model in (
        "stock.quant",
        "stock.location",
        "product.product",
        "product.template",
        "stock.channel.threepl.event",
        "stock.channel.threepl.discrepancy",
    ):
        env[model].flush_model()
    env.cr.execute(
        SQL(
            COMPARE,
            snapshot=snapshot.id,
            column=SQL.identifier(column),
            company=connection.company_id.id,
            paths=[f"{path}%" for path in locations.mapped("parent_path")],
            digits=env["decimal.precision"].precision_get("Product Unit of Measure"),
            as_of=snapshot.as_of,
            connection=connection.id,
            now=fields.Datetime.now(),
            uid=env.uid,
        )
    )
    lines, drift, new, unknown, resolved, to_apply = env.cr.fetchone()
    env["stock.channel.threepl.discrepancy"].invalidate_model()
    return Compared(lines, drift, new, unknown, resolved, to_apply)


# -- apply -------------------------------------------------------------------


def apply(snapshot, rows):
    """Book ``rows`` (``Compared.to_apply``) as done inventory moves at the
    connection's 3PL stock location, from or to each product's inventory
    loss location, reason "3PL snapshot": one ``create``, one
    ``_action_done``; their discrepancies become *Applied*. Returns the
    moves."""
    env = snapshot.env
    connection = snapshot.connection_id
    company = connection.company_id
    stock = connection.location_id
    products = (
        env["product.product"]
        .browse({product_id for _id, product_id, _diff in rows})
        .with_company(company)
    )
    by_id = {product.id: product for product in products}
    label = env._(
        "3PL snapshot %(connection)s: %(snapshot)s",
        connection=connection.code,
        snapshot=snapshot.business_id,
    )
    origin = f"{connection.code}/{snapshot.business_id}"
    values, applied = [], []
    for discrepancy_id, product_id, difference in rows:
        product = by_id[product_id]
        quantity = float_round(
            abs(difference), precision_rounding=product.uom_id.rounding
        )
        if float_is_zero(quantity, precision_rounding=product.uom_id.rounding):
            continue
        loss = product.property_stock_inventory
        source, destination = (loss, stock) if difference > 0 else (stock, loss)
        line = {
            "product_id": product.id,
            "product_uom_id": product.uom_id.id,
            "quantity": quantity,
            "location_id": source.id,
            "location_dest_id": destination.id,
            "company_id": company.id,
        }
        values.append(
            {
                "name": label,
                "origin": origin,
                "product_id": product.id,
                "product_uom": product.uom_id.id,
                "product_uom_qty": quantity,
                "location_id": source.id,
                "location_dest_id": destination.id,
                "company_id": company.id,
                "is_inventory": True,
                "picked": True,
                "move_line_ids": [Command.create(line)],
            }
        )
        applied.append(discrepancy_id)
    if not values:
        return env["stock.move"]
    moves = env["stock.move"].create(values)
    moves._action_done()
    env.cr.execute(
        SQL(
            """
            UPDATE stock_channel_threepl_discrepancy d
               SET state = 'applied', applied_at = %(now)s, move_id = a.move_id,
                   write_uid = %(uid)s, write_date = %(now)s
              FROM unnest(%(ids)s::int[], %(moves)s::int[]) AS a(id, move_id)
             WHERE d.id = a.id
            """,
            now=fields.Datetime.now(),
            uid=env.uid,
            ids=applied,
            moves=moves.ids,
        )
    )
    env["stock.channel.threepl.discrepancy"].invalidate_model()
    return moves


# -- one run -----------------------------------------------------------------


def process(snapshot):
    """Compare a complete snapshot (and apply it with the *apply* policy),
    unless a later snapshot of the connection was compared already; record
    the outcome on the snapshot and the connection. A summary."""
    env = snapshot.env
    connection = snapshot.connection_id
    cr = env.cr
    cr.execute(
        SQL(
            "SELECT 1 FROM %s WHERE connection_id = %s AND id <> %s"
            " AND state IN ('compared', 'applied') AND as_of > %s LIMIT 1",
            SQL.identifier(HEADER),
            connection.id,
            snapshot.id,
            snapshot.as_of,
        )
    )
    if cr.fetchone():
        _record(snapshot, {"state": "superseded"})
        return "superseded by a later snapshot: not compared"
    policy = connection.snapshot_policy
    compared = compare(snapshot)
    applied = 0
    if policy == "apply" and compared.to_apply:
        applied = len(apply(snapshot, compared.to_apply))
    _record(
        snapshot,
        {
            "state": "applied" if policy == "apply" else "compared",
            "policy": policy,
            "compared_at": fields.Datetime.now(),
            "drift_count": compared.drift,
            "new_drift_count": compared.new,
            "unknown_sku_count": compared.unknown,
            "resolved_count": compared.resolved,
            "applied_count": applied,
        },
    )
    cr.execute(
        SQL(
            """
            UPDATE stock_channel_threepl
               SET last_snapshot_at = GREATEST(last_snapshot_at, %(as_of)s),
                   last_applied_snapshot_at = CASE WHEN %(applied)s
                       THEN GREATEST(last_applied_snapshot_at, %(as_of)s)
                       ELSE last_applied_snapshot_at END,
                   snapshot_error = NULL
             WHERE id = %(connection)s
            """,
            as_of=snapshot.as_of,
            applied=policy == "apply",
            connection=connection.id,
        )
    )
    connection.invalidate_recordset(
        ["last_snapshot_at", "last_applied_snapshot_at", "snapshot_error"]
    )
    summary = (
        f"{compared.lines} SKU(s) compared: {compared.drift} differ "
        f"({compared.new} new, {compared.unknown} unknown SKU(s)), "
        f"{compared.resolved} resolved"
    )
    if policy == "apply":
        summary += f", {applied} applied"
    return summary


def _record(snapshot, values):
    """The snapshot's outcome, in one UPDATE: snapshots are read-only to
    every user (what the 3PL said is never edited); only the job records."""
    columns = list(values)
    snapshot.env.cr.execute(
        SQL(
            "UPDATE %s SET %s, write_uid = %s, write_date = %s WHERE id = %s",
            SQL.identifier(HEADER),
            SQL(", ").join(
                SQL("%s = %s", SQL.identifier(column), values[column])
                for column in columns
            ),
            snapshot.env.uid,
            fields.Datetime.now(),
            snapshot.id,
        )
    )
    snapshot.invalidate_recordset()
