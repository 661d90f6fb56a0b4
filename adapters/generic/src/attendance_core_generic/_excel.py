"""Reading .xlsx workbooks for the Excel adapters: openpyxl read-only, sheet rows, header search."""

from __future__ import annotations

import struct
import zipfile
import zlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from attendance_core.adapters import Source
from attendance_core.errors import AttendanceError, FormatError

from ._common import AliasTable, Header, alias_table, find_header

__all__ = [
    "EXCEL_ERRORS",
    "find_sheet",
    "open_sheet",
    "open_workbook",
    "reading",
    "sheet_note",
    "sheet_rows",
    "sniff_workbook",
]

#: What openpyxl, zipfile and zlib raise on a damaged workbook (ElementTree's ParseError is a
#: SyntaxError; a damaged zip raises zlib.error, struct.error or RuntimeError).
EXCEL_ERRORS: tuple[type[BaseException], ...] = (
    zipfile.BadZipFile,
    zlib.error,
    struct.error,
    SyntaxError,
    RuntimeError,
    ArithmeticError,
    KeyError,
    ValueError,
    TypeError,
    IndexError,
    AttributeError,
    OSError,
    EOFError,
    NotImplementedError,
)


def open_workbook(source: Source) -> Any:
    """An openpyxl workbook (read-only, values only) over an .xlsx source, or FormatError."""
    import openpyxl

    if source.head(4) != b"PK\x03\x04":
        raise FormatError("not an .xlsx workbook (no zip signature)", file=source.name)
    fh = source.open()
    try:
        with zipfile.ZipFile(fh) as archive:
            if "xl/workbook.xml" not in archive.namelist():
                raise FormatError("zip file is not an .xlsx workbook", file=source.name)
        if source.path is not None:
            # openpyxl's archive owns a file it opened by name (closing the workbook closes
            # it); a file object handed to it would stay open after workbook.close()
            fh.close()
            return openpyxl.load_workbook(source.path, read_only=True, data_only=True)
        fh.seek(0)
        return openpyxl.load_workbook(fh, read_only=True, data_only=True)
    except AttendanceError:
        fh.close()
        raise
    except EXCEL_ERRORS as exc:
        fh.close()
        raise FormatError(
            f"workbook cannot be read ({type(exc).__name__})", file=source.name
        ) from exc


def sheet_rows(sheet: Any) -> Iterator[tuple[int, Sequence[object]]]:
    """``(sheet row number, values)`` for each row; numbering follows the sheet (1-based)."""
    for cells in sheet.iter_rows():
        row = next((getattr(c, "row", None) for c in cells if getattr(c, "row", None)), None)
        if row is None:
            continue  # an empty row: no cells, nothing to read
        width = max((getattr(c, "column", 0) or 0) for c in cells)
        values: list[object] = [None] * width
        for cell in cells:
            column = getattr(cell, "column", None)
            if column:
                values[column - 1] = cell.value
        yield int(row), values


def find_sheet(
    workbook: Any,
    table: AliasTable,
    wanted: str | int | None,
    file: str,
    accept: Callable[[Header], bool],
    *,
    wide: bool,
) -> tuple[Any, Header, int]:
    """The sheet to read, its header and the header's row number.

    ``wanted`` names a sheet (or its 0-based index); otherwise the first of the first 20
    sheets with a header that ``accept`` takes, searched in its first 30 rows.
    """
    sheets = list(workbook.worksheets)
    if wanted is not None:
        try:
            sheets = [workbook[wanted] if isinstance(wanted, str) else sheets[wanted]]
        except (KeyError, IndexError) as exc:
            names = ", ".join(workbook.sheetnames)
            raise FormatError(f"no sheet {wanted!r}; sheets: {names}", file=file) from exc
    for sheet in sheets[:20]:
        head: list[Sequence[object]] = []
        numbers: list[int] = []
        for number, values in sheet_rows(sheet):
            head.append(values)
            numbers.append(number)
            if len(head) >= 30:
                break
        found = find_header(head, table, accept, wide=wide, file=file)
        if found is not None:
            return sheet, found[1], numbers[found[0]]
    layout = (
        "a wide header (pupil id plus session columns, or week start and marks)"
        if wide
        else "a long header (pupil id, date, session and mark columns)"
    )
    raise FormatError(f"no sheet with {layout}", file=file)


def sniff_workbook(source: Source, accept: Callable[[Header], bool], *, wide: bool) -> bool:
    """Whether ``source`` is an .xlsx workbook with a sheet whose header ``accept`` takes."""
    if not source.is_bytes or source.head(4) != b"PK\x03\x04":
        return False
    try:
        workbook = open_workbook(source)
        try:
            find_sheet(workbook, alias_table(), None, source.name, accept, wide=wide)
        finally:
            workbook.close()
    except (AttendanceError, *EXCEL_ERRORS):  # type: ignore[misc]
        return False
    return True


def open_sheet(
    source: Source,
    table: AliasTable,
    wanted: str | int | None,
    accept: Callable[[Header], bool],
    *,
    wide: bool,
) -> tuple[Any, Any, Header, int]:
    """``(workbook, sheet, header, header row)`` of the sheet to read (see :func:`find_sheet`);
    the workbook is closed again when no sheet can be used."""
    workbook = open_workbook(source)
    try:
        sheet, header, header_row = find_sheet(
            workbook, table, wanted, source.name, accept, wide=wide
        )
    except AttendanceError:
        workbook.close()
        raise
    except EXCEL_ERRORS as exc:
        workbook.close()
        raise FormatError(
            f"workbook cannot be read ({type(exc).__name__})", file=source.name
        ) from exc
    return workbook, sheet, header, header_row


def sheet_note(workbook: Any, sheet: Any) -> str | None:
    """The warning that says which sheet was read, when the workbook has more than one."""
    if len(workbook.worksheets) > 1:
        return f"read sheet {sheet.title!r} of {len(workbook.worksheets)}"
    return None


@contextmanager
def reading(workbook: Any, file: str) -> Iterator[None]:
    """Around the reading of sheet rows: a damaged workbook becomes a :class:`FormatError`
    and the workbook is closed whatever happens."""
    try:
        yield
    except AttendanceError:
        raise
    except EXCEL_ERRORS as exc:
        raise FormatError(f"workbook cannot be read ({type(exc).__name__})", file=file) from exc
    finally:
        workbook.close()
