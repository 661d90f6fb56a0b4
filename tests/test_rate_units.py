"""One unit for rates in every output (issue 18): a fraction in [0, 1] in data, a percentage only
where people read it.

On the demo school: every rate, share and ``percent`` column of every public table, of the
TSM pack's files, of the command line's CSV, JSON and Excel tables and of the service's band
table lies in [0, 1] (a change of rate in [-1, 1]); the same figure reported by two functions is
the same number; Excel shows the fraction with a % format (never multiplied twice), and the HTML
shows it as a percentage of at most 100%.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import openpyxl
import pandas as pd
import pytest

import attendance_core as ac
from attendance_core import patterns
from attendance_core.calendar import academic_year_start
from attendance_core.reports import PERSISTENT_INCLUSIVE

RATE_WORDS = ("rate", "share", "percent")
CHANGE_WORDS = ("change",)


@pytest.fixture(scope="module")
def demo() -> tuple[ac.Register, pd.DataFrame, dt.date]:
    marks, pupils = ac.demo.school(seed=0)
    reg = ac.Register.from_long(marks, pupils=pupils)
    return reg, pupils, patterns.resolve_as_of(reg)


@pytest.fixture(scope="module")
def pack(demo: tuple[ac.Register, pd.DataFrame, dt.date]) -> ac.TSMPack:
    reg, pupils, as_of = demo
    return ac.tsm_pack(reg, pupils, as_of)


def _two_years(demo: tuple[ac.Register, pd.DataFrame, dt.date]) -> ac.Register:
    """The demo school's year and the same marks 52 weeks later (same weekdays, 2024 codes)."""
    marks, pupils = ac.demo.school(seed=0)
    later = marks.assign(date=(pd.to_datetime(marks["date"]) + pd.Timedelta(weeks=52)).dt.date)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # marks after the pupils' leaving dates: warned, kept
        return ac.Register.from_long(pd.concat([marks, later], ignore_index=True), pupils=pupils)


def _check_units(frame: pd.DataFrame, what: str) -> int:
    """Every rate-like float column of ``frame`` in [0, 1], every change in [-1, 1]; returns how
    many columns were checked."""
    checked = 0
    for column in frame.columns:
        name = str(column).lower()
        series = frame[column]
        if not pd.api.types.is_numeric_dtype(series.dtype) or series.dtype == bool:
            continue
        values = series.dropna().to_numpy(dtype=float)
        if any(w in name for w in CHANGE_WORDS):
            low = -1.0
        elif any(w in name for w in RATE_WORDS):
            low = 0.0
        else:
            continue
        checked += 1
        bad = values[(values < low) | (values > 1)]
        assert not len(bad), f"{what}.{column}: {bad[:5]} outside [{low:g}, 1]"
    return checked


def _public_tables(
    reg: ac.Register, pupils: pd.DataFrame, as_of: dt.date, pack: ac.TSMPack
) -> dict[str, pd.DataFrame]:
    first = academic_year_start(as_of)
    figures = patterns.pupil_patterns(reg, as_of)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tables = {
            "classify": ac.classify(reg, scheme="five-band"),
            "band_summary dfe": ac.band_summary(ac.classify(reg)),
            "band_summary by sen": ac.band_summary(figures, by="sen", pupils=pupils),
            "pupil_patterns": figures,
            "cohort_summary": patterns.cohort_summary(figures, pupils),
            "trend": patterns.trend(reg, as_of),
            "term_rates": patterns.term_rates(reg, as_of),
            "weekly_attendance": patterns.weekly_attendance(reg, first, as_of),
            "weekday_profile": patterns.weekday_profile(reg, first, as_of),
            "group_weekday_profile": patterns.group_weekday_profile(
                reg, first, as_of, pupils=pupils, by="year_group"
            ),
            "letter_data": ac.letter_data(reg, as_of, pupils=pupils),
            "dfe_statistics": ac.dfe_statistics(reg, pupils, year="2024/25", by="year_group"),
            "reconcile": ac.reconcile(reg, pupils, year="2024/25"),
            "benchmarks": ac.benchmarks(),
            "year_group_summary": ac.year_group_summary(reg, pupils, as_of),
            "absence_by_reason": ac.absence_by_reason(reg, first, as_of),
            "steps_frame": ac.steps_frame(ac.recommend(reg, pupils=pupils, as_of=as_of)),
        }
    tables.update({f"tsm {name}": frame for name, frame in pack.tables().items()})
    return tables


def test_every_rate_of_every_public_table_is_a_fraction(
    demo: tuple[ac.Register, pd.DataFrame, dt.date], pack: ac.TSMPack
) -> None:
    reg, pupils, as_of = demo
    tables = _public_tables(reg, pupils, as_of, pack)
    checked = {name: _check_units(frame, name) for name, frame in tables.items()}
    # the tables named for their rates do carry rate columns (a renamed column is noticed)
    for name in ("band_summary dfe", "cohort_summary", "dfe_statistics", "tsm bands"):
        assert checked[name] >= 1, name
    assert {"percent_year", "percent_this_term", "percent_last_term"} <= set(
        tables["tsm bands"].columns
    )
    # fractions, not 0-100 values that happen to be small: the bands' shares add up to 1
    summary = tables["band_summary dfe"]
    assert summary["percent"].drop(PERSISTENT_INCLUSIVE).sum() == pytest.approx(1)
    for period in ("year", "this_term", "last_term"):
        assert pack.bands[f"percent_{period}"].sum() == pytest.approx(1)


def test_year_on_year_rates_are_fractions(demo: tuple[ac.Register, pd.DataFrame, dt.date]) -> None:
    reg = _two_years(demo)
    table = ac.year_on_year(reg)
    assert table is not None
    assert _check_units(table, "year_on_year") == 3
    last = table.loc["last_year"]
    inclusive = ac.band_summary(ac.classify(reg, start=last["start"], end=last["end"]))
    assert last["persistent_absence_rate"] == inclusive.at[PERSISTENT_INCLUSIVE, "percent"]


def test_the_same_figure_agrees_between_functions(
    demo: tuple[ac.Register, pd.DataFrame, dt.date], pack: ac.TSMPack
) -> None:
    reg, pupils, as_of = demo
    year = ac.classify(reg, start=academic_year_start(as_of), end=as_of)
    dfe_bands = ac.band_summary(year)
    figures = patterns.pupil_patterns(reg, as_of)
    everyone = patterns.cohort_summary(figures, pupils).xs("all", level="cohort").iloc[0]
    library = ac.reconcile(reg, pupils, year="2024/25").loc["library"]
    own = pack.comparison[pack.comparison["source"] == "school"].set_index("measure")["rate"]
    persistent = dfe_bands.at[PERSISTENT_INCLUSIVE, "percent"]
    severe = dfe_bands.at["severe_absence", "percent"]
    assert everyone["persistent_absence_percent"] == pytest.approx(persistent)
    assert everyone["severe_absence_percent"] == pytest.approx(severe)
    pairs = (("persistent_absence_rate", persistent), ("severe_absence_rate", severe))
    for measure, value in pairs:
        assert library[measure] == pytest.approx(value)
        assert own[measure] == pytest.approx(value)
    assert own["overall_absence_rate"] == pytest.approx(1 - everyone["attendance_rate"])
    assert own["authorised_absence_rate"] == pytest.approx(everyone["authorised_rate"])
    assert own["unauthorised_absence_rate"] == pytest.approx(everyone["unauthorised_rate"])
    reasons = ac.absence_by_reason(reg, academic_year_start(as_of), as_of)
    assert reasons["rate"].sum() == pytest.approx(library["overall_absence_rate"])
    assert reasons["share"].sum() == pytest.approx(1)

    dfe = ac.dfe_statistics(reg, pupils, year="2024/25").iloc[0]
    method = pack.comparison[pack.comparison["source"] == "dfe_method"].set_index("measure")
    for measure, rate in method["rate"].items():
        assert rate == pytest.approx(dfe[measure]), measure

    # the TSM pack's year bands are band_summary of the five-band year, share for share
    five = ac.band_summary(figures)
    bands = pack.bands.set_index("band")
    assert (bands["pupils_year"] == five["pupils"].reindex(bands.index)).all()
    np.testing.assert_allclose(bands["percent_year"], five["percent"].reindex(bands.index))

    # year groups: the same persistent and severe shares as band_summary by year group
    groups = ac.year_group_summary(reg, pupils, as_of)
    by_year = ac.band_summary(year, by="year_group", pupils=pupils)["percent"]
    for group, row in groups.iterrows():
        assert row["persistent_absence_rate"] == pytest.approx(
            by_year[(group, PERSISTENT_INCLUSIVE)]
        ), group
        assert row["severe_absence_rate"] == pytest.approx(by_year[(group, "severe_absence")])
    letters = ac.letter_data(reg, as_of, pupils=pupils)
    np.testing.assert_allclose(letters["attendance_rate"], year["attendance_rate"])
    for group, rate in letters.groupby("year_group")["year_group_rate"].first().items():
        assert rate == pytest.approx(groups.at[group, "attendance_rate"]), group


def _cli(*args: str) -> None:
    from attendance_core.cli import main

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert main(["--quiet", *args]) == 0


def test_command_line_tables_and_the_tsm_files_hold_fractions(
    demo: tuple[ac.Register, pd.DataFrame, dt.date], tmp_path: Path
) -> None:
    reg, pupils, as_of = demo
    marks, _ = ac.demo.school(seed=0)
    source, roster = tmp_path / "marks.csv", tmp_path / "pupils.csv"
    marks.to_csv(source, index=False)
    pupils.drop(columns=["name"]).to_csv(roster)
    read = ["--pupils", str(roster)]
    expected = ac.band_summary(patterns.pupil_patterns(reg, as_of))["percent"].to_numpy()
    for table in ("bands", "cohorts", "pupils", "letters", "weekly"):
        csv = tmp_path / f"{table}.csv"
        _cli("report", str(source), *read, "--table", table, "--to", "csv", "--output", str(csv))
        frame = pd.read_csv(csv)
        assert _check_units(frame, f"csv {table}") >= 1, table
        if table == "bands":
            np.testing.assert_allclose(frame["percent"], expected)
    out = tmp_path / "bands.json"
    _cli("report", str(source), *read, "--table", "bands", "--to", "json", "--output", str(out))
    records = json.loads(out.read_text(encoding="utf-8"))
    np.testing.assert_allclose([r["percent"] for r in records], expected)

    book = tmp_path / "cohorts.xlsx"
    _cli("report", str(source), *read, "--table", "cohorts", "--to", "xlsx", "--output", str(book))
    _check_sheet(openpyxl.load_workbook(book)["data"], "persistent_absence_percent")

    folder = tmp_path / "tsm"
    _cli("report", str(source), *read, "--tsm", str(folder))
    bands = pd.read_csv(folder / "bands.csv")
    _check_units(bands, "bands.csv")
    np.testing.assert_allclose(bands["percent_year"].sum(), 1)
    for sheet in ("bands", "cohorts"):
        ws = openpyxl.load_workbook(folder / "tsm_all_schools.xlsx")[sheet]
        column = "percent_year" if sheet == "bands" else "severe_absence_percent"
        _check_sheet(ws, column)
    html = (folder / "DEMO" / "tsm.html").read_text(encoding="utf-8")
    _check_html(html)
    for rec in bands.to_dict("records"):
        assert f"{rec['pupils_year']:,} ({100 * rec['percent_year']:.1f}%)" in html


def _check_sheet(ws: Any, column: str) -> None:
    """The column's cells are fractions with Excel's % format: shown once as a percentage."""
    header = [c.value for c in ws[1]]
    i = header.index(column) + 1
    cells = [row[0] for row in ws.iter_rows(min_row=2, min_col=i, max_col=i)]
    numbers = [c for c in cells if isinstance(c.value, int | float)]
    assert numbers, column
    assert all(0 <= c.value <= 1 and c.number_format == "0.0%" for c in numbers), column


def _check_html(html: str) -> None:
    """Every percentage a page shows is at most 100%: a fraction multiplied twice would not be."""
    shown = [float(m) for m in re.findall(r"(\d[\d,]*(?:\.\d+)?)\s?%", html.replace(",", ""))]
    assert shown
    assert max(shown) <= 100, sorted(shown)[-5:]


def test_reports_show_fractions_as_percentages_once(
    demo: tuple[ac.Register, pd.DataFrame, dt.date], tmp_path: Path
) -> None:
    reg, pupils, as_of = demo
    path = ac.html_report(reg, tmp_path / "report.html", pupils=pupils, as_of=as_of)
    html = Path(path).read_text(encoding="utf-8")
    _check_html(html)
    summary = ac.band_summary(patterns.pupil_patterns(reg, as_of))
    for rec in summary.reset_index().to_dict("records"):
        assert f"{rec['pupils']:,} · {100 * rec['percent']:.1f}%" in html, rec
    everyone = patterns.cohort_summary(patterns.pupil_patterns(reg, as_of), pupils)
    share = everyone.xs("all", level="cohort").iloc[0]["persistent_absence_percent"]
    assert f"({100 * share:.0f}%)" in html


@pytest.mark.service
def test_the_service_band_table_holds_fractions(
    demo: tuple[ac.Register, pd.DataFrame, dt.date],
) -> None:
    from attendance_core.service import _classified

    reg, _, as_of = demo
    data = _classified(reg, as_of, "five-band")
    year = ac.classify(reg, scheme="five-band", start=academic_year_start(as_of), end=as_of)
    expected = ac.band_summary(year)["percent"]
    assert _check_units(pd.DataFrame(data["bands"]), "service bands") == 1
    assert [b["percent"] for b in data["bands"]] == pytest.approx(expected.tolist())
    assert all(0 <= p["attendance_rate"] <= 1 for p in data["pupils"] if p["attendance_rate"])
