"""Build long frames from compact week strings (imported by tests)."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Sequence
from typing import NoReturn

import pandas as pd
import pytest


def week(
    pupil_id: str, monday: str | dt.date, marks: str | Sequence[str], school_id: str | None = None
) -> list[dict[str, object]]:
    """Rows for one pupil and one Monday–Friday week.

    ``marks`` is ten marks in order Mon AM, Mon PM, … Fri PM: a 10-character string (space =
    no row) or a sequence of codes (``None`` or ``""`` for no row).
    """
    start = dt.date.fromisoformat(monday) if isinstance(monday, str) else monday
    assert start.weekday() == 0, "weeks start on a Monday"
    cells = list(marks)
    assert len(cells) == 10, "ten marks a week"
    rows = []
    for i, code in enumerate(cells):
        if code in (" ", None):
            continue
        row: dict[str, object] = {
            "pupil_id": pupil_id,
            "date": (start + dt.timedelta(days=i // 2)).isoformat(),
            "session": "AM" if i % 2 == 0 else "PM",
            "code": code,
        }
        if school_id is not None:
            row["school_id"] = school_id
        rows.append(row)
    return rows


def frame(*groups: list[dict[str, object]]) -> pd.DataFrame:
    """A long frame from groups of rows."""
    return pd.DataFrame([r for g in groups for r in g])


def unavailable(why: str) -> NoReturn:
    """Skip a test whose tool is missing on a developer's machine; on CI (``CI`` set) the
    whole suite must run, so a missing tool fails the test instead of hiding it."""
    if os.environ.get("CI"):
        pytest.fail(f"CI must run this test: {why}")
    pytest.skip(why)
