"""WCAG AA contrast of every badge, heat-map cell and chart label, computed from the colours."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import pytest

import attendance_core as ac
from attendance_core import reports


def test_contrast_ratio_known_values() -> None:
    assert reports.contrast_ratio("#000000", "#ffffff") == pytest.approx(21)
    assert reports.contrast_ratio("#777777", "#ffffff") == pytest.approx(4.48, abs=0.01)


@pytest.mark.parametrize("background", [*reports.BAND_PALETTE, "#777777", "#f9a825", "#7f7f7f"])
def test_badge_text_meets_aa(background: str) -> None:
    text = reports._text_colour(background)
    assert reports.contrast_ratio(text, background) >= reports.AA_CONTRAST


def test_heat_map_text_meets_aa() -> None:
    for i in range(101):
        colour = reports._heat_colour(i / 100)
        text = reports._text_colour(colour)
        assert reports.contrast_ratio(text, colour) >= reports.AA_CONTRAST, colour


def test_style_sheet_text_colours_meet_aa() -> None:
    css = (Path(reports.__file__).parent / "templates" / "_style.css").read_text("utf-8")
    muted = re.search(r"--muted:\s*(#[0-9a-f]{6})", css)
    accent = re.search(r"--accent:\s*(#[0-9a-f]{6})", css)
    assert muted and accent
    for colour in (muted.group(1), accent.group(1)):
        for background in ("#ffffff", "#f8f9fb", "#f4f6f9"):  # panel, table head, page
            assert reports.contrast_ratio(colour, background) >= reports.AA_CONTRAST
    assert reports.contrast_ratio("#8a4b00", "#fff1e0") >= reports.AA_CONTRAST  # .flag


def test_report_draws_the_95_percent_line(tmp_path: Path) -> None:
    warnings.simplefilter("ignore")
    long, pupils = ac.demo.school(seed=3)
    reg = ac.Register.from_long(long, pupils=pupils)
    html = ac.html_report(reg, tmp_path / "r.html", pupils=pupils).read_text("utf-8")
    line = re.search(r'<line class="ref-95"[^>]*y1="([\d.]+)"', html)
    assert line is not None
    chart = re.search(r'class="chart trend-chart"', html)
    assert chart is not None
