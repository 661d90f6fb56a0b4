"""Safe output: files written atomically, cells neutralised against formula injection.

Atomic writes
    A crash, a full disk, an exception or a ``SIGKILL`` half-way never leaves half a report:
    everything is written to a file that has no name yet (Linux's ``O_TMPFILE``, in the
    target's folder), flushed and ``fsync``-ed, then given a temporary name and renamed over
    the target with :func:`os.replace` (atomic on POSIX and Windows when both are on one file
    system), and the folder is ``fsync``-ed so the rename survives a power cut. A process
    killed while writing leaves nothing behind: a file without a name disappears with its
    last descriptor. Where ``O_TMPFILE`` is missing (other systems, some file systems) the
    temporary file is named ``.<name>.<random>.tmp`` from the start; it is removed on any
    exception, but a killed process can leave it. The temporary file has the target's final
    permissions from its creation: those of the file it replaces, else ``0o666`` less the
    umask, so partial data is never more readable than the finished file.

Formula injection
    A spreadsheet runs a cell that starts with ``=``, ``+``, ``-`` or ``@`` as a formula
    (``=HYPERLINK(...)``, ``@SUM(...)``, ``-2+3+cmd|...``), and a leading tab or carriage
    return, or any run of spaces and control or format characters (``"\\x00=..."``,
    ``" =..."``, a zero-width space), can hide such a start from a check of the first
    character while the spreadsheet still runs it. :func:`neutralise` puts an apostrophe in
    front of any text value whose first character other than such a prefix is one of
    :data:`FORMULA_START` (and of a value starting with a tab or carriage return), so Excel and
    LibreOffice show it as text; numbers are left alone (they are written as numbers, never
    run). :func:`neutralise_frame` does this to every text cell, category, column name and
    index label of a DataFrame before it is written as CSV or Excel.

Characters a format cannot hold
    XML 1.0, and so ``.xlsx``, cannot hold most control characters: :func:`excel_text` writes
    each as a visible escape (``\\x1b``) instead of failing half-way. :func:`terminal_text`
    does the same for text bound for a terminal, where an ``ESC`` or ``OSC`` sequence from a
    crafted pupil id could retitle the window or hide rows.

Reproducible workbooks
    :func:`atomic_workbook` writes an ``.xlsx`` whose bytes depend only on its content:
    openpyxl's creation and modification times and the zip members' times are fixed.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import secrets
import unicodedata
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd

__all__ = [
    "FORMULA_START",
    "atomic_open",
    "atomic_path",
    "atomic_workbook",
    "excel_text",
    "neutralise",
    "neutralise_frame",
    "terminal_text",
    "unneutralise",
    "write_bytes_atomic",
    "write_text_atomic",
]

#: First characters that make a spreadsheet treat a cell as a formula (OWASP's list).
FORMULA_START: tuple[str, ...] = ("=", "+", "-", "@", "\t", "\r")
_FORMULA_CHARS = frozenset("=+-@")
_LINE_BREAK = re.compile(r"([\r\n])")


def _new_mode(target: Path) -> int | None:
    """The permission bits of the file ``target`` replaces (None: no such file)."""
    try:
        return target.stat().st_mode & 0o7777
    except FileNotFoundError:
        return None


def _anonymous_temp(folder: Path, mode: int | None) -> int | None:
    """A descriptor of a new file in ``folder`` that has no name (``O_TMPFILE``), or None
    where the system or the file system cannot make one or ``/proc`` cannot reopen it."""
    flag = getattr(os, "O_TMPFILE", 0)
    if not flag or os.name != "posix":
        return None
    try:
        fd = os.open(folder, flag | os.O_WRONLY, 0o666 if mode is None else mode)
    except OSError:
        return None
    if not os.path.exists(f"/proc/self/fd/{fd}"):
        os.close(fd)
        return None
    return fd


def _create_temp(target: Path, mode: int | None) -> Path:
    """A new, empty temporary file beside ``target`` with the final mode: ``mode`` (that of
    the file it replaces) or ``0o666`` less the umask (``tempfile.mkstemp`` would give
    ``0o600``; reading the umask would mean changing it)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    for _ in range(100):
        candidate = _temp_name(target)
        try:
            fd = os.open(candidate, flags, 0o666 if mode is None else mode)
        except FileExistsError:
            continue
        try:
            if mode is not None and hasattr(os, "fchmod"):
                os.fchmod(fd, mode)  # exactly the old bits, whatever the umask
        finally:
            os.close(fd)
        return candidate
    raise FileExistsError(f"{target.name}: no free temporary file name beside it")


def _temp_name(target: Path) -> Path:
    return target.parent / f".{target.name[:200]}.{secrets.token_hex(6)}.tmp"


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


def _publish(fd: int, target: Path) -> None:
    """Give the nameless file ``fd`` a temporary name beside ``target``, then rename it over
    ``target`` (the name exists for the time of one rename)."""
    folder = os.open(target.parent, os.O_RDONLY)
    try:
        for _ in range(100):
            name = _temp_name(target).name
            try:
                os.link(f"/proc/self/fd/{fd}", name, dst_dir_fd=folder, follow_symlinks=True)
            except FileExistsError:
                continue
            except OSError:  # a file system that cannot link it: copy it to a named file
                _publish_copy(fd, target)
                return
            break
        else:
            raise FileExistsError(f"{target.name}: no free temporary file name beside it")
        try:
            os.replace(target.parent / name, target)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(name, dir_fd=folder)
            raise
    finally:
        os.close(folder)


def _publish_copy(fd: int, target: Path) -> None:
    """:func:`_publish` where the nameless file cannot be linked: its bytes copied to a
    named temporary file with the same mode, then renamed over ``target``."""
    tmp_path = _create_temp(target, os.fstat(fd).st_mode & 0o7777)
    try:
        with open(f"/proc/self/fd/{fd}", "rb") as source, tmp_path.open("wb") as out:
            while block := source.read(1 << 20):
                out.write(block)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp_path, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path`` atomically.

    Whatever is written to the yielded path appears at ``path`` only when the ``with`` block
    ends without an exception; on an exception (or when the process is killed, where the
    system has ``O_TMPFILE``) nothing is left and ``path`` is untouched. The temporary file
    has ``path``'s final permissions from its creation. The parent folder is created when
    missing.
    """
    target = Path(path)
    if target.is_dir():
        raise IsADirectoryError(f"{target.name or target}: is a folder, not a file")
    target.parent.mkdir(parents=True, exist_ok=True)
    mode = _new_mode(target)
    fd = _anonymous_temp(target.parent, mode)
    if fd is not None:
        try:
            if mode is not None:
                os.fchmod(fd, mode)
            yield Path(f"/proc/self/fd/{fd}")
            os.fsync(fd)
            _publish(fd, target)
            _fsync_dir(target.parent)
        finally:
            os.close(fd)
        return
    tmp_path = _create_temp(target, mode)
    try:
        yield tmp_path
        if not tmp_path.exists():
            raise FileNotFoundError(f"{target.name}: the temporary file was removed")
        with tmp_path.open("rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp_path, target)
        _fsync_dir(target.parent)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike[str], mode: str = "w", **kwargs: Any) -> Iterator[IO[Any]]:
    """Open a file for writing that appears at ``path`` only once fully written.

    ``mode`` is a write mode (``"w"``, ``"wb"``, ``"x"`` is not supported); ``kwargs`` go to
    :func:`open` (``encoding``, ``newline``...).
    """
    if not mode.startswith("w") or "+" in mode:
        raise ValueError(f"atomic_open writes a new file: mode must be 'w' or 'wb' (got {mode!r})")
    with atomic_path(path) as tmp, open(tmp, mode, **kwargs) as handle:
        yield handle


def write_text_atomic(path: str | os.PathLike[str], text: str, encoding: str = "utf-8") -> None:
    """Write ``text`` to ``path`` atomically (no newline translation)."""
    with atomic_open(path, "w", encoding=encoding, newline="") as handle:
        handle.write(text)


def write_bytes_atomic(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_open(path, "wb") as handle:
        handle.write(data)


# the fixed time of every zip member and of the workbook's core properties
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)
_CORE_TIME = re.compile(rb"(<dcterms:(?:created|modified)\b[^>]*>)[^<]*(</dcterms:)")
_CORE_FIXED = b"1980-01-01T00:00:00Z"


@contextlib.contextmanager
def atomic_workbook(path: str | os.PathLike[str]) -> Iterator[io.BytesIO]:
    """Yield a buffer to save an ``.xlsx`` workbook into; on success it is written to
    ``path`` atomically with every timestamp fixed, so identical content gives identical
    bytes (openpyxl stamps the time of saving into ``docProps/core.xml`` and every zip
    member)."""
    buffer = io.BytesIO()
    yield buffer
    buffer.seek(0)
    with (
        zipfile.ZipFile(buffer) as source,
        atomic_open(path, "wb") as handle,
        zipfile.ZipFile(handle, "w", zipfile.ZIP_DEFLATED, allowZip64=True) as out,
    ):
        for member in source.infolist():
            info = zipfile.ZipInfo(member.filename, date_time=_ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o600 << 16
            if member.filename == "docProps/core.xml":
                data = _CORE_TIME.sub(rb"\g<1>" + _CORE_FIXED + rb"\g<2>", source.read(member))
                out.writestr(info, data)
                continue
            # a sheet is copied block by block: never a second copy of it in memory
            info.file_size = member.file_size  # zip64 only where the size needs it
            with source.open(member) as part, out.open(info, "w") as copy:
                while block := part.read(1 << 20):
                    copy.write(block)


def _ignorable(char: str) -> bool:
    """Spaces and control, format or unassigned characters: what a spreadsheet may skip
    before it looks for a formula."""
    return char.isspace() or unicodedata.category(char)[0] == "C"


def _runs_formula(line: str) -> bool:
    """Whether ``line`` starts with a formula character after a prefix a spreadsheet skips."""
    for char in line:
        if char in _FORMULA_CHARS:
            return True
        if not _ignorable(char):
            return False
    return False


def neutralise(value: Any) -> Any:
    """A cell value that a spreadsheet shows as text: formula starts get a leading ``'``.

    A formula start is ``=``, ``+``, ``-`` or ``@`` after any run of spaces and control,
    format or unassigned characters (``"\\x00=1"``, ``" @SUM(A1)"``), or a leading tab or
    carriage return. A value holding a line break is treated line by line (a line that
    starts with a formula gets the apostrophe too), so that the value stays harmless even
    where a writer leaves a bare carriage return unquoted and a spreadsheet starts a new row
    at it. Only text is changed; numbers, dates, None and NaN come back as they are.

    >>> neutralise("=1+1"), neutralise(" @SUM(A1)"), neutralise("Ab"), neutralise(-3)
    ("'=1+1", "' @SUM(A1)", 'Ab', -3)
    """
    if not isinstance(value, str) or not value:
        return value
    quote = value[0] in ("\t", "\r")
    if "\r" in value or "\n" in value:
        parts = _LINE_BREAK.split(value)
        for i in range(2, len(parts), 2):
            if _runs_formula(parts[i]):
                parts[i] = "'" + parts[i]
        if quote or _runs_formula(parts[0]):
            parts[0] = "'" + parts[0]
        return "".join(parts)
    return "'" + value if quote or _runs_formula(value) else value


def unneutralise(value: Any) -> Any:
    """The value :func:`neutralise` was given, from what it returned: the apostrophe it put
    before a line is removed (other apostrophes stay); anything else comes back unchanged.

    >>> unneutralise(neutralise(" =1")), unneutralise("'Ab")
    (' =1', "'Ab")
    """
    if not isinstance(value, str) or "'" not in value:
        return value
    parts = _LINE_BREAK.split(value)
    for i in range(0, len(parts), 2):
        part = parts[i]
        if not part.startswith("'"):
            continue
        rest = part[1:]
        first = i == 0 and (rest[:1] == "\t" or (not rest and parts[1:2] == ["\r"]))
        if first or _runs_formula(rest):
            parts[i] = rest
    candidate = "".join(parts)
    return candidate if neutralise(candidate) == value else value


# C0 controls but tab, line feed and carriage return; DEL; C1 controls: what XML 1.0 forbids
# or discourages (openpyxl refuses the former)
_EXCEL_BAD = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufffe\uffff]")
# everything a terminal may act on: every control character (line feed and tab kept), and
# the bidirectional overrides that reorder what is shown
_TERMINAL_BAD = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]"
)


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def excel_text(value: Any) -> Any:
    """``value`` with each character an ``.xlsx`` cell cannot hold written as a visible
    escape (ESC becomes the four characters ``\\x1b``); other values unchanged."""
    if not isinstance(value, str):
        return value
    return _EXCEL_BAD.sub(_escape, value)


def terminal_text(text: str) -> str:
    """``text`` safe to print: control characters (but line feed and tab) and bidirectional
    overrides written as visible escapes, so that nothing in it can move the cursor, erase,
    retitle the window or reorder what is shown."""
    return _TERMINAL_BAD.sub(_escape, text)


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
