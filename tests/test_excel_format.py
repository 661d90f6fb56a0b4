"""ac.to_excel writes sheets people can use: widths, frozen header, filter, % and date formats."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

import attendance_core as ac


def test_formatted_sheet(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "pupil_id": ["p1", "a-much-longer-pupil-identifier"],
            "attendance_rate": [0.953, 0.5],
            "possible": [120, 80],
            "due": pd.to_datetime(["2025-03-03", "2025-03-04"]),
        }
    )
    path = ac.to_excel({"pupils": frame}, tmp_path / "out.xlsx")
    ws = openpyxl.load_workbook(path)["pupils"]
    assert [c.value for c in ws[1]] == list(frame.columns)  # no stray index column
    assert ws.freeze_panes == "A2"
    assert ws.auto_filter.ref == "A1:D3"
    assert ws["B2"].value == pytest.approx(0.953)  # a number 0-1, shown as a percentage
    assert ws["B2"].number_format == "0.0%"
    assert ws["C2"].number_format == "0"
    assert ws["D2"].number_format == "yyyy-mm-dd"
    assert isinstance(ws["D2"].value, dt.datetime)
    widths = {k: v.width for k, v in ws.column_dimensions.items()}
    assert widths["A"] >= len("a-much-longer-pupil-identifier")
    assert widths["A"] > widths["C"]


def test_named_index_kept_and_default_index_dropped(tmp_path: Path) -> None:
    named = pd.DataFrame({"possible": [1]}, index=pd.Index(["p1"], name="pupil_id"))
    plain = pd.DataFrame({"possible": [1]})
    path = ac.to_excel({"a": named, "b": plain}, tmp_path / "two.xlsx")
    book = openpyxl.load_workbook(path)
    assert [c.value for c in book["a"][1]] == ["pupil_id", "possible"]
    assert [c.value for c in book["b"][1]] == ["possible"]


def test_rate_outside_unit_interval_is_not_percent(tmp_path: Path) -> None:
    frame = pd.DataFrame({"growth_rate": [12.5, 3.0]})
    ws = openpyxl.load_workbook(ac.to_excel(frame, tmp_path / "x.xlsx"))["data"]
    assert ws["A2"].number_format != "0.0%"


def test_cli_to_xlsx_and_rejected_csv_without_index(tmp_path: Path) -> None:
    from attendance_core.cli import main

    marks = tmp_path / "marks.csv"
    pd.DataFrame(
        {
            "pupil_id": ["p1", "p1", "p2", "p2"],
            "date": ["2025-01-06", "2025-01-06", "2025-01-06", "not a date"],
            "session": ["AM", "PM", "AM", "AM"],
            "code": ["/", "I", "/", "/"],
        }
    ).to_csv(marks, index=False)
    out = tmp_path / "out.xlsx"
    bad = tmp_path / "bad.csv"
    args = ["--quiet", "classify", str(marks), "--to", "xlsx", "--output", str(out)]
    code = main([*args, "--errors", "collect", "--rejected", str(bad)])
    assert code == 0
    ws = openpyxl.load_workbook(out)["data"]
    header = [c.value for c in ws[1]]
    assert header[0] == "pupil_id" and "attendance_rate" in header
    rate = header.index("attendance_rate") + 1
    assert ws.cell(row=2, column=rate).number_format == "0.0%"
    assert ws.cell(row=2, column=rate).value == pytest.approx(0.5)
    rejected = pd.read_csv(bad, encoding="utf-8-sig")
    assert list(rejected.columns) == ["row", "column", "value", "reason"]
    assert main(["--quiet", "classify", str(marks), "--to", "xlsx"]) == 2
