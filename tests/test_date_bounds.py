"""Issue 19, dates that cannot belong to the register: year 0001/9999 marks and date arguments
refused (``date_out_of_range``), a mark dated far from every other date of its school rejected
(``stray_date``) without moving the default ``as_of``, and no date ending in a traceback."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import attendance_core as ac
from attendance_core import calendar, demo
from attendance_core.cli import main


@pytest.fixture(scope="module")
def school() -> tuple[pd.DataFrame, pd.DataFrame]:
    long, pupils = demo.school(seed=0, n_pupils=40, school_id="100001")
    long = long.copy()
    long.index = pd.RangeIndex(2, len(long) + 2)
    return long, pupils


def _with_dates(long: pd.DataFrame, dates: dict[int, object]) -> pd.DataFrame:
    out = long.copy()
    out["date"] = out["date"].astype(object)
    for label, day in dates.items():
        out.loc[label, "date"] = day
    return out


# ------------------------------------------------------------------ the one date parser
@pytest.mark.parametrize(
    "value",
    [
        "0001-01-01",
        "9999-12-31",
        dt.date(1, 1, 1),
        dt.datetime(9999, 12, 31, 23, 59),
        np.datetime64("9999-12-31"),
        np.datetime64("0001-01-01"),
        np.datetime64("12345-01-01"),
        "1989-12-31",
        "2100-01-01",
    ],
)
def test_as_date_refuses_dates_outside_the_register_bounds(value: object) -> None:
    with pytest.raises(ac.AttendanceError, match=r"^as_of: .*(outside|not a date)"):
        calendar.as_date(value, "as_of")


def test_as_date_bounds_are_inclusive() -> None:
    assert calendar.as_date("1990-01-01") == calendar.FIRST_DATE
    assert calendar.as_date(np.datetime64("2099-12-31")) == calendar.LAST_DATE
    with pytest.raises(ac.AttendanceError, match="not a date"):
        calendar.as_date(pd.NaT)


def test_every_date_argument_has_the_bounds(school: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    reg = ac.Register.from_long(school[0])
    for call, name in [
        (lambda d: ac.recommend(reg, as_of=d), "as_of"),
        (lambda d: ac.classify(reg, end=d), "end"),
        (lambda d: ac.classify(reg, start=d), "start"),
        (lambda d: ac.letter_data(reg, as_of=d), "as_of"),
    ]:
        for day in ("0001-01-01", dt.date(9999, 12, 31)):
            with pytest.raises(ac.AttendanceError, match=rf"^{name}: .*outside"):
                call(day)


# ------------------------------------------------------------------ marks
def test_year_0001_and_9999_marks_are_rejected_and_nothing_crashes(
    school: tuple[pd.DataFrame, pd.DataFrame], tmp_path: Path
) -> None:
    long, pupils = school
    bad = _with_dates(long, {2: "9999-12-31", 3: dt.date(1, 1, 1), 4: np.datetime64("9999-12-31")})
    reg = ac.Register.from_long(bad, errors="collect", pupils=pupils)
    rejected = reg.rejected.set_index("row")
    assert list(rejected.loc[[2, 3, 4], "reason"]) == ["date_out_of_range"] * 3
    assert len(reg.to_long()) + len(reg.rejected) == len(bad)
    assert reg.dates[0] >= np.datetime64("2024-08-01")
    ac.recommend(reg, pupils=pupils)  # used to raise NotImplementedError / "year 0"
    ac.html_report(reg, tmp_path / "r.html", pupils=pupils)
    with pytest.raises(ac.RegisterError, match="outside 1990-01-01 to 2099-12-31") as info:
        ac.Register.from_long(bad, errors="raise")
    assert info.value.reason == "date_out_of_range"


def test_one_stray_mark_is_rejected_and_keeps_as_of(
    school: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    long, pupils = school
    clean = ac.Register.from_long(long, pupils=pupils)
    stray = _with_dates(long, {5: "2052-06-18"})
    reg = ac.Register.from_long(stray, errors="collect", pupils=pupils)
    assert reg.rejected.to_dict("records") == [
        {"row": 5, "column": "date", "value": "2052-06-18", "reason": "stray_date"}
    ]
    assert reg.dates[-1] == clean.dates[-1]  # the default as_of did not move to 2052
    assert len(ac.recommend(reg, pupils=pupils)) > 0
    with pytest.raises(ac.RegisterError, match="far from every other date") as info:
        ac.Register.from_long(stray, errors="raise")
    assert (info.value.row, info.value.reason) == (5, "stray_date")


def test_stray_rule_is_per_school_and_spares_real_years() -> None:
    a, _ = demo.school(seed=1, n_pupils=5, school_id="A")
    b, _ = demo.school(seed=2, n_pupils=5, school_id="B")
    # school B: the same year moved on three years, a register of its own far from A's
    b = b.assign(date=pd.to_datetime(b["date"]) + pd.DateOffset(years=3))
    # school A: two full years far apart are both kept
    a_later = a.assign(date=pd.to_datetime(a["date"]) + pd.DateOffset(years=2))
    reg = ac.Register.from_long(pd.concat([a, a_later, b], ignore_index=True), errors="collect")
    assert len(reg.rejected) == 0
    # a small register is never outnumbered: ten dates and one far away are all kept
    days = [dt.date(2024, 9, 2) + dt.timedelta(days=i) for i in range(10)] + [dt.date(2052, 1, 5)]
    small = pd.DataFrame({"pupil_id": "P1", "date": days, "session": "AM", "code": "/"})
    assert len(ac.Register.from_long(small).dates) == 11


def test_a_stray_mark_of_one_school_among_several_in_one_chunk() -> None:
    a, _ = demo.school(seed=1, n_pupils=5, school_id="A")
    b, _ = demo.school(seed=2, n_pupils=5, school_id="B")
    both = pd.concat([a, b], ignore_index=True)
    row = len(a) + 7  # one of school B's rows
    reg = ac.Register.from_long(_with_dates(both, {row: "2052-06-18"}), errors="collect")
    assert reg.rejected.to_dict("records") == [
        {"row": row, "column": "date", "value": "2052-06-18", "reason": "stray_date"}
    ]
    assert len(reg.to_long()) == len(both) - 1


def test_stray_days_rule() -> None:
    year = np.arange(19_970, 20_160, dtype=np.int64)  # 190 consecutive days
    assert calendar.stray_days(year).tolist() == []
    assert calendar.stray_days(np.append(year, 30_000)).tolist() == [30_000]
    near = np.append(year, year[-1] + calendar.STRAY_GAP_DAYS)  # not far enough
    assert calendar.stray_days(near).tolist() == []


def test_load_counts_every_row_with_bad_dates(tmp_path: Path) -> None:
    long, _ = demo.school(seed=0, n_pupils=10, school_id="100001")
    long = long.assign(date=long["date"].astype(str))
    long.loc[0, "date"] = "9999-12-31"
    long.loc[1, "date"] = "0001-01-01"
    long.loc[2, "date"] = "2052-06-18"
    path = tmp_path / "marks.csv"
    long.to_csv(path, index=False)
    result = ac.load(path, format="generic-csv")
    reasons = dict(zip(result.rejected["row"], result.rejected["reason"], strict=True))
    assert reasons == {2: "date_out_of_range", 3: "date_out_of_range", 4: "stray_date"}
    assert result.rows_read == len(result.register.to_long()) + len(result.rejected)


# ------------------------------------------------------------------ command line
def test_cli_dates_never_end_in_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    long, _ = demo.school(seed=0, n_pupils=10, school_id="100001")
    long = long.assign(date=long["date"].astype(str))
    long.loc[0, "date"] = "9999-12-31"
    path = tmp_path / "marks.csv"
    long.to_csv(path, index=False)
    for argv in (
        ["recommend", str(path), "--as-of", "0001-01-01"],
        ["classify", str(path), "--to", "9999-12-31"],
        ["classify", str(path), "--from", "0001-01-01"],
        ["demo", "--seed", "-1"],
        ["recommend", str(path), "--errors", "raise"],  # the 9999 mark, named
    ):
        assert _run(argv) == 2
        err = capsys.readouterr().err
        assert "Traceback" not in err and err.startswith("attendance-core: "), argv
    assert main(["recommend", str(path)]) == 0  # collect, the API's default: the mark left out


def _run(argv: list[str]) -> int:
    """The exit code of the command line (argparse errors exit through SystemExit)."""
    try:
        return main(argv)
    except SystemExit as exc:
        return int(exc.code or 0)


def test_demo_refuses_a_negative_seed() -> None:
    with pytest.raises(ValueError, match="seed"):
        demo.school(seed=-1)
    done = subprocess.run(
        [sys.executable, "-m", "attendance_core", "demo", "--seed", "-1"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr


# ------------------------------------------------------------------ every adapter
_ADAPTERS = Path(__file__).parents[1] / "adapters"


@pytest.mark.parametrize(
    ("format_name", "sample"),
    [
        ("sims-xml", "sims/tests/data/sims_latin1.xml"),
        ("sims-xml", "sims/tests/data/sims_commandreporter.xml"),
        ("arbor-json", "arbor/tests/data/arbor_listing.json"),
        ("ctf-xml", "ctf/tests/data/ctf_yeardata.xml"),
        ("ctf-xml", "ctf/tests/data/ctf_attendsessions.xml"),
        ("wonde-json", "wonde/tests/data/session_single.json"),
        ("assembly-json", "assembly/tests/data/attendances_v11.json"),
        ("edfi-json", "edfi/tests/data/json/studentSchoolAttendanceEvents.json"),
        ("edfi-xml", "edfi/tests/data/xml/district/StudentAttendance.xml"),
        ("generic-csv", "generic/tests/data/sims_long.csv"),
        ("generic-csv", "generic/tests/data/bromcom_long_cp1252.csv"),
        ("wide-csv", "generic/tests/data/wide_sessions.csv"),
    ],
)
def test_every_adapter_rejects_year_9999_and_0001_marks(format_name: str, sample: str) -> None:
    from attendance_core.testing import check_out_of_range_dates

    # the kit writes the two dates into the sample in its own format; True: it could
    assert check_out_of_range_dates(format_name, _ADAPTERS / sample)


def test_a_date_of_birth_before_1990_is_a_date() -> None:
    """Pupils are born years before any register that holds them: a date of birth keeps its
    own lower bound (1900), while a mark or an argument before 1990 stays out of range."""
    import pandas as pd

    from attendance_core.calendar import BIRTH_FIRST_DATE, as_date, as_dates

    born = as_dates(pd.Series(["1985-06-01", "2012-01-31", None]), "date_of_birth")
    assert born.iloc[0] == pd.Timestamp("1985-06-01")
    assert pd.isna(born.iloc[2])
    assert as_date("1950-01-01", "date_of_birth", first=BIRTH_FIRST_DATE).year == 1950
    with pytest.warns(ac.AttendanceWarning, match="outside 1990-01-01"):
        admitted = as_dates(pd.Series(["1985-06-01"]), "admission_date")
    assert pd.isna(admitted.iloc[0])
