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

from .bands import BandScheme, band_scheme
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
_CHUNK_CELLS = 8_000_000


def _class_lut(reg: Register) -> npt.NDArray[np.uint8]:
    lut = np.zeros(256, dtype=np.uint8)
    for i, (_, code, cat) in enumerate(reg.codes.entries):
        if i == MISSING:
            lut[i] = _MISSING
        elif cat is None:
            lut[i] = _NONE
        elif cat is Category.PRESENT:
            lut[i] = _LATE if code == "L" else _PRESENT
        elif cat is Category.APPROVED_ACTIVITY:
            lut[i] = _AEA
        elif cat is Category.AUTHORISED:
            lut[i] = _AUTH
        elif cat is Category.UNAUTHORISED:
            lut[i] = _LATE_AFTER_CLOSE if code == "U" else _UNAUTH
        else:
            lut[i] = _NOT_POSSIBLE
    return lut


def counts(reg: Register, start: Any = None, end: Any = None) -> pd.DataFrame:
    """The integer columns of :func:`classify` for the enrolments whose span meets the period.

    ``start`` and ``end`` are inclusive dates (None: open). Marks outside the period are not
    counted; ``unmarked`` counts school sessions inside both the enrolment span and the period
    where the pupil has a missing mark or no mark.
    """
    rows = np.flatnonzero(reg.enrolments_in(start, end))
    cols = reg.columns_between(start, end)
    col_ord = reg.session_ordinals[cols]
    lut = _class_lut(reg)
    school_sessions = reg.school_sessions[:, cols]
    ncols = cols.stop - cols.start
    out = np.zeros((len(rows), _K), dtype=np.int64)
    unmarked = np.zeros(len(rows), dtype=np.int64)
    step = max(1, _CHUNK_CELLS // max(ncols, 1))
    for r0 in range(0, len(rows), step):
        sel = rows[r0 : r0 + step]
        block = reg.marks[sel, cols] if len(sel) != reg.n_enrolments else reg.marks[:, cols]
        cls = lut[block]
        m = len(sel)
        if ncols:
            flat = (np.arange(m, dtype=np.int64)[:, None] * _K + cls).ravel()
            out[r0 : r0 + m] = np.bincount(flat, minlength=m * _K).reshape(m, _K)
            # unmarked: school sessions of the pupil's school, inside the span, with no mark
            span = reg.span[sel]
            inspan = (col_ord[None, :] >= span[:, :1]) & (col_ord[None, :] <= span[:, 1:])
            gap = (block == NO_MARK) | (block == MISSING)
            gap &= inspan
            gap &= school_sessions[reg.school_index[sel]]
            unmarked[r0 : r0 + m] = np.count_nonzero(gap, axis=1)
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
