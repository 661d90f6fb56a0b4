"""Inputs the fuzzers found, kept so that what was fixed stays fixed.

Each test names the input and what went wrong. Tests marked ``xfail(strict=True)`` document a
problem reported to the owner of the file at fault and not fixed yet: when it is fixed the test
passes, strict xfail turns that into a failure, and the marker must be removed.
"""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd
import pytest
from fuzz_corpus import check_result, exercise

import attendance_core as ac
from attendance_core.adapters import AdapterOutput, register_adapter, unregister_adapter
from attendance_core.errors import FormatError
from builders import unavailable

DATA = Path(__file__).resolve().parent / "data"

pytestmark = pytest.mark.filterwarnings("ignore::attendance_core.errors.AttendanceWarning")


def needs(fmt: str) -> None:
    if fmt not in ac.formats():
        unavailable(f"{fmt} not installed")


@pytest.mark.parametrize("name", ["flipped_wide_sessions.xlsx", "flipped_wide_weekly.xlsx"])
def test_damaged_workbook_is_a_format_error(name: str) -> None:
    """A workbook with flipped bytes in a deflate stream raised ``zlib.error`` from openpyxl
    (adapters/generic wide.py, ``_open_workbook``); now a FormatError."""
    needs("wide-excel")
    path = DATA / name
    with pytest.raises(FormatError):
        ac.load(path, format="wide-excel")
    exercise(path, "wide-excel", label=name)
    exercise(path, None, label=name)


def test_invalid_utf8_after_the_sniffed_head() -> None:
    """A CSV whose first 8 KiB are UTF-8 and a later byte is not raised UnicodeDecodeError from
    the generic-csv reader; now the file is read (the encoding falls back) or refused."""
    needs("generic-csv")
    data = b"pupil_id,date,session,code\n" + b"P1,2024-09-02,AM,/\n" * 1000
    data += b"P2,2024-09-02,AM,\x9c\n"
    exercise(data, "generic-csv", label="late invalid UTF-8")
    exercise(data, "generic-csv", label="late invalid UTF-8", errors="raise")


TWO_SCHOOLS = (
    b"School,URN,UPN,Name,Date,Session,Mark\n"
    b"Hillside,8012000,A123456789012,Pupil One,2024-09-02,AM,/\n"
    b"Riverside,8734001,A123456789012,Pupil One,2024-09-03,AM,/\n"
)


def test_pupil_on_two_rolls_loads_with_every_row() -> None:
    """One pupil under two school ids (a move, dual registration, or a flipped byte in the
    URN): both rows are kept, and the pupils table is unique per school and pupil."""
    needs("generic-csv")
    result = ac.load(TWO_SCHOOLS, format="generic-csv")
    check_result(result)
    assert result.rows_read == 2


def test_conformance_kit_accepts_a_pupil_on_two_rolls() -> None:
    """Found by flipping a URN digit: the kit demanded pupils unique per pupil_id; it now
    keys them per (school_id, pupil_id), as a multi-school export has them."""
    needs("generic-csv")
    from attendance_core.testing import assert_load_invariants

    assert_load_invariants(ac.load(TWO_SCHOOLS, format="generic-csv"))


class _RejectsLongValue:
    name = "regression-long-value"
    extensions = (".rlv",)
    description = "rejects one row whose code is 100 000 characters long"

    def sniff(self, source: object) -> bool:
        return False

    def read(self, source: object, *, errors: str = "collect", **options: object) -> AdapterOutput:
        out = AdapterOutput()
        frame = pd.DataFrame(
            {"pupil_id": ["P1"], "date": ["2024-09-02"], "session": ["AM"], "code": ["/"]},
            index=[1],
        )

        def marks():  # type: ignore[no-untyped-def]
            yield frame
            out.rejected.append(
                {"row": 2, "column": "code", "value": "Z" * 100_000, "reason": "unknown_code"}
            )

        out.marks = marks()
        return out


def test_rejected_values_are_cut_short() -> None:
    """Fuzzing with huge fields: every adapter quotes a 70 000-character bad value in full in
    ``rejected`` (memory, and a field that may hold anything ends up in shared CSVs)."""
    register_adapter("regression-long-value", _RejectsLongValue)
    try:
        result = ac.load(io.BytesIO(b"x"), format="regression-long-value")
    finally:
        unregister_adapter("regression-long-value")
    assert result.rows_read == 2
    assert all(len(str(v)) <= 100 for v in result.rejected["value"])


def _parquet_with_date_days(days: int) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table(
        {
            "pupil_id": ["P1", "P2"],
            "date": pa.array([19968, days], type=pa.date32()),  # 2024-09-02, then far off
            "session": ["AM", "AM"],
            "code": ["/", "/"],
        }
    )
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    return buffer.getvalue()


def test_parquet_date_out_of_range_never_crashes_load() -> None:
    """Found by flipping bytes of long.parquet: a date32 cell beyond year 9999."""
    needs("generic-parquet")
    data = _parquet_with_date_days(10**9)
    try:
        result = ac.load(data, format="generic-parquet")
    except ac.AttendanceError:
        return
    check_result(result)


def test_parquet_date_out_of_range_rejects_only_that_row() -> None:
    needs("generic-parquet")
    from attendance_core.testing import drain

    data = _parquet_with_date_days(10**9)
    assert drain("generic-parquet", data) == 2  # the adapter itself raises nothing
    result = ac.load(data, format="generic-parquet")
    check_result(result)
    assert result.rows_read == 2
    assert list(result.rejected["row"]) == [2]
    assert list(result.rejected["reason"]) == ["bad_date"]


@pytest.mark.parametrize("day", ["9999-12-31", "0001-01-01", "2052-06-18"])
def test_far_dates_in_every_fixture_are_rejected_never_a_crash(day: str, tmp_path: Path) -> None:
    """``far_dates`` (issue 19): an Assembly date-time ``9999-12-31T23:00:00Z`` overflowed when
    moved to Europe/London (``OverflowError`` out of adapterkit.parse_date); every adapter now
    loads such dates and the register holds none outside calendar.FIRST_DATE..LAST_DATE."""
    import random

    from fuzz_corpus import far_dates, fixtures, materialise

    for fixture in fixtures():
        for target in fixture.files():
            mutated = far_dates(target.read_bytes(), random.Random(0), day=day, share=1.0)
            with materialise(fixture, target, mutated) as path:
                for fmt in (*fixture.formats, None):
                    exercise(path, fmt, label=f"{fixture.id}:{target.name}:{day}")
