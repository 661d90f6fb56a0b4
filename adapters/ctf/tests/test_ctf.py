"""Tests of the ctf-xml adapter; fixtures follow the CTF/census shapes of mis-formats.md."""

from __future__ import annotations

import datetime as dt
import io
import time
import warnings
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from attendance_core_ctf import CtfXmlAdapter, expand_marks
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from attendance_core.adapters import LoadResult, Source, load
from attendance_core.errors import AttendanceError, AttendanceWarning, FormatError, RegisterError
from attendance_core.testing import AdapterConformance, check_conformance, drain

DATA = Path(__file__).parent / "data"
CTF = DATA / "ctf_yeardata.xml"
CENSUS = DATA / "census_termly.xml"


class TestConformance(AdapterConformance):
    @pytest.fixture
    def format(self) -> str:
        return "ctf-xml"

    @pytest.fixture
    def sample(self) -> Path:
        return CTF

    @pytest.fixture
    def bad_sample(self) -> Path:
        return CTF

    @pytest.fixture
    def structured(self) -> bool:
        return True

    @pytest.fixture
    def expect_rows(self) -> int:
        return 15


def test_census_conformance() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AttendanceWarning)
        check_conformance("ctf-xml", CENSUS, structured=True, expect_rows=0, examples=15)


def _load(source: Any, **options: Any) -> LoadResult:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AttendanceWarning)
        return load(source, format="ctf-xml", **options)


def test_ctf_totals() -> None:
    totals = _load(CTF).totals
    assert totals is not None
    got = [
        (
            r.pupil_id,
            r.school_id,
            str(r.start)[:10],
            str(r.end)[:10],
            r.possible,
            r.attended,
            r.authorised,
            r.unauthorised,
            r.period,
        )
        for r in totals.itertuples()
    ]
    assert got == [
        ("D201200101001", "2012345", "2023-09-01", "2024-08-31", 300, 286, 10, 4, "2023"),
        ("D201200101001", "2012345", "2024-09-02", "2025-08-31", 150, 142, 6, 2, "2024"),
        ("T201200101002", "2012345", "2024-09-02", "2025-08-31", 150, 150, 0, 0, "2024"),
    ]
    assert str(totals["possible"].dtype) == "Int64"


def test_ctf_marks_string_expanded_on_weekdays() -> None:
    result = _load(CTF)
    long = result.register.to_long()
    got = [(str(r.date)[:10], r.session, r.code) for r in long.itertuples()]
    assert got == [
        ("2024-09-02", "AM", "/"),
        ("2024-09-02", "PM", "\\"),
        ("2024-09-03", "AM", "I"),
        ("2024-09-03", "PM", "I"),
        ("2024-09-04", "AM", "/"),
        ("2024-09-04", "PM", "\\"),
        # Thursday 5th: two spaces = no session
        ("2024-09-06", "AM", "/"),
        ("2024-09-06", "PM", "N"),
        ("2024-09-09", "AM", "#"),
        ("2024-09-09", "PM", "#"),  # weekend skipped
        ("2024-09-10", "AM", "/"),
        ("2024-09-10", "PM", "\\"),
    ]
    assert set(long["pupil_id"]) == {"D201200101001"}
    assert list(result.rejected.itertuples(index=False, name=None)) == [
        (39, "AttendanceMarks", "/\\/\\/", "bad_record"),  # odd length
        (46, "SessionsPossible", "abc", "bad_value"),
        (50, "SessionsPossible", 10, "bad_record"),  # 8 + 4 > 10
    ]
    assert result.rows_read == 15


def test_ctf_pupils() -> None:
    pupils = _load(CTF).pupils
    assert list(pupils.index) == [
        "D201200101001",
        "T201200101002",
        "G201200101003",
        "W201200101004",
    ]
    assert pupils.loc["D201200101001", "name"] == "Amira Khan"
    assert pupils.loc["D201200101001", "year_group"] == "5"
    assert pupils.loc["T201200101002", "date_of_birth"] == pd.Timestamp("2015-07-14")
    assert set(pupils["school_id"]) == {"2012345"}


def test_census_termly_totals_from_session_details() -> None:
    result = _load(CENSUS)
    assert result.format == "ctf-xml"
    assert result.rows_read == 0
    totals = result.totals
    assert totals is not None
    first, second = totals.to_dict("records")
    assert (first["possible"], first["authorised"], first["unauthorised"], first["attended"]) == (
        120,
        4,
        2,
        114,
    )  # I -> authorised, O -> unauthorised
    assert first["reason_I"] == 4
    assert first["period"] == "SPR 2025"
    assert pd.isna(first["start"])
    assert (second["authorised"], second["unauthorised"], second["reason_M"]) == (3, 1, 3)
    assert set(totals["school_id"]) == {"2012345"}
    assert any("without term dates" in w for w in result.warnings)


def test_school_option_and_unknown_reason() -> None:
    result = _load(CTF, school_id="9990001")
    assert result.totals is not None
    assert set(result.totals["school_id"]) == {"9990001"}
    text = CENSUS.read_bytes().replace(b"<AttendanceReason>O<", b"<AttendanceReason>Q9<")
    result = _load(text)
    assert list(result.rejected["reason"]) == ["unknown_code"]


def test_errors_raise_at_first_bad_block() -> None:
    with pytest.raises(RegisterError) as info:
        _load(CTF, errors="raise")
    err = info.value
    # totals are checked when read() runs, before marks are drained
    assert (err.row, err.column, err.reason) == (46, "SessionsPossible", "bad_value")
    assert "ctf_yeardata.xml" in str(err)


@pytest.mark.parametrize(
    ("marks", "start", "why"),
    [
        ("/\\XYZ?", "2024-09-02", "alphabet"),
        ("/\\" * 263, "2024-09-02", "academic year"),
        ("/\\" * 10, "2025-08-25", "academic year"),
        ("/\\", "02/09/2024", "StartDate"),
    ],
)
def test_marks_strings_that_do_not_fit(marks: str, start: str, why: str) -> None:
    doc = (
        "<CTfile><CTFpupilData><Pupil><UPN>D201200101001</UPN><Attendance><YearData>"
        f"<AttendanceStartDate>{start}</AttendanceStartDate>"
        f"<AttendanceMarks>{marks.replace('?', '&#63;')}</AttendanceMarks>"
        "</YearData></Attendance></Pupil></CTFpupilData></CTfile>"
    ).encode()
    out = CtfXmlAdapter().read(Source.of(doc))
    assert list(out.marks) == []
    assert [r["reason"] for r in out.rejected] == ["bad_record"]
    with pytest.raises(RegisterError, match=why):
        drain("ctf-xml", doc, errors="raise")


def test_unsafe_and_broken_xml() -> None:
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE CTfile [<!ENTITY a "aaaaaaaaaa">'
        b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]><CTfile>&b;</CTfile>'
    )
    began = time.perf_counter()
    with pytest.raises(FormatError, match="refused"):
        _load(bomb)
    assert time.perf_counter() - began < 2.0
    data = CTF.read_bytes()
    with pytest.raises(FormatError) as info:
        _load(data[: len(data) // 2])
    assert info.value.row is not None
    with pytest.raises(FormatError, match="not a CTF"):
        _load(b"<SIMSAttendanceExport/>")


def test_sniff_own_and_not_others() -> None:
    adapter = CtfXmlAdapter()
    assert adapter.sniff(Source.of(CTF))
    assert adapter.sniff(Source.of(CENSUS))
    for other in (
        b'<?xml version="1.0"?><SIMSAttendanceExport><Pupil/></SIMSAttendanceExport>',
        b'<InterchangeStudentAttendance xmlns="http://ed-fi.org/0200"/>',
        b"<Message><Header/><Body>not census</Body></Message>",
        b'{"attendanceRecords": []}',
        b"",
    ):
        assert adapter.sniff(Source.of(other)) is False


@settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    pairs=st.lists(st.text(alphabet="/\\IOLN#- ", min_size=2, max_size=2), max_size=60),
    start=st.dates(dt.date(2020, 9, 1), dt.date(2030, 9, 30)),
)
def test_expand_marks_property(pairs: list[str], start: dt.date) -> None:
    marks = "".join(pairs)
    rows = expand_marks(marks, start)
    assert len(rows) == sum(1 for c in marks if c != " ")
    assert all(day.weekday() < 5 for day, _, _ in rows)
    assert [d for d, _, _ in rows] == sorted(d for d, _, _ in rows)
    days = {d for d, _, _ in rows}
    assert len(days) <= len(pairs)


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    possible=st.text(max_size=5),
    authorised=st.text(alphabet="0123456789x", max_size=3),
    marks=st.text(alphabet="/\\IO #-?", max_size=12),
)
def test_fuzz_values_keep_the_row_invariant(possible: str, authorised: str, marks: str) -> None:
    from xml.sax.saxutils import escape

    doc = (
        "<CTfile><CTFpupilData><Pupil><UPN>D201200101001</UPN><Attendance><YearData>"
        f"<Year>2024</Year><SessionsPossible>{escape(possible)}</SessionsPossible>"
        f"<SessionsAuthorised>{authorised}</SessionsAuthorised>"
        "<SessionsUnauthorised>0</SessionsUnauthorised>"
        f"<AttendanceStartDate>2024-09-02</AttendanceStartDate>"
        f"<AttendanceMarks>{escape(marks)}</AttendanceMarks>"
        "</YearData></Attendance></Pupil></CTFpupilData></CTfile>"
    ).encode()
    try:
        result = load(io.BytesIO(doc), format="ctf-xml")
    except AttendanceError:
        return
    assert result.rows_read == len(result.register.to_long()) + len(result.rejected)


def test_invalid_upn_is_a_warning_not_a_rejection() -> None:
    text = CTF.read_bytes().replace(b"D201200101001", b"A201200101001")
    result = _load(text)
    assert len(result.register.to_long()) == 12
    assert result.totals is not None
    assert "A201200101001" in set(result.totals["pupil_id"])
    assert any("invalid UPN check letter" in w for w in result.warnings)


# -- the layouts real exporters write (see tests/data/README.md) --------------------------------

ATTEND_SESSIONS = DATA / "ctf_attendsessions.xml"
SECONDARY = DATA / "census_secondary.xml"


def test_marks_inside_attend_sessions_are_read() -> None:
    result = _load(ATTEND_SESSIONS)
    long = result.register.to_long()
    assert len(long) == 20  # ten weekdays from Monday 2 September 2024, AM and PM
    assert result.rows_read == 20
    assert len(result.rejected) == 0
    codes = long.groupby("code").size().to_dict()
    assert codes == {"/": 7, "\\": 7, "I": 2, "#": 2, "N": 2}
    first = long.sort_values(["date", "session"]).iloc[0]
    assert str(pd.Timestamp(first["date"]).date()) == "2024-09-02"
    assert set(long["school_id"]) == {"2012345"}
    totals = result.totals
    assert totals is not None and len(totals) == 1
    row = totals.iloc[0]
    assert (row["possible"], row["authorised"], row["unauthorised"]) == (18, 2, 2)
    assert pd.Timestamp(row["start"]).date() == dt.date(2024, 9, 2)


def test_census_blocks_school_and_late_first_pupil() -> None:
    head = SECONDARY.read_bytes()
    assert head.find(b"<PupilOnRoll>") > 8192  # the Classes push the first pupil past 8 KiB
    assert CtfXmlAdapter().sniff(Source.of(SECONDARY))
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always", AttendanceWarning)
        result = load(SECONDARY)
    assert result.format == "ctf-xml"
    totals = result.totals
    assert totals is not None
    assert sorted(totals["period"]) == [
        "SPR 2025",
        "SPR 2025",
        "SPR 2025 AnnualAttendance",
        "SPR 2025 SummerHalfTerm2Attendance",
    ]
    assert set(totals["school_id"]) == {"2014567"}  # Header/Source LEA + Estab
    annual = totals[totals["period"] == "SPR 2025 AnnualAttendance"].iloc[0]
    assert (annual["possible"], annual["attended"], annual["reason_I"]) == (330, 315, 10)
    assert not any("not read" in str(w.message) for w in seen)


def test_unknown_attendance_block_and_no_pupils_warn() -> None:
    text = CENSUS.read_text(encoding="utf-8").replace(
        "<Attendance><TermlyAttendance>", "<Attendance><FutureAttendance/><TermlyAttendance>", 1
    )
    result = _load(text.encode())
    assert any("<FutureAttendance> attendance block(s) not read" in w for w in result.warnings)
    empty = b"<CTfile><Header/><CTFpupilData/></CTfile>"
    result = _load(empty)
    assert any("no pupil records" in w for w in result.warnings)
    no_blocks = (
        b"<CTfile><CTFpupilData><Pupil><UPN>D201200101001</UPN></Pupil></CTFpupilData></CTfile>"
    )
    result = _load(no_blocks)
    assert any("no attendance block" in w for w in result.warnings)
