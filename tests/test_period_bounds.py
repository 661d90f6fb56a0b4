"""Issue 19, periods derived back from ``as_of`` near the register's bounds: the academic year,
the terms, last year's comparison, the 4- and 10-week windows and the trends are held to
:data:`~attendance_core.calendar.FIRST_DATE`..:data:`~attendance_core.calendar.LAST_DATE` in the
calendar module, so an ``as_of`` in early 1990 (or late 2099) gives figures, not a refusal of
the derived start (``1989-08-01``) as a date argument."""

from __future__ import annotations

import datetime as dt
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import attendance_core as ac
from attendance_core import calendar, demo, patterns, reports
from attendance_core.calendar import EMPTY, FIRST_DATE, LAST_DATE
from attendance_core.cli import main

AS_OFS = ["1990-01-01", "1990-01-15", "1990-02-01"]


def _shifted(to: dt.date, *, end: bool = False) -> tuple[ac.Register, pd.DataFrame]:
    """The demo school moved whole weeks so that its first (or last) week holds ``to``."""
    long, pupils = demo.school(seed=0, n_pupils=30, school_id="100001")
    days = pd.to_datetime(long["date"])
    anchor = days.max() if end else days.min()
    weeks = (pd.Timestamp(to) - anchor).days // 7 + (0 if end or to.weekday() == 0 else 1)
    long = long.assign(date=(days + pd.Timedelta(weeks=weeks)).dt.date)
    for column in ("admission_date", "leaving_date"):
        moved = pd.to_datetime(pupils[column]) + pd.Timedelta(weeks=weeks)
        pupils[column] = moved.where(moved >= pd.Timestamp(FIRST_DATE))  # admitted before 1990
    # a date of birth before 1990 is outside the bounds of every date: ages from year groups
    pupils["date_of_birth"] = pd.NaT
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ac.AttendanceWarning)
        # codes of the 2024 set that the 2006 set lacks are rejected (unknown_code)
        reg = ac.Register.from_long(long, pupils=pupils, errors="collect")
    assert set(reg.rejected["reason"]) <= {"unknown_code"}
    return reg, pupils


@pytest.fixture(scope="module")
def early() -> tuple[ac.Register, pd.DataFrame]:
    reg, pupils = _shifted(FIRST_DATE)
    assert reg.dates[0] == np.datetime64(FIRST_DATE)
    return reg, pupils


# ------------------------------------------------------------------ the one derivation
def test_derived_periods_are_clipped_to_the_bounds() -> None:
    assert FIRST_DATE.weekday() == 0  # so no week window of a school day starts before it
    feb = dt.date(1990, 2, 1)
    assert calendar.academic_year(feb) == (FIRST_DATE, dt.date(1990, 7, 31))
    assert calendar.academic_year_start(feb) == FIRST_DATE
    assert calendar.academic_year_number(feb) == 1989  # the year's name is not clipped
    assert calendar.term_of(feb) == "1989/90 spring"
    assert calendar.term_bounds(feb) == (FIRST_DATE, dt.date(1990, 4, 15))  # Easter 1990
    assert calendar.previous_term_bounds(feb) == EMPTY  # autumn 1989: before the bounds
    assert calendar.year_before(feb) == EMPTY
    assert calendar.year_before(dt.date(1991, 1, 15)) == (FIRST_DATE, dt.date(1990, 1, 15))
    assert calendar.year_before(dt.date(2024, 2, 29)) == (dt.date(2022, 8, 1), dt.date(2023, 2, 28))
    assert calendar.academic_year(LAST_DATE) == (dt.date(2099, 8, 1), LAST_DATE)
    assert calendar.clip(dt.date(1980, 1, 1), dt.date(1981, 1, 1)) == EMPTY
    assert calendar.clip(dt.date(2100, 1, 1), dt.date(2101, 1, 1)) == EMPTY
    start, end = EMPTY  # an empty period is a valid pair of date arguments
    assert start > end and calendar.as_date(start) and calendar.as_date(end)


def test_patterns_keeps_its_term_names() -> None:
    # the term functions moved to the calendar; patterns still offers them
    assert patterns.term_bounds is calendar.term_bounds
    assert patterns.previous_term_bounds is calendar.previous_term_bounds
    assert patterns.term_of is calendar.term_of


def test_an_empty_period_meets_no_enrolment(early: tuple[ac.Register, pd.DataFrame]) -> None:
    reg, _ = early
    assert not reg.enrolments_in(*EMPTY).any()
    assert len(ac.classify(reg, start=EMPTY[0], end=EMPTY[1])) == 0


# ------------------------------------------------------------------ every function taking as_of
def _year_to_date(reg: ac.Register, day: str) -> pd.DataFrame:
    return ac.classify(reg, scheme="five-band", start=FIRST_DATE, end=day)


@pytest.mark.parametrize("as_of", AS_OFS)
def test_year_figures_at_the_first_date(
    early: tuple[ac.Register, pd.DataFrame], as_of: str
) -> None:
    reg, pupils = early
    expected = _year_to_date(reg, as_of)
    figures = patterns.pupil_patterns(reg, as_of)
    assert figures["possible"].tolist() == expected["possible"].tolist()
    assert figures["attended"].tolist() == expected["attended"].tolist()
    tr = patterns.trend(reg, as_of)
    assert tr["possible_year"].tolist() == expected["possible"].tolist()
    assert (tr["possible_4_weeks"] <= tr["possible_year"]).all()
    terms = patterns.term_rates(reg, as_of)
    assert (terms["term"] == "1989/90 spring").all()
    assert (terms["possible_last_term"] == 0).all() and terms["rate_last_term"].isna().all()
    assert terms["possible_this_term"].tolist() == expected["possible"].tolist()
    letters = ac.letter_data(reg, as_of, pupils=pupils)
    assert (letters["days_missed"] * 2).tolist() == expected["absent"].tolist()
    groups = ac.year_group_summary(reg, pupils, as_of=as_of)
    assert int(groups["possible"].sum()) == int(expected["possible"].sum())
    assert ac.year_on_year(reg, as_of) is None  # no last year before 1990
    pack = ac.tsm_pack(reg, pupils, as_of=as_of)
    assert pack.as_of == dt.date.fromisoformat(as_of)


@pytest.mark.parametrize("as_of", AS_OFS)
def test_steps_and_printed_outputs_at_the_first_date(
    early: tuple[ac.Register, pd.DataFrame], as_of: str, tmp_path: Path
) -> None:
    reg, pupils = early
    calls: dict[str, Callable[[], Any]] = {
        "recommend": lambda: ac.recommend(reg, pupils=pupils, as_of=as_of),
        "step_figures": lambda: ac.step_figures(reg, pupils, as_of=as_of),
        "next_steps": lambda: reports.next_steps(reg, pupils, as_of=as_of),
        "html_report": lambda: ac.html_report(reg, tmp_path / "r.html", pupils, as_of=as_of),
        "governor_summary": lambda: ac.governor_summary(
            reg, tmp_path / "g.html", pupils, as_of=as_of
        ),
        "parent_letters": lambda: ac.parent_letters(reg, tmp_path / "l.html", pupils, as_of=as_of),
        "window": lambda: reg.calendar().week_window(as_of, 10),
    }
    for name, call in calls.items():
        assert call() is not None, name
    assert reg.calendar().week_window(as_of, 10)[0] == FIRST_DATE
    html = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert "outside the dates a register can hold" not in html


def test_dask_recommend_at_the_first_date(early: tuple[ac.Register, pd.DataFrame]) -> None:
    dd = pytest.importorskip("dask.dataframe")  # the dask extra
    import attendance_core.dask as acd

    reg, pupils = early
    ddf = dd.from_pandas(reg.to_long(), npartitions=1)
    assert acd.recommend(ddf, pupils=pupils, as_of=AS_OFS[1]) == ac.recommend(
        reg, pupils=pupils, as_of=AS_OFS[1]
    )


def test_plan_review_and_measures_at_the_first_date(
    early: tuple[ac.Register, pd.DataFrame],
) -> None:
    reg, _ = early
    pupil = str(reg.pupil_ids[0])
    measure = ac.parse_success_measure("attendance at least 90%")
    assert measure is not None  # the academic year to date: from FIRST_DATE
    check = ac.evaluate_success_measure(measure, reg, pupil, dt.date(1990, 2, 1))
    assert check is not None and check.start == FIRST_DATE
    weekly = ac.parse_success_measure("attendance at least 90% over the next 4 school weeks")
    assert weekly is not None
    check = ac.evaluate_success_measure(weekly, reg, pupil, dt.date(1990, 1, 15))
    assert check is not None and (check.start, check.met) == (FIRST_DATE, None)  # 3 weeks held
    item = ac.ActionPlanItem(
        id="1", action="call home", pupil_id=pupil, success_measure="attendance at least 90%"
    )
    plan, changes = ac.ActionPlan(items=[item]).review(dt.date(1990, 2, 1), register=reg)
    assert [c.field for c in changes] == ["success_measure_met"]
    assert len(plan.items) == 1


def test_year_on_year_last_year_starts_at_the_first_date() -> None:
    reg, _ = _shifted(dt.date(1990, 9, 3))  # 1990/91, and none of 1989/90
    assert ac.year_on_year(reg, "1991-01-15") is None
    later = pd.concat([reg.to_long(), _shifted(FIRST_DATE)[0].to_long()])
    both = ac.Register.from_long(later.drop_duplicates(["pupil_id", "date", "session"]))
    table = ac.year_on_year(both, "1991-01-15")
    assert table is not None
    assert table.loc["last_year", "start"] == FIRST_DATE
    assert table.loc["last_year", "end"] == dt.date(1990, 1, 15)


def test_the_dfe_year_of_1989_90_is_clipped(early: tuple[ac.Register, pd.DataFrame]) -> None:
    reg, pupils = early
    from attendance_core.dfe import AcademicYear

    year = AcademicYear.parse("1989/90")
    assert (year.start, year.end, year.label) == (FIRST_DATE, dt.date(1990, 7, 31), "1989/90")
    stats = ac.dfe_statistics(reg, pupils, year="1989/90")
    assert int(stats["possible"].sum()) > 0
    assert len(ac.reconcile(reg, pupils, year="1989/90")) > 0
    for outside in ("1988/89", 9999, "2100/01"):
        with pytest.raises(ac.AttendanceError, match="outside the dates a register can hold"):
            AcademicYear.parse(outside)


def test_the_last_date_is_a_bound_too(tmp_path: Path) -> None:
    reg, pupils = _shifted(LAST_DATE, end=True)
    assert reg.dates[-1] <= np.datetime64(LAST_DATE)
    figures = patterns.pupil_patterns(reg, LAST_DATE)
    assert len(figures) > 0
    ac.html_report(reg, tmp_path / "r.html", pupils, as_of=LAST_DATE)
    assert len(ac.letter_data(reg, LAST_DATE, pupils=pupils)) > 0
    assert ac.dfe_statistics(reg, pupils).attrs["year"] == "2099/00"


# ------------------------------------------------------------------ command line
def test_cli_report_as_of_the_first_weeks(
    early: tuple[ac.Register, pd.DataFrame],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    reg, _ = early
    path = tmp_path / "marks.csv"
    reg.to_long().to_csv(path, index=False)
    for argv in (
        ["report", str(path), "--as-of", "1990-01-15", "--output", str(tmp_path / "r.html")],
        ["report", str(path), "--as-of", "1990-01-15", "--table", "weekly", "--to", "csv"],
        ["report", str(path), "--as-of", "1990-02-01", "--tsm", str(tmp_path / "tsm")],
        ["recommend", str(path), "--as-of", "1990-01-01"],
        ["classify", str(path), "--until", "1990-01-15"],
    ):
        assert main(argv) == 0, (argv, capsys.readouterr().err)
    capsys.readouterr()
