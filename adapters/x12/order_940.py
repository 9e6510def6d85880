"""Write the 940 Warehouse Shipping Order of one delivery.

The document is the JSON shipping order (``services/threepl_outbound.py``),
so both protocols carry the same facts; this module only spells it in X12
4010 with the standard delimiters (``*`` between elements, ``~`` after
segments, ``>`` between components). Whatever a partner's translator would
refuse (a depositor order number past 22 characters, a unit without a
2-letter code, no ship-to name) is refused here, every problem at once,
before anything is sent or any control number is taken. Text is never
allowed to break the syntax: delimiters and control characters in names and
addresses become spaces.

The envelope's control numbers are the caller's: the connection's counter,
the same one its 997s take, because ISA13 must be unique per sender and
receiver whatever the set inside (a partner refuses a second interchange
with a number it has seen, be it a 997 or a 940).
"""

import re
from decimal import Decimal, InvalidOperation

from .tokenizer import ID_QUALIFIERS

ELEMENT, SEGMENT, COMPONENT = "*", "~", ">"
ISA_VERSION, GS_VERSION = "00401", "004010"
FUNCTIONAL_ID, SET_ID = "OW", "940"
ORIGINAL = "N"  # W05-01 order status: original
SHIP_TO = "ST"  # N1-01 entity: ship to
CONTACT = "IC"  # PER-01 information contact
REQUESTED_SHIP_DATE = "10"  # G62-01 date qualifier
PREPAID, MOTOR = "PP", "M"  # W66-01 payment, W66-02 transportation method
SKU = "SK"  # W01-04 product id qualifier: the depositor's SKU
#: Element lengths of X12 4010 that are checked (longer text is cut, except
#: the ids the 3PL echoes back, which are refused: cut, they match nothing).
LIMITS = {
    "order_ref": 22,  # W05-02
    "origin": 22,  # W05-03
    "name": 60,  # N1-02, PER-02
    "street": 55,  # N3-01/02
    "city": 30,  # N4-01
    "state": 2,  # N4-02
    "zip": 15,  # N4-03
    "country": 3,  # N4-04
    "phone": 80,  # PER-04
    "email": 80,  # PER-06
    "carrier": 35,  # W66-05 routing
    "sku": 48,  # W01-05
}
UNSAFE = re.compile(rf"[{re.escape(ELEMENT + SEGMENT + COMPONENT)}^\x00-\x1f\x7f]")
UNIT = re.compile(r"[A-Z0-9]{2}\Z")
ISA_ID = re.compile(r"[A-Za-z0-9 ._-]{1,15}\Z")


class OrderRefused(ValueError):
    """The document cannot be written as a 940; ``problems`` says why."""

    def __init__(self, problems):
        self.problems = list(problems)
        super().__init__("; ".join(self.problems))


def clean(value, limit=None):
    """Text safe inside an element: no delimiter nor control character,
    blanks collapsed, at most ``limit`` characters."""
    text = " ".join(UNSAFE.sub(" ", str(value or "")).split())
    return text[:limit] if limit else text


def number(value):
    """A quantity as X12 writes a decimal (R): no exponent, no trailing
    zeros, ``10`` for 10.0."""
    try:
        text = format(Decimal(str(value)).normalize(), "f")
    except (InvalidOperation, ValueError):
        return ""
    return text[:-2] if text.endswith(".0") else text


def segments(document):
    """The 940's segments between ST and SE (each a list of elements) for
    ``document``, or :class:`OrderRefused` with every problem."""
    problems = []
    body = _heading(document, problems) + _detail(document.get("lines"), problems)
    if problems:
        raise OrderRefused(problems)
    return [_trimmed(segment) for segment in body]


def _heading(document, problems):
    """W05, the ship-to (N1/N3/N4/PER), G62 and W66."""
    ref = clean(document.get("order_ref"))
    if not ref:
        problems.append("W05-02: the depositor order number is empty")
    elif len(ref) > LIMITS["order_ref"]:
        problems.append(
            f"W05-02: depositor order number {ref!r} is longer than "
            f"{LIMITS['order_ref']} characters"
        )
    ship = document.get("ship_to") or {}
    name = clean(ship.get("name"), LIMITS["name"])
    if not name:
        problems.append("N1-02: the ship-to has no name")
    heading = [
        ["W05", ORIGINAL, ref, clean(document.get("origin"), LIMITS["origin"])],
        ["N1", SHIP_TO, name],
    ]
    street = clean(ship.get("street"), LIMITS["street"])
    street2 = clean(ship.get("street2"), LIMITS["street"])
    if street or street2:
        heading.append(["N3", street or street2, street2 if street else ""])
    place = [clean(ship.get(key), LIMITS[key]) for key in ("city", "state", "zip")]
    country = clean(ship.get("country"), LIMITS["country"])
    if any(place) or country:
        heading.append(["N4", *place, country])
    phone = clean(ship.get("phone"), LIMITS["phone"])
    email = clean(ship.get("email"), LIMITS["email"])
    if phone or email:
        contact = ["PER", CONTACT, name]
        if phone:
            contact += ["TE", phone]
        if email:
            contact += ["EM", email]
        heading.append(contact)
    ship_date = (document.get("requested_ship_date") or "").replace("-", "")
    if ship_date:
        if not re.fullmatch(r"\d{8}", ship_date):
            problems.append(f"G62-02: {ship_date!r} is not a date")
        heading.append(["G62", REQUESTED_SHIP_DATE, ship_date])
    carrier = clean(document.get("carrier"), LIMITS["carrier"])
    heading.append(["W66", PREPAID, MOTOR, "", "", carrier])
    return heading


def _detail(lines, problems):
    """One LX + W01 per line, then W76 with the total quantity."""
    if not lines:
        problems.append("LX: a shipping order needs at least one line")
        lines = []
    detail, total = [], Decimal(0)
    for position, line in enumerate(lines, 1):
        where = f"line {line.get('line', position)}"
        quantity = number(line.get("quantity"))
        if not quantity or Decimal(quantity) <= 0 or len(quantity) > 15:
            problems.append(
                f"W01-01 ({where}): {line.get('quantity')!r} is not a quantity"
            )
        else:
            total += Decimal(quantity)
        unit = str(line.get("uom") or "")
        if not UNIT.match(unit):
            problems.append(
                f"W01-02 ({where}): unit {unit!r} has no 2-character X12 code"
            )
        sku = clean(line.get("sku"))
        if not sku or len(sku) > LIMITS["sku"]:
            problems.append(
                f"W01-05 ({where}): SKU {sku!r} is empty or longer than "
                f"{LIMITS['sku']} characters"
            )
        detail.append(["LX", str(position)])
        detail.append(["W01", quantity, unit, "", SKU, sku])
    detail.append(["W76", number(total)])
    return detail


def check_party(qualifier, identifier):
    """Why an interchange sender or receiver is unusable, or None."""
    if qualifier not in ID_QUALIFIERS:
        return f"ISA qualifier {qualifier!r} is not an X12 interchange ID qualifier"
    if not ISA_ID.match(identifier or "") or not identifier.strip():
        return (
            f"ISA ID {identifier!r} must be 1 to 15 letters, digits, spaces, "
            "'.', '_' or '-'"
        )
    return None


def interchange(body, *, sender, receiver, control_number, when, usage="P"):
    """The whole interchange (str): ISA/GS/ST around ``body`` (from
    :func:`segments`), then SE/GE/IEA. ``sender`` and ``receiver`` are
    ``(qualifier, id)`` (ISA05/06 and ISA07/08; GS02/03 take the ids),
    ``control_number`` is ISA13 and GS06 (1 to 999999999), ``when`` an
    aware or UTC datetime."""
    problems = [p for p in (check_party(*sender), check_party(*receiver)) if p]
    if not isinstance(control_number, int) or not 0 < control_number < 10**9:
        problems.append("the control number must be an integer from 1 to 999999999")
    if usage not in ("P", "T"):
        problems.append(f"ISA15 {usage!r}: P or T")
    if problems:
        raise OrderRefused(problems)
    st02 = "0001"
    isa = [
        "ISA",
        "00",
        " " * 10,
        "00",
        " " * 10,
        sender[0],
        f"{sender[1]:<15}",
        receiver[0],
        f"{receiver[1]:<15}",
        when.strftime("%y%m%d"),
        when.strftime("%H%M"),
        "U",
        ISA_VERSION,
        f"{control_number:09}",
        "0",
        usage,
        COMPONENT,
    ]
    envelope = [
        [
            "GS",
            FUNCTIONAL_ID,
            sender[1].strip(),
            receiver[1].strip(),
            when.strftime("%Y%m%d"),
            when.strftime("%H%M"),
            str(control_number),
            "X",
            GS_VERSION,
        ],
        ["ST", SET_ID, st02],
        *body,
        ["SE", str(len(body) + 2), st02],
        ["GE", "1", str(control_number)],
        ["IEA", "1", f"{control_number:09}"],
    ]
    return "".join(ELEMENT.join(seg) + SEGMENT for seg in [isa, *envelope])


def render(document, **envelope):
    """:func:`segments` of ``document`` in :func:`interchange`."""
    return interchange(segments(document), **envelope)


def _trimmed(segment):
    """Trailing empty elements are not written (X12: no trailing
    separators)."""
    while len(segment) > 1 and segment[-1] == "":
        segment.pop()
    return segment
