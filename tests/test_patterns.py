"""Pattern figures checked against small registers computed by hand."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import attendance_core as ac
from attendance_core import patterns

# Monday 2 September 2024 starts the weeks below (after 19 August 2024: the 2024 code set).
MONDAY = dt.date(2024, 9, 2)


def weekdays(n_weeks: int, start: dt.date = MONDAY) -> list[dt.date]:
    """Monday–Friday dates of ``n_weeks`` consecutive weeks."""
    return [start + dt.timedelta(days=7 * w + d) for w in range(n_weeks) for d in range(5)]


def long_frame(
    pupils: dict[str, list[tuple[str, str]]], dates: list[dt.date], school: str | None = None
) -> pd.DataFrame:
    """The long layout from ``{pupil: [(am, pm), ...]}``, one pair per date."""
    rows = []
    for pupil, marks in pupils.items():
        assert len(marks) == len(dates)
        for day, (am, pm) in zip(dates, marks, strict=True):
            for session, code in (("AM", am), ("PM", pm)):
                if code is None:
                    continue
                row = {"pupil_id": pupil, "date": day.isoformat(), "session": session, "code": code}
                if school is not None:
                    row["school_id"] = school
                rows.append(row)
    return pd.DataFrame(rows)


def register(pupils: dict[str, list[tuple[str, str]]], dates: list[dt.date]) -> ac.Register:
    return ac.Register.from_long(long_frame(pupils, dates))


PRESENT = ("/", "\\")
ILL = ("I", "I")
OUT = ("O", "O")


# ----------------------------------------------------------------------------- weekday profile
def test_friday_absence_is_flagged_and_shared() -> None:
    dates = weekdays(4)
    fridays = [PRESENT if d.weekday() != 4 else OUT for d in dates]
    two_fridays = [OUT if d.weekday() == 4 and d.day < 10 else PRESENT for d in dates]
    reg = register({"fri": fridays, "two": two_fridays}, dates)
    prof = patterns.weekday_profile(reg)
    fri = prof.loc["fri"]
    assert fri["absent_friday"] == 8
    assert fri["possible_friday"] == 8
    assert fri["friday_share"] == 1.0
    assert fri["friday_rate"] == 1.0
    assert fri["other_than_friday_rate"] == 0.0
    assert bool(fri["friday_flag"])
    assert not bool(fri["monday_flag"])
    assert fri["monday_rate"] == 0.0
    # only one Friday (2 sessions) missed: below the 6-session minimum
    two = prof.loc["two"]
    assert two["absent_friday"] == 2
    assert not bool(two["friday_flag"])
    assert prof.loc["fri", "absent_am"] == 4
    assert prof.loc["fri", "absent_pm"] == 4


@pytest.mark.parametrize(("other_absent", "flagged"), [(16, True), (17, False)])
def test_weekday_flag_edge_is_exactly_one_and_a_half(other_absent: int, flagged: bool) -> None:
    # Fridays: 6 of 8 sessions missed (0.75). Other days: 32 sessions.
    # 0.75 >= 1.5 × 16/32 holds exactly; with 17 missed it does not.
    dates = weekdays(4)
    marks: list[tuple[str, str]] = []
    friday_left, other_left = 6, other_absent
    for d in dates:
        pair = []
        for _ in range(2):
            if d.weekday() == 4 and friday_left:
                pair.append("O")
                friday_left -= 1
            elif d.weekday() != 4 and other_left:
                pair.append("O")
                other_left -= 1
            else:
                pair.append("/")
        marks.append((pair[0], pair[1]))
    prof = patterns.weekday_profile(register({"p": marks}, dates))
    assert prof.loc["p", "absent_friday"] == 6
    assert prof.loc["p", "absent"] == 6 + other_absent
    assert bool(prof.loc["p", "friday_flag"]) is flagged


def test_group_weekday_profile_sums_pupils() -> None:
    dates = weekdays(1)
    a = [OUT, PRESENT, PRESENT, PRESENT, ("/", "O")]
    b = [PRESENT, PRESENT, PRESENT, PRESENT, ("O", "/")]
    reg = register({"a": a, "b": b}, dates)
    prof = patterns.group_weekday_profile(reg)
    assert prof.loc[("monday", "AM"), "absent"] == 1
    assert prof.loc[("monday", "AM"), "possible"] == 2
    assert prof.loc[("friday", "PM"), "absent"] == 1
    assert prof.loc[("friday", "AM"), "absence_rate"] == 0.5
    assert prof["share"].sum() == pytest.approx(1.0)
    assert prof["absent"].sum() == 4
    by_year = patterns.group_weekday_profile(
        reg, pupils=pd.DataFrame({"year_group": ["Y7", "Y8"]}, index=["a", "b"]), by="year_group"
    )
    assert by_year.loc[("Y7", "monday", "AM"), "absent"] == 1
    assert by_year.loc[("Y8", "friday", "AM"), "absent"] == 1


# ----------------------------------------------------------------------------- spells
def test_spells_skip_days_without_possible_sessions_and_break_on_half_days() -> None:
    dates = weekdays(2)
    # d0 present, d1-d2 ill, d3 INSET (#: not possible, neither counts nor breaks),
    # d4 ill, d5 half day (AM absent, PM present: breaks), d6 absent O, d7 present,
    # d8 O, d9 O
    marks = [PRESENT, ILL, ILL, ("#", "#"), ILL, ("I", "\\"), OUT, PRESENT, OUT, OUT]
    reg = register({"p": marks, "q": [PRESENT] * 10}, dates)
    table = patterns.spells(reg)
    assert list(table["pupil_id"]) == ["p", "p", "p"]
    first = table.iloc[0]
    assert first["start"] == np.datetime64(dates[1])
    assert first["end"] == np.datetime64(dates[4])
    assert first["days"] == 3
    assert first["sessions"] == 6
    assert first["illness_sessions"] == 6
    assert bool(first["illness"])
    assert table.iloc[1]["days"] == 1
    assert not bool(table.iloc[1]["illness"])
    assert table.iloc[2]["days"] == 2
    assert table.iloc[2]["end"] == np.datetime64(dates[9])
    assert len(patterns.spells(reg, min_days=2)) == 2
    summary = patterns.spell_summary(reg)
    assert summary.loc["p", "spells"] == 3
    assert summary.loc["p", "longest_spell"] == 3
    assert summary.loc["p", "spells_2_days_or_more"] == 2
    assert summary.loc["p", "illness_spells"] == 1
    assert not summary.loc["p", "repeated_illness"]
    assert summary.loc["q", "spells"] == 0


def test_spells_do_not_run_across_pupils() -> None:
    dates = weekdays(1)
    reg = register({"a": [PRESENT] * 4 + [OUT], "b": [OUT] + [PRESENT] * 4}, dates)
    table = patterns.spells(reg)
    assert list(table["days"]) == [1, 1]
    assert list(table["pupil_id"]) == ["a", "b"]


def test_repeated_illness_needs_three_illness_spells() -> None:
    dates = weekdays(2)
    marks = [ILL, PRESENT, ILL, PRESENT, ILL, ILL, PRESENT, PRESENT, PRESENT, PRESENT]
    two = [ILL, PRESENT, ILL, PRESENT, PRESENT, PRESENT, PRESENT, PRESENT, PRESENT, PRESENT]
    summary = patterns.spell_summary(register({"p": marks, "q": two}, dates))
    assert summary.loc["p", "illness_spells"] == 3
    assert bool(summary.loc["p", "repeated_illness"])
    assert not bool(summary.loc["q", "repeated_illness"])


# ----------------------------------------------------------------------------- trend
def test_trend_windows_and_projection() -> None:
    # 10 school weeks; present the first 6, absent (O) the last 4
    dates = weekdays(10)
    marks = [PRESENT] * 30 + [OUT] * 20
    reg = register({"p": marks}, dates)
    tr = patterns.trend(reg)
    row = tr.loc["p"]
    assert row["rate_year"] == pytest.approx(60 / 100)
    assert row["rate_4_weeks"] == 0.0
    assert row["rate_8_weeks"] == pytest.approx(40 / 80)  # weeks 3-6 present, 7-10 not
    assert row["rate_previous_4_weeks"] == 1.0
    assert row["change_4_weeks"] == pytest.approx(-0.6)
    assert row["trend"] == "worsening"
    assert row["school_days_so_far"] == 50
    # the rest of a 190-day year (140 days, 280 sessions) at the 4-week rate (0)
    assert row["projected_rate"] == pytest.approx(60 / 380)
    short = patterns.trend(reg, days_in_year=50).loc["p"]
    assert short["projected_rate"] == pytest.approx(0.6)


def test_trend_skips_weeks_without_school_and_ignores_marks_after_as_of() -> None:
    # weeks 1-3, a holiday week with no marks, weeks 5-6; as_of in week 5
    dates = weekdays(3) + weekdays(2, MONDAY + dt.timedelta(days=28))
    marks = [OUT] * 5 + [PRESENT] * 10 + [OUT] * 2 + [PRESENT] * 8
    reg = register({"p": marks}, dates)
    as_of = MONDAY + dt.timedelta(days=29)  # Tuesday of week 5
    tr = patterns.trend(reg, as_of).loc["p"]
    # last 4 school weeks to as_of: weeks 1, 2, 3 and 5 (to Tuesday) = 17 days
    assert tr["possible_4_weeks"] == 34
    assert tr["attended_4_weeks"] == 20  # weeks 2 and 3; week 5 starts with two days of O
    assert tr["possible_year"] == 34
    assert np.isnan(tr["rate_previous_4_weeks"])


def test_term_of_uses_easter() -> None:
    assert patterns.term_of(dt.date(2024, 9, 2)) == "2024/25 autumn"
    assert patterns.term_of(dt.date(2025, 4, 20)) == "2024/25 spring"  # Easter Sunday 2025
    assert patterns.term_of(dt.date(2025, 4, 21)) == "2024/25 summer"
    assert patterns.term_of(dt.date(2025, 7, 31)) == "2024/25 summer"
    assert patterns.term_of(dt.date(2025, 8, 1)) == "2025/26 autumn"
    assert patterns.previous_term_bounds(dt.date(2025, 1, 6)) == (
        dt.date(2024, 8, 1),
        dt.date(2024, 12, 31),
    )


def test_weekly_attendance_sums_each_school_week() -> None:
    dates = weekdays(2)
    reg = register({"a": [PRESENT] * 5 + [OUT] * 5, "b": [PRESENT] * 10}, dates)
    weekly = patterns.weekly_attendance(reg)
    assert list(weekly["possible"]) == [20, 20]
    assert list(weekly["attended"]) == [20, 10]
    assert list(weekly["attendance_rate"]) == [1.0, 0.5]
    assert weekly.index[0] == np.datetime64(MONDAY)


# ----------------------------------------------------------------------------- together
def test_pupil_patterns_days_missed_keeps_halves_and_illness_share() -> None:
    dates = weekdays(1)
    marks = [("I", "/"), ("I", "\\"), ("O", "\\"), PRESENT, PRESENT]
    reg = register({"p": marks}, dates)
    pp = patterns.pupil_patterns(reg)
    assert pp.loc["p", "absent"] == 3
    assert pp.loc["p", "days_missed"] == 1.5
    assert pp.loc["p", "illness_sessions"] == 2
    assert pp.loc["p", "illness_share"] == pytest.approx(2 / 3)
    assert pp.loc["p", "band"] == "at_risk_of_severe_absence"  # 7 of 10 sessions: 70%


def test_cohort_summary_by_flags_and_figures() -> None:
    dates = weekdays(2)
    reg = register(
        {
            "a": [PRESENT] * 10,
            "b": [OUT] * 5 + [PRESENT] * 5,
            "c": [("M", "/")] * 10,
        },
        dates,
    )
    pupils = pd.DataFrame(
        {"cin": [False, True, False], "ehcp": ["Y", "N", "yes"]},
        index=pd.Index(["a", "b", "c"], name="pupil_id"),
    )
    pp = patterns.pupil_patterns(reg)
    table = patterns.cohort_summary(pp, pupils, by_school=False)
    assert table.loc["all", "pupils"] == 3
    assert table.loc["all", "possible"] == 60
    assert table.loc["all", "attended"] == 20 + 10 + 10
    assert table.loc["all", "attendance_rate"] == pytest.approx(40 / 60)
    assert table.loc["social_worker", "pupils"] == 1
    assert table.loc["social_worker", "severe_absence"] == 1
    assert table.loc["ehcp", "pupils"] == 2
    assert table.loc["authorised_absence", "pupils"] == 1  # c: 10 of 20 authorised
    assert table.loc["persistent_absence", "pupils"] == 2
    assert table.loc["all", "persistent_absence_percent"] == pytest.approx(2 / 3)  # a fraction
    assert table.loc["all", "days_missed"] == 10
    assert "youth_justice" not in table.index  # the pupils table has no such flag
    assert "ebsa" not in table.index


def test_two_schools_keep_their_own_calendars() -> None:
    dates_a = weekdays(2)
    dates_b = weekdays(1)
    frame = pd.concat(
        [
            long_frame({"p1": [PRESENT] * 5 + [OUT] * 5}, dates_a, school="A"),
            long_frame({"p1": [OUT] * 5}, dates_b, school="B"),
        ]
    )
    reg = ac.Register.from_long(frame)
    tr = patterns.trend(reg)
    assert tr.loc[("A", "p1"), "school_days_so_far"] == 10
    assert tr.loc[("B", "p1"), "school_days_so_far"] == 5
    assert tr.loc[("A", "p1"), "rate_year"] == 0.5
    assert tr.loc[("B", "p1"), "rate_year"] == 0.0
    table = patterns.cohort_summary(patterns.pupil_patterns(reg))
    assert table.loc[("A", "all"), "pupils"] == 1
    assert table.loc[("B", "all"), "severe_absence"] == 1


# ----------------------------------------------------------------------------- properties
CODES = ["/", "\\", "L", "I", "M", "O", "G", "N", "U", "#", "X", "V", "-"]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.lists(st.sampled_from(CODES), min_size=20, max_size=20), min_size=1, max_size=6))
def test_patterns_agree_with_classify(cells: list[list[str]]) -> None:
    dates = weekdays(2)
    pupils = {
        f"p{i}": [(row[2 * d], row[2 * d + 1]) for d in range(10)] for i, row in enumerate(cells)
    }
    reg = register(pupils, dates)
    pp = patterns.pupil_patterns(reg)
    table = ac.classify(reg, scheme="five-band", start=dt.date(2024, 8, 1), end=dates[-1])
    pd.testing.assert_series_equal(pp["absent"], table["absent"])
    assert (pp["days_missed"] * 2 == pp["absent"]).all()
    prof = patterns.weekday_profile(reg)
    assert (prof["absent"].to_numpy() == table["absent"].to_numpy()).all()
    assert (prof["absent_am"] + prof["absent_pm"] == prof["absent"]).all()
    spells = patterns.spells(reg)
    # every absent session of a spell is an absent session of the pupil
    per = spells.groupby("pupil_id")["sessions"].sum() if len(spells) else pd.Series(dtype=int)
    for pupil, sessions in per.items():
        assert sessions <= table.loc[pupil, "absent"]
    weekly = patterns.weekly_attendance(reg)
    assert weekly["possible"].sum() == table["possible"].sum()
    assert weekly["attended"].sum() == table["attended"].sum()


def test_spells_are_the_same_in_small_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    long, _ = ac.demo.school(seed=5, n_pupils=40)
    reg = ac.Register.from_long(long)
    whole = patterns.spells(reg)
    monkeypatch.setattr(patterns.engine, "CHUNK_BYTES", 3 * 2 * len(reg.dates))  # 3 pupils a block
    pd.testing.assert_frame_equal(patterns.spells(reg), whole)
    assert len(whole) > 40


def test_term_rates_compare_this_term_with_last() -> None:
    # autumn: 2 weeks at 50%; spring (from 6 January 2025): 1 week at 100%
    autumn = weekdays(2)
    spring = weekdays(1, dt.date(2025, 1, 6))
    reg = register({"p": [OUT] * 5 + [PRESENT] * 5 + [PRESENT] * 5}, autumn + spring)
    rates = patterns.term_rates(reg).loc["p"]
    assert rates["term"] == "2024/25 spring"
    assert rates["possible_last_term"] == 20
    assert rates["rate_last_term"] == 0.5
    assert rates["rate_this_term"] == 1.0
    assert rates["term_change"] == 0.5
    grid = patterns.weekday_profile(reg).loc["p"]
    assert grid["absent_monday_am"] == 1 and grid["possible_monday_pm"] == 3
