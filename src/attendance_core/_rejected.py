"""Rejected rows kept compactly: columns with a cap, and exact counts by reason.

A hostile file can make every one of millions of rows bad (a CSV of one-character lines, a small
Parquet file of identical bad rows). Rejected rows are therefore never kept as one dict a row:
a :class:`RejectedStore` holds them as columns (row numbers in an ``array``, column and reason
ids as small integer codes into short tables, values cut to 40 characters) and keeps at most
``cap`` rows -- the ones with the smallest row numbers -- while it counts every rejected row by
reason, exactly. Past the cap the store says how many rows it left out
(:attr:`RejectedStore.dropped`); :func:`~attendance_core.load` warns and its result keeps the
counts in ``error_counts``.

The cap of a store made without one comes from :func:`rejected_cap`: the ``max_rejected_rows``
option of the :func:`~attendance_core.load` in progress, else
:data:`DEFAULT_MAX_REJECTED_ROWS`. The register and every adapter use this store (adapters
through :class:`~attendance_core.adapterkit.RejectedRows` or ``AdapterOutput.rejected``).
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import math
from array import array
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

__all__ = [
    "DEFAULT_MAX_REJECTED_ROWS",
    "REJECTED_COLUMNS",
    "RejectedStore",
    "check_errors",
    "empty_rejected",
    "rejected_cap",
    "rejected_total",
]

#: Columns of every rejected-rows table.
REJECTED_COLUMNS: tuple[str, ...] = ("row", "column", "value", "reason")
#: Most rejected rows a load lists (the first by row number); every one is still counted by
#: reason in ``error_counts``. Raise with ``ac.load(..., max_rejected_rows=...)``.
DEFAULT_MAX_REJECTED_ROWS = 100_000
#: Longest rejected value kept, in characters (longer text ends ``...``).
VALUE_LIMIT = 40

_cap: contextvars.ContextVar[int] = contextvars.ContextVar(
    "attendance_core_max_rejected_rows", default=DEFAULT_MAX_REJECTED_ROWS
)


def check_errors(errors: str) -> None:
    """A reader's ``errors`` is ``"collect"`` (rejected rows are listed) or ``"raise"`` (the
    first raises); anything else is a :class:`ValueError`."""
    if errors not in ("collect", "raise"):
        raise ValueError(f"errors must be 'collect' or 'raise' (got {errors!r})")


def rejected_cap() -> int:
    """The cap of a new :class:`RejectedStore`: the running load's ``max_rejected_rows``, else
    :data:`DEFAULT_MAX_REJECTED_ROWS`."""
    return _cap.get()


@contextlib.contextmanager
def capped(cap: int) -> Iterator[None]:
    """Stores made inside the block default to ``cap`` (used by :func:`~attendance_core.load`)."""
    token = _cap.set(cap)
    try:
        yield
    finally:
        _cap.reset(token)


def shown_value(value: Any) -> Any:
    """A rejected value as kept: None for missing, text cut to 40 characters, numbers as they
    are, anything else as its (cut) text."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, bool | np.bool_):
        return str(value)
    if isinstance(value, int | float | np.integer | np.floating):
        return value.item() if isinstance(value, np.generic) else value
    if isinstance(value, pd.Timestamp | np.datetime64 | dt.date):
        value = str(value)
    text = value if isinstance(value, str) else _text(value)
    if len(text) > VALUE_LIMIT:
        text = text[: VALUE_LIMIT - 3] + "..."
    if any("\ud800" <= ch <= "\udfff" for ch in text):  # a lone surrogate cannot be written
        text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def _text(value: Any) -> str:
    try:
        return str(value)
    except Exception:  # an object whose str() fails is shown by its type
        return f"<{type(value).__name__}>"


class RejectedStore:
    """Rejected rows as columns, at most ``cap`` of them, with exact counts by reason.

    ``append({"row", "column", "value", "reason"})`` and ``extend`` take the records adapters
    used to put in a list; :meth:`add` takes the four fields and :meth:`add_many` a batch of
    rows sharing column and reason. ``len(store)`` is the number of rows kept, :attr:`total`
    the number rejected, :attr:`dropped` the difference, :attr:`error_counts` the count by
    reason. Iterating gives the kept rows as dicts; :meth:`frame` the table sorted by row.
    Past the cap the rows with the smallest row numbers are kept.
    """

    __slots__ = (
        "_codes",
        "_column",
        "_counts",
        "_names",
        "_reason",
        "_row",
        "_value",
        "cap",
        "total",
    )

    def __init__(self, cap: int | None = None) -> None:
        cap = rejected_cap() if cap is None else int(cap)
        if cap < 0:
            raise ValueError(f"max_rejected_rows must be at least 0 (got {cap})")
        self.cap = cap
        self.total = 0
        self._row: array[int] | list[Any] = array("q")
        self._column: array[int] = array("I")
        self._reason: array[int] = array("I")
        self._value: list[Any] = []
        self._names: list[str] = []  # column and reason texts, by code
        self._codes: dict[str, int] = {}
        self._counts: dict[str, int] = {}

    # ------------------------------------------------------------------ adding
    def _code(self, text: Any) -> int:
        key = "" if text is None else str(text)
        code = self._codes.get(key)
        if code is None:
            code = self._codes[key] = len(self._names)
            self._names.append(key)
        return code

    def _room(self) -> bool:
        """Whether one more row may be kept (compacting to the cap when the buffer is full)."""
        if len(self._value) < 2 * self.cap:
            return True
        self._compact()
        return len(self._value) < 2 * self.cap

    def _put_row(self, row: Any) -> None:
        if isinstance(self._row, array):
            if isinstance(row, int | np.integer) and not isinstance(row, bool | np.bool_):
                number = int(row)
                if -(2**63) <= number < 2**63:
                    self._row.append(number)
                    return
            self._row = list(self._row)
        self._row.append(row.item() if isinstance(row, np.generic) else row)

    def add(self, row: Any, column: Any, value: Any, reason: Any) -> None:
        """Count one rejected row and keep it while there is room."""
        why = str(reason)
        self._counts[why] = self._counts.get(why, 0) + 1
        self.total += 1
        if self.cap == 0 or not self._room():
            return
        self._put_row(row)
        self._column.append(self._code(column))
        self._reason.append(self._code(why))
        self._value.append(shown_value(value))

    def add_many(
        self,
        rows: Sequence[Any] | npt.NDArray[Any],
        column: Any,
        reason: Any,
        value_at: Any,
    ) -> None:
        """Count ``len(rows)`` rejected rows of one column and reason; values are asked of
        ``value_at(i)`` (``i`` the position in ``rows``) only for the rows kept."""
        n = len(rows)
        if not n:
            return
        why = str(reason)
        self._counts[why] = self._counts.get(why, 0) + n
        self.total += n
        if self.cap == 0:
            return
        ccode, rcode = self._code(column), self._code(why)
        arr = np.asarray(rows) if not isinstance(rows, np.ndarray) else rows
        numeric = arr.dtype.kind in "iu"
        idx = np.arange(n)
        while len(idx):
            room = 2 * self.cap - len(self._value)
            if room <= 0:
                self._compact()
                room = 2 * self.cap - len(self._value)
                if numeric and isinstance(self._row, array) and len(self._row):
                    # rows numbered after every kept one would only be dropped again
                    last = int(np.frombuffer(self._row, dtype=np.int64).max())
                    idx = idx[arr[idx] < last]
                    if not len(idx):
                        return
            for i in idx[:room].tolist():
                self._put_row(arr[i] if numeric else rows[i])
                self._column.append(ccode)
                self._reason.append(rcode)
                self._value.append(shown_value(value_at(i)))
            idx = idx[room:]

    def append(self, record: Mapping[str, Any]) -> None:
        """Add one ``{"row", "column", "value", "reason"}`` record (as a list would)."""
        self.add(record.get("row"), record.get("column"), record.get("value"), record.get("reason"))

    def extend(self, records: Iterable[Mapping[str, Any]] | RejectedStore) -> None:
        """Add every record of an iterable of dicts or of another store (its counts too)."""
        if isinstance(records, RejectedStore):
            self.merge(records)
            return
        for record in records:
            self.append(record)

    def merge(self, other: RejectedStore) -> None:
        """Add another store's rows and counts (rows it counted past its cap stay counted)."""
        listed: dict[str, int] = {}
        for record in other:
            listed[record["reason"]] = listed.get(record["reason"], 0) + 1
            self.append(record)
        for why, count in other._counts.items():
            extra = count - listed.get(why, 0)
            if extra > 0:
                self._counts[why] = self._counts.get(why, 0) + extra
                self.total += extra

    def absorb(self, frame: pd.DataFrame, error_counts: Mapping[str, int] | None = None) -> None:
        """Add the rows of a rejected-rows table; ``error_counts`` (when the table was cut at a
        cap) counts the rows the table no longer lists."""
        listed: dict[str, int] = {}
        columns = [
            frame[c].tolist() if c in frame.columns else [None] * len(frame)
            for c in REJECTED_COLUMNS
        ]
        for row, column, value, reason in zip(*columns, strict=True):
            why = str(reason)
            listed[why] = listed.get(why, 0) + 1
            self.add(row, column, value, why)
        for why, count in (error_counts or {}).items():
            extra = int(count) - listed.get(str(why), 0)
            if extra > 0:
                self._counts[str(why)] = self._counts.get(str(why), 0) + extra
                self.total += extra

    # ------------------------------------------------------------------ reading
    def _compact(self) -> None:
        """Keep the ``cap`` rows with the smallest row numbers (stable)."""
        if len(self._value) <= self.cap:
            return
        order = self._order()[: self.cap]
        self._take(order)

    def _order(self) -> npt.NDArray[np.intp]:
        if isinstance(self._row, array):
            return np.argsort(np.frombuffer(self._row, dtype=np.int64), kind="stable")
        keys = pd.to_numeric(pd.Series(self._row, dtype=object), errors="coerce")
        if keys.isna().any():
            texts = np.asarray([str(r) for r in self._row], dtype=object)
            return np.argsort(texts, kind="stable")
        return np.argsort(keys.to_numpy(dtype=np.float64), kind="stable")

    def _take(self, order: npt.NDArray[np.intp]) -> None:
        idx = order.tolist()
        if isinstance(self._row, array):
            self._row = array("q", np.frombuffer(self._row, dtype=np.int64)[order].tobytes())
        else:
            self._row = [self._row[i] for i in idx]
        self._column = array("I", [self._column[i] for i in idx])
        self._reason = array("I", [self._reason[i] for i in idx])
        self._value = [self._value[i] for i in idx]

    def __getitem__(self, i: int) -> dict[str, Any]:
        """The ``i``-th kept row as a dict (as a list of records would give it)."""
        return list(self)[i]

    def __len__(self) -> int:
        return min(len(self._value), self.cap)

    def __bool__(self) -> bool:
        return self.total > 0

    def __iter__(self) -> Iterator[dict[str, Any]]:
        self._compact()
        names = self._names
        for i in range(len(self._value)):
            yield {
                "row": self._row[i],
                "column": names[self._column[i]],
                "value": self._value[i],
                "reason": names[self._reason[i]],
            }

    @property
    def dropped(self) -> int:
        """Rejected rows counted but not kept (past the cap)."""
        return self.total - len(self)

    @property
    def error_counts(self) -> dict[str, int]:
        """Rejected rows by reason id, every one counted (sorted by reason)."""
        return dict(sorted(self._counts.items()))

    def frame(self) -> pd.DataFrame:
        """The kept rows as a DataFrame (``row``, ``column``, ``value``, ``reason``) sorted by
        row; column, value and reason as Python objects."""
        self._compact()
        n = len(self._value)
        if not n:
            return empty_rejected()
        order = self._order()
        names = np.asarray(self._names, dtype=object)
        if isinstance(self._row, array):
            rows: Any = np.frombuffer(self._row, dtype=np.int64)[order]
        else:
            rows = pd.Series(self._row, dtype=object).to_numpy()[order]
        values = np.empty(n, dtype=object)
        values[:] = self._value
        return pd.DataFrame(
            {
                "row": rows,
                "column": names[np.frombuffer(self._column, dtype=np.uint32)[order]],
                "value": values[order],
                "reason": names[np.frombuffer(self._reason, dtype=np.uint32)[order]],
            }
        )

    def __repr__(self) -> str:
        return f"RejectedStore({self.total} rejected, {len(self)} kept, cap {self.cap})"


def reason_counts(rejected: pd.DataFrame) -> dict[str, int]:
    """The rows of a rejected-rows table counted by reason id (empty without a reason column)."""
    if "reason" not in rejected.columns:
        return {}
    counts = rejected["reason"].astype(str).value_counts()
    return {str(k): int(v) for k, v in counts.items()}


def empty_rejected() -> pd.DataFrame:
    """An empty rejected-rows table."""
    return pd.DataFrame({c: pd.Series([], dtype=object) for c in REJECTED_COLUMNS})


def rejected_total(rejected: Any) -> int:
    """How many rows a store or a list of records rejected (a store counts past its cap)."""
    if isinstance(rejected, RejectedStore):
        return rejected.total
    return len(rejected)
