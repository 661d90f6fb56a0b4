"""Pages people print: the governor summary and parent letters.

:func:`governor_summary` writes one A4 page per school for the governing board or the trust
board: the headline figures, the bands, attendance week by week and the school against the
DfE-comparable figures and the benchmarks. It names no pupil.

:func:`parent_letters` renders the figures of :func:`~attendance_core.letter_data` into short
personalised letters (domain.md §9: days missed, compared with the year group, the recent
trend), one letter a page, ready to print. The letter is a Jinja2 template that an LA or a
school can replace with its own; the library never sends anything.

Both write one self-contained HTML file (inline CSS and SVG, no script, no network resource),
escaped by Jinja2's autoescaping, atomically; the same register gives the same bytes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .bands import DEFAULT_SCHEME, BandScheme, band_scheme
from .calendar import academic_year_start
from .errors import AttendanceError
from .patterns import pupil_column, pupil_patterns, resolve_as_of, term_of, weekly_attendance
from .register import Register
from .reports import (
    _band_chart,
    _comparison,
    _days,
    _environment,
    _headline_cards,
    _pct,
    _points,
    _school_label,
    _text_colour,
    _trend_chart,
    _unbanded_note,
    band_summary,
    letter_data,
)

__all__ = ["LETTER_FIELDS", "governor_summary", "parent_letters"]


# ============================================================================ governors
def _school_pupils(pupils: pd.DataFrame | None, school: str | None) -> pd.DataFrame | None:
    """The rows of ``pupils`` of one school (all of them when it has no ``school_id``)."""
    if pupils is None or school is None or "school_id" not in pupils.columns:
        return pupils
    return pupils[pupils["school_id"].astype(str) == school]


def _band_rows(chart: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The band chart's rows for a printed table: badge colours meeting WCAG AA and each bar's
    length as a percentage of the longest."""
    top = max((int(r["pupils"]) for r in chart["rows"]), default=0)
    return [
        {
            **r,
            "text_colour": _text_colour(r["colour"]),
            "bar": round(100 * int(r["pupils"]) / top, 1) if top else 0.0,
        }
        for r in chart["rows"]
    ]


def _governor_page(
    reg: Register,
    pupils: pd.DataFrame | None,
    *,
    scheme: BandScheme,
    day: dt.date,
    school: str,
    n: int,
    benchmarks: Any,
) -> dict[str, Any]:
    year_first = academic_year_start(day)
    figures = pupil_patterns(reg, day, scheme=scheme)
    weekly = weekly_attendance(reg, year_first, day)
    return {
        "school": school,
        "n": n,
        "pupils": len(figures),
        "headline": _headline_cards(figures),
        "bands": _band_rows(_band_chart(band_summary(figures), scheme)),
        "unbanded": _unbanded_note(figures, scheme),
        "trend_chart": _trend_chart(weekly),
        "comparison": _comparison(reg, pupils, day, benchmarks),
    }


def governor_summary(
    reg: Register,
    path: str | Path,
    pupils: pd.DataFrame | None = None,
    as_of: Any = None,
    *,
    scheme: str | Path | Mapping[str, Any] | BandScheme = DEFAULT_SCHEME,
    benchmarks: Any = None,
    title: str | None = None,
    generated_at: dt.datetime | None = None,
) -> Path:
    """Write the governor summary: one printable A4 page per school, academic year to ``as_of``.

    Each page gives the school's headline figures (attendance, the last 4 school weeks,
    persistent and severe absence, days missed), the pupils in each band of ``scheme``,
    attendance week by week with the 95% line, and the school's figures beside the
    DfE-comparable ones (:func:`~attendance_core.dfe_statistics`), the DfE's national figures
    and ``benchmarks`` (an LA's or a trust's file, as :func:`~attendance_core.benchmarks`
    reads). Schools come in id order, each on its own calendar; a register without
    ``school_id`` is one school, named from ``pupils`` when it has a single ``school_id``.
    No pupil is named or identified on the page. ``as_of`` defaults to the latest date with a
    mark; a timestamp appears only when ``generated_at`` is given. Written atomically; returns
    the path.
    """
    from .io import write_text_atomic

    bands = band_scheme(scheme)
    day = resolve_as_of(reg, as_of)
    pages = []
    if reg.school_ids is None:
        pages.append(
            _governor_page(
                reg,
                pupils,
                scheme=bands,
                day=day,
                school=_school_label(reg, pupils),
                n=1,
                benchmarks=benchmarks,
            )
        )
    else:
        for n, school in enumerate(sorted(str(s) for s in reg.schools), start=1):
            one = reg.select(schools=[school])
            pages.append(
                _governor_page(
                    one,
                    _school_pupils(pupils, school),
                    scheme=bands,
                    day=day,
                    school=school,
                    n=n,
                    benchmarks=benchmarks,
                )
            )
    context = {
        "title": title or "Attendance summary for governors",
        "as_of": day,
        "year_first": academic_year_start(day),
        "term": term_of(day),
        "scheme": bands.title or bands.id,
        "generated_at": generated_at,
        "pages": pages,
    }
    html = _environment().get_template("governors.html.j2").render(**context)
    target = Path(path)
    write_text_atomic(target, html)
    return target


# ============================================================================ parent letters
#: The fields each letter's template receives (besides ``pupil``, ``school_name``,
#: ``signed_by``, ``as_of``, ``year_first`` and ``extra``), documented for template authors.
LETTER_FIELDS: tuple[tuple[str, str], ...] = (
    ("pupil_id", "the pupil's id"),
    ("school_id", "the school's id ('' when the register has none)"),
    ("name", "the pupil's name from the pupils table's 'name' column ('' when absent)"),
    ("year_group", "the pupil's year group ('' when unknown)"),
    ("days_missed", "days missed this academic year (absent sessions / 2; a float, 7.5)"),
    ("days_text", "days missed as printed ('7.5', '12')"),
    ("sessions_missed", "absent sessions (an integer)"),
    ("possible", "possible sessions (an integer)"),
    ("attendance_rate", "attended / possible (a fraction in [0, 1])"),
    ("attendance", "the attendance rate as printed ('91.2%')"),
    ("year_group_rate", "the year group's attendance rate (a fraction; NaN when unknown)"),
    ("year_group_attendance", "the year group's rate as printed ('' when unknown)"),
    ("change", "last 4 school weeks' rate minus the 4 before them (a fraction; NaN)"),
    ("change_text", "the change as printed ('+2.0 pts'; '' when unknown)"),
    ("trend", "'improved', 'fallen', 'steady' or '' (unknown), from change"),
)

#: A change of less than this (either way) reads as steady in a letter: half a point.
STEADY_CHANGE = 0.005


def _letter_environment(template: str | Path | None) -> tuple[Any, str]:
    """A sandboxed Jinja2 environment for letters and the name of the letter template.

    A user's template is read from its own folder (it may include or extend the package's
    templates) in a sandbox, with autoescaping on: a replaced letter cannot reach Python."""
    import jinja2
    import jinja2.sandbox

    base = _environment()
    loaders: list[Any] = []
    name = "letter.html.j2"
    if template is not None:
        file = Path(template)
        if not file.is_file():
            raise AttendanceError(f"{file}: no such letter template")
        loaders.append(jinja2.FileSystemLoader(str(file.parent)))
        name = file.name
    loaders.append(jinja2.PackageLoader("attendance_core", "templates"))
    env = jinja2.sandbox.SandboxedEnvironment(
        loader=jinja2.ChoiceLoader(loaders),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(base.filters)
    return env, name


def _text(value: Any) -> str:
    return "" if value is None or (not isinstance(value, str) and pd.isna(value)) else str(value)


def _trend_word(change: float) -> str:
    if np.isnan(change):
        return ""
    if change >= STEADY_CHANGE:
        return "improved"
    if change <= -STEADY_CHANGE:
        return "fallen"
    return "steady"


def _pupil_records(index: pd.Index, pupils: pd.DataFrame | None) -> list[dict[str, Any]]:
    """Every pupils-table column of each enrolment of ``index`` (empty dicts without one)."""
    if pupils is None:
        return [{} for _ in range(len(index))]
    columns = [c for c in pupils.columns if c != "pupil_id"]
    values = {c: pupil_column(index, pupils, c).to_numpy(dtype=object) for c in columns}
    return [
        {c: (None if _text(values[c][i]) == "" else values[c][i]) for c in columns}
        for i in range(len(index))
    ]


def parent_letters(
    reg: Register,
    path: str | Path,
    pupils: pd.DataFrame | None = None,
    as_of: Any = None,
    *,
    pupil_ids: Iterable[str] | None = None,
    below: float | None = None,
    template: str | Path | None = None,
    school_name: str | None = None,
    signed_by: str = "The attendance team",
    extra: Mapping[str, Any] | None = None,
) -> Path:
    """Write parent letters, one a page, from :func:`~attendance_core.letter_data`.

    One letter per enrolment with possible sessions this academic year, in school, year group
    and pupil order; ``pupil_ids`` keeps only those pupils and ``below`` only the pupils whose
    attendance rate (a fraction, 0.9 for 90%) is below it. The default letter is short and
    personal, as the evidence favours (domain.md §9): the days the child has missed this
    academic year, their attendance beside their year group's, and whether it has improved or
    fallen over the last 4 school weeks.

    ``template`` replaces the letter with an LA's or a school's own Jinja2 file (rendered in a
    sandbox with autoescaping; it may ``{% include %}`` or ``{% extends %}`` the package's
    ``letter.html.j2``). It renders one letter and receives the fields of
    :data:`LETTER_FIELDS`, ``pupil`` (every pupils-table column of the pupil, for an address
    or a parent's name), ``school_name`` (default: the school id), ``signed_by``, ``as_of``,
    ``year_first`` and ``extra`` (the mapping given, e.g. a telephone number), with the
    filters ``pct``, ``days``, ``points`` and ``date``. The library prints; it never sends.
    A template that is missing, does not parse or names a field it is not given raises
    :class:`~attendance_core.AttendanceError` naming the template. Written atomically;
    returns the path.
    """
    from .io import write_text_atomic

    if below is not None and not 0 < float(below) <= 1:
        raise ValueError(f"below is a fraction in (0, 1], such as 0.9 (got {below!r})")
    env, name = _letter_environment(template)
    day = resolve_as_of(reg, as_of)
    data = letter_data(reg, day, pupils=pupils)
    keep = data["possible"].to_numpy(dtype=np.int64) > 0
    ids = data.index.get_level_values("pupil_id").astype(str)
    if pupil_ids is not None:
        keep &= np.isin(ids, np.asarray([str(p) for p in pupil_ids], dtype=str))
    if below is not None:
        keep &= data["attendance_rate"].to_numpy(dtype=float) < float(below)
    data = data[keep]
    common = {
        "as_of": day,
        "year_first": academic_year_start(day),
        "signed_by": signed_by,
        "school_name": school_name,
        "extra": dict(extra or {}),
    }
    html = _render_letters(env, name, common, _letter_fields(reg, data, pupils))
    target = Path(path)
    write_text_atomic(target, html)
    return target


def _letter_fields(
    reg: Register, data: pd.DataFrame, pupils: pd.DataFrame | None
) -> list[dict[str, Any]]:
    """The fields of each letter (:data:`LETTER_FIELDS`, and ``pupil``), in school, year
    group and pupil order."""
    has_schools = "school_id" in (data.index.names or [])
    pupil_recs = _pupil_records(data.index, pupils)
    default_school = "" if reg.school_ids is None else str(reg.schools[0])
    letters = []
    for i, (key, rec) in enumerate(zip(data.index, data.to_dict("records"), strict=True)):
        school = str(key[0]) if has_schools else default_school or _school_label(reg, pupils)
        change = float(rec["change"])
        group_rate = float(rec["year_group_rate"])
        record = pupil_recs[i]
        letters.append(
            {
                "pupil_id": str(key[1]) if has_schools else str(key),
                "school_id": school,
                "name": _text(record.get("name")),
                "year_group": _text(rec["year_group"]),
                "days_missed": float(rec["days_missed"]),
                "days_text": _days(rec["days_missed"]),
                "sessions_missed": int(rec["absent"]),
                "possible": int(rec["possible"]),
                "attendance_rate": float(rec["attendance_rate"]),
                "attendance": _pct(rec["attendance_rate"]),
                "year_group_rate": group_rate,
                "year_group_attendance": "" if np.isnan(group_rate) else _pct(group_rate),
                "change": change,
                "change_text": "" if np.isnan(change) else _points(change),
                "trend": _trend_word(change),
                "pupil": record,
            }
        )
    letters.sort(
        key=lambda x: (str(x["school_id"]), _year_key(str(x["year_group"])), str(x["pupil_id"]))
    )
    return letters


def _render_letters(
    env: Any, name: str, common: Mapping[str, Any], letters: list[dict[str, Any]]
) -> str:
    """The letters rendered one by one with the template ``name``, then on their pages; a
    template error is an :class:`~attendance_core.AttendanceError` naming the template."""
    import jinja2
    import markupsafe

    try:
        letter = env.get_template(name)
        # each body is the output of an autoescaping template: already safe HTML
        bodies = [
            markupsafe.Markup(letter.render(**common, **fields))  # noqa: S704
            for fields in letters
        ]
        html: str = env.get_template("letters.html.j2").render(**common, letters=bodies)
    except jinja2.TemplateSyntaxError as exc:
        where = Path(exc.filename).name if exc.filename else exc.name or name
        raise AttendanceError(f"letter template {where}, line {exc.lineno}: {exc.message}") from exc
    except jinja2.TemplateNotFound as exc:
        raise AttendanceError(f"letter template {name}: cannot find {exc.name}") from exc
    except jinja2.TemplateError as exc:  # a field it is not given, a sandbox refusal
        raise AttendanceError(f"letter template {name}: {exc.message}") from exc
    return html


def _year_key(year_group: str) -> tuple[int, str]:
    from .age import year_group_number

    number = year_group_number(year_group) if year_group else None
    return (99 if number is None else number, year_group)
