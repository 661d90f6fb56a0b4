"""Year groups, absence by reason, this year against last, and the report sections showing them."""

from __future__ import annotations

import datetime as dt
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import attendance_core as ac


def _rows(pupil: str, start: dt.date, codes: str) -> list[dict[str, object]]:
    rows, day = [], start
    for code in codes:
        while day.weekday() >= 5:
            day += dt.timedelta(days=1)
        for session in ("AM", "PM"):
            rows.append({"pupil_id": pupil, "date": day, "session": session, "code": code})
        day += dt.timedelta(days=1)
    return rows


def test_absence_by_reason_reads_tags() -> None:
    rows = _rows("p1", dt.date(2025, 1, 6), "IIMGNOU/CX")
    reg = ac.Register.from_long(pd.DataFrame(rows))
    table = ac.absence_by_reason(reg)
    sessions = table["sessions"].to_dict()
    assert sessions == {
        "illness": 4,
        "medical": 2,
        "holiday": 2,
        "unexplained": 2,
        "late_after_close": 2,
        "other_authorised": 2,  # C
        "other_unauthorised": 2,  # O
    }
    assert table["sessions"].dtype == np.int64
    assert table.loc["illness", "share"] == pytest.approx(4 / 16)
    assert table.loc["illness", "rate"] == pytest.approx(4 / 18)  # X is not possible
    assert table["share"].sum() == pytest.approx(1)


def test_year_group_summary_orders_years() -> None:
    rows = _rows("a", dt.date(2025, 1, 6), "/////") + _rows("b", dt.date(2025, 1, 6), "/III/")
    rows += _rows("c", dt.date(2025, 1, 6), "/////")
    reg = ac.Register.from_long(pd.DataFrame(rows))
    pupils = pd.DataFrame(
        {"year_group": ["Year 10", "Year 2", None]},
        index=pd.Index(["a", "b", "c"], name="pupil_id"),
    )
    table = ac.year_group_summary(reg, pupils)
    assert list(table.index) == ["Year 2", "Year 10", "unknown"]
    assert table.loc["Year 2", "attendance_rate"] == pytest.approx(0.4)
    assert table.loc["Year 2", "severe_absentees"] == 1
    assert table.loc["Year 10", "persistent_absentees"] == 0


def test_year_on_year() -> None:
    rows = _rows("p", dt.date(2024, 1, 8), "/////") + _rows("p", dt.date(2025, 1, 6), "////I")
    reg = ac.Register.from_long(pd.DataFrame(rows))
    table = ac.year_on_year(reg, as_of="2025-01-10")
    assert table is not None
    assert table.loc["last_year", "attendance_rate"] == pytest.approx(1.0)
    assert table.loc["this_year", "attendance_rate"] == pytest.approx(0.8)
    only_this = ac.Register.from_long(pd.DataFrame(_rows("p", dt.date(2025, 1, 6), "/////")))
    assert ac.year_on_year(only_this) is None


def test_report_shows_dfe_figures_benchmarks_and_school_bands(tmp_path: Path) -> None:
    warnings.simplefilter("ignore")
    parts, pups = [], []
    for i, seed in enumerate((3, 4)):
        lg, pp = ac.demo.school(seed=seed)
        parts.append(lg.assign(school_id=f"S{i + 1}"))
        pups.append(pp.assign(school_id=f"S{i + 1}"))
    long, pupils = pd.concat(parts), pd.concat(pups)
    reg = ac.Register.from_long(long, pupils=pupils)
    la = tmp_path / "la.csv"
    la.write_text("benchmark,title,year,overall_absence_rate\nla,Shire LA,2024/25,6.2%\n", "utf-8")
    html = ac.html_report(reg, tmp_path / "r.html", pupils=pupils, benchmarks=la).read_text("utf-8")
    section = html[html.index('id="compare"') : html.index('id="cohorts"')]
    assert "DfE method" in section and "Shire LA 2024/25" in section and "6.2%" in section
    assert "England" in section and "Pupil absence in schools in England" in section
    dfe = ac.dfe_statistics(reg.select(end=reg.dates[-1]), pupils, year="2024/25")
    shown = f"{100 * dfe.loc['all', 'overall_absence_rate']:.1f}%"
    assert shown in section or f"{float(shown[:-1]) - 0.1:.1f}%" in section  # truncated
    schools = html[html.index('id="schools"') : html.index('id="compare"')]
    scheme = ac.band_scheme("five-band")
    for band in scheme.bands:
        assert band.label in schools
    table = ac.classify(reg.select(start="2024-08-01"), scheme="five-band")
    s1 = table.xs("S1", level="school_id")["band"].value_counts()
    row = re.search(r"<tr><td>S1</td>(.*?)</tr>", schools)
    assert row is not None
    cells = re.findall(r'<td class="num">([^<]*)</td>', row.group(1))
    assert [int(c.replace(",", "")) for c in cells[-5:]] == [int(s1[b]) for b in scheme.band_ids]


def test_tsm_pack_sets_each_school_against_the_benchmarks(tmp_path: Path) -> None:
    warnings.simplefilter("ignore")
    parts, pups = [], []
    for i, seed in enumerate((3, 4)):
        lg, pp = ac.demo.school(seed=seed, n_pupils=200)
        parts.append(lg.assign(school_id=f"S{i + 1}"))
        pups.append(pp.assign(school_id=f"S{i + 1}"))
    long, pupils = pd.concat(parts), pd.concat(pups)
    reg = ac.Register.from_long(long, pupils=pupils)
    la = tmp_path / "la.csv"
    la.write_text("benchmark,title,year,overall_absence_rate\nla,Shire LA,2024/25,6.2%\n", "utf-8")
    pack = ac.tsm_pack(reg, pupils, benchmarks=la)
    table = pack.comparison
    assert set(table["school_id"]) == {"S1", "S2"}
    assert {"school", "dfe_method", "england", "la"} <= set(table["source"])
    day = pack.as_of
    for school in ("S1", "S2"):
        one = reg.select(schools=[school], end=day)
        dfe = ac.dfe_statistics(one, pupils[pupils["school_id"] == school], year="2024/25")
        got = table.set_index(["school_id", "source", "measure"])["rate"]
        for measure in ("overall_absence_rate", "persistent_absence_rate"):
            assert got[(school, "dfe_method", measure)] == dfe.loc["all", measure]
        counted = ac.classify(one.select(start="2024-08-01"))
        expected = counted["absent"].sum() / counted["possible"].sum()
        assert got[(school, "school", "overall_absence_rate")] == pytest.approx(expected)
        assert got[(school, "la", "overall_absence_rate")] == pytest.approx(0.062)
        assert np.isnan(got[(school, "la", "severe_absence_rate")])
    written = ac.write_tsm_pack(pack, tmp_path / "pack")
    html = (tmp_path / "pack" / "S2" / "tsm.html").read_text("utf-8")
    section = html[html.index('id="compare"') : html.index('id="cohorts"')]
    assert "DfE method" in section and "Shire LA 2024/25" in section and "6.2%" in section
    assert "not published" in section
    one = pd.read_csv(tmp_path / "pack" / "S2" / "benchmarks.csv", encoding="utf-8-sig")
    assert set(one["school_id"]) == {"S2"} and one["rate"].dropna().between(0, 1).all()
    assert any(p.name == "benchmarks.csv" for p in written)


def test_trust_report_sets_each_school_beside_the_dfe_method(tmp_path: Path) -> None:
    warnings.simplefilter("ignore")
    parts, pups = [], []
    for i, seed in enumerate((5, 6)):
        lg, pp = ac.demo.school(seed=seed, n_pupils=150)
        parts.append(lg.assign(school_id=f"S{i + 1}"))
        pups.append(pp.assign(school_id=f"S{i + 1}"))
    long, pupils = pd.concat(parts), pd.concat(pups)
    reg = ac.Register.from_long(long, pupils=pupils)
    html = ac.html_report(reg, tmp_path / "t.html", pupils=pupils).read_text("utf-8")
    section = html[html.index('id="compare"') : html.index('id="cohorts"')]
    assert "School by school" in section
    day = reg.dates[-1]
    for school in ("S1", "S2"):
        one = reg.select(schools=[school], end=day)
        dfe = ac.dfe_statistics(one, pupils[pupils["school_id"] == school], year="2024/25")
        row = re.search(rf"<tr><td>{school}</td>(.*?)</tr>", section)
        assert row is not None
        cells = re.findall(r'<td class="num">([^<]*)</td>', row.group(1))
        assert len(cells) == 10  # five measures, every pupil and DfE method
        assert cells[1] == f"{100 * dfe.loc['all', 'overall_absence_rate']:.1f}%"
        assert cells[7] == f"{100 * dfe.loc['all', 'persistent_absence_rate']:.1f}%"
