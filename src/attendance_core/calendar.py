"""School calendars derived from marks: school sessions, school days, school weeks.

Definitions (domain.md §1): a *school session* of a school is a (date, AM/PM) on which at least
one of its pupils has a mark other than ``#``; a *school day* is a date with a school session; a
*school week* is a Monday–Sunday week with a school session. Each school's calendar is its own,
never shared; term-date files may add school days the marks do not show. The *academic year*
runs 1 August to 31 July.
"""

from __future__ import annotations

import datetime as dt
import tomllib
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
import numpy as np
import numpy.typing as npt
import pandas as pd

from .errors import RegisterError

if TYPE_CHECKING:
    from .register import Register

__all__ = [
    "SchoolCalendar",
    "academic_year",
    "academic_year_start",
    "as_date",
    "read_term_dates",
    "week_start",
]


def academic_year_start(day: dt.date) -> dt.date:
    """1 August of the academic year containing ``day``."""
    year = day.year if day.month >= 8 else day.year - 1
    return dt.date(year, 8, 1)


def academic_year(day: dt.date) -> tuple[dt.date, dt.date]:
    """The first and last date (1 August, 31 July) of the academic year containing ``day``."""
    start = academic_year_start(day)
    return start, dt.date(start.year + 1, 7, 31)


def week_start(day: dt.date) -> dt.date:
    """The Monday of the Monday–Sunday week containing ``day``."""
    return day - dt.timedelta(days=day.weekday())


def as_date(value: Any) -> dt.date:
    """A calendar date from a date, datetime, Timestamp, ``datetime64`` or ISO text."""
    if isinstance(value, dt.datetime | pd.Timestamp):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, np.datetime64):
        return pd.Timestamp(value).date()
    return dt.date.fromisoformat(str(value).strip()[:10])


@attrs.frozen(kw_only=True)
class SchoolCalendar:
    """The calendar of one school: its school sessions as ``datetime64[D]`` dates and flags."""

    school_id: str | None
    dates: npt.NDArray[np.datetime64] = attrs.field(eq=False)
    am: npt.NDArray[np.bool_] = attrs.field(eq=False)
    pm: npt.NDArray[np.bool_] = attrs.field(eq=False)

    @classmethod
    def of(cls, register: Register, school_id: str | None = None) -> SchoolCalendar:
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
        days = self.school_days
        if not len(days):
            return days
        weekday = (days.astype("datetime64[D]").view("int64") - 4) % 7  # 1970-01-01 was Thursday
        mondays = days - weekday.astype("timedelta64[D]")
        result: npt.NDArray[np.datetime64] = np.unique(mondays)
        return result

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
        days = self.school_days
        stop = int(np.searchsorted(days, np.datetime64(as_date(as_of), "D"), "right"))
        result: npt.NDArray[np.datetime64] = days[max(0, stop - n) : stop]
        return result

    def school_days_between(self, after: Any, up_to: Any) -> int:
        """School days strictly after ``after`` up to and including ``up_to``."""
        days = self.school_days
        lo = int(np.searchsorted(days, np.datetime64(as_date(after), "D"), "right"))
        hi = int(np.searchsorted(days, np.datetime64(as_date(up_to), "D"), "right"))
        return max(0, hi - lo)

    def week_window(self, as_of: Any, n: int) -> tuple[dt.date, dt.date]:
        """The *n-week window*: the school week containing ``as_of`` and the ``n - 1`` school
        weeks before it, as (first Monday, ``as_of``). Weeks with no school session are skipped.

        When the week of ``as_of`` has no school session yet, the window still ends on
        ``as_of`` and holds the ``n - 1`` school weeks before it plus that week.
        """
        day = as_date(as_of)
        monday = np.datetime64(week_start(day), "D")
        weeks = self.school_weeks
        before = weeks[weeks < monday]
        earlier = before[max(0, len(before) - (n - 1)) :] if n > 1 else before[:0]
        first = earlier[0] if len(earlier) else monday
        return pd.Timestamp(first).date(), day


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
