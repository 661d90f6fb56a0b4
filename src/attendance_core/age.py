"""Compulsory school age in England, from a date of birth or, failing that, a year group.

A child is of compulsory school age (Education Act 1996 s.8 and the Education (Start of
Compulsory School Age) Order 1998) from the first prescribed day — 31 December, 31 March or
31 August — on or after their fifth birthday, until the last Friday of June of the school year
in which they turn 16 (both days included). The school year here runs 1 September to 31 August,
so a pupil who turns 16 in July or August leaves in the June before the birthday.

When the date of birth is unknown, the year group decides: Years 1 to 10 are of compulsory
school age, Year 11 to the last Friday of June of its school year; nursery, Reception, Years 12
and 13 are not. When neither is known the answer is
``None`` ("unknown"), and the recommendation engine lets age-gated rules fire with
``evidence["compulsory_school_age"] == "unknown"``.

A birthday on 29 February falls on 1 March in a common year (Family Law Reform Act 1969 s.9
counts the anniversary from the start of the day after 28 February).
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from .calendar import as_dates

__all__ = [
    "compulsory_age_end",
    "compulsory_age_start",
    "compulsory_school_age",
    "compulsory_school_age_of",
    "year_group_number",
]

#: Year-group number of nursery (N1, N2, "Nursery", F1) and of Reception (R, "Reception", F2).
NURSERY = -1
RECEPTION = 0

_PRESCRIBED_DAYS = ((3, 31), (8, 31), (12, 31))
_NUMBERED = re.compile(r"^(?:Y|YR|YEAR|YEARGROUP|NCY|NC)?(\d{1,2})$")
_WORDS: dict[str, int] = {
    "R": RECEPTION,
    "YR": RECEPTION,
    "YEARR": RECEPTION,
    "REC": RECEPTION,
    "RECEPTION": RECEPTION,
    "F2": RECEPTION,
    "FS2": RECEPTION,
    "N": NURSERY,
    "N1": NURSERY,
    "N2": NURSERY,
    "YN": NURSERY,
    "NUR": NURSERY,
    "NURSERY": NURSERY,
    "F1": NURSERY,
    "FS1": NURSERY,
}


def _birthday(dob: dt.date, years: int) -> dt.date:
    """The date a person born on ``dob`` attains ``years`` (29 Feb → 1 Mar in common years)."""
    year = dob.year + years
    try:
        return dob.replace(year=year)
    except ValueError:  # 29 February in a common year
        return dt.date(year, 3, 1)


def compulsory_age_start(date_of_birth: dt.date) -> dt.date:
    """The first day of compulsory school age: the first of 31 Dec, 31 Mar or 31 Aug on or
    after the fifth birthday."""
    fifth = _birthday(date_of_birth, 5)
    for month, day in _PRESCRIBED_DAYS:
        candidate = dt.date(fifth.year, month, day)
        if candidate >= fifth:
            return candidate
    return dt.date(fifth.year + 1, 3, 31)  # pragma: no cover - 31 Dec always qualifies


def compulsory_age_end(date_of_birth: dt.date) -> dt.date:
    """The last day of compulsory school age: the last Friday of June of the school year
    (1 September – 31 August) in which the pupil turns 16."""
    sixteenth = _birthday(date_of_birth, 16)
    year = sixteenth.year + (1 if sixteenth.month >= 9 else 0)
    june_30 = dt.date(year, 6, 30)
    return june_30 - dt.timedelta(days=(june_30.weekday() - 4) % 7)


def year_group_number(year_group: Any) -> int | None:
    """The national curriculum year of a year-group label, or None when it cannot be read.

    Accepts "Year 7", "Y7", "7", "Yr 7", "NCY 7"; Reception as "R", "YR", "Reception", "F2"
    (→ 0); nursery as "N", "N1", "N2", "Nursery", "F1" (→ -1). Case and spaces do not matter.
    """
    if year_group is None:
        return None
    if isinstance(year_group, float):
        if math.isnan(year_group) or not year_group.is_integer():  # NaN or 7.5
            return None
        year_group = int(year_group)
    if isinstance(year_group, int | np.integer) and not isinstance(year_group, bool):
        value = int(year_group)
        return value if 0 <= value <= 14 else None
    text = re.sub(r"[\s._\-]+", "", str(year_group)).upper()
    if not text:
        return None
    if text in _WORDS:
        return _WORDS[text]
    m = _NUMBERED.match(text)
    if m is None:
        return None
    value = int(m.group(1))
    return value if 0 <= value <= 14 else None


def _last_friday_of_june(on: dt.date) -> dt.date:
    """The last Friday of June of the school year (1 September – 31 August) holding ``on``."""
    year = on.year + (1 if on.month >= 9 else 0)
    june_30 = dt.date(year, 6, 30)
    return june_30 - dt.timedelta(days=(june_30.weekday() - 4) % 7)


def _year_group_compulsory(year_group: Any, on: dt.date | None = None) -> bool | None:
    """Y1–Y10 compulsory; Y11 to the last Friday of June of its school year (api.md); nursery,
    Reception, Y12 and Y13 not; None when the label cannot be read."""
    number = year_group_number(year_group)
    if number is None:
        return None
    if number == 11 and on is not None:
        return on <= _last_friday_of_june(on)
    return 1 <= number <= 11


def _as_date(value: Any) -> dt.date | None:
    """A date of birth by the one date policy (:func:`~attendance_core.calendar.as_date`);
    None when blank or missing."""
    stamp = as_dates([value], "date_of_birth").iloc[0]
    return None if pd.isna(stamp) else stamp.date()


def compulsory_school_age(
    on: dt.date, *, date_of_birth: Any = None, year_group: Any = None
) -> bool | None:
    """Whether a pupil is of compulsory school age on ``on``; None when unknown.

    Decided from ``date_of_birth`` when it is a usable date, else from ``year_group``
    (Y1–Y10 → True; Y11 → True to the last Friday of June; nursery, Reception, Y12, Y13 →
    False), else None.
    """
    dob = _as_date(date_of_birth)
    if dob is not None:
        return compulsory_age_start(dob) <= on <= compulsory_age_end(dob)
    return _year_group_compulsory(year_group, on)


def compulsory_school_age_of(
    pupils: pd.DataFrame | None, keys: Sequence[int] | npt.NDArray[np.int64], on: dt.date
) -> npt.NDArray[np.int8]:
    """Compulsory school age of pupils-table rows, vectorised over distinct values.

    ``keys`` are positions into ``pupils`` (-1: pupil not in the table). Returns an ``int8``
    array: 1 of compulsory school age, 0 not, -1 unknown. Each distinct date of birth and year
    group is decided once, so 200,000 pupils cost a few thousand Python calls at most.
    """
    keys = np.asarray(keys, dtype=np.int64)
    out = np.full(len(keys), -1, dtype=np.int8)
    if pupils is None or not len(keys):
        return out
    n = len(pupils)
    by_dob = np.full(n + 1, -1, dtype=np.int8)
    known_dob = np.zeros(n + 1, dtype=bool)
    if "date_of_birth" in pupils.columns:
        dobs = as_dates(pupils["date_of_birth"], "date_of_birth", ids=pupils.index)
        codes, uniques = pd.factorize(dobs, use_na_sentinel=True)
        decided = np.array(
            [compulsory_school_age(on, date_of_birth=u) for u in uniques] + [None], dtype=object
        )
        value = decided[codes]
        known_dob[:n] = codes >= 0
        by_dob[:n] = np.where(codes >= 0, np.where(value == True, 1, 0), -1)  # noqa: E712
    by_year = np.full(n + 1, -1, dtype=np.int8)
    if "year_group" in pupils.columns:
        codes, uniques = pd.factorize(pupils["year_group"].astype(object), use_na_sentinel=True)
        decided_y = [_year_group_compulsory(u, on) for u in uniques] + [None]
        lut = np.array([-1 if d is None else int(d) for d in decided_y], dtype=np.int8)
        by_year[:n] = lut[codes]
    table = np.where(known_dob, by_dob, by_year)
    return table[np.where(keys >= 0, keys, n)]
