"""DfE-comparable absence statistics, and the reconciliation with the library's own figures.

The library counts every enrolment and every mark it is given. The DfE's headline absence
statistics (*Pupil absence statistics: methodology*, dfe-rules.md §2) count less: enrolments of
pupils aged 5 to 15 on 31 August at the start of the academic year, not boarders, over the
academic year (1 August – 31 July), without the second half of the summer term for pupils aged
15, without enrolments that began in that half term, without enrolments with no possible
session, and without schools that have fewer than 6 such enrolments. :func:`dfe_statistics`
applies those rules; :func:`reconcile` lists, one rule a row, what each removes, so a school can
see why its "persistent absence 20.9%" is not the figure it would have in the DfE's release.

Every count is an exact integer and every classification decided on them (persistent absence
``10 × absent ≥ possible``, severe absence ``2 × absent ≥ possible``); rates are fractions in
[0, 1], like every rate of the library.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from typing import Any

import attrs
import numpy as np
import numpy.typing as npt
import pandas as pd

from . import _pupils
from .age import year_group_number
from .bands import persistent_and_severe
from .calendar import (
    FIRST_DATE,
    LAST_DATE,
    academic_year,
    academic_year_number,
    as_date,
    as_dates,
    clip,
)
from .errors import AttendanceError
from .measures import counts
from .patterns import _truthy, pupil_column
from .register import Register

__all__ = [
    "BENCHMARK_COLUMNS",
    "DFE_COLUMNS",
    "RECONCILE_STEPS",
    "AcademicYear",
    "benchmarks",
    "dfe_statistics",
    "reconcile",
]

#: The youngest and oldest age (on 31 August at the start of the year) the headline figures count.
MIN_AGE, MAX_AGE = 5, 15
#: The age whose sixth half term is removed (study leave and exam leaving).
EXAM_AGE = 15
#: Schools with fewer enrolments aged 5–15 than this are removed (methodology §5.2).
MIN_SCHOOL_ENROLMENTS = 6
#: National-curriculum year N is, on 31 August before the year, normally aged N + 4.
_YEAR_TO_AGE = 4

#: Columns of :func:`dfe_statistics`, in order.
DFE_COLUMNS = (
    "enrolments",
    "possible",
    "attended",
    "authorised",
    "unauthorised",
    "absent",
    "overall_absence_rate",
    "authorised_absence_rate",
    "unauthorised_absence_rate",
    "persistent_absentees",
    "persistent_absence_rate",
    "severe_absentees",
    "severe_absence_rate",
)

#: The rows of :func:`reconcile` in order, with what each says (the first and last are states,
#: the others each remove what the rule named excludes from what is left).
RECONCILE_STEPS: tuple[tuple[str, str], ...] = (
    ("library", "The library's own figures: every enrolment and every mark in the register"),
    ("outside_year", "Marks outside the academic year (1 August to 31 July) are not counted"),
    (
        "not_possible_codes",
        "Sessions with a not-counted code (e.g. D, X, Z, #, Q, Y1-Y7) are marks but never "
        "possible sessions, in either count",
    ),
    ("age_unknown", "Pupils with neither a date of birth nor a year group: age cannot be decided"),
    ("under_5", "Pupils aged 4 or under on 31 August at the start of the year"),
    ("over_15", "Pupils aged 16 or over on 31 August at the start of the year"),
    ("boarders", "Boarders are not counted"),
    (
        "age_15_second_half_summer",
        "Pupils aged 15: sessions from the spring bank holiday to 31 July are removed",
    ),
    (
        "joined_second_half_summer",
        "Enrolments that began in the second half of the summer term are removed",
    ),
    ("no_possible_sessions", "Enrolments with no possible session are removed"),
    ("small_school", "Schools with fewer than 6 enrolments aged 5 to 15 are removed"),
    ("dfe", "DfE-comparable figures (as dfe_statistics)"),
)

_ONE_DAY = dt.timedelta(days=1)
_FLAG_COLUMNS = frozenset(_pupils.ALL_FLAGS)
_YEAR_TEXT = re.compile(r"^\s*(\d{4})\s*(?:[/-]\s*(\d{2}|\d{4}))?\s*$")


@attrs.frozen
class AcademicYear:
    """The dates the DfE methodology uses for one academic year."""

    start: dt.date  # 1 August
    end: dt.date  # 31 July
    age_date: dt.date  # 31 August at the start of the year: ages are taken on this day
    spring_bank_holiday: dt.date  # last Monday in May: the sixth half term starts here

    @property
    def label(self) -> str:
        """``"2024/25"``."""
        first = self.age_date.year  # start and end are clipped to the register's bounds
        return f"{first}/{(first + 1) % 100:02d}"

    @classmethod
    def of(cls, first_year: int) -> AcademicYear:
        """The year that starts on 1 August ``first_year``; its ``start`` and ``end`` held to
        the dates a register can hold (:func:`~attendance_core.calendar.academic_year`: 1
        January 1990 for 1989/90). A year wholly outside them raises
        :class:`~attendance_core.AttendanceError`."""
        if not FIRST_DATE.year - 1 <= first_year <= LAST_DATE.year:
            raise AttendanceError(
                f"year {first_year}/{(first_year + 1) % 100:02d} is outside the dates a register "
                f"can hold ({FIRST_DATE.isoformat()} to {LAST_DATE.isoformat()})"
            )
        start, end = academic_year(dt.date(first_year, 8, 1))
        may_31 = dt.date(first_year + 1, 5, 31)
        return cls(
            start=start,
            end=end,
            age_date=dt.date(first_year, 8, 31),
            spring_bank_holiday=may_31 - dt.timedelta(days=may_31.weekday()),
        )

    @classmethod
    def parse(cls, year: Any, reg: Register | None = None) -> AcademicYear:
        """``"2024/25"``, ``"2024-25"``, ``"2024/2025"``, ``2024`` (the year starting in it), or
        None (the academic year of the register's latest date)."""
        if year is None:
            if reg is None or not len(reg.dates):
                raise AttendanceError("year is needed: the register has no marks")
            latest = pd.Timestamp(reg.dates[-1]).date()
            return cls.of(academic_year_number(latest))
        if isinstance(year, AcademicYear):
            return year
        if isinstance(year, int | np.integer) and not isinstance(year, bool):
            return cls.of(int(year))
        m = _YEAR_TEXT.match(str(year))
        if m is None:
            raise AttendanceError(f"year {year!r} is not an academic year such as '2024/25'")
        first = int(m.group(1))
        if m.group(2) is not None:
            second = int(m.group(2))
            if (second if len(m.group(2)) == 4 else 2000 + second) % 100 != (first + 1) % 100:
                raise AttendanceError(f"year {year!r}: the two years are not consecutive")
        return cls.of(first)


# ============================================================================ per enrolment
@attrs.define(eq=False)
class _Enrolments:
    """Everything the rules need, one array entry per enrolment of the register."""

    index: pd.Index
    school: npt.NDArray[np.object_]
    age: npt.NDArray[np.float64]  # NaN when unknown
    boarder: npt.NDArray[np.bool_]
    starts_in_sixth: npt.NDArray[np.bool_]
    in_year: npt.NDArray[np.bool_]  # the enrolment's span meets the academic year
    whole: dict[str, npt.NDArray[np.int64]]  # every mark of the register
    year: dict[str, npt.NDArray[np.int64]]  # marks of the academic year
    five: dict[str, npt.NDArray[np.int64]]  # marks of the year before the sixth half term


_COUNTED = ("possible", "attended", "authorised", "unauthorised", "absent", "marks")


def _counts_by_row(reg: Register, start: Any, end: Any) -> dict[str, npt.NDArray[np.int64]]:
    """Counts per enrolment of the register (zeros for enrolments whose span misses the
    period), plus ``marks``: sessions carrying a code (any code, not-counted ones included)."""
    n = reg.n_enrolments
    inside = reg.enrolments_in(start, end)
    table = counts(reg, start, end)
    out: dict[str, npt.NDArray[np.int64]] = {}
    for column in _COUNTED[:-1]:
        full = np.zeros(n, dtype=np.int64)
        full[inside] = table[column].to_numpy(dtype=np.int64)
        out[column] = full
    coded = reg.codes.lookup(lambda _code, _cat: True)
    cols = reg.columns_between(start, end)
    marks = np.zeros(n, dtype=np.int64)
    if cols.stop > cols.start and n:
        rows = np.flatnonzero(inside)
        ordinals = reg.session_ordinals[cols]
        span = reg.span[rows]
        inspan = (ordinals[None, :] >= span[:, :1]) & (ordinals[None, :] <= span[:, 1:])
        marks[rows] = np.count_nonzero(coded[reg.marks[rows, cols]] & inspan, axis=1)
    out["marks"] = marks
    return out


def _ages(index: pd.Index, pupils: pd.DataFrame, on: dt.date) -> npt.NDArray[np.float64]:
    """Age in whole years on ``on`` from ``date_of_birth``, else year group + 4, else NaN."""
    n = len(index)
    age = np.full(n, np.nan)
    if "date_of_birth" in pupils.columns:
        dob = as_dates(pupil_column(index, pupils, "date_of_birth"), "date_of_birth", ids=index)
        known = dob.notna().to_numpy()
        years = on.year - dob.dt.year
        before_birthday = (dob.dt.month > on.month) | (
            (dob.dt.month == on.month) & (dob.dt.day > on.day)
        )
        value = (years - before_birthday.astype(int)).to_numpy(dtype=float, na_value=np.nan)
        age[known] = value[known]
    if "year_group" in pupils.columns:
        groups = pupil_column(index, pupils, "year_group")
        for i in np.flatnonzero(np.isnan(age)):
            number = year_group_number(groups.iat[int(i)])
            if number is not None:
                age[i] = number + _YEAR_TO_AGE
    return age


def _enrolments(reg: Register, pupils: pd.DataFrame | None, year: AcademicYear) -> _Enrolments:
    if pupils is None or not ({"date_of_birth", "year_group"} & set(pupils.columns)):
        raise AttendanceError(
            "dfe_statistics needs a pupils table with date_of_birth or year_group: the DfE "
            "counts pupils by their age on 31 August"
        )
    index = reg.index()
    if index.nlevels == 1:
        school = np.full(len(index), "" if reg.school_ids is None else reg.schools[0], dtype=object)
    else:
        school = np.asarray(index.get_level_values("school_id"), dtype=object)
    boarder = (
        _truthy(pupil_column(index, pupils, "boarder"))
        if "boarder" in pupils.columns
        else np.zeros(len(index), dtype=bool)
    )
    sixth = 2 * (year.spring_bank_holiday - dt.date(1970, 1, 1)).days
    return _Enrolments(
        index=index,
        school=school,
        age=_ages(index, pupils, year.age_date),
        boarder=boarder,
        starts_in_sixth=reg.span[:, 0] >= sixth,
        in_year=reg.enrolments_in(year.start, year.end),
        whole=_counts_by_row(reg, None, None),
        year=_counts_by_row(reg, year.start, year.end),
        five=_counts_by_row(reg, *clip(year.start, year.spring_bank_holiday - _ONE_DAY)),
    )


@attrs.define(eq=False)
class _State:
    """Which enrolments are still counted and with which counts, after one rule."""

    step: str
    alive: npt.NDArray[np.bool_]
    values: dict[str, npt.NDArray[np.int64]]


def _states(e: _Enrolments) -> list[_State]:
    """The state after each rule of :data:`RECONCILE_STEPS`, in order."""
    n = len(e.index)
    alive = np.ones(n, dtype=bool)
    values = {k: v.copy() for k, v in e.whole.items()}
    states = [_State("library", alive.copy(), {k: v.copy() for k, v in values.items()})]

    def push(step: str) -> None:
        states.append(_State(step, alive.copy(), {k: v.copy() for k, v in values.items()}))

    # the year's marks; an enrolment with none left in the year is no longer counted
    values = {k: v.copy() for k, v in e.year.items()}
    alive &= e.in_year
    # `marks` still includes not-counted codes here; the next row takes them out
    push("outside_year")
    values["marks"] = values["possible"].copy()
    push("not_possible_codes")
    unknown = np.isnan(e.age)
    alive &= ~unknown
    push("age_unknown")
    age = np.where(unknown, -1, e.age)
    alive &= unknown | (age >= MIN_AGE)
    push("under_5")
    alive &= unknown | (age <= MAX_AGE)
    push("over_15")
    alive &= ~e.boarder
    push("boarders")
    exam = (age == EXAM_AGE) & ~unknown
    for key in values:
        values[key] = np.where(exam, e.five["possible" if key == "marks" else key], values[key])
    push("age_15_second_half_summer")
    alive &= ~e.starts_in_sixth
    push("joined_second_half_summer")
    alive &= values["possible"] > 0
    push("no_possible_sessions")
    per_school = pd.Series(alive).groupby(pd.Series(e.school.astype(str))).transform("sum")
    alive &= per_school.to_numpy() >= MIN_SCHOOL_ENROLMENTS
    push("small_school")
    push("dfe")
    return states


# ============================================================================ aggregation
def _group_keys(
    e: _Enrolments, reg: Register, pupils: pd.DataFrame, by: Sequence[str]
) -> pd.DataFrame:
    keys = pd.DataFrame(index=pd.RangeIndex(len(e.index)))
    for key in by:
        if key == "school_id":
            keys[key] = e.school.astype(str) if reg.school_ids is not None else e.school
        elif key in (e.index.names or []):
            keys[key] = np.asarray(e.index.get_level_values(key), dtype=object)
        elif key in pupils.columns:
            values = pupil_column(e.index, pupils, key)
            keys[key] = _truthy(values) if key in _FLAG_COLUMNS else values.to_numpy(dtype=object)
        else:
            raise KeyError(f"{key!r} is neither school_id nor a column of the pupils table")
    return keys


def _figures(alive: npt.NDArray[np.bool_], v: dict[str, npt.NDArray[np.int64]]) -> dict[str, Any]:
    possible = v["possible"][alive]
    absent = v["absent"][alive]
    counted = possible > 0
    n = int(np.count_nonzero(counted))
    total = int(possible.sum())
    persistent, severe = persistent_and_severe(absent, possible)
    pa = int(np.count_nonzero(persistent))
    sa = int(np.count_nonzero(severe))

    def rate(num: int, den: int) -> float:
        return num / den if den else float("nan")

    auth, unauth = int(v["authorised"][alive].sum()), int(v["unauthorised"][alive].sum())
    return {
        "enrolments": int(np.count_nonzero(alive)),
        "possible": total,
        "attended": int(v["attended"][alive].sum()),
        "authorised": auth,
        "unauthorised": unauth,
        "absent": auth + unauth,
        "marks": int(v["marks"][alive].sum()),
        "overall_absence_rate": rate(auth + unauth, total),
        "authorised_absence_rate": rate(auth, total),
        "unauthorised_absence_rate": rate(unauth, total),
        "persistent_absentees": pa,
        "persistent_absence_rate": rate(pa, n),
        "severe_absentees": sa,
        "severe_absence_rate": rate(sa, n),
    }


_INT_COLUMNS = (
    "enrolments",
    "possible",
    "attended",
    "authorised",
    "unauthorised",
    "absent",
    "marks",
    "persistent_absentees",
    "severe_absentees",
)


def _typed(frame: pd.DataFrame) -> pd.DataFrame:
    for column in frame.columns:
        if column in _INT_COLUMNS or column.endswith("_removed"):
            frame[column] = frame[column].astype(np.int64)
        elif column.endswith("_rate"):
            frame[column] = frame[column].astype(np.float64)
    return frame


def _by_list(by: str | Sequence[str] | None) -> list[str]:
    return [] if by is None else [by] if isinstance(by, str) else list(by)


def _groups(
    keys: pd.DataFrame, by: list[str]
) -> list[tuple[tuple[Any, ...], npt.NDArray[np.bool_]]]:
    if not by:
        return [((), np.ones(len(keys), dtype=bool))]
    out = []
    for value, part in keys.groupby(by, sort=True, dropna=False):
        mask = np.zeros(len(keys), dtype=bool)
        mask[part.index.to_numpy()] = True
        out.append((value if isinstance(value, tuple) else (value,), mask))
    return out


def dfe_statistics(
    reg: Register,
    pupils: pd.DataFrame | None,
    year: Any = None,
    by: str | Sequence[str] | None = None,
) -> pd.DataFrame:
    """The DfE's headline absence measures, by its published methodology (dfe-rules.md §2).

    Counts enrolments (a pupil at two schools is two) of pupils aged 5 to 15 on 31 August at
    the start of ``year`` (``"2024/25"``, or 2024; default: the academic year of the register's
    latest date), from ``pupils['date_of_birth']``, else from the year group (Year N is aged
    N + 4), else not counted. Boarders (a true ``boarder`` flag) are not counted; pupils aged 15
    lose the sessions from the spring bank holiday (the last Monday in May) to 31 July;
    enrolments that began on or after that day, enrolments with no possible session, and
    schools with fewer than 6 enrolments left are removed.

    One row per ``by`` group (``"school_id"``, a column of ``pupils`` such as ``"year_group"``,
    a cohort flag such as ``"fsm"`` (True/False), or a list of them); one row, indexed
    ``"all"``, when ``by`` is None. Columns :data:`DFE_COLUMNS`: integer counts, rates as
    fractions in [0, 1] computed from the summed sessions (session-weighted), persistent
    absence ``10 × absent ≥ possible`` and severe absence ``2 × absent ≥ possible`` on each
    enrolment's own exact counts (NaN rates for an empty group). :func:`reconcile` explains
    how these differ from :func:`~attendance_core.classify` over the same register.
    """
    years = AcademicYear.parse(year, reg)
    e = _enrolments(reg, pupils, years)
    assert pupils is not None
    final = _states(e)[-1]
    keys_by = _by_list(by)
    keys = _group_keys(e, reg, pupils, keys_by)
    rows, labels = [], []
    for label, mask in _groups(keys, keys_by):
        figures = _figures(final.alive & mask, final.values)
        rows.append({c: figures[c] for c in DFE_COLUMNS})
        labels.append(label)
    if keys_by:
        index = (
            pd.Index([lab[0] for lab in labels], name=keys_by[0])
            if len(keys_by) == 1
            else pd.MultiIndex.from_tuples(labels, names=keys_by)
        )
    else:
        index = pd.Index(["all"], name="group")
    frame = _typed(pd.DataFrame(rows, index=index, columns=list(DFE_COLUMNS)))
    frame.attrs.update({"year": years.label, "method": "dfe-pupil-absence"})
    return frame


def reconcile(
    reg: Register,
    pupils: pd.DataFrame | None,
    year: Any = None,
    by: str | Sequence[str] | None = None,
) -> pd.DataFrame:
    """Why the library's figures for the register differ from :func:`dfe_statistics`, one
    rule a row.

    The first row (``library``) is :func:`~attendance_core.classify` over every mark of the
    register; each following row applies one rule of the DfE methodology to what is left
    (:data:`RECONCILE_STEPS`: marks outside the year, not-counted codes, pupils outside ages 5
    to 15 or of unknown age, boarders, the sixth half term of pupils aged 15, enrolments that
    began in it, enrolments with no possible session, small schools) and the last row
    (``dfe``) equals :func:`dfe_statistics`. Columns: ``step``, ``explanation``, the state
    after the row (``enrolments``, ``marks``, ``possible``, ``absent``, the rates and the
    persistent and severe absentees, whose rates are over enrolments with a possible
    session) and what the row removed (``enrolments_removed``, ``marks_removed``,
    ``possible_removed``, ``absent_removed``, ``persistent_absentees_removed``). With ``by`` the
    rows repeat per group and the index has the group first.
    """
    years = AcademicYear.parse(year, reg)
    e = _enrolments(reg, pupils, years)
    assert pupils is not None
    states = _states(e)
    explanation = dict(RECONCILE_STEPS)
    keys_by = _by_list(by)
    keys = _group_keys(e, reg, pupils, keys_by)
    rows: list[dict[str, Any]] = []
    labels: list[tuple[Any, ...]] = []
    removed = ("enrolments", "marks", "possible", "absent", "persistent_absentees")
    for label, mask in _groups(keys, keys_by):
        before: dict[str, Any] | None = None
        for state in states:
            figures = _figures(state.alive & mask, state.values)
            row: dict[str, Any] = {"step": state.step, "explanation": explanation[state.step]}
            row.update(figures)
            for key in removed:
                row[f"{key}_removed"] = 0 if before is None else before[key] - figures[key]
            rows.append(row)
            labels.append((*label, state.step))
            before = figures
    names = [*keys_by, "step"]
    index = (
        pd.Index([lab[0] for lab in labels], name="step")
        if not keys_by
        else pd.MultiIndex.from_tuples(labels, names=names)
    )
    frame = pd.DataFrame(rows, index=index).drop(columns=["step"])
    frame.insert(0, "step", [lab[-1] for lab in labels])
    # the figures of dfe_statistics, with the marks counted after the enrolments
    order = [
        "step",
        "explanation",
        "enrolments",
        "marks",
        *(c for c in DFE_COLUMNS if c != "enrolments"),
        *(f"{k}_removed" for k in removed),
    ]
    frame = _typed(frame[order])
    frame.attrs.update({"year": years.label})
    return frame


# ============================================================================ benchmarks
#: The measures a benchmark file may give, all rates (fractions in [0, 1]).
BENCHMARK_MEASURES = (
    "overall_absence_rate",
    "authorised_absence_rate",
    "unauthorised_absence_rate",
    "persistent_absence_rate",
    "severe_absence_rate",
)
#: ``published`` is the release's publication date (a ``datetime.date``; None when the file
#: does not give it), so a figure can be traced to the release it is quoted from.
BENCHMARK_COLUMNS = (
    "benchmark",
    "title",
    "year",
    "release",
    "url",
    "published",
    *BENCHMARK_MEASURES,
)
#: The fields of a ``[[figures]]`` table (or CSV row) besides the measures.
_FIGURE_FIELDS = ("year", "release", "url", "published")


def _rate_value(value: Any, where: str) -> float:
    """``"7.6%"`` → 0.076; a bare number is a fraction when at most 1, else a percentage."""
    try:
        if isinstance(value, str):
            text = value.strip()
            if not text:
                return float("nan")
            if text.endswith("%"):
                number = float(text[:-1]) / 100
            else:
                number = float(text)
                number = number / 100 if number > 1 else number
        elif isinstance(value, bool):
            raise TypeError
        else:
            number = float(value)
            if np.isnan(number):
                return number
            number = number / 100 if number > 1 else number
    except (TypeError, ValueError) as exc:
        raise AttendanceError(f"{where}: {value!r} is not a rate such as '7.6%'") from exc
    if not 0 <= number <= 1:
        raise AttendanceError(f"{where}: {value!r} is not a rate between 0% and 100%")
    return number


def _benchmark_rows(data: dict[str, Any], origin: str) -> list[dict[str, Any]]:
    if "id" not in data or not isinstance(data.get("figures"), list):
        raise AttendanceError(f"{origin}: a benchmark file needs an 'id' and [[figures]] tables")
    rows = []
    for n, fig in enumerate(data["figures"], start=1):
        where = f"{origin}: figures {n}"
        if not isinstance(fig, dict) or "year" not in fig:
            raise AttendanceError(f"{where}: missing field 'year'")
        unknown = set(fig) - {*_FIGURE_FIELDS, *BENCHMARK_MEASURES}
        if unknown:
            raise AttendanceError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
        row: dict[str, Any] = {
            "benchmark": str(data["id"]),
            "title": str(data.get("title", data["id"])),
            "year": AcademicYear.parse(fig["year"]).label,
            "release": fig.get("release"),
            "url": fig.get("url", data.get("url")),
            "published": None
            if fig.get("published") in (None, "")
            else as_date(fig["published"], f"{where}, published"),
        }
        for measure in BENCHMARK_MEASURES:
            value = fig.get(measure)
            row[measure] = (
                float("nan") if value is None else _rate_value(value, f"{where}, {measure}")
            )
        rows.append(row)
    return rows


def benchmarks(path: Any = None) -> pd.DataFrame:
    """Comparison figures: the bundled DfE national figures, or a user file in the same shape.

    With no ``path``, the national headline figures quoted from the DfE's *Pupil absence in
    schools in England* releases (each row names its release; a measure the DfE's own text does
    not give for a year is NaN). ``path`` is a TOML file laid out like the bundled
    ``data/benchmarks/england.toml`` (``id``, ``title``, ``[[figures]]`` with ``year``, any of
    the rates, and optionally the ``release`` quoted, its ``url`` and its ``published`` date),
    or a CSV with columns ``benchmark``, ``year`` and any of the rates and those fields — an
    LA's or a trust's own figures. Rates are given as ``"7.6%"`` or 0.076 and returned as
    fractions in [0, 1]; one row per (benchmark, year), columns :data:`BENCHMARK_COLUMNS`.
    """
    import tomllib
    from importlib import resources
    from pathlib import Path

    rows: list[dict[str, Any]] = []
    if path is None:
        root = resources.files("attendance_core") / "data" / "benchmarks"
        for entry in sorted(root.iterdir(), key=lambda e: e.name):
            if entry.name.endswith(".toml"):
                rows += _benchmark_rows(tomllib.loads(entry.read_text("utf-8")), entry.name)
    else:
        file = Path(path)
        try:
            if file.suffix.lower() == ".toml":
                rows = _benchmark_rows(tomllib.loads(file.read_text("utf-8")), file.name)
            else:
                table = pd.read_csv(file, dtype=str, keep_default_na=False, encoding="utf-8-sig")
                rows = _benchmark_csv(table, file.name)
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise AttendanceError(f"{file.name}: cannot read benchmarks ({exc})") from exc
    frame = pd.DataFrame(rows, columns=list(BENCHMARK_COLUMNS))
    for measure in BENCHMARK_MEASURES:
        frame[measure] = frame[measure].astype(np.float64)
    return frame.set_index(["benchmark", "year"]).sort_index()


def _benchmark_csv(table: pd.DataFrame, origin: str) -> list[dict[str, Any]]:
    missing = {"benchmark", "year"} - set(table.columns)
    if missing:
        raise AttendanceError(f"{origin}: missing column(s) {', '.join(sorted(missing))}")
    rows = []
    for i, rec in enumerate(table.to_dict("records"), start=2):  # row 1 is the header
        figure = {k: v for k, v in rec.items() if k in _FIGURE_FIELDS and v != ""}
        figure |= {k: rec[k] for k in BENCHMARK_MEASURES if k in rec and rec[k] != ""}
        data = {"id": rec["benchmark"], "title": rec.get("title") or rec["benchmark"]}
        rows += _benchmark_rows({**data, "figures": [figure]}, f"{origin}, row {i}")
    return rows
