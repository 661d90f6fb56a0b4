"""attendance-core: who is missing school in England, how badly, and what should happen next.

Load a register, classify pupils into attendance bands on exact session counts, recommend the
next steps of the DfE's stages of support with reasons and evidence, review action plans and
produce reports. Everything public is importable from here::

    import attendance_core as ac

    long, pupils = ac.demo.school()
    reg = ac.Register.from_long(long, pupils=pupils)
    table = ac.classify(reg, scheme="five-band")

Names are served lazily so that ``import attendance_core`` stays quick and optional extras
(Excel, Parquet, Dask) are imported only when used.
"""

from __future__ import annotations

import importlib
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from .bands import Band, BandScheme, band_scheme, band_schemes, days_missed
from .calendar import SchoolCalendar, academic_year
from .codes import AttendanceCode, Category, CodeSet, code_set, code_sets, load_code_set
from .errors import (
    AttendanceError,
    AttendanceWarning,
    CodeSetError,
    FormatError,
    PlanError,
    PolicyError,
    Reason,
    RegisterError,
    SchemeError,
)
from .measures import classify
from .register import Register

# public name -> module that defines it (imported on first use)
_LAZY: dict[str, str] = {
    "ActionPlan": "plans",
    "ActionPlanItem": "plans",
    "Adapter": "adapters",
    "AdapterOutput": "adapters",
    "CaseEvent": "history",
    "Casebook": "casebook",
    "CaseHistory": "history",
    "LoadResult": "adapters",
    "MeasureCheck": "plans",
    "NextStep": "escalation",
    "PlanChange": "plans",
    "Policy": "policy",
    "RAG": "plans",
    "Source": "adapters",
    "Stage": "escalation",
    "SuccessMeasure": "plans",
    "TSMPack": "reports",
    "absence_by_reason": "reports",
    "Timeline": "plans",
    "band_summary": "reports",
    "benchmarks": "dfe",
    "compulsory_school_age": "age",
    "demo": "",
    "dfe_statistics": "dfe",
    "evaluate_success_measure": "plans",
    "formats": "adapters",
    "get_adapter": "adapters",
    "governor_summary": "printed",
    "html_report": "reports",
    "letter_data": "reports",
    "load": "adapters",
    "load_policy": "policy",
    "parent_letters": "printed",
    "parse_success_measure": "plans",
    "parse_timeline": "plans",
    "patterns": "",
    "policies": "policy",
    "privacy": "",
    "pseudonymise": "privacy",
    "pseudonymise_key_file": "privacy",
    "read_term_dates": "calendar",
    "recommend": "escalation",
    "reconcile": "dfe",
    "register_adapter": "adapters",
    "step_figures": "escalation",
    "steps_frame": "escalation",
    "to_csv": "reports",
    "to_excel": "reports",
    "tsm_pack": "reports",
    "write_tsm_pack": "reports",
    "year_group_summary": "reports",
    "year_on_year": "reports",
}

__all__ = [
    "ActionPlan",
    "ActionPlanItem",
    "Adapter",
    "AdapterOutput",
    "AttendanceCode",
    "AttendanceError",
    "AttendanceWarning",
    "Band",
    "BandScheme",
    "CaseEvent",
    "CaseHistory",
    "Casebook",
    "Category",
    "CodeSet",
    "CodeSetError",
    "FormatError",
    "LoadResult",
    "MeasureCheck",
    "NextStep",
    "PlanChange",
    "PlanError",
    "Policy",
    "PolicyError",
    "RAG",
    "Reason",
    "Register",
    "RegisterError",
    "SchemeError",
    "SchoolCalendar",
    "Source",
    "Stage",
    "SuccessMeasure",
    "TSMPack",
    "Timeline",
    "absence_by_reason",
    "academic_year",
    "band_scheme",
    "band_schemes",
    "band_summary",
    "benchmarks",
    "classify",
    "code_set",
    "code_sets",
    "compulsory_school_age",
    "days_missed",
    "demo",
    "dfe_statistics",
    "evaluate_success_measure",
    "formats",
    "get_adapter",
    "governor_summary",
    "html_report",
    "letter_data",
    "load",
    "load_code_set",
    "load_policy",
    "parent_letters",
    "parse_success_measure",
    "parse_timeline",
    "patterns",
    "policies",
    "privacy",
    "pseudonymise",
    "pseudonymise_key_file",
    "read_term_dates",
    "recommend",
    "reconcile",
    "register_adapter",
    "step_figures",
    "steps_frame",
    "to_csv",
    "to_excel",
    "tsm_pack",
    "write_tsm_pack",
    "year_group_summary",
    "year_on_year",
]


def __getattr__(name: str) -> Any:
    if name == "__version__":
        try:
            return version("attendance-core")
        except PackageNotFoundError:  # pragma: no cover - running from a bare checkout
            return "0+unknown"
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'attendance_core' has no attribute {name!r}")
    if module == "":
        value: Any = importlib.import_module(f".{name}", __name__)
    else:
        value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
