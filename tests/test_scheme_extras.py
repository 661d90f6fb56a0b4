"""Scheme files: band colours, min_possible_sessions, the Monitor-your-school-attendance bands."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

import attendance_core as ac
from attendance_core import reports


def _scheme(**extra: object) -> dict[str, object]:
    return {
        "id": "local",
        "measure": "absence",
        "bands": [
            {"id": "ok", "min": "0%", "max": "10%", "include_max": False, "colour": "#1B5E20"},
            {"id": "pa", "min": "10%", "max": "100%", "colour": "#b71c1c"},
        ],
        **extra,
    }


def test_band_colours_come_from_the_scheme() -> None:
    scheme = ac.band_scheme(_scheme())
    assert scheme["ok"].colour == "#1b5e20"
    assert reports._band_colours(scheme) == {"ok": "#1b5e20", "pa": "#b71c1c"}
    with pytest.raises(ac.SchemeError, match="colour"):
        ac.band_scheme(_scheme(bands=[{"id": "x", "min": 0, "max": 100, "colour": "red"}]))


def test_min_possible_sessions_leaves_short_enrolments_unbanded() -> None:
    scheme = ac.band_scheme(_scheme(min_possible_sessions=20))
    assert scheme.band_of(19, 19) is None
    assert scheme.band_of(18, 20) == "pa"
    rows = []
    for pupil, days in (("short", 9), ("long", 10)):
        day = dt.date(2025, 1, 6)
        for _ in range(days):
            while day.weekday() >= 5:
                day += dt.timedelta(days=1)
            for session in ("AM", "PM"):
                rows.append({"pupil_id": pupil, "date": day, "session": session, "code": "/"})
            day += dt.timedelta(days=1)
    table = ac.classify(ac.Register.from_long(pd.DataFrame(rows)), scheme=scheme)
    assert pd.isna(table.loc["short", "band"])  # 18 possible sessions: listed apart
    assert table.loc["long", "band"] == "ok"
    summary = ac.band_summary(table)
    assert int(summary["pupils"].sum()) == 1
    with pytest.raises(ac.SchemeError, match="min_possible_sessions"):
        ac.band_scheme(_scheme(min_possible_sessions="20"))


@pytest.mark.parametrize(
    ("attended", "possible", "band"),
    [
        (100, 100, "absence_0_5"),
        (96, 100, "absence_0_5"),
        (95, 100, "absence_5_10"),  # 5% absence: the 5-10% band
        (90, 100, "absence_10_15"),  # exactly 10%: persistent absence
        (51, 100, "absence_45_50"),
        (50, 100, "severe_absence"),  # 50%: severe
        (0, 100, "severe_absence"),
        (15, 19, None),  # fewer than 20 possible sessions
    ],
)
def test_mysa_bands(attended: int, possible: int, band: str | None) -> None:
    scheme = ac.band_scheme("mysa")
    assert scheme.min_possible_sessions == 20
    assert len(scheme.bands) == 11
    assert scheme.band_of(attended, possible) == band
