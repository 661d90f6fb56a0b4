"""Issue 19, output hygiene: every writer atomic with its final mode from creation and nothing
left when killed, formulas neutralised behind any prefix, characters a format cannot hold
escaped, workbooks byte-identical, terminal output escaped, the TSM pack whatever the ids."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import zipfile
from pathlib import Path

import pandas as pd
import pytest

import attendance_core as ac
from attendance_core import demo, reports
from attendance_core import io as acio

NUL_FORMULA = '\x00=HYPERLINK("http://x","y")'


def csv_cells(path: Path) -> list[str]:
    with path.open(encoding="utf-8-sig", newline="") as fh:
        return [cell for row in csv.reader(fh) for cell in row]


# ------------------------------------------------------------------ formula behind a prefix
@pytest.mark.parametrize("prefix", ["\x00", "\x00\x00", " ", "\x01 \x1f", "\u200b", "\ufeff"])
def test_to_csv_neutralises_a_formula_behind_a_prefix(tmp_path: Path, prefix: str) -> None:
    frame = pd.DataFrame({"pupil_id": [prefix + "=HYPERLINK(1)", "ok"], "n": [1, 2]})
    path = ac.to_csv(frame, tmp_path / "out.csv")
    cells = csv_cells(path)
    assert "'" + prefix + "=HYPERLINK(1)" in cells


def test_to_excel_neutralises_and_escapes_a_nul_formula(tmp_path: Path) -> None:
    import openpyxl

    # the reproduction: openpyxl raised IllegalCharacterError, whose message was the value
    frame = pd.DataFrame({"name\x1b": [NUL_FORMULA, "bell\x07"], "n": [1, 2]})
    path = reports.to_excel({"sheet\x00one": frame}, tmp_path / "out.xlsx")
    sheet = openpyxl.load_workbook(path).worksheets[0]
    assert sheet.title == "sheet_x00one"  # the escape, with the backslash Excel refuses
    values = [c.value for row in sheet.iter_rows() for c in row]
    assert "name\\x1b" in values
    assert '\'\\x00=HYPERLINK("http://x","y")' in values
    assert "bell\\x07" in values
    assert all(c.data_type != "f" for row in sheet.iter_rows() for c in row)


# ------------------------------------------------------------------ reproducible workbooks
def test_to_excel_is_byte_identical_for_identical_input(tmp_path: Path) -> None:
    frame = pd.DataFrame({"pupil_id": ["a", "b"], "attendance_rate": [0.9, 0.8]})
    first = reports.to_excel(frame, tmp_path / "a.xlsx")
    os.utime(tmp_path, (0, 0))  # any clock dependence would show as a difference
    second = reports.to_excel(frame, tmp_path / "b.xlsx")
    assert first.read_bytes() == second.read_bytes()
    with zipfile.ZipFile(first) as book:
        assert {i.date_time for i in book.infolist()} == {(1980, 1, 1, 0, 0, 0)}
        assert b"1980-01-01T00:00:00Z" in book.read("docProps/core.xml")


def _pack(school_ids: list[str]) -> reports.TSMPack:
    frames = []
    pupils = []
    for i, school in enumerate(school_ids):
        long, pup = demo.school(seed=i, n_pupils=12, school_id=school, names=False)
        frames.append(long)
        pupils.append(pup)
    reg = ac.Register.from_long(pd.concat(frames, ignore_index=True))
    return reports.tsm_pack(reg, pd.concat(pupils))


def test_tsm_pack_with_school_ids_named_like_pack_files(tmp_path: Path) -> None:
    # the reproduction: a school id "bands.csv" made its folder collide with the pack's file
    pack = _pack(["bands.csv", "TSM_ALL_SCHOOLS.XLSX", "CON", "x\x1b]0;t\x07"])
    written = reports.write_tsm_pack(pack, tmp_path / "pack")
    assert (tmp_path / "pack" / "bands.csv").is_file()
    folders = sorted(p.name for p in (tmp_path / "pack").iterdir() if p.is_dir())
    assert len(folders) == 4
    assert "bands.csv" not in folders and "CON" not in folders
    assert all(p.is_file() for p in written)
    again = reports.write_tsm_pack(pack, tmp_path / "again")
    for a, b in zip(written, again, strict=True):
        assert a.read_bytes() == b.read_bytes(), a.name  # xlsx too: byte-identical


# ------------------------------------------------------------------ atomic, final mode, kill
@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
def test_temporary_file_has_the_final_mode_from_creation(tmp_path: Path) -> None:
    private = tmp_path / "private.csv"
    private.write_text("old")
    private.chmod(0o600)
    with acio.atomic_path(private) as tmp:
        tmp.write_text("partial pupil data")
        assert os.stat(tmp).st_mode & 0o777 == 0o600
    assert private.stat().st_mode & 0o777 == 0o600
    fresh = tmp_path / "fresh.csv"
    umask = os.umask(0o022)
    os.umask(umask)
    with acio.atomic_path(fresh) as tmp:
        assert os.stat(tmp).st_mode & 0o777 == 0o666 & ~umask


_KILLED_WRITER = """
import sys
from attendance_core import io
with io.atomic_open(sys.argv[1], "w") as fh:
    fh.write("partial pupil data " * 1000)
    fh.flush()
    print("ready", flush=True)
    sys.stdin.read()
"""


@pytest.mark.skipif(not hasattr(os, "O_TMPFILE"), reason="needs O_TMPFILE (Linux)")
def test_sigkill_while_writing_leaves_nothing_behind(tmp_path: Path) -> None:
    target = tmp_path / "report.csv"
    target.write_text("old report")
    child = subprocess.Popen(
        [sys.executable, "-c", _KILLED_WRITER, str(target)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "ready"
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert [p.name for p in tmp_path.iterdir()] == ["report.csv"]
    assert target.read_text() == "old report"


def test_failed_excel_write_leaves_old_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "out.xlsx"
    target.write_bytes(b"previous")

    def boom(*_a: object, **_k: object) -> None:
        raise RuntimeError("half-way")

    monkeypatch.setattr(reports, "_format_sheet", boom)
    with pytest.raises(RuntimeError):
        reports.to_excel(pd.DataFrame({"a": [1]}), target)
    assert target.read_bytes() == b"previous"
    assert [p.name for p in tmp_path.iterdir()] == ["out.xlsx"]


# ------------------------------------------------------------------ terminal
def test_terminal_text_escapes_control_sequences() -> None:
    shown = acio.terminal_text("P1\x1b]0;owned\x07\x1b[2K\rP2\u202e\tok\n")
    assert shown == "P1\\x1b]0;owned\\x07\\x1b[2K\\x0dP2\\u202e\tok\n"


def test_cli_table_output_escapes_ids(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from attendance_core.cli import main

    evil = "\x1b]0;retitled\x07\x1b[1A\x1b[2K"
    path = tmp_path / "marks.csv"
    path.write_text(
        f"pupil_id,date,session,code\n{evil},2024-09-02,AM,/\nP2,2024-09-02,PM,/\n",
        encoding="utf-8",
    )
    for to in ("table", "csv"):
        assert main(["classify", str(path), "--to", to]) == 0
        out = capsys.readouterr().out
        assert "\x1b" not in out and "\x07" not in out
        assert "\\x1b]0;retitled" in out
    bad = tmp_path / "bad\x1b[2J.csv"
    assert main(["classify", str(bad)]) == 2
    assert "\x1b" not in capsys.readouterr().err


def test_html_report_escapes_control_characters(tmp_path: Path) -> None:
    long, _ = demo.school(seed=0, n_pupils=12, names=False)
    evil = "\x1b]0;retitled\x07"
    long = long.assign(pupil_id=long["pupil_id"].where(long["pupil_id"] != "DEMO-00001", evil))
    reg = ac.Register.from_long(long)
    path = reports.html_report(reg, tmp_path / "r.html")
    text = Path(path).read_text(encoding="utf-8")
    assert "\x1b" not in text and "\x07" not in text
    assert "\\x1b]0;retitled\\x07" in text  # shown, as a visible escape


@pytest.mark.skipif(not hasattr(os, "O_TMPFILE"), reason="needs O_TMPFILE (Linux)")
def test_file_system_that_cannot_link_falls_back_to_a_copy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "private.csv"
    target.write_text("old")
    target.chmod(0o600)

    def no_link(*_a: object, **_k: object) -> None:
        raise PermissionError("this file system cannot link")

    monkeypatch.setattr(acio.os, "link", no_link)
    acio.write_text_atomic(target, "new")
    assert target.read_text() == "new"
    assert target.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["private.csv"]
