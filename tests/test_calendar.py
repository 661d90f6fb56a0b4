"""School calendars from marks: the definitions of domain.md §1 and worked example 6."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

import attendance_core as ac
from attendance_core.calendar import academic_year, academic_year_start, week_start
from builders import frame, week

FULL = "/\\/\\/\\/\\/\\"


def autumn_2024():
    """2 Sep - 15 Nov 2024 with half term 28 Oct - 1 Nov (no marks) and INSET Fri 20 Sep."""
    rows = []
    monday = dt.date(2024, 9, 2)
    while monday <= dt.date(2024, 11, 11):
        if monday != dt.date(2024, 10, 28):
            marks = "/\\/\\/\\/\\##" if monday == dt.date(2024, 9, 16) else FULL
            rows += week("p", monday, marks)
        monday += dt.timedelta(days=7)
    return ac.Register.from_long(frame(rows))


def test_ten_week_window_skips_half_term():
    cal = autumn_2024().calendar()
    first, last = cal.week_window(dt.date(2024, 11, 13), 10)
    assert (first, last) == (dt.date(2024, 9, 2), dt.date(2024, 11, 13))
    weeks = [
        w for w in cal.school_weeks.astype("datetime64[D]").astype(object) if first <= w <= last
    ]
    assert len(weeks) == 10 and dt.date(2024, 10, 28) not in weeks


def test_school_days_between_and_last_school_days():
    cal = autumn_2024().calendar()
    # worked example 8: N on Mon 4 Nov; as_of Mon 11 Nov -> 5 school days after
    assert cal.school_days_between(dt.date(2024, 11, 4), dt.date(2024, 11, 11)) == 5
    assert cal.school_days_between(dt.date(2024, 11, 4), dt.date(2024, 11, 12)) == 6
    last = cal.last_school_days(dt.date(2024, 11, 4), 3)
    assert list(last.astype(str)) == ["2024-10-24", "2024-10-25", "2024-11-04"]
    assert not cal.is_school_day(dt.date(2024, 9, 20))
    assert cal.is_school_day("2024-09-19")


def test_academic_year():
    assert academic_year(dt.date(2025, 7, 31)) == (dt.date(2024, 8, 1), dt.date(2025, 7, 31))
    assert academic_year_start(dt.date(2024, 8, 1)) == dt.date(2024, 8, 1)
    assert week_start(dt.date(2024, 11, 17)) == dt.date(2024, 11, 11)


def test_term_dates_complete_the_calendar():
    cal = autumn_2024().calendar().with_school_days(["2024-10-28"])
    assert cal.is_school_day("2024-10-28")
    assert np.datetime64("2024-10-28") in cal.school_weeks


def test_calendar_needs_a_school_name_when_several():
    rows = week("a", "2024-09-16", FULL, "S1") + week("b", "2024-09-16", FULL, "S2")
    reg = ac.Register.from_long(frame(rows))
    with pytest.raises(ac.RegisterError, match="several schools"):
        reg.calendar()
    with pytest.raises(ac.RegisterError, match="no school"):
        reg.calendar("S9")
    assert reg.calendar("S1").n_sessions == 10


def test_term_dates_file_adds_unmarked_days(tmp_path):
    from attendance_core.calendar import read_term_dates

    path = tmp_path / "terms.toml"
    path.write_text(
        "closed = [2024-09-20]\n[[terms]]\nstart = 2024-09-16\nend = 2024-09-27\n",
        encoding="utf-8",
    )
    days = read_term_dates(path)
    assert len(days) == 9 and dt.date(2024, 9, 20) not in days
    # the register of Wed 25 Sep was never taken for anyone
    rows = week("p", "2024-09-16", "/\\/\\/\\/\\  ") + week("p", "2024-09-23", "/\\/\\  /\\/\\")
    reg = ac.Register.from_long(frame(rows))
    assert ac.classify(reg).loc["p", "unmarked"] == 0
    completed = reg.with_school_days(days)
    assert ac.classify(completed).loc["p", "unmarked"] == 2
    assert completed.calendar().is_school_day("2024-09-25")
    assert not completed.calendar().is_school_day("2024-09-20")
    # slicing keeps the added days
    assert ac.classify(completed.select(start="2024-09-23")).loc["p", "unmarked"] == 2


def test_bad_term_dates_file(tmp_path):
    from attendance_core.calendar import read_term_dates

    path = tmp_path / "terms.toml"
    path.write_text("[[terms]]\nstart = 2024-09-16\n", encoding="utf-8")
    with pytest.raises(ac.RegisterError, match=r"terms\.toml, row 1"):
        read_term_dates(path)
