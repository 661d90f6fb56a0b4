"""The dependency contract and the generic readers shipped inside the core wheel."""

from __future__ import annotations

import tomllib
from importlib import metadata
from pathlib import Path

import pandas as pd
import pytest

import attendance_core as ac
from attendance_core import register as register_module

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
GENERIC = ["generic-csv", "generic-excel", "generic-parquet", "wide-csv", "wide-excel"]


def test_pyarrow_and_openpyxl_are_core_dependencies() -> None:
    names = {d.split(">")[0].split("=")[0].strip() for d in PYPROJECT["project"]["dependencies"]}
    assert {"pyarrow", "openpyxl", "pandas", "numpy"} <= names


def test_generic_readers_ship_in_the_core_wheel() -> None:
    find = PYPROJECT["tool"]["setuptools"]["packages"]["find"]
    assert find["where"] == ["src", "adapters/generic/src"]
    assert "*.toml" in PYPROJECT["tool"]["setuptools"]["package-data"]["attendance_core_generic"]
    points = PYPROJECT["project"]["entry-points"]["attendance_core.adapters"]
    assert sorted(points) == GENERIC
    assert not (ROOT / "adapters" / "generic" / "pyproject.toml").exists()


def test_installed_core_registers_the_generic_readers() -> None:
    eps = metadata.entry_points(group="attendance_core.adapters")
    by_name = {ep.name: ep.dist.name if ep.dist else None for ep in eps}
    for name in GENERIC:
        assert by_name.get(name) == "attendance-core", name
    assert set(GENERIC) <= set(ac.formats())


@pytest.mark.parametrize("storage", ["python", "pyarrow"])
def test_run_starts_with_either_string_storage(storage: str) -> None:
    """pandas 3's Python-storage strings answer __arrow_array__ without pyarrow; the fast
    path must only be taken for pyarrow storage, and both give the same run starts."""
    values = pd.Series(["a"] * 5000 + ["b"] * 5000 + [None] * 10, dtype=pd.StringDtype(storage))
    starts = register_module._changes(values)  # must not raise ModuleNotFoundError
    if storage == "python":
        assert register_module._arrow_of(values) is None
        assert starts is None  # pd.NA has no plain truth of equality: the slow path is used
    else:
        assert register_module._arrow_of(values) is not None
        assert starts is not None
        assert starts.tolist() == [0, 5000, *range(10000, 10010)]


def test_version_flag_prints_the_installed_version(capsys):
    from importlib.metadata import version

    import pytest

    from attendance_core import cli

    with pytest.raises(SystemExit) as stop:
        cli.main(["--version"])
    assert stop.value.code == 0
    assert capsys.readouterr().out.strip() == f"attendance-core {version('attendance-core')}"
