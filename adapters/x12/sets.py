"""Map the warehouse transaction sets to the addon's inventory events.

One function per set turns its segments into plain dicts (the vocabulary
the addon stores), so the rest of the addon never reads X12. Element
positions follow X12 4010 (see THREEPL_EDI.md); every missing mandatory
segment or unreadable value of every set is reported in one
:class:`X12Error`, because a 3PL fixes a file once, not once per problem.
"""

import re
from decimal import Decimal

from .tokenizer import Problem, X12Error

#: W19-01 (element 181) reason code -> (class, label). The class is what the
#: addon reasons about; the code travels along untouched.
REASONS = {
    "AA": ("count", "Physical Count"),
    "05": ("hold", "Product Put on Hold"),
    "55": ("release", "Product Taken Off Hold"),
    "88": ("release", "Removed from Quality Inspection"),  # 8010
    "AU": ("damage", "Damaged in Facility"),
    "AV": ("damage", "Damaged in Transit"),
    "07": ("destroyed", "Dumped/Destroyed"),
    "AW": ("recall", "Product Recall"),
    "AX": ("expiry", "Shelf-life Obsolescence"),
    "AY": ("correction", "Receipt Error"),
    "AR": ("correction", "Order Shipment Error"),
    "AB": ("correction", "Accounting Error"),
    "04": ("correction", "Receipt Less Than Previously Reported"),
    "53": ("correction", "Shipment Less Than Previously Reported"),
    "56": ("correction", "Book Adjustment Increase"),
    "51": ("found", "Unable-to-Locate Product Located"),
    "AC": ("status", "Condition Change"),
    "AK": ("transfer", "Transfer"),
    "AG": ("ownership", "Ownership Change"),
    "CO": ("ownership", "Consignment"),
    "BM": ("replacement", "Replacement"),
    "AH": ("other", "Other"),
}
#: W12-01 shipment/order status codes named in the facts file.
SHIP_STATUS = {
    "CC": "complete",
    "CP": "partial, no backorder",
    "BP": "partial, backorder",
    "IS": "item substituted",
}
#: Item id qualifiers taken as the depositor's SKU, best first.
SKU_QUALIFIERS = ("SK", "VN", "BP")
#: Functional group (GS01) each set must travel in.
GROUP_OF = {"944": "RE", "945": "SW", "947": "AW", "846": "IB"}
#: W13-03 receiving condition "damaged".
DAMAGED = "01"
NUMBER = re.compile(r"-?(\d+(\.\d*)?|\.\d+)\Z")
HASH_DIGITS = 10  # CTT02 is at most 10 digits; the hash keeps the rightmost


def events(interchange, *, on_hand_qualifier="17", available_qualifier="33"):
    """All inventory events of an interchange, in file order.

    The 846 QTY01 qualifiers for on hand and available are set per partner
    guide (17 and 33 are common, not standard), hence the parameters.
    """
    problems, out = [], []
    for group in interchange.groups:
        for tset in group.sets:
            reader = _Reader(interchange, group, tset, problems)
            mapper = MAPPERS.get(tset.set_id)
            if mapper is None:
                reader.problem(None, f"transaction set {tset.set_id} is not read", "1")
                continue
            if GROUP_OF[tset.set_id] != group.functional_id:
                reader.problem(
                    None,
                    f"a {tset.set_id} travels in a {GROUP_OF[tset.set_id]} group,"
                    f" not {group.functional_id!r}",
                    "1",
                )
                continue
            if tset.set_id == "846":
                result = mapper(reader, on_hand_qualifier, available_qualifier)
            else:
                result = mapper(reader)
            if not reader.failed:
                out.extend(result)
    if problems:
        raise X12Error(sorted(problems, key=lambda p: p.position), interchange)
    return out


def source(interchange, group, tset):
    """Where an event comes from: enough to find a re-sent file even when its
    control numbers were reused (X12.6: sender + control number + date)."""
    return {
        "isa13": interchange.control_number,
        "gs06": group.control_number,
        "st02": tset.control_number,
        "sender": interchange.sender,
        "receiver": interchange.receiver,
        "gs_sender": group.sender,
        "date": group.date,
        "time": group.time,
        "usage": interchange.usage,
        "checksum": interchange.checksum,
    }


class _Reader:
    """Typed access to one set's elements, recording each problem."""

    def __init__(self, interchange, group, tset, problems):
        self.group, self.tset, self.problems = group, tset, problems
        self.source = source(interchange, group, tset)
        self.failed = False

    def problem(self, seg, message, code="5"):
        self.failed = True
        position, sid = (seg.position, seg.id) if seg else (self.tset.position, "ST")
        self.problems.append(
            Problem(
                position,
                sid,
                message,
                self.group.control_number,
                self.tset.control_number,
                code,
            )
        )

    def first(self, sid, required=True):
        for seg in self.tset.segments:
            if seg.id == sid:
                return seg
        if required:
            self.problem(None, f"{sid} missing in {self.tset.set_id}")
        return None

    def all(self, *sids):
        return [seg for seg in self.tset.segments if seg.id in sids]

    def text(self, seg, index, required=False):
        value = seg.text(index).strip() if seg else ""
        if required and seg and not value:
            self.problem(seg, f"{seg.id}{index:02} missing")
        return value or None

    def number(self, seg, index, required=False):
        value = self.text(seg, index, required)
        if value is None:
            return None
        if not NUMBER.match(value) or len(value) > 20:
            self.problem(seg, f"{seg.id}{index:02} {value[:20]!r} is not a number")
            return None
        return Decimal(value)

    def when(self, seg, index, time=None):
        """``YYYY-MM-DD HH:MM:SS`` (Odoo's server format; midnight when the
        file gives no time) from a CCYYMMDD (or YYMMDD) date."""
        value = self.text(seg, index, required=True)
        if value is None:
            return None
        if len(value) == 6 and value.isdigit():
            value = "20" + value
        time = (time or "0000").strip()
        if not (
            len(value) == 8
            and value.isdigit()
            and 1 <= int(value[4:6]) <= 12
            and 1 <= int(value[6:]) <= 31
        ):
            self.problem(seg, f"{seg.id}{index:02} {value[:12]!r} is not a date")
            return None
        if not (time.isdigit() and len(time) >= 4):
            self.problem(seg, f"{seg.id} time {time[:8]!r} is not HHMM[SS]")
            return None
        time = (time + "00")[:6]
        return (
            f"{value[:4]}-{value[4:6]}-{value[6:]}"
            f" {time[:2]}:{time[2:4]}:{time[4:6]}"
        )

    def item(self, seg, upc_index, pairs, required=True):
        """sku / upc / every id of a line, from its qualifier+id pairs."""
        ids = {}
        for qualifier_index in pairs:
            qualifier = self.text(seg, qualifier_index)
            value = self.text(seg, qualifier_index + 1)
            if qualifier and value:
                ids.setdefault(qualifier, value)
            elif qualifier or value:
                self.problem(seg, f"{seg.id}{qualifier_index:02}: qualifier without id")
        case_code = self.text(seg, upc_index) if upc_index else None
        sku = next((ids[q] for q in SKU_QUALIFIERS if q in ids), None)
        upc = ids.get("UP") or case_code
        if required and not (sku or upc):
            self.problem(seg, f"{seg.id}: no SKU (SK/VN/BP) and no UPC")
        return {"sku": sku, "upc": upc, "item_ids": ids}

    def warehouse(self):
        """The warehouse's id (N1-04, else its name) from N1*WH / N1*SF."""
        for seg in self.all("N1"):
            if seg.text(1) in ("WH", "SF"):
                return self.text(seg, 4) or self.text(seg, 2)
        return None

    def time_of(self, date):
        """A G62 time given for ``date`` (W17/W06 carry no time)."""
        for seg in self.all("G62"):
            if seg.text(2) == date and seg.text(4):
                return seg.text(4)
        return None

    def event(self, kind, business_id, **fields):
        return {
            "type": kind,
            "business_id": business_id,
            "set_id": self.tset.set_id,
            "warehouse": self.warehouse(),
            **fields,
            "source": dict(self.source),
        }


def quantity(value):
    """A Decimal as int when whole, else float (JSON- and Odoo-friendly)."""
    if value is None:
        return None
    return int(value) if value == value.to_integral_value() else float(value)


def goods_received(reader):
    """944: one receipt, W07 lines with their W13 exceptions."""
    head = reader.first("W17")
    lines, line, damaged = [], None, []
    numbering = _Numbering()
    for seg in reader.tset.segments:
        if seg.id == "LX":
            numbering.lx(seg)
        elif seg.id == "W07":
            line = {
                "line": numbering.next(),
                **reader.item(seg, 3, (4, 6, 10)),
                "quantity": quantity(reader.number(seg, 1, True)),
                "uom": reader.text(seg, 2, True),
                "lot": reader.text(seg, 8),
                "damaged": 0,
                "exceptions": [],
            }
            lines.append(line)
            damaged.append(Decimal(0))
        elif seg.id == "W13":
            if line is None:
                reader.problem(seg, "W13 before any W07 line")
                continue
            qty = reader.number(seg, 1, True)
            condition = reader.text(seg, 3, True)
            line["exceptions"].append(
                {
                    "quantity": quantity(qty),
                    "uom": reader.text(seg, 2),
                    "condition": condition,
                    "lot": reader.text(seg, 4),
                    "damage_reason": reader.text(seg, 5),
                }
            )
            if condition == DAMAGED and qty is not None:
                damaged[-1] += qty
                line["damaged"] = quantity(damaged[-1])
    if head is None:
        return []
    if not lines:
        reader.problem(None, "944 without W07 lines")
    date = reader.text(head, 2)
    return [
        reader.event(
            "goods_received",
            reader.text(head, 3, True),
            order_ref=reader.text(head, 4),
            reporting_code=reader.text(head, 1),
            received_at=reader.when(head, 2, reader.time_of(date)),
            lines=lines,
        )
    ]


class _Numbering:
    """Line numbers: LX01 when an LX opens the line, else the ordinal."""

    def __init__(self):
        self.number, self.pending = 0, None

    def lx(self, seg):
        self.pending = seg.text(1).strip()

    def next(self):
        lx, self.pending = self.pending, None
        self.number = int(lx) if lx and lx.isdigit() else self.number + 1
        return self.number


def shipment_dispatched(reader):
    """945: one shipment, its LX/W12 lines, carrier and tracking."""
    head = reader.first("W06")
    references, lines = {}, []
    numbering, in_detail = _Numbering(), False
    for seg in reader.tset.segments:
        if seg.id == "LX":
            in_detail = True
            numbering.lx(seg)
        elif seg.id == "N9" and not in_detail:
            qualifier, value = reader.text(seg, 1, True), reader.text(seg, 2, True)
            if qualifier and value:
                references.setdefault(qualifier, value)
        elif seg.id == "W12":
            in_detail = True
            status = reader.text(seg, 1, True)
            ordered = reader.number(seg, 2)
            shipped = reader.number(seg, 3)
            line = {
                "line": numbering.next(),
                **reader.item(seg, 6, (7, 21)),
                "status": status,
                "status_label": SHIP_STATUS.get(status),
                "ordered": quantity(ordered),
                "shipped": quantity(shipped),
                "difference": quantity(reader.number(seg, 4)),
                "uom": reader.text(seg, 5),
                "lot": reader.text(seg, 9),
                "short": status in ("CP", "BP")
                or (None not in (ordered, shipped) and shipped < ordered),
            }
            if status == "IS":
                line["original"] = reader.item(seg, 16, (17,), required=False)
            lines.append(line)
    carrier = reader.first("W27", required=False)
    if head is None:
        return []
    if not lines:
        reader.problem(None, "945 without W12 lines")
    date = reader.text(head, 3)
    return [
        reader.event(
            "shipment_dispatched",
            reader.text(head, 4, True),
            order_ref=reader.text(head, 2, True),
            po_number=reader.text(head, 6),
            reporting_code=reader.text(head, 1),
            shipped_at=reader.when(head, 3, reader.time_of(date)),
            carrier=reader.text(carrier, 2) if carrier else None,
            transport_method=reader.text(carrier, 1) if carrier else None,
            tracking_ref=references.get("CN") or references.get("BM"),
            bill_of_lading=references.get("BM"),
            references=references,
            lines=lines,
        )
    ]


def adjustments(reader):
    """947: one ``adjustment`` event per W19 line, each with its own reason,
    so that a count and a hold in one file are judged apart."""
    head = reader.first("W15")
    found = []
    for number, seg in enumerate(reader.all("W19"), 1):
        reason = reader.text(seg, 1, True)
        klass, label = REASONS.get(reason, ("unknown", None))
        qty = reader.number(seg, 2, True)
        direction = None if qty is None else ("debit" if qty < 0 else "credit")
        found.append(
            {
                "line": number,
                "reason_code": reason,
                "reason_class": klass,
                "reason_label": label,
                # Signed as sent: X12 gives no other direction than the sign.
                "quantity": quantity(qty),
                "direction": direction,
                "uom": reader.text(seg, 3, True),
                **reader.item(seg, 4, (5, 7)),
                "lot": reader.text(seg, 9),
                "transaction_type": reader.text(seg, 16),
            }
        )
    if head is None:
        return []
    if not found:
        reader.problem(None, "947 without W19 lines")
    adjustment = reader.text(head, 2) or reader.text(head, 3)
    if adjustment is None:
        reader.problem(head, "W15 has neither W15-02 nor W15-03")
    adjusted_at = reader.when(head, 1)
    return [
        reader.event(
            "adjustment",
            f"{adjustment}/{line['line']}",
            adjustment_ref=reader.text(head, 2),
            depositor_ref=reader.text(head, 3),
            adjusted_at=adjusted_at,
            **line,
        )
        for line in found
    ]


def snapshot(reader, on_hand_qualifier, available_qualifier):
    """846: one full snapshot, QTY per LIN, checked against CTT."""
    head = reader.first("BIA")
    quantities, items, values = {}, {}, []
    totals = None  # QTY totals of the current LIN
    for seg in reader.tset.segments:
        if seg.id == "LIN":
            item = reader.item(seg, 0, range(2, len(seg), 2))
            key = item["sku"] or item["upc"] or f"?{seg.position}"
            if key in quantities:
                reader.problem(seg, f"item {key[:30]!r} listed twice")
            totals = quantities[key] = {}
            items[key] = item
        elif seg.id == "QTY":
            qualifier, qty = reader.text(seg, 1, True), reader.number(seg, 2, True)
            if totals is None:
                reader.problem(seg, "QTY before any LIN")
            elif qualifier and qty is not None:
                values.append(seg.text(2).strip())
                # Sub-loops (e.g. per location) add up to the item's total.
                totals[qualifier] = totals.get(qualifier, Decimal(0)) + qty
    ctt = reader.first("CTT", required=False)
    if ctt is not None:
        _check_totals(reader, ctt, len(quantities), values)
    if head is None:
        return []
    if not quantities:
        reader.problem(None, "846 without LIN items")
    quantities = {
        k: {q: quantity(v) for q, v in per_item.items()}
        for k, per_item in quantities.items()
    }
    return [
        reader.event(
            "snapshot",
            reader.text(head, 3, True),
            purpose=reader.text(head, 1),
            report_type=reader.text(head, 2),
            as_of=reader.when(head, 4, reader.text(head, 5)),
            quantities=quantities,
            on_hand={k: q.get(on_hand_qualifier) for k, q in quantities.items()},
            available={k: q.get(available_qualifier) for k, q in quantities.items()},
            items=items,
        )
    ]


def _check_totals(reader, ctt, lin_count, values):
    """CTT01 = number of LIN; CTT02 = hash total of QTY02. X12 sums a hash
    without decimal points or signs, keeping the rightmost digits; partners
    also send the plain sum, so either is accepted."""
    count = reader.number(ctt, 1, True)
    if count is not None and count != lin_count:
        reader.problem(ctt, f"CTT01 {quantity(count)}: the set has {lin_count} LIN")
    declared = reader.number(ctt, 2)
    if declared is None:
        return
    plain = sum((Decimal(v) for v in values), Decimal(0))
    digits = sum(int(v.replace("-", "").replace(".", "") or 0) for v in values)
    x12_hash = digits % 10**HASH_DIGITS
    if declared not in (plain, x12_hash):
        reader.problem(
            ctt, f"CTT02 hash total {quantity(declared)}: QTY02 values sum to {plain}"
        )


MAPPERS = {
    "944": goods_received,
    "945": shipment_dispatched,
    "947": adjustments,
    "846": snapshot,
}
