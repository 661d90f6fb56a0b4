"""Tests of the wide-layout adapters: wide-csv and wide-excel."""

from __future__ import annotations

import datetime as dt
import io
import warnings
from pathlib import Path
from typing import Any

import openpyxl
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import attendance_core.adapters as ad
from attendance_core.errors import AttendanceWarning, FormatError, RegisterError
from attendance_core.testing import AdapterConformance

DATA = Path(__file__).parent / "data"
SESSIONS_CSV = DATA / "wide_sessions.csv"
WEEKLY_CSV = DATA / "wide_weekly.csv"
SESSIONS_XLSX = DATA / "wide_sessions.xlsx"
WEEKLY_XLSX = DATA / "wide_weekly.xlsx"


def load_quiet(obj: object, **options: Any) -> ad.LoadResult:
    """ac.load with its AttendanceWarnings silenced (tests read result.warnings)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AttendanceWarning)
        return ad.load(obj, **options)


def triples(result: ad.LoadResult) -> list[tuple[int, str, str]]:
    """(row, column, reason) of the rejected rows."""
    frame = result.rejected[["row", "column", "reason"]]
    return [(int(r), str(c), str(w)) for r, c, w in frame.itertuples(index=False)]


class TestWideCsvSessionsConformance(AdapterConformance):
    """One column per session."""

    @pytest.fixture
    def format(self) -> str:
        return "wide-csv"

    @pytest.fixture
    def sample(self) -> Path:
        return SESSIONS_CSV

    @pytest.fixture
    def bad_sample(self) -> Path:
        return SESSIONS_CSV

    @pytest.fixture
    def expect_rows(self) -> int:
        return 48


class TestWideCsvWeeklyConformance(AdapterConformance):
    """Weekly 10-character mark strings."""

    @pytest.fixture
    def format(self) -> str:
        return "wide-csv"

    @pytest.fixture
    def sample(self) -> Path:
        return WEEKLY_CSV

    @pytest.fixture
    def bad_sample(self) -> Path:
        return WEEKLY_CSV

    @pytest.fixture
    def expect_rows(self) -> int:
        return 47


class TestWideExcelSessionsConformance(AdapterConformance):
    """A workbook with a cover sheet and session columns; a cut workbook is a FormatError."""

    @pytest.fixture
    def format(self) -> str:
        return "wide-excel"

    @pytest.fixture
    def sample(self) -> Path:
        return SESSIONS_XLSX

    @pytest.fixture
    def bad_sample(self) -> Path:
        return SESSIONS_XLSX

    @pytest.fixture
    def structured(self) -> bool:
        return True

    @pytest.fixture
    def expect_rows(self) -> int:
        return 55

    @pytest.fixture
    def max_row(self) -> int:
        return 11


class TestWideExcelWeeklyConformance(AdapterConformance):
    """A workbook of weekly mark strings with real Excel dates."""

    @pytest.fixture
    def format(self) -> str:
        return "wide-excel"

    @pytest.fixture
    def sample(self) -> Path:
        return WEEKLY_XLSX

    @pytest.fixture
    def bad_sample(self) -> Path:
        return WEEKLY_XLSX

    @pytest.fixture
    def structured(self) -> bool:
        return True

    @pytest.fixture
    def expect_rows(self) -> int:
        return 42

    @pytest.fixture
    def max_row(self) -> int:
        return 7


class TestWideCsv:
    """Session columns and mark strings from CSV."""

    def test_session_columns(self) -> None:
        result = load_quiet(SESSIONS_CSV)
        assert result.format == "wide-csv"
        assert result.rows_read == 48
        assert len(result.register.to_long()) == 44
        assert triples(result) == [
            (8, "session cell", "unknown_code"),
            (8, "session cell", "unknown_code"),
            (9, "Adno", "missing_value"),
            (10, "<record>", "bad_record"),
        ]
        assert "unmapped columns (ignored): Reg Group" in result.warnings

    def test_blank_cells_are_no_session_and_dash_is_missing(self) -> None:
        marks = load_quiet(SESSIONS_CSV).register.to_long()
        ella = marks[marks["pupil_id"] == "2103"]
        assert str(ella["date"].min())[:10] == "2024-09-04"  # joined on Wednesday
        rhys = marks[marks["pupil_id"] == "2104"]
        assert rhys["code"].tolist()[:2] == ["/", "-"]

    def test_blank_missing_option(self) -> None:
        result = load_quiet(SESSIONS_CSV, blank="missing")
        marks = result.register.to_long()
        ella = marks[marks["pupil_id"] == "2103"]
        assert ella["code"].tolist()[:4] == ["-", "-", "-", "-"]
        assert result.rows_read == 52

    def test_weekly_mark_strings(self) -> None:
        result = load_quiet(WEEKLY_CSV)
        assert result.rows_read == 47
        assert triples(result) == [
            (6, "Week Beginning", "bad_date"),  # a Tuesday
            (7, "Marks", "bad_value"),  # 9 characters
            (8, "Week Beginning", "ambiguous_date"),  # 16/09/24
        ]
        marks = result.register.to_long()
        chloe = marks[marks["pupil_id"] == "Z801200024002"]
        assert len(chloe) == 14  # a full week, then Mon-Tue of the next
        assert chloe["code"].iloc[9] == "-"
        friday = chloe[chloe["date"].astype(str).str[:10] == "2024-09-06"]
        assert friday["session"].tolist() == ["AM", "PM"]
        assert result.pupils.loc["N801200024003", "year_group"] == "5"

    def test_raise_stops_at_the_first_bad_row(self) -> None:
        with pytest.raises(RegisterError) as info:
            ad.load(WEEKLY_CSV, errors="raise")
        assert (info.value.row, info.value.column) == (6, "Week Beginning")
        assert "week start is not a Monday" in str(info.value)

    def test_header_weekday_must_match_the_day_first_date(self) -> None:
        data = b"Adno,Tue 02/09/2024 AM,Tue 02/09/2024 PM\n1,/,\\\n"
        with pytest.raises(FormatError, match="ambiguous or invalid date"):
            ad.load(data, format="wide-csv")

    def test_month_first_header_is_refused(self) -> None:
        data = b"Adno,Mon 09/02/2024 AM,Mon 09/02/2024 PM\n1,/,\\\n"  # 9 Feb 2024 is a Friday
        with pytest.raises(FormatError):
            ad.load(data, format="wide-csv")

    def test_iso_session_headers(self) -> None:
        data = b"UPN,2024-09-02 AM,2024-09-02 PM\nK801200024001,/,L\n"
        result = load_quiet(io.BytesIO(data))
        assert result.format == "wide-csv"
        assert result.register.to_long()["code"].tolist() == ["/", "L"]


class TestWideExcel:
    """Workbooks: cover sheets, title rows, numbers as numbers, real dates."""

    def test_sessions_workbook(self) -> None:
        result = load_quiet(SESSIONS_XLSX)
        assert result.format == "wide-excel"
        assert result.rows_read == 55
        assert triples(result) == [
            (8, "session cell", "unknown_code"),
            (9, "Adno", "missing_value"),
        ]
        marks = result.register.to_long()
        assert "3106" in set(marks["pupil_id"])  # after an empty sheet row
        assert bool(result.pupils.loc["3101", "fsm"]) is True
        assert "read sheet 'Week 1' of 2" in result.warnings

    def test_weekly_workbook_with_real_dates(self) -> None:
        result = load_quiet(WEEKLY_XLSX)
        assert triples(result) == [(5, "Week Beginning", "bad_date"), (6, "Marks", "bad_value")]
        assert bool(result.pupils.loc["J873400123016", "cin"]) is True
        assert result.pupils.loc["V873400123015", "name"] == "Harry Clarke"

    def test_sheet_option(self) -> None:
        with pytest.raises(FormatError, match="no sheet with a wide header"):
            ad.load(SESSIONS_XLSX, format="wide-excel", sheet="Notes")
        with pytest.raises(FormatError, match="sheets: Notes, Week 1"):
            ad.load(SESSIONS_XLSX, format="wide-excel", sheet=5)
        assert load_quiet(SESSIONS_XLSX, sheet="Week 1").rows_read == 55

    def test_zip_that_is_not_a_workbook(self) -> None:
        import zipfile

        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.writestr("hello.txt", "hi")
        assert not ad.get_adapter("wide-excel").sniff(ad.Source.of(buffer.getvalue()))
        with pytest.raises(FormatError, match=r"not an \.xlsx workbook"):
            ad.load(buffer.getvalue(), format="wide-excel")

    def test_workbook_built_in_memory(self) -> None:
        wb = openpyxl.Workbook()
        ws = wb.worksheets[0]
        ws.append(["Pupil ID", "Week commencing", "Marks"])
        ws.append(["A1", pd.Timestamp("2024-09-09").to_pydatetime(), "/\\/\\/\\/\\/\\"])
        buffer = io.BytesIO()
        wb.save(buffer)
        buffer.seek(0)
        result = load_quiet(buffer)
        assert result.format == "wide-excel"
        assert result.rows_read == 10


@settings(max_examples=30, deadline=None)
@given(
    grid=st.lists(
        st.lists(st.sampled_from(["/", "\\", "L", "N", "-", "", "I"]), min_size=10, max_size=10),
        min_size=1,
        max_size=12,
    ),
    weekly=st.booleans(),
    chunk=st.integers(1, 30),
)
def test_wide_write_then_load(grid: list[list[str]], weekly: bool, chunk: int) -> None:
    """Both wide layouts give back exactly the non-blank cells, each with its pupil's line."""
    days = [dt.date(2024, 9, 2) + dt.timedelta(days=i) for i in range(5)]
    if weekly:
        lines = ["Adno,Week Beginning,Marks"]
        lines += [
            f'{100 + i},02/09/2024,"{"".join(c or " " for c in row)}"' for i, row in enumerate(grid)
        ]
    else:
        heads = [f"{d:%a %d/%m/%Y} {s}" for d in days for s in ("AM", "PM")]
        lines = ["Adno," + ",".join(heads)]
        lines += [f"{100 + i}," + ",".join(row) for i, row in enumerate(grid)]
    data = ("\n".join(lines) + "\n").encode()
    result = load_quiet(data, format="wide-csv", chunksize=chunk)
    want = {
        (str(100 + i), days[k // 2].isoformat(), "AM" if k % 2 == 0 else "PM", code)
        for i, row in enumerate(grid)
        for k, code in enumerate(row)
        if code
    }
    assert result.rejected.empty
    assert result.rows_read == len(want)
    long = result.register.to_long()
    got = {
        (p, str(d)[:10], s, c)
        for p, d, s, c in long[["pupil_id", "date", "session", "code"]].itertuples(index=False)
    }
    assert got == want
