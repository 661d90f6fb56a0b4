"""Helpers shared by the JSON readers of this adapter (kept private to the distribution; the same
file ships in each attendance-core JSON adapter so that each installs on its own).

Reading pages, decoding bytes, walking nested records, parsing dates and turning rows into
chunks of the long layout. Nothing here knows about one vendor's field names: those live in
the adapter's TOML alias table.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from attendance_core.errors import FormatError, RegisterError

#: Extensions of page files read from a folder (others are ignored).
PAGE_SUFFIXES = (".json",)
#: Records per marks chunk.
CHUNK_ROWS = 50_000

_ISO_DATE = re.compile(r"^\s*(\d{4})-(\d{2})-(\d{2})(?:$|[T ](.*)$)")
_UK_DATE = re.compile(r"^\s*(\d{1,2})/(\d{1,2})/(\d{4})\s*$")
_OFFSET = re.compile(r"(Z|[+-]\d{2}:?\d{2})\s*$")


class Rows:
    """Where rejected rows go: collected into ``rejected`` or raised at the first one."""

    def __init__(self, file: str, errors: str, rejected: list[dict[str, Any]]) -> None:
        if errors not in ("raise", "collect"):
            raise ValueError(f"errors must be 'raise' or 'collect' (got {errors!r})")
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
        self.rejected.append({"row": row, "column": column, "value": shown, "reason": reason})


def decode(data: bytes, name: str, warnings: list[str]) -> str:
    """Text of a JSON file: UTF-8 with or without BOM, else cp1252/Latin-1 with a warning."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        warnings.append(f"{name}: not UTF-8, read as cp1252/Latin-1")
        try:
            return data.decode("cp1252")
        except UnicodeDecodeError:
            return data.decode("latin-1")


def parse_json(data: bytes, name: str, warnings: list[str]) -> Any:
    """Parse one JSON document; empty, truncated or invalid input is a :class:`FormatError`."""
    if not data.strip():
        raise FormatError("empty file: no JSON document", file=name)
    text = decode(data, name, warnings)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise FormatError(
            f"not valid JSON ({exc.msg}, column {exc.colno})", file=name, row=exc.lineno
        ) from None
    except (ValueError, RecursionError) as exc:  # huge numbers, absurd nesting
        raise FormatError(f"not usable JSON ({type(exc).__name__})", file=name) from None


def read_source(source: Any, warnings: list[str]) -> list[tuple[str, Any]]:
    """Every JSON document of a source as ``(name, document)`` in reading order.

    A folder gives its ``*.json`` files sorted by name; a file or buffer gives one document; an
    iterable of already-parsed pages (``Source.obj``) gives each page.
    """
    obj = source.obj
    if getattr(source, "is_dir", False):
        folder = Path(source.path if source.path is not None else obj)
        files = sorted(
            p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in PAGE_SUFFIXES
        )
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
            return stamp.astimezone(local_tz).date()
        return day
    m = _UK_DATE.match(value)
    if m:
        try:
            return dt.date(int(m.group(3)), int(m.group(2)), int(m.group(1)))
        except ValueError:
            return None
    return None


def text_id(value: Any) -> str | None:
    """An identifier as text (ints stay exact, floats like ``1234.0`` lose the ``.0``)."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        return str(int(value)) if value.is_integer() else str(value)
    if isinstance(value, int | str):
        text = str(value).strip()
        return text or None
    return None


def upn_ok(upn: str) -> bool:
    """Whether a UPN passes the DfE check letter (python-stdnum)."""
    from stdnum.gb import upn as stdnum_upn

    return bool(stdnum_upn.is_valid(upn))


def open_end_set(values: Iterable[Any]) -> set[dt.date]:
    """Open-end ("not left") sentinel dates as dates."""
    out: set[dt.date] = set()
    for v in values:
        d = parse_date(v)
        if d is None:
            raise ValueError(f"open_end_dates: not a date: {v!r}")
        out.add(d)
    return out


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
    for col in ("date_of_birth", "admission_date", "leaving_date"):
        if col in frame:
            frame[col] = pd.to_datetime(frame[col])
    return frame


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
