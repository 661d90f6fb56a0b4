"""One way in: ac.load reads a file, several files or a trust's folder, and the CLI reads
through it (the same detection, options and rejected table)."""

from __future__ import annotations

import io
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import attendance_core as ac
from attendance_core.adapterkit import upn_ok
from attendance_core.cli import read_pupils_csv


def run(args: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "attendance_core", *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        **kwargs,  # type: ignore[arg-type]
    )


@pytest.fixture(scope="module")
def exports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return ac.demo.write_exports(tmp_path_factory.mktemp("exports"), n_pupils=20)


# ----------------------------------------------------------------------------- the demo files
def test_write_exports_gives_one_register_in_every_generic_format(
    exports: dict[str, Path],
) -> None:
    longs = {}
    for name, fmt in [
        ("marks.csv", "generic-csv"),
        ("marks.xlsx", "generic-excel"),
        ("marks.parquet", "generic-parquet"),
    ]:
        load = ac.load(exports[name])
        assert load.format == fmt
        assert len(load.rejected) == 0
        assert load.rows_read == len(load.register.to_long())
        longs[name] = load.register.to_long()
    pd.testing.assert_frame_equal(longs["marks.csv"], longs["marks.xlsx"])
    pd.testing.assert_frame_equal(longs["marks.csv"], longs["marks.parquet"])
    long, _ = ac.demo.school(n_pupils=20)
    assert len(longs["marks.csv"]) == len(long)


def test_demo_upns_are_unique_and_valid() -> None:
    for seed in range(3):
        _, pupils = ac.demo.school(seed=seed, n_pupils=3000)
        assert pupils["upn"].is_unique
        assert all(upn_ok(u) for u in pupils["upn"])


# ----------------------------------------------------------------------------- several files
def test_a_trust_folder_of_mixed_formats_is_one_register(exports: dict[str, Path]) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        load = ac.load(exports["trust"])
    assert sorted(load.register.schools) == ["east", "north", "south"]
    assert set(load.format.split(",")) == {"generic-csv", "generic-excel", "generic-parquet"}
    notes = [str(w.message) for w in caught if issubclass(w.category, ac.AttendanceWarning)]
    assert any("north.csv" in n and "'north'" in n for n in notes)  # school from the file name
    assert load.rows_read == len(load.register.to_long()) + len(load.rejected)
    each = [ac.load(p) for p in sorted(exports["trust"].iterdir())]
    assert load.rows_read == sum(r.rows_read for r in each)
    table = ac.classify(load.register)
    assert table.index.names == ["school_id", "pupil_id"]
    for school, one in zip(["east", "north", "south"], each, strict=True):
        alone = ac.classify(one.register)
        got = table.xs(school, level="school_id")[["possible", "attended", "absent"]]
        want = alone.droplevel("school_id") if alone.index.nlevels == 2 else alone
        assert got.to_dict() == want[["possible", "attended", "absent"]].to_dict()


def test_a_list_of_files_and_folders(exports: dict[str, Path]) -> None:
    load = ac.load([exports["marks.csv"], exports["trust"]])
    assert sorted(load.register.schools) == ["east", "marks", "north", "south"]


def test_the_same_session_in_two_files_is_rejected_naming_both(
    exports: dict[str, Path], tmp_path: Path
) -> None:
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    a.write_text("school_id,pupil_id,date,session,code\nS,P1,2024-09-03,AM,/\n", encoding="utf-8")
    b.write_text("school_id,pupil_id,date,session,code\nS,P1,2024-09-03,AM,N\n", encoding="utf-8")
    load = ac.load(tmp_path)
    assert load.rejected["reason"].tolist() == ["duplicate_session", "duplicate_session"]
    assert sorted(load.rejected["file"]) == ["a.csv", "b.csv"]
    assert load.rows_read == len(load.register.to_long()) + len(load.rejected)
    with pytest.raises(ac.RegisterError):
        ac.load(tmp_path, errors="raise")


def test_unknown_files_in_a_folder_are_named_and_left_out(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text(
        "pupil_id,date,session,code\nP1,2024-09-03,AM,/\n", encoding="utf-8"
    )
    (tmp_path / "README.txt").write_text("exports for the trust\n", encoding="utf-8")
    (tmp_path / ".hidden.csv").write_text("x\n", encoding="utf-8")
    with pytest.warns(ac.AttendanceWarning, match=r"left out: README\.txt"):
        load = ac.load(tmp_path)
    assert load.register.n_enrolments == 1
    (tmp_path / "a.csv").unlink()
    with pytest.raises(ac.FormatError, match=r"looked at: README\.txt"):
        ac.load(tmp_path)
    with pytest.raises(ac.FormatError, match="no installed adapter recognises"):
        ac.load([tmp_path / "README.txt"])  # a file the caller named is never skipped


def test_load_with_a_pupils_table_bounds_and_completes(exports: dict[str, Path]) -> None:
    pupils = read_pupils_csv(exports["pupils.csv"])
    load = ac.load(exports["marks.csv"], pupils=pupils)
    assert "upn" in load.pupils.columns and load.pupils["upn"].notna().all()
    _, demo_pupils = ac.demo.school(n_pupils=20)
    reg = ac.Register.from_long(ac.demo.school(n_pupils=20)[0], pupils=demo_pupils)
    np.testing.assert_array_equal(np.sort(load.register.span, axis=0), np.sort(reg.span, axis=0))


# ----------------------------------------------------------------------------- the CLI
@pytest.mark.parametrize("name", ["marks.csv", "marks.xlsx", "marks.parquet", "trust"])
def test_cli_reads_what_load_reads(exports: dict[str, Path], name: str) -> None:
    done = run(["classify", str(exports[name]), "--to", "csv", "--quiet"])
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    got = pd.read_csv(io.StringIO(done.stdout))
    want = ac.classify(ac.load(exports[name]).register)
    assert len(got) == len(want)
    assert got["possible"].sum() == want["possible"].sum()
    assert got["attended"].sum() == want["attended"].sum()


def test_cli_reads_several_files(exports: dict[str, Path]) -> None:
    trust = sorted(exports["trust"].iterdir())
    done = run(["classify", *map(str, trust), "--to", "json", "--quiet"])
    assert done.returncode == 0, done.stderr
    assert {r["school_id"] for r in pd.read_json(io.StringIO(done.stdout)).to_dict("records")} == {
        "east",
        "north",
        "south",
    }


def test_cli_warnings_are_one_clean_line_and_quiet_silences_them(exports: dict[str, Path]) -> None:
    done = run(["classify", str(exports["trust"]), "--to", "csv"])
    assert done.returncode == 0, done.stderr
    lines = done.stderr.strip().splitlines()
    assert lines == [
        "attendance-core: note: trust: north.csv: the file names no school; "
        "school id 'north' is its name"
    ]
    quiet = run(["classify", str(exports["trust"]), "--to", "csv", "--quiet"])
    assert quiet.stderr == ""
    assert quiet.stdout == done.stdout


def test_cli_ends_quietly_when_the_pipe_closes(tmp_path: Path) -> None:
    long, _ = ac.demo.school(n_pupils=600)
    marks = tmp_path / "marks.parquet"
    long.to_parquet(marks)  # 600 rows of CSV output: far more than a pipe buffer
    command = [sys.executable, "-m", "attendance_core", "classify", str(marks)]
    with subprocess.Popen(
        [*command, "--to", "csv", "--quiet"], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    ) as proc:
        assert proc.stdout is not None and proc.stderr is not None
        proc.stdout.readline()
        proc.stdout.close()  # as `| head -1` does
        err = proc.stderr.read().decode()
        proc.wait(timeout=300)
    assert "Traceback" not in err and "BrokenPipe" not in err
    assert err == ""


def test_cli_format_forces_an_adapter(exports: dict[str, Path]) -> None:
    done = run(["classify", str(exports["marks.csv"]), "--format", "generic-excel"])
    assert done.returncode == 2
    assert done.stderr.startswith("attendance-core: ")
    assert len(done.stderr.strip().splitlines()) == 1


def test_cli_recommend_reads_a_case_history(exports: dict[str, Path], tmp_path: Path) -> None:
    load = ac.load(exports["marks.csv"])
    pupil = str(load.register.pupil_ids[0])
    history = tmp_path / "events.csv"
    history.write_text(
        f"pupil_id,event,date\n{pupil},la_notified_illness,2025-07-01\n", encoding="utf-8"
    )
    args = ["recommend", str(exports["marks.csv"]), "--to", "csv", "--quiet"]
    with_history = run([*args, "--history", str(history)])
    assert with_history.returncode == 0, with_history.stderr
    events = ac.CaseHistory.from_table(pd.read_csv(history))
    want = ac.steps_frame(ac.recommend(load.register, history=events))
    got = pd.read_csv(io.StringIO(with_history.stdout))
    assert sorted(got["action"]) == sorted(want["action"])
    bad = tmp_path / "bad.csv"
    bad.write_text(f"pupil_id,event,date\n{pupil},no_such_event,2025-07-01\n", encoding="utf-8")
    refused = run([*args, "--history", str(bad)])
    assert refused.returncode == 2
    assert refused.stderr.startswith("attendance-core: bad.csv: ")
    assert "no_such_event" in refused.stderr and "2" in refused.stderr


def test_cli_report_writes_the_governor_summary_and_letters(
    exports: dict[str, Path], tmp_path: Path
) -> None:
    governors, letters = tmp_path / "governors.html", tmp_path / "letters.html"
    done = run(
        [
            "report",
            str(exports["marks.csv"]),
            "--pupils",
            str(exports["pupils.csv"]),
            "--governors",
            str(governors),
            "--letters",
            str(letters),
            "--letters-below",
            "90",
        ]
    )
    assert done.returncode == 0, done.stderr
    load = ac.load(exports["marks.csv"], pupils=read_pupils_csv(exports["pupils.csv"]))
    want_g, want_l = tmp_path / "g.html", tmp_path / "l.html"
    as_of = load.register.dates[-1].astype(object)
    ac.governor_summary(load.register, want_g, pupils=load.pupils, as_of=as_of)
    ac.parent_letters(load.register, want_l, pupils=load.pupils, as_of=as_of, below=0.9)
    strip = lambda p: "\n".join(  # noqa: E731 - the time of writing differs, nothing else
        line
        for line in p.read_text(encoding="utf-8").splitlines()
        if "generated" not in line.lower()
    )
    assert strip(governors) == strip(want_g)
    assert strip(letters) == strip(want_l)
    bad = run(
        ["report", str(exports["marks.csv"]), "--letters", str(letters), "--letters-below", "900"]
    )
    assert bad.returncode == 2
    assert "percentage" in bad.stderr and "Traceback" not in bad.stderr
