"""Tests of the wonde-json adapter: conformance kit, join, ids, codes, sniffing, fuzzing."""

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
SINGLE = DATA / "session_single.json"
BAD = DATA / "session_bad.json"


def _pages() -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted(SCHOOL.glob("*.json"))]


def test_conformance() -> None:
    result = check_conformance(
        "wonde-json", SINGLE, expect_rows=12, bad_sample=BAD, structured=True
    )
    assert len(result.rejected) == 0


def test_folder_joins_students_codes_and_attendance() -> None:
    result = load(SCHOOL)
    assert result.format == "wonde-json"
    assert result.rows_read == 18
    assert result.rejected.empty
    long = result.register.to_long()
    assert set(long["pupil_id"]) == {"J873123000001", "Y873123000002", "M873123000003"}
    ben = long[long["pupil_id"] == "Y873123000002"]
    assert list(ben["code"]) == ["I", "I", "/", "\\", "N", "O"]
    ada = long[(long["pupil_id"] == "J873123000001")]
    assert ada.iloc[2]["code"] == "L"


def test_pupils_frame_keeps_three_ids_apart() -> None:
    pupils = load(SCHOOL).pupils
    assert pupils.index.name == "pupil_id"
    ada = pupils.loc["J873123000001"]
    assert ada["upn"] == "J873123000001"
    assert ada["mis_id"] == "1001"
    assert ada["wonde_id"] == "A1749191433"
    assert ada["year_group"] == "Y7"
    assert ada["date_of_birth"] == pd.Timestamp("2013-10-01")
    # 2079-06-06 is the "not left" sentinel; null too; a real date stays
    assert pd.isna(ada["leaving_date"])
    assert pd.isna(pupils.loc["Y873123000002", "leaving_date"])
    assert pupils.loc["M873123000003", "leaving_date"] == pd.Timestamp("2024-09-30")
    # upi is Wonde's person hash, never a UPN
    assert "6f2c0d6a8e1b4c2d9e0f1a2b3c4d5e6f" not in set(pupils["upn"])


def test_open_end_dates_are_configurable() -> None:
    pupils = load(SCHOOL, open_end_dates=()).pupils
    assert pupils.loc["J873123000001", "leaving_date"] == pd.Timestamp("2079-06-06")


def test_school_id_option_stamps_marks_and_pupils() -> None:
    result = load(SCHOOL, school_id="A1930499544")
    assert set(result.register.to_long()["school_id"]) == {"A1930499544"}
    assert set(result.pupils["school_id"]) == {"A1930499544"}


def test_iterable_of_pages_equals_folder() -> None:
    from_folder = load(SCHOOL).register.to_long()
    from_pages = load(_pages(), format="wonde-json").register.to_long()
    pd.testing.assert_frame_equal(from_folder, from_pages)
    # a generator works too (read once)
    from_gen = load((p for p in _pages()), format="wonde-json").register.to_long()
    pd.testing.assert_frame_equal(from_folder, from_gen)


def test_file_with_array_of_pages(tmp_path: Path) -> None:
    path = tmp_path / "all.json"
    path.write_text(json.dumps(_pages()))
    assert len(load(path).register.to_long()) == 18


def test_pupil_key_mis_id_and_auto_fallback() -> None:
    long = load(SCHOOL, pupil_key="mis_id").register.to_long()
    assert set(long["pupil_id"]) == {"1001", "1002", "1003"}
    pages = _pages()
    students = next(p for p in pages if "upi" in p["data"][0])
    del students["data"][1]["extended_details"]
    result = load(pages, format="wonde-json")
    assert set(result.register.to_long()["pupil_id"]) == {"1001", "1002", "1003"}
    assert any("keyed on mis_id" in w for w in result.warnings)


def test_unknown_student_and_unresolved_code_are_rejected() -> None:
    pages = _pages()
    att = [p for p in pages if "session" in p["data"][0]]
    att[0]["data"][0]["student"] = "A9999999999"
    att[0]["data"][1]["attendance_code"] = "A2999999999"
    result = load(pages, format="wonde-json")
    rej = result.rejected.set_index("row")
    assert rej.loc[1, "reason"] == "unknown_pupil"
    assert rej.loc[1, "column"] == "student"
    assert rej.loc[2, "reason"] == "unknown_code"
    assert rej.loc[2, "column"] == "attendance_code"
    assert result.rows_read == len(result.register.to_long()) + len(result.rejected)


def test_codes_option_resolves_ids_without_code_pages() -> None:
    pages = [p for p in _pages() if "code" not in p["data"][0] or "session" in p["data"][0]]
    without = load(pages, format="wonde-json")
    assert (without.rejected["reason"] == "unknown_code").all()
    codes = {
        c["id"]: c["code"]
        for c in json.loads((SCHOOL / "attendance-codes.json").read_text())["data"]
    }
    withc = load(pages, format="wonde-json", codes=codes)
    assert withc.rejected.empty
    assert len(withc.register.to_long()) == 18


def test_raise_stops_at_first_bad_row() -> None:
    with pytest.raises(RegisterError) as info:
        load(BAD, errors="raise")
    assert info.value.row == 3
    assert info.value.column == "date"
    collected = load(BAD)
    assert list(collected.rejected["row"]) == [3, 5]
    assert list(collected.rejected["reason"]) == ["bad_date", "bad_session"]


def test_sniff_tells_wonde_from_assembly_and_edfi(tmp_path: Path) -> None:
    adapter = get_adapter("wonde-json")
    assert adapter.sniff(Source.of(SINGLE))
    assert adapter.sniff(Source.of(SCHOOL))
    assert adapter.sniff(Source.of(_pages()))
    assembly_v10 = {
        "object": "list",
        "total_count": 1,
        "total_pages": 1,
        "current_page": 1,
        "data": [
            {
                "object": "attendance",
                "student_id": 1,
                "session_date": "2024-09-02",
                "session_name": "AM",
                "attendance_mark": "/",
            }
        ],
    }
    assert not adapter.sniff(Source.of(json.dumps(assembly_v10).encode()))
    assembly_v11 = json.dumps(assembly_v10["data"]).encode()
    assert not adapter.sniff(Source.of(assembly_v11))
    edfi = b'[{"eventDate": "2024-09-03", "studentReference": {"studentUniqueId": "1"}}]'
    assert not adapter.sniff(Source.of(edfi))
    assert not adapter.sniff(Source.of(b"\x00\xff garbage"))
    # meta far behind a long data block is still found (tail)
    big = json.loads(SINGLE.read_text())
    big["data"] = big["data"] * 200
    assert adapter.sniff(Source.of(json.dumps(big).encode()))


def test_incomplete_paging_is_warned() -> None:
    pages = [json.loads((SCHOOL / "attendance-session-1.json").read_text())]
    result = load(pages, format="wonde-json")
    assert any("incomplete" in w for w in result.warnings)


def test_empty_and_truncated_are_format_errors() -> None:
    with pytest.raises(FormatError):
        drain("wonde-json", b"   \n")
    data = SINGLE.read_bytes()
    with pytest.raises(FormatError):
        drain("wonde-json", data[: len(data) // 3])
    with pytest.raises(FormatError):
        drain("wonde-json", b'{"meta": {"pagination": {}}}')


def test_messages_carry_no_personal_fields() -> None:
    pages = _pages()
    students = next(p for p in pages if "upi" in p["data"][0])
    students["data"][0]["date_of_birth"] = "not a date"
    result = load(pages, format="wonde-json")
    text = " ".join(result.warnings)
    assert "date_of_birth" in text
    assert "Ada" not in text
    assert "Example" not in text


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "data",
                    "meta",
                    "student",
                    "date",
                    "session",
                    "attendance_code",
                    "id",
                    "code",
                    "upi",
                    "mis_id",
                    "forename",
                    "pagination",
                    "more",
                ]
            ),
            inner,
            max_size=6,
        )
    ),
    max_leaves=30,
)


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(st.fixed_dictionaries({"data": _json, "meta": _json}), min_size=1, max_size=3))
def test_fuzz_pages_raise_only_attendance_errors(pages: list[dict[str, Any]]) -> None:
    try:
        result = load(pages, format="wonde-json")
    except AttendanceError:
        return
    assert result.rows_read == len(result.register.to_long()) + len(result.rejected)


# -- no silent loss -----------------------------------------------------------------------------

ASSEMBLY_V11 = Path(__file__).parents[2] / "assembly/tests/data/school/attendances-1.json"
#: Assembly's v1.0 list envelope also has a "data" key (shape from the Assembly section of
#: spec/mis-formats.md; values made up)
ASSEMBLY_V10 = (
    b'{"object": "list", "data": [{"object": "attendance", "id": 501, "student_id": 1234, '
    b'"session_date": "2024-09-02", "session_name": "AM", "attendance_mark": "/"}], '
    b'"current_page": 1, "total_pages": 1, "meta": {"pagination": {"next": null}}}'
)


def test_assembly_pages_and_schools_pages_are_refused() -> None:
    with pytest.raises(FormatError, match="Assembly"):
        load(ASSEMBLY_V10, format="wonde-json")
    schools = {
        "data": [{"id": "A1930499544", "name": "Example School", "urn": 100000}],
        "meta": {"pagination": {"next": None, "more": False, "per_page": 50}},
    }
    with pytest.raises(FormatError, match="a schools page"):
        load([schools], format="wonde-json")
    empty = load(
        [{"data": [], "meta": {"pagination": {"next": None, "more": False}}}], format="wonde-json"
    )
    assert any("nothing loaded" in w for w in empty.warnings)
    with pytest.raises(FormatError):
        load(ASSEMBLY_V11, format="wonde-json")
    check_foreign("wonde-json", ASSEMBLY_V10)
