"""Safe output: files written atomically, cells neutralised against formula injection.

Atomic writes
    A crash, a full disk or an exception half-way never leaves half a report: everything is
    written to a temporary file in the target's folder (``.<name>.<random>.tmp``), flushed and
    ``fsync``-ed, then renamed over the target with :func:`os.replace` (atomic on POSIX and
    Windows when both are on one file system), and the folder is ``fsync``-ed so the rename
    survives a power cut. On failure the temporary file is removed and an existing target is
    left exactly as it was. A new file gets the usual permissions (``0o666`` less the umask);
    replacing a file keeps that file's permission bits.

Formula injection
    A spreadsheet runs a cell that starts with ``=``, ``+``, ``-`` or ``@`` as a formula
    (``=HYPERLINK(...)``, ``@SUM(...)``, ``-2+3+cmd|...``), and a leading tab or carriage
    return can hide such a start. :func:`neutralise` puts an apostrophe in front of any text
    value with one of those first characters (:data:`FORMULA_START`), so Excel and LibreOffice
    show it as text; numbers are left alone (they are written as numbers, never run).
    :func:`neutralise_frame` does this to every text cell, category, column name and index
    label of a DataFrame before it is written as CSV or Excel.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd

__all__ = [
    "FORMULA_START",
    "atomic_open",
    "atomic_path",
    "neutralise",
    "neutralise_frame",
    "write_bytes_atomic",
    "write_text_atomic",
]

#: First characters that make a spreadsheet treat a cell as a formula (OWASP's list).
FORMULA_START: tuple[str, ...] = ("=", "+", "-", "@", "\t", "\r")
# a line break followed by a formula start, inside a value
_LINE_FORMULA = re.compile(r"([\r\n])(?=[=+\-@\t\r])")


def _create_temp(target: Path) -> Path:
    """A new, empty temporary file beside ``target``, created with ``0o666`` less the umask
    (``tempfile.mkstemp`` would give ``0o600``; reading the umask would mean changing it)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    stem = target.name[:200]
    for _ in range(100):
        candidate = target.parent / f".{stem}.{secrets.token_hex(6)}.tmp"
        try:
            fd = os.open(candidate, flags, 0o666)
        except FileExistsError:
            continue
        os.close(fd)
        return candidate
    raise FileExistsError(f"{target.name}: no free temporary file name beside it")


def _fsync_dir(folder: Path) -> None:
    """Make a rename inside ``folder`` durable (a no-op where folders cannot be opened)."""
    if os.name != "posix":
        return
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path`` atomically.

    Whatever is written to the yielded path appears at ``path`` only when the ``with`` block
    ends without an exception; on an exception the temporary file is removed and ``path`` is
    untouched. The parent folder is created when missing.
    """
    target = Path(path)
    if target.is_dir():
        raise IsADirectoryError(f"{target.name or target}: is a folder, not a file")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp_path = _create_temp(target)
    try:
        yield tmp_path
        if not tmp_path.exists():
            raise FileNotFoundError(f"{target.name}: the temporary file was removed")
        with contextlib.suppress(FileNotFoundError):
            os.chmod(tmp_path, target.stat().st_mode & 0o7777)
        with tmp_path.open("rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp_path, target)
        _fsync_dir(target.parent)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()


@contextlib.contextmanager
def atomic_open(path: str | Path, mode: str = "w", **kwargs: Any) -> Iterator[IO[Any]]:
    """Open a file for writing that appears at ``path`` only once fully written.

    ``mode`` is a write mode (``"w"``, ``"wb"``, ``"x"`` is not supported); ``kwargs`` go to
    :func:`open` (``encoding``, ``newline``...).
    """
    if not mode.startswith("w") or "+" in mode:
        raise ValueError(f"atomic_open writes a new file: mode must be 'w' or 'wb' (got {mode!r})")
    with atomic_path(path) as tmp, open(tmp, mode, **kwargs) as handle:
        yield handle


def write_text_atomic(path: str | Path, text: str, encoding: str = "utf-8") -> None:
    """Write ``text`` to ``path`` atomically (no newline translation)."""
    with atomic_open(path, "w", encoding=encoding, newline="") as handle:
        handle.write(text)


def write_bytes_atomic(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_open(path, "wb") as handle:
        handle.write(data)


def neutralise(value: Any) -> Any:
    """A cell value that a spreadsheet shows as text: formula starts get a leading ``'``.

    A value holding a line break is treated line by line (a line that starts with a formula
    character gets the apostrophe too), so that the value stays harmless even where a writer
    leaves a bare carriage return unquoted and a spreadsheet starts a new row at it. Only text
    is changed; numbers, dates, None and NaN come back as they are.

    >>> neutralise("=1+1"), neutralise("@SUM(A1)"), neutralise("Ab"), neutralise(-3)
    ("'=1+1", "'@SUM(A1)", 'Ab', -3)
    """
    if not isinstance(value, str):
        return value
    if "\r" in value or "\n" in value:
        value = _LINE_FORMULA.sub("\\1'", value)
    if value.startswith(FORMULA_START):
        return "'" + value
    return value


def _is_text_dtype(dtype: Any) -> bool:
    return bool(pd.api.types.is_object_dtype(dtype) or pd.api.types.is_string_dtype(dtype))


def _text_index(index: pd.Index, name: Any) -> pd.Index:
    values = np.array([neutralise(v) for v in index], dtype=object)
    out: pd.Index = pd.Index(values, dtype=object)
    out.name = name
    return out


def _neutral_index(index: pd.Index) -> pd.Index:
    if isinstance(index, pd.MultiIndex):
        return pd.MultiIndex.from_arrays(
            [_neutral_index(index.get_level_values(i)) for i in range(index.nlevels)],
            names=[neutralise(n) for n in index.names],
        )
    name = neutralise(index.name)
    if isinstance(index, pd.CategoricalIndex):
        mapping = {c: neutralise(c) for c in index.categories}
        if len(set(mapping.values())) == len(mapping):
            renamed: pd.Index = index.rename_categories(mapping)
            renamed.name = name
            return renamed
        return _text_index(index, name)
    if _is_text_dtype(index.dtype):
        return _text_index(index, name)
    out = index.copy()
    out.name = name
    return out


def neutralise_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` whose text cells, categories, column names, index labels and index
    names are neutralised (see :func:`neutralise`); numeric columns are unchanged."""
    out = frame.copy()
    columns = list(out.columns)
    for position in range(len(columns)):
        series = out.iloc[:, position]
        values: Any
        if isinstance(series.dtype, pd.CategoricalDtype):
            mapping = {c: neutralise(c) for c in series.cat.categories}
            if len(set(mapping.values())) == len(mapping):
                values = series.cat.rename_categories(mapping).array
            else:  # "'=x" already there beside "=x": fall back to plain text
                values = np.array([neutralise(v) for v in series.astype(object)], dtype=object)
        elif _is_text_dtype(series.dtype):
            values = np.array([neutralise(v) for v in series.astype(object)], dtype=object)
        else:
            continue
        out.isetitem(position, values)
    out.columns = _neutral_index(out.columns)
    out.index = _neutral_index(out.index)
    return out
