"""The command line through its real entry points: ``attendance-core`` and ``python -m``."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import attendance_core as ac
from attendance_core import cli

EXE = shutil.which("attendance-core")
ENTRY_POINTS = [
    pytest.param(
        [EXE] if EXE else ["attendance-core"],
        id="script",
        marks=pytest.mark.skipif(EXE is None, reason="console script not installed"),
    ),
    pytest.param([sys.executable, "-m", "attendance_core"], id="module"),
]


def run(
    args: list[str], *, cwd: Path | None = None, exe: list[str] | None = None
) -> subprocess.CompletedProcess[str]:
    command = (exe or [sys.executable, "-m", "attendance_core"]) + args
    return subprocess.run(
        command, capture_output=True, text=True, timeout=300, check=False, cwd=cwd
    )


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A small school's marks as the long CSV and its pupils CSV with Y/N flags and ISO dates."""
    folder = tmp_path_factory.mktemp("cli")
    long, pupils = ac.demo.school(seed=4, n_pupils=60)
    marks = folder / "marks.csv"
    long.assign(date=long["date"].astype(str)).to_csv(marks, index=False)
    table = pupils.copy()
    for column in ("date_of_birth", "admission_date", "leaving_date"):
        table[column] = [d.isoformat() if d is not None and d == d else "" for d in table[column]]
    for column in ("cin", "cp", "cic", "sen", "ehcp", "medical", "fsm", "youth_justice"):
        table[column] = table[column].map({True: "Y", False: "N"})
    table = table.rename(columns={"year_group": "Year Group"})
    pupil_file = folder / "pupils.csv"
    table.to_csv(pupil_file)
    return {"marks": marks, "pupils": pupil_file, "folder": folder}


# ----------------------------------------------------------------------------- help
@pytest.mark.parametrize("exe", ENTRY_POINTS)
def test_help_has_examples_for_every_command(exe: list[str]) -> None:
    top = run(["--help"], exe=exe)
    assert top.returncode == 0
    for command in ("classify", "recommend", "report", "formats", "demo"):
        assert command in top.stdout
        done = run([command, "--help"], exe=exe)
        assert done.returncode == 0, command
        assert "example" in done.stdout, command
        assert f"attendance-core {command}" in done.stdout, command


def test_no_command_is_bad_usage() -> None:
    done = run([])
    assert done.returncode == 2
    assert "usage" in done.stderr


# ----------------------------------------------------------------------------- demo
@pytest.mark.parametrize("exe", ENTRY_POINTS)
def test_demo_prints_bands_and_writes_the_report(exe: list[str], tmp_path: Path) -> None:
    out = tmp_path / "demo.html"
    done = run(["demo", "--output", str(out)], exe=exe)
    assert done.returncode == 0, done.stderr
    assert "severe_absence" in done.stdout
    assert "Ten pupils most in need" in done.stdout
    assert "next step" in done.stdout
    html = out.read_text(encoding="utf-8")
    assert html.count("<svg") == 3
    assert done.stderr.strip() == f"attendance-core: note: report written to {out}"
    quiet = run(["demo", "--quiet"], exe=exe)
    assert quiet.returncode == 0 and quiet.stderr == ""


def test_demo_next_steps_come_from_the_whole_register(monkeypatch: pytest.MonkeyPatch) -> None:
    from attendance_core import reports

    seen: list[int] = []
    real = reports.next_steps

    def spy(reg: ac.Register, *args: object, **kwargs: object) -> pd.DataFrame:
        seen.append(reg.n_enrolments)
        return real(reg, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(reports, "next_steps", spy)
    out = io.StringIO()
    monkeypatch.setattr(sys, "stdout", out)
    assert cli.main(["demo", "--quiet"]) == 0
    long, _ = ac.demo.school(seed=0)
    assert seen == [long["pupil_id"].nunique()]


# ----------------------------------------------------------------------------- report
def test_report_html_and_tsm_pack(files: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    pack = tmp_path / "pack"
    done = run(
        [
            "report",
            str(files["marks"]),
            "--pupils",
            str(files["pupils"]),
            "--as-of",
            "2025-03-14",
            "--output",
            str(out),
            "--tsm",
            str(pack),
        ],
        exe=[EXE] if EXE else None,
    )
    assert done.returncode == 0, done.stderr
    html = out.read_text(encoding="utf-8")
    assert "14 Mar 2025" in html
    assert "With a social worker" in html
    assert (pack / "DEMO" / "tsm.html").exists()
    assert (pack / "DEMO" / "tsm.xlsx").exists()
    assert (pack / "tsm_all_schools.xlsx").exists()
    lines = done.stderr.strip().splitlines()
    assert lines[0] == f"attendance-core: note: report written to {out}"
    assert "Targeting Support Meeting pack" in lines[1]


@pytest.mark.parametrize("table", cli.REPORT_TABLES)
def test_report_tables_as_csv(files: dict[str, Path], table: str) -> None:
    done = run(
        [
            "report",
            str(files["marks"]),
            "--pupils",
            str(files["pupils"]),
            "--to",
            "csv",
            "--table",
            table,
            "--as-of",
            "2025-03-14",
            "--quiet",
        ]
    )
    assert done.returncode == 0, done.stderr
    frame = pd.read_csv(io.StringIO(done.stdout))
    assert len(frame) > 0
    if table == "letters":
        assert {"pupil_id", "days_missed", "attendance_rate", "change", "year_group_rate"} <= set(
            frame.columns
        )
        reg = ac.load(files["marks"], pupils=cli.read_pupils_csv(files["pupils"])).register
        classified = ac.classify(reg, start="2024-08-01", end="2025-03-14")
        assert len(frame) == len(classified)
        assert frame["days_missed"].sum() * 2 == classified["absent"].sum()


def test_report_letters_as_json_to_a_file(files: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "letters.json"
    done = run(
        [
            "report",
            str(files["marks"]),
            "--pupils",
            str(files["pupils"]),
            "--to",
            "json",
            "--table",
            "letters",
            "--output",
            str(out),
        ]
    )
    assert done.returncode == 0, done.stderr
    records = json.loads(out.read_text(encoding="utf-8"))
    assert {"pupil_id", "days_missed", "year_group_rate"} <= set(records[0])
    assert records[0]["year_group"].startswith("Y")


def test_report_needs_somewhere_to_write(files: dict[str, Path]) -> None:
    done = run(["report", str(files["marks"])])
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1
    assert "--output" in done.stderr


# ----------------------------------------------------------------------------- recommend
@pytest.mark.parametrize("exe", ENTRY_POINTS)
def test_recommend_as_table_csv_and_json(exe: list[str], files: dict[str, Path]) -> None:
    base = [
        "recommend",
        str(files["marks"]),
        "--pupils",
        str(files["pupils"]),
        "--as-of",
        "2025-03-14",
    ]
    table = run(base, exe=exe)
    assert table.returncode == 0, table.stderr
    assert "action" in table.stdout.splitlines()[0]
    csv = run([*base, "--to", "csv", "--quiet"], exe=exe)
    frame = pd.read_csv(io.StringIO(csv.stdout))
    assert list(frame.columns)[:10] == [
        "pupil_id",
        "school_id",
        "stage",
        "action",
        "lead",
        "due",
        "rule",
        "reason",
        "evidence",
        "note",
    ]
    # then the scalar evidence figures, one typed column each (steps_frame)
    assert all(c.startswith("evidence_") for c in frame.columns[10:])
    assert csv.stderr == ""
    pupils = cli.read_pupils_csv(files["pupils"])
    reg = ac.load(files["marks"], pupils=pupils).register
    steps = ac.recommend(reg, pupils=pupils, as_of="2025-03-14")
    assert len(frame) == len(steps)
    assert isinstance(json.loads(frame.loc[0, "evidence"]), dict)
    js = run([*base, "--to", "json", "--quiet"], exe=exe)
    records = json.loads(js.stdout)
    assert len(records) == len(steps)
    assert records[0]["due"] >= "2025-03-14"


# ----------------------------------------------------------------------------- errors
def test_missing_file_exits_2_with_one_line(tmp_path: Path) -> None:
    for command in ("classify", "recommend", "report"):
        done = run([command, str(tmp_path / "nope.csv"), "--output", str(tmp_path / "x")])
        assert done.returncode == 2, command
        assert done.stderr.strip().splitlines() == [
            f"attendance-core: {tmp_path / 'nope.csv'}: no such file"
        ]


def test_bad_pupils_flag_names_line_and_column(files: dict[str, Path], tmp_path: Path) -> None:
    bad = tmp_path / "pupils.csv"
    bad.write_text("pupil_id,cin\nA1,Y\nA2,maybe\n", encoding="utf-8")
    done = run(["recommend", str(files["marks"]), "--pupils", str(bad)])
    assert done.returncode == 2
    # issue 19: the cell is not quoted (a flag column may hold a name typed in the wrong place)
    assert done.stderr.strip() == (
        "attendance-core: pupils.csv: line 3, column cin: not a flag (Y/N, yes/no, true/false, 1/0)"
    )


def test_bad_birth_date_is_not_echoed(files: dict[str, Path], tmp_path: Path) -> None:
    bad = tmp_path / "pupils.csv"
    bad.write_text("pupil_id,date_of_birth\nA1,2012-01-05\nA2,31/02/2013x\n", encoding="utf-8")
    done = run(
        ["report", str(files["marks"]), "--pupils", str(bad), "--output", str(tmp_path / "r.html")]
    )
    assert done.returncode == 2
    assert "line 3, column date_of_birth" in done.stderr
    assert "2013" not in done.stderr


def test_bad_register_row_exits_2(tmp_path: Path) -> None:
    marks = tmp_path / "marks.csv"
    marks.write_text(
        "pupil_id,date,session,code\nA1,2024-09-02,AM,/\nA1,2024-09-02,XX,/\n", encoding="utf-8"
    )
    done = run(["report", str(marks), "--errors", "raise", "--output", str(tmp_path / "r.html")])
    assert done.returncode == 2
    assert "line 3" in done.stderr or "row 3" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "r.html").exists()


def test_bad_register_row_is_left_out_by_default_as_in_the_api(tmp_path: Path) -> None:
    marks = tmp_path / "marks.csv"
    marks.write_text(
        "pupil_id,date,session,code\nA1,2024-09-02,AM,/\nA1,2024-09-02,XX,/\n", encoding="utf-8"
    )
    rejected = tmp_path / "bad.csv"
    done = run(["classify", str(marks), "--to", "csv", "--rejected", str(rejected)])
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip() == (
        f"attendance-core: note: 1 row(s) rejected, listed in {rejected}"
    )
    api = ac.load(marks)
    assert pd.read_csv(rejected)["reason"].tolist() == api.rejected["reason"].tolist()
    assert api.register.rejected is api.rejected  # one table


def test_bad_date_argument_exits_2(files: dict[str, Path]) -> None:
    done = run(["report", str(files["marks"]), "--as-of", "14/03/2025", "--to", "csv"])
    assert done.returncode == 2
    assert "not a date" in done.stderr


# ----------------------------------------------------------------------------- pupils CSV
def test_read_pupils_csv_dates_and_flags(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_text(
        "\ufeffPupil ID,School-ID,Year Group,Date of Birth,Admission Date,CiN,EHCP,FSM,Notes\n"
        "A1,S1,Y7,2013-01-05,2024-09-02,Y,no,TRUE,\n"
        " A2 ,S1,Y8,2012-03-31,,n,Yes,0,=cmd\n",
        encoding="utf-8",
    )
    table = cli.read_pupils_csv(path)
    assert list(table.index) == ["A1", "A2"]
    assert table.loc["A1", "date_of_birth"].isoformat() == "2013-01-05"
    assert table.loc["A2", "date_of_birth"].isoformat() == "2012-03-31"
    assert table.loc["A2", "admission_date"] is None
    assert table["cin"].tolist() == [True, False]
    assert table["ehcp"].tolist() == [False, True]
    assert table["fsm"].tolist() == [True, False]
    assert table["school_id"].tolist() == ["S1", "S1"]
    assert table.loc["A1", "notes"] is None


def test_read_pupils_csv_refuses_a_day_first_date_by_the_one_date_policy(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_text("pupil_id,date_of_birth\nA1,2013-01-05\nA2,05/01/2013\n", encoding="utf-8")
    with pytest.raises(ac.AttendanceError) as caught:
        cli.read_pupils_csv(path)
    assert str(caught.value) == (
        "p.csv: line 3, column date_of_birth: not a date; give it as YYYY-MM-DD"
    )


def test_read_pupils_csv_refuses_duplicates(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_text("pupil_id,year_group\nA1,Y7\nA1,Y8\n", encoding="utf-8")
    with pytest.raises(ac.AttendanceError, match="line 3, column pupil_id"):
        cli.read_pupils_csv(path)


# ----------------------------------------------------------------------------- progress
class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_draws_on_a_terminal_only() -> None:
    stream = FakeTerminal()
    with cli.Progress(2, enabled=True, stream=stream, delay=0) as progress:
        progress.step("reading")
        progress.step("writing")
    text = stream.getvalue()
    assert "2/2" in text and "writing" in text  # tqdm's bar, the stage named
    quiet = FakeTerminal()
    with cli.Progress(2, enabled=False, stream=quiet, delay=0) as progress:
        progress.step("reading")
    assert quiet.getvalue() == ""
    fast = FakeTerminal()
    with cli.Progress(2, enabled=True, stream=fast, delay=60) as progress:
        progress.step("reading")  # finished long before the delay: nothing drawn
    assert fast.getvalue() == ""


def test_no_progress_bar_when_stderr_is_not_a_terminal(
    files: dict[str, Path], tmp_path: Path
) -> None:
    done = run(["report", str(files["marks"]), "--output", str(tmp_path / "r.html")])
    assert done.returncode == 0
    assert "\r" not in done.stderr and "█" not in done.stderr


@pytest.mark.skipif("generic-csv" not in ac.formats(), reason="generic adapter not installed")
def test_report_through_an_adapter_with_a_pupils_csv(
    files: dict[str, Path], tmp_path: Path
) -> None:
    out = tmp_path / "letters.csv"
    done = run(
        [
            "report",
            str(files["marks"]),
            "--format",
            "generic-csv",
            "--pupils",
            str(files["pupils"]),
            "--to",
            "csv",
            "--table",
            "letters",
            "--output",
            str(out),
            "--quiet",
        ]
    )
    assert done.returncode == 0, done.stderr
    letters = pd.read_csv(out, encoding="utf-8-sig")
    assert letters["year_group"].notna().all()  # the pupils CSV completed the adapter's table
    assert letters["year_group_rate"].notna().all()


def test_classify_to_is_the_format_and_dates_are_from_until(files: dict[str, Path]) -> None:
    marks = str(files["marks"])
    both = run(["classify", marks, "--from", "2024-09-03", "--until", "2024-09-06", "--to", "csv"])
    assert both.returncode == 0, both.stderr
    table = pd.read_csv(io.StringIO(both.stdout), index_col=0)
    reg = ac.load(files["marks"]).register
    expected = ac.classify(reg, start="2024-09-03", end="2024-09-06")
    assert table["possible"].to_dict() == expected["possible"].to_dict()
    assert run(["classify", marks, "--to", "xls"]).returncode == 2
    as_date = run(["classify", marks, "--to", "2024-09-06"])  # --to is a format, only
    assert as_date.returncode == 2
    assert "invalid choice" in as_date.stderr


@pytest.mark.parametrize(
    ("command", "option", "value", "words"),
    [
        ("recommend", "--as-of", "2030-01-01", "outside the register's dates"),
        ("report", "--as-of", "2001-01-01", "outside the register's dates"),
        ("classify", "--from", "2026-01-01", "after the register's last date"),
        ("classify", "--until", "2020-01-01", "before the register's first date"),
    ],
)
def test_dates_outside_the_register_are_an_error(
    files: dict[str, Path], command: str, option: str, value: str, words: str
) -> None:
    extra = ["--to", "csv"] if command != "classify" else []
    done = run([command, str(files["marks"]), option, value, *extra])
    assert done.returncode == 2
    assert words in done.stderr and "2024-09-" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert done.stdout == ""


def test_pseudonymise_key_file_replaces_ids_everywhere(
    files: dict[str, Path], tmp_path: Path
) -> None:
    key = tmp_path / "key.txt"
    key.write_text("a-long-enough-secret-key-for-tests\n", encoding="utf-8")
    key.chmod(0o600)
    marks, pupils = str(files["marks"]), str(files["pupils"])
    plain = run(["classify", marks, "--to", "csv"])
    hidden = run(["classify", marks, "--to", "csv", "--pseudonymise-key-file", str(key)])
    again = run(["classify", marks, "--to", "csv", "--pseudonymise-key-file", str(key)])
    assert hidden.returncode == 0, hidden.stderr
    assert hidden.stdout == again.stdout  # same key, same pseudonyms
    real_ids = set(pd.read_csv(io.StringIO(plain.stdout))["pupil_id"])
    shown = pd.read_csv(io.StringIO(hidden.stdout))
    assert not real_ids & set(shown["pupil_id"])
    assert all(p.startswith("P") and len(p) == 17 for p in shown["pupil_id"])
    steps = run(
        ["recommend", marks, "--pupils", pupils, "--to", "csv", "--pseudonymise-key-file", str(key)]
    )
    assert steps.returncode == 0, steps.stderr
    assert not real_ids & set(pd.read_csv(io.StringIO(steps.stdout))["pupil_id"])
    report = tmp_path / "r.html"
    out = run(
        [
            "report",
            marks,
            "--pupils",
            pupils,
            "--output",
            str(report),
            "--pseudonymise-key-file",
            str(key),
        ]
    )
    assert out.returncode == 0, out.stderr
    html = report.read_text(encoding="utf-8")
    assert not any(p in html for p in real_ids)
    names = pd.read_csv(files["pupils"])["name"]
    assert not any(n in html for n in names)
    short = tmp_path / "short.txt"
    short.write_text("tiny", encoding="utf-8")
    short.chmod(0o600)
    bad = run(["classify", marks, "--pseudonymise-key-file", str(short)])
    assert bad.returncode == 2


def test_reader_options_reach_ac_load(files: dict[str, Path]) -> None:
    """``--option NAME=VALUE`` passes a reader option as ``ac.load`` takes it: an export over
    the default ``max_file_size`` can be read from the command line, a small limit refuses
    the file, and an unknown name gets the adapters' own list of known options."""
    marks = str(files["marks"])
    size = files["marks"].stat().st_size
    refused = run(["classify", marks, "--option", f"max_file_size={size - 1}"])
    assert refused.returncode == 2
    assert "raise max_file_size" in refused.stderr
    read = run(["classify", marks, "--to", "csv", "--option", f"max_file_size={size}"])
    assert read.returncode == 0, read.stderr
    api = ac.classify(ac.load(files["marks"]).register)
    assert len(pd.read_csv(io.StringIO(read.stdout))) == len(api)
    unknown = run(["classify", marks, "--option", "no_such=1"])
    assert unknown.returncode == 2
    assert "unknown option(s) no_such; known:" in unknown.stderr
    malformed = run(["classify", marks, "--option", "max_file_size"])
    assert malformed.returncode == 2
    assert "expected NAME=VALUE" in malformed.stderr


def test_reader_option_values() -> None:
    assert cli._reader_option("max_file_size=4_000_000_000") == ("max_file_size", 4_000_000_000)
    assert cli._reader_option("sheet=Marks 2024") == ("sheet", "Marks 2024")
    assert cli._reader_option("pupil_key=upn") == ("pupil_key", "upn")
