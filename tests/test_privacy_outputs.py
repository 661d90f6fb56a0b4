"""Issue 19, pseudonymised outputs: no name, UPN, date of birth or raw MIS id of any adapter in
any output, message or rejected value; keys shorter than 16 bytes, keys that are file names and
FIFO key files refused."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from pathlib import Path

import pandas as pd
import pytest

import attendance_core as ac
from attendance_core import privacy
from attendance_core.cli import main

ROOT = Path(__file__).resolve().parents[1]
KEY = b"privacy-outputs-test-key-0123456789"
FIXTURES = sorted(
    p
    for p in ROOT.glob("adapters/*/tests/data/**/*")
    if p.is_file() and p.suffix in {".csv", ".xml", ".json", ".xlsx", ".parquet"}
)


def _load(path: Path) -> ac.LoadResult | None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return ac.load(path)
        except ac.AttendanceError:
            return None


def _secrets(result: ac.LoadResult) -> set[str]:
    """Every raw id, name, UPN and date of birth the load holds (long enough to search for)."""
    found = {str(v) for v in result.register.pupil_ids}
    pupils = result.pupils
    if pupils is not None:
        found |= {str(v) for v in pupils.index}
        for column in privacy.PERSONAL_COLUMNS:
            if column in pupils.columns and column != "upn_temporary":
                found |= {str(v) for v in pupils[column].dropna()}
    return {s for s in found if len(s) >= 5}


def _text(result: ac.LoadResult) -> str:
    parts = [result.register.to_long().to_csv(), result.rejected.to_csv()]
    for table in (result.pupils, getattr(result, "totals", None)):
        if isinstance(table, pd.DataFrame):
            parts.append(table.to_csv())
    return "\n".join(parts)


LOADED = [(p, r) for p in FIXTURES if (r := _load(p)) is not None and _secrets(r)]


@pytest.mark.parametrize(("path", "result"), LOADED, ids=[str(p.name) for p, _ in LOADED])
def test_pseudonymised_load_holds_no_raw_identifier(path: Path, result: ac.LoadResult) -> None:
    out = privacy.pseudonymise(result, KEY, drop=privacy.PERSONAL_COLUMNS)
    text = _text(out)
    leaked = sorted(s for s in _secrets(result) if s in text)
    assert not leaked, f"{path.name}: {leaked[:3]}"
    if out.pupils is not None:
        assert not set(privacy.PERSONAL_COLUMNS) & set(out.pupils.columns)


@pytest.mark.parametrize(("path", "result"), LOADED, ids=[str(p.name) for p, _ in LOADED])
def test_cli_pseudonymised_outputs_hold_no_raw_identifier(
    path: Path, result: ac.LoadResult, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key = tmp_path / "p.key"
    key.write_bytes(KEY)
    key.chmod(0o600)
    common = ["--format", result.format, "--pseudonymise-key-file", str(key)]
    common += ["--errors", "collect", "--rejected", str(tmp_path / "rejected.csv")]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for argv in (
            ["report", str(path), *common, "--to", "csv"],
            ["report", str(path), *common, "--output", str(tmp_path / "r.html")],
            ["classify", str(path), *common],
        ):
            main(argv)
    out, err = capsys.readouterr()
    files = [p.read_text(encoding="utf-8-sig") for p in tmp_path.iterdir() if p != key]
    text = "\n".join([out, err, *files])
    leaked = sorted(s for s in _secrets(result) if s in text)
    assert not leaked, f"{path.name}: {leaked[:3]}"


def test_rejected_values_of_source_id_columns_are_pseudonymised() -> None:
    reg = ac.Register.from_long(
        pd.DataFrame(
            {"pupil_id": ["A100"], "date": ["2024-09-02"], "session": ["AM"], "code": ["/"]}
        )
    )
    rejected = pd.DataFrame(
        [
            {"row": 2, "column": "UPN", "value": "A123456789012", "reason": "field_too_long"},
            {"row": 3, "column": "studentId", "value": "S77", "reason": "bad_value"},
            {"row": 4, "column": "Legal Surname", "value": "Secretname", "reason": "bad_value"},
            {"row": 5, "column": "x", "value": "B200", "reason": "unknown_pupil"},
            {"row": 6, "column": "record", "value": "A100", "reason": "bad_record"},
            {"row": 7, "column": "Mark", "value": "Q9", "reason": "unknown_code"},
        ]
    )
    result = ac.LoadResult(
        register=reg, pupils=None, rejected=rejected, rows_read=7, format="x", source="f"
    )
    out = ac.pseudonymise(result, KEY).rejected
    shown = dict(zip(out["row"], out["value"], strict=True))
    for row, raw in [(2, "A123456789012"), (3, "S77"), (4, "Secretname"), (5, "B200"), (6, "A100")]:
        assert shown[row] == ac.pseudonymise(raw, KEY), row
    assert shown[7] == "Q9"  # a code is not an id


def test_errors_raise_message_shows_the_pseudonym(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from attendance_core import adapters

    def refuse(*_a: object, **_k: object) -> None:  # what --errors raise gives an unknown pupil
        raise ac.RegisterError(
            "mark for a pupil the export does not list",
            file="x.json",
            row=4,
            column="student",
            value="A123456789012",
            reason="unknown_pupil",
        )

    monkeypatch.setattr(adapters, "load", refuse)
    path = tmp_path / "x.json"
    path.write_text("{}")
    key = tmp_path / "p.key"
    key.write_bytes(KEY)
    key.chmod(0o600)
    argv = ["classify", str(path), "--format", "wonde-json", "--errors", "raise"]
    assert main([*argv, "--pseudonymise-key-file", str(key)]) == 2
    err = capsys.readouterr().err
    assert "A123456789012" not in err
    assert ac.pseudonymise("A123456789012", KEY) in err and "row 4" in err
    assert main(argv) == 2  # without a key the id is shown, as SECURITY.md allows
    assert "A123456789012" in capsys.readouterr().err
    error = ac.RegisterError("x", column="UPN", value="A123", reason="bad_value")
    hidden = privacy.pseudonymise_error(error, KEY)
    assert hidden.value == ac.pseudonymise("A123", KEY) and hidden.message == "x"
    code = ac.RegisterError("x", column="Mark", value="Q9", reason="unknown_code")
    assert privacy.pseudonymise_error(code, KEY).value == "Q9"


# ------------------------------------------------------------------ keys
@pytest.mark.parametrize("key", [b"k", "short", b"0123456789abcde"])
def test_short_keys_are_refused_everywhere(key: bytes | str) -> None:
    with pytest.raises(ValueError, match="fewer than the 16"):
        ac.pseudonymise("A100", key)
    with pytest.raises(ValueError, match="fewer than the 16"):
        privacy.Pseudonymiser(key)


def test_a_str_naming_a_file_is_never_the_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "pseudonym.key"
    path.write_text(privacy.generate_key())
    path.chmod(0o600)
    for given in (str(path), "keys/pseudonym.key", "pseudonym.key"):
        with pytest.raises(ValueError, match="looks like a file name"):
            ac.pseudonymise("A100", given)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "plainname0123456789").write_text("x")
    with pytest.raises(ValueError, match="looks like a file name"):
        ac.pseudonymise("A100", "plainname0123456789")
    assert ac.pseudonymise("A100", path) == ac.pseudonymise("A100", path.read_text().strip())


_FIFO_KEY = """
import os, sys
from attendance_core import privacy
from attendance_core.errors import FormatError
os.mkfifo(sys.argv[1])
try:
    privacy.pseudonymise_key_file(sys.argv[1])
except FormatError as exc:
    print(exc)
"""


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_fifo_key_file_is_refused_without_waiting(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", _FIFO_KEY, str(tmp_path / "k.fifo")],
        capture_output=True,
        text=True,
        timeout=120,  # a guard: it used to wait for a writer for ever
        check=True,
    )
    assert "not a regular file" in done.stdout


def test_pupils_csv_error_does_not_quote_the_cell(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    marks = tmp_path / "marks.csv"
    marks.write_text("pupil_id,date,session,code\nP1,2024-09-02,AM,/\n")
    pupils = tmp_path / "pupils.csv"
    pupils.write_text("pupil_id,cin\nP1,Zebedee Secretname\n")
    assert main(["classify", str(marks), "--pupils", str(pupils)]) == 2
    err = capsys.readouterr().err
    assert "Zebedee" not in err and "line 2, column cin: not a flag" in err
