"""Recommended next steps: who should do what, by when, and why — support before sanction.

:func:`recommend` computes the figures behind every rule for all enrolments at once (numpy on
the register's ``uint8`` marks: one lookup to a small class id per mark, then row counts over
column windows of each school's own calendar), evaluates the rules of a :class:`Policy` on those
arrays, applies the gates read from the action plans (compulsory school age, support recorded
and not worked, consultation and social-worker agreement recorded) and turns what fires into
:class:`NextStep` objects with a plain-English reason and the evidence figures.

Python loops run over schools, rules, plan items and the steps that fire — never over marks, and
never over pupils who get no step — so the cost grows linearly with the register.
"""

from __future__ import annotations

import datetime as dt
import math
import string
import warnings
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import numpy.typing as npt
import pandas as pd

from ._engine import (
    EVIDENCE_ATTENDED,
    EVIDENCE_HOLIDAY,
    EVIDENCE_ILLNESS,
    EVIDENCE_K,
    EVIDENCE_MEDICAL,
    EVIDENCE_THRESHOLD,
    EVIDENCE_UNAUTHORISED,
    EVIDENCE_UNEXPLAINED,
    count_classes,
    evidence_classes,
)
from ._pupils import positions as pupil_positions
from ._pupils import pupils_table
from ._values import id_text as _id_text
from ._values import truthy_array
from .age import compulsory_age_end, compulsory_age_start, compulsory_school_age_of
from .bands import BandScheme
from .calendar import (
    academic_year_start,
    as_date,
    day64,
    days_between,
    last_days,
    last_weeks,
    school_weeks,
    week_start,
    week_window,
)
from .errors import AttendanceWarning
from .policy import (
    FIGURES,
    FLAGS,
    PLAN_TERMS,
    BandCondition,
    BandMove,
    Compare,
    Condition,
    Flagged,
    Framework,
    Policy,
    Rule,
    Stage,
    Truth,
    resolve_policy,
)
from .register import Register

__all__ = ["SUPPORT_ACTIONS", "NextStep", "Stage", "recommend", "step_figures", "steps_frame"]

#: Actions whose plan items count as support (api.md, "Plan items").
SUPPORT_ACTIONS = frozenset(
    {
        "attendance_conversation",
        "attendance_meeting",
        "early_help_assessment",
        "review_support",
        "targeting_support_meeting",
        "bring_forward_ehcp_review",
        "offer_support_before_enforcement",
    }
)
OPEN_STATUSES = frozenset({"NOT_STARTED", "OVERDUE", "PARTIAL", "ON_TRACK"})
#: School days a COMPLETED item keeps answering its step (the policy's framework may change it).
COMPLETED_SUPPRESSES_FOR = Framework().completed_suppresses_days
#: School days after completion before the attendance comparison can say support did not work.
SUPPORT_CHECK_MIN_DAYS = Framework().support_check_min_days
N_RESOLVE_DAYS = Framework().unexplained_resolve_days

STEP_FIELDS = (
    "pupil_id",
    "school_id",
    "stage",
    "action",
    "lead",
    "due",
    "rule",
    "reason",
    "evidence",
    "note",
)

# classes of a mark for counting: the counting engine's evidence classes, read from code tags
_ATT, _G, _N, _OU = EVIDENCE_ATTENDED, EVIDENCE_HOLIDAY, EVIDENCE_UNEXPLAINED, EVIDENCE_THRESHOLD
_I, _M, _UNAUTH = EVIDENCE_ILLNESS, EVIDENCE_MEDICAL, EVIDENCE_UNAUTHORISED
_K = EVIDENCE_K
#: classes counted toward the penalty-notice threshold (codes tagged holiday, unexplained or
#: threshold among the unauthorised ones: G, N, O and U in the statutory sets)
_THRESHOLD_CLASSES = (_G, _N, _OU)
_IDENTITY = np.arange(256, dtype=np.uint8)
_CHUNK_CELLS = 6_000_000
_NAT = np.datetime64("NaT", "D")
_EPOCH = np.datetime64("1970-01-01", "D")


@attrs.frozen
class NextStep:
    """One recommended step for one enrolment (api.md, "Recommend").

    ``due`` counts weekdays after ``as_of``; ``evidence`` maps figure names to the values
    behind the step (counts as ``int``, days as ``float`` with halves kept, dates as
    ``datetime.date``, bands as band ids). ``reason`` is one sentence a parent could read;
    ``note`` is for staff (what a later step still waits for), None when there is nothing.
    """

    pupil_id: str
    school_id: str | None
    stage: Stage
    action: str
    lead: str
    due: dt.date
    rule: str
    reason: str
    evidence: Mapping[str, Any] = attrs.field(factory=dict, hash=False)
    note: str | None = None


_SCALARS = (str, int, float, bool, dt.date, np.integer, np.floating, np.bool_)


def steps_frame(steps: Iterable[NextStep]) -> pd.DataFrame:
    """A DataFrame with one row per step; its columns are the :class:`NextStep` fields, typed.

    ``stage`` is an ordered categorical in stage order (EXPECT < … < ENFORCE, so sorting and
    ``>`` follow the stages); ``due`` is ``datetime64``; the id columns are strings. The
    ``evidence`` mapping stays whole in its column, and each evidence figure that is a scalar
    wherever it appears is also a column ``evidence_<name>`` (missing on the steps without it),
    so the figures can be filtered and summed; lists such as ``n_dates`` stay in ``evidence``.
    """
    steps = list(steps)
    fields = [f.name for f in attrs.fields(NextStep)]
    data: dict[str, Any] = {f: [getattr(s, f) for s in steps] for f in fields}
    frame = pd.DataFrame(data, columns=fields)
    for column in ("pupil_id", "school_id", "action", "lead", "rule", "reason", "note"):
        if column in frame.columns:
            frame[column] = frame[column].astype(object).where(frame[column].notna(), None)
    frame["stage"] = pd.Categorical(
        [getattr(s, "value", s) for s in data["stage"]],
        categories=[s.value for s in Stage],
        ordered=True,
    )
    frame["due"] = pd.to_datetime(pd.Series(data["due"], dtype=object)).astype("datetime64[ns]")
    keys: dict[str, bool] = {}
    for step in steps:
        for key, value in step.evidence.items():
            scalar = value is None or isinstance(value, _SCALARS)
            keys[key] = keys.get(key, True) and scalar
    for key in sorted(k for k, ok in keys.items() if ok):
        values = [step.evidence.get(key) for step in steps]
        series = pd.Series(values, dtype=object)
        if all(isinstance(v, dt.date) or v is None for v in values):
            frame[f"evidence_{key}"] = pd.to_datetime(series).astype("datetime64[ns]")
        else:
            frame[f"evidence_{key}"] = series.infer_objects()
    return frame


# ------------------------------------------------------------------------------ figures
def _row_counts(cls: npt.NDArray[np.uint8], lo: int, hi: int) -> npt.NDArray[np.int64]:
    """Counts of each evidence class per row over columns ``lo:hi`` (rows × classes)."""
    if hi <= lo:
        return np.zeros((cls.shape[0], _K), dtype=np.int64)
    return count_classes(cls[:, lo:hi], _IDENTITY, _K)


def _ordinal(day: dt.date) -> int:
    return (day - dt.date(1970, 1, 1)).days


def _date(ordinal: int) -> dt.date:
    return dt.date(1970, 1, 1) + dt.timedelta(days=int(ordinal))


@attrs.define(eq=False)
class _SchoolDays:
    """One school's calendar up to ``as_of``: its school days and school weeks, read through
    :mod:`~attendance_core.calendar`'s week helpers (ordinals in, ordinals out)."""

    days: npt.NDArray[np.datetime64]  # school days ≤ as_of, ascending
    weeks: npt.NDArray[np.datetime64]  # Mondays of the school weeks ≤ as_of

    def week_window_start(self, end: int, n: int) -> int:
        """First day of the n-week window ending on ``end`` (:func:`calendar.week_window`:
        the last ``n`` school weeks whose Monday is on or before ``end``)."""
        window = week_window(self.weeks, _date(end), n)
        first = window[0] if window is not None else week_start(_date(end))
        return _ordinal(first)

    def weeks_up_to(self, end: int) -> int:
        return len(last_weeks(self.weeks, _date(end), len(self.weeks)))

    def days_between(self, after: int, up_to: int) -> int:
        """School days strictly after ``after`` up to and including ``up_to``."""
        return days_between(self.days, _date(after), _date(up_to))

    def days_before(self, before: int, n: int) -> tuple[int, int]:
        """The ``n`` school days strictly before ``before``, as (first, last) ordinals, or
        (0, -1) when there are none."""
        chosen = last_days(self.days, _date(before - 1), n)
        if not len(chosen):
            return 0, -1
        return int((chosen[0] - _EPOCH).astype(np.int64)), int(
            (chosen[-1] - _EPOCH).astype(np.int64)
        )


@attrs.define(eq=False)
class _Figures:
    as_of: dt.date
    n: int
    enrolment: dict[str, npt.NDArray[Any]]
    runs: dict[str, npt.NDArray[Any]]
    n_dates: dict[int, list[dt.date]]
    in_scope: npt.NDArray[np.bool_]
    date_lists: dict[str, dict[int, list[dt.date]]]
    flags: dict[str, npt.NDArray[np.bool_]]
    calendars: list[_SchoolDays]
    stop: int  # date index after the last date ≤ as_of
    lut: npt.NDArray[np.uint8]
    band_ids: tuple[str, ...]
    mappings: dict[str, dict[int, dict[str, int]]] = attrs.field(factory=dict)


def _age_bounds(
    pupils: pd.DataFrame | None, positions: npt.NDArray[np.int64]
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Per enrolment, the first and last day (ordinals) of compulsory school age from a known
    date of birth; unbounded where it is unknown (the year group decides on ``as_of`` only)."""
    n = len(positions)
    lo = np.full(n, np.iinfo(np.int64).min // 4, dtype=np.int64)
    hi = np.full(n, np.iinfo(np.int64).max // 4, dtype=np.int64)
    if pupils is None or "date_of_birth" not in pupils.columns or not n:
        return lo, hi
    dobs = pd.to_datetime(pupils["date_of_birth"], errors="coerce")
    codes, uniques = pd.factorize(dobs, use_na_sentinel=True)
    starts = np.array([_ordinal(compulsory_age_start(u.date())) for u in uniques] + [0])
    ends = np.array([_ordinal(compulsory_age_end(u.date())) for u in uniques] + [0])
    code_of = np.append(codes, -1)[np.where(positions >= 0, positions, len(codes))]
    known = code_of >= 0
    lo[known] = starts[code_of[known]]
    hi[known] = ends[code_of[known]]
    return lo, hi


def _restrict(
    cls: npt.NDArray[np.uint8],
    dord: npt.NDArray[np.int64],
    lo: npt.NDArray[np.int64],
    hi: npt.NDArray[np.int64],
) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64]]:
    """``cls`` with the cells of days outside ``lo..hi`` (per row) set to class 0, and the rows
    that changed; ``cls`` itself (no copy) when no row's bounds fall inside the dates."""
    if not len(dord) or not len(lo):
        return cls, np.zeros(0, dtype=np.int64)
    need = np.flatnonzero((lo > dord[0]) | (hi < dord[-1]))
    if not len(need):
        return cls, need
    out = cls.copy()
    days = (dord[None, :] < lo[need, None]) | (dord[None, :] > hi[need, None])
    sub = out[need]
    sub[np.repeat(days, 2, axis=1)] = 0
    out[need] = sub
    return out, need


#: per-enrolment counts of the policy vocabulary, filled school by school and chunk by chunk
_ENROLMENT_COUNTS = (
    "unauthorised_sessions_10_weeks",
    "holiday_sessions_10_weeks",
    "unexplained_sessions_10_weeks",
    "late_after_close_sessions_10_weeks",
    "absence_day_of_run",
    "n_sessions_today",
    "overdue_n_sessions",
    "unauthorised_sessions_10_days",
    "illness_sessions",
    "illness_sessions_4_weeks",
    "appointment_sessions_4_weeks",
    "possible_sessions",
    "attended_sessions",
    "possible_4_weeks_ago",
    "attended_4_weeks_ago",
)
#: the columns of the runs table (one row per run of qualifying days) and their empty dtypes
_RUN_FIELDS: dict[str, Any] = {
    "enrolment": np.int64,
    "run_days": np.int64,
    "run_days_before_year": np.int64,
    "run_start": "datetime64[D]",
    "run_end": "datetime64[D]",
    "run_tenth_day": "datetime64[D]",
    "run_ongoing": bool,
}
_IS_THRESHOLD = np.isin(np.arange(_K), _THRESHOLD_CLASSES)
_IS_ABSENT = np.arange(_K) >= 2


@attrs.define(eq=False)
class _Span:
    """The register's dates up to ``as_of`` as ordinals, and the bounds every school shares."""

    as_of: dt.date
    stop: int  # date index after the last date ≤ as_of
    dord: npt.NDArray[np.int64]
    as_ord: int
    ay_ord: int  # first day of as_of's academic year
    ay_lo: int  # its date index
    monday: int  # Monday of as_of's week

    @classmethod
    def of(cls, reg: Register, as_of: dt.date) -> _Span:
        stop = int(np.searchsorted(reg.dates, np.datetime64(as_of, "D"), "right"))
        dord = (reg.dates[:stop] - _EPOCH).astype(np.int64)
        ay_ord = _ordinal(academic_year_start(as_of))
        return cls(
            as_of=as_of,
            stop=stop,
            dord=dord,
            as_ord=_ordinal(as_of),
            ay_ord=ay_ord,
            ay_lo=int(np.searchsorted(dord, ay_ord, "left")),
            monday=_ordinal(week_start(as_of)),
        )


@attrs.define(eq=False)
class _Windows:
    """One school's windows as date indices into the register (its own school days)."""

    sd_idx: npt.NDArray[np.int64]  # date indices of the school's school days ≤ as_of
    sd_dates: npt.NDArray[np.datetime64]
    cum: npt.NDArray[np.int64]  # school days up to each date index
    win10: int  # first day (ordinal) of the 10-school-week window
    win10_lo: int
    win4_lo: int
    ten_lo: int  # first of the last ten school days
    cut: int  # end of "four weeks ago" (-1: none in this academic year)
    split: int
    ay_sd_lo: int  # first school day of the academic year, as a school-day index
    today: int  # date index of as_of when it is in the register, else -1

    @property
    def nsd(self) -> int:
        return len(self.sd_idx)


def _school_windows(reg: Register, s: int, span: _Span) -> tuple[_SchoolDays, _Windows]:
    """School ``s``'s calendar and the column bounds of every window its figures read."""
    stop, dord, as_ord = span.stop, span.dord, span.as_ord
    ss = reg.school_sessions[s, : 2 * stop]
    sday = ss[0::2] | ss[1::2]
    sd_idx = np.flatnonzero(sday)
    sd_ord = dord[sd_idx]
    sd_dates = sd_ord.astype("datetime64[D]")
    cal = _SchoolDays(days=sd_dates, weeks=school_weeks(sd_dates))
    if stop == 0:
        return cal, _Windows(sd_idx, sd_dates, np.zeros(0, np.int64), 0, 0, 0, 0, -1, 0, 0, -1)
    win10 = cal.week_window_start(as_ord, 10)
    ten_lo = int(sd_idx[-10]) if len(sd_idx) >= 10 else (int(sd_idx[0]) if len(sd_idx) else stop)
    # the same weekday four school weeks earlier: the 4th school week before as_of's week
    before = last_weeks(cal.weeks, week_start(span.as_of) - dt.timedelta(days=1), 4)
    cut = -1
    if len(before) == 4:
        cut_ord = int((before[0] - _EPOCH).astype(np.int64)) + (as_ord - span.monday)
        cut = int(np.searchsorted(dord, cut_ord, "right"))
        if cut <= span.ay_lo:
            cut = -1
    return cal, _Windows(
        sd_idx=sd_idx,
        sd_dates=sd_dates,
        cum=np.cumsum(sday),
        win10=win10,
        win10_lo=int(np.searchsorted(dord, win10, "left")),
        win4_lo=int(np.searchsorted(dord, cal.week_window_start(as_ord, 4), "left")),
        ten_lo=ten_lo,
        cut=cut,
        split=cut if cut >= 0 else span.ay_lo,
        ay_sd_lo=int(np.searchsorted(sd_ord, span.ay_ord, "left")),
        today=stop - 1 if dord[stop - 1] == as_ord else -1,
    )


@attrs.define(eq=False)
class _Chunk:
    """A block of enrolment rows of one school, its marks and their evidence classes: as
    recorded (``cls``), on days of compulsory school age (``cls_age``, rows changed in
    ``aged``) and as the threshold counts them (``cls_thr``)."""

    r0: int
    rows: slice
    codes: npt.NDArray[np.uint8]
    cls: npt.NDArray[np.uint8]
    cls_age: npt.NDArray[np.uint8]
    aged: npt.NDArray[np.int64]
    cls_thr: npt.NDArray[np.uint8]

    @property
    def n(self) -> int:
        return int(self.rows.stop - self.rows.start)


def _window_counts(
    e: dict[str, npt.NDArray[Any]],
    c: _Chunk,
    w: _Windows,
    span: _Span,
    after_close: npt.NDArray[np.bool_],
) -> None:
    """The counts over the 10-week, 10-day, 4-week and academic-year windows."""
    rows, cls, stop = c.rows, c.cls, span.stop
    c10 = _row_counts(c.cls_thr, 2 * w.win10_lo, 2 * stop)
    e["unauthorised_sessions_10_weeks"][rows] = c10[:, _IS_THRESHOLD].sum(axis=1)
    e["holiday_sessions_10_weeks"][rows] = c10[:, _G]
    e["unexplained_sessions_10_weeks"][rows] = c10[:, _N]
    late_cells = after_close[c.codes[:, 2 * w.win10_lo :]] & (c.cls_thr[:, 2 * w.win10_lo :] > 0)
    e["late_after_close_sessions_10_weeks"][rows] = np.count_nonzero(late_cells, axis=1)
    c10d = _row_counts(cls, 2 * w.ten_lo, 2 * stop)
    e["unauthorised_sessions_10_days"][rows] = c10d[:, [_G, _N, _OU, _UNAUTH]].sum(axis=1)
    c4 = _row_counts(cls, 2 * w.win4_lo, 2 * stop)
    e["illness_sessions_4_weeks"][rows] = c4[:, _I]
    e["appointment_sessions_4_weeks"][rows] = c4[:, _M]
    early = _row_counts(cls, 2 * span.ay_lo, 2 * w.split)
    year = early + _row_counts(cls, 2 * w.split, 2 * stop)
    e["possible_sessions"][rows] = year[:, 1:].sum(axis=1)
    e["attended_sessions"][rows] = year[:, _ATT]
    illness = year[:, _I].copy()
    if len(c.aged):
        illness[c.aged] = _row_counts(c.cls_age[c.aged], 2 * span.ay_lo, 2 * stop)[:, _I]
    e["illness_sessions"][rows] = illness
    if w.cut >= 0:
        e["possible_4_weeks_ago"][rows] = early[:, 1:].sum(axis=1)
        e["attended_4_weeks_ago"][rows] = early[:, _ATT]
        e["has_4_weeks_ago"][rows] = True


def _today(e: dict[str, npt.NDArray[Any]], c: _Chunk, w: _Windows) -> None:
    """Unexplained sessions on as_of, and which day in a row of absence today is: school days
    back from as_of on which every possible session is an absence (no possible session: neutral)."""
    if w.today < 0:
        return
    cls, rows, nsd = c.cls, c.rows, w.nsd
    n_today = (cls[:, 2 * w.today] == _N).astype(np.int64) + (cls[:, 2 * w.today + 1] == _N)
    e["n_sessions_today"][rows] = n_today
    if not nsd or w.sd_idx[-1] != w.today:
        return
    am_d, pm_d = cls[:, 2 * w.sd_idx], cls[:, 2 * w.sd_idx + 1]
    poss_d = (am_d > 0) | (pm_d > 0)
    away = poss_d & ((am_d == 0) | _IS_ABSENT[am_d]) & ((pm_d == 0) | _IS_ABSENT[pm_d])
    breaks = poss_d & ~away
    last_break = np.where(breaks.any(axis=1), nsd - 1 - np.argmax(breaks[:, ::-1], axis=1), -1)
    counted = np.cumsum(away[:, ::-1], axis=1)[:, ::-1]  # from each day on
    start_col = last_break + 1
    run_len = np.where(start_col < nsd, counted[np.arange(c.n), np.minimum(start_col, nsd - 1)], 0)
    e["absence_day_of_run"][rows] = np.where(n_today > 0, np.maximum(run_len, 1), 0)


def _unexplained_ages(
    e: dict[str, npt.NDArray[Any]],
    c: _Chunk,
    w: _Windows,
    span: _Span,
    *,
    resolve_days: int,
    n_dates: dict[int, list[dt.date]],
) -> None:
    """The age of each N (school days strictly after its date, up to as_of), the oldest per
    row, and the dates of those not resolved within ``resolve_days``."""
    nr, nc = np.nonzero(c.cls == _N)
    if not len(nr):
        return
    stop = span.stop
    age = int(w.cum[-1]) - w.cum[nc // 2]
    oldest = np.full(c.n, -1, dtype=np.int64)
    np.maximum.at(oldest, nr, age)
    e["oldest_n_age"][c.rows] = oldest
    over = age > resolve_days
    e["overdue_n_sessions"][c.rows] = np.bincount(nr[over], minlength=c.n)
    if not over.any():
        return
    pairs = np.unique(nr[over].astype(np.int64) * stop + nc[over] // 2)
    prow, pday = pairs // stop, pairs % stop
    bounds = np.flatnonzero(np.diff(prow)) + 1
    for grp_rows, grp_days in zip(np.split(prow, bounds), np.split(pday, bounds), strict=True):
        n_dates[c.r0 + int(grp_rows[0])] = [_date(int(span.dord[d])) for d in grp_days]


def _qualifying_runs(c: _Chunk, w: _Windows, run_parts: dict[str, list[npt.NDArray[Any]]]) -> None:
    """Runs of qualifying days (every possible session a threshold absence) on this school's
    school days, on days of compulsory school age; appended to ``run_parts``."""
    nsd = w.nsd
    if not nsd:
        return
    am = c.cls_age[:, 2 * w.sd_idx]
    pm = c.cls_age[:, 2 * w.sd_idx + 1]
    poss = (am > 0).astype(np.int8) + (pm > 0)
    qual_n = _IS_THRESHOLD[am].astype(np.int8) + _IS_THRESHOLD[pm]
    qual = (poss > 0) & (qual_n == poss)
    brk = (poss > 0) & (qual_n < poss)
    last_break = np.maximum.accumulate(
        np.where(brk, np.arange(nsd, dtype=np.int32), np.int32(-1)), axis=1
    )
    qr, qc = np.nonzero(qual)
    if not len(qr):
        return
    key = qr.astype(np.int64) * (nsd + 1) + last_break[qr, qc] + 1
    starts = np.concatenate(([0], np.flatnonzero(np.diff(key)) + 1))
    ends = np.concatenate((starts[1:], [len(key)])) - 1
    length = ends - starts + 1
    tenth = np.full(len(starts), _NAT, dtype="datetime64[D]")
    long_runs = length >= 10
    tenth[long_runs] = w.sd_dates[qc[starts[long_runs] + 9]]
    run_rows = qr[starts]
    run_parts["enrolment"].append(c.r0 + run_rows.astype(np.int64))
    run_parts["run_days"].append(length.astype(np.int64))
    run_parts["run_days_before_year"].append(
        np.add.reduceat((qc < w.ay_sd_lo).astype(np.int64), starts)
    )
    run_parts["run_start"].append(w.sd_dates[qc[starts]])
    run_parts["run_end"].append(w.sd_dates[qc[ends]])
    run_parts["run_tenth_day"].append(tenth)
    run_parts["run_ongoing"].append(last_break[run_rows, -1] < qc[ends])


def _derived_figures(e: dict[str, npt.NDArray[Any]], scheme: BandScheme) -> None:
    """The figures computed from the counts: rates, days, shares and bands."""
    possible = e["possible_sessions"]
    attended = e["attended_sessions"]
    e["absent_sessions"] = possible - attended
    e["days_missed"] = e["absent_sessions"] / 2.0
    e["unauthorised_days_10_weeks"] = e["unauthorised_sessions_10_weeks"] / 2.0
    e["illness_days"] = e["illness_sessions"] / 2.0
    absent_year = e["absent_sessions"]
    e["illness_share_of_absence"] = np.where(
        absent_year > 0, e["illness_sessions"] / np.maximum(absent_year, 1), 0.0
    )
    e["holiday_only"] = (e["unauthorised_sessions_10_weeks"] > 0) & (
        e["holiday_sessions_10_weeks"] == e["unauthorised_sessions_10_weeks"]
    )
    p4, a4 = e["possible_4_weeks_ago"], e["attended_4_weeks_ago"]
    with np.errstate(invalid="ignore", divide="ignore"):
        e["attendance_rate"] = np.where(possible > 0, attended / np.maximum(possible, 1), np.nan)
        e["attendance_rate_4_weeks_ago"] = np.where(
            e["has_4_weeks_ago"] & (p4 > 0), a4 / np.maximum(p4, 1), np.nan
        )
    e["band"] = scheme.assign(attended, possible)
    e["band_4_weeks_ago"] = np.where(e["has_4_weeks_ago"], scheme.assign(a4, p4), -1)


def _compute(
    reg: Register,
    pupils: pd.DataFrame | None,
    as_of: dt.date,
    scheme: BandScheme,
    *,
    threshold_from: npt.NDArray[np.int64] | None = None,
    framework: Framework | None = None,
) -> _Figures:
    """Every enrolment figure of the policy vocabulary, for all enrolments at once.

    The threshold, the runs of qualifying days and the illness count read only sessions on
    which the pupil was of compulsory school age (when the date of birth is known); the
    threshold also leaves out sessions on or before ``threshold_from - 1`` (the latest
    penalty notice counted).
    """
    fw = framework or Framework()
    n = reg.n_enrolments
    span = _Span.of(reg, as_of)
    stop = span.stop
    lut = evidence_classes(reg.codes)
    after_close = reg.codes.of_tags("late_after_close") & (lut == _OU)
    positions = pupil_positions(reg.pupil_ids, reg.school_ids, pupils)
    age_lo, age_hi = _age_bounds(pupils, positions)
    thr_lo = age_lo if threshold_from is None else np.maximum(age_lo, threshold_from)

    e: dict[str, npt.NDArray[Any]] = {k: np.zeros(n, dtype=np.int64) for k in _ENROLMENT_COUNTS}
    e["oldest_n_age"] = np.full(n, -1, dtype=np.int64)
    e["window_start"] = np.full(n, _NAT, dtype="datetime64[D]")
    e["has_4_weeks_ago"] = np.zeros(n, dtype=bool)
    run_parts: dict[str, list[npt.NDArray[Any]]] = {k: [] for k in _RUN_FIELDS}
    n_dates: dict[int, list[dt.date]] = {}
    calendars: list[_SchoolDays] = []

    for s, block in enumerate(reg.school_blocks()):
        cal, w = _school_windows(reg, s, span)
        calendars.append(cal)
        if block.stop <= block.start or stop == 0:
            continue
        e["window_start"][block] = np.datetime64(int(w.win10), "D")
        step = max(1, _CHUNK_CELLS // max(2 * stop, 1))
        for r0 in range(block.start, block.stop, step):
            rows = slice(r0, min(block.stop, r0 + step))
            codes = reg.marks[rows, : 2 * stop]
            cls = lut[codes]
            # sessions of compulsory school age (known date of birth) for the † figures; the
            # threshold also drops sessions covered by the latest penalty notice counted
            cls_age, aged = _restrict(cls, span.dord, age_lo[rows], age_hi[rows])
            cls_thr = cls_age
            if threshold_from is not None:
                cls_thr, _ = _restrict(cls_age, span.dord, thr_lo[rows], age_hi[rows])
            chunk = _Chunk(r0, rows, codes, cls, cls_age, aged, cls_thr)
            _window_counts(e, chunk, w, span, after_close)
            _today(e, chunk, w)
            _unexplained_ages(
                e, chunk, w, span, resolve_days=fw.unexplained_resolve_days, n_dates=n_dates
            )
            _qualifying_runs(chunk, w, run_parts)

    runs = {
        k: np.concatenate(parts) if parts else np.zeros(0, dtype=_RUN_FIELDS[k])
        for k, parts in run_parts.items()
    }
    _derived_figures(e, scheme)
    # pupils table: cohort flags and compulsory school age
    flags = {f: _flag_values(pupils, f, positions) for f in FLAGS}
    e["compulsory_school_age"] = compulsory_school_age_of(pupils, positions, as_of)
    span_end = reg.span[:, 1] if n else np.zeros(0, np.int64)
    span_start = reg.span[:, 0] if n else np.zeros(0, np.int64)
    in_scope = (span_end >= 2 * span.ay_ord) & (span_start <= 2 * span.as_ord + 1)
    return _Figures(
        as_of=as_of,
        n=n,
        enrolment=e,
        runs=runs,
        n_dates=n_dates,
        in_scope=in_scope,
        date_lists={"n_dates": n_dates},
        flags=flags,
        calendars=calendars,
        stop=stop,
        lut=lut,
        band_ids=scheme.band_ids,
    )


def _flag_values(
    pupils: pd.DataFrame | None, flag: str, positions: npt.NDArray[np.int64]
) -> npt.NDArray[np.bool_]:
    if pupils is None or flag not in pupils.columns:
        return np.zeros(len(positions), dtype=bool)
    values = np.append(truthy_array(pupils[flag]), False)
    result: npt.NDArray[np.bool_] = values[np.where(positions >= 0, positions, len(values) - 1)]
    return result


# ------------------------------------------------------------------------------ plan terms
def _status(item: Any) -> str | None:
    status = getattr(item, "status", None)
    if status is None:
        return None
    name = getattr(status, "name", None)
    return str(name if name is not None else status).strip().upper().replace(" ", "_")


def _plan_items(plans: Any) -> list[Any]:
    """Pupil items (with ``pupil_id`` and ``action_id``) of one plan, plans, or items."""
    if plans is None:
        return []
    if hasattr(plans, "items") and not isinstance(plans, Mapping):
        candidates: Iterable[Any] = plans.items
    elif hasattr(plans, "action_id"):
        candidates = [plans]
    else:
        candidates = []
        for p in plans:
            candidates = (
                [*candidates, *(_plan_items(p))]
                if not hasattr(p, "action_id")
                else [*candidates, p]
            )
    return [i for i in candidates if getattr(i, "pupil_id", None) and getattr(i, "action_id", None)]


@attrs.frozen(kw_only=True)
class _Item:
    """A plan item or a history event, in the one shape the plan terms read.

    A history event is the ``COMPLETED`` item answering the same step would be (api.md: they
    "count alike"): ``completed_on`` is its date and ``due`` a notice to improve's ``until``.
    Plan items carry no school; an event with a ``school_id`` answers only that enrolment.
    """

    id: str
    pupil_id: str
    action_id: str
    status: str | None
    completed_on: dt.date | None
    due: dt.date | None
    school_id: str | None = None
    success_measure: str | None = None
    from_history: bool = False


def _as_items(plan_items: Iterable[Any]) -> list[_Item]:
    out = []
    for item in plan_items:
        done = getattr(item, "completed_on", None)
        due = getattr(item, "due", None)
        out.append(
            _Item(
                id=f"item {item.id}",
                pupil_id=_id_text(item.pupil_id),
                action_id=str(item.action_id),
                status=_status(item),
                completed_on=None if done is None else as_date(done),
                due=None if due is None else as_date(due),
                success_measure=getattr(item, "success_measure", None),
            )
        )
    return out


class _Rows:
    """Enrolment rows of a pupil, optionally at one school (history matching respects
    ``school_id``: an event recorded at a school answers that school's enrolment only; an
    event without a school answers every enrolment of the pupil)."""

    def __init__(self, reg: Register) -> None:
        self._reg = reg
        self._groups: dict[Any, Any] | None = None
        self._schools = None if reg.school_ids is None else reg.school_ids.astype(str)

    def __call__(self, pupil_id: str, school_id: str | None = None) -> list[int]:
        if self._groups is None:  # built on first use: most runs have no plans or history
            n = self._reg.n_enrolments
            ids = pd.Index(self._reg.pupil_ids.astype(str), dtype=object)
            self._groups = (
                dict(pd.Series(np.arange(n), index=ids).groupby(level=0).indices) if n else {}
            )
        rows = self._groups.get(_id_text(pupil_id))
        if rows is None:
            return []
        if school_id is None or self._schools is None:
            return [int(r) for r in rows]
        wanted = _id_text(school_id)
        return [int(r) for r in rows if self._schools[r] == wanted]


@attrs.define(eq=False)
class _PlanState:
    terms: dict[str, npt.NDArray[np.bool_]]
    open: dict[str, npt.NDArray[np.bool_]]  # action -> per enrolment: an open item answers it
    done: dict[str, list[tuple[int, int | None]]]  # action -> (enrolment, completed ordinal)
    notes: dict[tuple[int, str], str]  # (enrolment, term) -> what showed it


def _improvement_period(
    issued: dt.date, until: dt.date | None, fw: Framework
) -> tuple[dt.date, bool]:
    """The end of a notice to improve's improvement period and whether the recorded one lies
    outside the framework's range (3 to 6 weeks): a missing ``until`` is the shortest period,
    and a period never ends before the shortest has passed."""
    shortest, longest = fw.improvement_period_weeks
    floor = issued + dt.timedelta(weeks=shortest)
    if until is None:
        return floor, False
    outside = not floor <= until <= issued + dt.timedelta(weeks=longest)
    return max(until, floor), outside


def _plan_state(
    reg: Register,
    figs: _Figures,
    *,
    items: Sequence[_Item],
    as_of: dt.date,
    fw: Framework,
    rows_for: _Rows,
) -> _PlanState:
    n = figs.n
    terms = {t: np.zeros(n, dtype=bool) for t in PLAN_TERMS}
    open_: dict[str, npt.NDArray[np.bool_]] = {}
    done_: dict[str, list[tuple[int, int | None]]] = {}
    notes: dict[tuple[int, str], str] = {}
    e = figs.enrolment
    e["improvement_period_start"] = np.full(n, _NAT, dtype="datetime64[D]")
    e["improvement_period_end"] = np.full(n, _NAT, dtype="datetime64[D]")
    e["improvement_period_sessions"] = np.zeros(n, dtype=np.int64)
    if not items or n == 0:
        return _PlanState(terms, open_, done_, notes)
    as_ord = _ordinal(as_of)
    checks: list[tuple[int, Any, int]] = []  # (row, item, completed ordinal)
    latest_nti: dict[int, tuple[dt.date, dt.date, _Item]] = {}
    for item in items:
        rows = rows_for(item.pupil_id, item.school_id)
        if not rows:
            continue
        status = item.status
        action = item.action_id
        done_ord = None if item.completed_on is None else _ordinal(item.completed_on)
        due_ord = None if item.due is None else _ordinal(item.due)
        for row in rows:
            cal = figs.calendars[int(reg.school_index[row])]
            if status in OPEN_STATUSES:
                open_.setdefault(action, np.zeros(n, dtype=bool))[row] = True
            elif status == "COMPLETED":
                done_.setdefault(action, []).append((row, done_ord))
            if action in SUPPORT_ACTIONS:
                terms["support_recorded"][row] = True
                # OVERDUE alone says nothing of the family: the delay may be the school's
                if status == "COMPLETED" and done_ord is not None and done_ord <= as_ord:
                    checks.append((row, item, done_ord))
            if status != "COMPLETED":
                continue
            if action == "consult_attendance_officer":
                terms["consultation_recorded"][row] = True
                notes[(row, "consultation_recorded")] = item.id
            elif action == "agree_with_social_worker":
                terms["social_worker_agreement_recorded"][row] = True
                notes[(row, "social_worker_agreement_recorded")] = item.id
            elif action == "consider_penalty_notice":
                terms["penalty_notice_recorded"][row] = True
                notes[(row, "penalty_notice_recorded")] = item.id
            elif action == "notice_to_improve":
                issued = done_ord if done_ord is not None else due_ord
                window = cal.week_window_start(as_ord, fw.notice_to_improve_recent_weeks)
                if issued is None or window <= issued <= as_ord:
                    terms["notice_to_improve_recent"][row] = True
                if item.completed_on is None or item.completed_on > as_of:
                    continue
                end, _ = _improvement_period(item.completed_on, item.due, fw)
                known = latest_nti.get(row)
                if known is None or item.completed_on >= known[0]:
                    latest_nti[row] = (item.completed_on, end, item)
    if latest_nti:
        _improvement_checks(reg, figs, latest=latest_nti, as_of=as_of, terms=terms, notes=notes)
    if checks:
        _support_checks(reg, figs=figs, checks=checks, as_of=as_of, terms=terms, notes=notes, fw=fw)
    return _PlanState(terms, open_, done_, notes)


def _improvement_checks(
    reg: Register,
    figs: _Figures,
    *,
    latest: Mapping[int, tuple[dt.date, dt.date, _Item]],
    as_of: dt.date,
    terms: dict[str, npt.NDArray[np.bool_]],
    notes: dict[tuple[int, str], str],
) -> None:
    """The latest notice to improve of each enrolment: its period, whether it has ended, and
    the sessions coded G, N, O or U from the day after issue to the period's end."""
    dord = (reg.dates[: figs.stop] - _EPOCH).astype(np.int64)
    e = figs.enrolment
    for row, (issued, end, item) in latest.items():
        e["improvement_period_start"][row] = np.datetime64(issued, "D")
        e["improvement_period_end"][row] = np.datetime64(end, "D")
        lo = int(np.searchsorted(dord, _ordinal(issued) + 1, "left"))
        hi = int(np.searchsorted(dord, min(_ordinal(end), _ordinal(as_of)), "right"))
        count = 0
        if hi > lo:
            count = int(np.count_nonzero(_IS_THRESHOLD[figs.lut[reg.marks[row, 2 * lo : 2 * hi]]]))
        e["improvement_period_sessions"][row] = count
        if end < as_of:
            period = f"{item.id}, improvement period {_words_date(issued)} to {_words_date(end)}"
            terms["notice_to_improve_period_passed"][row] = True
            notes[(row, "notice_to_improve_period_passed")] = period
            if count:
                terms["notice_to_improve_not_improved"][row] = True
                notes[(row, "notice_to_improve_not_improved")] = (
                    f"{period}: {count} unauthorised session(s) in it"
                )


def _words_date(day: int | dt.date) -> str:
    if not isinstance(day, dt.date):
        day = _date(day)
    return f"{day.day} {day:%B %Y}"


def _support_checks(
    reg: Register,
    *,
    figs: _Figures,
    checks: list[tuple[int, Any, int]],
    as_of: dt.date,
    terms: dict[str, npt.NDArray[np.bool_]],
    notes: dict[tuple[int, str], str],
    fw: Framework,
) -> None:
    """Decide whether COMPLETED support worked, for all such items at once.

    Not worked: the item's measurable success measure is not met (checked like
    ``ActionPlan.review``: over its ``weeks`` school weeks or the academic year to date, ending
    on its own date, its ``due`` or ``as_of``), or, once at least 15 school days have passed
    since ``completed_on``, attendance over those days is no higher than over as many school
    days before it.
    """
    from .plans import parse_success_measure

    as_ord = _ordinal(as_of)
    stop = figs.stop
    dord = (reg.dates[:stop] - _EPOCH).astype(np.int64)
    rows_u, inverse = np.unique(
        np.array([c[0] for c in checks], dtype=np.int64), return_inverse=True
    )
    cls = figs.lut[reg.marks[rows_u, : 2 * stop]]

    def cumulative(mask: npt.NDArray[np.bool_]) -> npt.NDArray[np.int64]:
        per_day = mask[:, 0::2].astype(np.int64) + mask[:, 1::2]
        return np.concatenate(
            [np.zeros((len(rows_u), 1), np.int64), np.cumsum(per_day, axis=1)], axis=1
        )

    cum_att = cumulative(cls == _ATT)
    cum_pos = cumulative(cls > 0)
    cum_una = cumulative(np.isin(cls, [*_THRESHOLD_CLASSES, _UNAUTH]))

    def window(k: int, first: int, last: int) -> tuple[int, int, int]:
        lo = int(np.searchsorted(dord, first, "left"))
        hi = int(np.searchsorted(dord, last, "right"))
        if hi <= lo:
            return 0, 0, 0
        return (
            int(cum_att[k, hi] - cum_att[k, lo]),
            int(cum_pos[k, hi] - cum_pos[k, lo]),
            int(cum_una[k, hi] - cum_una[k, lo]),
        )

    parsed: dict[int, Any] = {}
    for (row, item, done_ord), k in zip(checks, inverse, strict=True):
        cal = figs.calendars[int(reg.school_index[row])]
        verdict: str | None = None
        key = id(item)
        if key not in parsed:
            parsed[key] = parse_success_measure(
                getattr(item, "success_measure", None), reference_date=as_of
            )
        measure = parsed[key]
        if measure is not None:
            due = getattr(item, "due", None)
            end = measure.by or (None if due is None else as_date(due)) or as_of
            end_ord = _ordinal(end)
            if end_ord <= as_ord:
                if measure.weeks:
                    start_ord = cal.week_window_start(end_ord, measure.weeks)
                    enough = cal.weeks_up_to(end_ord) >= measure.weeks
                else:
                    start_ord = _ordinal(academic_year_start(end))
                    enough = True
                att, pos, una = window(int(k), start_ord, end_ord)
                if enough and measure.kind == "no_unauthorised_absence" and una > 0:
                    verdict = f"{item.id}: {una} unauthorised sessions against its measure"
                elif enough and measure.kind == "attendance" and pos > 0:
                    assert measure.percent is not None
                    lhs = att * 100 * measure.percent.denominator
                    rhs = measure.percent.numerator * pos
                    met = lhs > rhs if measure.comparison == ">" else lhs >= rhs
                    if not met:
                        verdict = f"{item.id}: attendance {_percent(att / pos)} below its measure"
        if verdict is None:
            days_after = cal.days_between(done_ord, as_ord)
            if days_after >= fw.support_check_min_days:
                a_att, a_pos, _ = window(int(k), done_ord + 1, as_ord)
                first, last = cal.days_before(done_ord, days_after)
                b_att, b_pos, _ = window(int(k), first, last)
                # rate after <= rate before, on integers: a_att/a_pos <= b_att/b_pos
                if a_pos > 0 and b_pos > 0 and a_att * b_pos <= b_att * a_pos:
                    verdict = (
                        f"{item.id}: attendance {_percent(a_att / a_pos)} over "
                        f"{days_after} school days since, against "
                        f"{_percent(b_att / b_pos)} before"
                    )
        if verdict is not None:
            terms["support_not_worked"][row] = True
            notes.setdefault((row, "support_not_worked"), verdict)


# ------------------------------------------------------------------------------ evaluation
def _axis_values(figs: _Figures, name: str, idx: npt.NDArray[np.int64] | None) -> Any:
    if FIGURES[name].axis == "run":
        return figs.runs[name]
    values = figs.enrolment[name]
    return values if idx is None else values[idx]


def _evaluate(
    cond: Condition, figs: _Figures, idx: npt.NDArray[np.int64] | None, size: int
) -> npt.NDArray[np.bool_]:
    if isinstance(cond, Compare):
        from .policy import OPERATORS

        values = _axis_values(figs, cond.figure, idx)
        with np.errstate(invalid="ignore"):
            out = np.asarray(OPERATORS[cond.op](values, cond.value), dtype=bool)
        return out
    if isinstance(cond, Truth):
        values = np.asarray(_axis_values(figs, cond.figure, idx), dtype=bool)
        return ~values if cond.negate else values
    if isinstance(cond, BandCondition):
        bands = figs.band_ids
        wanted = np.array([bands.index(b) for b in cond.bands], dtype=np.int64)
        return np.isin(_axis_values(figs, cond.figure, idx), wanted)
    if isinstance(cond, BandMove):
        a = _axis_values(figs, cond.figure, idx)
        b = _axis_values(figs, cond.other, idx)
        known = (a >= 0) & (b >= 0)
        moved = a > b if cond.direction == "worse" else a < b
        return np.asarray(known & moved, dtype=bool)
    assert isinstance(cond, Flagged)
    any_flag = np.zeros(size, dtype=bool)
    for f in cond.flags:
        values = figs.flags[f]
        any_flag |= values if idx is None else values[idx]
    return ~any_flag if cond.negate else any_flag


def _weekdays_after(day: dt.date, n: int) -> dt.date:
    if n <= 0:
        return day
    moved = np.busday_offset(np.datetime64(day, "D"), n, roll="backward")
    return pd.Timestamp(moved).date()


def _plain(value: Any, kind: str) -> Any:
    """A figure value as a plain Python value for the evidence."""
    if kind == "count":
        return int(value)
    if kind in ("days", "rate", "number"):
        f = float(value)
        return None if math.isnan(f) else f
    if kind == "bool":
        return bool(value)
    if kind == "date":
        return None if np.isnat(value) else pd.Timestamp(value).date()
    if kind == "age":
        return {1: True, 0: False}.get(int(value), "unknown")
    return value


def _text(value: Any, kind: str, labels: Mapping[str, str]) -> str:
    """A figure value written for a parent."""
    if value is None:
        return "not known"
    if kind == "days":
        return f"{value:g}"
    if kind == "rate":
        return _percent(value)
    if kind == "ordinal":
        return _ordinal_word(int(value))
    if kind == "band":
        return labels.get(value, str(value))
    if kind == "date":
        return f"{value.day} {value:%B %Y}"
    if kind == "dates":
        shown = [f"{d.day} {d:%B %Y}" for d in value]
        if len(shown) > 3:
            return f"{shown[0]} and {len(shown) - 1} other days"
        return shown[0] if len(shown) == 1 else ", ".join(shown[:-1]) + " and " + shown[-1]
    if kind == "bool":
        return "yes" if value else "no"
    if kind == "age":
        return "yes" if value is True else ("no" if value is False else "unknown")
    return str(value)


def _percent(rate: float) -> str:
    """A rate as a percentage truncated to one decimal (94.97% is "94.9%"), so a figure shown
    never contradicts the band decided on exact integers. A rate is a ratio of session counts
    (denominators far below 10⁶), so one that is not a whole number of tenths of a percent is
    at least 10⁻⁶ from one: the small nudge only keeps 0.95 stored as 0.94999… at 95.0%."""
    tenths = math.floor(float(rate) * 1000 + 1e-7)
    return f"{tenths // 10}.{tenths % 10}%"


_ORDINALS = ("first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth")


def _ordinal_word(k: int) -> str:
    if 1 <= k <= len(_ORDINALS):
        return _ORDINALS[k - 1]
    suffix = "th" if 10 <= k % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(k % 10, "th")
    return f"{k}{suffix}"


def _missing_text(rule: Rule, failed: list[tuple[str, bool]]) -> str:
    """'a notice to improve still needs X and Y' for the gates that failed."""
    needs = [PLAN_TERMS[t].missing for t, is_required in failed if is_required]
    blocks = [PLAN_TERMS[t].present for t, is_required in failed if not is_required]
    parts = []
    if needs:
        parts.append(f"{rule.label} still needs " + _join(needs))
    if blocks:
        parts.append(f"{rule.label} is held back because " + _join(blocks))
    text = "; ".join(parts)
    return text[:1].upper() + text[1:] + "."


def _join(words: Sequence[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


#: The step each history event answers, as a COMPLETED plan item answering it would: the
#: spec's rule that "a history event and a COMPLETED plan item answering the same step count
#: alike". Events absent here (support_not_*) are facts the rules read directly; a
#: prosecution or an education supervision order answers the consideration of other legal
#: action (and a prosecution, the duty to prosecute or withdraw the notices issued before it).
HISTORY_ANSWERS: Mapping[str, str] = {
    "notice_to_improve": "notice_to_improve",
    "penalty_notice": "consider_penalty_notice",
    "la_notified_continuous_absence": "notify_la_continuous_absence",
    "la_notified_illness": "notify_la_illness_15_days",
    "attendance_officer_consulted": "consult_attendance_officer",
    "social_worker_agreed": "agree_with_social_worker",
    "prosecution": "consider_other_legal_action",
    "education_supervision_order": "consider_other_legal_action",
}


def _history_items(history: Any) -> list[_Item]:
    """Plan-item stand-ins for the history's events (COMPLETED on the event's date)."""
    items: list[_Item] = []
    for k, event in enumerate(history.events):
        action = HISTORY_ANSWERS.get(event.event)
        if action is None:
            continue
        items.append(
            _Item(
                id=f"history event {k + 1} ({event.event} of {event.date.isoformat()})",
                pupil_id=event.pupil_id,
                school_id=event.school_id,
                action_id=action,
                status="COMPLETED",
                completed_on=event.date,
                due=event.until,
                from_history=True,
            )
        )
    return items


def _years_after(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return dt.date(day.year + years, 3, 1)


def _current_period(dates: list[dt.date], as_of: dt.date, years: int) -> list[dt.date]:
    """The notices of the period that holds ``as_of``. The framework: at most two notices to
    the same parent for the same child "within a three-year period", which "starts from the
    date of issue of the first penalty notice"; a notice issued once a period has ended starts
    the next one. Empty when ``as_of`` is past the end of the last period."""
    current: list[dt.date] = []
    end: dt.date | None = None
    for day in sorted(dates):
        if end is None or day >= end:
            current, end = [day], _years_after(day, years)
        else:
            current.append(day)
    return current if end is not None and as_of < end else []


@attrs.define(eq=False)
class _Penalties:
    """What the history says of penalty notices, per enrolment."""

    counted: npt.NDArray[np.int64]
    latest: npt.NDArray[np.datetime64]
    threshold_from: npt.NDArray[np.int64]
    unpaid: npt.NDArray[np.int64]
    unpaid_dates: dict[int, list[dt.date]]
    notes: dict[tuple[int, str], str]
    by_parent: dict[int, dict[str, int]]


def _penalties(history: Any, rows_for: _Rows, n: int, as_of: dt.date, fw: Framework) -> _Penalties:
    """Penalty notices counted toward the limit and unpaid ones (api.md, "Penalty notices
    counted"; dfe-rules.md §4.2).

    Counted: the notices of the ``penalty_notice_years`` period that holds ``as_of``, a period
    starting at the issue date of its first notice (:func:`_current_period`; on or after the
    framework's ``count_penalty_notices_from``), not withdrawn, to the same parent — a notice
    with no ``parent_id`` counts for every parent, and the figure is the most for any one
    parent. Unpaid: outcome ``unpaid``, or no outcome once the days to pay (beginning with
    receipt, 2 working days after issue) have run out, with no prosecution recorded since.
    """
    counted = np.zeros(n, dtype=np.int64)
    latest = np.full(n, _NAT, dtype="datetime64[D]")
    threshold_from = np.full(n, np.iinfo(np.int64).min // 4, dtype=np.int64)
    unpaid = np.zeros(n, dtype=np.int64)
    unpaid_dates: dict[int, list[dt.date]] = {}
    notes: dict[tuple[int, str], str] = {}
    by_parent: dict[int, dict[str, int]] = {}
    notices: dict[int, list[Any]] = {}
    prosecuted: dict[int, list[dt.date]] = {}
    for event in history.events:
        if event.event not in ("penalty_notice", "prosecution"):
            continue
        for row in rows_for(event.pupil_id, event.school_id):
            if event.event == "prosecution":
                prosecuted.setdefault(row, []).append(event.date)
            else:
                notices.setdefault(row, []).append(event)
    years = fw.penalty_notice_years
    for row, events in notices.items():
        issued = [e for e in events if e.date <= as_of]
        chosen = [
            e
            for e in issued
            if e.outcome != "withdrawn"
            and (fw.count_penalty_notices_from is None or e.date >= fw.count_penalty_notices_from)
        ]
        if chosen:
            parents = sorted({e.parent_id for e in chosen if e.parent_id is not None})
            periods = {
                p: _current_period(
                    [e.date for e in chosen if e.parent_id in (p, None)], as_of, years
                )
                for p in parents
            } or {"(parent not recorded)": _current_period([e.date for e in chosen], as_of, years)}
            by_parent[row] = {p: len(days) for p, days in periods.items()}
            counted[row] = max(by_parent[row].values())
            # sessions up to the latest notice never count again, whatever its period
            last = max(e.date for e in chosen)
            latest[row] = np.datetime64(last, "D")
            threshold_from[row] = _ordinal(last) + 1
            if counted[row]:
                first = min(min(days) for days in periods.values() if days)
                notes[(row, "penalty_notice_limit_reached")] = (
                    f"{counted[row]} penalty notice(s) in the {years}-year period from "
                    f"{_words_date(first)}, the latest {_words_date(last)}"
                )
        owing = []
        for e in issued:
            if e.outcome in ("paid", "withdrawn"):
                continue
            receipt = pd.Timestamp(
                np.busday_offset(day64(e.date), fw.penalty_notice_receipt_working_days, "forward")
            ).date()
            expired = as_of >= receipt + dt.timedelta(days=fw.penalty_notice_payment_days)
            if (e.outcome == "unpaid" or expired) and not any(
                d >= e.date for d in prosecuted.get(row, [])
            ):
                owing.append(e.date)
        if owing:
            unpaid[row] = len(owing)
            unpaid_dates[row] = sorted(owing)
            notes[(row, "penalty_notice_unpaid")] = "unpaid penalty notice(s) of " + _join(
                [_words_date(d) for d in sorted(owing)]
            )
    return _Penalties(counted, latest, threshold_from, unpaid, unpaid_dates, notes, by_parent)


def _check_improvement_periods(history: Any, items: Sequence[_Item], fw: Framework) -> None:
    """Warn (AttendanceWarning) of each notice to improve whose recorded improvement period
    lies outside the framework's 3 to 6 weeks; it is kept, and never ends before 3 weeks."""
    shortest, longest = fw.improvement_period_weeks
    for item in items:
        if item.action_id != "notice_to_improve" or item.status != "COMPLETED":
            continue
        if item.completed_on is None or item.due is None:
            continue
        _, outside = _improvement_period(item.completed_on, item.due, fw)
        if outside:
            days = (item.due - item.completed_on).days
            warnings.warn(
                f"pupil {item.pupil_id}: notice to improve of {item.completed_on.isoformat()} "
                f"has an improvement period of {days} days, outside {shortest} to {longest} "
                f"weeks; kept, and not ended before {shortest} weeks",
                AttendanceWarning,
                stacklevel=4,
            )


def recommend(  # noqa: PLR0917 - the order api.md promises
    reg: Register,
    pupils: pd.DataFrame | None = None,
    plans: Any = None,
    history: Any = None,
    as_of: Any = None,
    policy: str | Path | Mapping[str, Any] | Policy = "england-2024",
) -> list[NextStep]:
    """The next steps for every enrolment of ``reg``, by policy, with reasons and evidence.

    ``pupils`` (indexed by ``pupil_id``; optional ``school_id``) gives ``date_of_birth``,
    ``year_group`` and the cohort flags ``cin``, ``cp``, ``cic``, ``sen``, ``ehcp``,
    ``medical``, ``fsm``, ``youth_justice``. ``plans`` is an :class:`~attendance_core.ActionPlan`,
    a list of plans, or of items; items answer steps by ``pupil_id`` and ``action_id``.
    ``history`` is an :class:`~attendance_core.CaseHistory` or its table: the notices issued
    (with their improvement periods, parents and outcomes), notifications made and support
    recorded as not engaged or not worked; an event counts as the ``COMPLETED`` item
    answering the same step would, and an event with a ``school_id`` answers that school's
    enrolment only. ``as_of`` defaults to the latest date that carries a mark; marks after it
    are ignored. ``policy`` is ``"england-2024"``, ``"county-five-band"``, a TOML path, a
    mapping or a :class:`Policy`.

    Steps are ordered by school, pupil, stage order and action. Band conditions use the
    policy's scheme (five-band for the bundled ones) over the academic year of ``as_of`` to
    date; every rule is evaluated per enrolment on that school's calendar. A notice to
    improve whose improvement period is outside 3 to 6 weeks gives an
    :class:`~attendance_core.AttendanceWarning`.
    """
    pol = resolve_policy(policy)
    if reg.n_enrolments == 0 or len(reg.dates) == 0:
        return []
    day = as_date(reg.dates[-1]) if as_of is None else as_date(as_of, "as_of")
    figs, state = _decide(reg, pupils, plans=plans, history=history, day=day, pol=pol)
    return _steps(reg, figs, state, pol, day)


def _decide(
    reg: Register, pupils: Any, *, plans: Any, history: Any, day: dt.date, pol: Policy
) -> tuple[_Figures, _PlanState]:
    """The figures and plan terms of every enrolment, from the register, plans and history."""
    from .history import as_history

    fw = pol.framework
    hist = as_history(history)
    rows_for = _Rows(reg)
    pen = _penalties(hist, rows_for, reg.n_enrolments, day, fw)
    figs = _compute(
        reg, pupils_table(pupils), day, pol.scheme, threshold_from=pen.threshold_from, framework=fw
    )
    e = figs.enrolment
    e["penalty_notices_3_years"] = pen.counted
    e["rate"] = np.where(pen.counted == 0, "first", "second").astype(object)
    e["latest_penalty_notice"] = pen.latest
    e["unpaid_penalty_notices"] = pen.unpaid
    figs.date_lists["unpaid_penalty_notice_dates"] = pen.unpaid_dates
    figs.mappings["penalty_notices_by_parent"] = pen.by_parent
    items = [*_as_items(_plan_items(plans)), *_history_items(hist)]
    _check_improvement_periods(hist, items, fw)
    state = _plan_state(reg, figs, items=items, as_of=day, fw=fw, rows_for=rows_for)
    state.terms["penalty_notice_limit_reached"] = pen.counted >= fw.penalty_notice_limit
    state.terms["penalty_notice_unpaid"] = pen.unpaid > 0
    state.notes.update(
        (k, v)
        for k, v in pen.notes.items()
        if k[1] != "penalty_notice_limit_reached" or state.terms[k[1]][k[0]]
    )
    for event in hist.events:
        if event.event in ("support_not_engaged", "support_not_worked") and event.date <= day:
            for row in rows_for(event.pupil_id, event.school_id):
                state.terms["support_not_worked"][row] = True
                state.terms["support_recorded"][row] = True
                words = "not engaged with" if event.event == "support_not_engaged" else "not worked"
                state.notes.setdefault(
                    (row, "support_not_worked"),
                    f"history: support {words}, recorded {_words_date(event.date)}",
                )
    return figs, state


def _hidden(
    rule: Rule,
    figs: _Figures,
    state: _PlanState,
    *,
    fw: Framework,
    enrol: npt.NDArray[np.int64],
    reg: Register,
) -> npt.NDArray[np.bool_]:
    """Where a rule's step is already answered: an open item, or a record of it (COMPLETED
    item or history event) — for 30 school days, or for a once-only duty (``once``) for the
    rest of the run or of the academic year in which it is dated."""
    size = len(enrol)
    hidden = np.zeros(size, dtype=bool)
    opened = state.open.get(rule.action)
    if opened is not None:
        hidden |= opened[enrol]
    records = state.done.get(rule.action)
    if not records:
        return hidden
    as_ord = _ordinal(figs.as_of)
    if rule.once is None:
        answered = np.zeros(figs.n, dtype=bool)
        for row, done_ord in records:
            cal = figs.calendars[int(reg.school_index[row])]
            if (
                done_ord is None
                or done_ord > as_ord
                or cal.days_between(done_ord, as_ord) <= fw.completed_suppresses_days
            ):
                answered[row] = True
        return hidden | answered[enrol]
    dated: dict[int, list[int]] = {}
    for row, done_ord in records:
        when = as_ord if done_ord is None else done_ord
        if when <= as_ord:
            dated.setdefault(row, []).append(when)
    if rule.once == "academic_year":
        year_ord = _ordinal(academic_year_start(figs.as_of))
        answered = np.zeros(figs.n, dtype=bool)
        for row, whens in dated.items():
            answered[row] = any(w >= year_ord for w in whens)
        return hidden | answered[enrol]
    # once per run: a record dated from the run's first day to before the next run's first
    # day (a notification made the day the pupil came back still belongs to that run)
    starts = (figs.runs["run_start"] - _EPOCH).astype(np.int64)
    runs_enrol = figs.runs["enrolment"]
    for i in range(size):
        run_whens = dated.get(int(runs_enrol[i]))
        if not run_whens:
            continue
        nxt = (
            int(starts[i + 1])
            if i + 1 < size and runs_enrol[i + 1] == runs_enrol[i]
            else np.iinfo(np.int64).max
        )
        hidden[i] |= any(int(starts[i]) <= w < nxt for w in run_whens)
    return hidden


def _rule_rows(
    rule: Rule, figs: _Figures
) -> tuple[npt.NDArray[np.int64] | None, int, npt.NDArray[np.int64]]:
    """What a rule is evaluated over: the runs table (its index into it, its size, the
    enrolment of each run) or every enrolment (no index)."""
    if rule.each == "run":
        idx: npt.NDArray[np.int64] = figs.runs["enrolment"]
        return idx, len(idx), idx
    return None, figs.n, np.arange(figs.n, dtype=np.int64)


def _fires(
    rule: Rule, figs: _Figures, state: _PlanState, pol: Policy, reg: Register
) -> tuple[npt.NDArray[np.int64], dict[int, list[tuple[str, bool]]]]:
    """Where ``rule`` fires (indices over what it is evaluated on) and, for enrolment rules,
    the rows it would fire on but a gate withholds, with the terms that withhold it
    (term, required)."""
    idx, size, enrol = _rule_rows(rule, figs)
    mask = figs.in_scope[enrol].copy()
    for cond in rule.when:
        if not mask.any():
            break
        mask &= _evaluate(cond, figs, idx, size)
    if rule.compulsory_age:
        mask &= figs.enrolment["compulsory_school_age"][enrol] != 0
    ok = mask.copy()
    failures: list[tuple[str, bool, npt.NDArray[np.bool_]]] = []
    for gate_list, required in ((rule.requires, True), (rule.unless, False)):
        for gate in gate_list:
            applies = (
                np.ones(size, dtype=bool)
                if gate.condition is None
                else _evaluate(gate.condition, figs, idx, size)
            )
            term = state.terms[gate.term][enrol]
            bad = applies & (~term if required else term)
            if bad.any():
                failures.append((gate.term, required, bad & mask))
            ok &= ~bad
    hidden = _hidden(rule, figs, state, fw=pol.framework, enrol=enrol, reg=reg)
    ok &= ~hidden
    per_row: dict[int, list[tuple[str, bool]]] = {}
    if rule.each == "enrolment" and failures:
        held = mask & ~ok & ~hidden
        if held.any():
            for term_name, required, bad in failures:
                for r in np.flatnonzero(bad & held):
                    per_row.setdefault(int(r), []).append((term_name, required))
    return np.flatnonzero(ok), per_row


def _figure_columns(
    rule: Rule,
    figs: _Figures,
    where: npt.NDArray[np.int64],
    enrol: npt.NDArray[np.int64],
    band_ids: Sequence[str],
) -> dict[str, list[Any]]:
    """The rule's shown figures that are plain arrays, as Python values for the rows it fires
    on (dates, mappings and lazily worded figures are read per step instead)."""
    columns: dict[str, list[Any]] = {}
    for name in rule.shown:
        kind = FIGURES[name].kind
        if kind in ("dates", "mapping") or name in _LAZY_TEXT:
            continue
        values = (
            figs.runs[name][where] if FIGURES[name].axis == "run" else figs.enrolment[name][enrol]
        )
        if kind == "band":
            columns[name] = [None if b < 0 else band_ids[b] for b in values.tolist()]
        elif kind == "date":
            columns[name] = [_plain(v, kind) for v in values]
        else:
            columns[name] = [_plain(v, kind) for v in values.tolist()]
    return columns


def _withheld_note(
    rule: Rule,
    row: int,
    withheld: Mapping[str, Mapping[int, list[tuple[str, bool]]]],
    pol: Policy,
    evidence: dict[str, Any],
) -> str | None:
    """The next withheld enforcement step that still needs something recorded (one held back
    only by an "unless" term, e.g. a recent notice, comes last): staff procedure, so it goes to
    the note, never into the reason a parent reads. Records it in ``evidence["withheld"]``."""
    held_back = [
        (other, withheld[other][row])
        for other in rule.explain_withheld
        if row in withheld.get(other, {})
    ]
    if not held_back:
        return None
    held_back.sort(key=lambda h: not any(required for _, required in h[1]))
    other, missing = held_back[0]
    target = pol.rule(other)
    evidence["withheld"] = {
        "rule": other,
        "action": target.action,
        "missing": [t for t, _ in missing],
    }
    return _missing_text(target, missing)


def _rule_steps(
    rule: Rule,
    where: npt.NDArray[np.int64],
    *,
    reg: Register,
    figs: _Figures,
    state: _PlanState,
    pol: Policy,
    day: dt.date,
    withheld: Mapping[str, Mapping[int, list[tuple[str, bool]]]],
    seen: set[tuple[int, str]],
) -> Iterable[NextStep]:
    """The steps of one rule on the rows where it fires (an action once per enrolment)."""
    due = _weekdays_after(day, rule.due)
    labels = {b.id: b.label.lower() for b in pol.scheme.bands}
    fields = [f for _, f, _, _ in string.Formatter().parse(rule.reason) if f]
    enrol = figs.runs["enrolment"][where] if rule.each == "run" else where
    columns = _figure_columns(rule, figs, where, enrol, pol.scheme.band_ids)
    flag_cols = {
        f: figs.flags[f][enrol].tolist()
        for f in FLAGS
        if f in rule.evidence or f"{{{f}}}" in rule.reason
    }
    age_col = figs.enrolment["compulsory_school_age"][enrol].tolist()
    for j, row in enumerate(enrol.tolist()):
        if rule.each == "enrolment":
            if (row, rule.action) in seen:
                continue
            seen.add((row, rule.action))
        evidence: dict[str, Any] = {}
        for name in rule.shown:
            kind = FIGURES[name].kind
            if kind == "dates":
                evidence[name] = list(figs.date_lists.get(name, {}).get(row, []))
            elif kind == "mapping":
                evidence[name] = dict(figs.mappings.get(name, {}).get(row, {}))
            elif name in _LAZY_TEXT:
                evidence[name] = _LAZY_TEXT[name](figs, row)
            elif name != "compulsory_school_age":
                evidence[name] = columns[name][j]
        for f, vals in flag_cols.items():
            evidence[f] = bool(vals[j])
        if rule.compulsory_age:
            evidence["compulsory_school_age"] = _plain(age_col[j], "age")
        met = [
            g.term
            for g in rule.requires
            if (row, g.term) in state.notes and state.terms[g.term][row]
        ]
        if met:
            evidence["plan"] = {t: state.notes[(row, t)] for t in met}
        reason = _fill(rule.reason, fields, evidence, labels)
        note = _withheld_note(rule, row, withheld, pol, evidence)
        yield NextStep(
            pupil_id=str(reg.pupil_ids[row]),
            school_id=None if reg.school_ids is None else str(reg.school_ids[row]),
            stage=rule.stage,
            action=rule.action,
            lead=rule.lead,
            due=due,
            rule=rule.id,
            reason=reason,
            evidence=evidence,
            note=note,
        )


def _steps(
    reg: Register, figs: _Figures, state: _PlanState, pol: Policy, day: dt.date
) -> list[NextStep]:
    # first pass: where each rule fires and where it is withheld by a gate (a later rule's
    # note may explain an earlier one, so every rule is evaluated before any step is built)
    fired: dict[str, npt.NDArray[np.int64]] = {}
    withheld: dict[str, dict[int, list[tuple[str, bool]]]] = {}
    for rule in pol.rules:
        fired[rule.id], per_row = _fires(rule, figs, state, pol, reg)
        if per_row:
            withheld[rule.id] = per_row
    # second pass: build the steps
    steps: list[NextStep] = []
    seen: set[tuple[int, str]] = set()
    for rule in pol.rules:
        if len(fired[rule.id]):
            steps.extend(
                _rule_steps(
                    rule,
                    fired[rule.id],
                    reg=reg,
                    figs=figs,
                    state=state,
                    pol=pol,
                    day=day,
                    withheld=withheld,
                    seen=seen,
                )
            )
    steps.sort(key=lambda s: (s.school_id or "", s.pupil_id, s.stage.order, s.action))
    return steps


def _kinds_10_weeks(figs: _Figures, row: int) -> str:
    """The 10-week window's threshold sessions by what their codes mean, for a parent."""
    e = figs.enrolment
    total = int(e["unauthorised_sessions_10_weeks"][row])
    holiday = int(e["holiday_sessions_10_weeks"][row])
    unknown = int(e["unexplained_sessions_10_weeks"][row])
    late = int(e["late_after_close_sessions_10_weeks"][row])
    other = total - holiday - unknown - late
    parts = [
        f"{k} {words}"
        for k, words in (
            (holiday, "for a holiday the school did not agree"),
            (unknown, "whose reason is not yet known"),
            (late, "arriving after the register closed"),
            (other, "of other absence the school did not authorise"),
        )
        if k
    ]
    return _join(parts) if parts else "none"


#: Text figures written from other figures, only for the steps that show them.
_LAZY_TEXT: Mapping[str, Any] = {"unauthorised_kinds_10_weeks": _kinds_10_weeks}


def _fill(
    template: str, fields: Sequence[str], evidence: Mapping[str, Any], labels: Mapping[str, str]
) -> str:
    values: dict[str, str] = {}
    for name in fields:
        value = evidence.get(name)
        if name in FIGURES:
            values[name] = _text(value, FIGURES[name].kind, labels)
        elif name in FLAGS:
            values[name] = "yes" if value else "no"
    return template.format_map(_Defaulting(values))


class _Defaulting(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return "not known"


def step_figures(
    reg: Register,
    pupils: pd.DataFrame | None = None,
    as_of: Any = None,
    policy: str | Path | Mapping[str, Any] | Policy = "england-2024",
    *,
    plans: Any = None,
    history: Any = None,
) -> pd.DataFrame:
    """The per-enrolment figures :func:`recommend` decides on, as a DataFrame.

    One row per enrolment (indexed like :func:`~attendance_core.classify`), one column per
    enrolment figure of the policy vocabulary (``n_dates`` as lists of dates) plus
    ``longest_run_days`` (the longest run of qualifying days up to ``as_of``), the cohort
    flags and the plan terms (``plans`` and ``history`` as for :func:`recommend`). Useful to
    check why a step did or did not fire.
    """
    pol = resolve_policy(policy)
    if as_of is None and not len(reg.dates):
        raise ValueError("the register has no marks: give as_of")
    day = as_date(reg.dates[-1]) if as_of is None else as_date(as_of)
    figs, state = _decide(reg, pupils, plans=plans, history=history, day=day, pol=pol)
    data: dict[str, Any] = {}
    ids = pol.scheme.band_ids
    for name, fig in FIGURES.items():
        if fig.axis != "enrolment":
            continue
        if name in _LAZY_TEXT:
            data[name] = [_LAZY_TEXT[name](figs, i) for i in range(figs.n)]
        elif fig.kind == "dates":
            data[name] = [figs.date_lists.get(name, {}).get(i, []) for i in range(figs.n)]
        elif fig.kind == "mapping":
            data[name] = [dict(figs.mappings.get(name, {}).get(i, {})) for i in range(figs.n)]
        elif fig.kind == "band":
            data[name] = pd.Categorical.from_codes(
                figs.enrolment[name].astype(np.int64), categories=pd.Index(list(ids))
            )
        elif fig.kind == "age":
            data[name] = np.array(
                [_plain(v, "age") for v in figs.enrolment[name].tolist()], dtype=object
            )
        else:
            data[name] = figs.enrolment[name]
    longest = np.zeros(figs.n, dtype=np.int64)
    if len(figs.runs["enrolment"]):
        np.maximum.at(longest, figs.runs["enrolment"], figs.runs["run_days"])
    data["longest_run_days"] = longest
    for f in FLAGS:
        data[f] = figs.flags[f]
    for term, values in state.terms.items():
        data[term] = values
    data["in_scope"] = figs.in_scope
    return pd.DataFrame(data, index=reg.index())
