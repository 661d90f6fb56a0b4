"""One engine: every public function that reports a figure reports the same figure.

On generated registers (one or two schools, joiners, a half term with no marks or ``#`` marks,
illness and lateness, ``as_of`` on a school day, a weekend or in the holiday), the counts and
windows of :func:`classify` are the ones :func:`patterns.pupil_patterns`, :func:`letter_data`,
:func:`dfe_statistics`, the HTML report's context, the TSM pack and the evidence of
:func:`recommend`'s steps report.
"""

from __future__ import annotations

import datetime as dt
import warnings
from typing import Any

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import attendance_core as ac
from attendance_core import patterns, reports
from attendance_core.calendar import academic_year_start

FIRST = dt.date(2024, 9, 2)  # a Monday; autumn term 2024
WEEKS = 12
HALF_TERM = (dt.date(2024, 10, 28), dt.date(2024, 11, 1))
# present, late, authorised (illness, medical, holiday), unauthorised, not possible
CODES = ["/", "\\", "/", "\\", "/", "L", "U", "I", "M", "R", "G", "O", "N", "B", "X", "Y1"]
COUNTS = ["possible", "attended", "authorised", "unauthorised", "absent", "late", "unmarked"]


def _school_days() -> list[dt.date]:
    days = [FIRST + dt.timedelta(days=i) for i in range(7 * WEEKS)]
    return [d for d in days if d.weekday() < 5]


DAYS = _school_days()


@st.composite
def registers(draw: Any) -> tuple[pd.DataFrame, pd.DataFrame, dt.date]:
    """A long frame, its pupils table and an ``as_of`` date."""
    seed = draw(st.integers(0, 2**32 - 1))
    n_schools = draw(st.sampled_from([1, 2]))
    per_school = draw(st.integers(6, 9))  # the DfE drops schools under 6 enrolments
    half_term = draw(st.sampled_from(["no rows", "#"]))
    as_of = draw(
        st.one_of(
            st.sampled_from(DAYS[10:]),
            st.sampled_from([dt.date(2024, 10, 30), dt.date(2024, 11, 3), dt.date(2024, 10, 26)]),
        )
    )
    rng = np.random.default_rng(seed)
    rows, pupils = [], []
    for s in range(n_schools):
        school = f"S{s + 1}"
        for p in range(per_school):
            pupil = f"{school}P{p}"
            joins = DAYS[int(rng.integers(0, 20))] if rng.random() < 0.2 else FIRST
            weights = rng.dirichlet(np.ones(len(CODES)) * 0.6)
            for day in DAYS:
                if day < joins:
                    continue
                holiday = HALF_TERM[0] <= day <= HALF_TERM[1]
                if holiday and half_term == "no rows":
                    continue
                for session in ("AM", "PM"):
                    code = "#" if holiday else str(rng.choice(CODES, p=weights))
                    rows.append((school, pupil, day.isoformat(), session, code))
            pupils.append(
                {
                    "school_id": school,
                    "pupil_id": pupil,
                    "date_of_birth": dt.date(2014, 1 + p % 12, 1),
                    "year_group": "5",
                    "admission_date": joins,
                    "sen": bool(rng.random() < 0.3),
                    "fsm": bool(rng.random() < 0.3),
                }
            )
    long = pd.DataFrame(rows, columns=["school_id", "pupil_id", "date", "session", "code"])
    if n_schools == 1:
        long = long.drop(columns="school_id")
    table = pd.DataFrame(pupils).set_index("pupil_id")
    return long, table, as_of


def _build(long: pd.DataFrame, pupils: pd.DataFrame) -> ac.Register:
    return ac.Register.from_long(long, pupils=pupils)


def _same(a: pd.Series, b: pd.Series, what: str) -> None:
    left = a.to_numpy(dtype=float)
    right = b.reindex(a.index).to_numpy(dtype=float)
    both_nan = np.isnan(left) & np.isnan(right)
    assert (both_nan | (left == right)).all(), f"{what} differs:\n{pd.DataFrame({'a': a, 'b': b})}"


PROPERTY = settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(registers())
def test_classify_patterns_letters_and_windows_agree(case: Any) -> None:
    long, pupils, as_of = case
    reg = _build(long, pupils)
    first = academic_year_start(as_of)
    year = ac.classify(reg, scheme="five-band", start=first, end=as_of)
    figures = patterns.pupil_patterns(reg, as_of)
    assert list(figures.index) == list(year.index)
    for column in [*COUNTS, "attendance_rate"]:
        _same(year[column], figures[column], f"pupil_patterns {column}")
    assert (figures["band"].astype(str) == year["band"].astype(str)).all()
    _same(year["absent"] / 2, figures["days_missed"], "days_missed")

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        letters = ac.letter_data(reg, as_of, pupils=pupils)
    assert list(letters.index) == list(figures.index)
    for column in ("possible", "absent", "attendance_rate"):
        _same(year[column], letters[column], f"letter_data {column}")
    _same(figures["days_missed"], letters["days_missed"], "letter_data days_missed")
    _same(figures["rate_4_weeks"], letters["rate_last_4_weeks"], "letter_data 4-week rate")
    _same(
        figures["rate_previous_4_weeks"],
        letters["rate_previous_4_weeks"],
        "letter_data previous 4-week rate",
    )

    # the 4-week window of each school's calendar is the one patterns counts over
    for school in reg.schools:
        start, end = reg.calendar(school).week_window(as_of, 4)
        window = ac.classify(reg, start=max(start, first), end=end)
        if reg.has_schools:
            window = window.xs(school, level="school_id", drop_level=False)
        rows = figures.loc[window.index]
        _same(window["possible"], rows["possible_4_weeks"], f"4-week possible at {school}")
        _same(window["attended"], rows["attended_4_weeks"], f"4-week attended at {school}")


@PROPERTY
@given(registers())
def test_dfe_statistics_report_and_pack_count_what_classify_counts(case: Any) -> None:
    long, pupils, as_of = case
    reg = _build(long, pupils)
    whole = ac.classify(reg)  # every pupil is of compulsory school age, no boarders, autumn only
    counted = whole[whole["possible"] > 0]
    dfe = ac.dfe_statistics(reg, pupils, year=2024).loc["all"]
    assert int(dfe["enrolments"]) == len(counted)
    for column in ("possible", "attended", "authorised", "unauthorised", "absent"):
        assert int(dfe[column]) == int(counted[column].sum()), f"dfe_statistics {column}"
    absent, possible = counted["absent"], counted["possible"]
    assert int(dfe["persistent_absentees"]) == int((10 * absent >= possible).sum())
    assert int(dfe["severe_absentees"]) == int((2 * absent >= possible).sum())

    first = academic_year_start(as_of)
    year = ac.classify(reg, scheme="five-band", start=first, end=as_of)
    context = reports._report_context(
        reg,
        pupils=pupils,
        scheme=ac.band_scheme("five-band"),
        day=as_of,
        top=5,
        title=None,
        generated_at=None,
    )
    note = context["headline"][0]["note"]
    assert (
        note
        == f"{int(year['attended'].sum()):,} of {int(year['possible'].sum()):,} possible sessions"
    )

    pack = reports.tsm_pack(reg, pupils, as_of)
    got = pack.bands.astype({"school_id": str, "band": str})
    bands = year["band"].astype(str)
    if reg.has_schools:
        schools = year.index.get_level_values("school_id").astype(str)
        expected = bands.groupby([schools, bands.to_numpy()]).size()
        counts = got.set_index(["school_id", "band"])["pupils_year"]
    else:  # one school: the pack names it from the pupils table
        expected = bands.value_counts()
        counts = got.groupby("band")["pupils_year"].sum()
    for key, n in expected.items():
        assert int(counts.loc[key]) == int(n), f"TSM pack pupils in {key}"
    assert int(counts.sum()) == len(year)


@PROPERTY
@given(registers())
def test_the_evidence_of_every_step_is_the_figure_patterns_and_classify_report(case: Any) -> None:
    long, pupils, as_of = case
    reg = _build(long, pupils)
    figures = patterns.pupil_patterns(reg, as_of)
    steps = ac.steps_frame(ac.recommend(reg, pupils=pupils, as_of=as_of))
    for _, step in steps.iterrows():
        key = (step["school_id"], step["pupil_id"]) if reg.has_schools else step["pupil_id"]
        mine = figures.loc[key]
        if pd.notna(step["evidence_attendance_rate"]):
            assert step["evidence_attendance_rate"] == mine["attendance_rate"], step["rule"]
        if pd.notna(step["evidence_days_missed"]):
            assert step["evidence_days_missed"] == mine["days_missed"], step["rule"]
        if pd.notna(step.get("evidence_unauthorised_sessions_10_weeks")):
            start = pd.Timestamp(step["evidence_window_start"]).date()
            window = ac.classify(reg, start=start, end=as_of).loc[key]
            assert step["evidence_unauthorised_sessions_10_weeks"] == window["unauthorised"]
            school = step["school_id"] if reg.has_schools else None
            assert start == reg.calendar(school).week_window(as_of, 10)[0]
