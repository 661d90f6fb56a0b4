"""School calendars derived from marks: school sessions, school days, school weeks.

Definitions (domain.md §1): a *school session* of a school is a (date, AM/PM) on which at least
one of its pupils has a mark whose code is not tagged ``closure`` (the ``#``); a *school day*
is a date with a school session; a *school week* is a Monday–Sunday week with a school
session. Each school's calendar is its own,
never shared; term-date files may add school days the marks do not show. The *academic year*
runs 1 August to 31 July.
"""

from __future__ import annotations

import datetime as dt
import re
import tomllib
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Protocol

import attrs
import numpy as np
import numpy.typing as npt
import pandas as pd
from dateutil.easter import easter

from ._values import is_blank
from .errors import AttendanceError, AttendanceWarning, RegisterError


class _Marks(Protocol):
    """What a calendar needs of a register (so this module never imports the register's)."""

    @property
    def schools(self) -> Any: ...

    @property
    def dates(self) -> npt.NDArray[np.datetime64]: ...

    @property
    def school_sessions(self) -> npt.NDArray[np.bool_]: ...


__all__ = [
    "EMPTY",
    "FIRST_DATE",
    "LAST_DATE",
    "STRAY_GAP_DAYS",
    "STRAY_RATIO",
    "SchoolCalendar",
    "academic_year",
    "academic_year_number",
    "academic_year_start",
    "as_date",
    "as_dates",
    "clip",
    "in_bounds",
    "in_range",
    "previous_term_bounds",
    "read_term_dates",
    "stray_days",
    "term_bounds",
    "term_of",
    "week_start",
    "year_before",
]


_EPOCH = np.datetime64("1970-01-01", "D")

#: The first date a register, or any date argument, may hold. Electronic registers in England
#: began in the 1990s; 0001-01-01 is the "no date" of .NET-based MIS exports, never a school day.
FIRST_DATE = dt.date(1990, 1, 1)
#: The last date a register, or any date argument, may hold (9999-12-31 is the "open end"
#: placeholder of the same exports).
LAST_DATE = dt.date(2099, 12, 31)
#: The first date of birth a pupils table may hold: a pupil is born years before any register
#: that holds them (a 1990 register's pupils were born in the 1970s and 80s).
BIRTH_FIRST_DATE = dt.date(1900, 1, 1)
# the first date each column of a pupils table may hold (FIRST_DATE when not named here)
_COLUMN_FIRST_DATE = {"date_of_birth": BIRTH_FIRST_DATE}

#: a period as inclusive (start, end); None is open
Period = tuple[dt.date | None, dt.date | None]
#: a period that holds no date (start after end), both ends inside the bounds so that every
#: date argument takes it
EMPTY: tuple[dt.date, dt.date] = (FIRST_DATE + dt.timedelta(days=1), FIRST_DATE)


# The week and window arithmetic every module uses (the counting engine serves it as well): a
# school week is a Monday-Sunday week with a school session; "the last n school weeks to as_of"
# counts a week when its Monday is on or before as_of.
def day64(day: dt.date) -> np.datetime64:
    """A date as ``datetime64[D]``."""
    return np.datetime64(day, "D")


def to_date(day: np.datetime64) -> dt.date:
    """A ``datetime64[D]`` as a date."""
    return dt.date(1970, 1, 1) + dt.timedelta(days=int((day - _EPOCH).astype(np.int64)))


def mondays(days: npt.NDArray[np.datetime64]) -> npt.NDArray[np.datetime64]:
    """The Monday of the Monday–Sunday week of each date (``datetime64[D]``)."""
    d = days.astype("datetime64[D]")
    weekday = (d.view("int64") - 4) % 7  # 1970-01-01 was a Thursday
    result: npt.NDArray[np.datetime64] = d - weekday.astype("timedelta64[D]")
    return result


def school_weeks(days: npt.NDArray[np.datetime64]) -> npt.NDArray[np.datetime64]:
    """The Mondays of the weeks holding any of ``days`` (a school's school days), ascending."""
    result: npt.NDArray[np.datetime64] = np.unique(mondays(days))
    return result


def last_weeks(
    weeks: npt.NDArray[np.datetime64], as_of: dt.date, n: int, skip: int = 0
) -> npt.NDArray[np.datetime64]:
    """The Mondays of "the last ``n`` school weeks to ``as_of``", after leaving out the last
    ``skip`` of them (``skip=4, n=4``: the four school weeks before the last four).

    A school week counts when its Monday is on or before ``as_of``; so when ``as_of`` falls
    in a holiday the window is the ``n`` school weeks before it (rulings.md item 9). Fewer than
    ``n`` near the start of the data.
    """
    upto = weeks[weeks <= day64(as_of)]
    upto = upto[: len(upto) - skip] if skip else upto
    result: npt.NDArray[np.datetime64] = upto[max(0, len(upto) - n) :] if n > 0 else upto[:0]
    return result


def week_window(
    weeks: npt.NDArray[np.datetime64], as_of: dt.date, n: int
) -> tuple[dt.date, dt.date] | None:
    """The *n-week window*: (first Monday of the last ``n`` school weeks, ``as_of``), or None
    when no school week starts on or before ``as_of``."""
    chosen = last_weeks(weeks, as_of, n)
    return (to_date(chosen[0]), as_of) if len(chosen) else None


def weeks_period(
    weeks: npt.NDArray[np.datetime64], as_of: dt.date, n: int, skip: int = 0
) -> tuple[dt.date, dt.date]:
    """The period of :func:`last_weeks`: its first Monday to ``as_of`` (``skip=0``) or to the
    day before the first of the skipped weeks; :data:`EMPTY` when it holds no school week."""
    chosen = last_weeks(weeks, as_of, n, skip)
    if not len(chosen):
        return EMPTY
    if not skip:
        return to_date(chosen[0]), as_of
    after = last_weeks(weeks, as_of, skip)
    return to_date(chosen[0]), to_date(after[0]) - dt.timedelta(days=1)


def last_days(
    days: npt.NDArray[np.datetime64], as_of: dt.date, n: int
) -> npt.NDArray[np.datetime64]:
    """The ``n`` school days up to and including ``as_of`` (fewer near the start)."""
    stop = int(np.searchsorted(days, day64(as_of), "right"))
    result: npt.NDArray[np.datetime64] = days[max(0, stop - n) : stop]
    return result


def days_between(days: npt.NDArray[np.datetime64], after: dt.date, up_to: dt.date) -> int:
    """School days strictly after ``after`` up to and including ``up_to``."""
    lo = int(np.searchsorted(days, day64(after), "right"))
    hi = int(np.searchsorted(days, day64(up_to), "right"))
    return max(0, hi - lo)


# Every period derived from a date (its academic year, its term, the term before, the same part
# of last year) is made here and held to FIRST_DATE..LAST_DATE: a period reaching past the
# bounds holds no mark there, and handing its true start (1989-08-01 for an as_of in 1990) to a
# function that takes dates would refuse it as a date argument. Week windows need no clip: they
# start on the Monday of a school day, and FIRST_DATE is a Monday.
def clip(start: dt.date, end: dt.date) -> tuple[dt.date, dt.date]:
    """The period ``start``..``end`` held to :data:`FIRST_DATE`..:data:`LAST_DATE`;
    :data:`EMPTY` when it lies wholly outside them."""
    if end < FIRST_DATE or start > LAST_DATE or end < start:
        return EMPTY
    return max(start, FIRST_DATE), min(end, LAST_DATE)


def academic_year_number(day: dt.date) -> int:
    """The calendar year in which the academic year containing ``day`` begins (2024 for
    2024/25): the year's name, which clipping its dates never changes."""
    return day.year if day.month >= 8 else day.year - 1


def academic_year_start(day: dt.date) -> dt.date:
    """1 August of the academic year containing ``day``, or :data:`FIRST_DATE` when that is
    later (the year of a day in spring 1990)."""
    return academic_year(day)[0]


def academic_year(day: dt.date) -> tuple[dt.date, dt.date]:
    """The first and last date (1 August, 31 July) of the academic year containing ``day``,
    held to :data:`FIRST_DATE`..:data:`LAST_DATE` (:func:`clip`)."""
    year = academic_year_number(day)
    return clip(dt.date(year, 8, 1), dt.date(year + 1, 7, 31))


def year_before(day: dt.date) -> tuple[dt.date, dt.date]:
    """The same part of the academic year before ``day``'s: its 1 August to the day a year
    before ``day`` (28 February for 29 February), clipped (:data:`EMPTY` before the bounds)."""
    year = academic_year_number(day) - 1
    same = dt.date(day.year - 1, day.month, 28 if (day.month, day.day) == (2, 29) else day.day)
    return clip(dt.date(year, 8, 1), same)


def _term(day: dt.date) -> tuple[dt.date, dt.date]:
    if day.month >= 8:
        return dt.date(day.year, 8, 1), dt.date(day.year, 12, 31)
    sunday = easter(day.year)
    if day <= sunday:
        return dt.date(day.year, 1, 1), sunday
    return sunday + dt.timedelta(days=1), dt.date(day.year, 7, 31)


def term_of(day: Any) -> str:
    """The term of a date as ``"2024/25 autumn"``, ``"2024/25 spring"`` or ``"2024/25 summer"``.

    Autumn runs 1 August–31 December, spring 1 January–Easter Sunday, summer Easter Monday–31
    July (:mod:`~attendance_core.patterns` says why).
    """
    d = as_date(day)
    start = academic_year_number(d)
    label = f"{start}/{(start + 1) % 100:02d}"
    if d.month >= 8:
        return f"{label} autumn"
    return f"{label} spring" if d <= easter(d.year) else f"{label} summer"


def term_bounds(day: Any) -> tuple[dt.date, dt.date]:
    """First and last date of the term containing ``day`` (:func:`term_of`), clipped."""
    return clip(*_term(as_date(day)))


def previous_term_bounds(day: Any) -> tuple[dt.date, dt.date]:
    """First and last date of the term before the one containing ``day``, clipped:
    :data:`EMPTY` when that term ended before :data:`FIRST_DATE`."""
    first, _ = _term(as_date(day))
    return clip(*_term(first - dt.timedelta(days=1)))


def week_start(day: dt.date) -> dt.date:
    """The Monday of the Monday–Sunday week containing ``day``."""
    return day - dt.timedelta(days=day.weekday())


# A date given as text is ISO (YYYY-MM-DD, optionally with a time): 01/03/2025 is 1 March to an
# attendance officer and 3 January to pandas, so an ambiguous string is refused, never guessed.
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}(?:[T ].*)?")

#: A mark dated more than this many days from every other mark date of its school...
STRAY_GAP_DAYS = 183
#: ...in a run of dates holding fewer than one in this many of the dates of the school's
#: largest run is a stray (``2052-06-18`` typed in a 2024/25 export): see :func:`stray_days`.
STRAY_RATIO = 10


def as_date(value: Any, name: str = "date", *, first: dt.date = FIRST_DATE) -> dt.date:
    """A calendar date from a date, datetime, Timestamp, ``datetime64`` or ISO text.

    Any other text (``01/03/2025``), and any date before :data:`FIRST_DATE` or after
    :data:`LAST_DATE` (``0001-01-01``, ``9999-12-31``), raises
    :class:`~attendance_core.AttendanceError` naming the argument ``name``: the one date
    policy of every date argument of the API and the CLI, and the bounds a register's marks
    are held to. ``first`` moves the lower bound (dates of birth: :data:`BIRTH_FIRST_DATE`).
    """
    day = _parse_date(value)
    if day is None:
        text = str(value).strip()
        raise AttendanceError(f"{name}: {text[:40]!r} is not a date; give it as YYYY-MM-DD")
    if not in_range(day, first):
        raise AttendanceError(
            f"{name}: {day.isoformat()} is outside the dates a register can hold "
            f"({first.isoformat()} to {LAST_DATE.isoformat()})"
        )
    return day


def _parse_date(value: Any) -> dt.date | None:
    if isinstance(value, dt.datetime | pd.Timestamp):
        return None if value is pd.NaT else value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, np.datetime64):
        if np.isnat(value):
            return None
        day = value.astype("datetime64[D]").item()  # a date, or an int beyond year 9999
        return day if isinstance(day, dt.date) else None
    text = str(value).strip()
    if _ISO_DATE.fullmatch(text):
        try:
            return dt.date.fromisoformat(text[:10])
        except ValueError:
            pass
    return None


def in_range(day: dt.date, first: dt.date = FIRST_DATE) -> bool:
    """Whether ``day`` lies from ``first`` (:data:`FIRST_DATE`) to :data:`LAST_DATE`: the one
    bound of every date argument, every mark (``date_out_of_range``) and every adapter."""
    return first <= day <= LAST_DATE


def in_bounds(
    ordinals: npt.NDArray[np.int64], first: dt.date = FIRST_DATE
) -> npt.NDArray[np.bool_]:
    """Which date ordinals (days since 1970-01-01) lie from ``first`` (:data:`FIRST_DATE`) to
    :data:`LAST_DATE`."""
    lo = (first - dt.date(1970, 1, 1)).days
    hi = (LAST_DATE - dt.date(1970, 1, 1)).days
    result: npt.NDArray[np.bool_] = (ordinals >= lo) & (ordinals <= hi)
    return result


def stray_days(days: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """The strays among one school's distinct mark dates (ordinals, any order).

    The dates are cut into runs wherever two successive dates are more than
    :data:`STRAY_GAP_DAYS` apart (no holiday is that long). A run with fewer than one
    :data:`STRAY_RATIO`-th of the dates of the school's largest run is a stray: a date
    mistyped into another year (``2052-06-18`` among the 190 school days of 2024/25), not a
    register. Two full years of data a year apart are both kept; so is every date of a small
    register (ten dates or fewer are never outnumbered ten to one).
    """
    uniq = np.unique(days)
    if len(uniq) < STRAY_RATIO + 1:
        return uniq[:0]
    cuts = np.flatnonzero(np.diff(uniq) > STRAY_GAP_DAYS) + 1
    if not len(cuts):
        return uniq[:0]
    runs = np.split(uniq, cuts)
    largest = max(len(r) for r in runs)
    strays = [r for r in runs if len(r) * STRAY_RATIO < largest]
    return np.concatenate(strays) if strays else uniq[:0]


def as_dates(values: Any, name: str = "date", *, ids: Any = None) -> pd.Series:
    """A column of dates (``datetime64[ns]``, blanks as ``NaT``) by :func:`as_date`'s policy.

    For the date columns of a pupils table (``date_of_birth``, ``admission_date``,
    ``leaving_date``): date objects, datetimes, ``datetime64`` and ISO text are dates; ``None``,
    NaN and blank text are unknown; any other text raises
    :class:`~attendance_core.AttendanceError` naming the column, how many cells and the first
    pupil (``ids``, aligned with ``values``) — never the value, which may be a date of birth.
    Each distinct value is decided once.
    """
    series = pd.Series(values)
    first = _COLUMN_FIRST_DATE.get(name, FIRST_DATE)
    if pd.api.types.is_datetime64_any_dtype(series.dtype):
        days = series.to_numpy().astype("datetime64[D]")
        known = ~np.isnat(days)
        outside = known & ~in_bounds(days.astype(np.int64), first)
        _warn_outside(name, int(outside.sum()), first)
        days[outside] = np.datetime64("NaT")
        return pd.Series(days.astype("datetime64[ns]"), index=series.index)
    codes, uniques = pd.factorize(series.astype(object), use_na_sentinel=True)
    decided: list[Any] = []
    bad = np.zeros(len(uniques) + 1, dtype=bool)
    far = np.zeros(len(uniques) + 1, dtype=bool)
    for i, value in enumerate(uniques):
        if is_blank(value):
            decided.append(pd.NaT)
            continue
        try:
            decided.append(pd.Timestamp(as_date(value, name, first=first)))
        except (AttendanceError, pd.errors.OutOfBoundsDatetime):
            decided.append(pd.NaT)
            # a real date outside the bounds (a 9999-12-31 "not left" placeholder) is unknown;
            # text that is not an ISO date is refused
            iso = isinstance(value, dt.date | np.datetime64) or bool(
                _ISO_DATE.fullmatch(str(value).strip())
            )
            far[i] = iso
            bad[i] = not iso
    at = np.where(codes >= 0, codes, len(uniques))
    wrong = bad[at]
    if wrong.any():
        at_first = int(np.flatnonzero(wrong)[0])
        who = "" if ids is None else f" (first: pupil {str(list(ids)[at_first])[:40]})"
        raise AttendanceError(
            f"{name}: {int(wrong.sum())} value(s) are not dates{who}; give them as YYYY-MM-DD"
        )
    _warn_outside(name, int(far[at].sum()), first)
    lut = pd.DatetimeIndex([*decided, pd.NaT]).to_numpy(dtype="datetime64[ns]")
    return pd.Series(lut[at], index=series.index)


def _warn_outside(name: str, count: int, first: dt.date) -> None:
    if count:
        warnings.warn(
            f"{name}: {count} date(s) outside {first} to {LAST_DATE} are taken as unknown "
            "(a placeholder such as 9999-12-31 means no date)",
            AttendanceWarning,
            stacklevel=3,
        )


@attrs.frozen(kw_only=True)
class SchoolCalendar:
    """The calendar of one school: its school sessions as ``datetime64[D]`` dates and flags."""

    school_id: str | None
    dates: npt.NDArray[np.datetime64] = attrs.field(eq=False)
    am: npt.NDArray[np.bool_] = attrs.field(eq=False)
    pm: npt.NDArray[np.bool_] = attrs.field(eq=False)

    @classmethod
    def of(cls, register: _Marks, school_id: str | None = None) -> SchoolCalendar:
        """The calendar of ``school_id`` in ``register`` (the only school when None)."""
        schools = list(register.schools)
        if school_id is None:
            if len(schools) != 1:
                raise RegisterError("the register holds several schools: name one")
            s = 0
        else:
            if school_id not in schools:
                raise RegisterError(f"no school {school_id!r} in the register")
            s = schools.index(school_id)
        mask = register.school_sessions[s]
        return cls(school_id=schools[s], dates=register.dates, am=mask[0::2], pm=mask[1::2])

    def with_school_days(self, days: Iterable[Any]) -> SchoolCalendar:
        """A calendar completed from a term-date file: ``days`` are school days (both
        sessions) even where no pupil has a mark."""
        extra = np.array(sorted({as_date(d) for d in days}), dtype="datetime64[D]")
        dates = np.union1d(self.dates, extra)
        am = np.isin(dates, extra) | np.isin(dates, self.dates[self.am])
        pm = np.isin(dates, extra) | np.isin(dates, self.dates[self.pm])
        return attrs.evolve(self, dates=dates, am=am, pm=pm)

    @property
    def school_days(self) -> npt.NDArray[np.datetime64]:
        """Dates with at least one school session, ascending."""
        result: npt.NDArray[np.datetime64] = self.dates[self.am | self.pm]
        return result

    @property
    def school_weeks(self) -> npt.NDArray[np.datetime64]:
        """Mondays of the weeks with at least one school session, ascending."""
        return school_weeks(self.school_days)

    @property
    def n_sessions(self) -> int:
        """Number of school sessions."""
        return int(self.am.sum() + self.pm.sum())

    def is_school_day(self, day: Any) -> bool:
        """Whether ``day`` is a school day."""
        d = np.datetime64(as_date(day), "D")
        return bool(np.isin(d, self.school_days))

    def last_school_days(self, as_of: Any, n: int) -> npt.NDArray[np.datetime64]:
        """The ``n`` school days up to and including ``as_of`` (fewer near the start)."""
        return last_days(self.school_days, as_date(as_of), n)

    def school_days_between(self, after: Any, up_to: Any) -> int:
        """School days strictly after ``after`` up to and including ``up_to``."""
        return days_between(self.school_days, as_date(after), as_date(up_to))

    def week_window(self, as_of: Any, n: int) -> tuple[dt.date, dt.date]:
        """The *n-week window*: the last ``n`` school weeks to ``as_of``, as (first Monday,
        ``as_of``). Weeks with no school session are skipped.

        A school week counts when its Monday is on or before ``as_of``; when ``as_of`` falls in
        a holiday the window holds the ``n`` school weeks before it (rulings.md item 9), the
        definition :mod:`~attendance_core.patterns` and the policy use too. With no school week
        yet the window is ``as_of``'s own week.
        """
        day = as_date(as_of)
        window = week_window(self.school_weeks, day, n)
        return window if window is not None else (week_start(day), day)


def read_term_dates(path: str | Path) -> list[dt.date]:
    """School days from a term-date file (TOML): weekdays inside each term, less closures.

    Layout::

        [[terms]]
        start = 2024-09-03
        end = 2024-10-25

        [[terms]]
        start = 2024-11-04
        end = 2024-12-20

        closed = [2024-09-20]   # INSET days, bank holidays, polling days

    ``closed`` must come before the first ``[[terms]]`` table in TOML, or under ``[closures]``
    as ``days = [...]``.
    """
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise RegisterError(f"cannot read term dates ({exc})", file=path.name) from exc
    closed_raw = list(data.get("closed", [])) + list(data.get("closures", {}).get("days", []))
    closed = {as_date(d) for d in closed_raw}
    days: list[dt.date] = []
    for n, term in enumerate(data.get("terms", []), start=1):
        try:
            start, end = as_date(term["start"]), as_date(term["end"])
        except (KeyError, TypeError, ValueError) as exc:
            raise RegisterError(
                "each term needs a start and an end date", file=path.name, row=n, column="terms"
            ) from exc
        if end < start:
            raise RegisterError("term ends before it starts", file=path.name, row=n, column="terms")
        day = start
        while day <= end:
            if day.weekday() < 5 and day not in closed:
                days.append(day)
            day += dt.timedelta(days=1)
    return sorted(set(days))
