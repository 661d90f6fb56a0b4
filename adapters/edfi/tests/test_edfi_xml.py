"""Tests of the edfi-xml adapter: conformance kit, v1/v2/v5 layouts, calendar, unsafe XML."""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from attendance_core.adapters import Source, get_adapter
from attendance_core.errors import AttendanceError, FormatError, RegisterError
from attendance_core.testing import check_conformance, drain, load

DATA = Path(__file__).parent / "data" / "xml"
DISTRICT = DATA / "district"
EVENTS = DISTRICT / "StudentAttendance.xml"
BAD = DATA / "bad.xml"
JSON_DISTRICT = Path(__file__).parent / "data" / "json" / "district"


def grid(long: pd.DataFrame) -> dict[tuple[str, str], tuple[str, ...]]:
    """(pupil, day) -> codes in session order."""
    out: dict[tuple[str, str], tuple[str, ...]] = {}
    for (pupil, day), part in long.groupby(["pupil_id", "date"]):
        out[(str(pupil), str(pd.Timestamp(day).date()))] = tuple(
            part.sort_values("session")["code"]
        )
    return out


@pytest.fixture(scope="module")
def expected() -> dict[tuple[str, str], tuple[str, ...]]:
    """The JSON district's register (same facts in the other format)."""
    got = grid(load(JSON_DISTRICT).register.to_long())
    assert got[("604822", "2024-09-06")] == ("O", "C")
    return got


def test_conformance() -> None:
    result = check_conformance("edfi-xml", EVENTS, expect_rows=11, bad_sample=BAD, structured=True)
    # the row of a rejected event is the line its element starts on
    assert list(result.rejected["row"]) == [81]


def test_district_folder_matches_the_json_district(
    expected: dict[tuple[str, str], tuple[str, ...]],
) -> None:
    result = load(DISTRICT)
    assert result.format == "edfi-xml"
    assert grid(result.register.to_long()) == expected
    assert result.rows_read == 27
    assert any("section/program attendance" in w for w in result.warnings)
    pupils = result.pupils
    assert pupils.loc["604824", "admission_date"] == pd.Timestamp("2024-09-05")
    assert pupils.loc["604822", "year_group"] == "Ninth grade"
    assert pupils.loc["604822", "name"] == "Ana Grand"


def test_calendar_and_students_options(expected: dict[tuple[str, str], tuple[str, ...]]) -> None:
    result = load(
        EVENTS,
        calendar=DISTRICT / "EducationOrgCalendar.xml",
        students=DISTRICT / "StudentEnrollment.xml",
    )
    assert grid(result.register.to_long()) == expected


def test_v2_codevalue_descriptors() -> None:
    result = load(DATA / "v2" / "StudentAttendance.xml")
    got = grid(result.register.to_long())
    assert got == {("604822", "2024-09-03"): ("C", "C"), ("604823", "2024-09-04"): ("L", "\\")}


def test_v1_namespace_attendance_event() -> None:
    result = load(DATA / "v1" / "StudentAttendance.xml")
    got = grid(result.register.to_long())
    assert got == {
        ("student123", "2012-12-20"): ("N", "N"),
        ("student124", "2012-12-20"): ("C", "C"),
    }
    assert set(result.register.to_long()["school_id"]) == {"school123"}
    rej = result.rejected
    assert list(zip(rej["row"], rej["column"], rej["reason"], strict=True)) == [
        (39, "AttendanceEventType", "not_daily_attendance")
    ]


def test_raise_names_line_and_element() -> None:
    with pytest.raises(RegisterError) as info:
        load(BAD, errors="raise")
    assert (info.value.row, info.value.column) == (30, "EventDate")
    assert "row 30" in str(info.value)


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol9 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<InterchangeStudentAttendance xmlns="http://ed-fi.org/0200">&lol9;</InterchangeStudentAttendance>
"""

EXTERNAL = b"""<?xml version="1.0"?>
<!DOCTYPE x [<!ENTITY ext SYSTEM "file:///etc/passwd">]>
<InterchangeStudentAttendance xmlns="http://ed-fi.org/0200"><StudentSchoolAttendanceEvent>
<EventDate>&ext;</EventDate></StudentSchoolAttendanceEvent></InterchangeStudentAttendance>
"""


@pytest.mark.parametrize("data", [BILLION_LAUGHS, EXTERNAL], ids=["billion-laughs", "external"])
def test_unsafe_xml_is_a_quick_format_error(data: bytes) -> None:
    started = time.perf_counter()
    with pytest.raises(FormatError, match="unsafe XML"):
        drain("edfi-xml", data)
    with pytest.raises(FormatError):
        load(data, format="edfi-xml")
    assert time.perf_counter() - started < 2


def test_other_xml_is_not_edfi() -> None:
    adapter = get_adapter("edfi-xml")
    other = b'<?xml version="1.0"?><Register xmlns="urn:sims"><Mark/></Register>'
    assert not adapter.sniff(Source.of(other))
    with pytest.raises(FormatError, match="not an Ed-Fi interchange"):
        drain("edfi-xml", other)
    foreign = b'<InterchangeStudentAttendance xmlns="urn:other"/>'
    with pytest.raises(FormatError, match="not an Ed-Fi namespace"):
        drain("edfi-xml", foreign)
    assert adapter.sniff(Source.of(EVENTS))
    assert adapter.sniff(Source.of(DISTRICT))
    assert adapter.sniff(Source.of(DATA / "v1" / "StudentAttendance.xml"))
    assert not get_adapter("edfi-json").sniff(Source.of(EVENTS))


@pytest.mark.parametrize("encoding", ["utf-16", "windows-1252", "iso-8859-1"])
def test_declared_encodings(encoding: str) -> None:
    text = EVENTS.read_text(encoding="utf-8").replace('encoding="UTF-8"', f'encoding="{encoding}"')
    data = text.replace("Illness", "Illness caf\u00e9").encode(encoding)
    assert get_adapter("edfi-xml").sniff(Source.of(data))
    result = load(data, format="edfi-xml")
    assert result.rows_read == 11


def test_truncated_xml_names_the_line() -> None:
    data = EVENTS.read_bytes()
    with pytest.raises(FormatError) as info:
        drain("edfi-xml", data[: len(data) // 2])
    assert info.value.row is not None


_texts = st.text(alphabet=st.characters(blacklist_categories=["Cs", "Cc"]), max_size=16)


@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    st.lists(
        st.tuples(
            st.sampled_from(
                [
                    "EventDate",
                    "AttendanceEventCategory",
                    "EventDuration",
                    "StudentUniqueId",
                    "SchoolId",
                    "AttendanceEventType",
                ]
            ),
            _texts,
        ),
        max_size=8,
    )
)
def test_fuzz_event_fields(fields: list[tuple[str, str]]) -> None:
    from xml.sax.saxutils import escape

    body = "".join(f"<{k}>{escape(v)}</{k}>" for k, v in fields)
    data = (
        '<InterchangeStudentAttendance xmlns="http://ed-fi.org/0200">'
        f"<StudentSchoolAttendanceEvent>{body}</StudentSchoolAttendanceEvent>"
        "</InterchangeStudentAttendance>"
    ).encode()
    try:
        result = load(data, format="edfi-xml")
    except AttendanceError:
        return
    assert result.rows_read == len(result.register.to_long()) + len(result.rejected)


# --------------------------------------------------------------------- issue 16: real layouts
V52 = DATA / "v52"


def _weekdays(first: str, last: str) -> list[str]:
    days = pd.date_range(first, last, freq="D")
    return [str(d.date()) for d in days if d.weekday() < 5]


def test_v52_present_category_and_session_dates_fill_a_partial_calendar() -> None:
    """The v5.2 sample's layout: sessions with begin/end dates for each school, a calendar that
    lists two dates only; events carry the v5.2 'Present' category."""
    result = load(V52)
    long = result.register.to_long()
    got = grid(long)
    fall = _weekdays("2021-08-23", "2021-12-17")
    assert len(fall) == 85
    assert not len(result.rejected)
    # every pupil has both sessions of every weekday of the fall session, and nothing else
    for pupil in ("604822", "604823", "605001"):
        assert sorted(d for p, d in got if p == pupil) == fall
    assert got[("604822", "2021-08-31")] == ("C", "C")
    assert got[("604822", "2021-09-14")] == ("L", "\\")
    assert got[("604822", "2021-11-09")] == ("/", "\\")  # Present: no longer unknown_code
    assert got[("605001", "2021-12-17")] == ("/", "\\")
    assert got[("604823", "2021-10-06")] == ("/", "\\")  # Partial, half day: AM + filled PM
    assert result.rows_read == len(long) == 3 * 85 * 2
    warnings = "\n".join(result.warnings)
    # the two-date calendar is flagged, and where the Session dates came from is said
    assert (
        "school 255901107: the calendar lists 2 date(s) between 2021-08-23 and 2021-12-17"
        in warnings
    )
    assert "partial calendar" in warnings
    assert "school 255901001: instructional days taken from 1 Session(s)" in warnings
    assert "85 weekday(s), the sessions declare 81" in warnings


def test_v52_session_days_off_keeps_only_listed_dates() -> None:
    result = load(V52, session_days=False)
    got = grid(result.register.to_long())
    # 255901107 keeps its two listed days (plus its event day off the calendar)
    assert sorted(d for p, d in got if p == "605001") == [
        "2021-08-23",
        "2021-09-01",
        "2021-12-17",
    ]
    # 255901001 has no calendar dates: only its event days, and a warning says so
    assert sorted(d for p, d in got if p == "604822") == ["2021-08-31", "2021-09-14", "2021-11-09"]
    assert any("school(s) 255901001: no calendar dates or sessions" in w for w in result.warnings)
    assert any("partial calendar" in w for w in result.warnings)


def test_calendar_file_alone_warns_and_marks_nothing() -> None:
    result = load(V52 / "EducationOrgCalendar.xml")
    assert len(result.register.to_long()) == 0
    assert result.rows_read == 0
    assert any(
        "no attendance event records" in w and "2 calendar date(s), 2 session(s)" in w
        for w in result.warnings
    )


def test_v1_calendar_plain_calendar_event_and_holidays() -> None:
    """Ed-Fi Core 1.0 calendar: CalendarEvent is the enumeration text, the school a
    StateOrganizationId under EducationOrgReference."""
    result = load(DATA / "v1")
    got = grid(result.register.to_long())
    assert got[("student123", "2012-12-17")] == ("/", "\\")
    assert got[("student123", "2012-12-20")] == ("N", "N")
    assert ("student123", "2012-12-24") not in got  # Holiday
    assert sorted(d for p, d in got if p == "student123") == _weekdays("2012-12-17", "2012-12-21")
    # student124's 21 December event was a section event (rejected): the day is not filled
    assert ("student124", "2012-12-21") not in got
    assert not any("partial" in w or "Session" in w for w in result.warnings)


def _calendar(event_xml: str, ns: str = "http://ed-fi.org/0100") -> bytes:
    dates = "".join(
        f"<CalendarDate><Date>2012-12-{d}</Date>{event_xml}<EducationOrgReference>"
        "<EducationalOrgIdentity><StateOrganizationId>school123</StateOrganizationId>"
        "</EducationalOrgIdentity></EducationOrgReference></CalendarDate>"
        for d in (17, 18, 19, 20, 21)
    )
    root = "InterchangeEducationOrgCalendar"
    return f'<{root} xmlns="{ns}">{dates}</{root}>'.encode()


def test_calendar_event_description_is_read(tmp_path: Path) -> None:
    """A calendar event written out as a descriptor, whose Description is the standard
    value while its CodeValue is local, still makes an instructional day."""
    cal = tmp_path / "cal.xml"
    cal.write_bytes(
        _calendar(
            "<CalendarEvent><CodeValue>ID</CodeValue>"
            "<Description>Instructional day</Description></CalendarEvent>"
        )
    )
    result = load(DATA / "v1" / "StudentAttendance.xml", calendar=cal)
    got = grid(result.register.to_long())
    assert got[("student123", "2012-12-17")] == ("/", "\\")
    assert not any("no calendar event the adapter knows" in w for w in result.warnings)


def test_unknown_calendar_events_are_warned_not_silently_dropped(tmp_path: Path) -> None:
    cal = tmp_path / "cal.xml"
    cal.write_bytes(_calendar("<CalendarEvent>School day</CalendarEvent>"))
    result = load(DATA / "v1" / "StudentAttendance.xml", calendar=cal)
    got = grid(result.register.to_long())
    assert ("student123", "2012-12-17") not in got
    assert any(
        "5 calendar date(s)" in w and "School day" in w and "instructional_events" in w
        for w in result.warnings
    )
    assert any("marks none of its 5 date(s) instructional" in w for w in result.warnings)
    fixed = load(
        DATA / "v1" / "StudentAttendance.xml", calendar=cal, instructional_events=("School day",)
    )
    assert grid(fixed.register.to_long())[("student123", "2012-12-17")] == ("/", "\\")
