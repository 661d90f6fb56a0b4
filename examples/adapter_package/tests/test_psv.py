"""Tests of the example adapter: the shared conformance kit, then the format's own rules."""

from __future__ import annotations

from pathlib import Path

import pytest

import attendance_core as ac
from attendance_core.testing import AdapterConformance, load

DATA = Path(__file__).parent / "data"


@pytest.fixture(autouse=True, scope="module")
def registered() -> None:
    """Installed with pip, the entry point registers the adapter; in place, register it here."""
    if "register-psv" not in ac.formats():
        ac.register_adapter("register-psv", "attendance_core_psv:PsvAdapter")


class TestConformance(AdapterConformance):
    """Every check every adapter must pass (attendance_core.testing)."""

    @pytest.fixture
    def format(self) -> str:
        return "register-psv"

    @pytest.fixture
    def sample(self) -> Path:
        return DATA / "sample.psv"

    @pytest.fixture
    def bad_sample(self) -> Path:
        return DATA / "bad.psv"

    @pytest.fixture
    def expect_rows(self) -> int:
        return 8


def test_marks_and_line_numbers() -> None:
    result = load(DATA / "sample.psv")
    assert result.format == "register-psv"
    marks = result.register.to_long()
    assert len(marks) == 8
    assert set(marks["pupil_id"]) == {"A100", "B200"}
    # the blank code on line 10 is a missing mark, kept and shown as "-"
    assert (marks["code"] == "-").sum() == 1


def test_bad_rows_name_their_line() -> None:
    result = load(DATA / "bad.psv")
    rejected = result.rejected.set_index("row")
    assert rejected.loc[4, "reason"] == "bad_date"
    assert rejected.loc[5, "reason"] == "bad_session"  # found by the core, not the adapter
    assert rejected.loc[6, "reason"] == "missing_value"
    assert rejected.loc[7, "reason"] == "bad_record"
    assert result.rows_read == len(result.register.to_long()) + len(result.rejected)


def test_raise_stops_at_the_first_bad_line() -> None:
    with pytest.raises(ac.RegisterError, match=r"bad\.psv, row 4, column 'date'"):
        load(DATA / "bad.psv", errors="raise")


def test_not_this_format_is_a_format_error(tmp_path: Path) -> None:
    other = tmp_path / "x.psv"
    other.write_text("#REGISTER-PSV 2\npupil_id|date|session|code\n")
    with pytest.raises(ac.FormatError, match="first line"):
        load(other, format="register-psv")
