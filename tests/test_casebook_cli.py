"""The casebook's command line: ``token``, ``recommend --casebook`` and ``serve``."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

import attendance_core as ac
from attendance_core.cli import main
from casebook_support import AS_OF, two_schools_csv


def _url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'cases.db'}"


def test_token_add_prints_a_token_the_casebook_knows(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = _url(tmp_path)
    assert main(["token", "add", "--casebook", url, "--school", "S1", "--label", "S1 office"]) == 0
    token = capsys.readouterr().out.strip()
    assert main(["token", "add", "--casebook", url, "--la"]) == 0
    la = capsys.readouterr().out.strip()
    with ac.Casebook(url) as cb:
        school = cb.check_token(token)
        assert school is not None
        assert (school.role, school.school_id, school.label) == ("school", "S1", "S1 office")
        la_info = cb.check_token(la)
        assert la_info is not None
        assert la_info.role == "la"
    assert main(["token", "list", "--casebook", url]) == 0
    listing = capsys.readouterr().out
    assert "S1 office" in listing
    assert token not in listing
    assert main(["token", "revoke", "--casebook", url, school.token_id]) == 0
    with ac.Casebook(url) as cb:
        assert cb.check_token(token) is None


def test_token_add_needs_a_school_or_the_la_and_a_casebook(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ATTENDANCE_CORE_CASEBOOK", raising=False)
    with pytest.raises(SystemExit) as exit_info:
        main(["token", "add", "--casebook", _url(tmp_path)])
    assert exit_info.value.code == 2
    assert "--school" in capsys.readouterr().err
    assert main(["token", "add", "--la"]) == 2
    assert "--casebook" in capsys.readouterr().err
    monkeypatch.setenv("ATTENDANCE_CORE_CASEBOOK", _url(tmp_path))
    assert main(["token", "add", "--la"]) == 0
    assert capsys.readouterr().out.startswith("acb_")
    assert main(["token", "revoke", "--casebook", _url(tmp_path), "nosuchid"]) == 2
    assert "no token" in capsys.readouterr().err


def test_recommend_with_a_casebook_reads_history_and_saves_steps(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = _url(tmp_path)
    marks = tmp_path / "marks.csv"
    marks.write_bytes(two_schools_csv())
    argv = ["recommend", str(marks), "--as-of", AS_OF.isoformat(), "--casebook", url, "--to", "csv"]
    assert main(argv) == 0
    first = capsys.readouterr()
    assert "saved to the casebook" in first.err
    with ac.Casebook(url) as cb:
        steps = cb.steps()
        assert len(steps) == first.out.count("\n") - 1
        consult = steps[
            (steps["pupil_id"] == "A") & (steps["action"] == "consult_attendance_officer")
        ]
        cb.set_status(consult["step_id"].iloc[0], "done", "officer", on=AS_OF)
    assert main(argv) == 0
    second = capsys.readouterr().out
    lines = [line for line in second.splitlines() if "consult_attendance_officer" in line]
    assert len(lines) == 1  # B's only: A's consultation is recorded
    assert lines[0].startswith("B,S2,")


def test_recommend_with_a_pseudonymous_casebook_uses_the_key_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = _url(tmp_path)
    key = tmp_path / "k.key"
    key.write_text(ac.privacy.generate_key())
    key.chmod(0o600)
    marks = tmp_path / "marks.csv"
    marks.write_bytes(two_schools_csv())
    argv = ["recommend", str(marks), "--as-of", AS_OF.isoformat(), "--casebook", url]
    assert main([*argv, "--pseudonymise-key-file", str(key)]) == 0
    capsys.readouterr()
    with ac.Casebook(url, key=key) as cb:
        assert set(cb.steps()["pupil_id"]) == {ac.pseudonymise(p, key) for p in "AB"}
    assert main(argv) == 2  # without the key the casebook is not opened
    assert "open it with its key" in capsys.readouterr().err


def test_casebook_purge_and_audit(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = _url(tmp_path)
    with ac.Casebook(url, user="alice") as cb:
        cb.add_history(
            [ac.CaseEvent(pupil_id="A", event="support_not_worked", date="2023-05-02"),
             ac.CaseEvent(pupil_id="B", event="support_not_worked", date="2025-01-10")]
        )  # fmt: skip
    assert main(["casebook", "purge", "--casebook", url, "--before", "2024-09-01"]) == 0
    assert capsys.readouterr().out.strip() == "1 events deleted, 0 steps deleted, 0 plans deleted"
    with ac.Casebook(url) as cb:
        assert [e.pupil_id for e in cb.history()] == ["B"]
    out = tmp_path / "audit.csv"
    assert main(["casebook", "audit", "--casebook", url, "--output", str(out)]) == 0
    text = out.read_text(encoding="utf-8")
    assert "purge" in text
    assert "alice" in text
    assert main(["casebook", "audit", "--casebook", url, "--pupil", "B"]) == 0
    assert "alice" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["casebook", "purge", "--casebook", url, "--before", "01/09/2024"])


def test_serve_answers_over_http(tmp_path: Path) -> None:
    url = _url(tmp_path)
    with ac.Casebook(url) as cb:
        token = cb.add_token(la=True)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "ATTENDANCE_CORE_CASEBOOK": url}
    process = subprocess.Popen(
        [sys.executable, "-m", "attendance_core", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        while True:  # start-up: waits for the server, asserts nothing about time
            if process.poll() is not None:
                raise AssertionError(process.stderr.read().decode() if process.stderr else "")
            try:
                response = httpx.get(f"{base}/formats", timeout=10)
                break
            except httpx.TransportError:
                time.sleep(0.05)
        assert response.status_code == 401
        ok = httpx.get(f"{base}/formats", headers={"Authorization": f"Bearer {token}"}, timeout=30)
        assert ok.status_code == 200
        assert ok.json()["formats"] == ac.formats()
    finally:
        process.terminate()
        process.wait(timeout=60)
