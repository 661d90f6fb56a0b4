"""Tests of the assembly-json adapter: conformance kit, join, keys, dates, paging, fuzzing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from attendance_core.adapters import Source, get_adapter, load
from attendance_core.errors import AttendanceError, FormatError, RegisterError
from attendance_core.testing import check_conformance, check_foreign, drain

pytestmark = pytest.mark.filterwarnings("ignore::attendance_core.errors.AttendanceWarning")

DATA = Path(__file__).parent / "data"
SCHOOL = DATA / "school"
V11 = DATA / "attendances_v11.json"
BAD = DATA / "attendances_bad.json"


def _docs() -> dict[str, Any]:
    return {p.name: json.loads(p.read_text()) for p in sorted(SCHOOL.glob("*.json"))}


def _pages(docs: dict[str, Any]) -> list[Any]:
    return [docs[k] for k in sorted(docs)]


def test_conformance() -> None:
    result = check_conformance(
        "assembly-json", V11, expect_rows=12, bad_sample=BAD, structured=True
    )
    assert result.rejected.empty


def test_v11_array_keys_on_assembly_id_without_students() -> None:
    result = load(V11)
    assert set(result.register.to_long()["pupil_id"]) == {"1234", "1235"}
    assert any("Assembly student id" in w for w in result.warnings)


def test_folder_joins_students_and_keys_on_upn() -> None:
    result = load(SCHOOL)
    assert result.format == "assembly-json"
    assert result.rows_read == 12
    assert result.rejected.empty
    long = result.register.to_long()
    dee = long[long["pupil_id"] == "C873000000501"]
    # session_date as date, date-time with offset, and 23:00Z (= midnight BST next day)
    assert [str(d.date()) for d in dee["date"]] == ["2024-09-02"] * 2 + ["2024-09-03"] * 2 + [
        "2024-09-04"
    ] * 2
    assert list(dee["code"]) == ["/", "\\", "L", "\\", "I", "I"]
    eli = long[long["pupil_id"] == "R873000000502"]
    assert list(eli["code"])[-1] == "-"  # a null mark is a missing mark


def test_pupils_keep_assembly_and_mis_ids_and_open_end_dates() -> None:
    pupils = load(SCHOOL).pupils
    dee = pupils.loc["C873000000501"]
    assert dee["assembly_id"] == "1234"
    assert dee["mis_id"] == "501"
    assert dee["year_group"] == "5"
    assert dee["date_of_birth"] == pd.Timestamp("2014-02-11")
    assert dee["admission_date"] == pd.Timestamp("2020-09-03")
    assert pd.isna(dee["leaving_date"])  # 2079-06-06
    assert pd.isna(pupils.loc["R873000000502", "leaving_date"])  # null
    assert pupils.loc["F873000000503", "leaving_date"] == pd.Timestamp("2024-07-19")
    kept = load(SCHOOL, open_end_dates=()).pupils
    assert kept.loc["C873000000501", "leaving_date"] == pd.Timestamp("2079-06-06")


def test_pupil_key_falls_back_when_upn_scope_not_granted() -> None:
    docs = _docs()
    for s in docs["students.json"]["data"]:
        s["upn"] = None
    result = load(_pages(docs), format="assembly-json")
    assert set(result.register.to_long()["pupil_id"]) == {"501", "502"}
    assert any("keyed on mis_id" in w for w in result.warnings)
    for s in docs["students.json"]["data"]:
        s["mis_id"] = None
    result = load(_pages(docs), format="assembly-json")
    assert set(result.register.to_long()["pupil_id"]) == {"1234", "1235"}


def test_totals_from_summaries_are_exact_integers() -> None:
    totals = load(SCHOOL).totals
    assert totals is not None
    assert list(totals.columns) == [
        "pupil_id",
        "school_id",
        "start",
        "end",
        "possible",
        "attended",
        "authorised",
        "unauthorised",
    ]
    row = totals.set_index("pupil_id").loc["R873000000502"]
    assert (row["possible"], row["attended"], row["authorised"], row["unauthorised"]) == (
        5,
        2,
        1,
        2,
    )
    assert totals["possible"].dtype == "int64"


def test_school_id_option_stamps_marks_and_pupils() -> None:
    result = load(SCHOOL, school_id="100001")
    assert set(result.register.to_long()["school_id"]) == {"100001"}
    assert set(result.pupils["school_id"]) == {"100001"}


def test_unknown_student_rejected_and_marks_on_inset_warned() -> None:
    docs = _docs()
    docs["attendances-1.json"][0]["student_id"] = 9999
    docs["attendances-2.json"][0]["session_date"] = "2024-09-05"
    result = load(_pages(docs), format="assembly-json")
    rej = result.rejected.set_index("row")
    assert rej.loc[1, "reason"] == "unknown_pupil"
    assert rej.loc[1, "column"] == "student_id"
    assert any("Holiday/Inset" in w for w in result.warnings)


def test_v10_wrapped_attendance_and_missing_pages() -> None:
    recs = json.loads(V11.read_text())
    page = {
        "object": "list",
        "total_count": 40,
        "total_pages": 3,
        "current_page": 1,
        "prev_page": None,
        "next_page": 2,
        "data": recs,
    }
    result = load(json.dumps(page).encode(), format="assembly-json")
    assert len(result.register.to_long()) == 12
    assert any("2, 3 of 3 missing" in w for w in result.warnings)
    assert get_adapter("assembly-json").sniff(Source.of(json.dumps(page).encode()))


def test_iterable_of_records_is_one_page() -> None:
    recs = json.loads(V11.read_text())
    result = load(recs, format="assembly-json")
    assert len(result.register.to_long()) == 12
    assert get_adapter("assembly-json").sniff(Source.of(recs))


def test_raise_names_row_and_column() -> None:
    with pytest.raises(RegisterError) as info:
        load(BAD, errors="raise")
    assert (info.value.row, info.value.column) == (2, "session_name")
    assert list(load(BAD).rejected["reason"]) == ["bad_session", "bad_date"]


def test_sniff_tells_assembly_from_wonde_and_edfi() -> None:
    adapter = get_adapter("assembly-json")
    assert adapter.sniff(Source.of(V11))
    assert adapter.sniff(Source.of(SCHOOL))
    wonde = {
        "data": [
            {
                "id": "A1",
                "student": "A2",
                "date": "2024-09-02",
                "session": "AM",
                "attendance_code": "A3",
            }
        ],
        "meta": {"pagination": {"next": None, "more": False}},
    }
    assert not adapter.sniff(Source.of(json.dumps(wonde).encode()))
    assert not get_adapter("wonde-json").sniff(Source.of(V11))
    edfi = b'[{"eventDate": "2024-09-03", "studentReference": {"studentUniqueId": "1"}}]'
    assert not adapter.sniff(Source.of(edfi))
    assert not adapter.sniff(Source.of(b"[1, 2, 3]"))


def test_not_assembly_json_is_a_format_error() -> None:
    with pytest.raises(FormatError):
        drain("assembly-json", b'{"data": [1]}')
    with pytest.raises(FormatError):
        drain("assembly-json", b"[1, 2, 3]")
    with pytest.raises(FormatError):
        drain("assembly-json", b"")


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "object",
                    "data",
                    "student_id",
                    "session_date",
                    "session_name",
                    "attendance_mark",
                    "id",
                    "upn",
                    "mis_id",
                    "dob",
                    "end_date",
                    "type",
                    "possible_sessions",
                    "total_pages",
                    "current_page",
                ]
            ),
            inner,
            max_size=7,
        )
    ),
    max_leaves=30,
)


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(st.lists(_json, max_size=4), min_size=1, max_size=3))
def test_fuzz_pages_raise_only_attendance_errors(pages: list[Any]) -> None:
    try:
        result = load(pages, format="assembly-json")
    except AttendanceError:
        return
    assert result.rows_read == len(result.register.to_long()) + len(result.rejected)


# -- real layouts and no silent loss ------------------------------------------------------------

EDFI_JSON = Path(__file__).parents[2] / "edfi/tests/data/json/studentSchoolAttendanceEvents.json"


def test_open_end_sentinel_as_the_php_client_writes_it() -> None:
    # Assembly's PHP client documents 2079-06-06T23:59:00.000Z as "not left"; in London time
    # that is 7 June, so the sentinel must be compared before any time-zone conversion
    students = [
        {
            "object": "student",
            "id": 1,
            "upn": "C873000000501",
            "first_name": "A",
            "last_name": "B",
            "end_date": "2079-06-06T23:59:00.000Z",
        },
        {
            "object": "student",
            "id": 2,
            "upn": "D873000000502",
            "first_name": "C",
            "last_name": "D",
            "end_date": "2025-07-18T23:00:00.000Z",
        },
    ]
    result = load([students], format="assembly-json")
    assert pd.isna(result.pupils.loc["C873000000501", "leaving_date"])
    # a real leaving date written in UTC is the London date (midnight BST)
    assert result.pupils.loc["D873000000502", "leaving_date"] == pd.Timestamp("2025-07-19")


def test_another_format_is_a_format_error() -> None:
    with pytest.raises(FormatError, match="no Assembly records"):
        load(EDFI_JSON, format="assembly-json")
    empty = load(b"[]", format="assembly-json")
    assert any("no records" in w for w in empty.warnings)
    check_foreign("assembly-json", EDFI_JSON)
