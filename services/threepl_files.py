"""File-level duplicates of a 3PL's X12 interchanges. Partners reuse
control numbers after a while, so a file is the same file when its sender,
interchange control number (ISA13) and date (ISA09/ISA10) are, and its
bytes (SHA-256) tell a true resend from a different file under a number
already used. Events are deduplicated by business id on top of this."""

from typing import NamedTuple

from .exactly_once import NOW_UTC, insert_once


class Known(NamedTuple):
    """``same``: the very file again; otherwise another file that took the
    same control number that day. ``received_at`` of the first."""

    same: bool
    received_at: object


def _key(connection, interchange):
    return {
        "connection_id": connection.id,
        "sender": interchange.sender,
        "control_number": interchange.control_number,
        "interchange_date": f"{interchange.date} {interchange.time}",
    }


def known(connection, interchange):
    """A :class:`Known` for a file taken before under this key, else None."""
    Files = connection.env["stock.channel.threepl.file"]
    Files.flush_model()
    stored = Files.search_read(
        [(name, "=", value) for name, value in _key(connection, interchange).items()],
        ["checksum", "received_at"],
        limit=1,
    )
    if not stored:
        return None
    return Known(
        stored[0]["checksum"] == interchange.checksum, stored[0]["received_at"]
    )


def record(connection, interchange, event_count):
    """The file, taken (in the transaction storing its events)."""
    insert_once(
        connection.env,
        "stock_channel_threepl_file",
        dict(
            _key(connection, interchange),
            company_id=connection.company_id.id,
            checksum=interchange.checksum,
            event_count=event_count,
            received_at=NOW_UTC,
        ),
        ("connection_id", "sender", "control_number", "interchange_date"),
    )
