"""The register: every enrolment's marks as a compact matrix of small integer code ids.

A :class:`Register` holds one row per enrolment (a school and pupil pair) and two columns per
date (AM, PM) of a shared date axis, one ``uint8`` code id per cell — about one byte a mark, never
a Python object per mark. Code ids index a :class:`CodeTable` built from the code sets in use, so
the same letter can mean different things before and after 19 August 2024 (old ``J`` counts as
attendance, new ``J1`` as authorised absence).

Building a register validates each row exactly as the API contract says; nothing is dropped
without a row in :attr:`Register.rejected`.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from types import MappingProxyType
from typing import Any, Literal

import attrs
import numpy as np
import numpy.typing as npt
import pandas as pd

from ._pupils import positions, pupils_table
from ._rejected import RejectedStore, check_errors, reason_counts, shown_value
from ._rejected import empty_rejected as _empty_rejected
from ._values import id_texts as _id_texts
from .calendar import SchoolCalendar, as_date, as_dates, in_bounds, stray_days
from .codes import MISSING_MARK, TAGS, Category, CodeSet, CodeSetRef, normalise_code, sets_by_date
from .errors import REASON_TEXT, AttendanceWarning, CodeSetError, Reason, RegisterError

__all__ = ["MISSING", "NO_MARK", "CodeTable", "Register"]

#: Code id of a cell with no row in the input.
NO_MARK = 0
#: Code id of an accepted row whose mark is missing (empty, NaN or ``-``).
MISSING = 1

SESSIONS = ("AM", "PM")
REJECTED_COLUMNS = ["row", "column", "value", "reason"]  # as _rejected.REJECTED_COLUMNS
_REQUIRED = ("pupil_id", "date", "session", "code")
_EPOCH = np.datetime64("1970-01-01", "D")
#: the date ordinal of a value that is not a date (far below every real date)
_NO_DATE = -(2**62)
_CATEGORY_ORDER = tuple(Category)


@attrs.frozen
class CodeTable:
    """The code ids of one register: id 0 = no mark, 1 = missing mark, then each set's codes.

    ``entries[i]`` is ``(code_set_id, code, category)``; the boolean lookup arrays are indexed by
    code id so that measures count with numpy, never per mark in Python.
    """

    sets: tuple[CodeSet, ...]
    entries: tuple[tuple[str, str, Category | None], ...]

    @classmethod
    def build(cls, sets: Sequence[CodeSet]) -> CodeTable:
        """The table for a tuple of code sets."""
        entries: list[tuple[str, str, Category | None]] = [("", "", None), ("", MISSING_MARK, None)]
        for cs in sets:
            entries.extend((cs.id, c.code, c.category) for c in cs.codes)
        if len(entries) > 255:
            raise RegisterError("too many distinct codes for one register (at most 253)")
        return cls(tuple(sets), tuple(entries))

    def __len__(self) -> int:
        return len(self.entries)

    @property
    def symbols(self) -> npt.NDArray[np.object_]:
        """The code letter of each id (``""`` for no mark, ``"-"`` for a missing mark)."""
        return np.array([e[1] for e in self.entries], dtype=object)

    def lookup(self, predicate: Any) -> npt.NDArray[np.bool_]:
        """A boolean array over code ids: True where ``predicate(code, category)`` holds."""
        out = np.zeros(256, dtype=bool)
        for i, (_, code, cat) in enumerate(self.entries):
            if cat is not None and predicate(code, cat):
                out[i] = True
        return out

    @property
    def tags(self) -> tuple[frozenset[str], ...]:
        """The tags of each code id (empty for no mark and for a missing mark)."""
        none: frozenset[str] = frozenset()
        return (none, none, *(c.tags for cs in self.sets for c in cs.codes))

    def of_tags(self, *tags: str) -> npt.NDArray[np.bool_]:
        """True for the ids whose code carries any of ``tags`` (see :data:`codes.TAGS`)."""
        unknown = sorted(set(tags) - TAGS)
        if unknown:
            raise CodeSetError(f"unknown tag {unknown[0]!r}; known: {', '.join(sorted(TAGS))}")
        wanted = frozenset(tags)
        out = np.zeros(256, dtype=bool)
        for i, have in enumerate(self.tags):
            out[i] = bool(have & wanted)
        return out

    def of_codes(self, *codes: str) -> npt.NDArray[np.bool_]:
        """True for the ids whose code letter is one of ``codes`` (in any set).

        For callers that name codes given by a user; the library's own counts use
        :meth:`of_tags` and :meth:`of_category`, never a letter.
        """
        wanted = set(codes)
        return self.lookup(lambda code, _cat: code in wanted)

    def of_category(self, *categories: Category) -> npt.NDArray[np.bool_]:
        """True for the ids in any of ``categories``."""
        wanted = set(categories)
        return self.lookup(lambda _code, cat: cat in wanted)

    @property
    def possible(self) -> npt.NDArray[np.bool_]:
        """Ids that count as a possible session."""
        return self.lookup(lambda _c, cat: cat.possible)

    @property
    def attended(self) -> npt.NDArray[np.bool_]:
        """Ids that count as attendance."""
        return self.lookup(lambda _c, cat: cat.attendance)

    @property
    def school_session(self) -> npt.NDArray[np.bool_]:
        """Ids that make their (date, session) a school session: any mark whose code is not
        tagged ``closure`` (the statutory ``#``).

        A missing mark counts: the MIS had the pupil on a register that was not completed.
        """
        out = ~self.of_tags("closure")
        out[NO_MARK] = False
        out[len(self.entries) :] = False
        return out


def date_ordinals(dates: npt.NDArray[np.datetime64]) -> npt.NDArray[np.int64]:
    """Days since 1970-01-01 for an array of ``datetime64[D]``."""
    return (dates.astype("datetime64[D]") - _EPOCH).astype(np.int64)


def _to_day(value: Any) -> np.datetime64:
    return np.datetime64(as_date(value), "D")


@attrs.frozen
class _Rejecting:
    """How a load handles the rows it rejects: ``errors="raise"`` raises a
    :class:`RegisterError` for the first, ``"collect"`` adds them to ``rejected``; ``source``
    (the file) and ``names`` (core column -> source header) only change the wording."""

    errors: str
    source: str | None
    names: Mapping[str, str]
    rejected: RejectedStore

    def column(self, name: str) -> str:
        """The source's header of the core column ``name``."""
        return self.names.get(name, name)


@attrs.define(eq=False)
class _Encoded:
    """One chunk of the long frame, validated and encoded to small arrays.

    Per-row arrays hold codes into small per-chunk tables (never a Python object per row), so
    that assembling the register maps them through lookup tables instead of sorting. A streamed
    build keeps one of these per chunk until the register is assembled, so per-row storage is
    kept to a few bytes: the accepted rows' labels are not stored when the chunk's index is a
    contiguous run of ``int64`` labels (they are rebuilt from ``row_start`` and ``row_skip``).
    """

    n: int  # accepted rows
    row: pd.Index | None  # index labels of accepted rows (None: see row_start and row_skip)
    row_start: int  # label of the chunk's first row when ``row`` is None
    row_skip: npt.NDArray[np.signedinteger[Any]]  # positions in the chunk of rejected rows
    # rows come in runs of one enrolment (an export sorted by school and pupil has one run a
    # pupil); school and pupil codes are per run, ``run_length`` the rows of each run
    run_length: npt.NDArray[np.intp]
    school: npt.NDArray[np.intp] | None  # per run, into school_uniques (None: no school)
    pupil: npt.NDArray[np.intp]  # per run, into pupil_uniques
    # ``2 * date code + session`` (date codes into day_uniques; smallest signed dtype)
    cell: npt.NDArray[np.signedinteger[Any]]
    code: npt.NDArray[np.uint8]
    school_uniques: list[str]
    pupil_uniques: list[str]
    day_uniques: npt.NDArray[np.int64]  # date ordinal of each date code (bad: -(2**62))
    has_school: bool | None  # None: chunk had no school_id column
    complete: bool = False  # every row accepted (so every unique date is used and valid)

    def labels(self) -> npt.NDArray[Any]:
        """Index labels of the accepted rows, as ``row.to_numpy()`` would give them."""
        if self.row is not None:
            return self.row.to_numpy()
        k = np.arange(self.n, dtype=np.int64)
        if len(self.row_skip):
            shift = self.row_skip - np.arange(len(self.row_skip))
            k += np.searchsorted(shift, k, side="right")
        return k + self.row_start


def _contiguous_start(labels: pd.Index) -> int | None:
    """The first label when ``labels`` are the ``int64`` labels ``s, s+1, s+2, ...``."""
    if isinstance(labels, pd.RangeIndex):
        return int(labels.start) if labels.step == 1 or len(labels) < 2 else None
    if labels.dtype != np.int64 or not len(labels):
        return None
    arr = labels.to_numpy()
    start = int(arr[0])
    if int(arr[-1]) - start != len(arr) - 1:
        return None
    return start if bool((np.diff(arr) == 1).all()) else None


class Register:
    """Marks of one or more schools, one ``uint8`` code id per enrolment and session.

    Build one with :meth:`from_long`. A register is immutable, like the library's other models:
    its attributes cannot be set or deleted and its arrays are read-only (``select``,
    ``period`` and ``with_school_days`` give new registers). Attributes:

    ``marks``
        ``uint8`` array, enrolments × sessions; columns are ``2 * date_index + (0 AM | 1 PM)``.
    ``dates``
        sorted ``datetime64[D]`` dates of the axis (every date with any accepted row).
    ``pupil_ids``, ``school_ids``
        per enrolment; ``school_ids`` is None when the input had no ``school_id``.
    ``span``
        ``int64`` enrolments × 2: first and last session of each enrolment span, as session
        ordinals ``2 * days_since_1970 + session``.
    ``codes``
        the :class:`CodeTable` of the ids.
    ``rejected``
        rows left out, with ``row``, ``column``, ``value``, ``reason``, sorted by row: at
        most ``max_rejected_rows`` of them (the first by row number; see
        :data:`~attendance_core._rejected.DEFAULT_MAX_REJECTED_ROWS`).
    ``error_counts``
        every rejected row counted by reason id (also those past the cap); for a register
        from :func:`~attendance_core.load`, ``rejected`` and ``error_counts`` are the load's
        (the adapter's rejected rows too).
    """

    def __init__(
        self,
        *,
        marks: npt.NDArray[np.uint8],
        dates: npt.NDArray[np.datetime64],
        pupil_ids: npt.NDArray[np.object_],
        school_ids: npt.NDArray[np.object_] | None,
        span: npt.NDArray[np.int64],
        codes: CodeTable,
        rejected: pd.DataFrame | None = None,
        added_sessions: Mapping[Any, npt.NDArray[np.bool_]] | None = None,
        error_counts: Mapping[str, int] | None = None,
        _fresh: bool = False,
    ) -> None:
        # ``_fresh``: the arrays were made for this register by the library (from_long,
        # select, ...), so they are frozen in place; a caller's own writeable arrays are
        # copied first, so that building a register never freezes the caller's data
        self.marks: npt.NDArray[np.uint8]
        self.dates: npt.NDArray[np.datetime64]
        self.pupil_ids: npt.NDArray[np.object_]
        self.school_ids: npt.NDArray[np.object_] | None
        self.span: npt.NDArray[np.int64]
        self.codes: CodeTable
        self.rejected: pd.DataFrame
        self.error_counts: Mapping[str, int]
        table = _empty_rejected() if rejected is None else rejected
        if error_counts is None:
            error_counts = reason_counts(table)
        self.schools: npt.NDArray[np.object_]
        self.school_index: npt.NDArray[np.int64]
        # school sessions from term-date files, by school id: a bool per column
        self.added_sessions: Mapping[Any, npt.NDArray[np.bool_]]
        self._school_sessions: npt.NDArray[np.bool_] | None
        self._whole_index: pd.Index | None
        schools = np.array([""]) if school_ids is None else school_ids
        # enrolments are sorted by school: each school's rows are one contiguous block
        uniq, first, inverse = np.unique(
            schools.astype(str), return_index=True, return_inverse=True
        )
        if school_ids is None:
            school_list = np.array([None], dtype=object)
            school_index = np.zeros(len(pupil_ids), dtype=np.int64)
        else:
            school_list = np.asarray(school_ids[first] if len(first) else uniq, dtype=object)
            school_index = inverse.astype(np.int64).reshape(-1)
        sessions = {k: _read_only(v, _fresh) for k, v in (added_sessions or {}).items()}
        self.__dict__.update(
            marks=_read_only(marks, _fresh),
            dates=_read_only(dates.astype("datetime64[D]"), fresh=True),
            pupil_ids=_read_only(pupil_ids, _fresh),
            school_ids=None if school_ids is None else _read_only(school_ids, _fresh),
            span=_read_only(span, _fresh),
            codes=codes,
            rejected=table,
            error_counts=MappingProxyType(dict(sorted(error_counts.items()))),
            schools=_read_only(school_list, fresh=True),
            school_index=_read_only(school_index, fresh=True),
            added_sessions=MappingProxyType(sessions),
            _school_sessions=None,
            _whole_index=None,
        )

    def with_rejected(
        self, rejected: pd.DataFrame, error_counts: Mapping[str, int] | None = None
    ) -> Register:
        """The same register (its arrays shared, read-only) with ``rejected`` as its rejected
        rows and ``error_counts`` (default: counted from ``rejected``) as their counts by
        reason: :func:`~attendance_core.load` gives the register the load's whole table."""
        if error_counts is None:
            error_counts = reason_counts(rejected)
        other = object.__new__(Register)
        other.__dict__.update(
            self.__dict__,
            rejected=rejected,
            error_counts=MappingProxyType(dict(sorted(error_counts.items()))),
        )
        return other

    def __setattr__(self, name: str, value: Any) -> None:
        raise attrs.exceptions.FrozenInstanceError()

    def __delattr__(self, name: str) -> None:
        raise attrs.exceptions.FrozenInstanceError()

    def _state(self) -> dict[str, Any]:
        """The arguments of ``__init__`` that build this register again."""
        fields = ("marks", "dates", "pupil_ids", "school_ids", "span", "codes", "rejected")
        state = {name: self.__dict__[name] for name in fields}
        state["error_counts"] = dict(self.error_counts)
        state["added_sessions"] = dict(self.added_sessions)
        return state

    def _evolve(self, **changes: Any) -> Register:
        """This register with ``changes`` to the arguments of ``__init__``; the arrays not
        changed are shared (all are read-only)."""
        return Register(**{**self._state(), **changes}, _fresh=True)

    def __reduce__(self) -> tuple[Any, ...]:
        # rebuilt through __init__ (dask ships registers to workers): read-only again there
        return (_rebuild, (self._state(),))

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_long(
        cls,
        data: pd.DataFrame | Iterable[pd.DataFrame],
        *,
        code_set: CodeSetRef | Iterable[CodeSetRef] | None = None,
        errors: Literal["raise", "collect"] = "raise",
        pupils: pd.DataFrame | Callable[[], pd.DataFrame | None] | None = None,
        symbols: Mapping[str, str] | None = None,
        source: str | None = None,
        source_columns: Mapping[str, str] | None = None,
    ) -> Register:
        """Build a register from the long layout: one row per pupil and session.

        ``data`` is a DataFrame or an iterable of DataFrame chunks (for streamed reads) with
        columns ``pupil_id``, ``date``, ``session`` (``AM``/``PM``), ``code`` and optionally
        ``school_id``; other columns are ignored. ``code_set`` forces one code set (an id, a TOML
        path or a :class:`CodeSet`, such as one from :func:`load_code_set`) for every date;
        a list of sets decides each mark by the first set in force on its date (default: the
        bundled sets, each on the dates it is in force). ``symbols`` maps local display
        symbols onto statutory codes. ``pupils`` (indexed by ``pupil_id``, optionally with
        ``school_id``) may give ``admission_date`` and ``leaving_date``, which then bound each
        enrolment span; it may be a callable, called once every chunk has been read (a
        streaming adapter knows its pupils only then). ``errors="raise"`` raises
        :class:`RegisterError` at the first unusable row (naming row, column and value);
        ``errors="collect"`` leaves such rows out and lists them in :attr:`rejected`.
        ``source`` (a file name) and ``source_columns`` (core column → source header) only
        change how errors are worded.
        """
        check_errors(errors)
        sets = sets_by_date(code_set)
        if symbols:
            sets = tuple(s.with_symbols({k: v for k, v in symbols.items() if v in s}) for s in sets)
        table = CodeTable.build(sets)
        chunks = [data] if isinstance(data, pd.DataFrame) else data
        how = _Rejecting(errors, source, dict(source_columns or {}), RejectedStore())
        encoded = [_encode_checked(chunk, table, how) for chunk in chunks]
        if callable(pupils):
            pupils = pupils()
        return _assemble(encoded, table, how, pupils=pupils_table(pupils))

    # ------------------------------------------------------------------ basic facts
    @property
    def n_enrolments(self) -> int:
        """Number of enrolments (rows)."""
        return int(self.marks.shape[0])

    @property
    def has_schools(self) -> bool:
        """Whether the register holds two or more schools (the index of results then has
        ``school_id``)."""
        return self.school_ids is not None and len(self.schools) >= 2

    @property
    def nbytes(self) -> int:
        """Memory held by the register's arrays, in bytes."""
        total = self.marks.nbytes + self.dates.nbytes + self.span.nbytes
        total += self.pupil_ids.nbytes + self.school_index.nbytes
        if self.school_ids is not None:
            total += self.school_ids.nbytes
        return int(total)

    @property
    def session_ordinals(self) -> npt.NDArray[np.int64]:
        """The session ordinal (``2 * days_since_1970 + session``) of each column."""
        days = date_ordinals(self.dates)
        ordinals: npt.NDArray[np.int64] = np.repeat(days * 2, 2) + np.tile(
            np.array([0, 1], dtype=np.int64), len(days)
        )
        return ordinals

    @property
    def school_sessions(self) -> npt.NDArray[np.bool_]:
        """Whether each column is a school session of each school (a schools-by-columns array).

        A school session is a (date, AM/PM) on which at least one of the school's pupils has a
        mark other than ``#`` (domain.md §1). Derived per school, never shared between schools.
        """
        if self._school_sessions is None:
            lut = self.codes.school_session
            out = np.zeros((len(self.schools), self.marks.shape[1]), dtype=bool)
            for s, rows in enumerate(self.school_blocks()):
                if rows.stop > rows.start:
                    out[s] = lut[self.marks[rows]].any(axis=0)
                added = self.added_sessions.get(self.schools[s])
                if added is not None:
                    out[s] |= added
            self.__dict__["_school_sessions"] = _read_only(out, fresh=True)  # a cache: derived once
        return self.__dict__["_school_sessions"]  # type: ignore[no-any-return]

    def school_blocks(self) -> list[slice]:
        """The row slice of each school (enrolments are sorted by school)."""
        bounds = np.searchsorted(self.school_index, np.arange(len(self.schools) + 1))
        return [slice(int(bounds[i]), int(bounds[i + 1])) for i in range(len(self.schools))]

    def calendar(self, school_id: str | None = None) -> SchoolCalendar:
        """The :class:`~attendance_core.calendar.SchoolCalendar` of one school."""
        return SchoolCalendar.of(self, school_id)

    def columns_between(self, start: Any = None, end: Any = None) -> slice:
        """The column slice of dates from ``start`` to ``end`` inclusive (None: open)."""
        lo = 0 if start is None else int(np.searchsorted(self.dates, _to_day(start), "left"))
        hi = (
            len(self.dates)
            if end is None
            else int(np.searchsorted(self.dates, _to_day(end), "right"))
        )
        return slice(2 * lo, 2 * max(hi, lo))

    def enrolments_in(self, start: Any = None, end: Any = None) -> npt.NDArray[np.bool_]:
        """Enrolments whose span meets the period from ``start`` to ``end`` inclusive (none
        when ``end`` is before ``start``: :data:`~attendance_core.calendar.EMPTY`)."""
        keep = np.ones(self.n_enrolments, dtype=bool)
        if start is not None and end is not None and as_date(end) < as_date(start):
            return ~keep
        if start is not None:
            keep &= self.span[:, 1] >= 2 * _day_ordinal(start)
        if end is not None:
            keep &= self.span[:, 0] <= 2 * _day_ordinal(end) + 1
        return keep

    def index(self, rows: npt.NDArray[Any] | slice | None = None) -> pd.Index:
        """The result index of these enrolments: ``pupil_id``, or (``school_id``,
        ``pupil_id``) when the register holds two or more schools."""
        whole = rows is None or (
            not isinstance(rows, slice)
            and np.asarray(rows).dtype.kind in "iu"
            and len(rows) == self.n_enrolments
            and np.array_equal(rows, np.arange(self.n_enrolments))
        )
        if not whole:
            return self._index(slice(None) if rows is None else rows)
        # every enrolment in order (classify without a period): built once per register, and
        # each caller gets its own copy (an index's name can be set in place)
        if self.__dict__.get("_whole_index") is None:
            self.__dict__["_whole_index"] = self._index(slice(None))  # a cache: derived once
        whole_index: pd.Index = self.__dict__["_whole_index"]
        return whole_index.copy()

    def _index(self, sel: npt.NDArray[Any] | slice) -> pd.Index:
        pupils = self.pupil_ids[sel]
        if self.has_schools:
            assert self.school_ids is not None
            return pd.MultiIndex.from_arrays(
                [pd.Index(self.school_ids[sel], dtype=object), pd.Index(pupils, dtype=object)],
                names=["school_id", "pupil_id"],
            )
        return pd.Index(pupils, dtype=object, name="pupil_id")

    # ------------------------------------------------------------------ views
    def select(
        self,
        *,
        start: Any = None,
        end: Any = None,
        pupils: Iterable[str] | None = None,
        schools: Iterable[str] | None = None,
    ) -> Register:
        """A register restricted to a period (inclusive dates), some pupils and/or schools.

        Enrolment spans are clipped to the period and enrolments whose span misses it are left
        out, so ``classify(reg, start=a, end=b)`` equals ``classify(reg.select(start=a,
        end=b))``. Selecting some pupils of a school derives that school's calendar from those
        pupils only (domain.md §1).
        """
        keep = self.enrolments_in(start, end)
        if pupils is not None:
            keep &= np.isin(self.pupil_ids.astype(str), np.asarray(list(pupils), dtype=str))
        if schools is not None:
            if self.school_ids is None:
                raise RegisterError("the register has no school_id to select by")
            keep &= np.isin(self.school_ids.astype(str), np.asarray(list(schools), dtype=str))
        cols = self.columns_between(start, end)
        rows = np.flatnonzero(keep)
        span = self.span[rows].copy()
        if start is not None:
            span[:, 0] = np.maximum(span[:, 0], 2 * _day_ordinal(start))
        if end is not None:
            span[:, 1] = np.minimum(span[:, 1], 2 * _day_ordinal(end) + 1)
        return self._evolve(
            marks=np.ascontiguousarray(self.marks[rows, cols]),
            dates=self.dates[cols.start // 2 : cols.stop // 2],
            pupil_ids=self.pupil_ids[rows],
            school_ids=None if self.school_ids is None else self.school_ids[rows],
            span=span,
            added_sessions={k: v[cols] for k, v in self.added_sessions.items()},
        )

    def with_school_days(self, days: Iterable[Any], school_id: str | None = None) -> Register:
        """A register whose calendar also has ``days`` as school days (both sessions).

        For term-date files: a day inside term on which no pupil has a mark (a register never
        taken) then counts in each pupil's ``unmarked`` when it lies inside the enrolment span.
        ``school_id`` names the school (None: every school of the register).
        """
        wanted = np.unique(np.array([_to_day(d) for d in days], dtype="datetime64[D]"))
        dates = np.union1d(self.dates, wanted).astype("datetime64[D]")
        old_pos = np.searchsorted(dates, self.dates)
        old_cols = np.ravel(np.column_stack([2 * old_pos, 2 * old_pos + 1]))
        marks = np.zeros((self.n_enrolments, 2 * len(dates)), dtype=np.uint8)
        marks[:, old_cols] = self.marks
        flag = np.repeat(np.isin(dates, wanted), 2)
        added: dict[Any, npt.NDArray[np.bool_]] = {}
        for key in self.schools:
            before = self.added_sessions.get(key)
            now = np.zeros(2 * len(dates), dtype=bool)
            if before is not None:
                now[old_cols] = before
            if school_id is None or key == school_id:
                now |= flag
            added[key] = now
        if school_id is not None and school_id not in list(self.schools):
            raise RegisterError(f"no school {school_id!r} in the register")
        return self._evolve(marks=marks, dates=dates, added_sessions=added)

    def period(self, start: Any = None, end: Any = None) -> Register:
        """Shorthand for ``select(start=start, end=end)``."""
        return self.select(start=start, end=end)

    def to_long(self) -> pd.DataFrame:
        """Every accepted row in the long layout (missing marks with code ``-``), sorted by
        school, pupil, date and session."""
        rows, cols = np.nonzero(self.marks)
        data: dict[str, Any] = {}
        if self.school_ids is not None:
            data["school_id"] = self.school_ids[rows]
        data["pupil_id"] = self.pupil_ids[rows]
        data["date"] = self.dates[cols // 2]
        data["session"] = np.array(SESSIONS, dtype=object)[cols % 2]
        data["code"] = self.codes.symbols[self.marks[rows, cols]]
        return pd.DataFrame(data)

    def __len__(self) -> int:
        return self.n_enrolments

    def __repr__(self) -> str:
        first = str(self.dates[0]) if len(self.dates) else "-"
        last = str(self.dates[-1]) if len(self.dates) else "-"
        return (
            f"<Register {self.n_enrolments} enrolments, {len(self.schools)} school(s), "
            f"{len(self.dates)} dates {first}..{last}, {self.nbytes:,} bytes>"
        )


# ---------------------------------------------------------------------------- encoding
def _rebuild(state: dict[str, Any]) -> Register:
    return Register(**state, _fresh=True)  # unpickled arrays belong to nobody else


def _read_only(array: npt.NDArray[Any], fresh: bool) -> npt.NDArray[Any]:
    """``array`` read-only (a register's arrays are never changed): itself when ``fresh``
    (made for the register) or already read-only, else a read-only copy."""
    if array.flags.writeable and not fresh:
        array = array.copy()
    array.flags.writeable = False
    return array


def _day_ordinal(value: Any) -> int:
    return int((_to_day(value) - _EPOCH).astype(np.int64))


def _parse_dates(uniques: Sequence[Any]) -> npt.NDArray[np.int64]:
    """Date ordinals of unique values; -(2**62) where a value is not a date.

    Accepts dates, datetimes, ``datetime64`` and ISO strings (``YYYY-MM-DD``, optionally with a
    time); day-first strings belong to the adapters, which know their format.
    """
    out = np.full(len(uniques), _NO_DATE, dtype=np.int64)
    for i, v in enumerate(uniques):
        if isinstance(v, str):  # the common case, and the same few hundred texts every chunk
            out[i] = _iso_ordinal(v)
            continue
        try:
            if isinstance(v, dt.datetime | pd.Timestamp):
                d = v.date()
            elif isinstance(v, dt.date):
                d = v
            elif isinstance(v, np.datetime64):
                if np.isnat(v):
                    continue
                d = v.astype("datetime64[D]").item()  # an int beyond year 9999
                if not isinstance(d, dt.date):
                    continue
            else:
                continue
        except (ValueError, TypeError, OverflowError):
            continue
        out[i] = (d - dt.date(1970, 1, 1)).days
    return out


@functools.lru_cache(maxsize=1 << 14)
def _iso_ordinal(value: str) -> int:
    """The date ordinal of ISO text (``YYYY-MM-DD``, optionally with a time); ``_NO_DATE`` when
    it is not one. Cached: a school year has a few hundred dates, met again in every chunk."""
    text = value.strip()
    if len(text) < 10 or text[4] != "-" or text[7] != "-":
        return _NO_DATE
    if len(text) > 10 and text[10] not in "T ":
        return _NO_DATE
    try:
        d = dt.date.fromisoformat(text[:10])
    except ValueError:
        return _NO_DATE
    return (d - dt.date(1970, 1, 1)).days


_RUN_SAMPLE = 4096


def _factorize(
    values: pd.Series, starts: npt.NDArray[np.intp] | None = None
) -> tuple[npt.NDArray[np.intp], Any]:
    """``pd.factorize(values, use_na_sentinel=True)``, or of ``values`` at ``starts`` only.

    The uniques are exactly those of ``pd.factorize`` (same values, order of first appearance).
    A few-valued Arrow text column (``session``, ``code``) is looked up against the values of
    its first rows instead of hashed whole; rows with other values are factorised apart, their
    values following in order of first appearance, as pandas would order them.
    """
    if isinstance(values.dtype, pd.CategoricalDtype):
        return _categorical_factors(values, starts)
    if starts is not None and len(starts) < len(values):
        return pd.factorize(values.iloc[starts], use_na_sentinel=True)
    few = _few_values(values)
    if few is not None:
        return few
    return pd.factorize(values, use_na_sentinel=True)


def _categorical_factors(
    values: pd.Series, starts: npt.NDArray[np.intp] | None = None
) -> tuple[npt.NDArray[np.intp], list[Any]]:
    """A categorical column as ``(codes, uniques)`` straight from its codes and categories.

    Adapters hand columns over dictionary-encoded, so nothing is hashed per row. The uniques
    are the categories the rows use (unused ones are left out, as :func:`pd.factorize` leaves
    them out), in category order; ``-1`` marks a missing value as ``pd.factorize`` does.
    """
    codes = values.cat.codes.to_numpy()
    if starts is not None and len(starts) < len(codes):
        codes = codes[starts]
    categories = values.cat.categories
    out = codes.astype(np.intp)
    # which categories the rows use, counted (a scatter of True a row costs twice the count);
    # a missing value (-1) is counted in a slot of its own, in front
    missing = int(bool(len(out)) and int(out.min()) < 0)
    counts = np.bincount(out + 1 if missing else out, minlength=len(categories) + missing)
    used = counts[missing:] > 0
    if not used.all():
        renumber = np.append(np.cumsum(used) - 1, -1).astype(np.intp)
        out = renumber[out]  # -1 stays -1 (the appended slot)
        categories = categories[used]
    return out, categories.tolist()


def _arrow_of(values: pd.Series) -> Any | None:
    """The column's own pyarrow array when pyarrow stores it, else None.

    ``hasattr(values.array, "__arrow_array__")`` is not the test: under pandas 3 the default
    string array carries that method even with Python storage and no pyarrow installed, and
    calling it then raises ModuleNotFoundError.
    """
    dtype = values.dtype
    arrow = isinstance(dtype, pd.ArrowDtype)
    if not (arrow or (isinstance(dtype, pd.StringDtype) and dtype.storage == "pyarrow")):
        return None
    return values.array.__arrow_array__()


def _few_values(values: pd.Series) -> tuple[npt.NDArray[np.signedinteger[Any]], list[Any]] | None:
    """The fast path of :func:`_factorize` for Arrow text with at most 64 values in its head."""
    if len(values) <= 2 * _RUN_SAMPLE:
        return None
    arr = _arrow_of(values)
    if arr is None:
        return None
    import pyarrow as pa
    import pyarrow.compute as pc

    if not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
        return None
    head = pc.unique(arr[:_RUN_SAMPLE])  # in order of first appearance
    if len(head) > 64 or head.null_count:
        return None
    codes = pc.fill_null(pc.index_in(arr, value_set=head), -1).to_numpy()
    if not codes.flags.writeable:
        codes = codes.copy()
    uniques: list[Any] = head.to_pylist()
    other = np.flatnonzero(codes < 0)
    if len(other):  # values first seen after the head, and missing values
        more, more_uniques = pd.factorize(values.iloc[other], use_na_sentinel=True)
        codes[other] = np.where(more < 0, -1, more + len(uniques))
        uniques.extend(more_uniques)
    return codes, uniques


def _run_starts(values: pd.Series) -> npt.NDArray[np.intp] | None:
    """Positions where a value differs from the one before it (a missing value always starts a
    run), or None when the column does not come in long runs (decided on a sample first).

    Exports are usually sorted by school and pupil, so ``school_id`` and ``pupil_id`` repeat in
    long runs and only the first value of each run needs hashing.
    """
    n = len(values)
    if n <= 2 * _RUN_SAMPLE:
        return None
    if isinstance(values.dtype, pd.CategoricalDtype):
        codes = values.cat.codes.to_numpy()
        if len(_code_changes(codes[:_RUN_SAMPLE])) >= _RUN_SAMPLE // 8:
            return None
        runs = _code_changes(codes)
        return runs if len(runs) < n // 4 else None
    head = _changes(values.iloc[:_RUN_SAMPLE])
    if head is None or len(head) >= _RUN_SAMPLE // 8:
        return None
    starts = _changes(values)
    return starts if starts is not None and len(starts) < n // 4 else None


def _code_changes(codes: npt.NDArray[np.integer[Any]]) -> npt.NDArray[np.intp]:
    """:func:`_changes` of a categorical column, on its codes (``-1``, missing, starts a run)."""
    differ = codes[1:] != codes[:-1]
    missing = codes < 0
    differ |= missing[1:] | missing[:-1]
    return np.concatenate([np.zeros(1, dtype=np.intp), np.flatnonzero(differ) + 1])


def _changes(values: pd.Series) -> npt.NDArray[np.intp] | None:
    """Positions of the first value and of every value unequal to the one before it."""
    first = np.zeros(1, dtype=np.intp)
    arr = _arrow_of(values)
    if arr is not None:  # pyarrow-backed (pandas' default str when pyarrow is there)
        import pyarrow as pa
        import pyarrow.compute as pc

        if isinstance(arr, pa.ChunkedArray):
            arr = arr.combine_chunks()
        diff = pc.fill_null(pc.not_equal(arr[1:], arr[:-1]), True)
        where = pc.indices_nonzero(diff).to_numpy().astype(np.intp)
        return np.concatenate([first, where + 1])
    raw = values.to_numpy()
    try:
        with np.errstate(invalid="ignore"):
            differ = np.asarray(raw[1:] != raw[:-1], dtype=bool)
    except (TypeError, ValueError):  # values without a plain truth of equality (pd.NA)
        return None
    isna = np.asarray(pd.isna(raw), dtype=bool)
    differ |= isna[1:] | isna[:-1]
    return np.concatenate([first, np.flatnonzero(differ) + 1])


def _encode_checked(df: pd.DataFrame, table: CodeTable, how: _Rejecting) -> _Encoded:
    """:func:`_encode_chunk` after the checks of the frame's shape: a required column given
    twice is a :class:`RegisterError`, and a cell that cannot be a value (a list, a dict: not
    hashable) rejects its row as ``bad_value`` instead of breaking the encoding."""
    if not isinstance(df, pd.DataFrame):
        raise RegisterError(
            f"expected a pandas DataFrame (got {type(df).__name__})", file=how.source
        )
    columns = list(df.columns)  # counted on a list: an Index comparison a column costs more
    for column in (*_REQUIRED, "school_id"):
        times = columns.count(column)
        if times > 1:
            raise RegisterError(
                f"column {column!r} appears {times} times; the long layout needs it once",
                file=how.source,
                column=how.column(column),
            )
    try:
        return _encode_chunk(df, table, how)
    except TypeError:  # unhashable cells; found one column at a time only now
        cleaned, bad = _unhashable_cells(df)
        if not bad:
            raise
        return _encode_chunk(cleaned, table, how, bad_cells=bad)


def _unhashable_cells(df: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, npt.NDArray[np.bool_]]]:
    """The frame with every unhashable cell of the long columns replaced by its text (cut
    short), and which cells those were, by column."""
    bad: dict[str, npt.NDArray[np.bool_]] = {}
    out = df
    for column in (*_REQUIRED, "school_id"):
        if column not in df.columns or df[column].dtype != object:
            continue
        values = df[column].to_numpy(dtype=object)
        mask = np.fromiter((not _hashable(v) for v in values), dtype=bool, count=len(values))
        if mask.any():
            if out is df:
                out = df.copy()
            fixed = values.copy()
            fixed[mask] = [shown_value(v) for v in values[mask]]
            out[column] = pd.Series(fixed, index=df.index, dtype=object)
            bad[column] = mask
    return out, bad


def _hashable(value: Any) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


class _Verdicts:
    """Which rows of a chunk are rejected and why: 0 = kept, else an index into ``reasons``
    ((column, reason id)), the first reason found for a row winning. No array is made while
    every row is good, so a clean chunk costs nothing here."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.reason: npt.NDArray[np.int8] | None = None
        self.reasons: list[tuple[str, str]] = [("", "")]

    def mark(self, mask: npt.NDArray[np.bool_], column: str, why: str) -> None:
        if self.reason is not None:
            mask &= self.reason == 0
        if mask.any():
            if self.reason is None:
                self.reason = np.zeros(self.n, dtype=np.int8)
            self.reasons.append((column, why))
            self.reason[mask] = len(self.reasons) - 1

    def flag(
        self,
        codes: npt.NDArray[np.intp],
        bad: npt.NDArray[np.bool_],
        column: str,
        why: Reason,
        lengths: npt.NDArray[np.intp] | None = None,
    ) -> None:
        """Reject the rows whose code is bad; ``bad[-1]`` is the verdict on a missing value.

        Decided on the uniques first, so that a clean column costs no pass over its rows.
        ``lengths``: the codes are per run of that many rows.
        """
        if not bad[:-1].any() and not (bad[-1] and self.n and codes.min() < 0):
            return
        self.mark(
            bad[codes] if lengths is None else np.repeat(bad[codes], lengths), column, why.value
        )

    @property
    def rejected_rows(self) -> npt.NDArray[np.intp]:
        return np.zeros(0, dtype=np.intp) if self.reason is None else np.flatnonzero(self.reason)


def _school_column(
    df: pd.DataFrame, starts: npt.NDArray[np.intp] | None, how: _Rejecting
) -> tuple[bool | None, npt.NDArray[np.intp] | None, list[str]]:
    """school_id, all set or none set: (whether schools are named, each run's school code,
    the school ids). Some rows blank and others set is a :class:`RegisterError`."""
    if "school_id" not in df.columns:
        return None, None, []
    if not len(df):  # no rows, but the column says schools are named
        return True, None, []
    codes_s, uniq_s = _factorize(df["school_id"], starts)
    texts = _id_texts(uniq_s)
    blank_lut = np.array([t == "" for t in texts] + [True], dtype=bool)
    some_blank = blank_lut[:-1].any() or codes_s.min() < 0
    blank = blank_lut[codes_s] if some_blank else None
    if blank is None:
        return True, codes_s, texts
    if blank.all():
        return False, None, []
    first = int(np.flatnonzero(blank)[0])
    first = first if starts is None else int(starts[first])
    raise RegisterError(
        "school_id is empty on some rows and set on others",
        file=how.source,
        row=df.index.to_numpy()[first],
        column=how.column("school_id"),
    )


def _code_ids(
    df: pd.DataFrame,
    dcodes: npt.NDArray[np.intp],
    dord: npt.NDArray[np.int64],
    table: CodeTable,
    verdicts: _Verdicts,
) -> npt.NDArray[np.uint8]:
    """Each row's code id in ``table``: resolved per (unique code, set in force on the date)
    through a lookup table; 255 marks a code unknown to the set (a table has at most 255
    ids, 0..254), and rejects the row."""
    ccodes, cuniq = _factorize(df["code"])
    cnorm = [normalise_code(v) for v in cuniq]
    sets = table.sets
    base: list[int] = []
    offset = 2
    for cs in sets:
        base.append(offset)
        offset += len(cs.codes)
    lut = np.full((len(cnorm) + 1, len(sets)), 255, dtype=np.uint8)
    lut[len(cnorm), :] = MISSING  # NaN code (sentinel -1 → last row)
    places = [{c.code: k for k, c in enumerate(cs.codes)} for cs in sets]
    for i, raw in enumerate(cnorm):
        for j, cs in enumerate(sets):
            if raw == MISSING_MARK:
                lut[i, j] = MISSING
                continue
            resolved = cs.resolve(raw)
            if resolved is not None:
                lut[i, j] = base[j] + places[j][resolved]
    # which set is in force on each unique date (rows of dates in no set are unknown codes):
    # the first set whose bounds hold it, decided on the ordinals a set at a time
    set_of_date = np.full(len(dord) + 1, -1, dtype=np.int64)
    dated = np.append(dord != _NO_DATE, False)
    ordinals = np.append(dord, _NO_DATE)
    for j, cs in enumerate(sets):
        held = dated & (set_of_date < 0)
        if cs.valid_from is not None:
            held &= ordinals >= (cs.valid_from - dt.date(1970, 1, 1)).days
        if cs.valid_to is not None:
            held &= ordinals <= (cs.valid_to - dt.date(1970, 1, 1)).days
        set_of_date[held] = j
    in_use = np.unique(set_of_date[:-1][dord != _NO_DATE])
    if len(in_use) == 1 and in_use[0] >= 0:
        # one code set for every date of the chunk: a single gather
        verdicts.flag(ccodes, lut[:, int(in_use[0])] == 255, "code", Reason.UNKNOWN_CODE)
        return lut[:, int(in_use[0])][ccodes]
    lut = np.concatenate([lut, np.full((len(cnorm) + 1, 1), 255, dtype=np.uint8)], axis=1)
    width = len(sets) + 1
    row_set = set_of_date[dcodes]  # -1 (no set) → the last, all-255 column
    code_id: npt.NDArray[np.uint8] = lut.reshape(-1)[
        (ccodes % (len(cnorm) + 1)) * width + row_set % width
    ]
    unknown = np.array([False, True, False])  # by (code_id == 255); no missing value
    verdicts.flag((code_id == 255).astype(np.intp), unknown, "code", Reason.UNKNOWN_CODE)
    return code_id


def _report_rejected(
    df: pd.DataFrame, verdicts: _Verdicts, bad: npt.NDArray[np.intp], how: _Rejecting
) -> None:
    """The rejected rows raised (the first, with ``errors="raise"``) or collected by reason."""
    reason = verdicts.reason
    assert reason is not None
    positions = df.index.to_numpy()
    if how.errors == "raise":
        i = int(bad[0])
        column, why = verdicts.reasons[reason[i]]
        raise RegisterError(
            REASON_TEXT[why],
            file=how.source,
            row=positions[i],
            column=how.column(column),
            value=_raw_value(df, i, column),
            reason=why,
        )
    for k in range(1, len(verdicts.reasons)):
        at = bad[reason[bad] == k]
        column_k, why_k = verdicts.reasons[k]
        values = df[column_k].to_numpy(dtype=object)  # once, not a lookup a row
        how.rejected.add_many(
            positions[at],
            how.column(column_k),
            why_k,
            lambda i, at=at, values=values: values[at[i]],
        )


def _flag_missing(
    verdicts: _Verdicts, codes: npt.NDArray[np.intp], blank: list[bool], column: str
) -> None:
    """Rows of ``column`` with no value (NaN: code -1), then those whose value is blank."""
    none = np.zeros(len(blank) + 1, dtype=bool)
    none[-1] = True
    verdicts.flag(codes, none, column, Reason.MISSING_VALUE)
    verdicts.flag(codes, np.array([*blank, False]), column, Reason.MISSING_VALUE)


def _checked_dates(
    verdicts: _Verdicts, dcodes: npt.NDArray[np.intp], duniq: Any
) -> npt.NDArray[np.int64]:
    """The ordinal of each unique date, ``_NO_DATE`` where it is not one; a date outside the
    bounds of every date (calendar.FIRST_DATE to LAST_DATE) has a reason of its own and is
    never used."""
    dord = _parse_dates(list(duniq))
    far = (dord != _NO_DATE) & ~in_bounds(dord)
    if far.any():
        verdicts.flag(dcodes, np.append(far, False), "date", Reason.DATE_OUT_OF_RANGE)
        dord = np.where(far, _NO_DATE, dord)
    verdicts.flag(dcodes, np.append(dord == _NO_DATE, False), "date", Reason.BAD_DATE)
    return dord


def _encode_chunk(
    df: pd.DataFrame,
    table: CodeTable,
    how: _Rejecting,
    *,
    bad_cells: Mapping[str, npt.NDArray[np.bool_]] | None = None,
) -> _Encoded:
    missing_cols = [c for c in _REQUIRED if c not in df.columns]
    if missing_cols:
        raise RegisterError(
            f"missing column(s) {', '.join(repr(c) for c in missing_cols)}; "
            f"the long layout needs {', '.join(_REQUIRED)}",
            file=how.source,
        )
    n = len(df)
    labels = df.index
    verdicts = _Verdicts(n)
    for column, cells in (bad_cells or {}).items():  # cells that cannot be values come first
        verdicts.mark(cells.copy(), column, Reason.BAD_VALUE.value)

    # runs of one (school, pupil): only their first rows are factorised
    starts = _run_starts(df["pupil_id"])
    if starts is not None and "school_id" in df.columns and n > 0:
        school_starts = _run_starts(df["school_id"])
        starts = None if school_starts is None else np.union1d(starts, school_starts)
    run_length = np.diff(np.append(starts, n)) if starts is not None else None
    has_school, school, school_uniques = _school_column(df, starts, how)

    pcodes, puniq = _factorize(df["pupil_id"], starts)
    pupil_uniques = _id_texts(puniq)
    no_pupil = np.array([t == "" for t in pupil_uniques] + [True])
    verdicts.flag(pcodes, no_pupil, "pupil_id", Reason.MISSING_VALUE, run_length)

    # missing values first, then the values themselves, in column order
    dcodes, duniq = _factorize(df["date"])
    scodes, suniq = _factorize(df["session"])
    snorm = [str(v).strip().upper() for v in suniq]
    _flag_missing(verdicts, dcodes, [isinstance(v, str) and not v.strip() for v in duniq], "date")
    _flag_missing(verdicts, scodes, [t == "" for t in snorm], "session")
    dord = _checked_dates(verdicts, dcodes, duniq)
    sidx = np.array(
        [SESSIONS.index(t) if t in SESSIONS else -1 for t in snorm] + [-1], dtype=np.int8
    )
    verdicts.flag(scodes, np.append(sidx[:-1] < 0, False), "session", Reason.BAD_SESSION)
    code_id = _code_ids(df, dcodes, dord, table, verdicts)

    bad = verdicts.rejected_rows
    if len(bad):
        _report_rejected(df, verdicts, bad, how)
    # date code and session in one small integer a row
    cell = dcodes.astype(np.min_scalar_type(-(2 * max(len(duniq), 1) + 2)))
    cell *= 2
    cell += sidx[scodes]
    del dcodes, scodes
    if run_length is None:
        run_length = np.ones(n, dtype=np.intp)
    start = _contiguous_start(labels)
    kept_labels = labels
    if len(bad):
        good = verdicts.reason == 0
        # the runs that keep rows, and how many
        run_of_row = np.repeat(np.arange(len(run_length)), run_length)
        kept = np.bincount(run_of_row[good], minlength=len(run_length))
        del run_of_row
        live = kept > 0
        kept_labels, cell, code_id = labels[good], cell[good], code_id[good]
        run_length, pcodes = kept[live], pcodes[live]
        school = None if school is None else school[live]
    return _Encoded(
        n=n - len(bad),
        row=None if start is not None else kept_labels,
        row_start=0 if start is None else start,
        # needed only to rebuild the labels of kept rows: none for a chunk of rejected rows,
        # so a file of nothing but bad rows keeps nothing a row
        row_skip=bad.astype(np.int32 if n < 2**31 else np.intp)
        if len(bad) < n
        else np.zeros(0, dtype=np.int32),
        run_length=run_length,
        school=school,
        pupil=pcodes,
        cell=cell,
        code=code_id,
        school_uniques=school_uniques,
        pupil_uniques=pupil_uniques,
        day_uniques=dord,
        has_school=has_school,
        complete=not len(bad),
    )


def _raw_value(df: pd.DataFrame, i: int, column: str) -> Any:
    value = df[column].iloc[i]
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, pd.Timestamp | np.datetime64 | dt.date):
        return str(value)
    return value if isinstance(value, str | int | float) else str(value)


def _remap(uniques_per_chunk: list[list[str]]) -> tuple[list[npt.NDArray[np.int64]], list[str]]:
    """Global ids for per-chunk uniques: (one id array per chunk, sorted global values)."""
    allv = [v for u in uniques_per_chunk for v in u]
    glob = sorted(set(allv))
    pos = {v: i for i, v in enumerate(glob)}
    return [np.array([pos[v] for v in u] + [-1], dtype=np.int64) for u in uniques_per_chunk], glob


def _cat(arrays: list[npt.NDArray[Any]], dtype: Any) -> npt.NDArray[Any]:
    """Concatenate chunk arrays (no copy when there is a single chunk)."""
    if len(arrays) == 1:
        return arrays[0]
    return np.concatenate(arrays) if arrays else np.zeros(0, dtype=dtype)


def _dense_rank(
    key: npt.NDArray[np.int64], bound: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """``np.unique(key, return_inverse=True)`` for keys in ``[0, bound)``, without sorting rows.

    With a small key space a presence table and its running count give each key its rank in
    two passes; otherwise the keys are hashed and only the distinct keys are sorted.
    """
    if bound <= max(4 * len(key), 1 << 20) and (len(key) == 0 or key.min() >= 0):
        present = np.zeros(max(bound, 1), dtype=bool)
        present[key] = True
        rank = np.cumsum(present, dtype=np.int32 if bound < 2**31 else np.int64)
        np.subtract(rank, 1, out=rank)
        return np.flatnonzero(present).astype(np.int64), rank[key].astype(np.int64)
    codes, uniques = pd.factorize(key)
    order = np.argsort(uniques, kind="stable")
    ranks = np.empty(len(uniques), dtype=np.int64)
    ranks[order] = np.arange(len(uniques), dtype=np.int64)
    return np.asarray(uniques, dtype=np.int64)[order], ranks[codes]


def _chunk_days(c: _Encoded) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """(school code, date ordinal) of every accepted row of a chunk."""
    school = (
        np.zeros(c.n, dtype=np.int64)
        if c.school is None
        else np.repeat(c.school.astype(np.int64), c.run_length)
    )
    return school, c.day_uniques[c.cell >> 1]


def _without_rows(c: _Encoded, drop: npt.NDArray[np.bool_]) -> _Encoded:
    """The chunk without the accepted rows where ``drop`` is set."""
    good = ~drop
    run_of_row = np.repeat(np.arange(len(c.run_length)), c.run_length)
    kept = np.bincount(run_of_row[good], minlength=len(c.run_length))
    live = kept > 0
    return _Encoded(
        n=int(good.sum()),
        row=pd.Index(c.labels()[good]),
        row_start=0,
        row_skip=np.zeros(0, dtype=np.intp),
        run_length=kept[live],
        school=None if c.school is None else c.school[live],
        pupil=c.pupil[live],
        cell=c.cell[good],
        code=c.code[good],
        school_uniques=c.school_uniques,
        pupil_uniques=c.pupil_uniques,
        day_uniques=c.day_uniques,
        has_school=c.has_school,
    )


def _days_by_school(c: _Encoded) -> Iterator[tuple[int, npt.NDArray[np.int64]]]:
    """(school code, the date ordinals it has rows on) for each school of a chunk's accepted
    rows. A chunk of one school (the usual cut of a sorted export) counts its date codes alone,
    without a school code a row."""
    schools = c.school
    if schools is None or not len(schools) or bool((schools == schools[0]).all()):
        code = 0 if schools is None or not len(schools) else int(schools[0])
        yield code, c.day_uniques[np.flatnonzero(np.bincount(c.cell >> 1, minlength=1))]
        return
    width = len(c.day_uniques) + 1
    school = np.repeat(schools.astype(np.int64), c.run_length)
    seen = np.flatnonzero(np.bincount(school * width + (c.cell >> 1), minlength=1))
    for code in np.unique(seen // width):
        yield int(code), c.day_uniques[seen[seen // width == code] % width]


def _reject_stray_dates(
    chunks: list[_Encoded], how: _Rejecting
) -> tuple[list[_Encoded], list[dict[str, Any]]]:
    """Chunks without the rows dated on a stray day of their school
    (:func:`~attendance_core.calendar.stray_days`), and those rows as rejected records
    (reason ``stray_date``). Costs one pass over each chunk's dates; nothing is copied when
    no school has a stray day."""
    days_of: dict[str, set[int]] = {}
    for c in chunks:
        if not c.n:
            continue
        texts = c.school_uniques or [""]
        for code, days in _days_by_school(c):
            days_of.setdefault(texts[code], set()).update(days.tolist())
    stray = {
        s: set(stray_days(np.fromiter(d, dtype=np.int64, count=len(d))).tolist())
        for s, d in days_of.items()
    }
    stray = {s: d for s, d in stray.items() if d}
    if not stray:
        return chunks, []
    out: list[_Encoded] = []
    records: list[dict[str, Any]] = []
    column = how.column("date")
    for c in chunks:
        if not c.n:
            out.append(c)
            continue
        school, day = _chunk_days(c)
        texts = c.school_uniques or [""]
        drop = np.zeros(c.n, dtype=bool)
        for code, text in enumerate(texts):
            if text in stray:
                drop |= (school == code) & np.isin(day, list(stray[text]))
        if not drop.any():
            out.append(c)
            continue
        labels = c.labels()[drop]
        iso = (day[drop].astype("datetime64[D]")).astype(str)
        if how.errors == "raise":
            raise RegisterError(
                REASON_TEXT[Reason.STRAY_DATE],
                file=how.source,
                row=labels[0],
                column=column,
                value=str(iso[0]),
                reason=Reason.STRAY_DATE.value,
            )
        records += [
            {"row": r, "column": column, "value": str(v), "reason": Reason.STRAY_DATE.value}
            for r, v in zip(labels, iso, strict=True)
        ]
        out.append(_without_rows(c, drop))
    return out, records


@attrs.define(eq=False)
class _Layout:
    """Where each accepted row lands: the enrolment of each run of rows (``run_enrol``) and
    the column of each date and session on the date axis ``udays`` (ordinals, ascending)."""

    run_enrol: npt.NDArray[np.int64]
    udays: npt.NDArray[np.int64]
    pos: npt.NDArray[np.int64] = attrs.field(init=False)
    lo: int = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        udays = self.udays
        self.lo = int(udays[0]) if len(udays) else 0
        self.pos = np.full(int(udays[-1]) - self.lo + 1 if len(udays) else 1, -1, dtype=np.int64)
        self.pos[udays - self.lo] = np.arange(len(udays))

    @property
    def ncols(self) -> int:
        return 2 * len(self.udays)

    def columns(self, c: _Encoded) -> npt.NDArray[np.int64]:
        """Column of each ``2 * date code + session`` of a chunk."""
        col = 2 * self.pos[np.clip(c.day_uniques - self.lo, 0, len(self.pos) - 1)]
        return np.stack([col, col + 1], axis=1).reshape(-1)

    def cells(self, c: _Encoded, run_at: int) -> npt.NDArray[np.int64]:
        """The cell (``enrolment * ncols + column``) of every row of a chunk whose first run
        is run ``run_at``."""
        r = len(c.run_length)
        seg = np.repeat(self.run_enrol[run_at : run_at + r] * self.ncols, c.run_length)
        seg += self.columns(c)[c.cell]
        return seg


def _date_axis(chunks: list[_Encoded]) -> npt.NDArray[np.int64]:
    """Every date with an accepted row, found on each chunk's unique dates."""
    used_days = [
        c.day_uniques
        if c.complete
        else c.day_uniques[np.bincount(c.cell >> 1, minlength=len(c.day_uniques)) > 0]
        for c in chunks
    ]
    return np.unique(_cat(used_days, np.int64))


def _write_sorted(
    chunks: list[_Encoded], layout: _Layout, flat: npt.NDArray[np.uint8]
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]] | None:
    """Chunk by chunk straight into the matrix while the cells come in increasing order (an
    export sorted by pupil, date and session: no duplicates, every row a mark), keeping only
    each run's first and last cells; None as soon as a cell is out of order."""
    runs = sum(len(c.run_length) for c in chunks)
    run_first = np.zeros(runs, dtype=np.int64)
    run_last = np.zeros(runs, dtype=np.int64)
    prev = -1
    run_at = 0
    for c in chunks:
        r = len(c.run_length)
        if c.n:
            seg = layout.cells(c, run_at)
            if seg[0] <= prev or (c.n > 1 and not bool((seg[1:] > seg[:-1]).all())):
                return None
            flat[seg] = c.code
            ends = np.cumsum(c.run_length)
            run_first[run_at : run_at + r] = seg[ends - c.run_length]
            run_last[run_at : run_at + r] = seg[ends - 1]
            prev = int(seg[-1])
            del seg
        run_at += r
    return run_first, run_last


@attrs.define(eq=False)
class _Cells:
    """Every cell of the matrix (``enrolment * ncols + column``) of an export that did not
    arrive in order: whether a row wrote it, the code of one of its rows (``code``, the mark
    unless they disagree) and whether they disagree (``conflict``: ``duplicate_session``).

    Built chunk by chunk (:func:`_cells_of`), three bytes a cell and never an array over every
    row of the export: a file of millions of identical rows costs its chunks, not its rows.
    """

    written: npt.NDArray[np.bool_]
    code: npt.NDArray[np.uint8]
    conflict: npt.NDArray[np.bool_]


def _chunk_cells(
    chunks: list[_Encoded], layout: _Layout
) -> Iterator[tuple[_Encoded, npt.NDArray[np.int64]]]:
    """Each chunk with the cell of each of its rows."""
    run_at = 0
    for c in chunks:
        yield c, layout.cells(c, run_at)
        run_at += len(c.run_length)


def _cells_of(chunks: list[_Encoded], layout: _Layout, n_cells: int) -> _Cells:
    """Pass one over the rows: which cells are written, one code of each, and which cells
    got two different codes."""
    cells = _Cells(
        written=np.zeros(n_cells, dtype=bool),
        code=np.zeros(n_cells, dtype=np.uint8),
        conflict=np.zeros(n_cells, dtype=bool),
    )
    for c, lin in _chunk_cells(chunks, layout):
        new = ~cells.written[lin]
        cells.code[lin[new]] = c.code[new]  # any row of a new cell is its reference
        cells.written[lin] = True
        cells.conflict[lin[c.code != cells.code[lin]]] = True
    return cells


def _reject_duplicates(
    chunks: list[_Encoded],
    layout: _Layout,
    cells: _Cells,
    table: CodeTable,
    how: _Rejecting,
) -> None:
    """Pass two, chunk by chunk: rows that share a cell. The same code twice is a
    ``duplicate_row`` (the first row kept), different codes a ``duplicate_session`` (none
    kept)."""
    seen = np.zeros(len(cells.written), dtype=bool)
    symbols = table.symbols
    for c, lin in _chunk_cells(chunks, layout):
        clash = cells.conflict[lin]
        repeat = ~clash & (seen[lin] | pd.Series(lin).duplicated().to_numpy())
        seen[lin] = True
        if not (clash.any() or repeat.any()):
            continue
        row = c.labels()
        if how.errors == "raise":
            i = int(np.flatnonzero(clash | repeat)[0])
            why = Reason.DUPLICATE_SESSION if clash[i] else Reason.DUPLICATE_ROW
            raise RegisterError(
                REASON_TEXT[why],
                file=how.source,
                row=row[i],
                column=how.column("session"),
                reason=why.value,
            )
        for mask, why in ((clash, Reason.DUPLICATE_SESSION), (repeat, Reason.DUPLICATE_ROW)):
            at = np.flatnonzero(mask)
            how.rejected.add_many(
                row[at],
                how.column("code"),
                why.value,
                lambda j, at=at, code=c.code: symbols[code[at[j]]],
            )


def _kept_marks(
    ekeys: npt.NDArray[np.int64], ncols: int, cells: _Cells
) -> tuple[
    npt.NDArray[np.uint8], npt.NDArray[np.int64], npt.NDArray[np.bool_], npt.NDArray[np.int64]
]:
    """The marks matrix of the enrolments that kept at least one mark, their keys, which
    enrolments those are and the new number of each."""
    # in place: the cells' arrays become the matrix (no second matrix-sized array)
    kept = np.logical_and(cells.written, ~cells.conflict, out=cells.written)
    cells.code[~kept] = 0
    shape = (len(ekeys), max(ncols, 1))
    live: npt.NDArray[np.bool_] = np.asarray(kept.reshape(shape).any(axis=1))
    renum: npt.NDArray[np.int64] = np.cumsum(live, dtype=np.int64) - 1
    full = cells.code.reshape(shape)
    marks = full if bool(live.all()) else full[live]
    return marks, ekeys[live], live, renum


def _widen_for_conflicts(
    span: npt.NDArray[np.int64],
    cells: _Cells,
    live: npt.NDArray[np.bool_],
    renum: npt.NDArray[np.int64],
    udays: npt.NDArray[np.int64],
) -> None:
    """A session unmarked by conflicting rows still lies inside the enrolment span."""
    lin = np.flatnonzero(cells.conflict)
    if not len(lin):
        return
    ncols = max(2 * len(udays), 1)
    enrol = lin // ncols
    keep_c = live[enrol]
    e = renum[enrol[keep_c]]
    column = lin[keep_c] % ncols  # 2 * date + session
    ordinal = 2 * udays[column // 2] + column % 2
    np.minimum.at(span[:, 0], e, ordinal)
    np.maximum.at(span[:, 1], e, ordinal)


def _school_flag(chunks: list[_Encoded], how: _Rejecting) -> bool:
    """Whether the register names schools: every chunk with rows agreeing (a school_id column
    with no accepted row still names them)."""
    flags = {c.has_school for c in chunks if c.has_school is not None and c.n}
    if len(flags) > 1:
        raise RegisterError(
            "school_id is empty on some rows and set on others",
            file=how.source,
            column=how.column("school_id"),
        )
    if not any(c.n for c in chunks):
        return any(c.has_school is not None for c in chunks)
    return flags == {True}


def _assemble(
    chunks: list[_Encoded], table: CodeTable, how: _Rejecting, *, pupils: pd.DataFrame | None
) -> Register:
    chunks, strays = _reject_stray_dates(chunks, how)
    with_school = _school_flag(chunks, how)
    school_maps, schools = _remap([c.school_uniques for c in chunks])
    pupil_maps, pupil_values = _remap([c.pupil_uniques for c in chunks])
    how.rejected.extend(strays)  # the rows dated on a stray day of their school
    if not with_school:
        schools = [""]
    n = sum(c.n for c in chunks)
    denom = max(len(pupil_values), 1)

    # enrolment key (school, pupil) of each run: both id spaces are already sorted by value
    keys = []
    for m_s, m_p, c in zip(school_maps, pupil_maps, chunks, strict=True):
        key = m_p[c.pupil]
        if with_school:
            key += (m_s[c.school] if c.school is not None else np.full(len(key), -1)) * denom
        keys.append(key)
    ekeys, run_enrol = _dense_rank(_cat(keys, np.int64), len(schools) * denom)
    del keys
    layout = _Layout(run_enrol=run_enrol, udays=_date_axis(chunks))
    ncols, udays = layout.ncols, layout.udays

    marks = np.zeros((len(ekeys), ncols), dtype=np.uint8)
    in_order = _write_sorted(chunks, layout, marks.reshape(-1))
    cells: _Cells | None = None
    if in_order is None:
        # a row came out of order: the matrix is rebuilt from every row's cell
        del marks
        cells = _cells_of(chunks, layout, len(ekeys) * ncols)
        _reject_duplicates(chunks, layout, cells, table, how)
        marks, ekeys, live, renum = _kept_marks(ekeys, ncols, cells)
    pupil_arr = (
        np.asarray(pupil_values, dtype=object)[ekeys % denom]
        if len(ekeys)
        else np.zeros(0, dtype=object)
    )
    school_arr = np.asarray(schools, dtype=object)[ekeys // denom] if with_school else None
    dates = udays.astype("datetime64[D]") if len(udays) else np.zeros(0, "datetime64[D]")
    if in_order is not None and n:
        # cells arrived in increasing order: each enrolment's first and last rows hold its
        # first and last marks (every written cell is a mark), no pass over the matrix
        run_first, run_last = in_order
        first_run = np.flatnonzero(np.diff(run_enrol, prepend=-1))
        last_run = np.append(first_run[1:], len(run_enrol)) - 1
        span = _spans_at(run_first[first_run] % ncols, run_last[last_run] % ncols, dates)
    else:
        span = _spans(marks, dates)
    if cells is not None:
        _widen_for_conflicts(span, cells, live, renum, udays)
        del cells
    if pupils is not None and len(ekeys):
        span = _spans_from_pupils(
            span=span,
            pupils=pupils,
            pupil_arr=pupil_arr,
            school_arr=school_arr,
            marks=marks,
            dates=dates,
            table=table,
        )
    return Register(
        marks=marks,
        dates=dates,
        pupil_ids=pupil_arr,
        school_ids=school_arr,
        span=span,
        codes=table,
        rejected=how.rejected.frame(),
        error_counts=how.rejected.error_counts,
        _fresh=True,
    )


def _spans(
    marks: npt.NDArray[np.uint8], dates: npt.NDArray[np.datetime64]
) -> npt.NDArray[np.int64]:
    """First and last marked session of each enrolment as session ordinals."""
    n, ncols = marks.shape
    span = np.zeros((n, 2), dtype=np.int64)
    if n == 0 or ncols == 0:
        return span
    days = date_ordinals(dates)
    col_ord = np.repeat(days * 2, 2) + np.tile(np.array([0, 1]), len(days))
    step = max(1, 4_000_000 // max(ncols, 1))
    for r0 in range(0, n, step):
        has = marks[r0 : r0 + step] != NO_MARK
        first = has.argmax(axis=1)
        last = ncols - 1 - has[:, ::-1].argmax(axis=1)
        span[r0 : r0 + step, 0] = col_ord[first]
        span[r0 : r0 + step, 1] = col_ord[last]
    return span


def _spans_at(
    first: npt.NDArray[np.int64], last: npt.NDArray[np.int64], dates: npt.NDArray[np.datetime64]
) -> npt.NDArray[np.int64]:
    """Spans from the first and last marked column of each enrolment, as session ordinals."""
    days = date_ordinals(dates)
    col_ord = np.repeat(days * 2, 2) + np.tile(np.array([0, 1]), len(days))
    return np.stack([col_ord[first], col_ord[last]], axis=1).astype(np.int64)


def _spans_from_pupils(
    *,
    span: npt.NDArray[np.int64],
    pupils: pd.DataFrame,
    pupil_arr: npt.NDArray[np.object_],
    school_arr: npt.NDArray[np.object_] | None,
    marks: npt.NDArray[np.uint8],
    dates: npt.NDArray[np.datetime64],
    table: CodeTable,
) -> npt.NDArray[np.int64]:
    """Enrolment spans from admission to leaving dates where the pupils table gives them.

    With an admission date and no leaving date the span runs to the school's last school
    session in the register (the pupil is still on roll).
    """
    if "admission_date" not in pupils.columns and "leaving_date" not in pupils.columns:
        return span
    at = positions(pupil_arr, school_arr, pupils)
    found = pupils.reset_index(drop=True).reindex(at)  # -1: no row, all NaN
    out = span.copy()
    # last school session of each enrolment's school
    lut = table.school_session
    days = date_ordinals(dates)
    col_ord = np.repeat(days * 2, 2) + np.tile(np.array([0, 1]), len(days))
    school_keys = np.zeros(len(pupil_arr), dtype=object) if school_arr is None else school_arr
    last_by_school: dict[Any, int] = {}
    for s in pd.unique(school_keys):
        rows = school_keys == s
        cols = np.flatnonzero(lut[marks[rows]].any(axis=0))
        last_by_school[s] = int(col_ord[cols[-1]]) if len(cols) else int(col_ord[-1])
    if "admission_date" in found.columns:
        adm = as_dates(found["admission_date"], "admission_date", ids=pupil_arr)
        has = adm.notna().to_numpy()
        out[has, 0] = 2 * date_ordinals(adm[has].to_numpy().astype("datetime64[D]"))
        if "leaving_date" not in found.columns:
            out[has, 1] = [last_by_school[s] for s in school_keys[has]]
    if "leaving_date" in found.columns:
        leave = as_dates(found["leaving_date"], "leaving_date", ids=pupil_arr)
        has_l = leave.notna().to_numpy()
        out[has_l, 1] = 2 * date_ordinals(leave[has_l].to_numpy().astype("datetime64[D]")) + 1
        if "admission_date" in found.columns:
            open_end = adm.notna().to_numpy()
            open_end = open_end & ~has_l
            out[open_end, 1] = [last_by_school[s] for s in school_keys[open_end]]
    inverted = out[:, 0] > out[:, 1]
    if inverted.any():
        # an admission date after the leaving date (or after the school's last session) is a
        # data error in the pupils table: keep the span the marks show, and say so
        out[inverted] = span[inverted]
        warnings.warn(
            f"{int(inverted.sum())} enrolment(s) have admission and leaving dates that do not "
            "form a span (admission after leaving, or after the last school session); their "
            "spans come from their marks",
            AttendanceWarning,
            stacklevel=4,
        )
    return out
