"""The README's quick start and tour stay true."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def test_quick_start_has_exactly_the_two_commands():
    text = README.read_text(encoding="utf-8")
    block = re.search(r"## Quick start\n\n```console\n(.*?)```", text, re.S)
    assert block is not None
    commands = [line.split("#")[0].strip() for line in block.group(1).splitlines()]
    assert commands == ["pip install . && attendance-core demo", "pip install tox && tox"]


def test_tour_runs(tmp_path):
    code = re.search(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    assert code is not None
    assert len(code.group(1).strip().splitlines()) <= 15
    out = subprocess.run(
        [sys.executable, "-c", code.group(1)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert "severe_absence" in out.stdout


def test_demo_command_prints_the_band_table():
    out = subprocess.run(
        [sys.executable, "-m", "attendance_core", "demo"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    for band in (
        "expected",
        "at_risk_of_persistent_absence",
        "persistent_absence",
        "at_risk_of_severe_absence",
        "severe_absence",
    ):
        assert band in out.stdout
    assert "Ten pupils most in need of action" in out.stdout
