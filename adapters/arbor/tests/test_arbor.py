"""Tests of the arbor-json adapter; fixtures follow the Arbor REST v2 shapes of mis-formats.md."""

from __future__ import annotations

import contextlib
import copy
import io
import json
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from attendance_core_arbor import ArborJsonAdapter, MarkRules, parse_stamp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from attendance_core.adapters import LoadResult, Source, load
from attendance_core.errors import AttendanceError, AttendanceWarning, FormatError, RegisterError
from attendance_core.testing import AdapterConformance

DATA = Path(__file__).parent / "data"
LISTING = DATA / "arbor_listing.json"
PAGES = DATA / "pages"
FLAGS = (
    "isStatisticalPresent",
    "isStatisticalApprovedEducationalActivity",
    "isStatisticalAuthorizedAbsent",
    "isStatisticalUnauthorizedAbsent",
)


class TestConformance(AdapterConformance):
    @pytest.fixture
    def format(self) -> str:
        return "arbor-json"

    @pytest.fixture
    def sample(self) -> Path:
        return LISTING

    @pytest.fixture
    def bad_sample(self) -> Path:
        return LISTING

    @pytest.fixture
    def structured(self) -> bool:
        return True

    @pytest.fixture
    def expect_rows(self) -> int:
        return 8


def _load(source: Any, **options: Any) -> LoadResult:
    with warnings_ignored():
        return load(source, format="arbor-json", **options)


@contextlib.contextmanager
def warnings_ignored() -> Any:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AttendanceWarning)
        yield


def _marks(result: LoadResult) -> dict[tuple[str, str, str], str]:
    long = result.register.to_long()
    return {(r.pupil_id, str(r.date)[:10], r.session): r.code for r in long.itertuples()}


EXPECTED = {
    ("D201200101001", "2024-09-02", "AM"): "/",  # expanded register -> isMorning
    ("D201200101001", "2024-09-02", "PM"): "L",
    ("D201200101001", "2024-09-03", "AM"): "O",  # letter '/' but flags unauthorised
    ("T201200101002", "2024-09-02", "PM"): "I",  # no register: 13:20 -> PM, inferred
    ("T201200101002", "2024-09-03", "PM"): "X",  # not a possible session
}
EXPECTED_REJECTED = [
    (7, "attendanceMark", "B", "flag_mismatch"),  # two category flags
    (8, "startDatetime", "2024-02-30 08:45:00", "bad_date"),
    (10, "attendanceMark", "MYSTERY", "missing_value"),  # stub not in the lookup
]


def test_listing_marks_rejections_and_warnings() -> None:
    with pytest.warns(AttendanceWarning, match="flag_mismatch"):
        result = load(LISTING)
    assert result.format == "arbor-json"
    assert _marks(result) == EXPECTED
    assert list(result.rejected.itertuples(index=False, name=None)) == EXPECTED_REJECTED
    assert result.rows_read == 8  # 10 records - 1 redundant - 1 lesson register
    text = "\n".join(result.warnings)
    assert "1 superseded record(s) (isRedundant) skipped: rows 4" in text
    assert "1 lesson-register record(s) skipped" in text
    assert "inferred from the start time" in text
    assert "rows 6" in text
    assert "row 5: '/' -> 'O' (unauthorised)" in text


def test_pupils_frame_and_upn_history() -> None:
    pupils = _load(LISTING).pupils
    assert list(pupils.index) == ["D201200101001", "T201200101002"]
    assert pupils.loc["T201200101002", "mis_id"] == "1225"
    assert not pupils.loc["T201200101002", "upn_temporary"]
    assert pupils.loc["D201200101001", "name"] == "Amira Khan"


def test_date_of_birth_from_the_students_person() -> None:
    # The SDK keeps dateOfBirth on Person (Student.person), not on Student; see data/README.md.
    pupils = _load(DATA / "arbor_person_dob.json").pupils
    assert pupils.loc["D201200101001", "date_of_birth"] == pd.Timestamp("2014-03-10")
    assert pupils.loc["T201200101002", "date_of_birth"] == pd.Timestamp("2014-04-11")
    # a dateOfBirth on the student object itself still wins
    doc = json.loads((DATA / "arbor_person_dob.json").read_text())
    doc["students"][0]["dateOfBirth"] = "2015-01-02"
    pupils = _load(json.dumps(doc).encode()).pupils
    assert pupils.loc["D201200101001", "date_of_birth"] == pd.Timestamp("2015-01-02")


def test_2017_layout_session_gives_the_register_type() -> None:
    # SDK models 2017-2019: a record names its `session` (no attendanceRegister, event or
    # isRedundant); see data/README.md.
    result = _load(DATA / "arbor_2017_session.json")
    inferred = [w for w in result.warnings if "inferred from the start time" in w]
    assert inferred and inferred[0].endswith("rows 6")  # only the record with no session
    assert any("lesson-register record(s) skipped" in w and "rows 3" in w for w in result.warnings)
    marks = result.register.to_long()
    listing = _load(LISTING).register.to_long()
    assert set(marks["session"]) == {"AM", "PM"}
    assert set(map(tuple, marks[["pupil_id", "date", "session"]].astype(str).values)) <= set(
        map(tuple, listing[["pupil_id", "date", "session"]].astype(str).values)
    )
    # without isRedundant the superseded copy is no longer dropped: both copies are rejected
    assert list(result.rejected.query("reason == 'duplicate_session'")["row"]) == [1, 4]


def test_temporary_upn_current_on_the_record_date() -> None:
    doc = json.loads(LISTING.read_text())
    for record in doc["attendanceRecords"]:
        for key in ("startDatetime", "endDatetime"):
            record[key]["date"] = record[key]["date"].replace("2024-09", "2023-12")
    result = _load(json.dumps(doc).encode())
    assert "P20120010100A" in set(result.register.to_long()["pupil_id"])
    assert result.pupils.loc["P20120010100A", "upn_temporary"]


def test_folder_of_pages_and_page_dicts_match_the_listing() -> None:
    listing = _load(LISTING)
    folder = _load(PAGES)
    pages = [json.loads(p.read_text()) for p in sorted(PAGES.glob("*.json"))]
    dicts = _load(iter(pages))
    for other in (folder, dicts):
        assert _marks(other) == EXPECTED
        assert list(other.rejected.itertuples(index=False, name=None)) == EXPECTED_REJECTED
        assert other.rows_read == listing.rows_read


def test_single_resource_and_detection_of_pages() -> None:
    result = _load(DATA / "arbor_single.json")
    assert _marks(result) == {("1224", "2024-09-04", "AM"): "/"}  # no UPN lookup: Arbor id
    assert ArborJsonAdapter().sniff(Source.of(PAGES))
    assert ArborJsonAdapter().sniff(Source.of([{"attendanceRecords": []}]))
    with warnings_ignored():
        assert load(PAGES).format == "arbor-json"


def test_pupil_key_arbor_and_forced_upn() -> None:
    result = _load(LISTING, pupil_key="arbor", school_id="2012345")
    assert set(result.register.to_long()["pupil_id"]) == {"1224", "1225"}
    assert set(result.pupils["school_id"]) == {"2012345"}
    doc = json.loads(LISTING.read_text())
    doc["ukDfeUpnAssignments"] = doc["ukDfeUpnAssignments"][:1]  # 1225 loses its UPNs
    auto = _load(json.dumps(doc).encode())
    assert set(auto.register.to_long()["pupil_id"]) == {"1224", "1225"}
    assert any("keyed by the Arbor student id" in w for w in auto.warnings)
    forced = _load(json.dumps(doc).encode(), pupil_key="upn")
    assert (forced.rejected["reason"] == "missing_value").sum() >= 3
    with pytest.raises(FormatError, match="pupil_key"):
        _load(LISTING, pupil_key="sims")


def test_errors_raise_at_first_bad_record() -> None:
    with pytest.raises(RegisterError) as info:
        _load(LISTING, errors="raise")
    err = info.value
    assert (err.row, err.column, err.reason) == (7, "attendanceMark", "flag_mismatch")
    assert "arbor_listing.json" in str(err)


def test_truncated_empty_and_non_json() -> None:
    data = LISTING.read_bytes()
    with pytest.raises(FormatError) as info:
        _load(data[: len(data) // 2])
    assert info.value.row is not None
    with pytest.raises(FormatError, match="empty"):
        _load(b"")
    with pytest.raises(FormatError):
        _load(b"[1, 2, 3]")


def test_sniff_rejects_other_formats() -> None:
    adapter = ArborJsonAdapter()
    for other in (
        b'{"data": [{"id": "A1", "session": "AM"}], "meta": {"pagination": {"next": null}}}',
        b'[{"object": "attendance", "id": 501, "session_name": "AM"}]',
        b'<?xml version="1.0"?><CTfile/>',
        b"<SIMSAttendanceExport/>",
        b"pupil_id,date,session,code\n",
        b"",
    ):
        assert adapter.sniff(Source.of(other)) is False


def test_letter_table_agrees_with_the_core_code_sets() -> None:
    rules = MarkRules.builtin()
    folder = resources.files("attendance_core") / "data" / "codesets"
    for name in ("england-2006.toml", "england-2024.toml"):
        data = tomllib.loads((folder / name).read_text(encoding="utf-8"))
        for code, row in data["codes"].items():
            assert rules.letters.get(code) == row["category"], (name, code)


def test_parse_stamp() -> None:
    assert str(parse_stamp({"entityType": "date", "date": "2024-09-02 08:45:00"})) == (
        "2024-09-02 08:45:00"
    )
    assert parse_stamp("2024-09-02") is not None
    assert parse_stamp({"date": "2024-02-30 08:45:00"}) is None
    assert parse_stamp(None) is None


def _one_record(letter: str, flags: dict[str, bool], register: str | None) -> bytes:
    doc = json.loads((DATA / "arbor_single.json").read_text())
    record = doc["attendanceRecord"]
    mark = record["attendanceMark"]
    mark["attendanceMark"] = letter
    for key in (*FLAGS, "isStatisticalPossibleAttendance"):
        mark.pop(key, None)
    mark.update(flags)
    if register is None:
        del record["attendanceRegister"]
    else:
        record["attendanceRegister"] = copy.deepcopy(record["attendanceRegister"])
        kind = record["attendanceRegister"]["attendanceRegisterType"]
        kind["isMorning"], kind["isAfternoon"] = register == "AM", register == "PM"
    return json.dumps(doc).encode()


CATEGORY = {
    "present": {"/", "\\", "L"},
    "approved_activity": {"B", "K", "P", "V", "W", "J"},
    "authorised": {"C", "C1", "C2", "E", "F", "H", "I", "J1", "M", "R", "S", "T"},
    "unauthorised": {"G", "N", "O", "U"},
    "not_possible": {"D", "Q", "X", "Y", "Y1", "Z", "#"},
}


@settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    letter=st.sampled_from(["/", "\\", "L", "B", "I", "C", "O", "U", "X", "D", "7", "?", ""]),
    flags=st.dictionaries(
        st.sampled_from([*FLAGS, "isStatisticalPossibleAttendance"]), st.booleans()
    ),
    register=st.sampled_from(["AM", "PM", "lesson", None]),
)
def test_flags_decide_the_category(
    letter: str, flags: dict[str, bool], register: str | None
) -> None:
    result = _load(_one_record(letter, flags, register))
    assert result.rows_read == len(result.register.to_long()) + len(result.rejected)
    if register == "lesson":
        assert result.rows_read == 0
        return
    asserted = [f for f in FLAGS if flags.get(f)]
    possible = flags.get("isStatisticalPossibleAttendance")
    long = result.register.to_long()
    has_flags = bool(flags)
    if has_flags and (
        (possible is False and asserted) or (possible is not False and len(asserted) != 1)
    ):
        assert list(result.rejected["reason"]) == ["flag_mismatch"]
        return
    if not has_flags:
        return  # letter passed to the core as given
    expected = (
        "not_possible"
        if possible is False
        else dict(
            zip(FLAGS, ["present", "approved_activity", "authorised", "unauthorised"], strict=True)
        )[asserted[0]]
    )
    assert len(long) == 1
    assert long["code"].iloc[0] in CATEGORY[expected]
    if letter in CATEGORY[expected]:
        assert long["code"].iloc[0] == letter


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=12),
        lambda inner: (
            st.lists(inner, max_size=4)
            | st.dictionaries(
                st.sampled_from(
                    [
                        "attendanceRecords",
                        "entityType",
                        "href",
                        "student",
                        "attendanceMark",
                        "startDatetime",
                        "date",
                        "attendanceRegister",
                        "isMorning",
                        "event",
                        "upn",
                    ]
                ),
                inner,
                max_size=5,
            )
        ),
        max_leaves=25,
    )
)
def test_fuzz_json_shapes_only_attendance_errors(doc: Any) -> None:
    data = json.dumps({"attendanceRecords": doc if isinstance(doc, list) else [doc]}).encode()
    try:
        result = load(io.BytesIO(data), format="arbor-json")
    except AttendanceError:
        return
    assert result.rows_read == len(result.register.to_long()) + len(result.rejected)


def test_invalid_upn_is_a_warning_not_a_rejection() -> None:
    text = LISTING.read_bytes().replace(b"D201200101001", b"A201200101001")
    result = _load(text)
    assert "A201200101001" in set(result.register.to_long()["pupil_id"])
    assert len(result.rejected) == 3
    assert any("wrong check letter" in w and "A201200101001" in w for w in result.warnings)
