"""Reports: band summaries, parent-letter figures, Targeting Support Meeting packs, the HTML
report and safe exports (CSV, Excel).

Every writer is atomic (a crash never leaves half a file) and every spreadsheet cell that would
run as a formula is neutralised. The HTML report is one self-contained file: inline CSS and
inline SVG charts drawn here, no script and no network resource; Jinja2 renders it with
autoescaping on, so a pupil's name can never inject markup. Output is deterministic: the same
register gives the same bytes (a timestamp appears only when ``generated_at`` is passed).
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import numpy.typing as npt
import pandas as pd

from .bands import DEFAULT_SCHEME, BandScheme, band_scheme, persistent_and_severe
from .calendar import academic_year_number, academic_year_start, year_before
from .patterns import (
    OTHER_COHORTS,
    PRIORITY_COHORTS,
    group_weekday_profile,
    previous_term_bounds,
    pupil_column,
    pupil_patterns,
    resolve_as_of,
    term_bounds,
    term_of,
    trend,
    weekly_attendance,
)
from .register import Register

__all__ = [
    "TSMPack",
    "absence_by_reason",
    "band_summary",
    "html_report",
    "letter_data",
    "next_steps",
    "to_csv",
    "to_excel",
    "tsm_pack",
    "write_tsm_pack",
    "year_group_summary",
    "year_on_year",
]

#: The extra row of a ``dfe`` summary that matches the DfE's published persistent absence rate.
PERSISTENT_INCLUSIVE = "persistent_absence_inclusive"

#: A pupil counts as a TSM success (moved up a band) only with at least this many possible
#: sessions in the current term, so that one good week does not count.
MIN_TERM_SESSIONS = 10

#: Plain-English names of the action ids of the england-2024 policy; other ids are shown with
#: underscores as spaces.
ACTION_LABELS: dict[str, str] = {
    "first_day_contact": "First-day contact with the family",
    "resolve_unexplained_absence": "Resolve unexplained absence (N codes)",
    "notify_la_continuous_absence": "Notify the LA: 10 days' continuous absence",
    "notify_la_illness_15_days": "Notify the LA: 15 days' illness",
    "inform_social_worker": "Inform the social worker",
    "attendance_conversation": "Attendance conversation",
    "attendance_meeting": "Attendance meeting with parents",
    "early_help_assessment": "Early Help Assessment",
    "review_support": "Review all support",
    "targeting_support_meeting": "Discuss at the Targeting Support Meeting",
    "escalate_virtual_school": "Escalate to the virtual school",
    "bring_forward_ehcp_review": "Bring the EHCP review forward",
    "offer_support_before_enforcement": "Offer support before any enforcement",
    "consult_attendance_officer": "Consult the LA attendance officer",
    "agree_with_social_worker": "Agree any legal step with the social worker",
    "notice_to_improve": "Notice to improve",
    "consider_penalty_notice": "Consider a penalty notice",
    "consider_attendance_contract": "Consider an attendance contract",
    "consider_safeguarding_referral": "Consider a safeguarding referral",
    "monitor_illness_and_appointments": "Monitor illness and medical appointments",
    "praise_improvement": "Praise the improvement",
    "review_attendance_at_plan_meeting": "Review attendance at the plan meeting",
    "review_needs_behind_absence": "Review the needs behind the absence",
}

#: Plain-English names of the lead roles.
LEAD_LABELS: dict[str, str] = {
    "form_tutor": "form tutor",
    "attendance_lead": "attendance lead",
    "senco": "SENCO",
    "designated_safeguarding_lead": "DSL",
    "attendance_officer": "LA attendance officer",
    "social_worker": "social worker",
    "virtual_school": "virtual school",
    "early_help": "Early Help",
}

#: Band colours from best to worst; a scheme with n bands takes n of them spread evenly.
BAND_PALETTE = ("#2e7d32", "#7cb342", "#f9a825", "#ef6c00", "#c62828")


# ============================================================================ band summary
def _group_values(table: pd.DataFrame, by: str, pupils: pd.DataFrame | None) -> pd.Series:
    """The value of ``by`` for each row of ``table``: a column, an index level, or a pupils
    column joined on ``pupil_id`` (and ``school_id`` when both have it)."""
    if by in table.columns:
        return table[by].reset_index(drop=True)
    if by in (table.index.names or []):
        return pd.Series(table.index.get_level_values(by), dtype=object)
    if pupils is not None and by in pupils.columns:
        return pupil_column(table.index, pupils, by)
    raise KeyError(f"{by!r} is neither a column of the table nor of the pupils table")


def band_summary(
    table: pd.DataFrame,
    by: str | Sequence[str] | None = None,
    pupils: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Pupils and share of pupils in each band, bands in scheme order.

    ``table`` is the result of :func:`~attendance_core.classify`. ``percent`` is the share of
    the pupils with possible sessions (pupils without are in no band) as a fraction in [0, 1],
    like every rate of the library (0.573 is shown as 57.3%; only displays multiply by 100;
    NaN when no pupil has possible sessions). With ``by`` (a column or index level
    of ``table`` such as ``"school_id"``, or a column of ``pupils`` such as ``"cin"``) the
    summary has one block per group. For the ``dfe`` scheme a last row
    ``persistent_absence_inclusive`` counts persistent and severe absence together
    (10 × absent ≥ possible), which is the DfE's published persistent absence rate.
    """
    if "band" not in table.columns:
        raise KeyError("table has no 'band' column: pass the result of classify()")
    bands = table["band"]
    categories = (
        list(bands.cat.categories)
        if isinstance(bands.dtype, pd.CategoricalDtype)
        else sorted(bands.dropna().unique())
    )
    inclusive = table.attrs.get("scheme") == "dfe"
    keys: list[str] = [] if by is None else [by] if isinstance(by, str) else list(by)
    frame = pd.DataFrame({"band": pd.Categorical(bands.to_numpy(), categories=categories)})
    frame["persistent"] = persistent_and_severe(table["absent"], table["possible"])[0]
    for key in keys:
        frame[key] = _group_values(table, key, pupils).to_numpy()

    def block(part: pd.DataFrame) -> pd.DataFrame:
        counts = part["band"].value_counts(sort=False).reindex(categories, fill_value=0)
        rows = pd.DataFrame(
            {"pupils": counts.to_numpy(dtype=np.int64)}, index=pd.Index(categories, name="band")
        )
        if inclusive:
            rows.loc[PERSISTENT_INCLUSIVE] = int(part["persistent"].sum())
        banded = int(part["band"].notna().sum())
        with np.errstate(invalid="ignore", divide="ignore"):
            rows["percent"] = (rows["pupils"] / banded) if banded else np.nan
        rows["pupils"] = rows["pupils"].astype(np.int64)
        return rows

    if not keys:
        return block(frame)
    if not len(frame):
        empty = pd.DataFrame(
            {"pupils": pd.Series([], dtype=np.int64), "percent": pd.Series([], dtype=np.float64)}
        )
        empty.index = pd.MultiIndex.from_arrays(
            [[] for _ in [*keys, "band"]], names=[*keys, "band"]
        )
        return empty
    parts = []
    for value, part in frame.groupby(keys, sort=True, dropna=False, observed=True):
        rows = block(part)
        labels: tuple[Any, ...] = value if isinstance(value, tuple) else (value,)
        rows.index = pd.MultiIndex.from_tuples(
            [(*labels, b) for b in rows.index], names=[*keys, "band"]
        )
        parts.append(rows)
    return pd.concat(parts)


# ============================================================================ exports
def to_csv(frame: pd.DataFrame, path: str | Path, *, index: bool = True) -> Path:
    """Write ``frame`` as a CSV file that is safe to open in Excel.

    Text cells starting with ``=``, ``+``, ``-``, ``@`` (also behind a prefix of spaces or
    control characters), a tab or a carriage return are neutralised with a leading
    apostrophe (:func:`attendance_core.io.neutralise`), so opening the file runs nothing;
    the file is written atomically (UTF-8 with a byte-order mark, which Excel needs to read it
    as UTF-8).
    """
    from .io import atomic_open, neutralise_frame

    target = Path(path)
    # a default 0, 1, 2 … index carries nothing: never written as a stray first column
    index = index and not _plain_index(frame.index)
    with atomic_open(target, "w", encoding="utf-8-sig", newline="") as handle:
        neutralise_frame(frame).to_csv(handle, index=index, lineterminator="\r\n")
    return target


_SHEET_BAD = re.compile(r"[\[\]:*?/\\]")


def _sheet_name(name: object, taken: set[str]) -> str:
    """A valid, unique Excel sheet name (31 characters, none of ``[]:*?/\\``)."""
    base = _SHEET_BAD.sub("_", str(name)).strip("'") or "sheet"
    base = base[:31]
    candidate, n = base, 2
    while candidate.lower() in taken:
        suffix = f" ({n})"
        candidate = base[: 31 - len(suffix)] + suffix
        n += 1
    taken.add(candidate.lower())
    return candidate


def _excel_ready(frame: pd.DataFrame) -> pd.DataFrame:
    """Columns Excel can hold: categoricals as text, time zones dropped."""
    out = frame.copy()
    for column in out.columns:
        series = out[column]
        if isinstance(series.dtype, pd.CategoricalDtype):
            out[column] = series.astype(object).where(series.notna(), None)
        elif isinstance(series.dtype, pd.DatetimeTZDtype):
            out[column] = series.dt.tz_localize(None)
    return out


def to_excel(
    frames: pd.DataFrame | Mapping[str, pd.DataFrame],
    path: str | Path,
    *,
    index: bool = True,
) -> Path:
    """Write one frame, or several as named sheets, to an Excel workbook that runs nothing.

    ``frames`` is a DataFrame (one sheet named ``data``) or a mapping of sheet name to frame, in
    sheet order. Text cells starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return
    get a leading apostrophe, exactly as :func:`to_csv` does (also behind a prefix of spaces or
    control characters); a control character ``.xlsx`` cannot hold is written as a visible
    escape (``\\x1b``); sheet names are made valid for Excel. Written atomically with openpyxl
    (the ``excel`` extra); identical frames give byte-identical files (no timestamps).
    """
    from .errors import AttendanceError
    from .io import atomic_workbook, excel_text, neutralise_frame

    try:
        import openpyxl  # noqa: F401
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise AttendanceError(
            "writing Excel needs openpyxl (an attendance-core dependency): pip install ."
        ) from exc
    sheets = {"data": frames} if isinstance(frames, pd.DataFrame) else dict(frames)
    if not sheets:
        raise ValueError("to_excel needs at least one frame")
    target = Path(path)
    taken: set[str] = set()
    with atomic_workbook(target) as buffer, pd.ExcelWriter(buffer, engine="openpyxl") as writer:
        for name, frame in sheets.items():
            # a default 0, 1, 2 … index carries nothing: never written as a stray column
            keep_index = index and not _plain_index(frame.index)
            safe = neutralise_frame(_excel_ready(frame))
            if keep_index:
                safe = safe.reset_index()
            safe = _excel_cells(safe, excel_text)
            sheet = _sheet_name(excel_text(name), taken)
            safe.to_excel(writer, sheet_name=sheet, index=False)
            _format_sheet(writer.sheets[sheet], safe)
    return target


def _excel_cells(frame: pd.DataFrame, fix: Callable[[Any], Any]) -> pd.DataFrame:
    """``frame`` with ``fix`` applied to every text cell and column name (a flat index)."""
    out = frame.copy()
    out.columns = pd.Index([fix(c) for c in out.columns], dtype=object)
    for position in range(len(out.columns)):
        series = out.iloc[:, position]
        if series.dtype == object or pd.api.types.is_string_dtype(series.dtype):
            out.isetitem(position, np.array([fix(v) for v in series], dtype=object))
    return out


#: Column names whose values are fractions in [0, 1], shown as percentages in Excel: rates,
#: shares, and the ``percent`` of band_summary, ``percent_year`` … of the TSM pack and
#: ``*_percent`` of cohort_summary (fractions too, the names kept from the API).
_RATE_SUFFIXES = ("_rate", "rate", "_share", "share", "_fraction", "percent")
_RATE_PREFIXES = ("percent_",)
_MAX_WIDTH = 60


def _plain_index(index: pd.Index) -> bool:
    return isinstance(index, pd.RangeIndex) and index.name is None


def _is_rate(name: str, series: pd.Series) -> bool:
    named = str(name).endswith(_RATE_SUFFIXES) or str(name).startswith(_RATE_PREFIXES)
    if not named or not pd.api.types.is_float_dtype(series.dtype):
        return False
    values = series.dropna()
    return bool(((values >= -1) & (values <= 1)).all())


def _format_sheet(ws: Any, frame: pd.DataFrame) -> None:
    """Widths from the content, the header frozen and filtered, rates as % and dates as dates."""
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    ws.freeze_panes = "A2"
    if len(frame.columns):
        ws.auto_filter.ref = f"A1:{get_column_letter(len(frame.columns))}{len(frame) + 1}"
    for cell in ws[1]:
        cell.font = Font(bold=True)
    for i, name in enumerate(frame.columns, start=1):
        series = frame[name]
        letter = get_column_letter(i)
        fmt: str | None = None
        if _is_rate(str(name), series):
            fmt = "0.0%"
        elif pd.api.types.is_datetime64_any_dtype(series.dtype) or (
            series.dtype == object and series.map(lambda v: isinstance(v, dt.date)).any()
        ):
            fmt = "yyyy-mm-dd"
        elif pd.api.types.is_integer_dtype(series.dtype):
            fmt = "0"
        if fmt is not None:
            for (cell,) in ws.iter_rows(min_row=2, min_col=i, max_col=i):
                cell.number_format = fmt
        texts = [str(name)]
        sample = series.head(2000)
        if fmt == "0.0%":
            texts += ["100.0%"]
        elif fmt == "yyyy-mm-dd":
            texts += ["2025-12-31"]
        else:
            texts += ["" if v is None else str(v) for v in sample.tolist()]
        width = max((len(t) for t in texts), default=8)
        ws.column_dimensions[letter].width = min(_MAX_WIDTH, max(8, width + 2))


# ============================================================================ letters
def letter_data(
    reg: Register, as_of: Any = None, pupils: pd.DataFrame | None = None
) -> pd.DataFrame:
    """The figures for a short personalised letter to each pupil's parents (no sending).

    One row per enrolment whose span meets the academic year of ``as_of`` (default: the latest
    date with a mark; marks after it are ignored), indexed like
    :func:`~attendance_core.classify`:

    ``days_missed``
        absent sessions ÷ 2 over the academic year to date (halves kept: 7.5 days).
    ``attendance_rate``
        attended ÷ possible over the same period (NaN with no possible session).
    ``change``
        the attendance rate over the last 4 school weeks to ``as_of`` minus the rate over the 4
        school weeks before them, on the school's own calendar (NaN when either has no possible
        session).
    ``year_group_rate``
        Σ attended ÷ Σ possible, academic year to date, over every enrolment of the pupil's school
        and year group in the register (NaN when the year group is unknown).

    Also ``year_group`` (from ``pupils``), ``possible``, ``absent``, ``rate_last_4_weeks`` and
    ``rate_previous_4_weeks``.
    """
    tr = trend(reg, as_of)
    possible = tr["possible_year"].to_numpy(dtype=np.int64)
    attended = tr["attended_year"].to_numpy(dtype=np.int64)
    absent = possible - attended
    out = pd.DataFrame(index=tr.index)
    out["days_missed"] = absent / 2
    out["attendance_rate"] = tr["rate_year"].to_numpy()
    out["change"] = (tr["rate_4_weeks"] - tr["rate_previous_4_weeks"]).to_numpy()
    if pupils is not None and "year_group" in pupils.columns:
        year_group = pupil_column(tr.index, pupils, "year_group")
    else:
        year_group = pd.Series([None] * len(tr), dtype=object)
    known = year_group.notna().to_numpy() & (year_group.astype(str).str.strip() != "").to_numpy()
    school = (
        pd.Series(tr.index.get_level_values("school_id"), dtype=object)
        if "school_id" in (tr.index.names or [])
        else pd.Series([""] * len(tr), dtype=object)
    )
    keys = pd.DataFrame(
        {
            "school": school.astype(str).to_numpy(),
            "year": year_group.astype(str).to_numpy(),
            "possible": possible,
            "attended": attended,
        }
    )
    sums = keys[known].groupby(["school", "year"], sort=False)[["possible", "attended"]].sum()
    joined = keys[["school", "year"]].merge(
        sums, how="left", left_on=["school", "year"], right_index=True
    )
    p = joined["possible"].to_numpy(dtype=float)
    a = joined["attended"].to_numpy(dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = np.where(known & (p > 0), a / np.where(p > 0, p, 1), np.nan)
    out["year_group_rate"] = rate
    out["year_group"] = year_group.where(pd.Series(known), None).to_numpy(dtype=object)
    out["possible"] = possible
    out["absent"] = absent
    out["rate_last_4_weeks"] = tr["rate_4_weeks"].to_numpy()
    out["rate_previous_4_weeks"] = tr["rate_previous_4_weeks"].to_numpy()
    return out


# ============================================================================ next steps
def next_steps(
    reg: Register, pupils: pd.DataFrame | None = None, as_of: Any = None, plans: Any = None
) -> pd.DataFrame:
    """:func:`~attendance_core.recommend` as a table, one row per step, with ``action_label``
    and ``lead_label`` in plain English (empty table when nothing is recommended)."""
    from .escalation import recommend, steps_frame

    steps = recommend(reg, pupils=pupils, plans=plans, as_of=as_of)
    frame = steps_frame(steps).reset_index(drop=True)
    frame["action_label"] = [
        ACTION_LABELS.get(str(a), str(a).replace("_", " ").capitalize()) for a in frame["action"]
    ]
    frame["lead_label"] = [LEAD_LABELS.get(str(x), str(x).replace("_", " ")) for x in frame["lead"]]
    return frame


#: Steps shown for a pupil before the rest fold under "n more" (safeguarding steps always show).
SHOWN_STEPS = 4
#: Steps that concern a child's safety: never folded away, whatever their stage.
SAFEGUARDING_ACTIONS = frozenset(
    {
        "inform_social_worker",
        "inform_youth_justice_worker",
        "agree_with_social_worker",
        "escalate_virtual_school",
        "consider_safeguarding_referral",
    }
)
SAFEGUARDING_LEADS = frozenset({"designated_safeguarding_lead", "social_worker"})


def _stage_order(stage: Any) -> int:
    order = getattr(stage, "order", None)
    if isinstance(order, int):
        return order
    from .policy import Stage

    try:
        return Stage(str(stage)).order
    except ValueError:
        return -1


def _order_steps(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Most serious stage first (Enforce → Expect), keeping the engine's order within a stage;
    the first :data:`SHOWN_STEPS` and every safeguarding step get ``shown`` True."""
    ordered = sorted(enumerate(items), key=lambda pair: (-pair[1]["stage_order"], pair[0]))
    out = []
    for rank, (_, item) in enumerate(ordered):
        out.append({**item, "shown": rank < SHOWN_STEPS or item["safeguarding"]})
    return out


def _steps_by_enrolment(
    steps: pd.DataFrame, pupil_ids: Any = None
) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """Steps keyed by (school or "", pupil), only for ``pupil_ids`` when given; each pupil's
    steps most serious first (:func:`_order_steps`)."""
    if pupil_ids is not None and len(steps):
        steps = steps[steps["pupil_id"].astype(str).isin(pd.Index(pupil_ids).astype(str))]
    out: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for rec in _records(steps):
        school = rec.get("school_id")
        key = ("" if school is None or pd.isna(school) else str(school), str(rec["pupil_id"]))
        stage = rec.get("stage")
        out.setdefault(key, []).append(
            {
                "action": rec["action_label"],
                "lead": rec["lead_label"],
                "due": _fmt_date(rec.get("due")),
                "stage": getattr(stage, "name", str(stage)).replace("_", " ").capitalize(),
                "reason": str(rec.get("reason") or ""),
                "stage_order": _stage_order(stage),
                "safeguarding": str(rec.get("action")) in SAFEGUARDING_ACTIONS
                or str(rec.get("lead")) in SAFEGUARDING_LEADS,
            }
        )
    return {key: _order_steps(items) for key, items in out.items()}


def _steps_text(items: Sequence[Mapping[str, Any]]) -> str:
    return "; ".join(f"{s['action']} ({s['lead']}, by {s['due']})" for s in items)


# ============================================================================ TSM pack
def _school_label(reg: Register, pupils: pd.DataFrame | None) -> str:
    """The school id of a register without ``school_id``: the pupils table's single school, or
    an empty string."""
    if pupils is not None and "school_id" in pupils.columns:
        values = pupils["school_id"].dropna().astype(str).unique()
        if len(values) == 1:
            return str(values[0])
    return ""


def _schools_of(index: pd.Index, reg: Register, pupils: pd.DataFrame | None) -> pd.Series:
    if "school_id" in (index.names or []):
        return pd.Series(index.get_level_values("school_id"), dtype=object).astype(str)
    if reg.school_ids is not None and len(reg.schools) == 1:
        return pd.Series([str(reg.schools[0])] * len(index), dtype=object)
    return pd.Series([_school_label(reg, pupils)] * len(index), dtype=object)


@attrs.frozen(kw_only=True)
class TSMPack:
    """The tables of a Targeting Support Meeting pack (domain.md §7), every school in one.

    Each table has a ``school_id`` column so that an LA can aggregate packs across schools;
    :meth:`for_school` gives one school's pack. Built by :func:`tsm_pack`, written by
    :func:`write_tsm_pack`.

    ``bands``
        five-band counts and shares per school: ``pupils_year``/``percent_year`` (academic
        year to ``as_of``), ``pupils_this_term``/``percent_this_term`` and
        ``pupils_last_term``/``percent_last_term``; each ``percent_*`` is a fraction in [0, 1]
        of the pupils with possible sessions in that period, as in :func:`band_summary`.
    ``cohorts``
        :func:`~attendance_core.patterns.cohort_summary` of the academic year to date.
    ``severe``
        pupils in severe absence over the year to date with their recommended next steps.
    ``successes``
        pupils whose band this term is better than last term's (with at least
        :data:`MIN_TERM_SESSIONS` possible sessions this term).
    ``comparison``
        each school against the benchmarks, academic year to ``as_of``, in the long layout:
        ``school_id``, ``measure`` (overall, authorised, unauthorised, persistent and severe
        absence rates), ``label``, ``source`` (``school``: every pupil and mark, as the library
        counts; ``dfe_method``: as :func:`~attendance_core.dfe_statistics` counts; then each
        benchmark's id), ``title`` and ``rate`` (a fraction; NaN where not published).
    """

    as_of: dt.date
    term: str
    last_term: str
    bands: pd.DataFrame = attrs.field(eq=False)
    cohorts: pd.DataFrame = attrs.field(eq=False)
    severe: pd.DataFrame = attrs.field(eq=False)
    successes: pd.DataFrame = attrs.field(eq=False)
    comparison: pd.DataFrame = attrs.field(eq=False, factory=lambda: _comparison_frame([]))

    @property
    def schools(self) -> list[str]:
        """The school ids of the pack, sorted."""
        return sorted(self.bands["school_id"].astype(str).unique().tolist())

    def tables(self) -> dict[str, pd.DataFrame]:
        """The tables by name, in the order a meeting reads them."""
        return {
            "bands": self.bands,
            "cohorts": self.cohorts,
            "severe_absence": self.severe,
            "successes": self.successes,
            "benchmarks": self.comparison,
        }

    def for_school(self, school_id: str) -> TSMPack:
        """The pack of one school."""
        if school_id not in self.schools:
            raise KeyError(f"no school {school_id!r} in the pack")

        def pick(frame: pd.DataFrame) -> pd.DataFrame:
            if not len(frame):
                return frame
            return frame[frame["school_id"].astype(str) == school_id].reset_index(drop=True)

        return attrs.evolve(
            self,
            bands=pick(self.bands),
            cohorts=pick(self.cohorts),
            severe=pick(self.severe),
            successes=pick(self.successes),
            comparison=pick(self.comparison),
        )


def tsm_pack(
    reg: Register,
    pupils: pd.DataFrame | None = None,
    as_of: Any = None,
    *,
    plans: Any = None,
    benchmarks: Any = None,
) -> TSMPack:
    """The Targeting Support Meeting pack of every school in ``reg`` (five-band scheme).

    Periods: the academic year to ``as_of`` (as :func:`~attendance_core.recommend` sees it),
    this term to ``as_of`` and the whole of last term (terms as
    :func:`~attendance_core.patterns.term_of`). Severe-absence pupils carry their recommended
    next steps (``plans`` as for recommend). Each school is set against the DfE-comparable
    figures, the DfE's national figures and ``benchmarks`` (an LA's or a trust's file, as
    :func:`~attendance_core.benchmarks` reads). Pupil names are never put in the pack; pupils
    appear by ``pupil_id`` and ``year_group``.
    """
    from .measures import classify

    day = resolve_as_of(reg, as_of)
    scheme = band_scheme(DEFAULT_SCHEME)
    year_first = academic_year_start(day)
    this_first, _ = term_bounds(day)
    last_first, last_end = previous_term_bounds(day)
    figures = pupil_patterns(reg, day, scheme=scheme)
    periods = {
        "year": figures,
        "this_term": classify(reg, scheme=scheme, start=max(this_first, year_first), end=day),
        "last_term": classify(reg, scheme=scheme, start=last_first, end=last_end),
    }
    labels = {b.id: b.label for b in scheme.bands}
    band_parts = []
    for name, table in periods.items():
        t = table.assign(school_id_=_schools_of(table.index, reg, pupils).to_numpy())
        summary = band_summary(t, by="school_id_").reset_index()
        summary = summary.rename(
            columns={
                "school_id_": "school_id",
                "pupils": f"pupils_{name}",
                "percent": f"percent_{name}",
            }
        )
        band_parts.append(summary.set_index(["school_id", "band"]))
    bands = pd.concat(band_parts, axis=1)
    schools = sorted(bands.index.get_level_values("school_id").unique().tolist(), key=str)
    full = pd.MultiIndex.from_product([schools, list(scheme.band_ids)], names=["school_id", "band"])
    bands = bands.reindex(full)
    for name in periods:
        bands[f"pupils_{name}"] = bands[f"pupils_{name}"].fillna(0).astype(np.int64)
    bands = bands.reset_index()
    bands.insert(2, "label", [labels[b] for b in bands["band"]])

    cohorts = _cohort_table(figures, reg, pupils)

    school_col = _schools_of(figures.index, reg, pupils).to_numpy()
    pupil_ids = figures.index.get_level_values("pupil_id").astype(str)
    year_group = _pupil_values(figures.index, pupils, "year_group")
    is_severe = (figures["band"].astype(object) == "severe_absence").to_numpy()
    steps = next_steps(reg, pupils=pupils, as_of=day, plans=plans)
    by_pupil = _steps_by_enrolment(steps, np.asarray(pupil_ids)[is_severe])
    severe = pd.DataFrame(
        {
            "school_id": school_col[is_severe],
            "pupil_id": np.asarray(pupil_ids)[is_severe],
            "year_group": year_group[is_severe],
            "attendance_rate": figures["attendance_rate"].to_numpy()[is_severe],
            "days_missed": figures["days_missed"].to_numpy()[is_severe],
            "unauthorised": figures["unauthorised"].to_numpy()[is_severe],
            "rate_4_weeks": figures["rate_4_weeks"].to_numpy()[is_severe],
            "illness_share": figures["illness_share"].to_numpy()[is_severe],
        }
    )
    enrol_keys = [
        (_key_school(reg, s), p)
        for s, p in zip(severe["school_id"], severe["pupil_id"], strict=True)
    ]
    severe["next_steps"] = [_steps_text(by_pupil.get(k, [])) for k in enrol_keys]
    severe = severe.sort_values(
        ["school_id", "attendance_rate", "pupil_id"], kind="stable"
    ).reset_index(drop=True)

    successes = _successes(periods["this_term"], periods["last_term"], scheme, reg, pupils)
    return TSMPack(
        as_of=day,
        term=term_of(day),
        last_term=term_of(last_end),
        bands=bands,
        cohorts=cohorts,
        severe=severe,
        successes=successes,
        comparison=_school_comparisons(reg, pupils, day, schools, benchmarks),
    )


def _comparison_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    columns = ["school_id", "measure", "label", "source", "title", "rate"]
    frame = pd.DataFrame(rows, columns=columns)
    frame["rate"] = frame["rate"].astype(np.float64)
    return frame


def _school_comparisons(
    reg: Register,
    pupils: pd.DataFrame | None,
    day: dt.date,
    schools: Sequence[Any],
    benchmarks: Any,
) -> pd.DataFrame:
    """:attr:`TSMPack.comparison`: every school's figures beside the benchmarks."""
    rows: list[dict[str, Any]] = []
    for school in schools:
        name = str(school)
        if reg.school_ids is None:
            one, their = reg, pupils
        else:
            one = reg.select(schools=[name])
            their = (
                pupils[pupils["school_id"].astype(str) == name]
                if pupils is not None and "school_id" in pupils.columns
                else pupils
            )
        values = _comparison_values(one, their, day, benchmarks)
        sources = [
            ("school", _OWN_TITLES[0], values["own"]),
            ("dfe_method", _OWN_TITLES[1], values["dfe"] or {}),
        ]
        for i, (measure, label) in enumerate(_MEASURES):
            for source, title, figures in sources:
                rate = figures.get(measure, np.nan)
                rows.append(
                    {
                        "school_id": name,
                        "measure": measure,
                        "label": label,
                        "source": source,
                        "title": title,
                        "rate": float(rate),
                    }
                )
            for bench in values["benchmarks"]:
                rows.append(
                    {
                        "school_id": name,
                        "measure": measure,
                        "label": label,
                        "source": bench["id"],
                        "title": bench["title"],
                        "rate": float(bench["values"][i]),
                    }
                )
    return _comparison_frame(rows)


def _pupil_values(index: pd.Index, pupils: pd.DataFrame | None, column: str) -> Any:
    """A pupils-table column aligned to ``index`` as an array (None where unknown)."""
    if pupils is None or column not in pupils.columns:
        return np.full(len(index), None, dtype=object)
    return pupil_column(index, pupils, column).to_numpy()


def _key_school(reg: Register, school: Any) -> str:
    """The school part of a steps key: the register's school id, or "" without one."""
    return "" if reg.school_ids is None else str(school)


def _cohort_table(
    figures: pd.DataFrame, reg: Register, pupils: pd.DataFrame | None
) -> pd.DataFrame:
    from .patterns import cohort_summary

    with_school = figures.assign(school_id=_schools_of(figures.index, reg, pupils).to_numpy())
    return cohort_summary(with_school, pupils, by_school=True).reset_index()


def _successes(
    this: pd.DataFrame,
    last: pd.DataFrame,
    scheme: BandScheme,
    reg: Register,
    pupils: pd.DataFrame | None,
) -> pd.DataFrame:
    order = {b: i for i, b in enumerate(scheme.band_ids)}
    joined = this[["band", "possible", "attendance_rate"]].merge(
        last[["band", "attendance_rate"]],
        how="inner",
        left_index=True,
        right_index=True,
        suffixes=("_this", "_last"),
    )
    now = joined["band_this"].astype(object).map(order)
    before = joined["band_last"].astype(object).map(order)
    moved = (
        now.notna() & before.notna() & (now < before) & (joined["possible"] >= MIN_TERM_SESSIONS)
    ).to_numpy(dtype=bool)
    picked = joined[moved]
    year_group = _pupil_values(picked.index, pupils, "year_group")
    out = pd.DataFrame(
        {
            "school_id": _schools_of(picked.index, reg, pupils).to_numpy(),
            "pupil_id": picked.index.get_level_values("pupil_id").astype(str),
            "year_group": year_group,
            "band_last_term": picked["band_last"].astype(object).to_numpy(),
            "band_this_term": picked["band_this"].astype(object).to_numpy(),
            "rate_last_term": picked["attendance_rate_last"].to_numpy(),
            "rate_this_term": picked["attendance_rate_this"].to_numpy(),
        }
    )
    return out.sort_values(["school_id", "pupil_id"], kind="stable").reset_index(drop=True)


_SLUG_BAD = re.compile(r"[^A-Za-z0-9._-]+")


#: Names Windows keeps for devices, whatever the extension (``CON.txt`` is the console).
_RESERVED_NAMES = frozenset(
    {"CON", "PRN", "AUX", "NUL"} | {f"{d}{i}" for d in ("COM", "LPT") for i in range(1, 10)}
)


def _slug(text: str) -> str:
    """A folder name that cannot leave its parent: letters, digits, ``.``, ``_``, ``-``."""
    slug = _SLUG_BAD.sub("_", text).strip("._") or "school"
    return slug[:64]


def write_tsm_pack(pack: TSMPack, folder: str | Path) -> list[Path]:
    """Write a pack as HTML, CSV and Excel; returns the files written, in order.

    ``folder/`` gets the all-schools tables (``bands.csv``, ``cohorts.csv``,
    ``severe_absence.csv``, ``successes.csv``, ``benchmarks.csv`` and ``tsm_all_schools.xlsx``,
    one sheet each),
    and one sub-folder per school (its id made safe for a file name) with ``tsm.html``,
    ``tsm.xlsx`` and the same five CSV files. Every file is written atomically and every
    spreadsheet cell neutralised against formula injection.
    """
    root = Path(folder)
    root.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for name, frame in pack.tables().items():
        written.append(to_csv(frame, root / f"{name}.csv", index=False))
    written.append(to_excel(pack.tables(), root / "tsm_all_schools.xlsx", index=False))
    # a school's folder never takes the name of a file of the pack (a school id "bands.csv"),
    # nor of another school's folder; names compared as a case-blind file system would
    used: set[str] = {p.name.casefold() for p in written}
    for school in pack.schools:
        one = pack.for_school(school)
        slug, n = _slug(school), 2
        while slug.casefold() in used or slug.split(".")[0].upper() in _RESERVED_NAMES:
            slug, n = f"{_slug(school)}_{n}", n + 1
        used.add(slug.casefold())
        sub = root / slug
        written.append(_write_html(sub / "tsm.html", "tsm.html.j2", _tsm_context(one, school)))
        written.append(to_excel(one.tables(), sub / "tsm.xlsx", index=False))
        for name, frame in one.tables().items():
            written.append(to_csv(frame, sub / f"{name}.csv", index=False))
    return written


# ============================================================================ formatting
def _fmt_date(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, pd.Timestamp | np.datetime64):
        value = pd.Timestamp(value).date()
    if isinstance(value, dt.date):
        return f"{value.day} {value.strftime('%b %Y')}"
    return str(value)


def _number(value: Any) -> float | None:
    """A figure as a float for display; None when missing, NaN or not a number."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else number


def _pct(value: Any, digits: int = 1) -> str:
    """A rate (a fraction) shown as a percentage (``93.2%``); ``–`` when missing."""
    number = _number(value)
    return "–" if number is None else f"{100 * number:.{digits}f}%"


def _points(value: Any) -> str:
    """A change in rate as signed percentage points (``+2.5 pts``)."""
    number = _number(value)
    return "–" if number is None else f"{100 * number:+.1f} pts"


def _days(value: Any) -> str:
    number = float(value)
    return f"{number:,.0f}" if number.is_integer() else f"{number:,.1f}"


def _pupils(n: int) -> str:
    return f"{n:,} pupil" if n == 1 else f"{n:,} pupils"


def _band_colours(scheme: BandScheme) -> dict[str, str]:
    """A band's own colour from its scheme file, else the palette spread over the bands."""
    n = len(scheme.bands)
    last = len(BAND_PALETTE) - 1
    spread = (
        {scheme.bands[0].id: BAND_PALETTE[0]}
        if n == 1
        else {b.id: BAND_PALETTE[round(i * last / (n - 1))] for i, b in enumerate(scheme.bands)}
    )
    return {b.id: b.colour or spread[b.id] for b in scheme.bands}


def _luminance(hex_colour: str) -> float:
    """WCAG 2.x relative luminance of ``#rrggbb``."""

    def channel(c: int) -> float:
        v = c / 255
        return v / 12.92 if v <= 0.04045 else ((v + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(int(hex_colour[i : i + 2], 16)) for i in (1, 3, 5))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast_ratio(foreground: str, background: str) -> float:
    """The WCAG contrast ratio of two ``#rrggbb`` colours (1 to 21)."""
    a, b = sorted((_luminance(foreground), _luminance(background)), reverse=True)
    return (a + 0.05) / (b + 0.05)


#: WCAG AA for normal text.
AA_CONTRAST = 4.5


def _text_colour(hex_colour: str) -> str:
    """Black or white, whichever contrasts more with the background: for any background the
    better of the two is at least 4.58:1, so every badge and chart label meets WCAG AA."""
    dark, light = "#000000", "#ffffff"
    return dark if contrast_ratio(dark, hex_colour) >= contrast_ratio(light, hex_colour) else light


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The rows of a frame as dicts keyed by column name."""
    return [{str(k): v for k, v in rec.items()} for rec in frame.to_dict("records")]


# ============================================================================ charts
# Geometry is computed here and drawn by the templates, so every text goes through Jinja2's
# autoescaping; only numbers reach SVG attributes.
def _band_chart(summary: pd.DataFrame, scheme: BandScheme) -> dict[str, Any]:
    colours = _band_colours(scheme)
    bar_left, bar_width, row_h = 200, 200, 34
    top = max((int(v) for v in summary["pupils"]), default=0)
    rows = []
    for i, band in enumerate(scheme.bands):
        found = band.id in summary.index
        count: Any = summary.at[band.id, "pupils"] if found else 0
        pupils = int(count)
        percent: Any = summary.at[band.id, "percent"] if found else np.nan
        width = 0.0 if top == 0 else bar_width * pupils / top
        rows.append(
            {
                "label": band.label,
                "pupils": pupils,
                "percent": _pct(percent),
                "y": 10 + i * row_h,
                "width": round(max(width, 1.5 if pupils else 0), 1),
                "colour": colours[band.id],
                "text_y": 10 + i * row_h + 17,
                "value_x": round(bar_left + width + 8, 1),
            }
        )
    return {
        "rows": rows,
        "height": 20 + len(rows) * row_h,
        "bar_left": bar_left,
        "width": bar_left + bar_width + 110,
    }


def _trend_chart(weekly: pd.DataFrame) -> dict[str, Any] | None:
    if not len(weekly):
        return None
    width, height = 760, 280
    left, right, top, bottom = 52, 16, 16, 40
    rates = weekly["attendance_rate"].to_numpy(dtype=float)
    low = min(0.90, math.floor(float(rates.min()) * 20) / 20)
    high = 1.0
    weeks = [pd.Timestamp(w).date() for w in weekly.index]
    n = len(weeks)
    plot_w, plot_h = width - left - right, height - top - bottom

    def x(i: int) -> float:
        return round(left + (plot_w * (i + 0.5) / n), 1)

    def y(rate: float) -> float:
        return round(top + plot_h * (high - rate) / (high - low), 1)

    points = [
        {"x": x(i), "y": y(float(r)), "label": f"w/c {_fmt_date(w)}: {_pct(r)}"}
        for i, (w, r) in enumerate(zip(weeks, rates, strict=True))
    ]
    grid = []
    step = 0.05 if high - low > 0.2 else 0.02 if high - low > 0.06 else 0.01
    value = high
    while value >= low - 1e-9:
        grid.append(
            {
                "y": y(value),
                "label": f"{100 * value:.0f}%",
                "ref": abs(value - 0.95) < 1e-9 or abs(value - 0.90) < 1e-9,
            }
        )
        value = round(value - step, 4)
    months, seen = [], set()
    for i, w in enumerate(weeks):
        key = (w.year, w.month)
        if key not in seen:
            seen.add(key)
            months.append({"x": x(i), "label": w.strftime("%b")})
    line = " ".join(f"{p['x']},{p['y']}" for p in points)
    return {
        "width": width,
        "height": height,
        "left": left,
        "right": width - right,
        "top": top,
        "bottom": height - bottom,
        "points": points,
        "line": line,
        "grid": grid,
        "months": months,
        "label_y": height - bottom + 18,
        "ref95": y(0.95),
        "ref90": y(0.90) if low <= 0.90 else None,
    }


def _heat_colour(t: float) -> str:
    """From pale yellow (low absence) to deep red (high), ``t`` in [0, 1]."""
    stops = [(255, 247, 214), (253, 174, 97), (215, 48, 39), (127, 0, 0)]
    t = min(max(t, 0.0), 1.0) * (len(stops) - 1)
    i = min(int(t), len(stops) - 2)
    f = t - i
    r, g, b = (round(a + (c - a) * f) for a, c in zip(stops[i], stops[i + 1], strict=True))
    return f"#{r:02x}{g:02x}{b:02x}"


def _heat_map(profile: pd.DataFrame) -> dict[str, Any] | None:
    if not len(profile):
        return None
    days = [
        d
        for d in ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
        if d in profile.index.get_level_values("weekday")
    ]
    rates = profile["absence_rate"].to_numpy(dtype=float)
    lo, hi = float(np.nanmin(rates)), float(np.nanmax(rates))
    cell_w, cell_h, left, top = 120, 40, 110, 30
    cells = []
    for r, day in enumerate(days):
        for c, session in enumerate(("AM", "PM")):
            if (day, session) not in profile.index:
                continue
            row: Any = profile.loc[(day, session)]
            rate = float(row["absence_rate"])
            t = 0.5 if hi == lo else (rate - lo) / (hi - lo)
            colour = _heat_colour(0.15 + 0.8 * t)
            cells.append(
                {
                    "x": left + c * cell_w,
                    "y": top + r * cell_h,
                    "colour": colour,
                    "text": _pct(rate),
                    "text_colour": _text_colour(colour),
                    "tx": left + c * cell_w + cell_w / 2,
                    "ty": top + r * cell_h + cell_h / 2 + 5,
                    "title": f"{day.capitalize()} {session}: {int(row['absent']):,} of "
                    f"{int(row['possible']):,} sessions missed",
                }
            )
    return {
        "cells": cells,
        "cell_w": cell_w,
        "cell_h": cell_h,
        "rows": [
            {"label": d.capitalize(), "y": top + i * cell_h + cell_h / 2 + 5}
            for i, d in enumerate(days)
        ],
        "columns": [
            {"label": s, "x": left + i * cell_w + cell_w / 2} for i, s in enumerate(("AM", "PM"))
        ],
        "width": left + 2 * cell_w + 10,
        "height": top + len(days) * cell_h + 10,
        "low": _pct(lo),
        "high": _pct(hi),
    }


# ============================================================================ HTML
def _html_text(value: Any) -> Any:
    """A value as the HTML report shows it: control characters HTML cannot hold (an ``ESC``
    in a pupil id) as visible escapes, as in ``.xlsx``; markup already made safe is kept."""
    from markupsafe import Markup

    from .io import excel_text

    if isinstance(value, str) and not isinstance(value, Markup):
        return excel_text(value)
    return value


def _environment() -> Any:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("attendance_core", "templates"),
        autoescape=True,
        finalize=_html_text,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["pct"] = _pct
    env.filters["points"] = _points
    env.filters["days"] = _days
    env.filters["date"] = _fmt_date
    env.filters["thousands"] = lambda v: f"{int(v):,}"
    env.filters["blank"] = lambda v: "" if v is None or pd.isna(v) else v
    return env


def _write_html(path: Path, template: str, context: Mapping[str, Any]) -> Path:
    from .io import write_text_atomic

    html = _environment().get_template(template).render(**context)
    write_text_atomic(path, html)
    return path


def _band_table_rows(bands: pd.DataFrame, scheme: BandScheme) -> list[dict[str, Any]]:
    colours = _band_colours(scheme)
    rows = []
    for rec in _records(bands):
        colour = colours.get(str(rec["band"]), "#777777")
        rows.append({**rec, "colour": colour, "text_colour": _text_colour(colour)})
    return rows


def _tsm_context(pack: TSMPack, school: str) -> dict[str, Any]:
    scheme = band_scheme(DEFAULT_SCHEME)
    summary = pack.bands.set_index("band")
    chart = _band_chart(
        summary.rename(columns={"pupils_year": "pupils", "percent_year": "percent"}), scheme
    )
    return {
        "school": school or "School",
        "as_of": pack.as_of,
        "term": pack.term,
        "last_term": pack.last_term,
        "band_chart": chart,
        "bands": _band_table_rows(pack.bands, scheme),
        "cohorts": _records(pack.cohorts),
        "severe": _records(pack.severe),
        "successes": _records(pack.successes),
        "labels": {b.id: b.label for b in scheme.bands},
        "comparison": _comparison_table(pack.comparison),
    }


def _school_comparison_rows(
    reg: Register, pupils: pd.DataFrame | None, day: dt.date, benchmarks: Any
) -> list[dict[str, Any]]:
    """For a trust report: each school's own and DfE-method rates, measure by measure."""
    if not reg.has_schools:
        return []
    frame = _school_comparisons(reg, pupils, day, sorted(str(s) for s in reg.schools), benchmarks)
    mine = frame[frame["source"].isin(["school", "dfe_method"])]
    rows = []
    for school, part in mine.groupby("school_id", sort=True):
        got = part.set_index(["measure", "source"])["rate"]
        rows.append(
            {
                "school": str(school),
                "cells": [
                    _pct(got.get((measure, source), np.nan))
                    for measure, _ in _MEASURES
                    for source in ("school", "dfe_method")
                ],
            }
        )
    return rows


#: The titles of the school's own columns in :attr:`TSMPack.comparison` (the rest are benchmarks).
_OWN_TITLES = ("This school", "DfE method")


def _comparison_table(frame: pd.DataFrame) -> dict[str, Any]:
    """:attr:`TSMPack.comparison` of one school as printed: a column per source."""
    titles = list(dict.fromkeys(frame["title"]))
    rows = []
    for label, part in frame.groupby("label", sort=False):
        by_title = dict(zip(part["title"], part["rate"], strict=True))
        rows.append(
            {
                "label": str(label),
                "cells": [
                    _pct(by_title[t])
                    if not pd.isna(by_title.get(t, np.nan))
                    else "–"
                    if t in _OWN_TITLES
                    else "not published"
                    for t in titles
                ],
            }
        )
    return {"titles": titles, "rows": rows}


def _need_rank(figures: pd.DataFrame, scheme: BandScheme) -> pd.DataFrame:
    """Enrolments with possible sessions, most in need first: worst band, then lowest rate,
    then most unauthorised absence, then pupil id."""
    order = {b: i for i, b in enumerate(scheme.band_ids)}
    ranked = figures[figures["possible"] > 0].copy()
    ranked["_band"] = ranked["band"].astype(object).map(order).fillna(-1).to_numpy()
    ranked["_pid"] = ranked.index.get_level_values("pupil_id").astype(str)
    return ranked.sort_values(
        ["_band", "attendance_rate", "unauthorised", "_pid"],
        ascending=[False, True, False, True],
        kind="stable",
    )


def _headline_cards(figures: pd.DataFrame) -> list[dict[str, str]]:
    """The headline cards of a page: attendance, the last 4 weeks, persistent and severe
    absence and days missed, from :func:`~attendance_core.patterns.pupil_patterns` figures."""
    possible = int(figures["possible"].sum())
    attended = int(figures["attended"].sum())
    absent = figures["absent"].to_numpy(dtype=np.int64)
    poss = figures["possible"].to_numpy(dtype=np.int64)
    banded = int((poss > 0).sum())
    pa, sa = persistent_and_severe(absent, poss)
    persistent, severe = int(pa.sum()), int(sa.sum())
    p4 = int(figures["possible_4_weeks"].sum())
    a4 = int(figures["attended_4_weeks"].sum())
    headline = [
        {
            "label": "Attendance, year to date",
            "value": _pct(attended / possible if possible else np.nan),
            "note": f"{attended:,} of {possible:,} possible sessions",
        },
        {
            "label": "Last 4 school weeks",
            "value": _pct(a4 / p4 if p4 else np.nan),
            "note": _points((a4 / p4 - attended / possible) if p4 and possible else np.nan)
            + " on the year",
        },
        {
            "label": "Persistent absence",
            "value": _pct(persistent / banded if banded else np.nan),
            "note": f"{_pupils(persistent)} missing 10% or more",
        },
        {
            "label": "Severe absence",
            "value": _pct(severe / banded if banded else np.nan),
            "note": f"{_pupils(severe)} missing 50% or more",
        },
        {
            "label": "Days missed",
            "value": _days(float(absent.sum()) / 2),
            "note": f"by {_pupils(banded)} this academic year",
        },
    ]
    return headline


def _unbanded_note(figures: pd.DataFrame, scheme: BandScheme) -> str:
    """The pupils a scheme's ``min_possible_sessions`` keeps out of the bands, as a sentence
    ("" when the scheme has no minimum or no pupil falls short)."""
    least = scheme.min_possible_sessions
    poss = figures["possible"].to_numpy(dtype=np.int64)
    n = int(((poss > 0) & (poss < least)).sum()) if least else 0
    if not n:
        return ""
    verb = "is" if n == 1 else "are"
    return (
        f"{_pupils(n)} with fewer than {least} possible sessions {verb} counted apart, not banded."
    )


def _pattern_flags(rec: Mapping[str, Any]) -> list[str]:
    """The patterns worth a line beside a pupil in most need (weekdays, illness, spells,
    trend)."""
    flags = []
    if rec["friday_flag"]:
        flags.append(f"Fridays ({_pct(rec['friday_share'], 0)} of absence)")
    if rec["monday_flag"]:
        flags.append(f"Mondays ({_pct(rec['monday_share'], 0)} of absence)")
    if rec["repeated_illness"]:
        flags.append(f"{int(rec['illness_spells'])} illness spells")
    if rec["longest_spell"] >= 5:
        flags.append(f"longest spell {int(rec['longest_spell'])} days")
    if rec["trend"] == "worsening":
        flags.append("worsening")
    return flags


def _need_rows(
    reg: Register,
    figures: pd.DataFrame,
    pupils: pd.DataFrame | None,
    scheme: BandScheme,
    *,
    steps: pd.DataFrame,
    top: int,
) -> list[dict[str, Any]]:
    """The ``top`` pupils most in need of action, each with its figures, patterns and steps."""
    ranked = _need_rank(figures, scheme).head(top)
    by_pupil = _steps_by_enrolment(steps, ranked.index.get_level_values("pupil_id"))
    names = _pupil_values(ranked.index, pupils, "name")
    years = _pupil_values(ranked.index, pupils, "year_group")
    colours = _band_colours(scheme)
    labels = {b.id: b.label for b in scheme.bands}
    has_schools = "school_id" in (ranked.index.names or [])
    need = []
    for i, (key, rec) in enumerate(zip(ranked.index, _records(ranked), strict=True)):
        school = str(key[0]) if has_schools else ""
        pupil = str(key[1]) if has_schools else str(key)
        school_key = (
            "" if reg.school_ids is None else (school if has_schools else str(reg.schools[0]))
        )
        band = str(rec["band"])
        name, year = names[i], years[i]
        need.append(
            {
                "school": school,
                "pupil_id": pupil,
                "name": "" if name is None or pd.isna(name) else str(name),
                "year": "" if year is None or pd.isna(year) else str(year),
                "rate": _pct(rec["attendance_rate"]),
                "band": labels.get(band, band),
                "colour": colours.get(band, "#777777"),
                "text_colour": _text_colour(colours.get(band, "#777777")),
                "days_missed": _days(rec["days_missed"]),
                "unauthorised": int(rec["unauthorised"]),
                "change": _points(rec["change_4_weeks"]),
                "flags": _pattern_flags(rec),
                "steps": by_pupil.get((school_key, pupil), []),
            }
        )
    return need


def _school_rows(reg: Register, figures: pd.DataFrame, scheme: BandScheme) -> list[dict[str, Any]]:
    """One row a school of a trust's register: pupils, attendance, PA/SA and band counts."""
    if not reg.has_schools:
        return []
    schools = []
    for school, part in figures.groupby(level="school_id", sort=True):
        possible = part["possible"].to_numpy(dtype=np.int64)
        p, a = int(possible.sum()), int(part["attended"].sum())
        persistent, severe = persistent_and_severe(part["absent"], possible)
        nb = int((possible > 0).sum())
        band_counts = (
            part["band"].value_counts(sort=False).reindex(list(scheme.band_ids), fill_value=0)
        )
        schools.append(
            {
                "bands": [int(band_counts[b]) for b in scheme.band_ids],
                "school": str(school),
                "pupils": len(part),
                "rate": _pct(a / p if p else np.nan),
                "persistent": _pct(int(persistent.sum()) / nb if nb else np.nan),
                "severe": _pct(int(severe.sum()) / nb if nb else np.nan),
            }
        )
    return schools


def _report_title(reg: Register, pupils: pd.DataFrame | None, title: str | None) -> str:
    if title:
        return title
    if reg.has_schools:
        return "Attendance report"
    if reg.school_ids is None:
        return f"Attendance report: {_school_label(reg, pupils) or 'school'}"
    return f"Attendance report: {reg.schools[0]}"


def _report_context(
    reg: Register,
    *,
    pupils: pd.DataFrame | None,
    scheme: BandScheme,
    day: dt.date,
    top: int,
    title: str | None,
    generated_at: dt.datetime | None,
    benchmarks: Any = None,
) -> dict[str, Any]:
    year_first = academic_year_start(day)
    figures = pupil_patterns(reg, day, scheme=scheme)
    steps = next_steps(reg, pupils=pupils, as_of=day)
    colours = _band_colours(scheme)
    return {
        "title": _report_title(reg, pupils, title),
        "as_of": day,
        "year_first": year_first,
        "term": term_of(day),
        "scheme": scheme.title or scheme.id,
        "generated_at": generated_at,
        "headline": _headline_cards(figures),
        "band_chart": _band_chart(band_summary(figures), scheme),
        "unbanded": _unbanded_note(figures, scheme),
        "trend_chart": _trend_chart(weekly_attendance(reg, year_first, day)),
        "heat_map": _heat_map(group_weekday_profile(reg, year_first, day)),
        "cohorts": _cohort_rows(figures, pupils),
        "need": _need_rows(reg, figures, pupils, scheme, steps=steps, top=top),
        "top": top,
        "schools": _school_rows(reg, figures, scheme),
        "pupils_total": len(figures),
        "steps_total": len(steps),
        "band_heads": [
            {"label": b.label, "colour": colours[b.id], "text_colour": _text_colour(colours[b.id])}
            for b in scheme.bands
        ],
        "comparison": _comparison(reg, pupils, day, benchmarks),
        "school_comparison": _school_comparison_rows(reg, pupils, day, benchmarks),
        "year_groups": _year_group_rows(reg, pupils, day),
        "reasons": _reason_rows(reg, year_first, day),
        "year_on_year": _year_on_year_rows(reg, day),
    }


_MEASURES = (
    ("overall_absence_rate", "Overall absence"),
    ("authorised_absence_rate", "Authorised absence"),
    ("unauthorised_absence_rate", "Unauthorised absence"),
    ("persistent_absence_rate", "Persistent absence (10% or more)"),
    ("severe_absence_rate", "Severe absence (50% or more)"),
)


def _comparison(
    reg: Register, pupils: pd.DataFrame | None, day: dt.date, extra: Any
) -> dict[str, Any]:
    """The school's own figures, the DfE-comparable ones and the benchmarks, measure by measure,
    as printed (:func:`_comparison_values` gives the numbers)."""
    values = _comparison_values(reg, pupils, day, extra)
    own, dfe, columns = values["own"], values["dfe"], values["benchmarks"]
    rows = []
    for i, (measure, label) in enumerate(_MEASURES):
        rows.append(
            {
                "label": label,
                "own": _pct(own.get(measure, np.nan)),
                "dfe": _pct(dfe.get(measure, np.nan)) if dfe else "–",
                "benchmarks": [
                    _pct(c["values"][i]) if not pd.isna(c["values"][i]) else "not published"
                    for c in columns
                ],
            }
        )
    return {
        "year": values["year"],
        "rows": rows,
        "benchmarks": columns,
        "note": values["note"],
        "dfe_enrolments": int(dfe["enrolments"]) if dfe else None,
    }


def _comparison_values(
    reg: Register, pupils: pd.DataFrame | None, day: dt.date, extra: Any
) -> dict[str, Any]:
    """The numbers behind :func:`_comparison`: ``own`` and ``dfe`` (measure → rate; ``dfe``
    None when the DfE method cannot be applied, ``note`` says why), and ``benchmarks``, each
    with its ``id``, ``title``, ``release`` and ``values`` in :data:`_MEASURES` order."""
    from .dfe import AcademicYear, dfe_statistics, reconcile
    from .dfe import benchmarks as load_benchmarks
    from .errors import AttendanceError

    year = AcademicYear.of(academic_year_number(day))
    upto = reg.select(end=day)
    own: dict[Any, Any] = {}
    dfe: dict[Any, Any] | None = None
    note = ""
    try:
        rec = reconcile(upto, pupils, year=year)
        own = rec.loc["outside_year"].to_dict()  # every enrolment, the year's marks
        dfe = dfe_statistics(upto, pupils, year=year).iloc[0].to_dict()
        removed = rec[rec["enrolments_removed"] > 0]
        note = "; ".join(
            f"{str(text).split(':')[0]}: {int(n)} enrolment(s)"
            for text, n in zip(removed["explanation"], removed["enrolments_removed"], strict=True)
        )
    except AttendanceError as exc:
        note = str(exc)
        from .measures import counts

        t = counts(upto, year.start, day)
        p = int(t["possible"].sum())
        poss, absent = t["possible"].to_numpy(), t["absent"].to_numpy()
        pa, sa = persistent_and_severe(absent, poss)
        n = int((poss > 0).sum())
        own = {
            "overall_absence_rate": int(t["absent"].sum()) / p if p else np.nan,
            "authorised_absence_rate": int(t["authorised"].sum()) / p if p else np.nan,
            "unauthorised_absence_rate": int(t["unauthorised"].sum()) / p if p else np.nan,
            "persistent_absence_rate": int(pa.sum()) / n if n else np.nan,
            "severe_absence_rate": int(sa.sum()) / n if n else np.nan,
        }
    frames = [load_benchmarks()]
    if extra is not None:
        frames.append(extra if isinstance(extra, pd.DataFrame) else load_benchmarks(extra))
    columns = []
    for frame in frames:
        for name in frame.index.get_level_values("benchmark").unique():
            part = frame.xs(name, level="benchmark")
            # the benchmark of this year when there is one, else its latest year
            label = year.label if year.label in part.index else sorted(part.index)[-1]
            rec_b = part.loc[label]
            columns.append(
                {
                    "id": str(name),
                    "title": f"{rec_b['title']} {label}",
                    "release": rec_b.get("release") or "",
                    "values": [rec_b[m] for m, _ in _MEASURES],
                }
            )
    return {"year": year.label, "own": own, "dfe": dfe, "benchmarks": columns, "note": note}


def _year_group_rows(
    reg: Register, pupils: pd.DataFrame | None, day: dt.date
) -> list[dict[str, Any]]:
    if pupils is None or "year_group" not in pupils.columns:
        return []
    table = year_group_summary(reg, pupils, day)
    return [
        {
            "year_group": str(name),
            "pupils": int(r["pupils"]),
            "rate": _pct(r["attendance_rate"]),
            "persistent": _count_and_rate(r["persistent_absentees"], r["persistent_absence_rate"]),
            "severe": _count_and_rate(r["severe_absentees"], r["severe_absence_rate"]),
        }
        for name, r in table.iterrows()
    ]


def _count_and_rate(n: Any, rate: Any) -> str:
    return f"{int(n)} ({_pct(rate, 0)})"


def _reason_rows(reg: Register, first: dt.date, day: dt.date) -> list[dict[str, Any]]:
    table = absence_by_reason(reg, first, day)
    return [
        {
            "label": r["label"],
            "sessions": int(r["sessions"]),
            "share": _pct(r["share"], 0),
            "rate": _pct(r["rate"]),
        }
        for _, r in table.iterrows()
        if int(r["sessions"]) > 0
    ]


def _year_on_year_rows(reg: Register, day: dt.date) -> list[dict[str, Any]]:
    table = year_on_year(reg, day)
    if table is None:
        return []
    names = {"this_year": "This year", "last_year": "Same period last year"}
    return [
        {
            "period": f"{names[str(k)]} ({_fmt_date(r['start'])} – {_fmt_date(r['end'])})",
            "rate": _pct(r["attendance_rate"]),
            "persistent": _pct(r["persistent_absence_rate"]),
            "severe": _pct(r["severe_absence_rate"]),
        }
        for k, r in table.iterrows()
    ]


def _cohort_rows(figures: pd.DataFrame, pupils: pd.DataFrame | None) -> list[dict[str, Any]]:
    """The cohort table of the HTML report: priority cohorts, then the other flags."""
    from .patterns import cohort_summary

    table = cohort_summary(
        figures, pupils, by_school=False, cohorts=PRIORITY_COHORTS + OTHER_COHORTS
    )
    return [{"cohort": key, **rec} for key, rec in zip(table.index, _records(table), strict=True)]


def html_report(
    reg: Register,
    path: str | Path,
    pupils: pd.DataFrame | None = None,
    scheme: str | Path | Mapping[str, Any] | BandScheme = "five-band",
    as_of: Any = None,
    *,
    top: int = 20,
    title: str | None = None,
    generated_at: dt.datetime | None = None,
    benchmarks: Any = None,
) -> Path:
    """Write one self-contained HTML report of the register, academic year to ``as_of``.

    The page shows headline figures, the band distribution (``scheme``), attendance week by
    week, a weekday × AM/PM heat map of absence, the cohort table (domain.md §6; flags from
    ``pupils``), a table per school when there are several, and the ``top`` pupils most in
    need (worst band, then lowest attendance) with their patterns and the next steps
    :func:`~attendance_core.recommend` gives. Styles and SVG charts are inline, with no script
    and no network resource, so it opens anywhere and prints well. Text is escaped (a pupil
    called ``<script>`` shows as text). Deterministic: a timestamp appears only when
    ``generated_at`` is given. Written atomically; returns the path.
    """
    bands = band_scheme(scheme)
    day = resolve_as_of(reg, as_of)
    context = _report_context(
        reg,
        pupils=pupils,
        scheme=bands,
        day=day,
        top=top,
        title=title,
        generated_at=generated_at,
        benchmarks=benchmarks,
    )
    return _write_html(Path(path), "report.html.j2", context)


# ============================================================================ peers' views
def _reason_groups() -> list[dict[str, Any]]:
    import tomllib
    from importlib import resources

    text = (
        resources.files("attendance_core") / "data" / "reports" / "reason-groups.toml"
    ).read_text("utf-8")
    groups: list[dict[str, Any]] = tomllib.loads(text)["groups"]
    return groups


def _reason_of_ids(reg: Register) -> npt.NDArray[np.int64]:
    """The reason-group position of each code id (-1: not an absence)."""
    groups = _reason_groups()
    tags_of: dict[tuple[str, str], frozenset[str]] = {
        (cs.id, c.code): frozenset(getattr(c, "tags", ()))
        for cs in reg.codes.sets
        for c in cs.codes
    }
    out = np.full(256, -1, dtype=np.int64)
    for i, (set_id, code, cat) in enumerate(reg.codes.entries):
        if cat is None or not cat.absence:
            continue
        tags = tags_of.get((set_id, code), frozenset())
        for g, group in enumerate(groups):
            if (set(group.get("tags", ())) & tags) or group.get("category") == cat.value:
                out[i] = g
                break
    return out


def absence_by_reason(
    reg: Register,
    start: Any = None,
    end: Any = None,
    *,
    by: str | None = None,
    pupils: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Absent sessions by reason group (illness, medical, holiday, unexplained, late after the
    register closed, other authorised, other unauthorised), read from each code's tags and
    category (``data/reports/reason-groups.toml``).

    One row per group (per ``by`` value and group with ``by``: ``"school_id"`` or a column of
    ``pupils``): ``label``, ``sessions`` (int), ``share`` of the absent sessions and ``rate`` =
    sessions ÷ possible sessions (fractions in [0, 1]). Marks from ``start`` to ``end``
    inclusive, inside each enrolment's span.
    """
    from .measures import counts

    groups = _reason_groups()
    lut = _reason_of_ids(reg)
    cols = reg.columns_between(start, end)
    rows = np.flatnonzero(reg.enrolments_in(start, end))
    sub = reg.marks[rows, cols]
    ordinals = reg.session_ordinals[cols]
    span = reg.span[rows]
    inspan = (ordinals[None, :] >= span[:, :1]) & (ordinals[None, :] <= span[:, 1:])
    reason = np.where(inspan, lut[sub], -1)
    per_row = np.stack(
        [np.count_nonzero(reason == g, axis=1) for g in range(len(groups))], axis=1
    ).astype(np.int64)
    possible = counts(reg, start, end)["possible"].to_numpy(dtype=np.int64)
    index = reg.index(rows)
    if by is None:
        keys = np.zeros(len(rows), dtype=object)
    elif by == "school_id" and "school_id" in (index.names or []):
        keys = np.asarray(index.get_level_values("school_id"), dtype=object)
    elif pupils is not None and by in pupils.columns:
        keys = pupil_column(index, pupils, by).to_numpy(dtype=object)
    else:
        raise KeyError(f"{by!r} is neither school_id nor a column of the pupils table")
    out = []
    key_series = pd.Series(keys).astype(str).where(pd.Series(keys).notna(), "")
    for value in sorted(key_series.unique()) if len(rows) else ([""] if by is None else []):
        mask = (key_series == value).to_numpy()
        sessions = per_row[mask].sum(axis=0)
        total, poss = int(sessions.sum()), int(possible[mask].sum())
        for g, group in enumerate(groups):
            n = int(sessions[g])
            row = {
                "reason": group["id"],
                "label": group["label"],
                "sessions": n,
                "share": n / total if total else np.nan,
                "rate": n / poss if poss else np.nan,
            }
            if by is not None:
                row = {by: value, **row}
            out.append(row)
    frame = pd.DataFrame(
        out, columns=[*([by] if by else []), "reason", "label", "sessions", "share", "rate"]
    )
    frame["sessions"] = frame["sessions"].astype(np.int64)
    return frame.set_index([*([by] if by else []), "reason"])


def year_group_summary(
    reg: Register, pupils: pd.DataFrame | None, as_of: Any = None
) -> pd.DataFrame:
    """Attendance by year group, academic year to ``as_of``: ``pupils``, ``possible``,
    ``attended``, ``attendance_rate`` (Σ attended ÷ Σ possible), ``persistent_absentees`` and
    ``persistent_absence_rate`` (10% or more), ``severe_absentees`` and ``severe_absence_rate``
    (50% or more), rates over pupils with a possible session. Year groups sort by national
    curriculum year (nursery, Reception, Year 1 …); an unknown year group is ``"unknown"``."""
    from .age import year_group_number
    from .measures import counts

    day = resolve_as_of(reg, as_of)
    table = counts(reg, academic_year_start(day), day)
    groups = (
        pupil_column(table.index, pupils, "year_group")
        if pupils is not None and "year_group" in pupils.columns
        else pd.Series([None] * len(table), dtype=object)
    )
    label = groups.map(lambda v: "unknown" if v is None or pd.isna(v) else str(v))
    poss = table["possible"].to_numpy(dtype=np.int64)
    att = table["attended"].to_numpy(dtype=np.int64)
    absent = poss - att
    persistent, severe = persistent_and_severe(absent, poss)
    rows = []
    for value in label.unique():
        m = (label == value).to_numpy()
        p, a = int(poss[m].sum()), int(att[m].sum())
        counted = m & (poss > 0)
        n = int(counted.sum())
        pa = int((counted & persistent).sum())
        sa = int((counted & severe).sum())
        rows.append(
            {
                "year_group": value,
                "pupils": int(m.sum()),
                "possible": p,
                "attended": a,
                "attendance_rate": a / p if p else np.nan,
                "persistent_absentees": pa,
                "persistent_absence_rate": pa / n if n else np.nan,
                "severe_absentees": sa,
                "severe_absence_rate": sa / n if n else np.nan,
            }
        )

    def order(row: dict[str, Any]) -> tuple[int, str]:
        number = year_group_number(row["year_group"])
        return (99 if number is None else number, str(row["year_group"]))

    rows.sort(key=order)
    frame = pd.DataFrame(rows)
    if not len(frame):
        return frame
    return frame.set_index("year_group")


def year_on_year(reg: Register, as_of: Any = None) -> pd.DataFrame | None:
    """This academic year to ``as_of`` against the same part of last year, when the register
    holds marks of last year (else None): rows ``this_year`` and ``last_year`` with ``start``,
    ``end``, ``possible``, ``attended``, ``attendance_rate``, ``persistent_absence_rate`` and
    ``severe_absence_rate`` (over enrolments with a possible session)."""
    from .measures import counts

    day = resolve_as_of(reg, as_of)
    first = academic_year_start(day)
    last_first, last_day = year_before(day)
    if last_first > last_day or not len(reg.dates) or pd.Timestamp(reg.dates[0]).date() > last_day:
        return None
    rows = []
    for name, lo, hi in (("this_year", first, day), ("last_year", last_first, last_day)):
        t = counts(reg, lo, hi)
        poss = t["possible"].to_numpy(dtype=np.int64)
        att = t["attended"].to_numpy(dtype=np.int64)
        persistent, severe = persistent_and_severe(poss - att, poss)
        n = int((poss > 0).sum())
        p, a = int(poss.sum()), int(att.sum())
        rows.append(
            {
                "period": name,
                "start": lo,
                "end": hi,
                "possible": p,
                "attended": a,
                "attendance_rate": a / p if p else np.nan,
                "persistent_absence_rate": int(persistent.sum()) / n if n else np.nan,
                "severe_absence_rate": int(severe.sum()) / n if n else np.nan,
            }
        )
    if rows[1]["possible"] == 0:
        return None
    return pd.DataFrame(rows).set_index("period")
