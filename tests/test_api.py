"""The public API contract: every promised name importable, __all__ sorted."""

from __future__ import annotations

import importlib
import subprocess
import sys

import attendance_core as ac

CONTRACT = [
    "AttendanceError",
    "RegisterError",
    "FormatError",
    "SchemeError",
    "PolicyError",
    "PlanError",
    "Register",
    "load",
    "formats",
    "classify",
    "recommend",
    "steps_frame",
    "NextStep",
    "Stage",
    "ActionPlan",
    "ActionPlanItem",
    "RAG",
    "band_summary",
    "letter_data",
    "html_report",
    "to_csv",
    "pseudonymise",
    "BandScheme",
]


def test_all_is_sorted_and_complete():
    assert ac.__all__ == sorted(ac.__all__)
    for name in CONTRACT:
        assert name in ac.__all__, name


def test_every_public_name_resolves():
    for name in ac.__all__:
        assert getattr(ac, name) is not None, name


def test_errors_share_a_root_and_builtin():
    for cls in (ac.RegisterError, ac.FormatError, ac.SchemeError, ac.PolicyError, ac.PlanError):
        assert issubclass(cls, ac.AttendanceError) and issubclass(cls, ValueError)


def test_dask_module_is_importable_by_name():
    assert importlib.util.find_spec("attendance_core.dask") is not None


def test_version_and_py_typed():
    from importlib import resources

    assert ac.__version__
    assert (resources.files("attendance_core") / "py.typed").is_file()


def test_import_is_light():
    code = (
        "import sys, attendance_core; "
        "print(any(m in sys.modules for m in ('jinja2', 'openpyxl', 'dask', 'defusedxml')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
