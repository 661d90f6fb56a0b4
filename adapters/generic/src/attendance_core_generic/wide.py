"""Wide-layout adapters: one row per pupil, from CSV (``wide-csv``) or Excel (``wide-excel``).

Two layouts are read, chosen from the header:

* **session columns** — one column per session, headed like ``Mon 02/09/2024 AM``,
  ``02/09/2024 PM`` or ``2024-09-02 AM``; each cell holds that session's mark;
* **weekly mark strings** — a week-start column (``Week beginning``, a Monday) and a
  ``Marks`` column of 10 characters: Mon AM, Mon PM, … Fri PM.

A blank cell (or a space in a mark string) means *no session for this pupil* and yields no row
(pass ``blank="missing"`` to read blank session cells as missing marks instead); ``-`` is a
missing mark. The source row of every mark is the pupil's line (CSV) or sheet row (Excel).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, ClassVar

import pandas as pd

from attendance_core import adapterkit as kit
from attendance_core.adapters import AdapterOutput, Source
from attendance_core.errors import FormatError, Reason

from ._common import (
    AliasTable,
    DateParser,
    Header,
    Problems,
    Pupils,
    cell_text,
    clean_id,
    csv_header,
    csv_records,
    detect_encoding,
    head_text,
    is_wide_header,
    max_field_length,
    max_file_size,
    sniff_csv,
    sniff_text,
)
from ._excel import open_sheet, reading, sheet_note, sheet_rows, sniff_workbook
from .long import LONG_OPTIONS, RECORD, _choose_id, _output, aliases_for, unreadable

__all__ = ["WEEK_SESSIONS", "WideCsvAdapter", "WideExcelAdapter", "WideRows"]

#: Sessions of a weekly mark string, in order: (day offset from Monday, session).
WEEK_SESSIONS: tuple[tuple[int, str], ...] = tuple(
    (day, session) for day in range(5) for session in ("AM", "PM")
)
_BLANK = " "
#: The ``read`` options of the wide adapters (the Excel one adds ``sheet``).
WIDE_OPTIONS = LONG_OPTIONS | {"blank"}


class WideRows:
    """Expands wide rows (one per pupil) into chunks of long mark rows."""

    def __init__(
        self,
        header: Header,
        table: AliasTable,
        problems: Problems,
        pupils: Pupils,
        *,
        id_column: str,
        limit: int,
        size: int,
        blank: str = "skip",
    ) -> None:
        if blank not in ("skip", "missing"):
            raise FormatError(f"blank must be 'skip' or 'missing' (got {blank!r})")
        self.header = header
        self.problems = problems
        self.pupils = pupils
        self.id_column = id_column
        self.limit = limit
        self.size = size
        self.blank = blank
        self.dates = DateParser()
        self.weekly = not header.sessions
        self.has_school = "school_id" in header.index
        idx = header.index
        self.id_at = idx[id_column]
        self.school_at = idx.get("school_id")
        self.attr_at = [idx[c] for c in pupils.columns]
        self.week_at = idx.get("week_start")
        self.marks_at = idx.get("marks")
        self.checked = [(p, header.cells[p]) for p in sorted({*idx.values()})]
        self.checked += [(pos, text) for pos, _iso, _s, text in header.sessions]
        self.width = len(header.cells)

    def source_columns(self) -> dict[str, str]:
        """Core column → source header, for messages."""
        names = self.header.names
        out = {"pupil_id": names[self.id_column]}
        if self.has_school:
            out["school_id"] = names["school_id"]
        if self.weekly:
            out["date"] = names["week_start"]
            out["code"] = names["marks"]
        else:
            out["code"] = "session cell"  # the mark sits under its session's column header
        return out

    def chunks(self, records: Iterable[tuple[int, Sequence[object]]]) -> Iterator[pd.DataFrame]:
        """Mark chunks of about ``size`` rows from ``(line, cells)`` records."""
        cols: dict[str, list[Any]] = {k: [] for k in ("row", "pupil_id", "date", "session", "code")}
        schools: list[str] = []
        for line, cells in records:
            before = len(cols["row"])
            self._row(line, cells, cols, schools)
            if len(cols["row"]) >= self.size and len(cols["row"]) > before:
                self.problems.flush()
                yield self._frame(cols, schools)
                cols = {k: [] for k in cols}
                schools = []
        self.problems.flush()
        if cols["row"]:
            yield self._frame(cols, schools)

    def _frame(self, cols: Mapping[str, list[Any]], schools: list[str]) -> pd.DataFrame:
        data: dict[str, list[Any]] = {
            "pupil_id": cols["pupil_id"],
            "date": cols["date"],
            "session": cols["session"],
            "code": cols["code"],
        }
        if self.has_school:
            data["school_id"] = schools
        return pd.DataFrame(data, index=pd.Index(cols["row"], dtype="int64"))

    def _text(self, cells: Sequence[object], pos: int) -> str:
        return cell_text(cells[pos]) if pos < len(cells) else ""

    def _row(
        self,
        line: int,
        cells: Sequence[object],
        cols: dict[str, list[Any]],
        schools: list[str],
    ) -> None:
        if not any(cell_text(c).strip() for c in cells):
            return  # a blank line is not a row
        names = self.header.names
        if len(cells) > self.width and any(cell_text(c).strip() for c in cells[self.width :]):
            self.problems.add(
                line,
                RECORD,
                f"{len(cells)} fields",
                Reason.BAD_RECORD,
                f"row has {len(cells)} cells, the header has {self.width}",
            )
            return
        for pos, text in self.checked:
            value = self._text(cells, pos)
            if len(value) > self.limit:
                self.problems.add(
                    line,
                    text,
                    value,
                    Reason.FIELD_TOO_LONG,
                    f"field longer than {self.limit} characters (raise max_field_length)",
                    show=False,
                )
                return
        pupil = clean_id(self._text(cells, self.id_at), self.id_column)
        if not pupil:
            self.problems.add(line, names[self.id_column], "", Reason.MISSING_VALUE)
            return
        school = self._text(cells, self.school_at).strip() if self.school_at is not None else ""
        before = len(cols["row"])
        if self.weekly:
            if not self._week(line, cells, pupil, cols):
                return
        else:
            for pos, iso, session, _text in self.header.sessions:
                code = self._text(cells, pos)
                if not code.strip():
                    if self.blank == "skip":
                        continue
                    code = "-"
                cols["row"].append(line)
                cols["pupil_id"].append(pupil)
                cols["date"].append(iso)
                cols["session"].append(session)
                cols["code"].append(code)
        schools.extend([school] * (len(cols["row"]) - before))
        self.pupils.add_row(line, school, pupil, [self._text(cells, p) for p in self.attr_at])

    def _week(
        self, line: int, cells: Sequence[object], pupil: str, cols: dict[str, list[Any]]
    ) -> bool:
        names = self.header.names
        assert self.week_at is not None
        assert self.marks_at is not None
        raw_week = cells[self.week_at] if self.week_at < len(cells) else None
        iso, why = self.dates.parse(raw_week)
        if iso is None:
            self.problems.add(
                line, names["week_start"], cell_text(raw_week), why or Reason.MISSING_VALUE
            )
            return False
        monday = dt.date.fromisoformat(iso)
        if monday.weekday() != 0:
            self.problems.add(
                line,
                names["week_start"],
                cell_text(raw_week),
                Reason.BAD_DATE,
                "week start is not a Monday",
            )
            return False
        marks = self._text(cells, self.marks_at)
        if len(marks) != len(WEEK_SESSIONS):
            self.problems.add(
                line,
                names["marks"],
                marks,
                Reason.BAD_VALUE,
                f"mark string has {len(marks)} characters, not {len(WEEK_SESSIONS)} "
                "(Mon AM, Mon PM, ... Fri PM)",
            )
            return False
        for char, (offset, session) in zip(marks, WEEK_SESSIONS, strict=True):
            if char == _BLANK:
                continue
            cols["row"].append(line)
            cols["pupil_id"].append(pupil)
            cols["date"].append((monday + dt.timedelta(days=offset)).isoformat())
            cols["session"].append(session)
            cols["code"].append(char)
        return True


def _start(
    source: Source, header: Header, table: AliasTable, options: Mapping[str, Any], errors: str
) -> tuple[AdapterOutput, WideRows]:
    out = _output(options)
    problems = Problems(file=source.name, errors=errors, rejected=out.rejected)
    out.warnings.extend(header.notes())
    id_column = _choose_id(header, options, source.name)
    pupils = Pupils(header, table, id_column)
    rows = WideRows(
        header,
        table,
        problems,
        pupils,
        id_column=id_column,
        limit=max_field_length(options),
        size=kit.chunk_size(options),
        blank=str(options.get("blank", "skip")),
    )
    out.source_columns = rows.source_columns()
    return out, rows


class WideCsvAdapter:
    """Wide CSV exports: session columns (``Mon 02/09/2024 AM`` …) or weekly mark strings.

    Options: ``blank`` (``"skip"`` default, or ``"missing"``), ``chunksize``, ``aliases``,
    ``pupil_id``, ``code_set``, ``symbols``, ``max_field_length``. Source rows are the 1-based
    line numbers of the pupils' lines.
    """

    name: ClassVar[str] = "wide-csv"
    options: ClassVar[frozenset[str]] = WIDE_OPTIONS
    extensions: ClassVar[tuple[str, ...]] = (".csv", ".txt", ".tsv")
    description: ClassVar[str] = (
        "wide CSV export: one row per pupil, a column per session or weekly 10-mark strings"
    )

    def sniff(self, source: Source) -> bool:
        """A text file with a wide-layout header in its first lines."""
        return sniff_text(source, is_wide_header, wide=True)

    def read(self, source: Source, *, errors: str = "collect", **options: Any) -> AdapterOutput:
        """Read the file (see the class docstring for options)."""
        table = aliases_for(source, options)
        found = sniff_csv(head_text(source), table, is_wide_header, wide=True, strict=True)
        if found is None:
            raise FormatError(
                "no wide header (pupil id plus session columns such as 'Mon 02/09/2024 AM', "
                "or a week start and a marks column) in the first lines",
                file=source.name,
            )
        delimiter = found[0]
        encoding, decode_errors, note = detect_encoding(source)
        records = csv_records(source, encoding, delimiter, decode_errors)
        header, skipped = csv_header(records, table, is_wide_header, wide=True, file=source.name)
        out, rows = _start(source, header, table, options, errors)
        if note:
            out.warnings.insert(0, note)
        if skipped:
            out.warnings.append(f"{skipped} lines above the header skipped")
        problems = rows.problems

        def good_records() -> Iterator[tuple[int, Sequence[object]]]:
            for line, fields, error in records:
                if fields is None:
                    unreadable(problems, line, error)
                    continue
                yield line, fields

        def marks() -> Iterator[pd.DataFrame]:
            yield from rows.chunks(good_records())
            rows.pupils.finish(out, rows.dates)

        out.marks = marks()
        return out


class WideExcelAdapter:
    """Wide .xlsx exports (both layouts of ``wide-csv``), read with openpyxl in read-only mode.

    Options: ``sheet`` (name or 0-based index; default the first sheet with a wide header),
    plus those of ``wide-csv``. Source rows are the sheet's 1-based row numbers.
    """

    name: ClassVar[str] = "wide-excel"
    options: ClassVar[frozenset[str]] = WIDE_OPTIONS | {"sheet"}
    extensions: ClassVar[tuple[str, ...]] = (".xlsx", ".xlsm")
    description: ClassVar[str] = "wide Excel workbook: session columns or weekly mark strings"

    def sniff(self, source: Source) -> bool:
        """A zip file holding an .xlsx workbook with a wide header on a sheet."""
        return sniff_workbook(source, is_wide_header, wide=True)

    def read(self, source: Source, *, errors: str = "collect", **options: Any) -> AdapterOutput:
        """Read the workbook (see the class docstring for options)."""
        table = aliases_for(source, options)
        workbook, sheet, header, header_row = open_sheet(
            source,
            table,
            options.get("sheet"),
            is_wide_header,
            wide=True,
            keep=max_field_length(options) + 1,
            max_file_size=max_file_size(options),
        )
        out, rows = _start(source, header, table, options, errors)
        note = sheet_note(workbook, sheet)
        if note is not None:
            out.warnings.append(note)

        def records() -> Iterator[tuple[int, Sequence[object]]]:
            # every row after the header in the sheet is data, whatever its <row r> says: a
            # repeated or backward row number is kept under that number, never dropped
            passed = False
            keep = max_field_length(options) + 1
            for number, values in sheet_rows(sheet, keep=keep):
                if not passed:
                    passed = number >= header_row
                    if number <= header_row:
                        continue
                yield number, values

        def marks() -> Iterator[pd.DataFrame]:
            with reading(workbook, source.name):
                yield from rows.chunks(records())
            rows.pupils.finish(out, rows.dates)

        out.marks = marks()
        return out
