"""Tests of the edfi-json adapter: conformance kit, categories, sessions, calendar fill, fuzzing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from attendance_core.adapters import Source, get_adapter
from attendance_core.errors import AttendanceError, FormatError, RegisterError
from attendance_core.testing import check_conformance, drain, load

DATA = Path(__file__).parent / "data" / "json"
EVENTS = DATA / "studentSchoolAttendanceEvents.json"
DISTRICT = DATA / "district"
BAD = DATA / "bad.json"
LOCAL = "uri://grandbend.example.org/AttendanceEventCategoryDescriptor#Medical Appointment"

#: The district fixture with its calendar (3-6 Sep 2024 instructional, 2 Sep a holiday).
EXPECTED = {
    ("604822", "2024-09-03"): ("C", "C"),
    ("604822", "2024-09-04"): ("L", "\\"),
    ("604822", "2024-09-05"): ("/", "\\"),
    ("604822", "2024-09-06"): ("O", "C"),
    ("604823", "2024-09-03"): ("O", "\\"),
    ("604823", "2024-09-04"): ("/", "\\"),
    ("604823", "2024-09-06"): ("/", "\\"),
    ("604824", "2024-09-05"): ("/", "\\"),
    ("604824", "2024-09-06"): ("/", "\\"),
    **{("604825", f"2024-09-0{d}"): ("/", "\\") for d in (3, 4, 5, 6)},
}


def grid(long: pd.DataFrame) -> dict[tuple[str, str], tuple[str, ...]]:
    """(pupil, day) -> codes in session order."""
    out: dict[tuple[str, str], tuple[str, ...]] = {}
    for (pupil, day), part in long.groupby(["pupil_id", "date"]):
        out[(str(pupil), str(pd.Timestamp(day).date()))] = tuple(
            part.sort_values("session")["code"]
        )
    return out


def test_conformance() -> None:
    result = check_conformance("edfi-json", EVENTS, expect_rows=11, bad_sample=BAD, structured=True)
    assert list(result.rejected["reason"]) == ["unmapped_symbol"]


def test_district_folder_with_calendar_fills_present_days() -> None:
    result = load(DISTRICT)
    assert result.format == "edfi-json"
    assert grid(result.register.to_long()) == EXPECTED
    assert set(result.register.to_long()["school_id"]) == {"255901001"}
    # the local descriptor is rejected and its day is not filled as present
    rej = result.rejected
    assert list(rej["reason"]) == ["unmapped_symbol"]
    assert rej.iloc[0]["column"] == "attendanceEventCategoryDescriptor"
    assert result.rows_read == 27
    # the adapter's own rejected rows hold the value as load() shows it
    output = get_adapter("edfi-json").read(Source.of(DISTRICT))
    for _ in output.marks:
        pass
    # kept cut to 40 characters, as every rejected value (issue 19: compact rejected rows)
    value = output.rejected[0]["value"]
    assert value.startswith("uri://grandbend.example.org/") and len(value) == 40


def test_calendar_and_students_as_options_equal_folder() -> None:
    folder = load(DISTRICT).register.to_long()
    events = [
        *json.loads((DISTRICT / "studentSchoolAttendanceEvents-1.json").read_text()),
        *json.loads((DISTRICT / "studentSchoolAttendanceEvents-2.json").read_text()),
    ]
    students = [
        *json.loads((DISTRICT / "students.json").read_text()),
        *json.loads((DISTRICT / "studentSchoolAssociations.json").read_text()),
    ]
    opts = load(
        json.dumps(events).encode(),
        format="edfi-json",
        calendar=DISTRICT / "calendarDates.json",
        students=students,
    )
    pd.testing.assert_frame_equal(folder, opts.register.to_long())


def test_local_descriptor_through_caller_mapping() -> None:
    result = load(DISTRICT, descriptor_map={LOCAL: "M"})
    assert result.rejected.empty
    assert grid(result.register.to_long())[("604823", "2024-09-05")] == ("M", "M")
    # a mapping may name a category instead of a code, and match the bare code value
    other = load(DISTRICT, descriptor_map={"Medical Appointment": "Excused Absence"})
    assert grid(other.register.to_long())[("604823", "2024-09-05")] == ("C", "C")


def test_without_calendar_only_event_days_exist() -> None:
    result = load(EVENTS)
    got = grid(result.register.to_long())
    assert got[("604822", "2024-09-03")] == ("C", "C")  # eventDuration 1.0: both sessions
    assert got[("604822", "2024-09-04")] == ("L", "\\")  # Tardy, no duration: late AM
    assert got[("604823", "2024-09-03")] == ("O",)  # 0.5: AM only, flagged
    assert got[("604822", "2024-09-06")] == ("O", "C")  # two half days: AM then PM
    assert ("604825", "2024-09-03") not in got
    assert any("no calendar" in w for w in result.warnings)
    assert any("half-day" in w for w in result.warnings)


def test_pupils_from_students_and_associations() -> None:
    pupils = load(DISTRICT).pupils
    assert pupils.index.name == "pupil_id"
    assert set(pupils.index) == {"604822", "604823", "604824", "604825"}
    row = pupils.loc["604825"]
    assert row["school_id"] == "255901001"
    assert row["year_group"] == "Ninth grade"
    assert row["date_of_birth"] == pd.Timestamp("2010-01-20")
    assert row["admission_date"] == pd.Timestamp("2024-08-20")
    assert row["leaving_date"] == pd.Timestamp("2024-09-30")
    # enrolment bounds the fill: 604824 entered on 5 Sep
    long = load(DISTRICT).register.to_long()
    assert long[long["pupil_id"] == "604824"]["date"].min() == pd.Timestamp("2024-09-05")


def test_instructional_events_option_and_off_calendar_events() -> None:
    result = load(DISTRICT, instructional_events=("Holiday",))
    got = grid(result.register.to_long())
    assert got[("604825", "2024-09-02")] == ("/", "\\")
    assert ("604825", "2024-09-03") not in got
    assert any("does not mark as instructional" in w for w in result.warnings)


def test_bare_code_values_and_unknown_standard_value() -> None:
    recs = json.loads(EVENTS.read_text())[:2]
    recs[0]["attendanceEventCategoryDescriptor"] = "Unexcused Absence"
    recs[1]["attendanceEventCategoryDescriptor"] = (
        "uri://ed-fi.org/AttendanceEventCategoryDescriptor#Nap"
    )
    result = load(json.dumps(recs).encode(), format="edfi-json")
    assert grid(result.register.to_long())[("604822", "2024-09-03")] == ("O", "O")
    assert list(result.rejected["reason"]) == ["unknown_code"]


def test_conflicting_full_day_events_are_never_overwritten() -> None:
    recs = json.loads(EVENTS.read_text())[:1]
    other = dict(recs[0], attendanceEventCategoryDescriptor="Unexcused Absence")
    result = load(json.dumps([recs[0], other]).encode(), format="edfi-json")
    assert result.register.to_long().empty
    assert set(result.rejected["reason"]) == {"duplicate_session"}
    assert result.rows_read == len(result.rejected) == 4


def test_raise_at_first_bad_row() -> None:
    with pytest.raises(RegisterError) as info:
        load(BAD, errors="raise")
    assert (info.value.row, info.value.column) == (2, "eventDate")
    rej = load(BAD).rejected
    assert list(zip(rej["row"], rej["column"], rej["reason"], strict=True)) == [
        (2, "eventDate", "bad_date"),
        (3, "eventDuration", "bad_value"),
        (4, "attendanceEventCategoryDescriptor", "unmapped_symbol"),
    ]


def test_sniff_recognises_own_files_only() -> None:
    adapter = get_adapter("edfi-json")
    assert adapter.sniff(Source.of(EVENTS))
    assert adapter.sniff(Source.of(DISTRICT))
    wonde = (
        b'{"data": [{"student": "A1", "date": "2024-09-02", "session": "AM"}], '
        b'"meta": {"pagination": {"more": false}}}'
    )
    assembly = b'[{"object": "attendance", "student_id": 1, "session_name": "AM"}]'
    assert not adapter.sniff(Source.of(wonde))
    assert not adapter.sniff(Source.of(assembly))
    assert not get_adapter("wonde-json").sniff(Source.of(EVENTS))
    assert not get_adapter("assembly-json").sniff(Source.of(EVENTS))


def test_not_edfi_json_is_a_format_error() -> None:
    with pytest.raises(FormatError):
        drain("edfi-json", b'[{"foo": 1}]')
    with pytest.raises(FormatError):
        drain("edfi-json", b'"text"')
    with pytest.raises(FormatError):
        drain("edfi-json", b"[" * 900 + b"]" * 900)
    with pytest.raises(FormatError):
        drain("edfi-json", EVENTS.read_bytes()[:-9])


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "eventDate",
                    "attendanceEventCategoryDescriptor",
                    "eventDuration",
                    "studentReference",
                    "studentUniqueId",
                    "schoolReference",
                    "schoolId",
                    "date",
                    "calendarEvents",
                    "calendarEventDescriptor",
                    "entryDate",
                    "calendarReference",
                ]
            ),
            inner,
            max_size=6,
        )
    ),
    max_leaves=30,
)


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(_json, min_size=1, max_size=6))
def test_fuzz_records_raise_only_attendance_errors(records: list[Any]) -> None:
    try:
        result = load(json.dumps(records).encode(), format="edfi-json")
    except AttendanceError:
        return
    assert result.rows_read == len(result.register.to_long()) + len(result.rejected)


# --------------------------------------------------------------------- issue 16: real layouts
SESSIONS = DATA / "sessions.json"


def _records(path: Path) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = json.loads(path.read_text(encoding="utf-8"))
    return out


def test_present_category_of_the_v52_descriptor_set() -> None:
    events = _records(DISTRICT / "studentSchoolAttendanceEvents-1.json")[:1]
    events[0]["attendanceEventCategoryDescriptor"] = (
        "uri://ed-fi.org/AttendanceEventCategoryDescriptor#Present"
    )
    result = load(events, format="edfi-json")
    assert not len(result.rejected)
    assert grid(result.register.to_long()) == {("604822", "2024-09-03"): ("/", "\\")}


def test_sessions_resource_fills_days_when_there_is_no_calendar() -> None:
    events = [
        *_records(DISTRICT / "studentSchoolAttendanceEvents-1.json"),
        *_records(DISTRICT / "studentSchoolAttendanceEvents-2.json"),
    ]
    result = load(events, format="edfi-json", calendar=SESSIONS)
    got = grid(result.register.to_long())
    weekdays = [f"2024-09-{d:02d}" for d in (2, 3, 4, 5, 6, 9, 10, 11, 12, 13)]
    assert sorted(d for p, d in got if p == "604824") == weekdays
    assert got[("604822", "2024-09-03")] == ("C", "C")
    assert any(
        "instructional days taken from 1 Session(s) (2024-09-02..2024-09-13): 10 weekday(s), "
        "the sessions declare 9" in w
        for w in result.warnings
    )
    assert not any("no calendar:" in w for w in result.warnings)


def test_calendar_short_of_the_session_total_is_flagged_but_used() -> None:
    result = load(DISTRICT, calendar=SESSIONS)
    assert grid(result.register.to_long()) == EXPECTED  # a full calendar is not replaced
    assert any(
        "fewer instructional days than the session(s) declare" in w
        and "'2024-2025 Fall Semester' 4 of 9" in w
        for w in result.warnings
    )


def test_calendar_dates_alone_warn_and_mark_nothing() -> None:
    result = load(DISTRICT / "calendarDates.json")
    assert len(result.register.to_long()) == 0
    assert any(
        "no attendance event records" in w and "5 calendar date(s)" in w for w in result.warnings
    )


def test_session_days_must_be_a_bool() -> None:
    # the core wraps an adapter's option error in a FormatError; the cause names the option
    with pytest.raises(FormatError) as caught:
        load(EVENTS, session_days="no")
    assert isinstance(caught.value.__cause__, TypeError)
    assert "session_days must be True or False" in str(caught.value.__cause__)
