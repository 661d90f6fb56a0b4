"""Tests of the long-layout adapters: generic-csv and generic-parquet."""

from __future__ import annotations

import csv
import datetime as dt
import io
import warnings
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from attendance_core_generic.long import GenericCsvAdapter
from hypothesis import given, settings
from hypothesis import strategies as st

import attendance_core.adapters as ad
from attendance_core.errors import AttendanceWarning, FormatError, RegisterError
from attendance_core.testing import AdapterConformance, check_conformance

DATA = Path(__file__).parent / "data"
SIMS = DATA / "sims_long.csv"
BROMCOM = DATA / "bromcom_long_cp1252.csv"
PARQUET = DATA / "long.parquet"
XLSX = DATA / "long_export.xlsx"

HEADER = "UPN,Date,Session,Mark\n"
UPN = "K801200024001"


def load_quiet(obj: object, **options: Any) -> ad.LoadResult:
    """ac.load with the AttendanceWarnings it emits silenced (tests read result.warnings)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AttendanceWarning)
        return ad.load(obj, **options)


class TestGenericCsvConformance(AdapterConformance):
    """The SIMS-style sample passes the whole kit."""

    @pytest.fixture
    def format(self) -> str:
        return "generic-csv"

    @pytest.fixture
    def sample(self) -> Path:
        return SIMS

    @pytest.fixture
    def bad_sample(self) -> Path:
        return SIMS

    @pytest.fixture
    def expect_rows(self) -> int:
        return 48


class TestGenericParquetConformance(AdapterConformance):
    """The Parquet sample passes the kit; a cut Parquet file is a FormatError."""

    @pytest.fixture
    def format(self) -> str:
        return "generic-parquet"

    @pytest.fixture
    def sample(self) -> Path:
        return PARQUET

    @pytest.fixture
    def bad_sample(self) -> Path:
        return PARQUET

    @pytest.fixture
    def structured(self) -> bool:
        return True

    @pytest.fixture
    def expect_rows(self) -> int:
        return 24

    @pytest.fixture
    def max_row(self) -> int:
        return 24


class TestGenericExcelConformance(AdapterConformance):
    """The long workbook passes the kit; a cut workbook is a FormatError."""

    @pytest.fixture
    def format(self) -> str:
        return "generic-excel"

    @pytest.fixture
    def sample(self) -> Path:
        return XLSX

    @pytest.fixture
    def bad_sample(self) -> Path:
        return XLSX

    @pytest.fixture
    def structured(self) -> bool:
        return True

    @pytest.fixture
    def expect_rows(self) -> int:
        return 24

    @pytest.fixture
    def max_row(self) -> int:
        return 27


def test_bromcom_sample_conforms() -> None:
    """The cp1252 Bromcom-style export passes the kit through the function entry point."""
    check_conformance("generic-csv", BROMCOM, expect_rows=34, examples=10)


class TestSimsLongExport:
    """The SIMS-style export: title lines, BOM, CRLF, pupil attributes and bad rows."""

    def test_rows_and_rejections(self) -> None:
        result = load_quiet(SIMS)
        assert result.format == "generic-csv"
        assert result.rows_read == 48
        assert len(result.register.to_long()) == 41
        got = result.rejected[["row", "column", "reason"]].to_records(index=False).tolist()
        assert got == [
            (46, "Date", "ambiguous_date"),  # 09/09/24: two-digit year
            (47, "Date", "bad_date"),  # 31/09/2024
            (48, "Date", "ambiguous_date"),  # 09/13/2024: only month-first
            (49, "Mark", "unknown_code"),  # SIMS display symbol 7
            (50, "Session", "bad_session"),
            (51, "Mark", "duplicate_row"),
            (52, "<record>", "bad_record"),  # extra cells
        ]

    def test_day_first_and_iso_dates(self) -> None:
        marks = load_quiet(SIMS).register.to_long()
        liam = marks[marks["pupil_id"] == "A801200024004"]
        assert str(liam["date"].min())[:10] == "2024-09-02"
        assert str(liam["date"].max())[:10] == "2024-09-09"  # the ISO row with "pm"
        last = liam.iloc[-1]
        assert last["session"] == "PM"
        assert last["code"] == "/"

    def test_blank_mark_is_a_missing_mark(self) -> None:
        marks = load_quiet(SIMS).register.to_long()
        chloe = marks[(marks["pupil_id"] == "Z801200024002")]
        tuesday_pm = chloe[(chloe["date"].astype(str).str[:10] == "2024-09-03")]
        assert tuesday_pm["code"].tolist() == ["I", "-"]

    def test_pupils_frame(self) -> None:
        pupils = load_quiet(SIMS).pupils
        assert pupils.index.name == "pupil_id"
        assert list(pupils.index) == [
            "K801200024001",
            "Z801200024002",
            "N801200024003",
            "A801200024004",
        ]
        zofia = pupils.loc["N801200024003"]
        assert zofia["name"] == "Zofia Kowalski"
        assert zofia["year_group"] == "5"
        assert zofia["date_of_birth"] == pd.Timestamp("2015-06-27")
        assert zofia["admission_date"] == pd.Timestamp("2024-01-15")
        assert bool(zofia["sen"]) is True
        assert bool(zofia["ehcp"]) is True  # SEN status E
        assert bool(zofia["cp"]) is True
        assert bool(zofia["fsm"]) is False
        assert zofia["mis_id"] == "1043"  # the MIS id kept beside the UPN
        assert bool(pupils.loc["Z801200024002", "sen"]) is True  # status K
        assert bool(pupils.loc["Z801200024002", "ehcp"]) is False

    def test_warnings(self) -> None:
        with pytest.warns(AttendanceWarning):
            result = ad.load(SIMS)
        text = " | ".join(result.warnings)
        assert "4 lines above the header skipped" in text
        assert "unmapped columns (ignored): Comment" in text
        upn_note = next(w for w in result.warnings if "UPN" in w)
        assert upn_note.startswith("11 rows")  # lines 36-45 and 55; line 52 was rejected
        assert "rows 36, 37" in upn_note
        assert "A801200024004" not in text  # identifiers stay out of messages
        assert "1 distinct dates are valid only month-first" in text  # 09/13/2024

    def test_raise_names_first_bad_row(self) -> None:
        with pytest.raises(RegisterError) as info:
            ad.load(SIMS, errors="raise")
        assert info.value.row == 46
        assert info.value.column == "Date"
        assert info.value.reason == "ambiguous_date"
        assert "sims_long.csv, row 46, column 'Date'" in str(info.value)

    def test_small_chunks_give_the_same_result(self) -> None:
        whole = load_quiet(SIMS)
        small = load_quiet(SIMS, chunksize=3)
        pd.testing.assert_frame_equal(whole.register.to_long(), small.register.to_long())
        pd.testing.assert_frame_equal(whole.rejected, small.rejected)
        assert whole.rows_read == small.rows_read

    def test_mis_id_as_key(self) -> None:
        result = load_quiet(SIMS, pupil_id="mis_id")
        assert sorted(result.register.to_long()["pupil_id"].unique()) == [
            "1041",
            "1042",
            "1043",
            "1044",
        ]
        assert result.pupils.loc["1043", "upn"] == "N801200024003"


class TestBromcomExport:
    """cp1252 text, two schools, ISO dates, vendor sub-codes."""

    def test_encoding_fallback_and_schools(self) -> None:
        result = load_quiet(BROMCOM)
        assert result.warnings[0] == "file is not UTF-8; read as Windows-1252 (cp1252)"
        assert "columns repeating an earlier one (ignored): School" in result.warnings
        pupils = result.pupils
        assert pupils.loc["B2001", "name"] == "Zoë Müller"
        assert pupils.loc["R3001", "school_id"] == "8734001"
        marks = result.register.to_long()
        assert set(marks["school_id"]) == {"8012000", "8734001"}
        assert "I" in set(marks["code"])  # I01 resolved to I by the core
        reasons = result.rejected[["row", "reason"]].to_records(index=False).tolist()
        assert reasons == [(32, "missing_value"), (33, "bad_date"), (34, "unknown_code")]

    def test_session_words(self) -> None:
        marks = load_quiet(BROMCOM).register.to_long()
        row = marks[(marks["pupil_id"] == "B2002") & (marks["date"].astype(str) >= "2024-09-09")]
        assert row["session"].tolist() == ["AM"]  # "Morning"


class TestCsvDetails:
    """Encodings, delimiters, header aliases and limits on small hand-written files."""

    def test_header_aliases_are_case_and_space_insensitive(self) -> None:
        text = (
            " pupil  ID ,ATTENDANCE_DATE,am/pm,Attendance Mark, urn \n77,02/09/2024,am,/,100001\n"
        )
        result = load_quiet(io.BytesIO(text.encode()))
        assert result.format == "generic-csv"
        marks = result.register.to_long()
        assert marks[["pupil_id", "session", "code", "school_id"]].iloc[0].tolist() == [
            "77",
            "AM",
            "/",
            "100001",
        ]

    def test_extra_aliases_option(self) -> None:
        text = "Learner Ref,Date,Session,Mark\n77,02/09/2024,AM,/\n"
        with pytest.raises(FormatError):
            load_quiet(text.encode(), format="generic-csv")
        result = load_quiet(
            text.encode(), format="generic-csv", aliases={"mis_id": ["learner ref"]}
        )
        assert result.register.to_long()["pupil_id"].tolist() == ["77"]

    def test_tab_delimited_utf16(self) -> None:
        text = "UPN\tDate\tSession\tMark\r\n" + f"{UPN}\t02/09/2024\tAM\t/\r\n"
        result = load_quiet(text.encode("utf-16"))
        assert result.rows_read == 1
        assert len(result.register.to_long()) == 1

    def test_latin1_fallback(self) -> None:
        data = (HEADER + f"{UPN},02/09/2024,AM,/\n").encode() + b"\x81\n"
        result = load_quiet(data, format="generic-csv")
        assert result.warnings[0] == "file is not UTF-8; read as Latin-1"

    def test_utf8_without_bom_has_no_encoding_warning(self) -> None:
        data = ("UPN,Name,Date,Session,Mark\n" + f"{UPN},Siân,02/09/2024,AM,/\n").encode()
        result = load_quiet(data)
        assert not any("UTF-8" in w for w in result.warnings)
        assert result.pupils.loc[UPN, "name"] == "Siân"

    def test_field_too_long_and_raising_the_limit(self) -> None:
        data = (HEADER + f"{UPN},02/09/2024,AM,{'x' * 2000}\n{UPN},02/09/2024,PM,/\n").encode()
        result = load_quiet(data)
        assert result.rejected["reason"].tolist() == ["field_too_long"]
        assert result.rejected["row"].tolist() == [2]
        assert len(result.rejected["value"].iloc[0]) <= 40
        bigger = load_quiet(data, max_field_length=5000)
        assert bigger.rejected["reason"].tolist() == ["unknown_code"]

    def test_file_size_limit(self) -> None:
        data = (HEADER + f"{UPN},02/09/2024,AM,/\n").encode()
        with pytest.raises(FormatError, match="over the limit"):
            ad.load(data, max_file_size=10)

    def test_short_record_is_padded_when_core_columns_are_there(self) -> None:
        data = (
            f"UPN,Date,Session,Mark,Comment,Year\n{UPN},02/09/2024,AM,/\n{UPN},02/09/2024\n"
        ).encode()
        result = load_quiet(data)
        assert len(result.register.to_long()) == 1
        assert result.rejected[["row", "reason"]].to_records(index=False).tolist() == [
            (3, "bad_record")
        ]
        assert "1 records had fewer fields than the header (padded)" in result.warnings

    def test_quoted_newline_keeps_line_numbers(self) -> None:
        data = (
            "UPN,Comment,Date,Session,Mark\n"
            f'{UPN},"two\nlines",02/09/2024,AM,/\n'
            f"{UPN},,31/02/2024,PM,/\n"
        ).encode()
        result = load_quiet(data)
        assert result.rejected["row"].tolist() == [4]

    def test_nul_bytes_are_a_rejected_record(self) -> None:
        data = (HEADER + f"{UPN},02/09/2024,AM,/\n").encode() + b"x\x00y,1,2,3\n"
        result = load_quiet(data, format="generic-csv")
        assert result.rows_read == len(result.register.to_long()) + len(result.rejected)

    def test_no_header_is_a_format_error(self) -> None:
        with pytest.raises(FormatError, match="no header row"):
            ad.load(b"a,b,c\n1,2,3\n", format="generic-csv")

    def test_many_chunks_stream(self) -> None:
        days = pd.bdate_range("2024-09-02", periods=150)
        lines = [HEADER.strip()]
        for p in range(40):
            for day in days:
                for s in ("AM", "PM"):
                    lines.append(f"P{p},{day:%d/%m/%Y},{s},/")
        data = ("\n".join(lines) + "\n").encode()
        output = GenericCsvAdapter().read(ad.Source.of(data), chunksize=1000)
        sizes = [len(c) for c in output.marks]
        assert len(sizes) == 12
        assert max(sizes) == 1000
        assert sum(sizes) == 12000
        result = load_quiet(data, chunksize=1000)
        assert result.rows_read == 12000
        assert len(result.register.to_long()) == 12000


class TestExcel:
    """A long workbook: title row, real date cells, numbers as numbers."""

    def test_rows(self) -> None:
        result = load_quiet(XLSX)
        assert result.format == "generic-excel"
        assert result.rows_read == 24
        reasons = result.rejected[["row", "column", "reason"]].to_records(index=False).tolist()
        assert reasons == [
            (24, "Date", "ambiguous_date"),
            (25, "AM/PM", "bad_session"),
            (26, "Mark", "unknown_code"),
            (27, "<record>", "bad_record"),
        ]
        marks = result.register.to_long()
        assert sorted(set(marks["pupil_id"])) == ["4101", "4102"]
        assert str(marks["date"].min())[:10] == "2024-09-02"
        assert bool(result.pupils.loc["4102", "fsm"]) is True

    def test_raise(self) -> None:
        with pytest.raises(RegisterError) as info:
            ad.load(XLSX, errors="raise")
        assert (info.value.row, info.value.column) == (24, "Date")


class TestParquet:
    """Typed columns and row groups."""

    def test_rows_and_typed_columns(self) -> None:
        result = load_quiet(PARQUET)
        assert result.format == "generic-parquet"
        assert result.rows_read == 24
        reasons = result.rejected[["row", "column", "reason"]].to_records(index=False).tolist()
        assert reasons == [
            (21, "Mark", "unknown_code"),
            (22, "Date", "missing_value"),
            (23, "UPN", "missing_value"),
        ]
        assert result.pupils.loc[UPN, "school_id"] == "100001"
        assert result.pupils.loc[UPN, "year_group"] == "4"

    def test_batches(self) -> None:
        import attendance_core_generic.long as long

        output = long.GenericParquetAdapter().read(ad.Source.of(PARQUET), chunksize=5)
        sizes = [len(c) for c in output.marks]
        assert sum(sizes) + len(output.rejected) == 24
        assert max(sizes) <= 5


class TestOptionsAndRoundTrip:
    """Local symbols, a forced code set, and a write-then-load property."""

    def test_local_symbols_option(self) -> None:
        plain = load_quiet(SIMS)
        mapped = load_quiet(SIMS, symbols={"7": "B"})
        assert 49 in set(plain.rejected["row"])
        assert 49 not in set(mapped.rejected["row"])
        assert mapped.rows_read == plain.rows_read
        codes = mapped.register.to_long()["code"]
        assert (codes == "B").sum() == 1

    def test_code_set_option(self) -> None:
        data = (HEADER + f"{UPN},02/09/2024,AM,Y1\n").encode()
        assert load_quiet(data).rejected.empty  # Y1 is a 2024 code
        old = load_quiet(data, code_set="england-2006")
        assert old.rejected["reason"].tolist() == ["unknown_code"]

    @settings(max_examples=40, deadline=None)
    @given(
        rows=st.lists(
            st.tuples(
                st.sampled_from(["P1", "P2", "1042", "K801200024001"]),
                st.dates(min_value=dt.date(2024, 9, 2), max_value=dt.date(2025, 7, 18)),
                st.sampled_from(["AM", "PM"]),
                st.sampled_from(["/", "\\", "L", "N", "I", "B", "#", ""]),
            ),
            max_size=40,
        ),
        headers=st.sampled_from(
            [
                ("UPN", "Date", "Session", "Mark"),
                ("Adno", "Attendance Date", "AM/PM", "Code"),
                ("pupil id", "DATE", "session", "attendance mark"),
            ]
        ),
        iso=st.booleans(),
        encoding=st.sampled_from(["utf-8", "utf-8-sig", "cp1252"]),
        delimiter=st.sampled_from([",", ";", "\t"]),
        chunk=st.integers(1, 50),
    )
    def test_write_then_load(
        self,
        rows: list[tuple[str, dt.date, str, str]],
        headers: tuple[str, str, str, str],
        iso: bool,
        encoding: str,
        delimiter: str,
        chunk: int,
    ) -> None:
        """Every written row is accepted or rejected with its line; accepted rows round-trip."""
        buffer = io.StringIO()
        writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n")
        writer.writerow(headers)
        for pupil, day, session, code in rows:
            writer.writerow([pupil, day.isoformat() if iso else f"{day:%d/%m/%Y}", session, code])
        data = buffer.getvalue().encode(encoding)
        result = load_quiet(data, format="generic-csv", chunksize=chunk)
        assert result.rows_read == len(rows)
        long = result.register.to_long()
        assert len(long) + len(result.rejected) == len(rows)
        assert set(result.rejected["reason"]) <= {"duplicate_row", "duplicate_session"}
        got = {
            (p, str(d)[:10], s, c)
            for p, d, s, c in long[["pupil_id", "date", "session", "code"]].itertuples(index=False)
        }
        want = {(p, d.isoformat(), s, c or "-") for p, d, s, c in rows}
        assert got <= want
        keys = {(p, d, s) for p, d, s, _ in want}
        clashing = {k for k in keys if len({c for p, d, s, c in want if (p, d, s) == k}) > 1}
        assert {(p, d, s) for p, d, s, _ in got} == keys - clashing
