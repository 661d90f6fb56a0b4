"""Every example script runs, on the demo data, from a clean working directory.

The docs include the examples with ``literalinclude``; running them here is what keeps those
pages honest. A new ``examples/*.py`` is picked up without editing this file.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from builders import unavailable

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"
SCRIPTS = sorted(EXAMPLES.glob("*.py"))


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONHASHSEED"] = "0"
    env.setdefault("MPLBACKEND", "Agg")
    return env


def test_there_are_examples() -> None:
    names = {p.name for p in SCRIPTS}
    assert {"embed_in_an_app.py", "trust_over_schools.py"} <= names
    assert (EXAMPLES / "la_service" / "app.py").is_file()


@pytest.mark.parametrize("script", SCRIPTS, ids=[p.name for p in SCRIPTS])
def test_example_script_exits_0(script: Path, tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, (
        f"{script.name} exited {result.returncode}\n"
        f"--- stdout ---\n{result.stdout[-3000:]}\n--- stderr ---\n{result.stderr[-3000:]}"
    )
    assert result.stdout.strip(), f"{script.name} printed nothing"
    left = sorted(p.name for p in tmp_path.iterdir())
    assert not left, f"{script.name} wrote {left} into the working directory"


def test_embed_example_reports_a_damaged_file_without_raising(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("embed_example", EXAMPLES / "embed_in_an_app.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    missing = module.summarise(tmp_path / "no-such-file.csv")
    assert missing["ok"] is False and missing["error_type"]
    bad = tmp_path / "bad.csv"
    bad.write_text("pupil_id,date,session,code\nP1,2024-09-02,AM,/\nP1,2024-09-03,AM,QQ\n")
    result = module.summarise(bad)
    assert result["ok"] is True
    assert result["rejected_by_reason"] == {"unknown_code": 1}
    assert result["rows_read"] == 2
    assert result["sessions"]["possible"] == 1


def test_trust_example_writes_a_table_per_school(tmp_path: Path) -> None:
    out = tmp_path / "bands.csv"
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / "trust_over_schools.py"), "--output", str(out)],
        cwd=tmp_path,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    text = out.read_text(encoding="utf-8")
    for school in ("S0001", "S0002", "S0003"):
        assert school in text


@pytest.mark.service
def test_la_service_example_tests_pass() -> None:
    """The FastAPI example's own tests (examples/la_service/test_app.py)."""
    if importlib.util.find_spec("fastapi") is None:
        unavailable("fastapi is not installed (an examples-only dependency)")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            str(EXAMPLES / "la_service" / "test_app.py"),
        ],
        cwd=REPO,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert " passed" in result.stdout


def test_example_adapter_package_passes_the_conformance_kit() -> None:
    """examples/adapter_package (the how-to's adapter) passes its own tests and the kit."""
    package = EXAMPLES / "adapter_package"
    env = _env()
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(package / "src"), env.get("PYTHONPATH", "")) if p
    )
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(package / "tests")],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert " passed" in result.stdout
