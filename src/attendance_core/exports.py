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

import attrs
import pandas as pd

from .errors import AttendanceWarning, FormatError

if TYPE_CHECKING:
    from .adapters import LoadResult

__all__ = ["Reading", "is_several", "load_several"]

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


@attrs.frozen(kw_only=True)
class Reading:
    """How :func:`load_several` reads each export: in ``format`` (None: told from each
    file's content), with ``errors`` and the reader ``options`` given to
    :func:`~attendance_core.load`, and a progress bar over the files when ``progress``."""

    format: str | None
    errors: str
    options: dict[str, Any]
    progress: bool = False


def _read_each(
    exports: Sequence[tuple[Path, bool]], reading: Reading
) -> tuple[list[tuple[Path, LoadResult]], list[str]]:
    """Each export read by :func:`load` on its own, and the names of those left out because
    no adapter recognises them (only files found in a folder may be left out)."""
    from tqdm import tqdm

    from .adapters import _detect_or_none, load

    results: list[tuple[Path, LoadResult]] = []
    skipped: list[str] = []
    bar = tqdm(
        exports, desc="reading", unit="file", leave=False, disable=not reading.progress, delay=0.5
    )
    for path, skip_unknown in bar:
        bar.set_postfix_str(path.name, refresh=False)
        chosen = reading.format if reading.format is not None else _detect_or_none(path)
        if chosen is None:
            if not skip_unknown:
                raise FormatError(
                    "no installed adapter recognises this file; pass format=... to choose one",
                    file=path.name,
                )
            skipped.append(path.name)
            continue
        results.append((path, load(path, format=chosen, errors=reading.errors, **reading.options)))
    return results, skipped


@attrs.define
class _Parts:
    """What each file's result adds to the combined one, in file order."""

    notes: list[str] = attrs.Factory(list)
    longs: list[pd.DataFrame] = attrs.Factory(list)
    tables: list[pd.DataFrame] = attrs.Factory(list)
    rejected: list[pd.DataFrame] = attrs.Factory(list)
    origin: list[str] = attrs.Factory(list)  # the file of each row of the combined marks
    sets: list[Any] = attrs.Factory(list)  # code sets, each once
    totals: list[pd.DataFrame] = attrs.Factory(list)

    def add(self, path: Path, result: LoadResult) -> None:
        reg = result.register
        long = reg.to_long()
        people = result.pupils
        if reg.school_ids is None:
            school = path.stem if path.is_file() else path.name
            long.insert(0, "school_id", school)
            if len(people):
                people = people.assign(school_id=school)
            self.notes.append(
                f"{path.name}: the file names no school; school id {school!r} is its name"
            )
        self.longs.append(long)
        self.origin.extend([path.name] * len(long))
        if len(people):
            self.tables.append(people)
        if len(result.rejected):
            self.rejected.append(result.rejected.assign(file=path.name))
        if result.totals is not None and len(result.totals):
            self.totals.append(result.totals)
        self.notes.extend(f"{path.name}: {text}" for text in result.warnings)
        for code_set in reg.codes.sets:
            if all(code_set is not s for s in self.sets):
                self.sets.append(code_set)

    def across_files(self, across: pd.DataFrame, name: str) -> None:
        """Rows rejected only once the files are combined (the same session given in two
        files): named by the file of each copy, with no row number of their own."""
        if not len(across):
            return
        rows = pd.to_numeric(across["row"], errors="coerce")
        origin = self.origin
        files = [origin[int(r)] if pd.notna(r) and 0 <= r < len(origin) else name for r in rows]
        self.rejected.append(across.assign(row=None, file=files))


def load_several(
    exports: Sequence[tuple[Path, bool]],
    reading: Reading,
    *,
    name: str,
    pupils: pd.DataFrame | None = None,
) -> LoadResult:
    """One :class:`LoadResult` from several sources (see the module docstring).

    ``exports`` holds ``(path, may be skipped)``: a file found in a folder that no adapter
    recognises is left out (one warning lists them); a file the caller named raises.
    """
    from .adapters import LoadResult, with_given_pupils
    from .register import REJECTED_COLUMNS, Register

    results, skipped = _read_each(exports, reading)
    if not results:
        raise FormatError(
            "no file here is in a format an installed adapter reads"
            + (f" (looked at: {', '.join(skipped[:10])})" if skipped else " (it is empty)"),
            file=name,
        )
    parts = _Parts()
    if skipped:
        parts.notes.append(
            f"{len(skipped)} file(s) not in a known format left out: " + ", ".join(skipped[:10])
        )
    for path, result in results:
        parts.add(path, result)
    everyone = _one_row_each(pd.concat(parts.tables)) if parts.tables else None
    if pupils is not None:
        everyone = with_given_pupils(
            everyone if everyone is not None else results[0][1].pupils.iloc[0:0], pupils
        )
    register = Register.from_long(
        pd.concat(parts.longs, ignore_index=True),
        code_set=parts.sets or None,
        errors="collect" if reading.errors == "collect" else "raise",
        pupils=everyone,
        source=name,
    )
    across = register.rejected
    parts.across_files(across, name)
    table = (
        pd.concat(parts.rejected, ignore_index=True)
        if parts.rejected
        else pd.DataFrame({c: pd.Series([], dtype=object) for c in (*REJECTED_COLUMNS, "file")})
    )
    counts: Counter[str] = Counter()
    for _, result in results:
        counts.update(result.error_counts)
    counts.update(str(r) for r in across["reason"])
    register = register.with_rejected(table, dict(counts))
    for text in parts.notes:
        warnings.warn(f"{name}: {text}", AttendanceWarning, stacklevel=3)
    return LoadResult(
        register=register,
        pupils=everyone if everyone is not None else results[0][1].pupils.iloc[0:0],
        rejected=table,
        rows_read=sum(result.rows_read for _, result in results),
        warnings=tuple(parts.notes),
        totals=pd.concat(parts.totals, ignore_index=True) if parts.totals else None,
        format=",".join(sorted({result.format for _, result in results})),
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
