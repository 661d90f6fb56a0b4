"""Report tables against classify, letter figures by hand, safe CSV/Excel, the TSM pack and
the HTML report's content (the browser test is in test_html_report.py)."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest

import attendance_core as ac
from attendance_core import reports
from attendance_core.calendar import academic_year_start

MONDAY = dt.date(2024, 9, 2)
PRESENT = ("/", "\\")
OUT = ("O", "O")


def weekdays(n_weeks: int, start: dt.date = MONDAY) -> list[dt.date]:
    """Monday–Friday dates of ``n_weeks`` consecutive weeks."""
    return [start + dt.timedelta(days=7 * w + d) for w in range(n_weeks) for d in range(5)]


def long_frame(
    pupils: dict[str, list[tuple[str, str]]], dates: list[dt.date], school: str | None = None
) -> pd.DataFrame:
    """The long layout from ``{pupil: [(am, pm), ...]}``, one pair per date."""
    rows = []
    for pupil, marks in pupils.items():
        for day, (am, pm) in zip(dates, marks, strict=True):
            for session, code in (("AM", am), ("PM", pm)):
                row = {"pupil_id": pupil, "date": day.isoformat(), "session": session, "code": code}
                if school is not None:
                    row["school_id"] = school
                rows.append(row)
    return pd.DataFrame(rows)


def register(pupils: dict[str, list[tuple[str, str]]], dates: list[dt.date]) -> ac.Register:
    return ac.Register.from_long(long_frame(pupils, dates))


@pytest.fixture(scope="module")
def demo() -> tuple[ac.Register, pd.DataFrame]:
    long, pupils = ac.demo.school(seed=1, n_pupils=150)
    return ac.Register.from_long(long, pupils=pupils), pupils


# ----------------------------------------------------------------------------- band summary
@pytest.mark.parametrize("scheme", ["dfe", "five-band"])
def test_band_summary_matches_classify(demo: tuple[ac.Register, pd.DataFrame], scheme: str) -> None:
    reg, pupils = demo
    table = ac.classify(reg, scheme=scheme)
    summary = reports.band_summary(table)
    counts = table["band"].value_counts()
    for band in table["band"].cat.categories:
        assert summary.loc[band, "pupils"] == counts.get(band, 0)
    banded = int(table["band"].notna().sum())
    # a fraction of the banded pupils, like every rate: the bands' shares add up to 1
    assert summary["percent"].iloc[: len(counts)].sum() == pytest.approx(1)
    if scheme == "dfe":
        inclusive = int((10 * table["absent"] >= table["possible"]).sum())
        assert summary.loc[reports.PERSISTENT_INCLUSIVE, "pupils"] == inclusive
        assert summary.loc[reports.PERSISTENT_INCLUSIVE, "percent"] == pytest.approx(
            inclusive / banded
        )
    by_cin = reports.band_summary(table, by="cin", pupils=pupils)
    # the blocks by flag add up to the whole, the inclusive row too
    assert by_cin["pupils"].sum() == summary["pupils"].sum()
    assert set(by_cin.index.get_level_values("cin")) == {False, True}


# ----------------------------------------------------------------------------- letters
def test_letter_data_by_hand() -> None:
    # 8 school weeks; a and b in Y7, c in Y8, d has no year group
    dates = weekdays(8)
    a = [PRESENT] * 20 + [OUT] * 10 + [PRESENT] * 10  # last 4 weeks 50%, 4 before 100%
    b = [PRESENT] * 40
    c = [("I", "/")] * 40
    d = [OUT] * 40
    reg = register({"a": a, "b": b, "c": c, "d": d}, dates)
    pupils = pd.DataFrame(
        {"year_group": ["Y7", "Y7", "Y8", None]},
        index=pd.Index(["a", "b", "c", "d"], name="pupil_id"),
    )
    letters = reports.letter_data(reg, pupils=pupils)
    assert letters.loc["a", "days_missed"] == 10
    assert letters.loc["a", "attendance_rate"] == pytest.approx(60 / 80)
    assert letters.loc["a", "change"] == pytest.approx(0.5 - 1.0)
    assert letters.loc["a", "year_group_rate"] == pytest.approx((60 + 80) / 160)
    assert letters.loc["b", "change"] == 0
    assert letters.loc["c", "days_missed"] == 20  # 40 absent sessions: I each morning
    assert letters.loc["c", "year_group_rate"] == pytest.approx(0.5)
    assert np.isnan(letters.loc["d", "year_group_rate"])
    assert letters.loc["d", "attendance_rate"] == 0
    # a pupil half a day out keeps the half
    half = register({"h": [("O", "\\")] + [PRESENT] * 4}, weekdays(1))
    assert reports.letter_data(half).loc["h", "days_missed"] == 0.5
    assert np.isnan(reports.letter_data(half).loc["h", "year_group_rate"])


def test_letter_data_agrees_with_classify_year_to_date(
    demo: tuple[ac.Register, pd.DataFrame],
) -> None:
    reg, pupils = demo
    as_of = dt.date(2025, 3, 14)
    letters = reports.letter_data(reg, as_of, pupils=pupils)
    table = ac.classify(reg, start=academic_year_start(as_of), end=as_of)
    assert list(letters.index) == list(table.index)
    assert (letters["days_missed"] * 2 == table["absent"]).all()
    pd.testing.assert_series_equal(
        letters["attendance_rate"], table["attendance_rate"], check_names=False
    )
    # year-group rate: Σ attended ÷ Σ possible over the year group
    years = pupils["year_group"].reindex(table.index)
    for year, part in table.groupby(years.to_numpy()):
        expected = part["attended"].sum() / part["possible"].sum()
        got = letters.loc[part.index, "year_group_rate"].unique()
        assert got == pytest.approx([expected])
        del year


# ----------------------------------------------------------------------------- exports
DANGEROUS = ["=1+1", "+SUM(A1)", "-2+3", "@cmd", "\tx", "\rx", "plain"]


def test_to_csv_and_to_excel_neutralise_formulas(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {"text": DANGEROUS, "number": range(len(DANGEROUS))},
        index=pd.Index([f"p{i}" for i in range(len(DANGEROUS))], name="pupil_id"),
    )
    csv = reports.to_csv(frame, tmp_path / "out.csv")
    text = csv.read_text(encoding="utf-8-sig")
    assert "'=1+1" in text and "'@cmd" in text and "'-2+3" in text
    xlsx = reports.to_excel(
        {"first": frame, "bad/name:[x]": frame.reset_index()}, tmp_path / "out.xlsx"
    )
    book = openpyxl.load_workbook(xlsx)
    assert book.sheetnames == ["first", "bad_name__x_"]
    values = [c.value for c in book["first"]["B"]][1:]
    assert values[:4] == ["'=1+1", "'+SUM(A1)", "'-2+3", "'@cmd"]
    assert values[-1] == "plain"
    for row in book["first"].iter_rows():
        for cell in row:
            assert cell.data_type != "f"
    numbers = [c.value for c in book["first"]["C"]][1:]
    assert numbers == list(range(len(DANGEROUS)))
    # one frame: a sheet named data; no temporary file left behind
    reports.to_excel(frame, tmp_path / "one.xlsx")
    assert openpyxl.load_workbook(tmp_path / "one.xlsx").sheetnames == ["data"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["one.xlsx", "out.csv", "out.xlsx"]


# ----------------------------------------------------------------------------- TSM pack
def test_tsm_pack_tables_match_classify(demo: tuple[ac.Register, pd.DataFrame]) -> None:
    reg, pupils = demo
    as_of = dt.date(2025, 3, 14)
    pack = reports.tsm_pack(reg, pupils, as_of)
    assert pack.term == "2024/25 spring"
    assert pack.last_term == "2024/25 autumn"
    assert pack.schools == ["DEMO"]
    bands = pack.bands.set_index("band")
    year = ac.classify(reg, "five-band", start=dt.date(2024, 8, 1), end=as_of)
    this = ac.classify(reg, "five-band", start=dt.date(2025, 1, 1), end=as_of)
    last = ac.classify(reg, "five-band", start=dt.date(2024, 8, 1), end=dt.date(2024, 12, 31))
    for name, table in (("year", year), ("this_term", this), ("last_term", last)):
        counts = table["band"].value_counts()
        for band in bands.index:
            assert bands.loc[band, f"pupils_{name}"] == counts.get(band, 0), (name, band)
    assert list(bands.index) == list(ac.band_scheme("five-band").band_ids)
    severe_ids = set(year.index[year["band"] == "severe_absence"])
    assert set(pack.severe["pupil_id"]) == severe_ids
    assert "name" not in pack.severe.columns  # no names in a pack that leaves the school
    order = {b: i for i, b in enumerate(ac.band_scheme("five-band").band_ids)}
    for rec in pack.successes.to_dict("records"):
        assert order[rec["band_this_term"]] < order[rec["band_last_term"]]
        assert this.loc[rec["pupil_id"], "band"] == rec["band_this_term"]
        assert last.loc[rec["pupil_id"], "band"] == rec["band_last_term"]
    moved = [
        p
        for p in this.index.intersection(last.index)
        if pd.notna(this.loc[p, "band"])
        and pd.notna(last.loc[p, "band"])
        and order[this.loc[p, "band"]] < order[last.loc[p, "band"]]
        and this.loc[p, "possible"] >= reports.MIN_TERM_SESSIONS
    ]
    assert sorted(moved) == sorted(pack.successes["pupil_id"])
    cohorts = pack.cohorts.set_index("cohort")
    assert cohorts.loc["all", "pupils"] == len(year)
    assert cohorts.loc["social_worker", "pupils"] == int(
        (pupils[["cin", "cp", "cic"]].any(axis=1)).reindex(year.index).sum()
    )


def test_tsm_pack_severe_pupils_carry_next_steps() -> None:
    dates = weekdays(6)
    reg = register({"sev": [OUT] * 30, "ok": [PRESENT] * 30}, dates)
    pack = reports.tsm_pack(reg)
    assert list(pack.severe["pupil_id"]) == ["sev"]
    assert "Targeting Support Meeting" in pack.severe.loc[0, "next_steps"]


def test_write_tsm_pack_per_school_with_safe_folder_names(tmp_path: Path) -> None:
    dates = weekdays(3)
    frame = pd.concat(
        [
            long_frame({"p1": [OUT] * 15, "p2": [PRESENT] * 15}, dates, school="../evil"),
            long_frame({"p3": [PRESENT] * 15}, dates, school="S2"),
        ]
    )
    reg = ac.Register.from_long(frame)
    pack = reports.tsm_pack(reg)
    assert pack.schools == ["../evil", "S2"]
    written = reports.write_tsm_pack(pack, tmp_path / "pack")
    for path in written:
        assert path.resolve().is_relative_to((tmp_path / "pack").resolve())
        assert path.exists()
    names = {p.relative_to(tmp_path / "pack").as_posix() for p in written}
    assert "evil/tsm.html" in names and "S2/tsm.xlsx" in names
    assert "tsm_all_schools.xlsx" in names and "bands.csv" in names
    one = pd.read_csv(tmp_path / "pack" / "S2" / "bands.csv", encoding="utf-8-sig")
    assert set(one["school_id"]) == {"S2"}
    combined = pd.read_csv(tmp_path / "pack" / "bands.csv", encoding="utf-8-sig")
    assert len(combined) == 10
    book = openpyxl.load_workbook(tmp_path / "pack" / "tsm_all_schools.xlsx")
    assert book.sheetnames == ["bands", "cohorts", "severe_absence", "successes", "benchmarks"]


# ----------------------------------------------------------------------------- HTML
def small_school() -> tuple[ac.Register, pd.DataFrame]:
    dates = weekdays(6)
    reg = register(
        {
            "p1": [PRESENT] * 30,
            "p2": [OUT if d.weekday() == 4 else PRESENT for d in dates],
            "p3": [OUT] * 20 + [PRESENT] * 10,
        },
        dates,
    )
    pupils = pd.DataFrame(
        {
            "name": ["Ann Oak", "<script>alert(1)</script>", "Bo & Co"],
            "year_group": ["Y7", "Y8", "Y9"],
            "cin": [False, False, True],
        },
        index=pd.Index(["p1", "p2", "p3"], name="pupil_id"),
    )
    return reg, pupils


def test_html_report_is_self_contained_escaped_and_deterministic(tmp_path: Path) -> None:
    reg, pupils = small_school()
    first = reports.html_report(reg, tmp_path / "a.html", pupils=pupils)
    second = reports.html_report(reg, tmp_path / "b.html", pupils=pupils)
    html = first.read_text(encoding="utf-8")
    assert first.read_bytes() == second.read_bytes()
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "Bo &amp; Co" in html
    assert "<script" not in html.lower()
    # no network resources: nothing to fetch, no stylesheet or image links, no @import
    assert not re.search(r"""(src|href)\s*=""", html, re.IGNORECASE)
    assert "@import" not in html and "url(" not in html
    urls = set(re.findall(r"https?://[^\s\"'<>]+", html))
    assert urls <= {"http://www.w3.org/2000/svg"}
    assert html.count("<svg") == 3  # bands, heat map, weekly trend
    assert "<polyline" in html
    for section in ("bands", "heat-map", "trend", "cohorts", "need"):
        assert f'id="{section}"' in html
    assert "generated" not in html
    stamped = reports.html_report(
        reg, tmp_path / "c.html", pupils=pupils, generated_at=dt.datetime(2025, 1, 2, 3, 4)
    )
    assert "generated 2025-01-02 03:04" in stamped.read_text(encoding="utf-8")


def test_html_report_lists_pupils_most_in_need_with_steps(tmp_path: Path) -> None:
    reg, pupils = small_school()
    html = reports.html_report(reg, tmp_path / "r.html", pupils=pupils, top=2).read_text("utf-8")
    need = html[html.index('id="need"') :]
    assert need.index("p3") < need.index("p2")  # worst first
    assert "p1" not in need.split("</table>")[0]  # only the top 2
    assert "Fridays (100% of absence)" in need  # p2 misses every Friday and nothing else
    assert "&lt;script&gt;" in need
    assert "Discuss at the Targeting Support Meeting" in need  # p3 is in severe absence
    assert "Attendance meeting with parents" in need  # p2 is in persistent absence
    dfe = reports.html_report(reg, tmp_path / "d.html", scheme="dfe").read_text("utf-8")
    assert "Severe absence" in dfe


def test_html_report_of_several_schools(tmp_path: Path) -> None:
    dates = weekdays(2)
    frame = pd.concat(
        [
            long_frame({"p1": [OUT] * 10}, dates, school="A"),
            long_frame({"p1": [PRESENT] * 10}, dates, school="B"),
        ]
    )
    reg = ac.Register.from_long(frame)
    html = reports.html_report(reg, tmp_path / "r.html").read_text("utf-8")
    assert 'id="schools"' in html
    assert ">A<" in html and ">B<" in html
