"""Several exports read as one register: a list of files, or a trust's folder of exports.

:func:`attendance_core.load` hands a list of paths, or a folder that no adapter reads as one
export (an Arbor or Wonde folder is one export; a folder of each school's CSV is not), to
:func:`load_several`. Each file is read by :func:`load` on its own (detection by content, the
same options, the same ``errors``), so a folder may mix formats. Each file's school comes from
its content; a file whose content names no school takes its file name (without the extension)
as the school id, and a warning says so. The marks are then built into one register, so a
pupil marked in two files for the same session is a ``duplicate_row`` or ``duplicate_session``
exactly as within one file.

``rejected`` gains a ``file`` column naming the file of each row; ``rows_read`` is the sum over
the files, so ``rows_read == len(register.to_long()) + len(rejected)`` still holds.
"""

from __future__ import annotations

import os
import warnings
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from .errors import AttendanceWarning, FormatError

if TYPE_CHECKING:
    from .adapters import LoadResult

__all__ = ["is_several", "load_several"]

#: Names in a folder that are never an export (editor, OS and version-control files).
_NOT_EXPORTS = frozenset({"thumbs.db", "desktop.ini", ".ds_store"})


def is_several(target: Any) -> bool:
    """Whether ``target`` is a list or tuple of paths (rather than one source or pages)."""
    return (
        isinstance(target, list | tuple)
        and len(target) > 0
        and all(isinstance(item, str | os.PathLike) for item in target)
    )


def folder_entries(folder: Path) -> list[Path]:
    """The entries of a folder that may be exports, in name order: no hidden files, no OS
    litter (``Thumbs.db``, ``desktop.ini``), no Excel lock files (``~$book.xlsx``)."""
    return sorted(
        (
            p
            for p in folder.iterdir()
            if not p.name.startswith((".", "~$")) and p.name.lower() not in _NOT_EXPORTS
        ),
        key=lambda p: p.name,
    )


def load_several(
    exports: Sequence[tuple[Path, bool]],
    *,
    format: str | None,
    errors: str,
    options: dict[str, Any],
    name: str,
    pupils: pd.DataFrame | None = None,
    progress: bool = False,
) -> LoadResult:
    """One :class:`LoadResult` from several sources (see the module docstring).

    ``exports`` holds ``(path, may be skipped)``: a file found in a folder that no adapter
    recognises is left out (one warning lists them); a file the caller named raises.
    """
    from tqdm import tqdm

    from .adapters import LoadResult, _detect_or_none, load, with_given_pupils
    from .register import REJECTED_COLUMNS, Register

    results: list[tuple[Path, LoadResult]] = []
    skipped: list[str] = []
    bar = tqdm(exports, desc="reading", unit="file", leave=False, disable=not progress, delay=0.5)
    for path, skip_unknown in bar:
        bar.set_postfix_str(path.name, refresh=False)
        chosen = format
        if chosen is None:
            chosen = _detect_or_none(path)
            if chosen is None:
                if not skip_unknown:
                    raise FormatError(
                        "no installed adapter recognises this file; pass format=... to choose one",
                        file=path.name,
                    )
                skipped.append(path.name)
                continue
        results.append((path, load(path, format=chosen, errors=errors, **options)))
    if not results:
        raise FormatError(
            "no file here is in a format an installed adapter reads"
            + (f" (looked at: {', '.join(skipped[:10])})" if skipped else " (it is empty)"),
            file=name,
        )
    notes: list[str] = []
    if skipped:
        notes.append(
            f"{len(skipped)} file(s) not in a known format left out: " + ", ".join(skipped[:10])
        )
    longs: list[pd.DataFrame] = []
    tables: list[pd.DataFrame] = []
    rejected: list[pd.DataFrame] = []
    origin: list[str] = []
    sets: list[Any] = []
    totals: list[pd.DataFrame] = []
    for path, result in results:
        reg = result.register
        long = reg.to_long()
        people = result.pupils
        if reg.school_ids is None:
            school = path.stem if path.is_file() else path.name
            long.insert(0, "school_id", school)
            if len(people):
                people = people.assign(school_id=school)
            notes.append(f"{path.name}: the file names no school; school id {school!r} is its name")
        longs.append(long)
        origin.extend([path.name] * len(long))
        if len(people):
            tables.append(people)
        if len(result.rejected):
            rejected.append(result.rejected.assign(file=path.name))
        if result.totals is not None and len(result.totals):
            totals.append(result.totals)
        notes.extend(f"{path.name}: {text}" for text in result.warnings)
        for code_set in reg.codes.sets:
            if all(code_set is not s for s in sets):
                sets.append(code_set)
    combined = pd.concat(longs, ignore_index=True)
    everyone = _one_row_each(pd.concat(tables)) if tables else None
    if pupils is not None:
        everyone = with_given_pupils(
            everyone if everyone is not None else results[0][1].pupils.iloc[0:0], pupils
        )
    register = Register.from_long(
        combined,
        code_set=sets or None,
        errors="collect" if errors == "collect" else "raise",
        pupils=everyone,
        source=name,
    )
    across = register.rejected
    if len(across):  # the same session given in two files: name the file of each copy
        rows = pd.to_numeric(across["row"], errors="coerce")
        files = [origin[int(r)] if pd.notna(r) and 0 <= r < len(origin) else name for r in rows]
        rejected.append(across.assign(row=None, file=files))
    table = (
        pd.concat(rejected, ignore_index=True)
        if rejected
        else pd.DataFrame({c: pd.Series([], dtype=object) for c in (*REJECTED_COLUMNS, "file")})
    )
    counts: Counter[str] = Counter()
    for _, result in results:
        counts.update(result.error_counts)
    counts.update(str(r) for r in across["reason"])
    register = register.with_rejected(table, dict(counts))
    for text in notes:
        warnings.warn(f"{name}: {text}", AttendanceWarning, stacklevel=3)
    formats = sorted({result.format for _, result in results})
    return LoadResult(
        register=register,
        pupils=everyone if everyone is not None else results[0][1].pupils.iloc[0:0],
        rejected=table,
        rows_read=sum(result.rows_read for _, result in results),
        warnings=tuple(notes),
        totals=pd.concat(totals, ignore_index=True) if totals else None,
        format=",".join(formats),
        source=name,
        error_counts=dict(sorted(counts.items())),
        rejected_count=sum(r.rejected_count for _, r in results) + len(across),
    )


def _one_row_each(pupils: pd.DataFrame) -> pd.DataFrame:
    """One row per pupil (per school and pupil when schools are named): two files that both
    describe a pupil are combined, the first file's value winning where both have one."""
    index = pupils.index.astype(str)
    keyed = "school_id" in pupils.columns
    keys = [pupils["school_id"].astype(str).to_numpy(), index.to_numpy()] if keyed else [index]
    if not pd.MultiIndex.from_arrays(keys).has_duplicates:
        return pupils
    flat = pupils.set_axis(index.rename("pupil_id")).reset_index()
    by = ["school_id", "pupil_id"] if keyed else ["pupil_id"]
    merged: pd.DataFrame = flat.groupby(by, sort=False, dropna=False).first().reset_index()
    return merged.set_index("pupil_id")
