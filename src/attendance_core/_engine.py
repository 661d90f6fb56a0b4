"""The one counting engine: code ids to classes, school weeks and windows, counts per school.

Every figure the library prints is a count of marks whose code falls in a class, over a window
of a school's calendar. This module holds the three parts once:

- *classes*: a lookup table from code id to a small class number, built from each code's
  category and tags (:func:`class_table`), never from its letter;
- *calendar arithmetic* (written once in :mod:`~attendance_core.calendar`, served here too):
  the Monday of a week, a school's school weeks, "the last ``n`` school
  weeks to ``as_of``" (rulings.md item 9: when ``as_of`` falls in a week with no school session
  the window is the ``n`` school weeks before it, so it always holds ``n`` school weeks), and
  rolling school-day windows;
- *counting*: per enrolment, the marks of each class (or of a boolean table) inside one period
  per school, in row chunks so memory stays bounded.

:mod:`~attendance_core.measures` (classify), :mod:`~attendance_core.patterns`,
:mod:`~attendance_core.calendar` and the policy figures are clients of these functions.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from .calendar import (
    EMPTY,
    Period,
    day64,
    days_between,
    last_days,
    last_weeks,
    mondays,
    school_weeks,
    to_date,
    week_window,
    weeks_period,
)
from .codes import Category

if TYPE_CHECKING:
    from .register import CodeTable, Register

#: bytes of per-cell work arrays one counting chunk may hold: bounds memory at local-authority
#: scale (a chunk of a 100,000-pupil register is a few thousand rows)
CHUNK_BYTES = 8 << 20

__all__ = [
    "EMPTY",
    "Period",
    "class_table",
    "count_classes",
    "count_in_periods",
    "day64",
    "days_between",
    "evidence_classes",
    "last_days",
    "last_weeks",
    "mondays",
    "school_days",
    "school_weeks",
    "threshold_codes",
    "to_date",
    "week_periods",
    "week_window",
    "weeks_period",
]

#: a class rule: ``(category, tags) -> bool``; the first rule that holds gives the class
Rule = Callable[[Category, frozenset[str]], bool]


# ------------------------------------------------------------------------------- classes
def class_table(codes: CodeTable, rules: Sequence[tuple[int, Rule]]) -> npt.NDArray[np.uint8]:
    """Code id → class: the class of the first rule that holds for the code's category and
    tags; 0 for ids with no code (no mark, missing mark, unused ids) or no rule."""
    lut = np.zeros(256, dtype=np.uint8)
    for i, ((_, _code, cat), tags) in enumerate(zip(codes.entries, codes.tags, strict=True)):
        if cat is None:
            continue
        for cls, rule in rules:
            if rule(cat, tags):
                lut[i] = cls
                break
    return lut


# Classes of the policy evidence (escalation): one number per kind of mark the rules read.
EVIDENCE_NONE, EVIDENCE_ATTENDED, EVIDENCE_HOLIDAY, EVIDENCE_UNEXPLAINED = 0, 1, 2, 3
EVIDENCE_THRESHOLD, EVIDENCE_ILLNESS, EVIDENCE_MEDICAL, EVIDENCE_AUTHORISED = 4, 5, 6, 7
EVIDENCE_UNAUTHORISED = 8
#: number of evidence classes
EVIDENCE_K = 9

#: The evidence classes as rules on category and tags, in the order they are tried:
#: attendance; unauthorised holiday (``G``); unexplained (``N``); other codes counted toward
#: the penalty-notice threshold (``O``, ``U``); other unauthorised; illness (``I``); medical
#: (``M``); any other authorised absence. Not-possible codes have no class.
EVIDENCE_RULES: tuple[tuple[int, Rule], ...] = (
    (EVIDENCE_NONE, lambda cat, _t: not cat.possible),
    (EVIDENCE_ATTENDED, lambda cat, _t: cat.attendance),
    (EVIDENCE_HOLIDAY, lambda cat, t: cat is Category.UNAUTHORISED and "holiday" in t),
    (EVIDENCE_UNEXPLAINED, lambda cat, t: cat is Category.UNAUTHORISED and "unexplained" in t),
    (EVIDENCE_THRESHOLD, lambda cat, t: cat is Category.UNAUTHORISED and "threshold" in t),
    (EVIDENCE_UNAUTHORISED, lambda cat, _t: cat is Category.UNAUTHORISED),
    (EVIDENCE_ILLNESS, lambda _c, t: "illness" in t),
    (EVIDENCE_MEDICAL, lambda _c, t: "medical" in t),
    (EVIDENCE_AUTHORISED, lambda _c, _t: True),
)


def evidence_classes(codes: CodeTable) -> npt.NDArray[np.uint8]:
    """Code id → evidence class (``EVIDENCE_*``), from categories and tags.

    The drop-in for a lookup keyed on ``G``, ``N``, ``O``/``U``, ``I`` and ``M``: a local code
    tagged ``illness`` is an illness mark, one tagged ``threshold`` counts toward the
    penalty-notice threshold, whatever its letter.
    """
    return class_table(codes, EVIDENCE_RULES)


def threshold_codes(codes: CodeTable) -> npt.NDArray[np.bool_]:
    """Code ids counted toward the penalty-notice threshold (tag ``threshold``; an
    unauthorised code only)."""
    return codes.of_tags("threshold") & codes.of_category(Category.UNAUTHORISED)


def count_classes(
    block: npt.NDArray[np.uint8], lut: npt.NDArray[np.uint8], k: int
) -> npt.NDArray[np.int64]:
    """Per row of ``block`` (code ids), the number of cells of each class 0..k-1."""
    m = block.shape[0]
    if m == 0 or block.shape[1] == 0:
        return np.zeros((m, k), dtype=np.int64)
    flat = (np.arange(m, dtype=np.int64)[:, None] * k + lut[block]).ravel()
    return np.bincount(flat, minlength=m * k).reshape(m, k)


# ------------------------------------------------------------------------------ calendar
def school_days(reg: Register, s: int) -> npt.NDArray[np.datetime64]:
    """The school days of school ``s`` of a register (dates with a school session)."""
    mask = reg.school_sessions[s]
    result: npt.NDArray[np.datetime64] = reg.dates[mask[0::2] | mask[1::2]]
    return result


# ------------------------------------------------------------------------------ counting
def chunk_rows(ncols: int, bytes_per_cell: int = 1) -> int:
    """Rows of a counting chunk over ``ncols`` columns whose work arrays take
    ``bytes_per_cell`` a cell (1 for a boolean gather, 8 for a ``uint64`` one)."""
    return max(1, CHUNK_BYTES // (max(ncols, 1) * bytes_per_cell))


def columns(reg: Register, start: dt.date | None, end: dt.date | None) -> slice:
    """The register's columns inside ``start..end`` (inclusive; empty when end < start)."""
    if start is not None and end is not None and end < start:
        return slice(0, 0)
    return reg.columns_between(start, end)


def count_in_periods(
    reg: Register, lut: npt.NDArray[np.bool_], periods: Sequence[Period]
) -> npt.NDArray[np.int64]:
    """Per enrolment, the sessions of its school's period whose code id is in ``lut``.

    ``periods[s]`` is school ``s``'s (start, end), inclusive; one period per school because
    windows of school weeks differ between schools.
    """
    out = np.zeros(reg.n_enrolments, dtype=np.int64)
    for s, rows in enumerate(reg.school_blocks()):
        start, end = periods[s]
        cols = columns(reg, start, end)
        if rows.stop <= rows.start or cols.stop <= cols.start:
            continue
        step = chunk_rows(cols.stop - cols.start)
        for r0 in range(rows.start, rows.stop, step):
            r1 = min(rows.stop, r0 + step)
            out[r0:r1] = np.count_nonzero(lut[reg.marks[r0:r1, cols]], axis=1)
    return out


def week_periods(reg: Register, as_of: dt.date, n: int, skip: int = 0) -> list[Period]:
    """Per school, the period of "the last ``n`` school weeks to ``as_of``" (see
    :func:`weeks_period`)."""
    return [
        weeks_period(school_weeks(school_days(reg, s)), as_of, n, skip)
        for s in range(len(reg.schools))
    ]


#: Environment variable giving the threads a count may use (``1``: one, in order); default one
#: per core the process may run on.
THREADS_ENV = "ATTENDANCE_CORE_THREADS"


def threads() -> int:
    """Threads a count may use: :data:`THREADS_ENV`, else the cores this process may use."""
    given = os.environ.get(THREADS_ENV, "").strip()
    if given.isdigit() and int(given) > 0:
        return int(given)
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def each_block(work: Callable[[int], None], starts: Iterable[int]) -> None:
    """``work(start)`` for every block start: on one thread a core when there are several
    blocks and cores (numpy's gathers and sums release the GIL), in order otherwise.

    Each call must write only its own block's results, so the outcome is the same either way;
    an exception of any block is raised here.
    """
    blocks = list(starts)
    n = min(threads(), len(blocks))
    if n < 2:
        for start in blocks:
            work(start)
        return
    with ThreadPoolExecutor(max_workers=n, thread_name_prefix="attendance-count") as pool:
        for _ in pool.map(work, blocks):
            pass
