"""Attendance measures: exact session counts per enrolment, and the band of each.

Counting is vectorised: each code id maps through a lookup table to a measure class and numpy
counts classes per row, in row chunks so that memory stays bounded at local-authority scale.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from . import _engine as engine
from .bands import BandScheme, band_scheme
from .calendar import as_date
from .codes import Category
from .register import MISSING, NO_MARK, Register

__all__ = ["COUNT_COLUMNS", "classify", "counts"]

#: Integer columns of :func:`classify`, in order.
COUNT_COLUMNS = (
    "possible",
    "attended",
    "authorised",
    "unauthorised",
    "absent",
    "late",
    "late_after_close",
    "unmarked",
)

# measure classes of a mark; each code id maps to exactly one
_NONE, _PRESENT, _LATE, _AEA, _AUTH, _UNAUTH, _LATE_AFTER_CLOSE, _NOT_POSSIBLE, _MISSING = range(9)
_K = 9
#: classes counted into bit fields (the others never reach a column of the result)
_FIELDS = (_PRESENT, _LATE, _AEA, _AUTH, _UNAUTH, _LATE_AFTER_CLOSE)


#: the measure class of a code, from its category and tags (never its letter); first match wins
_RULES: tuple[tuple[int, engine.Rule], ...] = (
    # ``late`` counts marks that are attendance (late before the register closed)
    (_LATE, lambda cat, t: cat.attendance and "late" in t and "late_after_close" not in t),
    (_PRESENT, lambda cat, _t: cat is Category.PRESENT),
    (_AEA, lambda cat, _t: cat is Category.APPROVED_ACTIVITY),
    (_AUTH, lambda cat, _t: cat is Category.AUTHORISED),
    (_LATE_AFTER_CLOSE, lambda cat, t: cat is Category.UNAUTHORISED and "late_after_close" in t),
    (_UNAUTH, lambda cat, _t: cat is Category.UNAUTHORISED),
    (_NOT_POSSIBLE, lambda _c, _t: True),
)


def _class_lut(reg: Register) -> npt.NDArray[np.uint8]:
    lut = engine.class_table(reg.codes, _RULES)
    lut[MISSING] = _MISSING
    return lut


def _packed_lut(reg: Register, bits: int) -> npt.NDArray[np.uint64]:
    """Each code id's contribution to a row sum that packs the counted classes in bit fields.

    Field ``f`` (``bits`` wide) of the sum counts the marks of ``_FIELDS[f]``; the last field
    counts marks with no code (no mark or a missing mark). With ``bits`` large enough for the
    number of columns summed no field overflows into the next, so one gather and one row sum
    count every class at once.
    """
    lut = _class_lut(reg)
    out = np.zeros(256, dtype=np.uint64)
    for f, k in enumerate(_FIELDS):
        out[lut == k] = np.uint64(1) << np.uint64(bits * f)
    out[NO_MARK] = out[MISSING] = np.uint64(1) << np.uint64(bits * len(_FIELDS))
    return out


def counts(reg: Register, start: Any = None, end: Any = None) -> pd.DataFrame:
    """The integer columns of :func:`classify` for the enrolments whose span meets the period.

    ``start`` and ``end`` are inclusive dates (None: open). Marks outside the period are not
    counted; ``unmarked`` counts school sessions inside both the enrolment span and the period
    where the pupil has a missing mark or no mark.

    Counting never loops over marks in Python: each code id maps through a lookup table to bit
    fields of a ``uint64`` and one row sum counts every class at once. ``unmarked`` is the row's
    gaps less those on columns that are not school sessions of its school; only enrolments whose
    span starts or ends inside the period are counted cell by cell.
    """
    rows = np.flatnonzero(reg.enrolments_in(start, end))
    cols = reg.columns_between(start, end)
    col_ord = reg.session_ordinals[cols]
    school_sessions = reg.school_sessions[:, cols]
    ncols = cols.stop - cols.start
    out = np.zeros((len(rows), _K), dtype=np.int64)
    unmarked = np.zeros(len(rows), dtype=np.int64)
    if ncols == 0 or len(rows) == 0:
        return _frame(reg, rows, out, unmarked)
    gap_lut = np.zeros(256, dtype=bool)
    gap_lut[[NO_MARK, MISSING]] = True
    nfields = len(_FIELDS) + 1
    bits = 64 // nfields
    width = (1 << bits) - 1  # columns summed at once: no field can overflow
    packed_lut = _packed_lut(reg, bits)
    mask = np.uint64(width)
    contiguous = rows[-1] - rows[0] + 1 == len(rows)
    step = engine.chunk_rows(ncols, bytes_per_cell=8)  # the packed gather is uint64

    def count_block(r0: int) -> None:
        """Count the rows ``r0 .. r0 + step`` of ``rows`` into ``out`` and ``unmarked``."""
        sel = rows[r0 : r0 + step]
        m = len(sel)
        block = (
            reg.marks[int(sel[0]) : int(sel[-1]) + 1, cols] if contiguous else reg.marks[sel, cols]
        )
        gaps = np.zeros(m, dtype=np.int64)
        for c0 in range(0, ncols, width):
            packed = packed_lut[block[:, c0 : c0 + width]].sum(axis=1, dtype=np.uint64)
            for f, k in enumerate(_FIELDS):
                out[r0 : r0 + m, k] += ((packed >> np.uint64(bits * f)) & mask).astype(np.int64)
            gaps += ((packed >> np.uint64(bits * len(_FIELDS))) & mask).astype(np.int64)
        # gaps on columns that are not school sessions of the row's school do not count
        school = reg.school_index[sel]
        bounds = np.flatnonzero(np.diff(school)) + 1
        for a, b in zip(np.r_[0, bounds], np.r_[bounds, m], strict=True):
            off = np.flatnonzero(~school_sessions[school[a]])
            if len(off):
                gaps[a:b] -= np.count_nonzero(gap_lut[block[a:b][:, off]], axis=1)
        # enrolments whose span starts or ends inside the period: cell by cell
        span = reg.span[sel]
        part = np.flatnonzero((span[:, 0] > col_ord[0]) | (span[:, 1] < col_ord[-1]))
        if len(part):
            sub = block[part]
            inspan = (col_ord[None, :] >= span[part, :1]) & (col_ord[None, :] <= span[part, 1:])
            gap = gap_lut[sub]
            gap &= inspan
            gap &= school_sessions[school[part]]
            gaps[part] = np.count_nonzero(gap, axis=1)
        unmarked[r0 : r0 + m] = gaps

    # blocks of rows write to their own rows of ``out``: on several cores for big registers
    # (numpy's gathers and sums release the GIL), in order otherwise; the counts are the same
    engine.each_block(count_block, range(0, len(rows), step))
    return _frame(reg, rows, out, unmarked)


def _frame(
    reg: Register,
    rows: npt.NDArray[np.intp],
    out: npt.NDArray[np.int64],
    unmarked: npt.NDArray[np.int64],
) -> pd.DataFrame:
    present, late, aea = out[:, _PRESENT], out[:, _LATE], out[:, _AEA]
    auth, unauth, lac = out[:, _AUTH], out[:, _UNAUTH], out[:, _LATE_AFTER_CLOSE]
    attended = present + late + aea
    unauthorised = unauth + lac
    absent = auth + unauthorised
    frame = pd.DataFrame(
        {
            "possible": attended + absent,
            "attended": attended,
            "authorised": auth,
            "unauthorised": unauthorised,
            "absent": absent,
            "late": late,
            "late_after_close": lac,
            "unmarked": unmarked,
        },
        index=reg.index(rows),
    )
    return frame


def classify(
    reg: Register,
    scheme: str | Path | Mapping[str, Any] | BandScheme = "dfe",
    start: Any = None,
    end: Any = None,
) -> pd.DataFrame:
    """Exact attendance figures and the band of every enrolment.

    One row per enrolment whose span meets the period, indexed by ``pupil_id`` (or by
    ``school_id`` and ``pupil_id`` when the register holds two or more schools), with the
    integer columns ``possible``, ``attended``, ``authorised``, ``unauthorised``, ``absent``,
    ``late``, ``late_after_close``, ``unmarked``, the float ``attendance_rate`` (NaN with no
    possible sessions) and ``band`` (a categorical in scheme order, missing with no possible
    sessions). Band edges are decided on the integer counts, never on a rounded rate.

    ``scheme`` is ``"dfe"``, ``"five-band"``, a dict or TOML path, or a
    :class:`~attendance_core.bands.BandScheme`; ``start`` and ``end`` are inclusive dates.
    """
    bands = band_scheme(scheme)
    start = None if start is None else as_date(start, "start")
    end = None if end is None else as_date(end, "end")
    table = counts(reg, start, end)
    possible = table["possible"].to_numpy()
    attended = table["attended"].to_numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = np.where(possible > 0, attended / np.maximum(possible, 1), np.nan)
    table["attendance_rate"] = rate.astype(np.float64)
    index = bands.assign(attended, possible)
    table["band"] = pd.Categorical.from_codes(index, categories=pd.Index(list(bands.band_ids)))
    table.attrs["scheme"] = bands.id
    return table
