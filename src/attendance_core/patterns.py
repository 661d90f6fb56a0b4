"""Patterns of absence: when pupils miss school, for how long, and whether it is getting worse.

Everything here is vectorised with numpy over ``reg.marks``: per-mark lookups go through boolean
arrays indexed by code id, loops run over schools, weekdays or periods, never over pupils or
marks. Figures are per enrolment (a school and pupil pair), on that school's own calendar
(domain.md §1), and group figures are sums of exact counts, never averages of rates.

Definitions used below (also in the docstrings of each function):

* **Absent session**: a possible session whose code is not attendance (authorised or
  unauthorised absence). **Illness session**: a session coded ``I``.
* **Absent day**: a date on which the pupil has at least one possible session and every possible
  session is an absence. A date with no possible session for the pupil (``#``, ``X``, ``Y``, ``Z``,
  ``D``, not on roll, no mark) neither counts nor breaks a spell; any other date breaks it.
* **Spell**: a run of consecutive absent days; **illness spell**: a spell in which every possible
  session is coded ``I``. **Repeated illness**: :data:`REPEATED_ILLNESS_SPELLS` (3) or more illness
  spells in the period.
* **Weekday flag** ("well above the pupil's other days"): a weekday is flagged when the pupil's
  absence rate on that weekday (absent ÷ possible sessions on that weekday) is at least
  :attr:`WeekdayRule.ratio` (1.5) times the absence rate on all other days, *and* the pupil missed
  at least :attr:`WeekdayRule.min_sessions` (6 sessions, three days) on that weekday. Both tests run
  on exact integers. A pupil absent on that weekday and never on other days is flagged once the
  minimum is reached.
* **School weeks**: Monday–Sunday weeks with at least one school session of the pupil's school.
  "The last 4 school weeks to ``as_of``" are the 4 latest school weeks whose Monday is on or before
  ``as_of``, counting marks up to ``as_of``.
* **Terms**: autumn 1 August–31 December, spring 1 January–Easter Sunday, summer Easter
  Monday–31 July (Easter from :func:`dateutil.easter.easter`). English schools break for Easter
  around Easter Sunday, so the split falls in the holiday; a school whose holiday does not
  contain Easter Sunday gets a few days of the wrong term.
* **Projected year-end rate**: the attendance rate at the end of the academic year if the pupil
  attends the rest of it at the rate of the last 4 school weeks (the year-to-date rate when those
  weeks have no possible session). The rest of the year is ``days_in_year`` (190, the statutory
  number of school days) less the school days of the school's calendar so far this academic year,
  never less than zero, two possible sessions each; the pupil is assumed to stay on roll.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import numpy.typing as npt
import pandas as pd

from . import _engine as engine
from . import _pupils
from ._values import truthy_array
from .bands import DEFAULT_SCHEME, BandScheme, persistent_and_severe
from .calendar import academic_year_start, as_date, previous_term_bounds, term_bounds, term_of
from .register import Register

__all__ = [
    "DAYS_IN_YEAR",
    "OTHER_COHORTS",
    "PRIORITY_COHORTS",
    "REPEATED_ILLNESS_SPELLS",
    "WEEKDAYS",
    "WEEKDAY_RULE",
    "Cohort",
    "WeekdayRule",
    "cohort_summary",
    "group_weekday_profile",
    "previous_term_bounds",
    "pupil_column",
    "pupil_patterns",
    "resolve_as_of",
    "spell_summary",
    "spells",
    "term_bounds",
    "term_of",
    "term_rates",
    "trend",
    "weekday_profile",
    "weekly_attendance",
]

#: Weekday names, Monday first (index = ``date.weekday()``).
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
#: Illness spells in one period from which a pupil's illness counts as repeated.
REPEATED_ILLNESS_SPELLS = 3
#: The statutory number of school days in a year (the projection's default).
DAYS_IN_YEAR = 190
#: Percentage points (as a fraction) by which the 4-week rate must differ from the year-to-date
#: rate to call the trend ``improving`` or ``worsening``.
TREND_MARGIN = 0.05


@attrs.frozen(kw_only=True)
class WeekdayRule:
    """When absence on one weekday is "well above" the pupil's other days.

    Flagged when ``absent_day / possible_day >= ratio * absent_other / possible_other`` and
    ``absent_day >= min_sessions``; decided on integers (``ratio`` is kept as a fraction).
    """

    ratio_numerator: int = 3
    ratio_denominator: int = 2
    min_sessions: int = 6

    @property
    def ratio(self) -> float:
        """The ratio as a float (1.5 by default)."""
        return self.ratio_numerator / self.ratio_denominator

    def flags(
        self,
        absent_day: npt.NDArray[np.int64],
        possible_day: npt.NDArray[np.int64],
        absent_other: npt.NDArray[np.int64],
        possible_other: npt.NDArray[np.int64],
    ) -> npt.NDArray[np.bool_]:
        """Vectorised flag for arrays of exact counts."""
        lhs = self.ratio_denominator * absent_day * possible_other
        rhs = self.ratio_numerator * absent_other * possible_day
        result: npt.NDArray[np.bool_] = (
            (absent_day >= self.min_sessions) & (possible_day > 0) & (lhs >= rhs)
        )
        return result


#: The rule used by :func:`weekday_profile` unless another is passed.
WEEKDAY_RULE = WeekdayRule()


@attrs.frozen(kw_only=True)
class Cohort:
    """A group of pupils tracked on its own (domain.md §6).

    Membership is any of ``flags`` (boolean columns of the pupils table) being true, or, for a
    cohort defined by its figures, ``multiplier × <measure column> >= possible`` with
    ``possible > 0`` (e.g. persistent absence: 10 × absent ≥ possible). A flag cohort is left out
    of a summary when the pupils table has none of its columns.
    """

    id: str
    label: str
    flags: tuple[str, ...] = ()
    measure: str | None = None
    multiplier: int = 10

    def members(
        self, figures: pd.DataFrame, pupils: pd.DataFrame | None
    ) -> npt.NDArray[np.bool_] | None:
        """Which rows of ``figures`` (indexed like :func:`classify`) belong; None when the
        pupils table cannot tell."""
        if self.measure is not None:
            value = figures[self.measure].to_numpy(dtype=np.int64)
            possible = figures["possible"].to_numpy(dtype=np.int64)
            result: npt.NDArray[np.bool_] = (self.multiplier * value >= possible) & (possible > 0)
            return result
        if not self.flags:
            return np.ones(len(figures), dtype=bool)
        if pupils is None:
            return None
        present = [f for f in self.flags if f in pupils.columns]
        if not present:
            return None
        out = np.zeros(len(figures), dtype=bool)
        for flag in present:
            out |= _truthy(pupil_column(figures.index, pupils, flag))
        return out


#: The priority cohorts tracked at LA level (domain.md §6), after "all pupils". Special schools
#: and anxiety / school avoidance (EBSA) need a ``special_school`` or ``ebsa`` column in the
#: pupils table; the others come from the figures or the standard cohort flags.
PRIORITY_COHORTS: tuple[Cohort, ...] = (
    Cohort(id="all", label="All pupils"),
    Cohort(
        id="authorised_absence", label="Authorised absence of 10% or more", measure="authorised"
    ),
    Cohort(id="persistent_absence", label="Persistent absence (10% or more)", measure="absent"),
    Cohort(id="special_school", label="Special schools", flags=("special_school",)),
    Cohort(id="ehcp", label="EHCP", flags=("ehcp",)),
    Cohort(
        id="social_worker", label="With a social worker (CiN, CP, CiC)", flags=("cin", "cp", "cic")
    ),
    Cohort(id="ebsa", label="Anxiety / school avoidance (EBSA)", flags=("ebsa",)),
    Cohort(id="youth_justice", label="Known to youth justice", flags=("youth_justice",)),
)

#: Further cohort flags of the pupils table, reported after the priority cohorts.
OTHER_COHORTS: tuple[Cohort, ...] = (
    Cohort(id="cin", label="Child in need", flags=("cin",)),
    Cohort(id="cp", label="Child protection plan", flags=("cp",)),
    Cohort(id="cic", label="Child looked after", flags=("cic",)),
    Cohort(id="sen", label="SEN support or EHCP", flags=("sen",)),
    Cohort(id="medical", label="Medical needs", flags=("medical",)),
    Cohort(id="fsm", label="Free school meals", flags=("fsm",)),
)


# ----------------------------------------------------------------------------- helpers
_truthy = truthy_array  # the one flag reader (dfe.py imports it under this name)
pupil_column = _pupils.pupil_column  # the one join of pupils to enrolments (reports import it)


def resolve_as_of(reg: Register, as_of: Any = None) -> dt.date:
    """``as_of`` as a date; None means the latest date that carries a mark."""
    if as_of is not None:
        return as_date(as_of, "as_of")
    if not len(reg.dates):
        from .errors import RegisterError

        raise RegisterError("the register holds no marks: pass as_of")
    return as_date(reg.dates[-1])


@attrs.frozen
class _Luts:
    possible: npt.NDArray[np.bool_]
    attended: npt.NDArray[np.bool_]
    absent: npt.NDArray[np.bool_]
    authorised: npt.NDArray[np.bool_]
    illness: npt.NDArray[np.bool_]

    @classmethod
    def of(cls, reg: Register) -> _Luts:
        from .codes import Category

        possible = reg.codes.possible
        attended = reg.codes.attended
        return cls(
            possible=possible,
            attended=attended,
            absent=possible & ~attended,
            authorised=reg.codes.of_category(Category.AUTHORISED),
            illness=reg.codes.of_tags("illness") & possible & ~attended,
        )


def _rate(num: npt.NDArray[np.int64], den: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
    with np.errstate(invalid="ignore", divide="ignore"):
        result: npt.NDArray[np.float64] = np.where(den > 0, num / np.maximum(den, 1), np.nan)
    return result


def _rows_in(reg: Register, start: dt.date | None, end: dt.date) -> npt.NDArray[np.int64]:
    return np.flatnonzero(reg.enrolments_in(start, end)).astype(np.int64)


# ----------------------------------------------------------------------------- weekly series
def weekly_attendance(
    reg: Register, start: Any = None, end: Any = None, *, by_school: bool = False
) -> pd.DataFrame:
    """Attendance week by week: ``possible``, ``attended`` and ``attendance_rate`` per school week.

    Indexed by ``week`` (the Monday, a ``datetime64`` day), and by ``school_id`` first when
    ``by_school``. Only weeks with at least one possible session appear. Sums over every
    enrolment's marks in the period; ``start``/``end`` are inclusive dates.
    """
    luts = _Luts.of(reg)
    cols = engine.columns(
        reg, None if start is None else as_date(start), None if end is None else as_date(end)
    )
    dates = reg.dates[cols.start // 2 : cols.stop // 2]
    mondays = engine.mondays(dates)
    weeks, week_of_day = np.unique(mondays, return_inverse=True)
    frames = []
    blocks = reg.school_blocks() if by_school else [slice(0, reg.n_enrolments)]
    for s, rows in enumerate(blocks):
        block = reg.marks[rows, cols]
        possible = luts.possible[block].sum(axis=0).reshape(-1, 2).sum(axis=1)
        attended = luts.attended[block].sum(axis=0).reshape(-1, 2).sum(axis=1)
        wp = np.bincount(week_of_day.reshape(-1), weights=possible, minlength=len(weeks))
        wa = np.bincount(week_of_day.reshape(-1), weights=attended, minlength=len(weeks))
        keep = wp > 0
        frame = pd.DataFrame(
            {
                "possible": wp[keep].astype(np.int64),
                "attended": wa[keep].astype(np.int64),
            },
            index=pd.Index(weeks[keep], name="week"),
        )
        frame["attendance_rate"] = frame["attended"] / frame["possible"]
        if by_school:
            frame.index = pd.MultiIndex.from_arrays(
                [pd.Index([reg.schools[s]] * int(keep.sum()), dtype=object), frame.index],
                names=["school_id", "week"],
            )
        frames.append(frame)
    return (
        pd.concat(frames)
        if frames
        else pd.DataFrame(columns=["possible", "attended", "attendance_rate"])
    )


# ----------------------------------------------------------------------------- weekday profile
def _weekday_sums(reg: Register, cols: slice, lut: npt.NDArray[np.bool_]) -> npt.NDArray[np.int64]:
    """Per enrolment, sessions in ``lut`` by weekday × session: shape (n, 7, 2)."""
    dates = reg.dates[cols.start // 2 : cols.stop // 2]
    weekday = ((dates.astype("datetime64[D]").view("int64") - 4) % 7).astype(np.int64)
    out = np.zeros((reg.n_enrolments, 7, 2), dtype=np.int64)
    if not len(dates):
        return out
    step = engine.chunk_rows(cols.stop - cols.start)
    for r0 in range(0, reg.n_enrolments, step):
        r1 = min(reg.n_enrolments, r0 + step)
        hit = lut[reg.marks[r0:r1, cols]].reshape(r1 - r0, -1, 2)
        for w in np.unique(weekday):
            out[r0:r1, w, :] = hit[:, weekday == w, :].sum(axis=1)
    return out


def weekday_profile(
    reg: Register,
    start: Any = None,
    end: Any = None,
    *,
    rule: WeekdayRule = WEEKDAY_RULE,
) -> pd.DataFrame:
    """Each enrolment's absence by weekday and by session, with Monday and Friday flags.

    Columns: ``absent_<day>`` and ``possible_<day>`` for Monday to Friday (integers),
    ``absent_am``, ``possible_am``, ``absent_pm``, ``possible_pm``, the full weekday × session
    grid ``absent_<day>_<am|pm>`` and ``possible_<day>_<am|pm>``, ``absent`` (all days),
    ``monday_share`` and ``friday_share`` (share of the pupil's absent sessions that fell on that
    day; NaN with no absence), ``monday_rate``/``friday_rate`` and ``other_than_monday_rate``/
    ``other_than_friday_rate`` (absence rates), and the booleans ``monday_flag`` and
    ``friday_flag``: absence on that weekday "well above" the pupil's other days as
    :class:`WeekdayRule` defines it (default: a rate at least 1.5 times the rest, and at least 6
    sessions missed on that weekday). Indexed like :func:`~attendance_core.classify`, over the
    enrolments whose span meets the period.
    """
    s = None if start is None else as_date(start)
    e = None if end is None else as_date(end)
    luts = _Luts.of(reg)
    cols = engine.columns(reg, s, e)
    absent = _weekday_sums(reg, cols, luts.absent)
    possible = _weekday_sums(reg, cols, luts.possible)
    rows = np.flatnonzero(reg.enrolments_in(s, e))
    absent, possible = absent[rows], possible[rows]
    data: dict[str, Any] = {}
    for w in range(5):
        data[f"absent_{WEEKDAYS[w]}"] = absent[:, w].sum(axis=1)
        data[f"possible_{WEEKDAYS[w]}"] = possible[:, w].sum(axis=1)
    for k, name in enumerate(("am", "pm")):
        data[f"absent_{name}"] = absent[:, :, k].sum(axis=1)
        data[f"possible_{name}"] = possible[:, :, k].sum(axis=1)
    for w in range(5):
        for k, name in enumerate(("am", "pm")):
            data[f"absent_{WEEKDAYS[w]}_{name}"] = absent[:, w, k]
            data[f"possible_{WEEKDAYS[w]}_{name}"] = possible[:, w, k]
    total_a = absent.sum(axis=(1, 2))
    total_p = possible.sum(axis=(1, 2))
    data["absent"] = total_a
    data["possible"] = total_p
    for w in (0, 4):
        name = WEEKDAYS[w]
        a_d = absent[:, w].sum(axis=1)
        p_d = possible[:, w].sum(axis=1)
        a_o, p_o = total_a - a_d, total_p - p_d
        data[f"{name}_share"] = _rate(a_d, total_a)
        data[f"{name}_rate"] = _rate(a_d, p_d)
        data[f"other_than_{name}_rate"] = _rate(a_o, p_o)
        data[f"{name}_flag"] = rule.flags(a_d, p_d, a_o, p_o)
    return pd.DataFrame(data, index=reg.index(rows))


def group_weekday_profile(
    reg: Register,
    start: Any = None,
    end: Any = None,
    *,
    pupils: pd.DataFrame | None = None,
    by: str | None = None,
) -> pd.DataFrame:
    """Absence by weekday × session for a group of enrolments (the heat map's figures).

    One row per (weekday, session) that has possible sessions, with ``absent``, ``possible``,
    ``absence_rate`` (absent ÷ possible) and ``share`` (of the group's absent sessions). With
    ``by`` (``"school_id"`` or a column of ``pupils``, e.g. ``"year_group"``) one block per group
    value, the group as the first index level.
    """
    s = None if start is None else as_date(start)
    e = None if end is None else as_date(end)
    luts = _Luts.of(reg)
    cols = engine.columns(reg, s, e)
    rows = np.flatnonzero(reg.enrolments_in(s, e))
    absent = _weekday_sums(reg, cols, luts.absent)[rows]
    possible = _weekday_sums(reg, cols, luts.possible)[rows]
    if by is None:
        groups = pd.Series(np.zeros(len(rows), dtype=np.int64))
        names: list[Any] = [None]
    else:
        index = reg.index(rows)
        if by == "school_id":
            values = pd.Series(np.asarray(reg.schools[reg.school_index[rows]], dtype=object))
        elif pupils is not None and by in pupils.columns:
            values = pupil_column(index, pupils, by)
        else:
            raise KeyError(f"{by!r} is neither school_id nor a column of the pupils table")
        codes, uniques = pd.factorize(values.astype(object), sort=True, use_na_sentinel=False)
        groups = pd.Series(codes)
        names = list(uniques)
    frames = []
    for g, name in enumerate(names):
        sel = (groups == g).to_numpy()
        a = absent[sel].sum(axis=0)
        p = possible[sel].sum(axis=0)
        keys = [(WEEKDAYS[w], sess) for w in range(7) for sess in ("AM", "PM")]
        frame = pd.DataFrame(
            {
                "absent": a.reshape(-1),
                "possible": p.reshape(-1),
            },
            index=pd.MultiIndex.from_tuples(keys, names=["weekday", "session"]),
        )
        frame = frame[frame["possible"] > 0]
        frame["absence_rate"] = _rate(frame["absent"].to_numpy(), frame["possible"].to_numpy())
        total = int(frame["absent"].sum())
        frame["share"] = frame["absent"] / total if total else np.nan
        if by is not None:
            frame.index = pd.MultiIndex.from_tuples(
                [(name, *k) for k in frame.index], names=[by, "weekday", "session"]
            )
        frames.append(frame)
    return pd.concat(frames)


# ----------------------------------------------------------------------------- spells
def _day_states(
    reg: Register, rows: slice, cols: slice, luts: _Luts
) -> tuple[npt.NDArray[np.int8], npt.NDArray[np.int8], npt.NDArray[np.int8]]:
    """Per enrolment of ``rows`` and date: possible, absent and illness sessions (0–2)."""
    block = reg.marks[rows, cols]
    n = block.shape[0]
    p = luts.possible[block].reshape(n, -1, 2).sum(axis=2, dtype=np.int8)
    a = luts.absent[block].reshape(n, -1, 2).sum(axis=2, dtype=np.int8)
    i = luts.illness[block].reshape(n, -1, 2).sum(axis=2, dtype=np.int8)
    return p, a, i


def _spell_arrays(reg: Register, rows: slice, cols: slice, luts: _Luts) -> dict[str, Any]:
    """The spells of the enrolments in ``rows`` as arrays (rows numbered in the register)."""
    p, a, ill = _day_states(reg, rows, cols, luts)
    row, day = np.nonzero(p > 0)  # the days that count, in (pupil, date) order
    state = a[row, day] == p[row, day]  # every possible session absent
    prev_same = np.zeros(len(row), dtype=bool)
    prev_same[1:] = state[:-1] & (row[1:] == row[:-1])
    starts = state & ~prev_same
    in_run = np.flatnonzero(state)
    rid = (np.cumsum(starts) - 1)[in_run]
    n_runs = int(starts.sum())
    length = np.bincount(rid, minlength=n_runs)
    first = np.flatnonzero(starts)
    return {
        "row": row[first] + rows.start,
        "first": day[first],
        "last": day[first + length - 1],  # a run is consecutive entries of the sequence
        "days": length.astype(np.int64),
        "sessions": np.bincount(rid, weights=a[row[in_run], day[in_run]], minlength=n_runs),
        "illness_sessions": np.bincount(
            rid, weights=ill[row[in_run], day[in_run]], minlength=n_runs
        ),
    }


def spells(reg: Register, start: Any = None, end: Any = None, *, min_days: int = 1) -> pd.DataFrame:
    """Every spell of absence: a run of consecutive absent days of one enrolment.

    An absent day is a date with at least one possible session for the pupil, every one of
    them an absence; a date with no possible session neither counts nor breaks the run, any
    other date (including a half day in school) ends it. One row per spell of at least
    ``min_days`` days, columns ``school_id`` (when the register has schools), ``pupil_id``,
    ``start``, ``end`` (dates), ``days`` (absent days in the run), ``sessions`` (absent
    sessions), ``illness_sessions`` and ``illness`` (every session of the spell coded ``I``),
    sorted by school, pupil and start. Computed in blocks of enrolments so that memory stays
    bounded at local-authority scale.
    """
    s = None if start is None else as_date(start)
    e = None if end is None else as_date(end)
    cols = engine.columns(reg, s, e)
    dates = reg.dates[cols.start // 2 : cols.stop // 2]
    luts = _Luts.of(reg)
    step = engine.chunk_rows(cols.stop - cols.start)
    parts = [
        _spell_arrays(reg, slice(r0, min(reg.n_enrolments, r0 + step)), cols, luts)
        for r0 in range(0, reg.n_enrolments, step)
    ] or [_spell_arrays(reg, slice(0, 0), cols, luts)]
    got = {k: np.concatenate([part[k] for part in parts]) for k in parts[0]}
    keep = got["days"] >= min_days
    run_rows = got["row"][keep].astype(np.int64)
    sessions = got["sessions"][keep].astype(np.int64)
    ill_sessions = got["illness_sessions"][keep].astype(np.int64)
    data: dict[str, Any] = {}
    if reg.school_ids is not None:
        data["school_id"] = pd.Series(reg.school_ids[run_rows], dtype=object)
    data["pupil_id"] = pd.Series(reg.pupil_ids[run_rows], dtype=object)
    data["start"] = dates[got["first"][keep].astype(np.int64)]
    data["end"] = dates[got["last"][keep].astype(np.int64)]
    data["days"] = got["days"][keep]
    data["sessions"] = sessions
    data["illness_sessions"] = ill_sessions
    data["illness"] = (ill_sessions == sessions) & (sessions > 0)
    return pd.DataFrame(data)


def spell_summary(
    reg: Register, start: Any = None, end: Any = None, *, repeated: int = REPEATED_ILLNESS_SPELLS
) -> pd.DataFrame:
    """Per enrolment: ``spells``, ``longest_spell`` (days), ``spells_2_days_or_more``,
    ``illness_spells`` and ``repeated_illness`` (at least ``repeated`` illness spells in the
    period). Indexed like :func:`~attendance_core.classify`; pupils with no spell get zeros."""
    s = None if start is None else as_date(start)
    e = None if end is None else as_date(end)
    table = spells(reg, s, e)
    rows = np.flatnonzero(reg.enrolments_in(s, e))
    index = reg.index(rows)
    out = pd.DataFrame(index=index)
    if len(table):
        keys = ["school_id", "pupil_id"] if reg.has_schools else ["pupil_id"]
        grouped = table.assign(
            two=table["days"] >= 2, ill=table["illness"].astype(np.int64)
        ).groupby(keys, sort=False)
        agg = pd.DataFrame(
            {
                "spells": grouped.size(),
                "longest_spell": grouped["days"].max(),
                "spells_2_days_or_more": grouped["two"].sum(),
                "illness_spells": grouped["ill"].sum(),
            }
        )
        if not reg.has_schools and isinstance(agg.index, pd.MultiIndex):
            agg.index = agg.index.get_level_values("pupil_id")
        agg.index = agg.index.set_names(index.names)
        out = agg.reindex(index).fillna(0).astype(np.int64)
    else:
        for c in ("spells", "longest_spell", "spells_2_days_or_more", "illness_spells"):
            out[c] = np.zeros(len(index), dtype=np.int64)
    out["repeated_illness"] = out["illness_spells"] >= repeated
    return out


# ----------------------------------------------------------------------------- trend
@attrs.frozen
class _Windows:
    """Per school: the date bounds of the periods the trend compares."""

    year_start: dt.date
    as_of: dt.date
    last4: list[tuple[dt.date | None, dt.date | None]]
    prev4: list[tuple[dt.date | None, dt.date | None]]
    last8: list[tuple[dt.date | None, dt.date | None]]
    year: list[tuple[dt.date | None, dt.date | None]]
    days_so_far: npt.NDArray[np.int64]


def _windows(reg: Register, as_of: dt.date) -> _Windows:
    year_start = academic_year_start(as_of)
    so_far = np.array(
        [
            engine.days_between(
                engine.school_days(reg, s), year_start - dt.timedelta(days=1), as_of
            )
            for s in range(len(reg.schools))
        ],
        dtype=np.int64,
    )
    return _Windows(
        year_start,
        as_of,
        last4=engine.week_periods(reg, as_of, 4),
        prev4=engine.week_periods(reg, as_of, 4, skip=4),
        last8=engine.week_periods(reg, as_of, 8),
        year=[(year_start, as_of)] * len(reg.schools),
        days_so_far=so_far,
    )


def trend(
    reg: Register,
    as_of: Any = None,
    *,
    days_in_year: int = DAYS_IN_YEAR,
) -> pd.DataFrame:
    """Each enrolment's recent attendance against its year so far, and where it is heading.

    Columns: ``rate_year`` (academic year to ``as_of``), ``rate_4_weeks`` and ``rate_8_weeks``
    (the last 4 and 8 school weeks to ``as_of``), ``rate_previous_4_weeks`` (the 4 school weeks
    before those), ``change_4_weeks`` and ``change_8_weeks`` (recent rate minus the year's),
    ``trend`` (``worsening`` / ``improving`` when the 4-week rate is at least 5 points below /
    above the year's, else ``stable``; missing without figures), ``school_days_so_far``,
    ``projected_rate`` (module docstring: the 4-week rate held to the end of a ``days_in_year``
    school year) and the counts behind them (``possible_4_weeks``, ``attended_4_weeks``, …).
    Rows: enrolments whose span meets the academic year to ``as_of``; ``as_of`` defaults to the
    latest date with a mark, and marks after it are ignored.
    """
    day = resolve_as_of(reg, as_of)
    w = _windows(reg, day)
    luts = _Luts.of(reg)
    figures: dict[str, npt.NDArray[Any]] = {}
    for name, periods in (
        ("year", w.year),
        ("4_weeks", w.last4),
        ("8_weeks", w.last8),
        ("previous_4_weeks", w.prev4),
    ):
        figures[f"possible_{name}"] = engine.count_in_periods(reg, luts.possible, periods)
        figures[f"attended_{name}"] = engine.count_in_periods(reg, luts.attended, periods)
    rows = _rows_in(reg, w.year_start, day)
    data = {k: v[rows] for k, v in figures.items()}
    rate = {
        name: _rate(data[f"attended_{name}"], data[f"possible_{name}"])
        for name in ("year", "4_weeks", "8_weeks", "previous_4_weeks")
    }
    out = pd.DataFrame(
        {
            "rate_year": rate["year"],
            "rate_4_weeks": rate["4_weeks"],
            "rate_8_weeks": rate["8_weeks"],
            "rate_previous_4_weeks": rate["previous_4_weeks"],
        },
        index=reg.index(rows),
    )
    out["change_4_weeks"] = out["rate_4_weeks"] - out["rate_year"]
    out["change_8_weeks"] = out["rate_8_weeks"] - out["rate_year"]
    change = out["change_4_weeks"].to_numpy()
    label = np.where(
        change <= -TREND_MARGIN,
        "worsening",
        np.where(change >= TREND_MARGIN, "improving", "stable"),
    ).astype(object)
    label[np.isnan(change)] = None
    out["trend"] = pd.Categorical(label, categories=["improving", "stable", "worsening"])
    so_far = w.days_so_far[reg.school_index[rows]]
    remaining = 2 * np.maximum(days_in_year - so_far, 0)
    recent = np.where(np.isnan(rate["4_weeks"]), rate["year"], rate["4_weeks"])
    possible, attended = data["possible_year"], data["attended_year"]
    with np.errstate(invalid="ignore", divide="ignore"):
        projected = (attended + recent * remaining) / (possible + remaining)
    out["school_days_so_far"] = so_far
    out["projected_rate"] = np.where(possible > 0, projected, np.nan)
    for k, v in data.items():
        out[k] = v
    return out


def term_rates(reg: Register, as_of: Any = None) -> pd.DataFrame:
    """Each enrolment's attendance this term (to ``as_of``) against the whole of last term.

    Columns ``term`` (:func:`term_of` of ``as_of``), ``possible_this_term``,
    ``attended_this_term``, ``rate_this_term``, ``possible_last_term``, ``attended_last_term``,
    ``rate_last_term`` and ``term_change`` (this term's rate minus last term's; NaN when
    either has no possible session). Last term may lie in the previous academic year. Rows:
    enrolments whose span meets the academic year to ``as_of``, indexed like
    :func:`~attendance_core.classify`.
    """
    day = resolve_as_of(reg, as_of)
    luts = _Luts.of(reg)
    this_first, _ = term_bounds(day)
    last_first, last_end = previous_term_bounds(day)
    rows = _rows_in(reg, academic_year_start(day), day)
    out = pd.DataFrame(index=reg.index(rows))
    out["term"] = term_of(day)
    for name, period in (("this_term", (this_first, day)), ("last_term", (last_first, last_end))):
        periods = [period] * len(reg.schools)
        possible = engine.count_in_periods(reg, luts.possible, periods)[rows]
        attended = engine.count_in_periods(reg, luts.attended, periods)[rows]
        out[f"possible_{name}"] = possible
        out[f"attended_{name}"] = attended
        out[f"rate_{name}"] = _rate(attended, possible)
    out["term_change"] = out["rate_this_term"] - out["rate_last_term"]
    return out


# ----------------------------------------------------------------------------- all together
def pupil_patterns(
    reg: Register,
    as_of: Any = None,
    *,
    scheme: str | Path | Mapping[str, Any] | BandScheme = DEFAULT_SCHEME,
    rule: WeekdayRule = WEEKDAY_RULE,
    days_in_year: int = DAYS_IN_YEAR,
) -> pd.DataFrame:
    """Every pattern figure of each enrolment, academic year to ``as_of``, in one table.

    The :func:`~attendance_core.classify` columns for the academic year to ``as_of`` (so the
    ``band`` is the one :func:`~attendance_core.recommend` sees), then ``days_missed`` (absent
    sessions ÷ 2, halves kept), ``illness_sessions``, ``illness_share`` (of absent sessions),
    the :func:`trend` columns, term figures (``term``, ``rate_this_term``, ``rate_last_term``,
    ``term_change``), the :func:`weekday_profile` shares and flags, and the
    :func:`spell_summary` columns. Index as :func:`~attendance_core.classify`.
    """
    from .measures import classify

    day = resolve_as_of(reg, as_of)
    year_start = academic_year_start(day)
    table = classify(reg, scheme=scheme, start=year_start, end=day)
    luts = _Luts.of(reg)
    rows = _rows_in(reg, year_start, day)
    year = [(year_start, day)] * len(reg.schools)
    illness = engine.count_in_periods(reg, luts.illness, year)[rows]
    table["days_missed"] = table["absent"].to_numpy() / 2
    table["illness_sessions"] = illness
    table["illness_share"] = _rate(illness, table["absent"].to_numpy(dtype=np.int64))
    tr = trend(reg, day, days_in_year=days_in_year)
    for c in (
        "rate_4_weeks",
        "rate_8_weeks",
        "rate_previous_4_weeks",
        "change_4_weeks",
        "change_8_weeks",
        "trend",
        "projected_rate",
        "possible_4_weeks",
        "attended_4_weeks",
    ):
        table[c] = tr[c].to_numpy()
    terms = term_rates(reg, day)
    for c in ("term", "rate_this_term", "rate_last_term", "term_change"):
        table[c] = terms[c].to_numpy()
    wp = weekday_profile(reg, year_start, day, rule=rule)
    for c in (
        "absent_monday",
        "absent_friday",
        "monday_share",
        "friday_share",
        "monday_flag",
        "friday_flag",
    ):
        table[c] = wp[c].to_numpy()
    ss = spell_summary(reg, year_start, day)
    for c in ss.columns:
        table[c] = ss[c].to_numpy()
    return table


_SUM_COLUMNS = (
    "possible",
    "attended",
    "authorised",
    "unauthorised",
    "absent",
    "illness_sessions",
    "absent_monday",
    "absent_friday",
    "possible_4_weeks",
    "attended_4_weeks",
)


def cohort_summary(
    figures: pd.DataFrame,
    pupils: pd.DataFrame | None = None,
    *,
    by_school: bool = True,
    cohorts: Sequence[Cohort] = PRIORITY_COHORTS + OTHER_COHORTS,
) -> pd.DataFrame:
    """Attendance of each cohort (domain.md §6), by school when ``by_school``.

    ``figures`` is :func:`pupil_patterns` (or :func:`~attendance_core.classify`; the columns
    it lacks are left out). The school of each row is its ``school_id`` column, else its index
    level, else the pupils table's ``school_id``. One row per (``school_id``,) ``cohort``
    with ``label``, ``pupils``, the summed counts, ``attendance_rate`` (Σ attended ÷ Σ
    possible), ``authorised_rate`` and ``unauthorised_rate`` (of possible sessions),
    ``persistent_absence`` and ``severe_absence`` (pupils with 10 × absent ≥ possible,
    2 × absent ≥ possible) with their ``_percent``, the share of pupils with possible
    sessions as a fraction in [0, 1] like every rate (the name is kept; only displays show %),
    ``days_missed`` (Σ absent ÷ 2), and where the figures have them ``illness_share``,
    ``monday_share``, ``friday_share`` (of absent sessions) and ``rate_4_weeks``. Cohorts whose
    flags the pupils table lacks are left out; a cohort with no member in a school is kept
    with ``pupils`` 0.
    """
    index = figures.index
    if by_school and "school_id" in figures.columns:
        school = figures["school_id"].astype(object).to_numpy()
    elif by_school and "school_id" in (index.names or []):
        school = pd.Series(index.get_level_values("school_id"), dtype=object).to_numpy()
    elif by_school and pupils is not None and "school_id" in pupils.columns:
        school = pupil_column(index, pupils, "school_id").to_numpy()
    else:
        school = None
    present = [c for c in _SUM_COLUMNS if c in figures.columns]
    counts = figures[present].to_numpy(dtype=np.int64)
    possible = figures["possible"].to_numpy(dtype=np.int64)
    absent = figures["absent"].to_numpy(dtype=np.int64)
    persistent, severe = persistent_and_severe(absent, possible)
    schools = [None] if school is None else sorted(pd.unique(school).tolist(), key=str)
    records = []
    for cohort in cohorts:
        members = cohort.members(figures, pupils)
        if members is None:
            continue
        for sch in schools:
            sel = members if sch is None else members & (school == sch)
            sums = dict(zip(present, counts[sel].sum(axis=0).tolist(), strict=True))
            banded = int((possible[sel] > 0).sum())
            rec: dict[str, Any] = {
                "school_id": sch,
                "cohort": cohort.id,
                "label": cohort.label,
                "pupils": int(sel.sum()),
                **sums,
            }
            p = sums["possible"]
            rec["attendance_rate"] = sums["attended"] / p if p else np.nan
            for col in ("authorised", "unauthorised"):
                if col in sums:
                    rec[f"{col}_rate"] = sums[col] / p if p else np.nan
            for name, hit in (("persistent_absence", persistent), ("severe_absence", severe)):
                rec[name] = int(hit[sel].sum())
                # a fraction like every rate; the name is kept from the first build
                rec[f"{name}_percent"] = rec[name] / banded if banded else np.nan
            rec["days_missed"] = sums["absent"] / 2
            a = sums["absent"]
            for col, out in (
                ("illness_sessions", "illness_share"),
                ("absent_monday", "monday_share"),
                ("absent_friday", "friday_share"),
            ):
                if col in sums:
                    rec[out] = sums[col] / a if a else np.nan
            if "possible_4_weeks" in sums:
                p4 = sums["possible_4_weeks"]
                rec["rate_4_weeks"] = sums["attended_4_weeks"] / p4 if p4 else np.nan
            records.append(rec)
    frame = pd.DataFrame.from_records(records)
    keys = ["school_id", "cohort"] if school is not None else ["cohort"]
    if school is None and len(frame):
        frame = frame.drop(columns=["school_id"])
    return frame.set_index(keys) if len(frame) else frame
