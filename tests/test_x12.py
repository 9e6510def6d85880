"""X12 from 3PLs on files shaped like theirs: delimiters taken from the ISA,
each envelope count checked, every mapped field, the 997 read back by our own
tokenizer, and hostile mutations answered by ``X12Error`` only.
Database-free."""

import hashlib
from datetime import datetime
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from odoo.tests import BaseCase, tagged

from ..adapters.x12 import (
    REASONS,
    X12Error,
    checksum,
    events,
    functional_ack,
    parse,
    rejections,
)

SAMPLES = Path(__file__).parent / "x12_samples"
WHEN = datetime(2024, 5, 6, 7, 8)
FUZZ = settings(
    max_examples=300,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def sample(name):
    return (SAMPLES / name).read_bytes()


def text(name):
    return sample(name).decode()


def problems(data):
    """The problems parsing + mapping ``data`` reports (it must fail)."""
    try:
        events(parse(data))
    except X12Error as error:
        return error.problems
    raise AssertionError("no X12Error")


def messages(data):
    return [f"{p.segment}: {p.message}" for p in problems(data)]


def without_source(event):
    return {k: v for k, v in event.items() if k != "source"}


@tagged("post_install", "-at_install")
class TestX12Tokenizer(BaseCase):
    def test_delimiters_from_isa(self):
        """Each sample declares its own delimiters and they are the ones read."""
        expected = {
            "944_receipt.edi": ("*", ">", "~", None, "\n"),
            "945_shipment.edi": ("|", "^", "~", "!", "\r\n"),
            "947_adjustment.edi": ("*", ">", "\n", None, ""),
            "846_snapshot.edi": ("~", ":", "!", None, "\n"),
        }
        for name, delimiters in expected.items():
            with self.subTest(name):
                self.assertEqual(tuple(parse(sample(name)).delimiters), delimiters)

    def test_same_content_other_delimiters(self):
        """The 944 re-written with other delimiters gives the same events."""
        original = text("944_receipt.edi")
        for table in ("*|>^~\n", "*\x1d>\x1f~\x1c", "*!>:~'"):
            with self.subTest(repr(table)):
                moved = original.translate(str.maketrans(table[::2], table[1::2]))
                moved = moved.replace("\n\n", "\n") if table[5] != "\n" else moved
                self.assertEqual(
                    [without_source(e) for e in events(parse(moved))],
                    [without_source(e) for e in events(parse(original))],
                )

    def test_envelope_fields(self):
        """ISA, GS and ST values land in their fields; segments keep order."""
        interchange = parse(sample("945_shipment.edi"))
        self.assertEqual(interchange.sender, "ZZ:ACME3PL")
        self.assertEqual(interchange.receiver, "ZZ:SCSDEPOSITOR")
        self.assertEqual((interchange.date, interchange.time), ("240503", "0920"))
        self.assertEqual(interchange.control_number, "000001202")
        self.assertEqual((interchange.usage, interchange.version), ("P", "00501"))
        (group,) = interchange.groups
        self.assertEqual(
            (group.functional_id, group.sender, group.receiver, group.date),
            ("SW", "ACME3PL", "SCSDEPOSITOR", "20240503"),
        )
        self.assertEqual((group.control_number, group.version), ("302", "005010"))
        (tset,) = group.sets
        self.assertEqual((tset.set_id, tset.control_number), ("945", "000123"))
        self.assertEqual(len(tset.segments), 12)
        self.assertEqual(
            tset.segments[0],
            ["W06", "N", "SO-1001", "20240503", "SHP-88231", "", "PO-77"],
        )
        self.assertEqual(tset.segments[0].position, 4)

    def test_composites_split(self):
        """An element holding the component separator becomes a tuple."""
        data = text("846_snapshot.edi").replace("QTY~QH~3~EA", "QTY~QH~3~EA:1")
        (tset,) = parse(data).groups[0].sets
        qty = [s for s in tset.segments if s[:2] == ["QTY", "QH"]][0]
        self.assertEqual(qty[3], ("EA", "1"))
        self.assertEqual(qty.text(3), "EA")
        self.assertEqual(events(parse(data))[0]["quantities"]["SKU-BLU-L"]["QH"], 3)

    def test_count_mismatches_each_reported(self):
        """Wrong SE01, SE02, GE01, GE02, IEA01 and IEA02: six problems, one
        error, each with its segment, position and 997 code."""
        data = (
            text("944_receipt.edi")
            .replace("SE*10*0001~", "SE*9*0002~")
            .replace("GE*1*301~", "GE*2*399~")
            .replace("IEA*1*000001201~", "IEA*3*000001299~")
        )
        found = problems(data)
        self.assertEqual(
            [(p.position, p.segment, p.code) for p in found],
            [
                (12, "SE", "4"),
                (12, "SE", "3"),
                (13, "GE", "5"),
                (13, "GE", "4"),
                (14, "IEA", ""),
                (14, "IEA", ""),
            ],
        )
        self.assertIn("the set has 10 segments", found[0].message)
        self.assertEqual((found[0].group, found[0].set), ("301", "0001"))
        self.assertIn("does not match ISA13", found[5].message)

    def test_wrong_se_count(self):
        """An SE01 that misses a segment fails with the count it should be."""
        data = text("947_adjustment.edi").replace("SE*8*0042", "SE*7*0042")
        (problem,) = problems(data)
        self.assertEqual(
            (problem.segment, problem.set, problem.code), ("SE", "0042", "4")
        )
        self.assertIn("SE01 '7': the set has 8 segments", problem.message)

    def test_truncated_isa(self):
        """An ISA cut short is refused with a short excerpt, not the input."""
        data = text("944_receipt.edi")[:60]
        with self.assertRaises(X12Error) as caught:
            parse(data)
        (problem,) = caught.exception.problems
        self.assertEqual((problem.position, problem.segment), (1, "ISA"))
        self.assertIn("truncated ISA", problem.message)
        self.assertLess(len(str(caught.exception)), 200)

    def test_isa_not_fixed_length(self):
        """An unpadded ISA06 is named, and so is the wrong ISA length."""
        data = text("944_receipt.edi").replace("ACME3PL        *", "ACME3PL*", 1)
        found = messages(data)
        self.assertIn(
            "ISA: ISA is 98 characters up to its terminator, expected 106", found
        )
        self.assertIn("ISA: ISA06 is 7 characters, expected 15", found)

    def test_isa_bad_qualifiers(self):
        """Bad ID qualifiers, usage and control number: all reported."""
        data = (
            text("944_receipt.edi")
            .replace("*ZZ*ACME3PL", "*XX*ACME3PL")
            .replace("*0*P*>~", "*0*Q*>~")
            .replace("*000001201*", "*00000120A*")
        )
        found = messages(data)
        self.assertEqual(len(found), 4, found)  # + IEA02 no longer matching
        self.assertIn("ISA: ISA05 'XX': bad interchange ID qualifier", found)
        self.assertIn("ISA: ISA15 'Q': not P, T or I", found)
        self.assertIn("ISA: ISA13 '00000120A': not a numeric control number", found)

    def test_delimiter_not_a_letter(self):
        """A letter where the component separator should be is fatal."""
        data = text("944_receipt.edi").replace("*P*>~", "*P*A~", 1)
        self.assertIn("component separator 'A'", messages(data)[0])

    def test_truncated_file(self):
        """A file cut mid-set names the unterminated segment and the missing
        SE, GE and IEA at once."""
        data = text("945_shipment.edi")
        data = data[: data.index("W03|13")] + "W03|1"
        found = problems(data)
        self.assertEqual(
            [(p.segment, p.code) for p in found],
            [("W03", ""), ("IEA", "2"), ("IEA", "3"), ("IEA", "")],
        )
        self.assertIn("not terminated", found[0].message)

    def test_structure_errors(self):
        """Segments outside a set, a repeated ST02 and data after IEA."""
        data = (
            text("944_receipt.edi")
            .replace("GS*RE", "N9*XX*1~\nGS*RE")
            .replace("IEA*1*000001201~", "IEA*1*000001201~\nST*944*0001~")
        )
        found = messages(data)
        self.assertEqual(
            found, ["N9: segment outside a transaction set", "ST: segment after IEA"]
        )

    def test_excerpts_stay_short(self):
        """A huge bad segment is quoted in a few characters only."""
        data = text("944_receipt.edi").replace("GS*RE", "x" * 5000 + "~GS*RE")
        with self.assertRaises(X12Error) as caught:
            parse(data)
        self.assertLess(len(str(caught.exception)), 300)

    def test_checksum_stable(self):
        """sha256 of the raw bytes: same for bytes and str, for every read,
        different for any other byte."""
        raw = sample("944_receipt.edi")
        expected = hashlib.sha256(raw).hexdigest()
        self.assertEqual(parse(raw).checksum, expected)
        self.assertEqual(parse(raw.decode()).checksum, expected)
        self.assertEqual(checksum(raw), expected)
        changed = raw.replace(b"W07*48", b"W07*49")
        self.assertNotEqual(parse(changed).checksum, expected)

    def test_error_keeps_what_was_read(self):
        """A failing file still hands over its envelopes for the 997."""
        data = text("947_adjustment.edi").replace("SE*8*0042", "SE*7*0042")
        with self.assertRaises(X12Error) as caught:
            parse(data)
        self.assertEqual(caught.exception.interchange.groups[0].control_number, "303")


@tagged("post_install", "-at_install")
class TestX12Sets(BaseCase):
    def test_944_goods_received(self):
        """W17 gives the receipt, W07 the lines, W13 the damaged units."""
        (event,) = events(parse(sample("944_receipt.edi")))
        self.assertEqual(
            without_source(event),
            {
                "type": "goods_received",
                "business_id": "WR-7781",
                "set_id": "944",
                "warehouse": "0614141000012",
                "order_ref": "PO-4410",
                "reporting_code": "F",
                "received_at": "2024-05-02 14:25:00",
                "lines": [
                    {
                        "line": 1,
                        "sku": "SKU-RED-M",
                        "upc": "012345678905",
                        "item_ids": {"SK": "SKU-RED-M", "VN": "V-100"},
                        "quantity": 48,
                        "uom": "EA",
                        "lot": "LOT-A1",
                        "damaged": 0,
                        "exceptions": [],
                    },
                    {
                        "line": 2,
                        "sku": "SKU-BLU-L",
                        "upc": None,
                        "item_ids": {"SK": "SKU-BLU-L"},
                        "quantity": 24,
                        "uom": "EA",
                        "lot": None,
                        "damaged": 2,
                        "exceptions": [
                            {
                                "quantity": 2,
                                "uom": "EA",
                                "condition": "01",
                                "lot": None,
                                "damage_reason": "AP",
                            }
                        ],
                    },
                ],
            },
        )
        self.assertEqual(
            event["source"],
            {
                "isa13": "000001201",
                "gs06": "301",
                "st02": "0001",
                "sender": "ZZ:ACME3PL",
                "receiver": "ZZ:SCSDEPOSITOR",
                "gs_sender": "ACME3PL",
                "date": "20240502",
                "time": "1431",
                "usage": "P",
                "checksum": checksum(sample("944_receipt.edi")),
            },
        )

    def test_945_shipment_dispatched(self):
        """W06 gives the shipment, W12 the lines (one short), W27 the
        carrier, N9 CN the tracking and N9 BM the bill of lading."""
        (event,) = events(parse(sample("945_shipment.edi")))
        lines = event.pop("lines")
        self.assertEqual(
            without_source(event),
            {
                "type": "shipment_dispatched",
                "business_id": "SHP-88231",
                "set_id": "945",
                "warehouse": "0614141000012",
                "order_ref": "SO-1001",
                "po_number": "PO-77",
                "reporting_code": "N",
                "shipped_at": "2024-05-03 09:15:00",
                "carrier": "UPSN",
                "transport_method": "M",
                "tracking_ref": "1Z999AA10123456784",
                "bill_of_lading": "BOL-99120",
                "references": {"BM": "BOL-99120", "CN": "1Z999AA10123456784"},
            },
        )
        self.assertEqual(
            lines[1],
            {
                "line": 2,
                "sku": "SKU-BLU-L",
                "upc": None,
                "item_ids": {"SK": "SKU-BLU-L"},
                "status": "CP",
                "status_label": "partial, no backorder",
                "ordered": 5,
                "shipped": 3,
                "difference": 2,
                "uom": "EA",
                "lot": None,
                "short": True,
            },
        )
        self.assertEqual((lines[0]["status"], lines[0]["short"]), ("CC", False))
        self.assertEqual((lines[0]["upc"], lines[0]["lot"]), ("012345678905", "LOT-A1"))
        self.assertEqual(event["source"]["st02"], "000123")

    def test_945_bill_of_lading_only(self):
        """Without N9 CN the bill of lading is the tracking reference."""
        data = text("945_shipment.edi").replace("N9|CN|", "N9|ZZ|")
        (event,) = events(parse(data))
        self.assertEqual(event["tracking_ref"], "BOL-99120")

    def test_947_adjustments(self):
        """One event per W19: hold, release, damage, count; signed quantity."""
        found = events(parse(sample("947_adjustment.edi")))
        self.assertEqual(
            [
                (
                    e["business_id"],
                    e["reason_code"],
                    e["reason_class"],
                    e["quantity"],
                    e["direction"],
                    e["sku"],
                    e["lot"],
                )
                for e in found
            ],
            [
                ("ADJ-3001/1", "05", "hold", 6, "credit", "SKU-RED-M", "LOT-A1"),
                ("ADJ-3001/2", "55", "release", 4, "credit", "SKU-RED-M", "LOT-A1"),
                ("ADJ-3001/3", "AU", "damage", -2, "debit", "SKU-BLU-L", None),
                ("ADJ-3001/4", "AA", "count", 3, "credit", "V-300", None),
            ],
        )
        third = found[2]
        self.assertEqual(third["upc"], "098765432109")
        self.assertEqual(third["reason_label"], "Damaged in Facility")
        self.assertEqual(
            (third["adjustment_ref"], third["depositor_ref"], third["adjusted_at"]),
            ("ADJ-3001", "DEP-17", "2024-05-04 00:00:00"),
        )
        self.assertEqual(
            (third["uom"], third["line"], third["type"]), ("EA", 3, "adjustment")
        )

    def test_reason_table(self):
        """Every W19 code of the facts file has a class; unknown codes pass
        through as class "unknown"."""
        for code in (
            "AA 05 55 AU AV 07 AW AX AY AR AB 04 53 51 56 AC AK AG CO BM " "AH 88"
        ).split():
            self.assertIn(code, REASONS)
        self.assertEqual(REASONS["05"][0], "hold")
        self.assertEqual(REASONS["55"][0], "release")
        data = text("947_adjustment.edi").replace("W19*AA*", "W19*ZQ*")
        self.assertEqual(events(parse(data))[3]["reason_class"], "unknown")

    def test_846_snapshot(self):
        """BIA gives the snapshot, LIN/QTY the quantities per qualifier."""
        (event,) = events(parse(sample("846_snapshot.edi")))
        self.assertEqual(
            (event["type"], event["business_id"], event["as_of"]),
            ("snapshot", "INV-20240505", "2024-05-05 06:00:00"),
        )
        self.assertEqual((event["purpose"], event["report_type"]), ("00", "DD"))
        self.assertEqual(
            event["quantities"],
            {
                "SKU-RED-M": {"33": 40, "17": 46},
                "SKU-BLU-L": {"33": 19, "17": 22, "QH": 3},
                "V-300": {"33": 0, "17": 0},
            },
        )
        self.assertEqual(
            event["on_hand"], {"SKU-RED-M": 46, "SKU-BLU-L": 22, "V-300": 0}
        )
        self.assertEqual(event["available"]["SKU-BLU-L"], 19)
        self.assertEqual(event["items"]["SKU-RED-M"]["upc"], "012345678905")
        (other,) = events(parse(sample("846_snapshot.edi")), on_hand_qualifier="QH")
        self.assertEqual(other["on_hand"]["SKU-BLU-L"], 3)

    def test_846_ctt_mismatch(self):
        """A wrong CTT hash or line count is refused, both reported."""
        data = text("846_snapshot.edi").replace("CTT~3~130", "CTT~4~131")
        found = messages(data)
        self.assertEqual(len(found), 2, found)
        self.assertIn("CTT: CTT01 4: the set has 3 LIN", found)
        self.assertIn("CTT: CTT02 hash total 131: QTY02 values sum to 130", found)

    def test_846_x12_hash(self):
        """With decimals, both the plain sum and X12's digit hash pass."""
        data = text("846_snapshot.edi").replace("QTY~QH~3~", "QTY~QH~0.5~")
        for total in ("127.5", "132"):
            with self.subTest(total):
                (event,) = events(parse(data.replace("CTT~3~130", f"CTT~3~{total}")))
                self.assertEqual(event["quantities"]["SKU-BLU-L"]["QH"], 0.5)

    def test_missing_segments_all_reported(self):
        """No W17 and an unreadable W07 quantity: both problems, one error,
        tied to the set for its 997."""
        data = (
            text("944_receipt.edi")
            .replace("W17*F*20240502*WR-7781*PO-4410*ASN-5521~", "N9*ZZ*1~")
            .replace("W07*48*", "W07*4x8*")
        )
        found = problems(data)
        self.assertEqual(
            [(p.segment, p.message) for p in found],
            [("ST", "W17 missing in 944"), ("W07", "W0701 '4x8' is not a number")],
        )
        self.assertEqual({(p.set, p.code) for p in found}, {("0001", "5")})

    def test_unknown_set_and_wrong_group(self):
        """An 810 is not read; a 944 in an SW group is refused."""
        data = text("944_receipt.edi").replace("ST*944*", "ST*810*")
        self.assertEqual(messages(data), ["ST: transaction set 810 is not read"])
        data = text("944_receipt.edi").replace("GS*RE*", "GS*SW*")
        self.assertEqual(messages(data), ["ST: a 944 travels in a RE group, not 'SW'"])

    def test_several_problems_at_once(self):
        """Envelope and ISA problems of one file come in one error."""
        data = (
            text("947_adjustment.edi")
            .replace("*ZZ*SCSDEPOSITOR", "*Z9*SCSDEPOSITOR")
            .replace("SE*8*0042", "SE*8*0043")
            .replace("GE*1*303", "GE*0*303")
        )
        found = messages(data)
        self.assertEqual(len(found), 3, found)
        self.assertTrue(found[0].startswith("ISA: ISA07"))


@tagged("post_install", "-at_install")
class TestX12Ack(BaseCase):
    def ack(self, interchange, **kwargs):
        return functional_ack(
            interchange,
            interchange.groups[0],
            interchange_control=7001,
            group_control=71,
            when=WHEN,
            **kwargs,
        )

    def test_accepted(self):
        """A 997 accepting the 945, in the 945's delimiters, envelopes
        swapped, read back by our tokenizer."""
        received = parse(sample("945_shipment.edi"))
        raw = self.ack(received)
        self.assertTrue(raw.startswith("ISA|00|"))
        self.assertTrue(raw.endswith("IEA|1|000007001~\r\n"))
        ack = parse(raw)
        self.assertEqual(ack.delimiters, received.delimiters)
        self.assertEqual(
            (ack.sender, ack.receiver), (received.receiver, received.sender)
        )
        self.assertEqual((ack.control_number, ack.ack_requested), ("000007001", "0"))
        (group,) = ack.groups
        self.assertEqual((group.functional_id, group.control_number), ("FA", "71"))
        self.assertEqual((group.date, group.version), ("20240506", "005010"))
        (tset,) = group.sets
        self.assertEqual(tset.set_id, "997")
        self.assertEqual(
            tset.segments,
            [
                ["AK1", "SW", "302", "005010"],
                ["AK2", "945", "000123"],
                ["AK5", "A"],
                ["AK9", "A", "1", "1", "1"],
            ],
        )

    def test_rejected_from_error(self):
        """A wrong SE count rejects that set with code 4 (AK5 R, AK9 R)."""
        data = text("947_adjustment.edi").replace("SE*8*0042", "SE*7*0042")
        with self.assertRaises(X12Error) as caught:
            parse(data)
        received = caught.exception.interchange
        rejected, group_codes = rejections(
            caught.exception.problems, received.groups[0]
        )
        self.assertEqual((rejected, group_codes), ({"0042": ["4"]}, []))
        ack = parse(self.ack(received, rejected=rejected))
        self.assertEqual(ack.delimiters, received.delimiters)
        self.assertEqual(
            ack.groups[0].sets[0].segments,
            [
                ["AK1", "AW", "303"],
                ["AK2", "947", "0042"],
                ["AK5", "R", "4"],
                ["AK9", "R", "1", "1", "0"],
            ],
        )

    def test_group_error_and_mapping_rejection(self):
        """A GE count error goes to AK9; a mapping problem rejects with 5."""
        data = text("944_receipt.edi").replace("GE*1*301~", "GE*2*301~")
        with self.assertRaises(X12Error) as caught:
            parse(data)
        received = caught.exception.interchange
        self.assertEqual(
            rejections(caught.exception.problems, received.groups[0]), ({}, ["5"])
        )
        data = text("944_receipt.edi").replace("W07*48*", "W07*4x8*")
        with self.assertRaises(X12Error) as caught:
            events(parse(data))
        rejected, _codes = rejections(caught.exception.problems, parse(data).groups[0])
        ack = parse(self.ack(parse(data), rejected=rejected, group_errors=["5"]))
        self.assertEqual(
            ack.groups[0].sets[0].segments[2:],
            [["AK5", "R", "5"], ["AK9", "R", "1", "1", "0", "5"]],
        )

    def test_control_numbers_checked(self):
        """Control numbers are integers of at most nine digits."""
        received = parse(sample("944_receipt.edi"))
        for bad in (0, 10**9, "12"):
            with self.subTest(bad), self.assertRaises(ValueError):
                functional_ack(
                    received,
                    received.groups[0],
                    interchange_control=bad,
                    group_control=1,
                )


mutations = st.lists(
    st.tuples(
        st.sampled_from(["delete", "insert", "replace"]),
        st.integers(min_value=0, max_value=2000),
        st.integers(min_value=1, max_value=30),
        st.text(alphabet="*>~|^!:\n\r0123456789ASTEGIWQ -.\x00é", max_size=8),
    ),
    min_size=1,
    max_size=4,
)


@tagged("post_install", "-at_install")
class TestX12Fuzz(BaseCase):
    def check(self, data):
        try:
            found = events(parse(data))
        except X12Error as error:
            self.assertTrue(error.problems)
            self.assertLess(len(str(error)), 3000)
        else:
            self.assertIsInstance(found, list)

    @FUZZ
    @given(st.sampled_from(sorted(p.name for p in SAMPLES.glob("*.edi"))), mutations)
    def test_mutated_samples(self, name, edits):
        """Random edits of a valid file parse or raise X12Error, nothing else."""
        data = text(name)
        for kind, at, size, chars in edits:
            at %= len(data) + 1
            if kind == "delete":
                data = data[:at] + data[at + size :]
            elif kind == "insert":
                data = data[:at] + chars + data[at:]
            else:
                data = data[:at] + chars + data[at + len(chars) :]
        self.check(data)

    @FUZZ
    @given(st.binary(max_size=300))
    def test_random_bytes(self, data):
        """Arbitrary bytes raise X12Error, nothing else."""
        self.check(data)
        self.check(sample("944_receipt.edi")[:106] + data)
