"""Shared pieces of the generic adapters: header aliases, dates, encodings, rows, pupils."""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import math
import re
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from functools import cache
from typing import Any, TypeVar

import attrs
import numpy as np
import numpy.typing as npt
import pandas as pd

from attendance_core._rejected import check_errors
from attendance_core._values import id_texts
from attendance_core.adapterkit import (
    PUPIL_DATE_COLUMNS,
    PUPIL_FLAGS,
    id_text,
    package_toml,
    shorten,
    upn_ok,
)
from attendance_core.adapters import (
    DEFAULT_MAX_FIELD_LENGTH,
    DEFAULT_MAX_FILE_SIZE,
    PUPIL_COLUMNS,
    AdapterOutput,
    RejectedStore,
    Source,
)
from attendance_core.calendar import in_range
from attendance_core.errors import REASON_TEXT, FormatError, Reason, RegisterError

T = TypeVar("T")

#: Rows per chunk where the rows come from Arrow (Parquet, the fast CSV blocks) and the chunk's
#: columns are codes into a few distinct values (a few bytes a row): fewer, bigger chunks keep
#: the per-chunk costs small beside the per-row ones.
ARROW_CHUNKSIZE = 1_000_000
#: Rows per Parquet batch: a batch in flight costs up to about 170 bytes a row while it is
#: checked (all of it when every row is rejected), and a few KB of Parquet can decode to
#: millions of rows, so batches are kept smaller than ``ARROW_CHUNKSIZE`` (as fast here).
PARQUET_CHUNKSIZE = 200_000
#: How many leading lines/rows are searched for the header row (title lines come first).
HEADER_SEARCH = 30
#: Columns that identify a pupil, by preference: the UPN first, then the MIS's own id.
ID_COLUMNS = ("upn", "mis_id")
#: Cohort flag columns of the pupils frame.
FLAG_COLUMNS = PUPIL_FLAGS
#: Text columns of the pupils frame read as given.
PUPIL_TEXT_COLUMNS = ("school_id", "upn", "mis_id", "name", "forename", "surname", "year_group")


# --------------------------------------------------------------------------------------------
# The alias table (data in aliases.toml)


def header_key(text: object) -> str:
    """A header as aliases are compared: lower case, without spaces, ``_``, ``-`` and ``.``."""
    return re.sub(r"[\s_\-.]+", "", str(text).strip().lower())


def _session_key(text: str) -> str:
    return re.sub(r"[\s.]+", "", text.upper())


@attrs.frozen(kw_only=True)
class AliasTable:
    """Header aliases, session words and flag values of the generic adapters (from TOML)."""

    columns: Mapping[str, str]  # header key -> column id
    rank: Mapping[str, int]  # header key -> place in its alias list (lower wins)
    sessions: Mapping[str, str]  # session key -> "AM"/"PM"
    flags: Mapping[str, bool]  # flag key -> value
    sen_ehcp: frozenset[str]
    open_end_dates: frozenset[str]

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> AliasTable:
        """Build the table from the parsed TOML layout of ``aliases.toml``."""
        columns: dict[str, str] = {}
        rank: dict[str, int] = {}
        for column, aliases in data["columns"].items():
            for place, alias in enumerate([*aliases, column]):
                key = header_key(alias)
                if key not in columns:
                    columns[key] = column
                    rank[key] = place
        return cls(
            columns=columns,
            rank=rank,
            sessions={_session_key(k): v for k, v in data["sessions"].items()},
            flags={_session_key(k): bool(v) for k, v in data["flags"].items()},
            sen_ehcp=frozenset(data["sen_ehcp"]["statuses"]),
            open_end_dates=frozenset(data["open_end_dates"]["dates"]),
        )

    def extended(self, aliases: Mapping[str, str | Sequence[str]] | None) -> AliasTable:
        """A copy with extra ``{column id: alias or aliases}`` entries that win over the table."""
        if not aliases:
            return self
        columns = dict(self.columns)
        rank = dict(self.rank)
        for column, extra in aliases.items():
            for alias in [extra] if isinstance(extra, str) else extra:
                columns[header_key(alias)] = column
                rank[header_key(alias)] = -1  # the caller's aliases win
        return attrs.evolve(self, columns=columns, rank=rank)

    def column_of(self, header: object) -> str | None:
        """The column id a header means, or None."""
        return self.columns.get(header_key(header))

    def session(self, text: str) -> str | None:
        """``"AM"``/``"PM"`` for a session text, or None."""
        return self.sessions.get(_session_key(text))

    def flag(self, text: str) -> bool | None:
        """The yes/no value of a flag cell, or None when the text is not one of the table."""
        return self.flags.get(_session_key(text))


@cache
def alias_table() -> AliasTable:
    """The bundled alias table."""
    return AliasTable.from_mapping(package_toml("attendance_core_generic", "aliases.toml"))


# --------------------------------------------------------------------------------------------
# Header rows


@attrs.frozen(kw_only=True)
class Header:
    """A header row mapped onto column ids.

    ``index`` maps column id -> position of its column; ``names`` column id -> header text;
    ``unmapped`` the headers that mean nothing to the adapter; ``repeated`` headers that map to
    an id already taken (the alias listed earlier in the table wins, then the first column);
    ``sessions`` (wide layout) the session columns as (position, ISO date, ``AM``/``PM``,
    header text).
    """

    cells: tuple[str, ...]
    index: Mapping[str, int]
    names: Mapping[str, str]
    unmapped: tuple[str, ...]
    repeated: tuple[str, ...]
    sessions: tuple[tuple[int, str, str, str], ...] = ()

    @property
    def id_column(self) -> str | None:
        """The column id pupils are keyed on: ``upn`` when present, else ``mis_id``."""
        for column in ID_COLUMNS:
            if column in self.index:
                return column
        return None

    def notes(self) -> list[str]:
        """Warnings about the header: unmapped and repeated columns."""
        out = []
        if self.unmapped:
            out.append("unmapped columns (ignored): " + ", ".join(self.unmapped))
        if self.repeated:
            out.append("columns repeating an earlier one (ignored): " + ", ".join(self.repeated))
        return out


_SESSION_HEADER = re.compile(
    r"^\s*(?:(?P<dow>mon|tue|wed|thu|fri|sat|sun)[a-z]*\.?,?\s+)?"
    r"(?P<date>\d[\d/.\-]*\d|\d{1,2}\s+[a-z]{3,9}\s+\d{4})\s*[-_ ]?\s*"
    r"(?P<session>am|pm|a\.m\.|p\.m\.)\s*$",
    re.IGNORECASE,
)
_DOW = {"mon": 0, "tue": 1, "wed": 2, "thu": 3, "fri": 4, "sat": 5, "sun": 6}


def map_header(
    cells: Sequence[object], table: AliasTable, *, wide: bool = False, file: str = ""
) -> Header:
    """Map header cells onto column ids; with ``wide`` also read session columns.

    A session column header whose date is ambiguous, or whose weekday does not match the date
    read day-first, raises :class:`FormatError`: a whole column cannot be guessed.
    """
    texts = tuple("" if c is None else str(c).strip() for c in cells)
    index: dict[str, int] = {}
    names: dict[str, str] = {}
    unmapped: list[str] = []
    repeated: list[str] = []
    sessions: list[tuple[int, str, str, str]] = []
    parser = DateParser()
    for pos, text in enumerate(texts):
        if not text:
            continue
        column = table.column_of(text)
        if column is None and wide:
            found = _SESSION_HEADER.match(text)
            if found:
                iso, why = parser.parse(found["date"])
                dow = found["dow"]
                if (
                    why is None
                    and iso is not None
                    and dow is not None
                    and dt.date.fromisoformat(iso).weekday() != _DOW[dow.lower()[:3]]
                ):
                    why = Reason.AMBIGUOUS_DATE
                if why == Reason.DATE_OUT_OF_RANGE:  # a whole column of 9999-12-31
                    raise FormatError(
                        f"session column header: {REASON_TEXT[why]}",
                        file=file,
                        column=text,
                        reason=why,
                    )
                if why is not None or iso is None:
                    raise FormatError(
                        "session column header has an ambiguous or invalid date "
                        "(write dates day-first as dd/mm/yyyy or as yyyy-mm-dd)",
                        file=file,
                        column=text,
                        reason=why or Reason.BAD_DATE,
                    )
                session = table.session(found["session"]) or found["session"].upper()
                sessions.append((pos, iso, session, text))
                continue
        if column is None:
            unmapped.append(text)
        elif column not in index:
            index[column] = pos
            names[column] = text
        elif table.rank[header_key(text)] < table.rank[header_key(names[column])]:
            repeated.append(names[column])  # a better alias of the same column wins
            index[column] = pos
            names[column] = text
        else:
            repeated.append(text)
    return Header(
        cells=texts,
        index=index,
        names=names,
        unmapped=tuple(unmapped),
        repeated=tuple(repeated),
        sessions=tuple(sessions),
    )


def is_long_header(header: Header) -> bool:
    """Whether a header has what the long layout needs: a pupil id, date, session and mark."""
    return (
        header.id_column is not None
        and all(c in header.index for c in ("date", "session", "code"))
        and not header.sessions
    )


def is_wide_header(header: Header) -> bool:
    """Whether a header is one of the wide layouts: session columns or weekly mark strings."""
    if header.id_column is None or "date" in header.index or "session" in header.index:
        return False
    return bool(header.sessions) or ("week_start" in header.index and "marks" in header.index)


# --------------------------------------------------------------------------------------------
# Dates

_TIME = r"(?:[T ]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?"
_ISO_DATE = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})" + _TIME + "$")
_YEAR_FIRST = re.compile(r"^(\d{4})([/.])(\d{1,2})\2(\d{1,2})" + _TIME + "$")
_DAY_FIRST = re.compile(r"^(\d{1,2})([/.\-])(\d{1,2})\2(\d{4}|\d{2})" + _TIME + "$")
_TEXT_MONTH = re.compile(r"^(\d{1,2})(?:st|nd|rd|th)?[\s\-/]+([A-Za-z]{3,9})\.?[\s\-/,]+(\d{4})$")
_WEEKDAY_PREFIX = re.compile(r"^(mon|tue|wed|thu|fri|sat|sun)[a-z]*\.?,?\s+(.+)$", re.IGNORECASE)
_MONTHS = {
    name: i
    for i, names in enumerate(
        (
            ("jan", "january"),
            ("feb", "february"),
            ("mar", "march"),
            ("apr", "april"),
            ("may",),
            ("jun", "june"),
            ("jul", "july"),
            ("aug", "august"),
            ("sep", "sept", "september"),
            ("oct", "october"),
            ("nov", "november"),
            ("dec", "december"),
        ),
        start=1,
    )
    for name in names
}
_MIN_YEAR, _MAX_YEAR = dt.MINYEAR, dt.MAXYEAR  # any date; the bounds are checked after


def _valid(year: int, month: int, day: int) -> dt.date | None:
    if not _MIN_YEAR <= year <= _MAX_YEAR:
        return None
    try:
        return dt.date(year, month, day)
    except ValueError:
        return None


class DateParser:
    """Reads dates the UK way: ``dd/mm/yyyy`` day-first, ``yyyy-mm-dd``, ``2 Sep 2024``.

    A form that can be read two ways is never swapped silently: a two-digit year, a day-first
    date that is only valid month-first (``09/13/2024``), a weekday that matches only the
    month-first reading, or ``yyyy/dd/mm`` all give ``ambiguous_date``. Results are cached, so
    the thousands of rows of one date cost one parse.
    """

    def __init__(self) -> None:
        self._cache: dict[str, tuple[str | None, Reason | None]] = {}
        #: distinct day-first texts that are valid only month-first (a US-style export?)
        self.month_first_only = 0

    def notes(self) -> list[str]:
        """A warning when some dates were valid only month-first: then the file may be
        month-first throughout, and its other dates (day and month both up to 12) would have
        been read day-first."""
        if not self.month_first_only:
            return []
        return [
            f"{self.month_first_only} distinct dates are valid only month-first (mm/dd/yyyy) "
            "and were rejected as ambiguous_date; if the export writes all dates month-first, "
            "fix its settings: the other dates were read day-first"
        ]

    def parse(self, value: object) -> tuple[str | None, Reason | None]:
        """``(ISO date, None)``, ``(None, reason)``, or ``(None, None)`` for an empty value."""
        if value is None:
            return None, None
        if isinstance(value, dt.datetime | pd.Timestamp):
            return value.date().isoformat(), None
        if isinstance(value, dt.date):
            return value.isoformat(), None
        if isinstance(value, float) and math.isnan(value):
            return None, None
        text = str(value).strip()
        if not text:
            return None, None
        found = self._cache.get(text)
        if found is None:
            found = self._parse_text(text)
            if len(self._cache) > 200_000:
                self._cache.clear()
            self._cache[text] = found
        return found

    def _parse_text(self, text: str) -> tuple[str | None, Reason | None]:
        weekday = None
        prefixed = _WEEKDAY_PREFIX.match(text)
        if prefixed:
            weekday = _DOW[prefixed[1].lower()[:3]]
            text = prefixed[2].strip()
        first, why = self._read(text)
        if first is None:
            return None, why
        if not in_range(first):  # 0001-01-01, 9999-12-31: a placeholder
            return None, Reason.DATE_OUT_OF_RANGE
        if weekday is not None and first.weekday() != weekday:
            return None, Reason.AMBIGUOUS_DATE
        return first.isoformat(), None

    def _read(self, text: str) -> tuple[dt.date | None, Reason | None]:
        if m := _ISO_DATE.match(text):
            day = _valid(int(m[1]), int(m[2]), int(m[3]))
            return (day, None) if day else (None, Reason.BAD_DATE)
        if m := _YEAR_FIRST.match(text):
            year, a, b = int(m[1]), int(m[3]), int(m[4])
            day = _valid(year, a, b)
            if day:
                return day, None
            return None, (Reason.AMBIGUOUS_DATE if _valid(year, b, a) else Reason.BAD_DATE)
        if m := _DAY_FIRST.match(text):
            if len(m[4]) == 2:
                return None, Reason.AMBIGUOUS_DATE
            year, a, b = int(m[4]), int(m[1]), int(m[3])
            day = _valid(year, b, a)
            if day:
                return day, None
            if _valid(year, a, b):
                self.month_first_only += 1
                return None, Reason.AMBIGUOUS_DATE
            return None, Reason.BAD_DATE
        if m := _TEXT_MONTH.match(text):
            month = _MONTHS.get(m[2].lower())
            day = _valid(int(m[3]), month, int(m[1])) if month else None
            return (day, None) if day else (None, Reason.BAD_DATE)
        return None, Reason.BAD_DATE


# --------------------------------------------------------------------------------------------
# Encodings and CSV records


#: Encodings in which ASCII bytes are always whole, valid characters.
_ASCII_SAFE = frozenset({"utf-8", "cp1252", "latin-1"})


def _decodes(source: Source, encoding: str) -> bool:
    decoder = codecs.getincrementaldecoder(encoding)()
    # a block of ASCII bytes with no character left open before it decodes in every such
    # encoding: ``isascii`` (memory speed) instead of making the text (a tenth of the speed);
    # a utf-8-sig file's first block goes to the decoder, which takes the BOM off
    ascii_safe = encoding in _ASCII_SAFE
    try:
        with source.open() as fh:
            while block := fh.read(1 << 20):
                if ascii_safe and block.isascii() and not decoder.getstate()[0]:
                    continue
                decoder.decode(block)
                ascii_safe = ascii_safe or encoding == "utf-8-sig"
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def detect_encoding(source: Source) -> tuple[str, str, str | None]:
    """``(encoding, errors, warning)`` for reading a byte source as text.

    UTF-8 (with or without BOM) and UTF-16 with a BOM are read as such; a file that does not
    decode as UTF-8 falls back to cp1252, or Latin-1 when cp1252 cannot decode it, with a
    warning. A file with a BOM whose content does not decode is read with undecodable bytes
    replaced, with a warning. The whole source is scanned in blocks: memory stays bounded.
    """
    head = source.head(4)
    if head.startswith((codecs.BOM_UTF8, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encoding = "utf-8-sig" if head.startswith(codecs.BOM_UTF8) else "utf-16"
        if _decodes(source, encoding):
            return encoding, "strict", None
        return (
            encoding,
            "replace",
            f"file has a {encoding} BOM but bytes that do not decode (replaced)",
        )
    if _decodes(source, "utf-8"):
        return "utf-8", "strict", None
    if _decodes(source, "cp1252"):
        return "cp1252", "strict", "file is not UTF-8; read as Windows-1252 (cp1252)"
    return "latin-1", "strict", "file is not UTF-8; read as Latin-1"


def looks_binary(text: str) -> bool:
    """Whether decoded head text holds NUL characters (a binary file, not a CSV export)."""
    return "\x00" in text[:4096]


def head_text(source: Source, n: int = 65536) -> str:
    """The start of a byte source as text, for sniffing (undecodable bytes replaced)."""
    head = source.head(n)
    if head.startswith(codecs.BOM_UTF8):
        return head[3:].decode("utf-8", "replace")
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return head[: len(head) - len(head) % 2].decode("utf-16", "replace")
    try:
        return head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start >= len(head) - 4:  # a character cut by the end of the head
            return head[: exc.start].decode("utf-8")
        return head.decode("cp1252", "replace")


DELIMITERS = (",", "\t", ";", "|")


def find_header(
    lines: Sequence[Sequence[object]],
    table: AliasTable,
    accept: Callable[[Header], bool],
    *,
    wide: bool = False,
    file: str = "",
) -> tuple[int, Header] | None:
    """The first of ``lines`` (0-based position) that ``accept`` takes as the header."""
    for pos, cells in enumerate(lines[:HEADER_SEARCH]):
        if sum(1 for c in cells if c not in (None, "")) < 2:
            continue
        try:
            header = map_header(cells, table, wide=wide, file=file)
        except FormatError:
            if accept is is_wide_header:
                raise
            continue
        if accept(header):
            return pos, header
    return None


def sniff_csv(
    text: str,
    table: AliasTable,
    accept: Callable[[Header], bool],
    *,
    wide: bool = False,
    strict: bool = False,
) -> tuple[str, int, Header] | None:
    """Find a header in the start of a text file: ``(delimiter, line position, header)``.

    With ``strict`` a :class:`FormatError` about a header (an ambiguous session column date)
    propagates instead of meaning "not found".
    """
    lines = text.splitlines()[: HEADER_SEARCH + 1]
    if len(lines) > HEADER_SEARCH or (text and not text.endswith(("\n", "\r"))):
        lines = lines[:-1] if len(lines) > 1 else lines  # the last line may be cut short
    for delimiter in DELIMITERS:
        if not any(delimiter in line for line in lines):
            continue
        try:
            rows = list(csv.reader(lines, delimiter=delimiter))
        except csv.Error:
            continue
        try:
            found = find_header(rows, table, accept, wide=wide)
        except FormatError:
            if strict:
                raise
            found = None
        if found is not None:
            return delimiter, found[0], found[1]
    return None


def sniff_text(source: Source, accept: Callable[[Header], bool], *, wide: bool = False) -> bool:
    """Whether a byte source is text with a header ``accept`` takes in its first lines."""
    if not source.is_bytes:
        return False
    text = head_text(source)
    if looks_binary(text):
        return False
    return sniff_csv(text, alias_table(), accept, wide=wide) is not None


def csv_header(
    records: Iterator[tuple[int, list[str] | None, str | None]],
    table: AliasTable,
    accept: Callable[[Header], bool],
    *,
    wide: bool = False,
    file: str,
) -> tuple[Header, int]:
    """The header among the first records of ``records`` (consumed up to and including it) and
    how many records stood above it; :class:`FormatError` when none of 31 is a header."""
    for skipped, (_line, fields, _error) in enumerate(records):
        if fields is not None:
            hit = find_header([fields], table, accept, wide=wide, file=file)
            if hit is not None:
                return hit[1], skipped
        if skipped >= 30:
            break
    raise FormatError("header row not found", file=file)


def csv_records(
    source: Source, encoding: str, delimiter: str, errors: str = "strict"
) -> Iterator[tuple[int, list[str] | None, str | None]]:
    """``(line, fields, error)`` for each record; ``line`` is the 1-based line it starts on.

    A record the csv module cannot read gives ``fields=None`` and the error text.
    """
    with source.open() as raw:
        stream = io.TextIOWrapper(raw, encoding=encoding, errors=errors, newline="")
        reader = csv.reader(stream, delimiter=delimiter)
        start = 1
        while True:
            try:
                for fields in reader:
                    yield start, fields, None
                    start = reader.line_num + 1
            except csv.Error as exc:
                yield start, None, str(exc)
                start = reader.line_num + 1
            else:
                return


# --------------------------------------------------------------------------------------------
# Values


def cell_text(value: object) -> str:
    """A cell as text: ``None``/NaN → ``""``, integral floats without ``.0``, dates ISO."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "Y" if value else "N"
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        return str(int(value)) if value.is_integer() else str(value)
    if isinstance(value, dt.datetime | pd.Timestamp):
        if value.time() == dt.time(0):
            return value.date().isoformat()
        return value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def clean_id(value: str, column: str) -> str:
    """A pupil id as keys use it: trimmed; a UPN also upper-cased without inner spaces."""
    text = id_text(value)
    if column == "upn":
        text = text.replace(" ", "").upper()
    return text


def clean_ids(values: Sequence[str], column: str) -> list[str]:
    """:func:`clean_id` of each of ``values`` (texts: only their spaces are stripped)."""
    texts = id_texts(values)
    return [t.replace(" ", "").upper() for t in texts] if column == "upn" else texts


# --------------------------------------------------------------------------------------------
# Problems: reject (collect) or raise


#: Collected problems held before they are recorded in the rejected rows.
_PENDING = 4096


class Problems:
    """Collects rejected rows, or raises at the first one with ``errors="raise"``.

    Values of long fields are cut to 40 characters; with ``show=False`` (fields that may hold
    personal data) the value is kept out of the exception message.
    """

    def __init__(self, *, file: str, errors: str, rejected: RejectedStore) -> None:
        check_errors(errors)
        self.file = file
        self.errors = errors
        self.rejected = rejected
        self._pending: list[tuple[int, str, Any, Reason, str | None, bool]] = []

    def add(
        self,
        row: int,
        column: str,
        value: Any,
        reason: Reason,
        message: str | None = None,
        *,
        show: bool = True,
    ) -> None:
        """Note a bad row; it is raised or recorded at :meth:`flush` (collected rows are
        recorded every few thousand, so a file of nothing but bad rows holds no more)."""
        self._pending.append((row, column, value, reason, message, show))
        if self.errors == "collect" and len(self._pending) >= _PENDING:
            self.flush()

    def flush(self) -> None:
        """Raise the earliest pending problem (raise mode) or record all of them."""
        if not self._pending:
            return
        pending, self._pending = self._pending, []
        if self.errors == "raise":
            row, column, value, reason, message, show = min(pending, key=lambda p: p[0])
            raise RegisterError(
                message or REASON_TEXT[reason],
                file=self.file,
                row=row,
                column=column,
                value=shorten(value) if show else None,
                reason=str(reason),
            )
        for row, column, value, reason, _message, _show in pending:
            self.rejected.add(row, column, shorten(value), str(reason))


_END = object()


def prefetched(items: Iterator[T]) -> Generator[T, None, None]:
    """``items`` in order, each next one made on a worker thread while the caller works on the
    one before: Arrow's readers release the GIL, so reading overlaps the per-chunk work on a
    second core. At most two items are held at once (bounded memory); an exception of
    ``items`` is raised at its own place in the sequence, in the caller's thread. When the
    caller stops early the worker's item is waited for and ``items`` is closed."""
    from concurrent.futures import ThreadPoolExecutor, wait

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="attendance-read") as pool:
        future = pool.submit(next, items, _END)
        try:
            while True:
                item = future.result()
                if item is _END:
                    return
                future = pool.submit(next, items, _END)
                yield item
        finally:
            wait([future])
            close = getattr(items, "close", None)
            if close is not None:
                close()


def max_field_length(options: Mapping[str, Any]) -> int:
    """The ``max_field_length`` option (characters)."""
    return int(options.get("max_field_length", DEFAULT_MAX_FIELD_LENGTH))


def max_file_size(options: Mapping[str, Any]) -> int:
    """The ``max_file_size`` option (bytes), which also bounds what a workbook's XML may hold."""
    return int(options.get("max_file_size", DEFAULT_MAX_FILE_SIZE))


# --------------------------------------------------------------------------------------------
# Pupils


class Pupils:
    """Collects pupil attributes from mark rows (first non-empty value wins per field).

    Attributes are kept as text while reading and converted at :meth:`frame`: dates read
    day-first (a bad one is left empty with a warning), flags through the flag table, names
    joined from forename and surname when there is no name column.
    """

    def __init__(self, header: Header, table: AliasTable, id_column: str) -> None:
        self.table = table
        self.id_column = id_column
        wanted = PUPIL_TEXT_COLUMNS + PUPIL_DATE_COLUMNS + FLAG_COLUMNS
        #: attribute columns read from each row, in this order
        self.columns = tuple(c for c in wanted if c in header.index and c != "school_id")
        self.by_school = "school_id" in header.index
        self._data: dict[tuple[str, str], dict[str, str]] = {}
        self._conflicts: dict[str, int] = {}
        self._bad_upn_rows: list[int] = []
        self._bad_upn_count = 0
        self._upn_cache: dict[str, bool] = {}
        self._seen: set[tuple[str, str, tuple[str, ...]]] = set()
        self._upn_at = self.columns.index("upn") if "upn" in self.columns else None

    def add_row(self, line: int, school: str, pupil: str, values: Sequence[str]) -> None:
        """Take the attribute texts of one accepted row, aligned with :attr:`columns`."""
        self.add_rows([line], [school], [pupil], [[v] for v in values])

    def add_rows(
        self,
        lines: Sequence[int],
        schools: Sequence[str],
        pupils: Sequence[str],
        values: Sequence[Sequence[str]],
        *,
        check_upns: bool = True,
    ) -> None:
        """Take accepted rows: ``values`` holds one sequence per column of :attr:`columns`.

        With ``check_upns=False`` the rows' UPNs are not checked here (the caller passes only
        distinct rows and checks every row with :meth:`check_upns`)."""
        for key in dict.fromkeys(zip(schools, pupils, *values, strict=True)):
            if not key[1] or key in self._seen:
                continue
            self._seen.add(key)
            record = self._data.setdefault((key[0], key[1]), {})
            for column, raw in zip(self.columns, key[2:], strict=True):
                text = raw.strip()
                if not text:
                    continue
                known = record.get(column)
                if known is None:
                    record[column] = text
                elif known != text:
                    self._conflicts[column] = self._conflicts.get(column, 0) + 1
        if self._upn_at is None or not check_upns:
            return
        upns = values[self._upn_at]
        bad = {u for u in set(upns) if u.strip() and not self._upn_ok(clean_id(u, "upn"))}
        if bad:
            for line, upn in zip(lines, upns, strict=True):
                if upn in bad:
                    self._bad_upn_count += 1
                    if len(self._bad_upn_rows) < 10:
                        self._bad_upn_rows.append(line)

    def check_upns(
        self, lines: npt.NDArray[np.int64], codes: npt.NDArray[np.intp], uniques: Sequence[str]
    ) -> None:
        """Count the rows whose UPN text (``uniques[codes[i]]``) is not a valid UPN, as
        :meth:`add_rows` does row by row, checking each distinct text once."""
        bad = np.fromiter(
            (bool(u.strip()) and not self._upn_ok(clean_id(u, "upn")) for u in uniques),
            dtype=bool,
            count=len(uniques),
        )
        hits = np.flatnonzero(bad[codes]) if len(uniques) else np.zeros(0, dtype=np.intp)
        self._bad_upn_count += len(hits)
        room = 10 - len(self._bad_upn_rows)
        if room > 0:
            self._bad_upn_rows.extend(int(v) for v in lines[hits[:room]])

    def _upn_ok(self, upn: str) -> bool:
        ok = self._upn_cache.get(upn)
        if ok is None:
            ok = upn_ok(upn)
            if len(self._upn_cache) < 500_000:
                self._upn_cache[upn] = ok
        return ok

    def warnings(self) -> list[str]:
        """Warnings about pupil fields: invalid UPNs (by row), conflicting values."""
        out = []
        if self._bad_upn_count:
            rows = ", ".join(str(r) for r in self._bad_upn_rows)
            more = ", ..." if self._bad_upn_count > len(self._bad_upn_rows) else ""
            out.append(
                f"{self._bad_upn_count} rows carry a UPN with a wrong check letter or shape "
                f"(rows kept; rows {rows}{more})"
            )
        for column, count in sorted(self._conflicts.items()):
            out.append(
                f"{count} times a pupil's {column} differs from an earlier row "
                "(the first value is kept)"
            )
        return out

    def finish(self, out: AdapterOutput, dates: DateParser) -> None:
        """After the last chunk: the output's pupils table, and the notes of the pupils and
        of the dates read."""
        out.pupils = self.frame(out.warnings)
        out.warnings.extend(self.warnings())
        out.warnings.extend(dates.notes())

    def frame(self, notes: list[str]) -> pd.DataFrame:
        """The pupils frame (index ``pupil_id``); conversion problems are added to ``notes``."""
        keys = list(self._data)
        index = pd.Index([p for _, p in keys], dtype=object, name="pupil_id")
        out = pd.DataFrame(index=index)
        if self.by_school:
            out["school_id"] = pd.array([s for s, _ in keys], dtype=object)
        records = [self._data[k] for k in keys]

        def column(name: str) -> list[str | None]:
            return [r.get(name) for r in records]

        if self.id_column == "upn" and "mis_id" in self.columns:
            out["mis_id"] = pd.array(column("mis_id"), dtype=object)
        if "upn" in self.columns:
            out["upn"] = pd.array(
                [None if v is None else clean_id(v, "upn") for v in column("upn")], dtype=object
            )
        if "name" in self.columns:
            out["name"] = pd.array(column("name"), dtype=object)
        elif "forename" in self.columns or "surname" in self.columns:
            joined = [
                " ".join(p for p in (r.get("forename"), r.get("surname")) if p) or None
                for r in records
            ]
            out["name"] = pd.array(joined, dtype=object)
        if "year_group" in self.columns:
            out["year_group"] = pd.array(
                [None if v is None else _year_group(v) for v in column("year_group")],
                dtype=object,
            )
        parser = DateParser()
        for name in PUPIL_DATE_COLUMNS:
            if name not in self.columns:
                continue
            values: list[pd.Timestamp | None] = []
            bad = 0
            for text in column(name):
                if name == "leaving_date" and text is not None:
                    iso, _ = parser.parse(text)
                    if iso in self.table.open_end_dates:
                        values.append(None)
                        continue
                iso, why = parser.parse(text)
                bad += why is not None
                values.append(pd.Timestamp(iso) if iso else None)
            out[name] = pd.Series(values, index=index, dtype="datetime64[ns]")
            if bad:
                notes.append(f"{bad} pupils have an unreadable {name} (left empty)")
        for name in FLAG_COLUMNS:
            if name not in self.columns:
                continue
            flags, unknown = [], 0
            for text in column(name):
                value = None if text is None else self.table.flag(text)
                if text is not None and value is None:
                    unknown += 1
                flags.append(False if text is None else value)
            out[name] = pd.array(flags, dtype="boolean")
            if unknown:
                notes.append(
                    f"{unknown} pupils have a {name} value that is not yes/no (left empty)"
                )
        if "sen" in self.columns and "ehcp" not in self.columns:
            statuses = column("sen")
            out["ehcp"] = pd.array(
                [None if s is None else _session_key(s) in self.table.sen_ehcp for s in statuses],
                dtype="boolean",
            )
            out["ehcp"] = out["ehcp"].fillna(False)
        order = [c for c in (*PUPIL_COLUMNS, "mis_id") if c in out.columns]
        return out[order]


def _year_group(text: str) -> str:
    """``"Year 7"``/``"Y7"``/``"7"`` → ``"7"``; other forms (``"R"``, ``"N2"``) as given."""
    found = re.fullmatch(r"(?:year|yr|y)?\s*(\d{1,2})", text.strip(), re.IGNORECASE)
    return str(int(found[1])) if found else text.strip()
