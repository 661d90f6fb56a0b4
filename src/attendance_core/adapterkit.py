"""Building blocks for adapters: the helpers every MIS reader needs, in one place.

Adapter distributions (``attendance_core_<name>``, in this repository or third-party) depend on
``attendance-core`` anyway, so the parts of reading that are the same for every format live
here instead of being copied into each distribution:

* **rejected rows** -- :class:`RejectedRows` collects ``{row, column, value, reason}`` records or
  raises :class:`~attendance_core.RegisterError` at the first one (``errors="raise"``);
  row-level code raises :class:`RowProblem`; :func:`shorten` cuts long values, :func:`row_list`
  lists rows for warnings and :func:`check_read_args` checks ``errors`` and the options given
  to ``read``;
* **JSON pages** -- :func:`read_json_source` reads a file, buffer, folder of page files or an
  iterable of already-parsed pages; :func:`parse_json`, :func:`decode_text`,
  :func:`is_page_iterable`, :func:`get_path`, :func:`unwrap`, :func:`first_of`, :func:`has_any`
  and :func:`sequence_check` walk and check them; :func:`page_files`, :func:`tail` and
  :func:`sniff_page_objects` help ``sniff``;
* **XML** -- :func:`parse_xml` parses through defusedxml (DTDs, entity declarations and external
  references refused) into an :class:`XmlDocument` that knows the line of every element;
  :func:`local_name`, :func:`local_name_as_written`, :func:`child_text` and :func:`iter_named`
  find things in it without caring about namespaces or case; :func:`xml_root_name` tells a
  format from a file's first bytes, for ``sniff``;
* **values** -- :func:`parse_date`, :func:`open_end_set`, :func:`text_id`, :func:`upn_ok` (the DfE
  check letter; python-stdnum when installed, a built-in check otherwise) and
  :func:`upn_check_letter`; :func:`package_toml`, :func:`toml_option` and :func:`lower_names`
  for alias tables;
* **frames** -- :func:`mark_row` makes one row of the long layout; :func:`chunked` and
  :func:`marks_frame` give chunks of the long layout indexed by
  source row number; :func:`pupils_frame` and :func:`pupils_from_records` give the pupils table and
  :func:`totals_frame` the totals of summary formats (both through :func:`typed_frame`);
  :func:`choose_pupil_key` and :func:`key_pupils` key student records on UPN or another id.

Nothing here knows one vendor's field names: those stay in each adapter's alias table. Every
problem is a :class:`~attendance_core.FormatError` or
:class:`~attendance_core.RegisterError` naming the file (and row where there is one),
never personal data.
"""

from __future__ import annotations

import codecs
import contextlib
import datetime as dt
import itertools
import json
import math
import re
import tomllib
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any
from xml.etree.ElementTree import Element, ParseError, TreeBuilder

import attrs
import defusedxml.ElementTree as SafeET
import pandas as pd
from defusedxml import DefusedXmlException

from attendance_core import _pupils, _values
from attendance_core._rejected import RejectedStore, check_errors
from attendance_core._values import decode_bytes, id_text, truthy
from attendance_core.adapters import AdapterOutput, refuse_unknown
from attendance_core.calendar import as_dates, in_range
from attendance_core.errors import REASON_TEXT, FormatError, Reason, RegisterError

__all__ = [
    "CHUNK_OPTIONS",
    "CHUNK_ROWS",
    "PAGE_SUFFIXES",
    "OPEN_END_DATES",
    "PUPIL_DATE_COLUMNS",
    "PUPIL_FIELDS",
    "PUPIL_FLAGS",
    "PUPIL_KEYS",
    "TOTAL_COLUMNS",
    "TOTAL_COUNT_COLUMNS",
    "RejectedRows",
    "RowProblem",
    "XmlDocument",
    "check_read_args",
    "checked_date",
    "child_text",
    "choose_pupil_key",
    "api_output",
    "chunk_size",
    "chunked",
    "decode_bytes",
    "decode_text",
    "first_of",
    "get_path",
    "has_any",
    "id_text",
    "is_page_iterable",
    "iter_named",
    "json_text",
    "key_pupils",
    "local_name",
    "local_name_as_written",
    "lower_names",
    "merge_aliases",
    "mark_date",
    "mark_row",
    "note_rows",
    "marks_chunks",
    "marks_frame",
    "open_end_set",
    "package_toml",
    "page_files",
    "parse_date",
    "parse_json",
    "parse_xml",
    "pupils_frame",
    "pupil_key_option",
    "pupils_from_records",
    "read_json_source",
    "row_list",
    "sequence_check",
    "shorten",
    "sniff_page_objects",
    "tail",
    "take_api_options",
    "text_id",
    "toml_option",
    "totals_frame",
    "truthy",
    "typed_frame",
    "unwrap",
    "upn_check_letter",
    "upn_ok",
    "xml_root_name",
]

#: Extensions of page files read from a folder by :func:`read_json_source` (others are ignored).
PAGE_SUFFIXES: tuple[str, ...] = (".json",)
#: Records per marks chunk given by :func:`chunked` (and the ``chunk_size`` default).
CHUNK_ROWS = 50_000
#: The option names of the rows per marks chunk, ``chunk_size`` in every adapter and
#: ``chunksize`` (pandas' word, which the generic readers took first) as its alias.
CHUNK_OPTIONS = frozenset({"chunk_size", "chunksize"})
#: The columns of ``AdapterOutput.totals`` (summary formats), in order.
TOTAL_COLUMNS: tuple[str, ...] = (
    "pupil_id",
    "school_id",
    "start",
    "end",
    "possible",
    "attended",
    "authorised",
    "unauthorised",
)
#: The session counts among :data:`TOTAL_COLUMNS`.
TOTAL_COUNT_COLUMNS: tuple[str, ...] = ("possible", "attended", "authorised", "unauthorised")
#: The date columns of the pupils table (``load.pupils``).
PUPIL_DATE_COLUMNS: tuple[str, ...] = _pupils.DATE_COLUMNS
#: Flag columns of the pupils table (booleans), the ones the policy and reports name.
PUPIL_FLAGS: tuple[str, ...] = _pupils.FLAGS
#: Student fields of an API export that become pupils columns (in this order, when any
#: student has them): the ``fields`` of :func:`key_pupils`.
PUPIL_FIELDS: tuple[str, ...] = ("upn", "name", "year_group", *_pupils.DATE_COLUMNS, "mis_id")
#: The pupil key choices of the API adapters. ``auto`` is the UPN when every student has one,
#: else the MIS id, else the API's own id (see :func:`choose_pupil_key`).
PUPIL_KEYS: tuple[str, ...] = ("auto", "upn", "mis_id", "id")
#: The leaving dates that mean "not left" in API exports, besides null. This is the SQL Server
#: smalldatetime maximum (see :func:`open_end_set`).
OPEN_END_DATES: tuple[str, ...] = ("2079-06-06",)

_ISO_DATE = re.compile(r"^\s*(\d{4})-(\d{2})-(\d{2})(?:$|[T ](.*)$)")
# day-first, optionally with a time (SIMS writes "31/12/9999 00:00")
_UK_DATE = re.compile(r"^\s*(\d{1,2})/(\d{1,2})/(\d{4})(?:\s+\d{1,2}:\d{2}(?::\d{2})?)?\s*$")
_OFFSET = re.compile(r"(Z|[+-]\d{2}:?\d{2})\s*$")

_UPN_ALPHABET = "ABCDEFGHJKLMNPQRTUVWXYZ0123456789"
_UPN_SHAPE = re.compile(r"^[A-Z][0-9]{11}[0-9A-Z]$")

_DECLARATION = re.compile(rb"^(\xef\xbb\xbf)?\s*<\?xml[^>]*?\?>")
_ENCODING = re.compile(rb"""encoding\s*=\s*["']([A-Za-z0-9._:-]+)["']""")
_UTF8_NAMES = frozenset({"utf-8", "utf8", "utf_8"})
_ROOT_TAG = re.compile(rb"<([A-Za-z_][\w.:-]*)")
#: What may come before the root element: declaration/PIs, comments, a DOCTYPE.
_SKIPPED = ((b"<?", b"?>"), (b"<!--", b"-->"), (b"<!", b">"))


# --------------------------------------------------------------------------------------------
# Rejected rows


class RejectedRows:
    """Where rejected rows go: collected into ``rejected`` or raised at the first one.

    ``rejected`` is usually ``AdapterOutput.rejected`` (a
    :class:`~attendance_core.adapters.RejectedStore`, which keeps rows as compact columns up to
    its cap and counts every one by reason; a plain list still works); each record is
    ``{"row", "column", "value", "reason"}`` with ``row`` the 1-based source row (line or
    record number) and ``reason`` a :class:`~attendance_core.Reason` id or a
    format-specific one. With ``errors="raise"`` the first rejected row raises
    :class:`~attendance_core.RegisterError` instead.
    """

    def __init__(
        self, file: str, errors: str, rejected: RejectedStore | list[dict[str, Any]]
    ) -> None:
        check_errors(errors)
        self.file = file
        self.errors = errors
        self.rejected = rejected

    def reject(self, row: int, column: str, value: Any, reason: str, text: str) -> None:
        """Record (or raise) one rejected source row; ``value`` is shown cut short."""
        shown = value if value is None or isinstance(value, str | int | float) else str(value)
        if self.errors == "raise":
            raise RegisterError(
                text, file=self.file, row=row, column=column, value=shown, reason=reason
            )
        _put(self.rejected, row, column, shown, reason)

    def record(self, row: int, problem: RowProblem, *, limit: int | None = None) -> None:
        """Record (or raise) the row a :class:`RowProblem` was raised for; its value is kept as
        the problem holds it, cut to ``limit`` characters by :func:`shorten` when given."""
        value = problem.value if limit is None else shorten(problem.value, limit)
        if self.errors == "raise":
            raise RegisterError(
                str(problem),
                file=self.file,
                row=row,
                column=problem.column,
                value=value,
                reason=problem.reason,
            ) from None
        _put(self.rejected, row, problem.column, value, str(problem.reason))


def _put(
    rejected: RejectedStore | list[dict[str, Any]], row: int, column: str, value: Any, reason: str
) -> None:
    if isinstance(rejected, RejectedStore):
        rejected.add(row, column, value, reason)
    else:
        rejected.append({"row": row, "column": column, "value": value, "reason": reason})


class RowProblem(Exception):
    """One source row cannot be used: raise it from row-level code, catch it where the row
    number is known and hand it to :meth:`RejectedRows.record`.

    ``column`` is the source column (or element) name, ``value`` what it held (None when
    missing), ``reason`` a :class:`~attendance_core.Reason` id or a format-specific one;
    the message says what is wrong without personal data.
    """

    def __init__(self, column: str, value: Any, reason: str, message: str) -> None:
        super().__init__(message)
        self.column = column
        self.value = value
        self.reason = reason


def shorten(value: Any, limit: int = 40) -> Any:
    """``value`` cut to ``limit`` characters (ending ``...``) when it is longer text; other
    values unchanged. Keeps rejected-row records and messages small."""
    return _values.shorten(value, limit) if isinstance(value, str) else value


def check_read_args(
    format_name: str, file: str, errors: str, options: Mapping[str, Any], known: Iterable[str]
) -> None:
    """The checks at the top of ``Adapter.read``: ``errors`` must be ``"collect"`` or
    ``"raise"`` (else :class:`ValueError`) and every option must be in ``known`` (else a
    :class:`~attendance_core.FormatError` naming the unknown and the known options)."""
    check_errors(errors)
    refuse_unknown(format_name, frozenset(known), options, file)


def row_list(rows: Sequence[int], limit: int = 10) -> str:
    """Row numbers for a warning: the first ``limit`` of them, then how many more
    (``"3, 8, 12 and 4 more"``)."""
    text = ", ".join(str(n) for n in rows[:limit])
    return text + (f" and {len(rows) - limit} more" if len(rows) > limit else "")


def note_rows(warnings: list[str], rows: Sequence[int], message: str) -> None:
    """Add ``message`` to ``warnings`` when ``rows`` is not empty, with ``{n}`` replaced by how
    many rows there are and ``{rows}`` by their :func:`row_list` (``"3 pupil(s) without a
    UPN (lines {rows})"``)."""
    if rows:
        warnings.append(message.replace("{n}", str(len(rows))).replace("{rows}", row_list(rows)))


def package_toml(package: str | None, name: str) -> dict[str, Any]:
    """A TOML data file shipped inside an adapter package (``package_toml(__package__,
    "aliases.toml")``): the adapter's alias, code or rule tables kept as data."""
    if package is None:
        raise ValueError("package_toml needs the package name (pass __package__)")
    text = resources.files(package).joinpath(name).read_text(encoding="utf-8")
    return tomllib.loads(text)


def toml_option(option: Any, what: str = "alias table") -> Mapping[str, Any] | None:
    """A table option as given to ``read``: None, a mapping (used as is) or the path of a
    TOML file (read; an unreadable one is a :class:`~attendance_core.FormatError`
    naming the file and saying it is the ``what``)."""
    if option is None or isinstance(option, Mapping):
        return option
    path = Path(option)
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise FormatError(
            f"cannot read the {what} ({type(exc).__name__})", file=path.name
        ) from None


def lower_names(values: Iterable[Any]) -> frozenset[str]:
    """Alias names as a lower-cased set (for case-blind lookups of fields and elements)."""
    return frozenset(str(v).lower() for v in values)


def merge_aliases(
    ours: Mapping[str, Any], extra: Mapping[str, Any] | None, table: str
) -> dict[str, list[str]]:
    """One table of an alias file with a caller's names added: theirs first, then ours.

    ``ours`` and ``extra`` are alias files in TOML layout (table -> key -> list of names).
    """
    mine = dict(ours.get(table, {}))
    theirs = dict((extra or {}).get(table, {}))
    return {
        key: [*map(str, theirs.get(key, [])), *map(str, mine.get(key, []))]
        for key in set(mine) | set(theirs)
    }


def decode_text(data: bytes, name: str, warnings: list[str]) -> str:
    """Text of a JSON file: UTF-8 with or without BOM, else cp1252/Latin-1 with a warning."""
    text, used = _values.decode_bytes(data)
    if used != "utf-8":
        warnings.append(f"{name}: not UTF-8, read as cp1252/Latin-1")
    return text


def parse_json(data: bytes, name: str, warnings: list[str]) -> Any:
    """Parse one JSON document; empty, truncated or invalid input is a
    :class:`~attendance_core.FormatError`."""
    if not data.strip():
        raise FormatError("empty file: no JSON document", file=name)
    text = decode_text(data, name, warnings)
    try:
        return json_text(text, name, warnings)
    except json.JSONDecodeError as exc:
        raise FormatError(
            f"not valid JSON ({exc.msg}, column {exc.colno})", file=name, row=exc.lineno
        ) from None
    except (ValueError, RecursionError) as exc:  # huge numbers, absurd nesting
        raise FormatError(f"not usable JSON ({type(exc).__name__})", file=name) from None


_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
# a lone surrogate, the one character a str holds that UTF-8 cannot
_SURROGATE = re.compile("[\ud800-\udfff]")


class _KeyRepeats:
    """``object_pairs_hook`` of :func:`json_text`: builds each object as ``json`` does and
    counts the objects that give a key twice."""

    def __init__(self) -> None:
        self.objects = 0
        self.conflicting = 0
        self.first: str | None = None

    def __call__(self, pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        obj = dict(pairs)
        if len(obj) != len(pairs):
            self.objects += 1
            seen: dict[str, Any] = {}
            for key, value in pairs:
                if key in seen:
                    if self.first is None:
                        self.first = key
                    if seen[key] != value:
                        self.conflicting += 1
                        break
                seen[key] = value
        return obj


def json_text(text: str, name: str, warnings: list[str]) -> Any:
    """``json.loads(text)`` that hides nothing: an object giving a key twice keeps the last
    value, as every JSON reader does, with a warning counting such objects (and those whose
    repeats differ); a lone UTF-16 surrogate escape (``"\\ud800"``), which no UTF-8 text can
    hold, is kept as the six characters of its escape, with a warning. Raises what
    ``json.loads`` raises."""
    repeats = _KeyRepeats()
    doc = json.loads(text, object_pairs_hook=repeats)
    if repeats.objects:
        differ = f", {repeats.conflicting} with different values" if repeats.conflicting else ""
        warnings.append(
            f"{name}: {repeats.objects} object(s) give a key twice (first: "
            f"{shorten(repeats.first)!r}{differ}); the last value of each is used"
        )
    if _SURROGATE_ESCAPE.search(text):
        doc, fixed = _escape_surrogates(doc)
        if fixed:
            warnings.append(
                f"{name}: {fixed} string(s) hold a lone surrogate escape (such as \\ud800), "
                "not a character; kept as the escape's text"
            )
    return doc


def _escape_surrogates(doc: Any) -> tuple[Any, int]:
    """``doc`` with every string (keys too) that holds a lone surrogate written as its escape
    text, and how many were; walks the document without recursion."""
    fixed = 0

    def fix(value: Any) -> Any:
        nonlocal fixed
        if isinstance(value, str) and _SURROGATE.search(value):
            fixed += 1
            return value.encode("utf-8", "backslashreplace").decode("utf-8")
        return value

    root: list[Any] = [doc]
    stack: list[Any] = [root]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            for i, item in enumerate(node):
                if isinstance(item, list | dict):
                    stack.append(item)
                else:
                    node[i] = fix(item)
        else:
            for key in list(node):
                value = node[key]
                new_key = fix(key)
                if new_key is not key:
                    del node[key]
                if isinstance(value, list | dict):
                    stack.append(value)
                    node[new_key] = value
                else:
                    node[new_key] = fix(value)
    return root[0], fixed


def read_json_source(source: Any, warnings: list[str]) -> list[tuple[str, Any]]:
    """Every JSON document of a source as ``(name, document)`` in reading order.

    ``source`` is an :class:`~attendance_core.Source`. A folder gives its ``*.json``
    files sorted by name; a file or buffer gives one document; an
    iterable of already-parsed pages (``Source.obj``) gives each page.
    """
    obj = source.obj
    if getattr(source, "is_dir", False):
        folder = Path(source.path if source.path is not None else obj)
        files = page_files(folder)
        if not files:
            raise FormatError("folder holds no .json page files", file=source.name)
        return [
            (f"{source.name}/{p.name}", parse_json(p.read_bytes(), p.name, warnings)) for p in files
        ]
    if is_page_iterable(obj):
        pages = list(obj) if not isinstance(obj, Mapping) else [obj]
        if not pages:
            raise FormatError("no pages given", file=source.name)
        return [(f"{source.name}[{i}]", page) for i, page in enumerate(pages, start=1)]
    with source.open() as fh:
        data = fh.read()
    if isinstance(data, str):  # a text-mode file object slipped through
        data = data.encode("utf-8")
    return [(source.name, parse_json(data, source.name, warnings))]


def page_files(folder: Path) -> list[Path]:
    """The page files of a folder (extensions in :data:`PAGE_SUFFIXES`), sorted by name."""
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in PAGE_SUFFIXES)


def tail(source: Any, n: int = 4096) -> bytes:
    """The last ``n`` bytes of a byte :class:`~attendance_core.Source` (b"" when it
    cannot seek), for sniffing formats whose telling keys come at the end of a file."""
    with source.open() as fh:
        try:
            size = fh.seek(0, 2)
            fh.seek(max(0, size - n))
        except (OSError, ValueError):
            return b""
        data: bytes = fh.read(n)
        return data


def sniff_page_objects(obj: Any, looks_like: Callable[[Any], bool], *, whole: bool = True) -> bool:
    """Sniff already-parsed pages: ``looks_like`` of a single page, else of the first of a
    sequence of pages (and, with ``whole``, of the sequence itself, for a bare array of
    records); False for anything else."""
    if isinstance(obj, Mapping):
        return looks_like(obj)
    if isinstance(obj, Sequence) and is_page_iterable(obj) and obj:
        return looks_like(obj[0]) or (whole and looks_like(list(obj)))
    return False


def is_page_iterable(obj: Any) -> bool:
    """Whether ``obj`` is already-parsed pages (a mapping, or an iterable that is not a path,
    bytes, text or a file object)."""
    if isinstance(obj, Mapping):
        return True
    if isinstance(obj, str | bytes | bytearray | memoryview | Path) or hasattr(obj, "read"):
        return False
    return isinstance(obj, Iterable)


def get_path(record: Any, path: str) -> Any:
    """The value at a dotted ``path`` of a nested record, or None.

    A ``{"data": ...}`` wrapper (how Wonde nests included relations) is looked through at every
    step, so ``extended_details.upn`` reaches ``{"extended_details": {"data": {"upn": ...}}}``.
    """
    cur = record
    for key in path.split("."):
        cur = unwrap(cur)
        if not isinstance(cur, Mapping) or key not in cur:
            return None
        cur = cur[key]
    return cur


def unwrap(value: Any) -> Any:
    """``{"data": x}`` (and nothing else) -> ``x``."""
    while isinstance(value, Mapping) and len(value) == 1 and "data" in value:
        value = value["data"]
    return value


def first_of(record: Any, paths: Iterable[str]) -> tuple[str | None, Any]:
    """The first alias path that has a non-null value: ``(path, value)``, or ``(None, None)``."""
    for path in paths:
        value = get_path(record, path)
        if value is not None:
            return path, value
    return None, None


def has_any(record: Any, paths: Iterable[str]) -> bool:
    """Whether any alias path is present (even with a null value) at the top of a record."""
    return isinstance(record, Mapping) and any(p.split(".")[0] in record for p in paths)


def parse_date(value: Any, *, local_tz: Any = None) -> dt.date | None:
    """A calendar date from an ISO date, an ISO date-time (with or without offset), a
    ``{"date": "..."}`` object, or a day-first ``DD/MM/YYYY``; None when it is none of these.

    A date-time with an offset is first moved to ``local_tz`` (Europe/London by the caller) so
    that midnight BST written in UTC (``2024-09-01T23:00:00Z``) is the right school day; a
    date-time without an offset keeps the date as written.
    """
    if isinstance(value, Mapping):
        value = value.get("date")
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if not isinstance(value, str):
        return None
    m = _ISO_DATE.match(value)
    if m:
        rest = m.group(4)
        try:
            day = dt.date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
        except ValueError:
            return None
        if rest and local_tz is not None and _OFFSET.search(rest):
            try:
                stamp = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
            except ValueError:
                return None
            try:
                return stamp.astimezone(local_tz).date()
            except (OverflowError, ValueError):  # 9999-12-31T23:00Z: out of every bound anyway
                return day
        return day
    m = _UK_DATE.match(value)
    if m:
        try:
            return dt.date(int(m.group(3)), int(m.group(2)), int(m.group(1)))
        except ValueError:
            return None
    return None


def mark_date(value: Any, column: str, *, local_tz: Any = None) -> dt.date:
    """The date of a mark read from ``value`` by :func:`parse_date`, held to the dates a
    register can hold (:func:`checked_date`)."""
    return checked_date(parse_date(value, local_tz=local_tz), value, column)


def checked_date(
    day: dt.date | None,
    value: Any,
    column: str,
    *,
    reason: str = Reason.BAD_DATE,
    text: str = "not a date",
) -> dt.date:
    """``day``, a mark's date as an adapter read it from ``value``, when it lies within the
    register's bounds (:func:`~attendance_core.calendar.in_range`); else
    :class:`RowProblem` on ``column``: ``date_out_of_range`` when ``value`` is a real date
    outside them (``0001-01-01`` and ``9999-12-31``, the placeholders of .NET-based exports,
    whatever the adapter's own parser made of them), else ``reason`` with ``text``.

    The one bound every adapter applies to the dates of its marks, so that a year-9999 mark is
    the same rejected row in every format as in the generic readers.
    """
    if day is not None and in_range(day):
        return day
    shown = value.get("date") if isinstance(value, Mapping) else value
    real = day if day is not None else parse_date(value)
    if real is not None and not in_range(real):
        raise RowProblem(
            column, shown, Reason.DATE_OUT_OF_RANGE, REASON_TEXT[Reason.DATE_OUT_OF_RANGE]
        )
    raise RowProblem(column, shown, reason, text)


def text_id(value: Any) -> str | None:
    """An identifier as text (ints stay exact, floats like ``1234.0`` lose the ``.0``)."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, int | str | float):
        return _values.id_text(value) or None
    return None


def upn_ok(upn: str) -> bool:
    """Whether a UPN passes the DfE check (shape and check letter).

    Uses python-stdnum (``stdnum.gb.upn``, which also checks the local-authority number) when
    it is installed; otherwise a built-in check of the shape and the check letter, so the core
    needs no hard dependency on python-stdnum. Spaces are ignored and case does not matter.
    """
    try:
        from stdnum.gb import upn as stdnum_upn
    except ImportError:  # python-stdnum is optional
        return _upn_ok_builtin(upn)
    return bool(stdnum_upn.is_valid(upn))


def _upn_ok_builtin(upn: str) -> bool:
    """The documented check: letter at (sum of chars 2..13 weighted 2..13) mod 23."""
    text = upn.replace(" ", "").upper()
    if not _UPN_SHAPE.match(text) or text[-1] in "IOS":
        return False
    total = sum(w * _UPN_ALPHABET.index(ch) for w, ch in enumerate(text[1:], start=2))
    return _UPN_ALPHABET[total % 23] == text[0]


def upn_check_letter(rest: str) -> str:
    """The check letter of a UPN for the 12 characters after it (for building test data)."""
    total = sum(w * _UPN_ALPHABET.index(ch) for w, ch in enumerate(rest.upper(), start=2))
    return _UPN_ALPHABET[total % 23]


def open_end_set(values: Iterable[Any]) -> set[dt.date]:
    """Open-end ("not left") sentinel dates as dates."""
    out: set[dt.date] = set()
    for v in values:
        d = parse_date(v)
        if d is None:
            raise FormatError(f"open_end_dates: not a date: {v!r}")
        out.add(d)
    return out


def pupil_key_option(
    options: Mapping[str, Any], allowed: Sequence[str], file: str | None = None
) -> str:
    """Which identifier keys a pupil: the ``pupil_key`` option (``pupil_id`` is the generic
    readers' first name for it), ``"auto"`` when not given; a :class:`FormatError` naming the
    ``allowed`` values otherwise."""
    given = [name for name in ("pupil_key", "pupil_id") if name in options]
    if len(given) > 1:
        raise FormatError("give pupil_key or pupil_id, not both", file=file)
    name = given[0] if given else "pupil_key"
    key = options.get(name, "auto")
    if key not in allowed:
        raise FormatError(f"{name} must be one of {', '.join(allowed)} (got {key!r})", file=file)
    return str(key)


def take_api_options(options: dict[str, Any]) -> tuple[str, set[dt.date], str | None]:
    """Pop the options every API adapter reads from ``options``: ``pupil_key`` (one of
    :data:`PUPIL_KEYS`, default ``"auto"``; else :class:`ValueError`), ``open_end_dates``
    (default :data:`OPEN_END_DATES`, as dates) and ``school_id`` (as text, or None)."""
    pupil_key = pupil_key_option(options, PUPIL_KEYS)
    options.pop("pupil_key", None)
    open_end = open_end_set(options.pop("open_end_dates", OPEN_END_DATES))
    return pupil_key, open_end, text_id(options.pop("school_id", None))


def api_output(
    rows: Iterator[tuple[int, dict[str, Any]]],
    *,
    with_school: bool,
    pupils: pd.DataFrame,
    rejected: RejectedStore,
    warnings: list[str],
    source_columns: dict[str, str],
    totals: pd.DataFrame | None = None,
) -> AdapterOutput:
    """The output of an API adapter (Wonde, Assembly): its ``(row, mark)`` pairs in long-layout
    chunks (with a ``school_id`` column when ``with_school``), its pupils, rejected rows,
    warnings and, for summaries, totals."""
    columns = ["pupil_id", "date", "session", "code"] + (["school_id"] if with_school else [])
    return AdapterOutput(
        marks=chunked(rows, columns),
        pupils=pupils,
        rejected=rejected,
        warnings=warnings,
        totals=totals,
        source_columns=source_columns,
    )


def chunked(
    rows: Iterator[tuple[int, dict[str, Any]]],
    columns: list[str],
    size: int = CHUNK_ROWS,
) -> Iterator[pd.DataFrame]:
    """Long-layout DataFrames of at most ``size`` rows, indexed by source row number."""
    labels: list[int] = []
    records: list[dict[str, Any]] = []

    def build() -> pd.DataFrame:
        frame = pd.DataFrame.from_records(records, columns=columns)
        frame.index = pd.Index(labels, dtype="int64", name="row")
        if "date" in frame:
            # a date no Timestamp holds stays a date: the register rejects its row
            with contextlib.suppress(pd.errors.OutOfBoundsDatetime, OverflowError):
                frame["date"] = pd.to_datetime(frame["date"])
        return frame

    for label, record in rows:
        labels.append(label)
        records.append(record)
        if len(records) >= size:
            yield build()
            labels, records = [], []
    if records:
        yield build()


def pupils_frame(rows: dict[str, dict[str, Any]], columns: list[str]) -> pd.DataFrame:
    """The pupils table indexed by ``pupil_id`` with date columns as datetime64."""
    frame = (
        pd.DataFrame.from_dict(rows, orient="index", columns=columns)
        if rows
        else pd.DataFrame({c: pd.Series([], dtype=object) for c in columns})
    )
    frame.index = pd.Index([str(i) for i in frame.index], name="pupil_id", dtype=object)
    for col in PUPIL_DATE_COLUMNS:
        if col in frame:  # the one date policy: a 9999-12-31 placeholder is unknown, warned
            frame[col] = as_dates(frame[col], col, ids=frame.index)
    return frame


def choose_pupil_key(
    records: Sequence[Mapping[str, Any]],
    requested: str,
    warnings: list[str],
    *,
    candidates: Sequence[str] = ("upn", "mis_id"),
    fallback: str = "id",
    hint: str = "",
) -> str:
    """The record field pupils are keyed on.

    ``requested`` other than ``"auto"`` is kept. ``"auto"`` takes the first of ``candidates``
    that every record has (non-empty), else ``fallback``; when that is not ``upn`` (and there
    are records) a warning says so, with ``hint`` (e.g. ``" (scope students.upn?)"``) after
    "UPN".
    """
    if requested != "auto":
        return requested
    key = fallback
    for candidate in candidates:
        if records and all(r[candidate] for r in records):
            key = candidate
            break
    if records and key != "upn":
        warnings.append(f"not every student has a UPN{hint}: pupils are keyed on {key}")
    return key


def key_pupils(
    records: Sequence[Mapping[str, Any]],
    key: str,
    warnings: list[str],
    *,
    fields: Sequence[str],
    id_column: str,
    school_id: str | None = None,
) -> tuple[dict[str, str], dict[str, str], pd.DataFrame]:
    """Key student records on ``key`` and build the pupils table.

    Each record holds ``id`` (the source system's own id), ``_where`` (where it stands, for
    messages, e.g. ``"student record 3"``), ``key`` and ``fields``. A record without a value
    for ``key`` is left out with a warning (its marks are to be rejected); a repeated value
    keeps the first record, with a warning. The table has the columns ``school_id``,
    ``fields`` and ``id_column`` (the source id) that hold any value, in that order.

    Returns ``(source id -> pupil id, source id -> the key it lacks, pupils table)``.
    """
    key_of: dict[str, str] = {}
    unkeyed: dict[str, str] = {}
    rows: dict[str, dict[str, Any]] = {}
    for rec in records:
        sid, pid = rec["id"], rec[key]
        if pid is None:
            warnings.append(f"{rec['_where']}: no {key}; its marks are rejected")
            if sid is not None:
                unkeyed[sid] = key
            continue
        if sid is not None:
            key_of[sid] = pid
        if pid in rows:
            warnings.append(f"{rec['_where']}: {key} repeats another student's; kept the first")
            continue
        rows[pid] = {"school_id": school_id, **{f: rec[f] for f in fields}, id_column: sid}
    order = ("school_id", *fields, id_column)
    present = [c for c in order if any(r[c] is not None for r in rows.values())]
    return (
        key_of,
        unkeyed,
        pupils_frame({k: {c: v[c] for c in present} for k, v in rows.items()}, present),
    )


def typed_frame(
    records: Iterable[Mapping[str, Any]],
    columns: Sequence[str],
    *,
    text: Iterable[str] = (),
    dates: Iterable[str] = (),
    flags: Iterable[str] = (),
    counts: Iterable[str] = (),
    count_dtype: str = "int64",
) -> pd.DataFrame:
    """A frame of ``records`` with ``columns`` in that order and each column's dtype set:
    ``text`` held as Python objects (not the pandas string dtype), ``dates`` as datetime64,
    ``flags`` as the nullable ``boolean`` dtype and ``counts`` as ``count_dtype`` (``int64``,
    or ``Int64`` when a count may be missing). Named columns that are absent are skipped."""
    frame = pd.DataFrame.from_records(list(records), columns=list(columns))
    for column in text:
        if column in frame:
            frame[column] = frame[column].astype(object)
    for column in flags:
        if column in frame:
            frame[column] = frame[column].astype("boolean")
    for column in counts:
        if column in frame:
            frame[column] = frame[column].astype(count_dtype)  # type: ignore[call-overload]
    for column in dates:
        if column in frame:  # the one date policy: a date past 1990..2099 is unknown, warned
            frame[column] = as_dates(frame[column], column)
    return frame


def pupils_from_records(
    records: Iterable[Mapping[str, Any]],
    columns: Sequence[str],
    *,
    text: Iterable[str] = (),
    dates: Iterable[str] = PUPIL_DATE_COLUMNS,
    flags: Iterable[str] = (),
    dedupe: bool = False,
) -> pd.DataFrame:
    """The pupils table from one record per pupil, indexed by ``pupil_id``.

    ``columns`` (which must include ``pupil_id``) fixes the column order; the other arguments
    are those of :func:`typed_frame` (``pupil_id`` is always text). With ``dedupe`` a repeated
    ``pupil_id`` keeps its first record.
    """
    frame = typed_frame(records, columns, text=("pupil_id", *text), dates=dates, flags=flags)
    if dedupe:
        frame = frame.drop_duplicates(subset="pupil_id", keep="first")
    return frame.set_index("pupil_id")


def totals_frame(
    records: Iterable[Mapping[str, Any]],
    *,
    extra: Sequence[str] = (),
    text: Iterable[str] = ("pupil_id", "school_id"),
    counts: Iterable[str] = (),
    count_dtype: str = "int64",
) -> pd.DataFrame:
    """``AdapterOutput.totals`` from one record per pupil and period: the columns of
    :data:`TOTAL_COLUMNS` then ``extra``; ``text`` columns held as Python objects,
    ``start``/``end`` as datetime64, the four session counts (and ``counts`` among ``extra``)
    as ``count_dtype``."""
    return typed_frame(
        records,
        [*TOTAL_COLUMNS, *extra],
        text=text,
        dates=("start", "end"),
        counts=(*TOTAL_COUNT_COLUMNS, *counts),
        count_dtype=count_dtype,
    )


def mark_row(
    pupil_id: str | None,
    day: dt.date,
    session: str,
    code: str,
    school_id: str | None = None,
    *,
    with_school: bool | None = None,
) -> dict[str, Any]:
    """One row of the long layout: ``pupil_id``, ``date`` (ISO text), ``session``, ``code``,
    and ``school_id`` when ``with_school`` (by default: when ``school_id`` is not None; pass
    ``with_school=True`` to give every row of a source that names schools the column)."""
    row: dict[str, Any] = {
        "pupil_id": pupil_id,
        "date": day.isoformat(),
        "session": session,
        "code": code,
    }
    if with_school if with_school is not None else school_id is not None:
        row["school_id"] = school_id
    return row


def marks_frame(rows: Sequence[Mapping[str, Any]], index: Sequence[int]) -> pd.DataFrame:
    """One chunk of the long layout from row dicts, indexed by their source row numbers, every
    column held as Python objects (the core normalises types)."""
    frame = pd.DataFrame.from_records(list(rows), index=pd.Index(list(index), dtype="int64"))
    return frame.astype(object)


def chunk_size(options: Mapping[str, Any], default: int = CHUNK_ROWS) -> int:
    """The rows per marks chunk: the ``chunk_size`` option (or its alias ``chunksize``),
    ``default`` when neither is given; a :class:`ValueError` naming the option unless it is a
    whole number of at least 1."""
    given = [name for name in sorted(CHUNK_OPTIONS) if name in options]
    if len(given) > 1:
        raise FormatError("give chunk_size or chunksize, not both")
    name = given[0] if given else "chunk_size"
    value = options.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise FormatError(f"{name} must be a whole number of at least 1 (got {value!r})")
    return value


def marks_chunks(
    rows: Iterable[tuple[int, Mapping[str, Any]]], size: int
) -> Iterator[pd.DataFrame]:
    """The :func:`marks_frame` chunks of ``(source row number, mark row)`` pairs, at most
    ``size`` rows each, built as the pairs come (an adapter's marks are never held whole)."""
    pairs = iter(rows)
    while batch := list(itertools.islice(pairs, size)):
        yield marks_frame([row for _, row in batch], [number for number, _ in batch])


def sequence_check(
    pages: list[tuple[str, str, Any]],
    last_page: Callable[[Any], bool | None],
) -> list[str]:
    """Warnings when a resource's pages never reach a last page (an incomplete export).

    ``pages`` is ``(kind, name, meta)``; ``last_page(meta)`` says whether that page is the last
    (None when the page does not say).
    """
    out: list[str] = []
    kinds: dict[str, list[bool | None]] = {}
    for kind, _, meta in pages:
        kinds.setdefault(kind, []).append(last_page(meta))
    for kind, flags in sorted(kinds.items()):
        said = [f for f in flags if f is not None]
        if said and not any(said):
            out.append(
                f"{kind} pages: every page says more pages follow; the export looks incomplete"
            )
    return out


# --------------------------------------------------------------------------------------------
# XML


@attrs.frozen(kw_only=True, eq=False)
class XmlDocument:
    """A parsed document: its root element, the line of each element and reading notes."""

    root: Element
    lines: Mapping[Element, int]
    notes: tuple[str, ...] = ()

    def line(self, element: Element) -> int:
        """The 1-based line of ``element``'s start tag (0 when unknown)."""
        return self.lines.get(element, 0)


class _LineTarget:
    """A parser target that builds the tree and notes the line of every start tag."""

    def __init__(self) -> None:
        self.builder = TreeBuilder()
        self.lines: dict[Element, int] = {}
        self.parser: Any = None

    def start(self, tag: str, attrib: dict[str, str]) -> Element:
        element = self.builder.start(tag, attrib)
        if self.parser is not None:
            self.lines[element] = int(self.parser.CurrentLineNumber)
        return element

    def end(self, tag: str) -> Element:
        return self.builder.end(tag)

    def data(self, data: str) -> None:
        self.builder.data(data)

    def close(self) -> Element:
        return self.builder.close()


def _declared_encoding(raw: bytes) -> str | None:
    match = _DECLARATION.match(raw[:512])
    if match is None:
        return None
    found = _ENCODING.search(match.group(0))
    return found.group(1).decode("ascii").lower() if found else None


def _prepare(raw: bytes, name: str) -> tuple[bytes, tuple[str, ...]]:
    """The bytes expat should read, re-encoded when a file without a usable declaration is
    not UTF-8 (read as cp1252, then Latin-1, with a note)."""
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return raw, ()
    declared = _declared_encoding(raw)
    if declared is not None and declared not in _UTF8_NAMES:
        try:
            codecs.lookup(declared)
        except LookupError:
            raise FormatError(
                f"unknown XML encoding {declared!r} in the declaration", file=name, row=1
            ) from None
        return raw, ()  # expat honours the declaration (ISO-8859-1, cp1252, ...)
    text, encoding = _values.decode_bytes(raw)
    if encoding == "utf-8":
        return raw, ()
    used = "cp1252" if encoding == "cp1252" else "Latin-1"
    said = "declares UTF-8 but is not" if declared else "is not UTF-8 and declares no encoding"
    # drop the encoding pseudo-attribute: the text is handed over re-encoded as UTF-8
    body = text.encode("utf-8")
    match = _DECLARATION.match(body)
    if match is not None:
        head = _ENCODING.sub(b'encoding="UTF-8"', match.group(0))
        body = head + body[match.end() :]
    return body, (f"the file {said}; read as {used}",)


def parse_xml(raw: bytes, name: str) -> XmlDocument:
    """Parse ``raw`` safely; any problem is a :class:`~attendance_core.FormatError` naming
    ``name`` (and the line when the parser gives one)."""
    if not raw.strip():
        raise FormatError("empty file: no XML in it", file=name)
    data, notes = _prepare(raw, name)
    target = _LineTarget()
    parser = SafeET.DefusedXMLParser(
        target=target, forbid_dtd=True, forbid_entities=True, forbid_external=True
    )
    target.parser = parser.parser
    try:
        parser.feed(data)
        root = parser.close()
    except ParseError as exc:
        line = exc.position[0] if getattr(exc, "position", None) else None
        reason = str(exc).split(":")[0]
        raise FormatError(f"not well-formed XML ({reason})", file=name, row=line) from None
    except DefusedXmlException as exc:
        line = int(target.parser.CurrentLineNumber)
        raise FormatError(
            f"XML refused for safety: {type(exc).__name__} (DTDs, entities and external "
            "references are not read)",
            file=name,
            row=line,
        ) from None
    except (ValueError, LookupError, UnicodeError, RecursionError) as exc:
        raise FormatError(f"not readable as XML ({type(exc).__name__})", file=name) from None
    if not isinstance(root, Element):
        raise FormatError("no XML root element", file=name)
    return XmlDocument(root=root, lines=target.lines, notes=notes)


def xml_root_name(head: bytes) -> str | None:
    """The local name (lower case) of the first element in ``head`` (the first bytes of a
    file, for ``sniff``), skipping a BOM, the declaration, comments, processing instructions
    and a DOCTYPE; None when there is no element start in it. Nothing is parsed."""
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    pos = 0
    while True:
        start = text.find(b"<", pos)
        if start < 0:
            return None
        for opener, closer in _SKIPPED:
            if text.startswith(opener, start):
                end = text.find(closer, start + len(opener))
                if end < 0:
                    return None
                pos = end + len(closer)
                break
        else:
            match = _ROOT_TAG.match(text, start)
            if not match:
                return None
            return match.group(1).decode("ascii", "replace").rsplit(":", 1)[-1].lower()


def local_name(tag: Any) -> str:
    """The tag without its ``{namespace}``, lower-cased (``""`` for comments/PIs)."""
    if not isinstance(tag, str):
        return ""
    return tag.rsplit("}", 1)[-1].lower()


def child_text(element: Element, names: frozenset[str]) -> tuple[str | None, str | None, Element]:
    """The first value among ``names`` (lower-case local names): an attribute of ``element``
    or the text of a direct child. Returns (value, name as written, element holding it)."""
    for key, value in element.attrib.items():
        if local_name(key) in names:
            return value.strip(), local_name_as_written(key), element
    for child in element:
        if local_name(child.tag) in names:
            text = (child.text or "").strip()
            return text, local_name_as_written(child.tag), child
    return None, None, element


def local_name_as_written(tag: str) -> str:
    """The tag without its ``{namespace}``, case kept."""
    return tag.rsplit("}", 1)[-1]


def iter_named(
    root: Element, names: Collection[str], name: Callable[[Any], str] = local_name
) -> Iterator[Element]:
    """Every element below (and including) ``root`` whose local name is in ``names``, in
    document order, without looking inside a match: a ``<Mark>`` child that holds the code of
    an ``<AttendanceMark>`` record is a field, not a second record. ``name`` turns a tag into
    the name compared (default :func:`local_name`; an adapter may normalise names further)."""
    stack = [root]
    while stack:
        element = stack.pop()
        if name(element.tag) in names:
            yield element
            continue
        stack.extend(reversed(list(element)))
