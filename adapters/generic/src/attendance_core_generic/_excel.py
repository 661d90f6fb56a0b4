"""Reading .xlsx workbooks for the Excel adapters: openpyxl read-only, sheet rows, header search."""

from __future__ import annotations

import io
import re
import struct
import zipfile
import zlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from attendance_core.adapters import DEFAULT_MAX_FILE_SIZE, Source
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


def open_workbook(
    source: Source, *, keep: int | None = None, max_file_size: int = DEFAULT_MAX_FILE_SIZE
) -> Any:
    """An openpyxl workbook (read-only, values only) over an .xlsx source, or FormatError.

    Every XML part openpyxl reads (shared strings, workbook, styles and, later, the sheets)
    comes through :class:`_Squeezed`: a whitespace run is cut to ``keep`` bytes (default
    :data:`WHITESPACE_RUN`) as the part streams, and no value is held whole past a cap
    (:class:`_Bounds`): a cell or shared string longer than :data:`XML_BYTES_PER_CHAR` x
    ``keep`` bytes of XML, or a shared-strings table costing more than ``max_file_size``
    (:data:`STRING_COST` bytes a string plus its XML), is a :class:`FormatError`.
    """
    from openpyxl.reader.excel import ExcelReader

    if source.head(4) != b"PK\x03\x04":
        raise FormatError("not an .xlsx workbook (no zip signature)", file=source.name)
    fh = source.open()
    try:
        with zipfile.ZipFile(fh) as archive:
            if "xl/workbook.xml" not in archive.namelist():
                raise FormatError("zip file is not an .xlsx workbook", file=source.name)
        target: Any = fh
        if source.path is not None:
            # openpyxl's archive owns a file it opened by name (closing the workbook closes
            # it); a file object handed to it would stay open after workbook.close()
            fh.close()
            target = source.path
        else:
            fh.seek(0)
        reader = ExcelReader(target, read_only=True, data_only=True)
        reader.archive = _SqueezedArchive(
            reader.archive,
            WHITESPACE_RUN if keep is None else keep,
            file=source.name,
            budget=max_file_size,
        )
        reader.read()
        return reader.wb
    except AttendanceError:
        fh.close()
        raise
    except EXCEL_ERRORS as exc:
        fh.close()
        ours = _refusal(exc)
        if ours is not None:  # openpyxl wraps what its parts' streams raise in a ValueError
            raise ours from None
        raise FormatError(
            f"workbook cannot be read ({type(exc).__name__})", file=source.name
        ) from exc


def _refusal(exc: BaseException) -> AttendanceError | None:
    """The :class:`AttendanceError` (a :class:`_Bounds` refusal) behind ``exc``, if any."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, AttendanceError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


#: Whitespace kept of one run between or inside XML elements of a sheet, at least (a longer
#: run is cut; see :class:`_Squeezed`).
WHITESPACE_RUN = 1025
_WS = b" \t\r\n"


class _Squeezed(io.RawIOBase):
    """A sheet's XML with every run of whitespace cut to ``keep`` bytes, read as it streams.

    Whitespace between elements means nothing, so a whitespace bomb (gigabytes of spaces
    between two rows, compressing to a few kilobytes) would otherwise become one huge text in
    the XML parser. Inside a cell value a run is cut only when it is longer than ``keep``,
    which is over ``max_field_length``: such a value is rejected as ``field_too_long`` cut or
    not.
    """

    def __init__(self, raw: Any, keep: int, bounds: _Bounds | None = None) -> None:
        super().__init__()
        self._raw = raw
        self._keep = keep
        self._bounds = bounds
        self._run = 0  # whitespace at the end of what was read so far
        self._pattern = re.compile(b"[ \t\r\n]{%d,}" % (keep + 1))
        self._pending = b""
        self._at = 0  # how much of _pending was handed out

    def readable(self) -> bool:
        return True

    def _cut(self, match: re.Match[bytes]) -> bytes:
        return match.group()[: self._keep]

    def _squeeze(self, block: bytes) -> bytes:
        stripped = block.lstrip(_WS)
        lead = len(block) - len(stripped)
        head = b""
        if lead:
            head = block[: max(0, min(lead, self._keep - self._run))]
            self._run += lead
            if not stripped:
                return head
        body = self._pattern.sub(self._cut, stripped)
        self._run = len(stripped) - len(stripped.rstrip(_WS))
        return head + body

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        while self._at >= len(self._pending):
            block = self._raw.read(1 << 16)
            if not block:
                return 0
            self._pending, self._at = self._squeeze(block), 0
            if self._bounds is not None:
                self._bounds.feed(self._pending)
        n = min(len(view), len(self._pending) - self._at)
        view[:n] = self._pending[self._at : self._at + n]
        self._at += n
        return n

    def close(self) -> None:
        self._raw.close()
        super().close()


#: Bytes of XML a character of a value takes at most (``&#1114111;`` is ten): a cell or shared
#: string whose XML is longer than this many times ``max_field_length + 1`` bytes certainly
#: holds a value longer than ``max_field_length`` characters, and is refused before it is held.
XML_BYTES_PER_CHAR = 16
#: What one shared string costs in memory besides its characters, at most (openpyxl's list
#: entry, the string object, the cleared element its parser keeps): the shared-strings table is
#: held to ``max_file_size`` bytes, counted as its part streams.
STRING_COST = 256


class _Bounds:
    """Refuses, as an XML part streams, what would otherwise be held whole: any run of text or
    attribute (no ``<``) longer than ``cap`` bytes, any ``<tag>`` element (a sheet's cell
    ``c``, a shared string ``si``) whose content is longer than ``cap`` bytes, and, with a
    ``budget``, a table of such elements costing more than ``budget`` bytes
    (:data:`STRING_COST` an element plus the part's XML so far)."""

    def __init__(
        self, tag: bytes, cap: int, *, where: str, file: str, budget: int | None = None
    ) -> None:
        self._start = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?%s(?:\s[^<>]*)?>" % tag)
        self._end = re.compile(rb"</(?:[A-Za-z_][\w.-]*:)?%s\s*>" % tag)
        self._long_run = re.compile(rb"[^<]{%d}" % (cap + 1))
        self._cap = cap
        self._where = where
        self._file = file
        self._budget = budget
        self._open: bytes | None = None  # the start tag of an element not yet closed
        self._held = 0  # its content so far
        self._run = 0  # bytes since the last "<"
        self._count = 0
        self._seen = 0
        self._last = b""  # the start tag of the element last started

    def feed(self, block: bytes) -> None:
        """Check the next ``block`` of the part; :class:`FormatError` past a cap."""
        self._seen += len(block)
        pos = self._close_open(block)
        while pos >= 0:
            pos = self._next_element(block, pos)
        lt = block.find(b"<")
        self._run = self._run + len(block) if lt < 0 else len(block) - block.rfind(b"<") - 1
        if (lt < 0 and self._run > self._cap) or self._long_run.search(block):
            self._refuse(f"{self._which()} holds a text longer than {self._cap} bytes")
        if self._budget is not None and STRING_COST * self._count + self._seen > self._budget:
            self._refuse(
                f"{self._count} strings in {self._seen} bytes so far: the table would take more "
                f"than max_file_size ({self._budget} bytes) allows",
                long_value=False,
            )

    def _close_open(self, block: bytes) -> int:
        """Where the element left open by the last block closes in this one (-1: it does not)."""
        if self._open is None:
            return 0
        end = self._end.search(block)
        self._held += len(block) if end is None else end.start()
        self._check()
        if end is None:
            return -1
        self._open = None
        return end.end()

    def _next_element(self, block: bytes, pos: int) -> int:
        found = self._start.search(block, pos)
        if found is None:
            return -1
        self._count += 1
        self._last = found.group()
        if self._last.endswith(b"/>"):
            return found.end()
        end = self._end.search(block, found.end())
        self._open = self._last
        self._held = (len(block) if end is None else end.start()) - found.end()
        self._check()
        if end is None:
            return -1
        self._open = None
        return end.end()

    def _which(self) -> str:
        """The element last started: ``cell B7`` (its ``r``) or ``string 12`` (1-based)."""
        ref = re.search(rb'\sr="([A-Z]{1,3}[0-9]{1,7})"', self._last)
        if ref:
            return f"cell {ref[1].decode()}"
        return f"{'string' if self._budget is not None else 'element'} {self._count}"

    def _check(self) -> None:
        if self._held > self._cap:
            self._refuse(f"{self._which()} is longer than {self._cap} bytes of XML")

    def _refuse(self, what: str, *, long_value: bool = True) -> None:
        why = (
            f" (a value this long is over max_field_length, "
            f"{self._cap // XML_BYTES_PER_CHAR - 1} characters: the workbook is refused)"
            if long_value
            else " (raise max_file_size to read it)"
        )
        raise FormatError(f"{self._where}: {what}{why}", file=self._file)


class _SqueezedArchive:
    """A zip archive whose XML parts open through :class:`_Squeezed` (other members, and
    everything else a ``ZipFile`` does, pass through)."""

    def __init__(
        self, archive: zipfile.ZipFile, keep: int, *, file: str = "", budget: int | None = None
    ) -> None:
        self._archive = archive
        self.keep = max(keep, 64)
        self.file = file
        self._budget = budget

    def open(self, name: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        raw = self._archive.open(name, mode, *args, **kwargs)
        text = getattr(name, "filename", name)
        if mode == "r" and isinstance(text, str) and text.lower().endswith((".xml", ".rels")):
            strings = text.lower().rsplit("/", 1)[-1].startswith("sharedstrings")
            bounds = _Bounds(
                b"si" if strings else b"c",
                XML_BYTES_PER_CHAR * self.keep,
                where="shared strings" if strings else f"sheet part {text}",
                file=self.file,
                budget=self._budget if strings else None,
            )
            return io.BufferedReader(_Squeezed(raw, self.keep, bounds))
        return raw

    def read(self, name: Any, *args: Any) -> bytes:
        with self.open(name) as fh:
            data: bytes = fh.read()
        return data

    def __getattr__(self, attr: str) -> Any:
        return getattr(self._archive, attr)


def _row_parser(sheet: Any, keep: int) -> tuple[Any, Any] | None:
    """openpyxl's own row parser over the sheet's XML (squeezed), or None when the sheet is
    not a read-only worksheet of a zip archive."""
    from openpyxl.worksheet._reader import WorkSheetParser

    path = getattr(sheet, "_worksheet_path", None)
    archive = getattr(getattr(sheet, "parent", None), "_archive", None)
    if path is None or archive is None:
        return None
    book = sheet.parent
    file = ""
    if isinstance(archive, _SqueezedArchive):
        file = archive.file
        archive = archive._archive  # squeezed here, to this sheet's own limit
    where = f"sheet {getattr(sheet, 'title', path)!r}"
    bounds = _Bounds(b"c", XML_BYTES_PER_CHAR * keep, where=where, file=file)
    src = io.BufferedReader(_Squeezed(archive.open(path), keep, bounds))
    parser = WorkSheetParser(
        src,
        getattr(sheet, "_shared_strings", []),
        data_only=True,
        epoch=book.epoch,
        date_formats=book._date_formats,
        timedelta_formats=book._timedelta_formats,
    )
    return src, parser


def sheet_rows(
    sheet: Any,
    *,
    disorder: Callable[[int, Sequence[object]], None] | None = None,
    keep: int = WHITESPACE_RUN,
) -> Iterator[tuple[int, Sequence[object]]]:
    """``(sheet row number, values)`` for each row; numbering follows the sheet (1-based).

    The sheet is streamed row by row from its XML: its ``<dimension>`` claim is never used
    (a sheet claiming ``A1:XFD1048576`` costs no more than its cells, and one claiming less
    loses nothing), whitespace runs are cut to ``keep`` bytes, and a row is as wide as its last
    cell. A row whose ``r`` number repeats an earlier one or goes back is handed to
    ``disorder`` (to be rejected) instead of being yielded; without ``disorder`` it is yielded
    as it comes.
    """
    opened = _row_parser(sheet, max(keep, 64))
    if opened is None:  # not a read-only sheet: openpyxl's own iteration
        yield from _cell_rows(sheet)
        return
    src, parser = opened
    last = 0
    try:
        for number, cells in parser.parse():
            if not cells:
                continue  # an empty row: no cells, nothing to read
            width = max(int(c["column"]) for c in cells)
            values: list[object] = [None] * width
            for cell in cells:
                values[int(cell["column"]) - 1] = cell["value"]
            if number <= last and disorder is not None:
                disorder(int(number), values)
                continue
            last = max(last, int(number))
            yield int(number), values
    finally:
        src.close()


def _cell_rows(sheet: Any) -> Iterator[tuple[int, Sequence[object]]]:
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
    keep: int | None = None,
    max_file_size: int = DEFAULT_MAX_FILE_SIZE,
) -> tuple[Any, Any, Header, int]:
    """``(workbook, sheet, header, header row)`` of the sheet to read (see :func:`find_sheet`);
    the workbook is closed again when no sheet can be used. ``keep`` and ``max_file_size``:
    as for :func:`open_workbook` (``max_field_length + 1``, the load's limit)."""
    workbook = open_workbook(source, keep=keep, max_file_size=max_file_size)
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
