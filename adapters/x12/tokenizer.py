"""Read an X12 interchange into envelopes and segments, checking the envelopes.

3PL warehouses send 944/945/947/846 as X12; no maintained Python library
reads those sets, and each partner picks its own delimiters, so they are
taken from the ISA header every time (never assumed). Every envelope
problem is collected, so one rejection names all of them, and each carries
the control numbers and 997 error code an acknowledgement needs.
"""

import hashlib
import re
from dataclasses import dataclass, field
from typing import NamedTuple

#: Largest interchange read; 3PL files are kilobytes to a few megabytes.
MAX_BYTES = 32 * 1024 * 1024
#: Problems kept in one error; past that the file is garbage anyway.
MAX_PROBLEMS = 100
#: The 106-character ISA: element widths of ISA01..ISA15 (ISA16 is one char).
ISA_WIDTHS = (2, 10, 2, 10, 2, 15, 2, 15, 6, 4, 1, 5, 9, 1, 1)
ISA_LENGTH = 106
#: Interchange ID qualifiers (ISA05/ISA07, X12 element I05).
ID_QUALIFIERS = {f"{n:02}" for n in range(1, 39)} | {"AM", "NR", "SA", "SN", "ZZ"}
SEGMENT_ID = re.compile(r"[A-Z][A-Z0-9]{1,2}\Z")
DIGITS = re.compile(r"\d+\Z")


class Problem(NamedTuple):
    """One thing wrong: where (segment ordinal, ISA = 1), which segment, what.

    ``group`` / ``set`` are the GS06 / ST02 it belongs to, ``code`` the 997
    error code (AK5-02 when ``set`` is given, else AK9-05), when there is one.
    """

    position: int
    segment: str
    message: str
    group: str = ""
    set: str = ""
    code: str = ""

    def __str__(self):
        return f"segment {self.position} {self.segment or '?'}: {self.message}"


class X12Error(ValueError):
    """The interchange (or a set in it) cannot be used; ``problems`` says why.

    ``interchange`` is what could be read (None when the ISA itself is
    unreadable), so a caller can still acknowledge the sets with a 997.
    """

    def __init__(self, problems, interchange=None):
        self.problems = list(problems)
        self.interchange = interchange
        shown = "; ".join(str(p) for p in self.problems[:10])
        more = len(self.problems) - 10
        super().__init__(
            f"{len(self.problems)} X12 problem(s): {shown}"
            + (f"; and {more} more" if more > 0 else "")
        )


class Delimiters(NamedTuple):
    element: str
    component: str
    segment: str
    repetition: str | None = None  # ISA11 from 00402 on; None when ISA11 = "U"
    line_end: str = ""  # CR/LF written after each terminator, if any


class Segment(list):
    """Elements of one segment, ``seg[0]`` its id, so ``seg[1]`` is XX01.

    A composite element is a tuple of its components, a simple one a str.
    """

    __slots__ = ("position",)

    def __init__(self, elements, position):
        super().__init__(elements)
        self.position = position

    @property
    def id(self):
        return self[0]

    def text(self, index):
        """Element ``index`` as text ("" when absent; first component of a
        composite)."""
        if index >= len(self):
            return ""
        value = self[index]
        return value[0] if isinstance(value, tuple) else value


@dataclass
class TransactionSet:
    set_id: str  # ST01, e.g. "944"
    control_number: str  # ST02
    segments: list = field(default_factory=list)  # between ST and SE
    position: int = 0  # of the ST


@dataclass
class FunctionalGroup:
    functional_id: str  # GS01: RE 944, SW 945, AW 947, IB 846, FA 997
    sender: str  # GS02
    receiver: str  # GS03
    date: str  # GS04, CCYYMMDD
    time: str  # GS05
    control_number: str  # GS06
    agency: str  # GS07
    version: str  # GS08, e.g. 004010
    sets: list = field(default_factory=list)
    position: int = 0


@dataclass
class Interchange:
    sender_qualifier: str  # ISA05
    sender_id: str  # ISA06, padding stripped
    receiver_qualifier: str  # ISA07
    receiver_id: str  # ISA08
    date: str  # ISA09, YYMMDD
    time: str  # ISA10, HHMM
    version: str  # ISA12
    control_number: str  # ISA13
    ack_requested: str  # ISA14
    usage: str  # ISA15: P production, T test, I information
    delimiters: Delimiters
    checksum: str  # sha256 hex of the raw bytes
    groups: list = field(default_factory=list)
    ta1: list = field(default_factory=list)  # interchange acks, if any

    @property
    def sender(self):
        return f"{self.sender_qualifier}:{self.sender_id}"

    @property
    def receiver(self):
        return f"{self.receiver_qualifier}:{self.receiver_id}"


def excerpt(text, size=24):
    """A short, printable piece of the input for a message."""
    text = str(text)
    return repr(text if len(text) <= size else text[:size] + "…")


def checksum(data):
    """sha256 of the raw bytes (str is taken as UTF-8): the duplicate key for
    a file whatever its control numbers."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    return hashlib.sha256(data).hexdigest()


class _Problems(list):
    def add(self, position, segment, message, group="", set_="", code=""):
        if len(self) < MAX_PROBLEMS:
            segment = str(segment)[:6]  # a bad id can be the whole input
            self.append(Problem(position, segment, message, group, set_, code))


def parse(data):
    """Read one interchange (bytes or str) into an :class:`Interchange`.

    Raises :class:`X12Error` listing every envelope problem found.
    """
    if isinstance(data, str):
        raw = data.encode("utf-8")
    elif isinstance(data, bytes | bytearray | memoryview):
        raw = bytes(data)
    else:
        raise X12Error([Problem(0, "", "expected bytes or str")])
    if len(raw) > MAX_BYTES:
        raise X12Error([Problem(0, "", f"larger than {MAX_BYTES} bytes")])
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")  # one char per byte: the ISA stays fixed
    text = text.lstrip("\ufeff \t\r\n")
    problems = _Problems()
    isa, delims, start = _read_isa(text, problems)
    interchange = Interchange(
        sender_qualifier=isa[5],
        sender_id=isa[6].strip(),
        receiver_qualifier=isa[7],
        receiver_id=isa[8].strip(),
        date=isa[9],
        time=isa[10],
        version=isa[12],
        control_number=isa[13],
        ack_requested=isa[14],
        usage=isa[15],
        delimiters=delims,
        checksum=hashlib.sha256(raw).hexdigest(),
    )
    _read_body(text[start:], interchange, problems)
    if problems:
        raise X12Error(problems, interchange)
    return interchange


def _read_isa(text, problems):
    """ISA01..ISA16, the delimiters and where the first segment after ISA
    starts. Fatal problems raise at once: without delimiters nothing else can
    be read."""

    def fatal(message):
        problems.add(1, "ISA", message)
        raise X12Error(problems)

    if not text.startswith("ISA") or len(text) < 4:
        fatal(f"an interchange starts with ISA, found {excerpt(text[:8])}")
    sep = text[3]
    if sep.isalnum() or sep == " ":
        fatal(f"element separator {sep!r} is a letter, digit or space")
    seps, index = [], 3
    while len(seps) < 16:
        index = text.find(sep, index)
        if index < 0 or index > ISA_LENGTH + 40:
            fatal(
                f"truncated ISA: {len(seps)} of 16 element separators found"
                f" ({excerpt(text[:40])})"
            )
        seps.append(index)
        index += 1
    end = seps[-1] + 2  # index of the segment terminator
    if end >= len(text):
        fatal("truncated ISA: no component separator and segment terminator")
    component, terminator = text[end - 1], text[end]
    elements = [text[a + 1 : b] for a, b in zip(seps, seps[1:], strict=False)]
    isa = ["ISA", *elements, component]
    for name, char in (("component", component), ("segment terminator", terminator)):
        if char.isalnum() or char == " ":
            fatal(f"{name} separator {char!r} is a letter, digit or space")
    repetition = isa[11] if not isa[11].isalnum() and isa[11] != " " else None
    chosen = [sep, component, terminator] + ([repetition] if repetition else [])
    if len(set(chosen)) != len(chosen):
        fatal(f"delimiters are not distinct: {chosen!r}")
    if end + 1 != ISA_LENGTH:
        problems.add(
            1,
            "ISA",
            f"ISA is {end + 1} characters up to its terminator, expected {ISA_LENGTH}",
        )
    widths = zip(isa[1:16], ISA_WIDTHS, strict=True)
    for number, (value, width) in enumerate(widths, 1):
        if len(value) != width:
            problems.add(
                1, "ISA", f"ISA{number:02} is {len(value)} characters, expected {width}"
            )
    checks = (
        (1, isa[1] in {"00", "01", "02", "03", "04", "05", "06"}, "bad qualifier"),
        (3, isa[3] in {"00", "01"}, "bad qualifier"),
        (5, isa[5] in ID_QUALIFIERS, "bad interchange ID qualifier"),
        (7, isa[7] in ID_QUALIFIERS, "bad interchange ID qualifier"),
        (9, _valid_date(isa[9]), "not a YYMMDD date"),
        (10, _valid_time(isa[10]), "not an HHMM time"),
        (11, isa[11] == "U" or repetition is not None, "neither U nor a separator"),
        (12, bool(DIGITS.match(isa[12])), "not a version number"),
        (13, bool(DIGITS.match(isa[13])), "not a numeric control number"),
        (14, isa[14] in {"0", "1"}, "not 0 or 1"),
        (15, isa[15] in {"P", "T", "I"}, "not P, T or I"),
    )
    for number, ok, message in checks:
        if not ok:
            problems.add(1, "ISA", f"ISA{number:02} {excerpt(isa[number])}: {message}")
    start = end + 1
    line_end = ""
    while start < len(text) and text[start] in "\r\n" and text[start] not in chosen:
        line_end += text[start]
        start += 1
    delims = Delimiters(sep, component, terminator, repetition, line_end[:2])
    return isa, delims, start


def _valid_date(value):
    if not DIGITS.match(value) or len(value) not in (6, 8):
        return False
    month, day = int(value[-4:-2]), int(value[-2:])
    return 1 <= month <= 12 and 1 <= day <= 31


def _valid_time(value):
    return (
        bool(DIGITS.match(value))
        and len(value) >= 4
        and int(value[:2]) < 24
        and int(value[2:4]) < 60
    )


def _read_body(body, interchange, problems):
    """Segments after the ISA, checked against GS/GE, ST/SE and IEA."""
    delims = interchange.delimiters
    strip = "".join(c for c in "\r\n" if c not in delims[:4])
    pieces = body.split(delims.segment)
    if pieces and pieces[-1].strip(strip + " \t"):
        last = pieces[-1].strip(strip)
        problems.add(0, last[:3], f"not terminated: {excerpt(last)} (truncated file?)")
    elif pieces:
        pieces.pop()
    state = _State(interchange, problems)
    position = 1
    for piece in pieces:
        text = piece.strip(strip)
        if not text:
            continue
        position += 1
        elements = text.split(delims.element)
        seg = Segment(
            [
                tuple(e.split(delims.component)) if delims.component in e else e
                for e in elements
            ],
            position,
        )
        seg[0] = elements[0]
        state.feed(seg)
    state.finish(position)


class _State:
    """The envelope state machine: outside groups, in a group, in a set."""

    def __init__(self, interchange, problems):
        self.interchange = interchange
        self.problems = problems
        self.group = None
        self.tset = None
        self.done = False

    def add(self, seg, message, code="", in_set=False):
        group = self.group.control_number if self.group else ""
        set_ = self.tset.control_number if in_set and self.tset else ""
        self.problems.add(seg.position, seg.id, message, group, set_, code)

    def feed(self, seg):
        sid = seg.id
        if self.done:
            self.add(seg, "segment after IEA")
        elif not isinstance(sid, str) or not SEGMENT_ID.match(sid):
            self.add(seg, f"not a segment id: {excerpt(sid)}", "5", in_set=True)
        elif sid == "ISA":
            self.add(seg, "a second ISA: one interchange per file")
        elif sid == "GS":
            self.close_set(seg)
            self.close_group(seg)
            self.open_group(seg)
        elif sid == "GE":
            self.close_set(seg)
            if self.group is None:
                self.add(seg, "GE without GS")
            else:
                self.check_ge(seg)
                self.group = None
        elif sid == "ST":
            self.close_set(seg)
            self.open_set(seg)
        elif sid == "SE":
            if self.tset is None:
                self.add(seg, "SE without ST")
            else:
                self.check_se(seg)
                self.tset = None
        elif sid == "IEA":
            self.close_set(seg)
            self.close_group(seg)
            self.check_iea(seg)
            self.done = True
        elif self.tset is not None:
            self.tset.segments.append(seg)
        elif sid == "TA1" and self.group is None:
            self.interchange.ta1.append(seg)
        else:
            self.add(seg, "segment outside a transaction set")

    def open_group(self, seg):
        values = [seg.text(i) for i in range(1, 9)]
        self.group = FunctionalGroup(*values, position=seg.position)
        if len(seg) < 9 or not all(values[:6]) or not values[7]:
            self.add(seg, f"GS needs GS01..GS08, found {len(seg) - 1} elements", "6")
        if not DIGITS.match(values[5]) or len(values[5]) > 9:
            self.add(seg, f"GS06 {excerpt(values[5])}: not a control number", "6")
        for other in self.interchange.groups:
            if other.control_number == values[5]:
                self.add(seg, f"GS06 {excerpt(values[5])} repeated in the interchange")
        self.interchange.groups.append(self.group)

    def close_group(self, seg):
        if self.group is not None:
            self.add(seg, f"GE missing before {seg.id}", "3")
            self.group = None

    def check_ge(self, seg):
        count, control = seg.text(1), seg.text(2)
        sets = len(self.group.sets)
        if count != str(sets):
            self.add(seg, f"GE01 {excerpt(count)}: the group has {sets} set(s)", "5")
        if control != self.group.control_number:
            self.add(
                seg,
                f"GE02 {excerpt(control)} does not match GS06"
                f" {excerpt(self.group.control_number)}",
                "4",
            )

    def open_set(self, seg):
        set_id, control = seg.text(1), seg.text(2)
        self.tset = TransactionSet(set_id, control, [], seg.position)
        if self.group is None:
            self.add(seg, "ST outside a functional group", in_set=True)
            return  # read to its SE, then dropped
        if not (DIGITS.match(set_id) and len(set_id) == 3):
            self.add(seg, f"ST01 {excerpt(set_id)}: not a set id", "6", in_set=True)
        if not 4 <= len(control) <= 9:
            self.add(seg, f"ST02 {excerpt(control)}: 4-9 characters", "7", in_set=True)
        if any(s.control_number == control for s in self.group.sets):
            self.add(seg, f"ST02 {excerpt(control)} repeated in group", "23", True)
        self.group.sets.append(self.tset)

    def close_set(self, seg):
        if self.tset is not None:
            self.add(seg, f"SE missing before {seg.id}", "2", in_set=True)
            self.tset = None

    def check_se(self, seg):
        count, control = seg.text(1), seg.text(2)
        actual = len(self.tset.segments) + 2
        if count != str(actual):
            self.add(
                seg,
                f"SE01 {excerpt(count)}: the set has {actual} segments incl. ST/SE",
                "4",
                in_set=True,
            )
        if control != self.tset.control_number:
            self.add(
                seg,
                f"SE02 {excerpt(control)} does not match ST02"
                f" {excerpt(self.tset.control_number)}",
                "3",
                in_set=True,
            )

    def check_iea(self, seg):
        count, control = seg.text(1), seg.text(2)
        groups = len(self.interchange.groups)
        if count != str(groups):
            message = f"IEA01 {excerpt(count)}: the interchange has {groups} groups"
            self.add(seg, message)
        if control != self.interchange.control_number:
            self.add(
                seg,
                f"IEA02 {excerpt(control)} does not match ISA13"
                f" {excerpt(self.interchange.control_number)}",
            )

    def finish(self, position):
        if not self.done:
            end = Segment(["IEA"], position + 1)
            self.close_set(end)
            self.close_group(end)
            self.add(end, "IEA missing (truncated file?)")
