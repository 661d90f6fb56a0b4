"""The core on a Dask cluster: classify and recommend over a Dask DataFrame, school by school.

A Dask DataFrame in the long layout (``school_id``, ``pupil_id``, ``date``, ``session``,
``code``) is split into partitions; when every school lies whole in one partition (one Parquet
file a school is the natural layout), each partition is an independent register: each worker
builds a :class:`~attendance_core.register.Register` from its partition and runs the in-process
core on it, and only the small per-pupil results travel back. A school's calendar (its school
sessions) is derived from all of its pupils, so a school must never be split across partitions:
the functions check this and raise :class:`~attendance_core.errors.AttendanceError` naming the
school; :func:`by_school` reshuffles a frame so that it holds.

Results are exactly those of the in-process path on the whole data (same rows, order, index,
integer counts, bands)::

    import dask.dataframe as dd
    import attendance_core.dask as acd

    ddf = dd.read_parquet("marks/")            # one file per school
    table = acd.classify(ddf, scheme="dfe")    # == ac.classify(register of ddf.compute())
    steps = acd.recommend(ddf, pupils=pupils)  # == ac.recommend(register, pupils=pupils)

Needs the ``dask`` extra: ``pip install '.[dask]'`` from a checkout.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from .bands import BandScheme, band_scheme
from .errors import AttendanceError
from .measures import classify as _classify
from .register import Register

__all__ = ["by_school", "classify", "recommend"]

Errors = Literal["raise", "collect"]


def _dask() -> Any:
    try:
        import dask
    except ImportError as exc:  # pragma: no cover - the extra is missing
        raise ImportError(
            "attendance_core.dask needs Dask: pip install '.[dask]' (from a checkout)"
        ) from exc
    return dask


def _build(
    part: pd.DataFrame,
    pupils: pd.DataFrame | None,
    code_set: Any,
    errors: Errors,
    symbols: Mapping[str, str] | None,
) -> Register:
    """The register of one partition (the in-process constructor, unchanged)."""
    return Register.from_long(
        part, code_set=code_set, errors=errors, pupils=pupils, symbols=symbols
    )


def _schools(reg: Register) -> list[str | None]:
    """The schools a partition's register holds (``[None]`` without ``school_id``)."""
    if reg.n_enrolments == 0:
        return []
    if reg.school_ids is None:
        return [None]
    return [str(s) for s in reg.schools]


def _check_whole(per_part: Sequence[list[str | None]]) -> int:
    """Raise unless every school lies in one partition; return the number of schools."""
    seen: dict[str | None, int] = {}
    for i, schools in enumerate(per_part):
        for school in schools:
            if school in seen:
                where = "the data has no school_id" if school is None else f"school {school!r}"
                raise AttendanceError(
                    f"{where} spans partitions {seen[school]} and {i}: a school's calendar "
                    "comes from all of its pupils, so each school must lie in one partition "
                    "(read one Parquet file a school, or use attendance_core.dask.by_school)"
                )
            seen[school] = i
    return len(seen)


def _classify_part(
    reg: Register, scheme: Any, start: Any, end: Any
) -> tuple[pd.DataFrame, list[str | None]]:
    """classify on one partition's register, indexed by (school_id, pupil_id) when it has
    school ids so that partitions holding one school each concatenate correctly."""
    table = _classify(reg, scheme, start, end)
    if reg.school_ids is not None and not isinstance(table.index, pd.MultiIndex):
        school = str(reg.schools[0]) if len(reg.schools) else ""
        table.index = pd.MultiIndex.from_arrays(
            [pd.Index([school] * len(table), dtype=object), table.index],
            names=["school_id", "pupil_id"],
        )
    return table, _schools(reg)


def classify(
    ddf: Any,
    scheme: str | Path | Mapping[str, Any] | BandScheme = "dfe",
    start: Any = None,
    end: Any = None,
    *,
    pupils: pd.DataFrame | None = None,
    code_set: Any = None,
    errors: Errors = "raise",
    symbols: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """:func:`attendance_core.classify` of a Dask DataFrame in the long layout.

    Each partition is built into a register and classified on a worker (through the current
    Dask scheduler, a ``distributed.Client`` when one is active); the per-pupil tables are
    joined in order. ``scheme``, ``start`` and ``end`` are those of
    :func:`~attendance_core.classify`; ``pupils``, ``code_set``, ``errors`` and ``symbols``
    are passed to :meth:`~attendance_core.Register.from_long` on every partition. The result
    equals ``ac.classify(ac.Register.from_long(ddf.compute(), ...), scheme, start, end)``,
    indexed by (``school_id``, ``pupil_id``) when the data holds two or more schools.
    Raises :class:`~attendance_core.errors.AttendanceError` when a school spans partitions.
    """
    dask = _dask()
    delayed = dask.delayed
    scheme = band_scheme(scheme)  # resolved once, here: errors surface before any work
    shared = delayed(pupils, pure=True) if pupils is not None else None
    tasks = [
        delayed(_classify_part, pure=True)(
            delayed(_build, pure=True)(part, shared, code_set, errors, symbols),
            scheme,
            start,
            end,
        )
        for part in ddf.to_delayed()
    ]
    results = dask.compute(*tasks)
    n_schools = _check_whole([schools for _, schools in results])
    tables: list[pd.DataFrame] = [t for t, schools in results if schools and len(t)]
    if not tables:
        # no enrolment anywhere: the in-process result of an empty register
        empty = pd.DataFrame({c: pd.Series(dtype=t) for c, t in ddf.dtypes.items()})
        return _classify(Register.from_long(empty, code_set=code_set), scheme, start, end)
    out = pd.concat(tables).sort_index(kind="stable")
    # the in-process index: object ids, (school_id, pupil_id) only with two or more schools
    pupil_ids = pd.Index(out.index.get_level_values("pupil_id"), dtype=object, name="pupil_id")
    if isinstance(out.index, pd.MultiIndex) and n_schools >= 2:
        school_ids = pd.Index(out.index.get_level_values("school_id"), dtype=object)
        out.index = pd.MultiIndex.from_arrays(
            [school_ids, pupil_ids], names=["school_id", "pupil_id"]
        )
    else:
        out.index = pupil_ids
    out.attrs = dict(tables[0].attrs)
    return out


def _last_date(reg: Register) -> Any:
    return reg.dates[-1] if len(reg.dates) and reg.n_enrolments else None


def _latest(dates: Sequence[Any]) -> Any:
    known = [d for d in dates if d is not None]
    return max(known) if known else None


def _recommend_part(
    reg: Register,
    pupils: pd.DataFrame | None,
    plans: Any,
    as_of: Any,
    policy: Any,
    *,
    history: Any = None,
) -> tuple[list[Any], list[str | None]]:
    from .escalation import recommend as _recommend

    if as_of is None:
        return [], _schools(reg)
    steps = _recommend(reg, pupils=pupils, plans=plans, history=history, as_of=as_of, policy=policy)
    return steps, _schools(reg)


def recommend(
    ddf: Any,
    pupils: pd.DataFrame | None = None,
    plans: Any = None,
    as_of: Any = None,
    policy: Any = "england-2024",
    *,
    code_set: Any = None,
    errors: Errors = "raise",
    symbols: Mapping[str, str] | None = None,
    history: Any = None,
) -> list[Any]:
    """:func:`attendance_core.recommend` over a Dask DataFrame in the long layout.

    Each partition's register is built once on a worker; ``as_of`` defaults, as in process, to
    the latest date carrying a mark across all partitions (found from the built registers
    before any step is decided). ``pupils`` is passed to every partition both to bound
    enrolment spans and to the policy; ``history`` (a case history or its table) to every
    partition too. Steps come back ordered by school, pupil, stage order
    and action, equal to ``ac.recommend`` on the whole data.
    """
    from .policy import resolve_policy

    dask = _dask()
    delayed = dask.delayed
    policy = resolve_policy(policy)  # resolved once, here: errors surface before any work
    shared = delayed(pupils, pure=True) if pupils is not None else None
    regs = [
        delayed(_build, pure=True)(part, shared, code_set, errors, symbols)
        for part in ddf.to_delayed()
    ]
    day = as_of if as_of is not None else delayed(_latest)([delayed(_last_date)(r) for r in regs])
    if history is not None:
        from .history import as_history

        history = delayed(as_history(history), pure=True)  # refused here, before any work
    tasks = [delayed(_recommend_part)(r, shared, plans, day, policy, history=history) for r in regs]
    results = dask.compute(*tasks)
    _check_whole([schools for _, schools in results])
    steps = [s for part_steps, _ in results for s in part_steps]
    steps.sort(key=lambda s: (s.school_id or "", s.pupil_id, s.stage.order, s.action))
    return steps


def by_school(ddf: Any, npartitions: int | None = None) -> Any:
    """``ddf`` reshuffled so that every school lies whole in one partition (a hash shuffle on
    ``school_id``; several schools may share a partition)."""
    if "school_id" not in ddf.columns:
        raise AttendanceError(
            "by_school needs a school_id column; without one the data is a single school "
            "and must be one partition (ddf.repartition(npartitions=1))"
        )
    return ddf.shuffle(on="school_id", npartitions=npartitions or ddf.npartitions)
