"""dfe_statistics and reconcile on hand-made registers, at the methodology's edges."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

import attendance_core as ac

# 2024/25: ages on 31 Aug 2024; spring bank holiday 26 May 2025
YEAR = "2024/25"


def _days(start: dt.date, n: int) -> list[dt.date]:
    out, day = [], start
    while len(out) < n:
        if day.weekday() < 5:
            out.append(day)
        day += dt.timedelta(days=1)
    return out


def _rows(pupil: str, days: list[dt.date], codes: str, school: str = "S1") -> list[dict]:
    rows = []
    for day, code in zip(days, codes, strict=True):
        for session in ("AM", "PM"):
            rows.append(
                {
                    "school_id": school,
                    "pupil_id": pupil,
                    "date": day,
                    "session": session,
                    "code": code,
                }
            )
    return rows


def _register(spec: dict[str, str], school: str = "S1", start=dt.date(2024, 9, 2)):
    rows = []
    for pupil, codes in spec.items():
        rows += _rows(pupil, _days(start, len(codes)), codes, school)
    return rows


def _pupils(ages: dict[str, int], **extra: dict[str, object]) -> pd.DataFrame:
    frame = pd.DataFrame(
        {"date_of_birth": [dt.date(2024 - a, 6, 1) for a in ages.values()]},
        index=pd.Index(list(ages), name="pupil_id"),
    )
    for column, values in extra.items():
        frame[column] = [values.get(p) for p in ages]
    return frame


def test_headline_measures_exact_edges() -> None:
    # 10 days each: p1 misses 1 of 10 days (10%: persistent, inclusive), p2 5 of 10 (50%:
    # severe, inclusive), p3 none, p4 unauthorised 1 day, p5, p6 none
    spec = {
        "p1": "/" * 9 + "I",
        "p2": "/" * 5 + "IIIOO",
        "p3": "/" * 10,
        "p4": "/" * 9 + "O",
        "p5": "/" * 10,
        "p6": "/" * 10,
    }
    reg = ac.Register.from_long(pd.DataFrame(_register(spec)))
    pupils = _pupils(dict.fromkeys(spec, 9))
    out = ac.dfe_statistics(reg, pupils, year=YEAR)
    row = out.loc["all"]
    assert row["enrolments"] == 6
    assert row["possible"] == 120
    assert row["authorised"] == 2 + 6 and row["unauthorised"] == 4 + 2
    assert row["overall_absence_rate"] == pytest.approx(14 / 120)
    assert row["persistent_absentees"] == 3  # p1 (10%), p2 (50%), p4 (10%)
    assert row["severe_absentees"] == 1
    assert row["persistent_absence_rate"] == pytest.approx(3 / 6)
    assert 0 <= row["severe_absence_rate"] <= 1
    assert out["enrolments"].dtype == np.int64


def test_ages_boarders_and_small_schools() -> None:
    spec = {f"p{i}": "/" * 10 for i in range(8)}
    spec["p0"] = "I" * 10
    reg = ac.Register.from_long(pd.DataFrame(_register(spec)))
    ages = {f"p{i}": 9 for i in range(8)}
    ages["p1"], ages["p2"] = 4, 16  # out of range on 31 August 2024
    pupils = _pupils(ages, boarder={"p3": "Y"})
    out = ac.dfe_statistics(reg, pupils, year=YEAR)
    assert out.loc["all", "enrolments"] == 0  # p0, p4..p7 left: 5, a small school
    rec = ac.reconcile(reg, pupils, year=YEAR)
    assert rec.loc["under_5", "enrolments_removed"] == 1
    assert rec.loc["over_15", "enrolments_removed"] == 1
    assert rec.loc["boarders", "enrolments_removed"] == 1
    # 5 left: fewer than 6, so the school is dropped
    assert rec.loc["small_school", "enrolments_removed"] == 5
    assert rec.loc["dfe", "enrolments"] == 0
    assert np.isnan(rec.loc["dfe", "overall_absence_rate"])


def test_age_on_31_august_boundary() -> None:
    spec = {f"p{i}": "/" * 4 for i in range(7)}
    reg = ac.Register.from_long(pd.DataFrame(_register(spec)))
    pupils = _pupils(dict.fromkeys(spec, 9))
    # born 1 Sep 2019: 4 on 31 Aug 2024 (out); born 31 Aug 2019: 5 (in)
    pupils.loc["p0", "date_of_birth"] = dt.date(2019, 9, 1)
    pupils.loc["p1", "date_of_birth"] = dt.date(2019, 8, 31)
    rec = ac.reconcile(reg, pupils, year=YEAR)
    assert rec.loc["under_5", "enrolments_removed"] == 1
    assert rec.loc["dfe", "enrolments"] == 6


def test_age_15_sixth_half_term_and_late_joiners() -> None:
    before = _days(dt.date(2025, 5, 19), 5)  # the week before the spring bank holiday
    after = _days(dt.date(2025, 6, 2), 5)
    rows = []
    for i in range(6):
        rows += _rows(f"p{i}", before, "/////")
        rows += _rows(f"p{i}", after, "IIIII")
    rows += _rows("late", after, "/////")  # first enrolled after the spring bank holiday
    reg = ac.Register.from_long(pd.DataFrame(rows))
    ages = {f"p{i}": 10 for i in range(6)}
    ages["p0"] = 15
    ages["late"] = 10
    pupils = _pupils(ages)
    rec = ac.reconcile(reg, pupils, year=YEAR)
    assert rec.loc["age_15_second_half_summer", "possible_removed"] == 10
    assert rec.loc["age_15_second_half_summer", "absent_removed"] == 10
    assert rec.loc["joined_second_half_summer", "enrolments_removed"] == 1
    out = ac.dfe_statistics(reg, pupils, year=YEAR)
    assert out.loc["all", "enrolments"] == 6
    assert out.loc["all", "possible"] == 6 * 20 - 10
    assert out.loc["all", "severe_absentees"] == 5  # p1..p5: 50%; p0 now 0%


def test_outside_year_not_possible_codes_and_reconcile_chain() -> None:
    spec = {f"p{i}": "////X" for i in range(6)}
    rows = _register(spec)
    rows += _rows("p0", [dt.date(2024, 7, 1)], "O")  # 2023/24: outside the year
    reg = ac.Register.from_long(pd.DataFrame(rows), code_set="england-2024")
    pupils = _pupils(dict.fromkeys(spec, 9), year_group={})
    rec = ac.reconcile(reg, pupils, year=YEAR)
    assert list(rec["step"]) == [s for s, _ in ac.dfe.RECONCILE_STEPS]
    assert rec.loc["outside_year", "absent_removed"] == 2
    assert rec.loc["not_possible_codes", "marks_removed"] == 12
    assert rec.loc["not_possible_codes", "possible_removed"] == 0
    lib = ac.classify(reg)
    assert rec.loc["library", "possible"] == int(lib["possible"].sum())
    out = ac.dfe_statistics(reg, pupils, year=YEAR)
    for column in ac.dfe.DFE_COLUMNS:
        assert rec.loc["dfe", column] == pytest.approx(out.loc["all", column], nan_ok=True)
    # every removal is the difference of consecutive states
    assert (rec["enrolments"].diff().fillna(0).astype(int) == -rec["enrolments_removed"]).all()


def test_year_group_fallback_and_by() -> None:
    spec = {f"a{i}": "/////" for i in range(6)} | {f"b{i}": "////I" for i in range(6)}
    rows = _register({k: v for k, v in spec.items() if k.startswith("a")}, school="A")
    rows += _register({k: v for k, v in spec.items() if k.startswith("b")}, school="B")
    reg = ac.Register.from_long(pd.DataFrame(rows))
    pupils = pd.DataFrame(
        {
            "school_id": ["A"] * 6 + ["B"] * 6,
            "year_group": ["R"] + ["Y3"] * 5 + ["Year 11"] * 6,
            "fsm": [True, False] * 6,
        },
        index=pd.Index(list(spec), name="pupil_id"),
    )
    out = ac.dfe_statistics(reg, pupils, year=2024, by="school_id")
    # A: the Reception pupil (aged 4) is out, 5 left: the school is dropped
    assert out.loc["A", "enrolments"] == 0
    assert out.loc["B", "enrolments"] == 6
    assert out.loc["B", "persistent_absentees"] == 6
    by_year = ac.dfe_statistics(reg, pupils, year=2024, by="year_group")
    assert by_year.loc["Year 11", "enrolments"] == 6
    by_flag = ac.dfe_statistics(reg, pupils, year=2024, by="fsm")
    assert set(by_flag.index) == {False, True}
    rec = ac.reconcile(reg, pupils, year=2024, by="school_id")
    assert rec.loc[("A", "small_school"), "enrolments_removed"] == 5


def test_errors() -> None:
    reg = ac.Register.from_long(pd.DataFrame(_register({"p": "/"})))
    with pytest.raises(ac.AttendanceError, match="date_of_birth or year_group"):
        ac.dfe_statistics(reg, None)
    with pytest.raises(ac.AttendanceError, match="not consecutive"):
        ac.dfe_statistics(reg, _pupils({"p": 9}), year="2024/26")
    with pytest.raises(KeyError, match="nope"):
        ac.dfe_statistics(reg, _pupils({"p": 9}), by="nope")


def test_bundled_national_benchmarks_are_dfe_sourced_fractions() -> None:
    national = ac.benchmarks()
    row = national.loc[("england", "2021/22")]
    assert row["overall_absence_rate"] == pytest.approx(0.076)
    assert row["persistent_absence_rate"] == pytest.approx(0.225)
    assert row["release"].startswith("Pupil absence in schools in England")
    # press-only figures are not bundled (dfe-rules.md §2.3a)
    assert np.isnan(national.loc[("england", "2018/19"), "overall_absence_rate"])
    assert np.isnan(national.loc[("england", "2023/24"), "persistent_absence_rate"])
    rates = national[list(ac.dfe.BENCHMARK_MEASURES)].to_numpy()
    assert np.nanmax(rates) <= 1


#: The DfE-quoted figures of dfe-rules.md §2.3a (press-only ones left out), as bundled.
DFE_QUOTED = {
    "2018/19": {"authorised": 0.033, "unauthorised": 0.014, "persistent": 0.109, "severe": 0.008},
    "2021/22": {"overall": 0.076, "persistent": 0.225, "severe": 0.017},
    "2022/23": {"overall": 0.074, "authorised": 0.050},
    "2023/24": {"overall": 0.071, "authorised": 0.047},
}


def test_bundled_national_figures_load_each_with_its_source() -> None:
    national = ac.benchmarks()
    assert set(national.columns) == set(ac.dfe.BENCHMARK_COLUMNS) - {"benchmark", "year"}
    england = national.xs("england", level="benchmark")
    assert sorted(england.index) == sorted(DFE_QUOTED)
    for year, row in england.iterrows():
        # every figure names the DfE release it is quoted from and where to read it
        assert row["release"] == f"Pupil absence in schools in England: {year}"
        assert str(row["url"]).startswith(
            "https://explore-education-statistics.service.gov.uk/find-statistics/"
            "pupil-absence-in-schools-in-england"
        )
        assert row["published"] is None or isinstance(row["published"], dt.date)
        given = {m.removesuffix("_absence_rate"): row[m] for m in ac.dfe.BENCHMARK_MEASURES}
        quoted = DFE_QUOTED[str(year)]
        assert {k for k, v in given.items() if not np.isnan(v)} == set(quoted), year
        for measure, value in quoted.items():
            assert given[measure] == pytest.approx(value), (year, measure)
    assert england.at["2023/24", "published"] == dt.date(2025, 3, 20)


def test_benchmark_publication_dates(tmp_path) -> None:
    csv = tmp_path / "la.csv"
    csv.write_text(
        "benchmark,year,release,published,overall_absence_rate\n"
        "Shire LA,2024/25,Shire attendance 2024/25,2025-10-01,6.9%\n",
        encoding="utf-8",
    )
    row = ac.benchmarks(csv).loc[("Shire LA", "2024/25")]
    assert row["published"] == dt.date(2025, 10, 1)
    assert row["release"] == "Shire attendance 2024/25"
    csv.write_text(
        "benchmark,year,published,overall_absence_rate\nX,2024/25,01/10/2025,6.9%\n",
        encoding="utf-8",
    )
    with pytest.raises(ac.AttendanceError, match=r"row 2.*published.*YYYY-MM-DD"):
        ac.benchmarks(csv)


def test_user_benchmark_file(tmp_path) -> None:
    csv = tmp_path / "la.csv"
    csv.write_text(
        "benchmark,year,overall_absence_rate,persistent_absence_rate\n"
        "Shire LA,2024/25,6.9%,0.187\n",
        encoding="utf-8",
    )
    la = ac.benchmarks(csv)
    assert la.loc[("Shire LA", "2024/25"), "overall_absence_rate"] == pytest.approx(0.069)
    assert la.loc[("Shire LA", "2024/25"), "persistent_absence_rate"] == pytest.approx(0.187)
    csv.write_text("benchmark,year,overall_absence_rate\nX,2024/25,lots\n", encoding="utf-8")
    with pytest.raises(ac.AttendanceError, match=r"row 2.*overall_absence_rate.*lots"):
        ac.benchmarks(csv)
    toml = tmp_path / "trust.toml"
    toml.write_text(
        'id = "trust"\n[[figures]]\nyear = "2024/25"\nsevere_absence_rate = "2.1%"\n',
        encoding="utf-8",
    )
    assert ac.benchmarks(toml).loc[("trust", "2024/25"), "severe_absence_rate"] == pytest.approx(
        0.021
    )
