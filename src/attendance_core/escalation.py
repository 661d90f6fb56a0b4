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
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import numpy.typing as npt
import pandas as pd

from .age import compulsory_school_age_of
from .bands import BandScheme
from .calendar import academic_year_start, as_date
from .codes import Category
from .policy import (
    FIGURES,
    FLAGS,
    PLAN_TERMS,
    BandCondition,
    BandMove,
    Compare,
    Condition,
    Flagged,
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
#: School days a COMPLETED item keeps answering its step.
COMPLETED_SUPPRESSES_FOR = 30
#: School days after completion before the attendance comparison can say support did not work.
SUPPORT_CHECK_MIN_DAYS = 15
N_RESOLVE_DAYS = 5

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
)

# classes of a mark for counting
_NONE, _ATT, _G, _N, _OU, _I, _M, _AUTH, _UNAUTH = range(9)
_K = 9
_CHUNK_CELLS = 6_000_000
_NAT = np.datetime64("NaT", "D")
_EPOCH = np.datetime64("1970-01-01", "D")


@attrs.frozen
class NextStep:
    """One recommended step for one enrolment (api.md, "Recommend").

    ``due`` counts weekdays after ``as_of``; ``evidence`` maps figure names to the values
    behind the step (counts as ``int``, days as ``float`` with halves kept, dates as
    ``datetime.date``, bands as band ids).
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
def _class_lut(reg: Register) -> npt.NDArray[np.uint8]:
    lut = np.zeros(256, dtype=np.uint8)
    for i, (_, code, cat) in enumerate(reg.codes.entries):
        if cat is None or not cat.possible:
            continue
        if cat.attendance:
            lut[i] = _ATT
        elif code == "G":
            lut[i] = _G
        elif code == "N":
            lut[i] = _N
        elif code in ("O", "U"):
            lut[i] = _OU
        elif cat is Category.UNAUTHORISED:
            lut[i] = _UNAUTH
        elif code == "I":
            lut[i] = _I
        elif code == "M":
            lut[i] = _M
        else:
            lut[i] = _AUTH
    return lut


def _row_counts(cls: npt.NDArray[np.uint8], lo: int, hi: int) -> npt.NDArray[np.int64]:
    """Counts of each class per row over columns ``lo:hi`` (rows × classes)."""
    m = cls.shape[0]
    if hi <= lo or m == 0:
        return np.zeros((m, _K), dtype=np.int64)
    block = cls[:, lo:hi]
    flat = (np.arange(m, dtype=np.int64)[:, None] * _K + block).ravel()
    return np.bincount(flat, minlength=m * _K).reshape(m, _K)


def _ordinal(day: dt.date) -> int:
    return (day - dt.date(1970, 1, 1)).days


@attrs.define(eq=False)
class _SchoolDays:
    """One school's calendar up to ``as_of`` as ordinal arrays (for windows and ages)."""

    days: npt.NDArray[np.int64]  # ordinals of school days ≤ as_of, ascending
    weeks: npt.NDArray[np.int64]  # ordinals of the Mondays of school weeks ≤ as_of's week

    def week_window_start(self, end: int, n: int) -> int:
        """First Monday of the n-week window ending on ``end`` (calendar.week_window)."""
        monday = end - (end + 3) % 7
        before = self.weeks[self.weeks < monday]
        earlier = before[max(0, len(before) - (n - 1)) :] if n > 1 else before[:0]
        return int(earlier[0]) if len(earlier) else monday

    def weeks_up_to(self, end: int) -> int:
        return int(np.count_nonzero(self.weeks <= end))

    def days_between(self, after: int, up_to: int) -> int:
        """School days strictly after ``after`` up to and including ``up_to``."""
        lo = int(np.searchsorted(self.days, after, "right"))
        hi = int(np.searchsorted(self.days, up_to, "right"))
        return max(0, hi - lo)

    def days_before(self, before: int, n: int) -> tuple[int, int]:
        """The ``n`` school days strictly before ``before``, as (first, last) ordinals, or
        (0, -1) when there are none."""
        hi = int(np.searchsorted(self.days, before, "left"))
        lo = max(0, hi - n)
        if hi <= lo:
            return 0, -1
        return int(self.days[lo]), int(self.days[hi - 1])


@attrs.define(eq=False)
class _Figures:
    as_of: dt.date
    n: int
    enrolment: dict[str, npt.NDArray[Any]]
    runs: dict[str, npt.NDArray[Any]]
    n_dates: dict[int, list[dt.date]]
    in_scope: npt.NDArray[np.bool_]
    flags: dict[str, npt.NDArray[np.bool_]]
    calendars: list[_SchoolDays]
    stop: int  # date index after the last date ≤ as_of
    lut: npt.NDArray[np.uint8]
    band_ids: tuple[str, ...]


def _compute(
    reg: Register, pupils: pd.DataFrame | None, as_of: dt.date, scheme: BandScheme
) -> _Figures:
    n = reg.n_enrolments
    dates = reg.dates
    stop = int(np.searchsorted(dates, np.datetime64(as_of, "D"), "right"))
    dord = (dates[:stop] - _EPOCH).astype(np.int64)
    as_ord = _ordinal(as_of)
    ay_ord = _ordinal(academic_year_start(as_of))
    ay_lo = int(np.searchsorted(dord, ay_ord, "left"))
    monday = as_ord - (as_ord + 3) % 7
    lut = _class_lut(reg)

    e: dict[str, npt.NDArray[Any]] = {
        name: np.zeros(n, dtype=np.int64)
        for name in (
            "unauthorised_sessions_10_weeks",
            "holiday_sessions_10_weeks",
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
    }
    e["oldest_n_age"] = np.full(n, -1, dtype=np.int64)
    e["window_start"] = np.full(n, _NAT, dtype="datetime64[D]")
    e["has_4_weeks_ago"] = np.zeros(n, dtype=bool)
    run_parts: dict[str, list[npt.NDArray[Any]]] = {
        k: []
        for k in (
            "enrolment",
            "run_days",
            "run_days_before_year",
            "run_start",
            "run_end",
            "run_tenth_day",
            "run_ongoing",
        )
    }
    n_dates: dict[int, list[dt.date]] = {}
    calendars: list[_SchoolDays] = []
    is_unauth = np.zeros(_K, dtype=bool)
    is_unauth[[_G, _N, _OU]] = True

    for s, block in enumerate(reg.school_blocks()):
        ss = reg.school_sessions[s, : 2 * stop]
        sday = ss[0::2] | ss[1::2]
        sd_idx = np.flatnonzero(sday)
        sd_ord = dord[sd_idx]
        week_of = dord - (dord + 3) % 7
        weeks = np.unique(week_of[sday])
        cal = _SchoolDays(days=sd_ord, weeks=weeks)
        calendars.append(cal)
        if block.stop <= block.start or stop == 0:
            continue
        cum = np.cumsum(sday)
        total = int(cum[-1])
        win10 = cal.week_window_start(as_ord, 10)
        win10_lo = int(np.searchsorted(dord, win10, "left"))
        win4_lo = int(np.searchsorted(dord, cal.week_window_start(as_ord, 4), "left"))
        ten_lo = (
            int(sd_idx[-10]) if len(sd_idx) >= 10 else (int(sd_idx[0]) if len(sd_idx) else stop)
        )
        before = weeks[weeks < monday]
        cut = -1
        if len(before) >= 4:
            cut_ord = int(before[-4]) + (as_ord - monday)
            cut = int(np.searchsorted(dord, cut_ord, "right"))
            if cut <= ay_lo:
                cut = -1
        split = cut if cut >= 0 else ay_lo
        ay_sd_lo = int(np.searchsorted(sd_ord, ay_ord, "left"))
        today = stop - 1 if dord[stop - 1] == as_ord else -1
        sd_dates = sd_ord.astype("datetime64[D]")
        nsd = len(sd_idx)
        step = max(1, _CHUNK_CELLS // max(2 * stop, 1))
        e["window_start"][block] = np.datetime64(int(win10), "D")
        for r0 in range(block.start, block.stop, step):
            r1 = min(block.stop, r0 + step)
            rows = slice(r0, r1)
            cls = lut[reg.marks[r0:r1, : 2 * stop]]
            c10 = _row_counts(cls, 2 * win10_lo, 2 * stop)
            e["unauthorised_sessions_10_weeks"][rows] = c10[:, is_unauth].sum(axis=1)
            e["holiday_sessions_10_weeks"][rows] = c10[:, _G]
            c10d = _row_counts(cls, 2 * ten_lo, 2 * stop)
            e["unauthorised_sessions_10_days"][rows] = c10d[:, [_G, _N, _OU, _UNAUTH]].sum(axis=1)
            c4 = _row_counts(cls, 2 * win4_lo, 2 * stop)
            e["illness_sessions_4_weeks"][rows] = c4[:, _I]
            e["appointment_sessions_4_weeks"][rows] = c4[:, _M]
            early = _row_counts(cls, 2 * ay_lo, 2 * split)
            late = _row_counts(cls, 2 * split, 2 * stop)
            year = early + late
            possible = year[:, 1:].sum(axis=1)
            e["possible_sessions"][rows] = possible
            e["attended_sessions"][rows] = year[:, _ATT]
            e["illness_sessions"][rows] = year[:, _I]
            if cut >= 0:
                e["possible_4_weeks_ago"][rows] = early[:, 1:].sum(axis=1)
                e["attended_4_weeks_ago"][rows] = early[:, _ATT]
                e["has_4_weeks_ago"][rows] = True
            if today >= 0:
                e["n_sessions_today"][rows] = (cls[:, 2 * today] == _N).astype(np.int64) + (
                    cls[:, 2 * today + 1] == _N
                )
            # age of each N: school days strictly after its date, up to as_of
            nr, nc = np.nonzero(cls == _N)
            if len(nr):
                age = total - cum[nc // 2]
                oldest = np.full(r1 - r0, -1, dtype=np.int64)
                np.maximum.at(oldest, nr, age)
                e["oldest_n_age"][rows] = oldest
                over = age > N_RESOLVE_DAYS
                e["overdue_n_sessions"][rows] = np.bincount(nr[over], minlength=r1 - r0)
                if over.any():
                    pairs = np.unique(nr[over].astype(np.int64) * stop + nc[over] // 2)
                    prow, pday = pairs // stop, pairs % stop
                    bounds = np.flatnonzero(np.diff(prow)) + 1
                    for grp_rows, grp_days in zip(
                        np.split(prow, bounds), np.split(pday, bounds), strict=True
                    ):
                        n_dates[r0 + int(grp_rows[0])] = [
                            dt.date(1970, 1, 1) + dt.timedelta(days=int(dord[d])) for d in grp_days
                        ]
            # runs of qualifying days on this school's school days
            if nsd:
                am = cls[:, 2 * sd_idx]
                pm = cls[:, 2 * sd_idx + 1]
                poss = (am > 0).astype(np.int8) + (pm > 0)
                qual_n = is_unauth[am].astype(np.int8) + is_unauth[pm]
                qual = (poss > 0) & (qual_n == poss)
                brk = (poss > 0) & (qual_n < poss)
                last_break = np.maximum.accumulate(
                    np.where(brk, np.arange(nsd, dtype=np.int32), np.int32(-1)), axis=1
                )
                qr, qc = np.nonzero(qual)
                if len(qr):
                    key = qr.astype(np.int64) * (nsd + 1) + last_break[qr, qc] + 1
                    starts = np.concatenate(([0], np.flatnonzero(np.diff(key)) + 1))
                    ends = np.concatenate((starts[1:], [len(key)])) - 1
                    length = ends - starts + 1
                    before_year = np.add.reduceat((qc < ay_sd_lo).astype(np.int64), starts)
                    tenth = np.full(len(starts), _NAT, dtype="datetime64[D]")
                    long_runs = length >= 10
                    tenth[long_runs] = sd_dates[qc[starts[long_runs] + 9]]
                    run_rows = qr[starts]
                    run_parts["enrolment"].append(r0 + run_rows.astype(np.int64))
                    run_parts["run_days"].append(length.astype(np.int64))
                    run_parts["run_days_before_year"].append(before_year)
                    run_parts["run_start"].append(sd_dates[qc[starts]])
                    run_parts["run_end"].append(sd_dates[qc[ends]])
                    run_parts["run_tenth_day"].append(tenth)
                    run_parts["run_ongoing"].append(last_break[run_rows, -1] < qc[ends])

    runs: dict[str, npt.NDArray[Any]] = {}
    empties: dict[str, Any] = {
        "run_start": "datetime64[D]",
        "run_end": "datetime64[D]",
        "run_tenth_day": "datetime64[D]",
        "run_ongoing": bool,
    }
    for k, parts in run_parts.items():
        runs[k] = np.concatenate(parts) if parts else np.zeros(0, dtype=empties.get(k, np.int64))

    # derived figures
    possible = e["possible_sessions"]
    attended = e["attended_sessions"]
    e["absent_sessions"] = possible - attended
    e["days_missed"] = e["absent_sessions"] / 2.0
    e["unauthorised_days_10_weeks"] = e["unauthorised_sessions_10_weeks"] / 2.0
    e["illness_days"] = e["illness_sessions"] / 2.0
    e["holiday_only"] = (e["unauthorised_sessions_10_weeks"] > 0) & (
        e["holiday_sessions_10_weeks"] == e["unauthorised_sessions_10_weeks"]
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        e["attendance_rate"] = np.where(possible > 0, attended / np.maximum(possible, 1), np.nan)
        p4, a4 = e["possible_4_weeks_ago"], e["attended_4_weeks_ago"]
        e["attendance_rate_4_weeks_ago"] = np.where(
            e["has_4_weeks_ago"] & (p4 > 0), a4 / np.maximum(p4, 1), np.nan
        )
    e["band"] = scheme.assign(attended, possible)
    e["band_4_weeks_ago"] = np.where(e["has_4_weeks_ago"], scheme.assign(a4, p4), -1)

    # pupils table: cohort flags and compulsory school age
    positions = _pupil_positions(reg, pupils)
    flags = {f: _flag_values(pupils, f, positions) for f in FLAGS}
    e["compulsory_school_age"] = compulsory_school_age_of(pupils, positions, as_of)

    span_end = reg.span[:, 1] if n else np.zeros(0, np.int64)
    span_start = reg.span[:, 0] if n else np.zeros(0, np.int64)
    in_scope = (span_end >= 2 * ay_ord) & (span_start <= 2 * as_ord + 1)
    return _Figures(
        as_of=as_of,
        n=n,
        enrolment=e,
        runs=runs,
        n_dates=n_dates,
        in_scope=in_scope,
        flags=flags,
        calendars=calendars,
        stop=stop,
        lut=lut,
        band_ids=scheme.band_ids,
    )


def _id_text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _id_index(values: Any) -> pd.Index:
    """Identifiers as stripped text (``1234.0`` read by a CSV parser becomes ``1234``),
    normalising each distinct value once."""
    codes, uniques = pd.factorize(pd.Index(values, dtype=object), use_na_sentinel=False)
    texts = np.array([_id_text(u) for u in uniques], dtype=object)
    index: pd.Index = pd.Index(texts[codes] if len(codes) else texts[:0], dtype=object)
    return index


def _pupil_table(pupils: pd.DataFrame | None) -> pd.DataFrame | None:
    """The pupils table indexed by pupil_id (a ``pupil_id`` column is moved to the index)."""
    if pupils is None:
        return None
    if not isinstance(pupils, pd.DataFrame):
        raise TypeError(f"pupils must be a pandas DataFrame (got {type(pupils).__name__})")
    if "pupil_id" in pupils.columns and pupils.index.name != "pupil_id":
        return pupils.set_index("pupil_id")
    return pupils


def _pupil_positions(reg: Register, pupils: pd.DataFrame | None) -> npt.NDArray[np.int64]:
    """Row position in ``pupils`` of each enrolment (-1: not in the table).

    Matched on (school_id, pupil_id) when both sides have school ids, else on pupil_id alone.
    """
    n = reg.n_enrolments
    if pupils is None or not len(pupils) or n == 0:
        return np.full(n, -1, dtype=np.int64)
    ids = _id_index(pupils.index)
    wanted = pd.Index(reg.pupil_ids.astype(str), dtype=object)  # already normalised
    by_pupil = pd.Series(np.arange(len(ids)), index=ids)
    by_pupil = by_pupil[~by_pupil.index.duplicated(keep="first")]
    out = by_pupil.reindex(wanted).fillna(-1).to_numpy(dtype=np.int64)
    if "school_id" in pupils.columns and reg.school_ids is not None:
        keys = pd.MultiIndex.from_arrays([_id_index(pupils["school_id"]), ids])
        by_both = pd.Series(np.arange(len(ids)), index=keys)
        by_both = by_both[~by_both.index.duplicated(keep="first")]
        want2 = pd.MultiIndex.from_arrays(
            [pd.Index(reg.school_ids.astype(str), dtype=object), wanted]
        )
        exact = by_both.reindex(want2).fillna(-1).to_numpy(dtype=np.int64)
        out = np.where(exact >= 0, exact, out)
    return out


_TRUE_WORDS = frozenset({"true", "t", "yes", "y", "1", "1.0"})


def _truthy(value: Any) -> bool:
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if value is None or pd.isna(value):
        return False
    return str(value).strip().lower() in _TRUE_WORDS


def _flag_values(
    pupils: pd.DataFrame | None, flag: str, positions: npt.NDArray[np.int64]
) -> npt.NDArray[np.bool_]:
    if pupils is None or flag not in pupils.columns:
        return np.zeros(len(positions), dtype=bool)
    codes, uniques = pd.factorize(pupils[flag].astype(object), use_na_sentinel=True)
    truth = np.array([_truthy(u) for u in uniques] + [False], dtype=bool)
    values = np.append(truth[codes], False)
    col = codes
    result: npt.NDArray[np.bool_] = values[np.where(positions >= 0, positions, len(col))]
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


@attrs.define(eq=False)
class _PlanState:
    terms: dict[str, npt.NDArray[np.bool_]]
    suppressed: dict[str, npt.NDArray[np.bool_]]  # action -> per enrolment
    notes: dict[tuple[int, str], str]  # (enrolment, term) -> what showed it


def _plan_state(reg: Register, figs: _Figures, plans: Any, as_of: dt.date) -> _PlanState:
    n = figs.n
    terms = {t: np.zeros(n, dtype=bool) for t in PLAN_TERMS}
    suppressed: dict[str, npt.NDArray[np.bool_]] = {}
    notes: dict[tuple[int, str], str] = {}
    items = _plan_items(plans)
    if not items or n == 0:
        return _PlanState(terms, suppressed, notes)
    as_ord = _ordinal(as_of)
    rows_of = pd.Series(np.arange(n), index=pd.Index(reg.pupil_ids.astype(str), dtype=object))
    groups = rows_of.groupby(level=0).indices
    checks: list[tuple[int, Any, int]] = []  # (row, item, completed ordinal)
    for item in items:
        rows = groups.get(_id_text(item.pupil_id))
        if rows is None:
            continue
        status = _status(item)
        action = str(item.action_id)
        done = getattr(item, "completed_on", None)
        done_ord = None if done is None else _ordinal(as_date(done))
        due = getattr(item, "due", None)
        due_ord = None if due is None else _ordinal(as_date(due))
        for row_no in rows:
            row = int(row_no)
            cal = figs.calendars[int(reg.school_index[row])]
            # suppression of the step the item answers
            hide = status in OPEN_STATUSES or (
                status == "COMPLETED"
                and (
                    done_ord is None
                    or (
                        done_ord <= as_ord
                        and cal.days_between(done_ord, as_ord) <= COMPLETED_SUPPRESSES_FOR
                    )
                    or done_ord > as_ord
                )
            )
            if hide:
                suppressed.setdefault(action, np.zeros(n, dtype=bool))[row] = True
            if action in SUPPORT_ACTIONS:
                terms["support_recorded"][row] = True
                if status == "OVERDUE":
                    terms["support_not_worked"][row] = True
                    notes[(row, "support_not_worked")] = f"item {item.id} is overdue"
                elif status == "COMPLETED" and done_ord is not None and done_ord <= as_ord:
                    checks.append((row, item, done_ord))
            if status != "COMPLETED":
                continue
            if action == "consult_attendance_officer":
                terms["consultation_recorded"][row] = True
                notes[(row, "consultation_recorded")] = f"item {item.id}"
            elif action == "agree_with_social_worker":
                terms["social_worker_agreement_recorded"][row] = True
                notes[(row, "social_worker_agreement_recorded")] = f"item {item.id}"
            elif action == "consider_penalty_notice":
                terms["penalty_notice_recorded"][row] = True
                notes[(row, "penalty_notice_recorded")] = f"item {item.id}"
            elif action == "notice_to_improve":
                issued = done_ord if done_ord is not None else due_ord
                window = cal.week_window_start(as_ord, 10)
                if issued is None or window <= issued <= as_ord:
                    terms["notice_to_improve_recent"][row] = True
                if due_ord is not None and due_ord < as_ord:
                    terms["notice_to_improve_period_passed"][row] = True
                    notes[(row, "notice_to_improve_period_passed")] = (
                        f"item {item.id}, improvement period ended {_words_date(due_ord)}"
                    )
    if checks:
        _support_checks(reg, figs=figs, checks=checks, as_of=as_of, terms=terms, notes=notes)
    return _PlanState(terms, suppressed, notes)


def _words_date(ordinal: int) -> str:
    day = dt.date(1970, 1, 1) + dt.timedelta(days=ordinal)
    return f"{day.day} {day:%B %Y}"


def _support_checks(
    reg: Register,
    *,
    figs: _Figures,
    checks: list[tuple[int, Any, int]],
    as_of: dt.date,
    terms: dict[str, npt.NDArray[np.bool_]],
    notes: dict[tuple[int, str], str],
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
    cum_una = cumulative((cls == _G) | (cls == _N) | (cls == _OU) | (cls == _UNAUTH))

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
                    verdict = f"item {item.id}: {una} unauthorised sessions against its measure"
                elif enough and measure.kind == "attendance" and pos > 0:
                    assert measure.percent is not None
                    lhs = att * 100 * measure.percent.denominator
                    rhs = measure.percent.numerator * pos
                    met = lhs > rhs if measure.comparison == ">" else lhs >= rhs
                    if not met:
                        verdict = (
                            f"item {item.id}: attendance {100 * att / pos:.1f}% below its measure"
                        )
        if verdict is None:
            days_after = cal.days_between(done_ord, as_ord)
            if days_after >= SUPPORT_CHECK_MIN_DAYS:
                a_att, a_pos, _ = window(int(k), done_ord + 1, as_ord)
                first, last = cal.days_before(done_ord, days_after)
                b_att, b_pos, _ = window(int(k), first, last)
                # rate after <= rate before, on integers: a_att/a_pos <= b_att/b_pos
                if a_pos > 0 and b_pos > 0 and a_att * b_pos <= b_att * a_pos:
                    verdict = (
                        f"item {item.id}: attendance {100 * a_att / a_pos:.1f}% over "
                        f"{days_after} school days since, against "
                        f"{100 * b_att / b_pos:.1f}% before"
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
        return f"{100 * value:.1f}%"
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


def _missing_text(rule: Rule, failed: list[tuple[str, bool]]) -> str:
    """'a notice to improve still needs X and Y' for the gates that failed."""
    needs = [PLAN_TERMS[t].missing for t, is_required in failed if is_required]
    blocks = [PLAN_TERMS[t].present for t, is_required in failed if not is_required]
    parts = []
    if needs:
        parts.append(f"{rule.label} still needs " + _join(needs))
    if blocks:
        parts.append(f"{rule.label} is held back because " + _join(blocks))
    return "; ".join(parts)


def _join(words: Sequence[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


#: The step each history event answers, as a COMPLETED plan item answering it would: the
#: spec's rule that "a history event and a COMPLETED plan item answering the same step count
#: alike". Events absent here (support_not_*, prosecution, education_supervision_order) are
#: facts the rules read directly, not answers to a step.
HISTORY_ANSWERS: Mapping[str, str] = {
    "notice_to_improve": "notice_to_improve",
    "penalty_notice": "consider_penalty_notice",
    "la_notified_continuous_absence": "notify_la_continuous_absence",
    "la_notified_illness": "notify_la_illness_15_days",
    "attendance_officer_consulted": "consult_attendance_officer",
    "social_worker_agreed": "agree_with_social_worker",
}

#: A notice to improve with no recorded end: the framework's shortest improvement period.
_DEFAULT_IMPROVEMENT_DAYS = 21


@attrs.frozen(kw_only=True)
class _HistoryItem:
    """A history event in the shape of the COMPLETED plan item that answers the same step."""

    id: str
    pupil_id: str
    action_id: str
    status: str
    completed_on: dt.date
    due: dt.date | None


def _history_items(history: Any) -> tuple[list[_HistoryItem], set[str]]:
    """Plan-item stand-ins for the history's events, and the pupils whose support is recorded
    as not engaged or not worked."""
    from .history import as_history

    items: list[_HistoryItem] = []
    not_worked: set[str] = set()
    for k, event in enumerate(as_history(history).events):
        if event.event in ("support_not_engaged", "support_not_worked"):
            not_worked.add(event.pupil_id)
        action = HISTORY_ANSWERS.get(event.event)
        if action is None:
            continue
        until = event.until
        if event.event == "notice_to_improve" and until is None:
            until = event.date + dt.timedelta(days=_DEFAULT_IMPROVEMENT_DAYS)
        items.append(
            _HistoryItem(
                id=f"history event {k + 1} ({event.event} of {event.date.isoformat()})",
                pupil_id=event.pupil_id,
                action_id=action,
                status="COMPLETED",
                completed_on=event.date,
                due=until,
            )
        )
    return items, not_worked


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
    ``history`` is an :class:`~attendance_core.CaseHistory` or its table; an event counts as
    the ``COMPLETED`` item answering the same step would.
    ``as_of`` defaults to the latest date that carries a mark; marks after it are ignored.
    ``policy`` is ``"england-2024"``, ``"county-five-band"``, a TOML path, a mapping or a
    :class:`Policy`.

    Steps are ordered by school, pupil, stage order and action. Band conditions use the
    policy's scheme (five-band for the bundled ones) over the academic year of ``as_of`` to
    date; every rule is evaluated per enrolment on that school's calendar.
    """
    pol = resolve_policy(policy)
    if reg.n_enrolments == 0 or len(reg.dates) == 0:
        return []
    day = as_date(reg.dates[-1]) if as_of is None else as_date(as_of, "as_of")
    figs = _compute(reg, _pupil_table(pupils), day, pol.scheme)
    extra, not_worked = _history_items(history)
    if extra:
        plans = [*_plan_items(plans), *extra]
    state = _plan_state(reg, figs, plans, day)
    if not_worked:
        ids = reg.pupil_ids.astype(str)
        for row in np.flatnonzero(np.isin(ids, sorted(not_worked))):
            state.terms["support_not_worked"][int(row)] = True
            state.terms["support_recorded"][int(row)] = True
            state.notes.setdefault((int(row), "support_not_worked"), "recorded in the history")
    return _steps(reg, figs, state, pol, day)


def _steps(
    reg: Register, figs: _Figures, state: _PlanState, pol: Policy, day: dt.date
) -> list[NextStep]:
    n = figs.n
    scheme = pol.scheme
    labels = {b.id: b.label.lower() for b in scheme.bands}
    csa = figs.enrolment["compulsory_school_age"]
    # first pass: where each rule fires and where it is withheld by a gate
    fired: dict[str, npt.NDArray[np.int64]] = {}
    withheld: dict[str, dict[int, list[tuple[str, bool]]]] = {}
    for rule in pol.rules:
        if rule.each == "run":
            idx: npt.NDArray[np.int64] | None = figs.runs["enrolment"]
            assert idx is not None
            size = len(idx)
            enrol = idx
        else:
            idx = None
            size = n
            enrol = np.arange(n, dtype=np.int64)
        mask = figs.in_scope[enrol].copy()
        for cond in rule.when:
            if not mask.any():
                break
            mask &= _evaluate(cond, figs, idx, size)
        if rule.compulsory_age:
            mask &= csa[enrol] != 0
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
        hidden = state.suppressed.get(rule.action)
        if hidden is not None:
            ok &= ~hidden[enrol]
        fired[rule.id] = np.flatnonzero(ok)
        if rule.each == "enrolment" and failures:
            held = mask & ~ok
            if hidden is not None:
                held &= ~hidden
            rows_held = np.flatnonzero(held)
            if len(rows_held):
                per_row: dict[int, list[tuple[str, bool]]] = {}
                for term_name, required, bad in failures:
                    for r in np.flatnonzero(bad & held):
                        per_row.setdefault(int(r), []).append((term_name, required))
                withheld[rule.id] = per_row

    # second pass: build the steps
    steps: list[NextStep] = []
    seen: set[tuple[int, str]] = set()
    school_ids = reg.school_ids
    pupil_ids = reg.pupil_ids
    for rule in pol.rules:
        where = fired[rule.id]
        if not len(where):
            continue
        due = _weekdays_after(day, rule.due)
        names = rule.figures
        fields = [f for _, f, _, _ in string.Formatter().parse(rule.reason) if f]
        enrol = figs.runs["enrolment"][where] if rule.each == "run" else where
        columns: dict[str, list[Any]] = {}
        for name in names:
            kind = FIGURES[name].kind
            if kind == "dates":
                continue
            values = (
                figs.runs[name][where]
                if FIGURES[name].axis == "run"
                else figs.enrolment[name][enrol]
            )
            if kind == "band":
                ids = scheme.band_ids
                columns[name] = [None if b < 0 else ids[b] for b in values.tolist()]
            elif kind == "date":
                columns[name] = [_plain(v, kind) for v in values]
            else:
                columns[name] = [_plain(v, kind) for v in values.tolist()]
        flag_cols = {
            f: figs.flags[f][enrol].tolist()
            for f in FLAGS
            if f in rule.evidence or f"{{{f}}}" in rule.reason
        }
        age_col = csa[enrol].tolist()
        for j, row in enumerate(enrol.tolist()):
            if rule.each == "enrolment":
                key = (row, rule.action)
                if key in seen:
                    continue
                seen.add(key)
            evidence: dict[str, Any] = {}
            for name in names:
                if FIGURES[name].kind == "dates":
                    evidence[name] = list(figs.n_dates.get(row, []))
                elif name == "compulsory_school_age":
                    continue
                else:
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
            # the next withheld enforcement step that still needs something recorded (one
            # held back only by an "unless" term, e.g. a recent notice, comes last)
            held_back = [
                (other, withheld[other][row])
                for other in rule.explain_withheld
                if row in withheld.get(other, {})
            ]
            held_back.sort(key=lambda h: not any(required for _, required in h[1]))
            if held_back:
                other, missing = held_back[0]
                target = pol.rule(other)
                evidence["withheld"] = {
                    "rule": other,
                    "action": target.action,
                    "missing": [t for t, _ in missing],
                }
                reason = reason.rstrip(". ") + "; " + _missing_text(target, missing) + "."
            school = None if school_ids is None else str(school_ids[row])
            steps.append(
                NextStep(
                    pupil_id=str(pupil_ids[row]),
                    school_id=school,
                    stage=rule.stage,
                    action=rule.action,
                    lead=rule.lead,
                    due=due,
                    rule=rule.id,
                    reason=reason,
                    evidence=evidence,
                )
            )
    steps.sort(key=lambda s: (s.school_id or "", s.pupil_id, s.stage.order, s.action))
    return steps


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
) -> pd.DataFrame:
    """The per-enrolment figures :func:`recommend` decides on, as a DataFrame.

    One row per enrolment (indexed like :func:`~attendance_core.classify`), one column per
    enrolment figure of the policy vocabulary (``n_dates`` as lists of dates) plus
    ``longest_run_days`` (the longest run of qualifying days up to ``as_of``) and the cohort
    flags. Useful to check why a step did or did not fire.
    """
    pol = resolve_policy(policy)
    if as_of is None and not len(reg.dates):
        raise ValueError("the register has no marks: give as_of")
    day = as_date(reg.dates[-1]) if as_of is None else as_date(as_of)
    figs = _compute(reg, _pupil_table(pupils), day, pol.scheme)
    data: dict[str, Any] = {}
    ids = pol.scheme.band_ids
    for name, fig in FIGURES.items():
        if fig.axis != "enrolment":
            continue
        if fig.kind == "dates":
            data[name] = [figs.n_dates.get(i, []) for i in range(figs.n)]
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
    data["in_scope"] = figs.in_scope
    return pd.DataFrame(data, index=reg.index())
