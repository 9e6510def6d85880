"""Supplier feed files read and validated whole, before anything is written.

Two formats, told apart by their first character (after an optional UTF-8
byte order mark):

* **CSV**: a header row naming at least the columns ``sku`` and
  ``quantity`` (any order, any case; other columns are ignored), one row
  per SKU; the delimiter, ``,`` or ``;``, is read from the header row.
* **JSON**: ``{"items": [{"sku": "A-1", "quantity": 12}, ...],
  "generated_at": "2026-12-04T08:00:00Z"}``; ``generated_at`` (ISO 8601,
  optional) is when the supplier counted: an older file than the last one
  applied is refused (``supplier_feed_import``).

Every problem found is reported with its row (the CSV line, header = line
1; the JSON item, from 1), up to :data:`MAX_PROBLEMS`. Plain Python, no
ORM: the same checks serve the upload wizard, the endpoint, the polled job
and the benchmark.
"""

import csv
import io
import json
import math
from dataclasses import dataclass
from datetime import datetime, timezone

#: Largest feed file accepted (bytes), whatever its source; the endpoint
#: refuses a larger body with 413 before reading it.
MAX_FILE_BYTES = 20 * 1024 * 1024
#: Most SKU rows in one feed file.
MAX_ROWS = 200_000
#: Longest SKU accepted (characters).
MAX_SKU_LENGTH = 128
#: Problems listed in one error message; the count says how many more.
MAX_PROBLEMS = 10
BOM = b"\xef\xbb\xbf"


class FeedFileError(Exception):
    """The file is not a feed Odoo can apply; the message lists every
    problem found (row and what is wrong) and is safe to show and log."""


@dataclass(frozen=True)
class ParsedFeed:
    """A validated feed: ``rows`` are ``(row number, sku, quantity)``,
    each SKU once; ``generated_at`` a naive UTC datetime or None."""

    rows: list
    generated_at: datetime | None
    file_format: str


class _Problems:
    """Problems collected over the whole file, reported together."""

    def __init__(self):
        self.items = []
        self.count = 0

    def add(self, where, message):
        self.count += 1
        if len(self.items) < MAX_PROBLEMS:
            self.items.append(f"{where}: {message}")

    def raise_if_any(self):
        if not self.count:
            return
        more = self.count - len(self.items)
        text = "; ".join(self.items)
        if more:
            text += f"; and {more} more problem(s)"
        raise FeedFileError(f"The feed file was refused, nothing was changed: {text}.")


def parse_feed(data):
    """The :class:`ParsedFeed` of ``data`` (bytes), or raise
    :class:`FeedFileError`."""
    if data is None or not data.strip():
        raise FeedFileError("The feed file is empty.")
    if len(data) > MAX_FILE_BYTES:
        raise FeedFileError(
            f"The feed file is too large: at most {MAX_FILE_BYTES // (1024 * 1024)}"
            " MiB are accepted."
        )
    if data.startswith(BOM):
        data = data[len(BOM) :]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FeedFileError(
            f"The feed file is not UTF-8 text (byte {exc.start + 1})."
        ) from exc
    if text.lstrip().startswith(("{", "[")):
        return _parse_json(text)
    return _parse_csv(text)


def _quantity(value, where, problems):
    """The quantity of one row as a float, or None (problem recorded)."""
    if isinstance(value, bool) or value is None:
        problems.add(where, "the quantity is missing or not a number")
        return None
    if isinstance(value, str):
        cleaned = value.strip()
        if "," in cleaned and "." not in cleaned:
            cleaned = cleaned.replace(",", ".")  # a decimal comma
        try:
            value = float(cleaned)
        except ValueError:
            problems.add(where, f"the quantity {value[:30]!r} is not a number")
            return None
    elif not isinstance(value, int | float):
        problems.add(where, "the quantity is not a number")
        return None
    value = float(value)
    if not math.isfinite(value):
        problems.add(where, "the quantity is not a finite number")
        return None
    if value < 0:
        problems.add(where, f"the quantity {value:g} is negative")
        return None
    return value


def _sku(value, where, problems):
    """The SKU of one row, stripped, or None (problem recorded)."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        problems.add(where, "the SKU is empty")
        return None
    value = value.strip()
    if len(value) > MAX_SKU_LENGTH:
        problems.add(where, f"the SKU is longer than {MAX_SKU_LENGTH} characters")
        return None
    if any(ord(char) < 32 or ord(char) == 127 for char in value):
        problems.add(where, "the SKU holds control characters")
        return None
    return value


def _add_row(rows, seen, where, sku, quantity, problems):
    if sku is None or quantity is None:
        return
    if sku in seen:
        problems.add(where, f"SKU {sku!r} is listed again (first in {seen[sku]})")
        return
    seen[sku] = where
    rows.append((len(rows) + 1, sku, quantity))


def _check_size(count):
    if count > MAX_ROWS:
        raise FeedFileError(
            f"The feed file has more than {MAX_ROWS:,} rows: split it, or ask for a"
            " higher limit."
        )


def _parse_csv(text):
    first_line = text.split("\n", 1)[0]
    delimiter = ";" if first_line.count(";") > first_line.count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = next(reader)
    except (StopIteration, csv.Error) as exc:
        raise FeedFileError("The feed file has no header row.") from exc
    columns = [name.strip().lower() for name in header]
    missing = [name for name in ("sku", "quantity") if name not in columns]
    if missing:
        raise FeedFileError(
            "The feed file's header row must name the columns sku and quantity "
            f"(missing: {', '.join(missing)}; found: "
            f"{', '.join(repr(c) for c in columns[:10]) or 'nothing'})."
        )
    sku_at, qty_at = columns.index("sku"), columns.index("quantity")
    problems, rows, seen = _Problems(), [], {}
    try:
        for line, record in enumerate(reader, start=2):
            if not any(cell.strip() for cell in record):
                continue  # a blank line
            _check_size(len(rows) + 1)
            where = f"row {line}"
            if len(record) <= max(sku_at, qty_at):
                problems.add(where, "the row has fewer columns than the header")
                continue
            _add_row(
                rows,
                seen,
                where,
                _sku(record[sku_at], where, problems),
                _quantity(record[qty_at], where, problems),
                problems,
            )
    except csv.Error as exc:
        raise FeedFileError(
            f"The feed file is not valid CSV (row {reader.line_num}: {exc})."
        ) from exc
    problems.raise_if_any()
    return ParsedFeed(rows, None, "csv")


def _generated_at(value):
    if value is None:
        return None
    if not isinstance(value, str):
        raise FeedFileError("generated_at must be an ISO 8601 date and time.")
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError as exc:
        raise FeedFileError(
            f"generated_at {value[:40]!r} is not an ISO 8601 date and time."
        ) from exc
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc).replace(tzinfo=None)
    return moment


def _parse_json(text):
    try:
        document = json.loads(text)
    except ValueError as exc:
        raise FeedFileError(f"The feed file is not valid JSON ({exc}).") from exc
    if not isinstance(document, dict) or not isinstance(document.get("items"), list):
        raise FeedFileError(
            'The JSON feed must be an object with an "items" list: '
            '{"items": [{"sku": "...", "quantity": 12}]}.'
        )
    items = document["items"]
    _check_size(len(items))
    generated_at = _generated_at(document.get("generated_at"))
    problems, rows, seen = _Problems(), [], {}
    for index, item in enumerate(items, start=1):
        where = f"item {index}"
        if not isinstance(item, dict):
            problems.add(where, 'not an object with "sku" and "quantity"')
            continue
        _add_row(
            rows,
            seen,
            where,
            _sku(item.get("sku"), where, problems),
            _quantity(item.get("quantity"), where, problems),
            problems,
        )
    problems.raise_if_any()
    return ParsedFeed(rows, generated_at, "json")
