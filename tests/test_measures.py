"""classify: the contract's columns, periods, calendars and the worked examples."""

from __future__ import annotations

import pandas as pd
import pytest

import attendance_core as ac
from builders import frame, week

COLUMNS = [
    "possible",
    "attended",
    "authorised",
    "unauthorised",
    "absent",
    "late",
    "late_after_close",
    "unmarked",
    "attendance_rate",
    "band",
]


def test_columns_exactly_as_the_contract():
    reg = ac.Register.from_long(frame(week("p", "2024-09-16", "/\\LUIO/\\M\\")))
    table = ac.classify(reg)
    assert list(table.columns) == COLUMNS
    row = table.loc["p"]
    assert dict(row[COLUMNS[:-2]]) == {
        "possible": 10,
        "attended": 6,
        "authorised": 2,
        "unauthorised": 2,
        "absent": 4,
        "late": 1,
        "late_after_close": 1,
        "unmarked": 0,
    }
    assert row["attendance_rate"] == pytest.approx(0.6)
    assert row["band"] == "severe_absence" or row["band"] == "persistent_absence"


def test_band_edges_from_counts():
    # worked example 11 on real marks: 200 possible
    rows = []
    weeks = pd.date_range("2024-09-02", periods=20, freq="7D")
    for attended, pupil in ((190, "a"), (189, "b"), (180, "c"), (100, "d")):
        marks = ["/"] * attended + ["O"] * (200 - attended)
        for w, monday in enumerate(weeks):
            rows += week(pupil, monday.date(), marks[10 * w : 10 * w + 10])
    reg = ac.Register.from_long(frame(rows))
    five = ac.classify(reg, "five-band")["band"].astype(str).to_dict()
    assert five == {
        "a": "expected",
        "b": "at_risk_of_persistent_absence",
        "c": "persistent_absence",
        "d": "severe_absence",
    }
    dfe = ac.classify(reg, "dfe")["band"].astype(str).to_dict()
    assert dfe == {
        "a": "not_persistent",
        "b": "not_persistent",
        "c": "persistent_absence",
        "d": "severe_absence",
    }


def test_no_possible_sessions_nan_rate_and_no_band():
    reg = ac.Register.from_long(
        frame(week("p", "2024-09-16", "XXXXXXXXXX"), week("q", "2024-09-16", "/\\/\\/\\/\\/\\"))
    )
    row = ac.classify(reg).loc["p"]
    assert row["possible"] == 0 and pd.isna(row["attendance_rate"]) and pd.isna(row["band"])


def test_inset_day_is_not_a_school_day():
    # worked example 1: Fri 20 Sep is # for everyone
    rows = week("a", "2024-09-16", "/\\/\\/\\/\\##") + week("b", "2024-09-16", "/\\/\\/\\/\\##")
    reg = ac.Register.from_long(frame(rows))
    cal = reg.calendar()
    assert len(cal.school_days) == 4
    assert list(cal.school_weeks.astype(str)) == ["2024-09-16"]
    assert (ac.classify(reg)["unmarked"] == 0).all()


def test_period_is_inclusive_and_counts_only_marks_inside():
    reg = ac.Register.from_long(frame(week("p", "2024-09-16", "OO/\\/\\/\\II")))
    t = ac.classify(reg, start="2024-09-16", end="2024-09-16")
    assert t.loc["p", "possible"] == 2 and t.loc["p", "unauthorised"] == 2
    t = ac.classify(reg, start="2024-09-17", end="2024-09-20")
    assert t.loc["p", "possible"] == 8 and t.loc["p", "authorised"] == 2


def test_enrolment_outside_the_period_is_left_out():
    rows = week("early", "2024-09-16", "/\\/\\      ") + week("late", "2024-09-16", "      /\\/\\")
    t = ac.classify(ac.Register.from_long(frame(rows)), start="2024-09-19")
    assert list(t.index) == ["late"]


def test_scheme_by_object_dict_and_name_agree():
    reg = ac.Register.from_long(frame(week("p", "2024-09-16", "/\\/\\/\\/\\OO")))
    by_name = ac.classify(reg, "five-band")
    by_obj = ac.classify(reg, ac.band_scheme("five-band"))
    pd.testing.assert_frame_equal(by_name, by_obj)
    with pytest.raises(ac.SchemeError):
        ac.classify(reg, "six-band")


def test_demo_school_figures_look_national(demo_school):
    long, pupils = demo_school
    reg = ac.Register.from_long(long, pupils=pupils)
    t = ac.classify(reg)
    overall = t["absent"].sum() / t["possible"].sum()
    pa = ((10 * t["absent"] >= t["possible"]) & (t["possible"] > 0)).mean()
    severe = (t["band"] == "severe_absence").mean()
    assert 0.05 < overall < 0.09
    assert 0.15 < pa < 0.26
    assert 0.005 < severe < 0.04
    assert len(t) == 1000
