"""Compulsory school age: from the date of birth, else the year group, else unknown."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

import attendance_core as ac
from attendance_core.age import (
    compulsory_age_end,
    compulsory_age_start,
    compulsory_school_age,
    compulsory_school_age_of,
    year_group_number,
)

D = dt.date


@pytest.mark.parametrize(
    ("dob", "start"),
    [
        (D(2019, 9, 1), D(2024, 12, 31)),  # fifth birthday 1 Sep 2024 -> 31 Dec
        (D(2019, 12, 31), D(2024, 12, 31)),  # birthday on a prescribed day: that day
        (D(2020, 1, 1), D(2025, 3, 31)),
        (D(2020, 3, 31), D(2025, 3, 31)),
        (D(2020, 4, 1), D(2025, 8, 31)),
        (D(2020, 8, 31), D(2025, 8, 31)),
        (D(2020, 2, 29), D(2025, 3, 31)),  # leap-day birthday falls on 1 March
    ],
)
def test_start(dob: dt.date, start: dt.date) -> None:
    assert compulsory_age_start(dob) == start


@pytest.mark.parametrize(
    ("dob", "end"),
    [
        (D(2008, 9, 1), D(2025, 6, 27)),  # 16 on 1 Sep 2024: school year 2024/25
        (D(2009, 8, 31), D(2025, 6, 27)),  # 16 on 31 Aug 2025: same school year, leaves at 15
        (D(2008, 8, 31), D(2024, 6, 28)),
        (D(2010, 1, 15), D(2026, 6, 26)),
    ],
)
def test_end_is_last_friday_of_june(dob: dt.date, end: dt.date) -> None:
    assert compulsory_age_end(dob) == end
    assert end.weekday() == 4 and end.month == 6 and (end + dt.timedelta(days=7)).month == 7


def test_compulsory_school_age_edges() -> None:
    dob = D(2019, 9, 1)
    assert compulsory_school_age(D(2024, 12, 30), date_of_birth=dob) is False
    assert compulsory_school_age(D(2024, 12, 31), date_of_birth=dob) is True
    assert compulsory_school_age(D(2025, 6, 27), date_of_birth=D(2008, 9, 1)) is True
    assert compulsory_school_age(D(2025, 6, 28), date_of_birth=D(2008, 9, 1)) is False
    # date of birth wins over year group; strings and timestamps are read
    assert compulsory_school_age(D(2024, 11, 1), date_of_birth="2019-09-01", year_group="Y3") is (
        False
    )
    assert compulsory_school_age(D(2025, 1, 6), date_of_birth=pd.Timestamp("2019-09-01")) is True
    # no date of birth: the year group decides; text that is not an ISO date is refused
    assert compulsory_school_age(D(2024, 11, 1), date_of_birth=None, year_group="Y3")
    assert compulsory_school_age(D(2024, 11, 1), date_of_birth="", year_group="Y3")
    with pytest.raises(ac.AttendanceError, match="date_of_birth"):
        compulsory_school_age(D(2024, 11, 1), date_of_birth="not a date", year_group="Y3")
    assert compulsory_school_age(D(2024, 11, 1), year_group="R") is False
    assert compulsory_school_age(D(2024, 11, 1), year_group="Y12") is False
    # Y11 without a date of birth: compulsory to the last Friday of June (api.md)
    assert compulsory_school_age(D(2025, 6, 27), year_group="Y11") is True
    assert compulsory_school_age(D(2025, 6, 30), year_group="Y11") is False
    assert compulsory_school_age(D(2025, 7, 1), year_group="Y10") is True
    assert compulsory_school_age(D(2024, 11, 1)) is None
    assert compulsory_school_age(D(2024, 11, 1), year_group="Class Oak") is None


@pytest.mark.parametrize(
    ("label", "number"),
    [
        ("Year 7", 7), ("7", 7), ("Y7", 7), ("y 7", 7), ("Yr 7", 7), ("NCY 7", 7), (7, 7),
        (7.0, 7), ("Year 11", 11), ("Y12", 12), ("13", 13),
        ("R", 0), ("YR", 0), ("Reception", 0), ("reception", 0), ("F2", 0), ("Year R", 0),
        ("N", -1), ("N1", -1), ("N2", -1), ("Nursery", -1), ("F1", -1),
        ("", None), (None, None), (float("nan"), None), ("Year 20", None), ("Oak", None),
        (7.5, None), (True, None),
    ],
)  # fmt: skip
def test_year_group_labels(label: object, number: int | None) -> None:
    assert year_group_number(label) == number


def test_vectorised_over_a_pupils_table() -> None:
    pupils = pd.DataFrame(
        {
            "date_of_birth": [D(2019, 9, 1), None, None, D(2008, 8, 31), pd.NaT],
            "year_group": ["Y1", "Y5", "R", "Y11", None],
        },
        index=["a", "b", "c", "d", "e"],
    )
    on = D(2024, 11, 1)
    out = compulsory_school_age_of(pupils, np.array([0, 1, 2, 3, 4, -1]), on)
    assert out.tolist() == [0, 1, 0, 0, -1, -1]
    assert compulsory_school_age_of(None, np.array([0, 1]), on).tolist() == [-1, -1]


@given(st.dates(D(2000, 1, 1), D(2020, 12, 31)))
def test_property_start_before_end_and_matches_scalar(dob: dt.date) -> None:
    start, end = compulsory_age_start(dob), compulsory_age_end(dob)
    assert start < end
    fifth = (
        dob.replace(year=dob.year + 5) if (dob.month, dob.day) != (2, 29) else D(dob.year + 5, 3, 1)
    )
    assert 0 <= (start - fifth).days <= 152  # the next prescribed day: at most 1 Apr -> 31 Aug
    assert (start.month, start.day) in ((12, 31), (3, 31), (8, 31))
    assert end.year - dob.year in (15, 16, 17)
    table = pd.DataFrame({"date_of_birth": [dob]})
    for on in (start - dt.timedelta(days=1), start, end, end + dt.timedelta(days=1)):
        expected = start <= on <= end
        assert compulsory_school_age(on, date_of_birth=dob) is expected
        assert compulsory_school_age_of(table, np.array([0]), on).tolist() == [int(expected)]
