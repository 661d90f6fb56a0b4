"""Pseudonymous pupil ids, so that a trust or an LA can share results without pupil identities.

:func:`pseudonymise` replaces every pupil id by a keyed hash of it: ``HMAC-SHA256(key, id)``,
shown as ``"P"`` followed by the first 16 hex digits (64 bits). The same key always gives the
same pseudonym for the same id, in every table and on every run, so tables pseudonymised with
one key still join on ``pupil_id``; without the key a pseudonym cannot be turned back into the
id, and ids cannot be guessed by hashing every possible UPN (the hash is keyed).

Key handling
    The key is the secret: anyone who holds it can pseudonymise a list of candidate ids and so
    re-identify pupils. Generate one with :func:`generate_key` (or
    ``python -c "import secrets; print(secrets.token_hex(32))" > pseudonym.key``), keep it
    outside the data folder, readable by its owner only (``chmod 600``), and never commit,
    email or log it. Use one key per data-sharing agreement: a recipient given outputs under
    two keys cannot link them. Rotating the key changes every pseudonym.

    A key is passed as ``bytes`` (used as is), ``str`` (its UTF-8 bytes) or a path
    (:class:`os.PathLike`, read with :func:`pseudonymise_key_file`). A key file holds the key
    and nothing else; surrounding whitespace such as the final newline is not part of the
    key, so ``pseudonymise(df, Path("k"))`` equals
    ``pseudonymise(df, Path("k").read_text().strip())``. Every key, however passed, holds at
    least :data:`MIN_KEY_FILE_BYTES` bytes (a short key can be guessed); key files hold at
    most :data:`MAX_KEY_FILE_BYTES` (a bigger file is not a key: it is probably the register
    itself, passed by mistake) and must be regular files (a FIFO or a device is refused at
    once, never waited on). A ``str`` that names a file or folder, or looks like a path
    (``"keys/pseudonym.key"``), is refused rather than taken as the key: pass
    ``Path(...)`` to read a key file. The key never appears in a message, a warning or a
    ``repr``.

What is not hidden
    Only the id columns named by ``column`` change. Names, dates of birth, UPNs and the MIS's
    own ids (``mis_id``, ``wonde_id``, ``assembly_id``...) kept in other columns, and rare
    combinations (a pupil in a tiny year group with a flag) can still identify a child: drop
    such columns before sharing (``drop=PERSONAL_COLUMNS``), and see SECURITY.md. School ids
    (URNs) are public and are kept.

Rejected rows
    In a pseudonymised ``rejected`` table, the value of every row whose column holds an id
    (``pupil_id``, a source header such as ``UPN``, ``Adno``, ``studentId``, ``Name``:
    :func:`identifying_column`), whose reason is ``unknown_pupil``, or that equals a known
    id of the register or the pupils table, is replaced by its pseudonym.
    :func:`pseudonymise_error` does the same to the value of a
    :class:`~attendance_core.RegisterError` raised by ``errors="raise"``.
"""

from __future__ import annotations

import hashlib
import hmac
import inspect
import os
import re
import secrets
import stat
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, TypeVar, overload

import attrs
import numpy as np
import numpy.typing as npt
import pandas as pd

from . import _pupils
from ._values import id_text as _id_text
from ._values import is_blank
from .errors import AttendanceWarning, FormatError, RegisterError

__all__ = [
    "DEFAULT_LENGTH",
    "MAX_KEY_FILE_BYTES",
    "MIN_KEY_FILE_BYTES",
    "PERSONAL_COLUMNS",
    "Pseudonymiser",
    "generate_key",
    "identifying_column",
    "pseudonymise",
    "pseudonymise_error",
    "pseudonymise_key_file",
]

#: Fewest bytes a key file may hold (128 bits); :func:`generate_key` gives 64.
MIN_KEY_FILE_BYTES = 16
#: Most bytes a key file may hold; a bigger file is refused (it is not a key).
MAX_KEY_FILE_BYTES = 4096
#: Hex digits of the HMAC kept in a pseudonym by default (64 bits).
DEFAULT_LENGTH = 16
#: Columns of the pupils table that identify a child directly (names, UPNs, dates of birth
#: and each adapter's raw MIS ids); ``drop=`` removes them.
PERSONAL_COLUMNS: tuple[str, ...] = (
    "name",
    "upn",
    "date_of_birth",
    "forename",
    "surname",
    *_pupils.SOURCE_ID_COLUMNS,
    *_pupils.SOURCE_FLAGS,
)
# words of a source header that make its values identifying (``studentId``, ``Adno``,
# ``Legal Surname``, ``DOB``)
_ID_WORDS = frozenset(
    {"id", "upn", "upi", "uln", "adno", "name", "forename", "surname", "firstname", "lastname"}
    | {"dob", "birth", "mis", "wonde", "assembly", "admission", "learner", "person", "student"}
)
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_WORD_SPLIT = re.compile(r"[^a-z0-9]+")
# a str key that is probably a path: a separator, or a short file extension at the end
_PATHLIKE = re.compile(r"[/\\]|\.[A-Za-z]{1,4}$")

# bumped if the derivation ever changes, so that old and new pseudonyms never collide silently
_CONTEXT = b"attendance-core pseudonym v1\x00"
_MIN_LENGTH = 8
_MAX_LENGTH = 64

T = TypeVar("T")


def generate_key() -> str:
    """A new random key: 64 hex digits (256 bits) from :mod:`secrets`, ready for a key file."""
    return secrets.token_hex(32)


def _key_bytes(key: bytes | bytearray | str | os.PathLike[str]) -> bytes:
    if isinstance(key, os.PathLike):
        return pseudonymise_key_file(key)
    if isinstance(key, bytes | bytearray):
        raw = bytes(key)
    elif isinstance(key, str):
        if _PATHLIKE.search(key) or _names_a_file(key):
            raise ValueError(
                "the pseudonymisation key looks like a file name, not a key; pass "
                "pathlib.Path(...) to read the key from a key file"
            )
        raw = key.encode("utf-8")
    else:
        raise TypeError(f"key must be bytes, str or a key file path (got {type(key).__name__})")
    if not raw:
        raise ValueError("the pseudonymisation key is empty")
    if len(raw) < MIN_KEY_FILE_BYTES:
        raise ValueError(
            f"the pseudonymisation key holds {len(raw)} bytes, fewer than the "
            f"{MIN_KEY_FILE_BYTES} needed; make one with privacy.generate_key()"
        )
    return raw


def _names_a_file(text: str) -> bool:
    try:
        return len(text) < 4096 and os.path.lexists(text)
    except (OSError, ValueError):  # a NUL in the text: not a path
        return False


def pseudonymise_key_file(path: str | os.PathLike[str]) -> bytes:
    """The key held in the key file at ``path``: its bytes, surrounding whitespace removed.

    Raises :class:`FormatError` (naming the file, never quoting its content) when the file is
    missing or unreadable, holds fewer than :data:`MIN_KEY_FILE_BYTES` bytes of key or is
    larger than :data:`MAX_KEY_FILE_BYTES`. Warns (:class:`AttendanceWarning`) when other
    users may read the file.
    """
    target = Path(path)
    name = target.name or str(target)
    try:
        # non-blocking, so that a FIFO (or a device) is refused at once instead of waited on
        fd = os.open(
            target, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
        )
        with os.fdopen(fd, "rb") as handle:
            info = os.fstat(handle.fileno())
            if not stat.S_ISREG(info.st_mode):
                raise FormatError("key file is not a regular file", file=name)
            raw = handle.read(MAX_KEY_FILE_BYTES + 1)
    except FileNotFoundError:
        raise FormatError("no such key file", file=name) from None
    except IsADirectoryError:
        raise FormatError("key file is a folder", file=name) from None
    except PermissionError:
        raise FormatError("key file cannot be read (permission denied)", file=name) from None
    except OSError as exc:
        raise FormatError(f"key file cannot be read ({type(exc).__name__})", file=name) from None
    if len(raw) > MAX_KEY_FILE_BYTES:
        raise FormatError(
            f"key file is larger than {MAX_KEY_FILE_BYTES} bytes; it should hold one key and "
            "nothing else (is it the data file?)",
            file=name,
        )
    key = raw.strip()
    if len(key) < MIN_KEY_FILE_BYTES:
        raise FormatError(
            f"key file holds {len(key)} bytes of key, fewer than the {MIN_KEY_FILE_BYTES} "
            'needed; make one with: python -c "import secrets; '
            'print(secrets.token_hex(32))"',
            file=name,
        )
    if os.name == "posix" and info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        warnings.warn(
            f"{name}: key file can be read by other users; restrict it (chmod 600)",
            AttendanceWarning,
            stacklevel=2,
        )
    return key


@attrs.frozen
class Pseudonymiser:
    """Turns ids into pseudonyms under one key: ``prefix`` + ``length`` hex digits of
    HMAC-SHA256(key, id). The key is never shown by ``repr``.

    >>> from attendance_core.privacy import Pseudonymiser
    >>> p = Pseudonymiser(b"0123456789abcdef0123456789abcdef")
    >>> p("A123456789012") == p(" A123456789012 ")
    True
    """

    key: bytes = attrs.field(repr=False, converter=_key_bytes)
    length: int = attrs.field(default=DEFAULT_LENGTH)
    prefix: str = "P"

    @length.validator
    def _check_length(self, _attribute: Any, value: int) -> None:
        if not isinstance(value, int) or not _MIN_LENGTH <= value <= _MAX_LENGTH:
            raise ValueError(f"length must be an int from {_MIN_LENGTH} to {_MAX_LENGTH}")

    def __call__(self, value: Any) -> Any:
        """The pseudonym of one id; a missing id (None, NaN, empty) is returned unchanged."""
        if is_blank(value):
            return value
        text = _id_text(value)
        digest = hmac.new(self.key, _CONTEXT + text.encode("utf-8"), hashlib.sha256)
        return self.prefix + digest.hexdigest()[: self.length]

    def values(self, values: Iterable[Any]) -> npt.NDArray[np.object_]:
        """Pseudonyms of many ids (each distinct id hashed once), as an object array.

        Raises :class:`RegisterError` in the (astronomically unlikely) case that two distinct
        ids get one pseudonym, rather than merge two pupils silently.
        """
        array = np.asarray(
            list(values) if not isinstance(values, np.ndarray) else values, dtype=object
        )
        if not len(array):
            return np.zeros(0, dtype=object)
        codes, uniques = pd.factorize(array, use_na_sentinel=True)
        seen: dict[str, str] = {}
        mapped = np.empty(len(uniques) + 1, dtype=object)
        for i, raw in enumerate(uniques):
            if is_blank(raw):
                mapped[i] = raw
                continue
            text = _id_text(raw)
            out = self(text)
            other = seen.setdefault(out, text)
            if other != text:
                raise RegisterError(
                    "two different pupil ids have the same pseudonym; pass a larger length"
                )
            mapped[i] = out
        mapped[-1] = None
        result = mapped[codes]
        # NaN and None stay as they were (factorize sends both to the sentinel)
        missing = codes < 0
        if missing.any():
            result[missing] = array[missing]
        return np.asarray(result, dtype=object)


def _series_like(original: pd.Series | pd.Index, values: npt.NDArray[np.object_]) -> Any:
    dtype = original.dtype
    keep_dtype = isinstance(dtype, pd.StringDtype) or str(dtype) == "str"
    if isinstance(original, pd.Index):
        return pd.Index(values, dtype=dtype if keep_dtype else object, name=original.name)
    return pd.Series(
        values, index=original.index, name=original.name, dtype=dtype if keep_dtype else object
    )


def _frame(
    frame: pd.DataFrame, columns: Sequence[str], p: Pseudonymiser, drop: Sequence[str]
) -> pd.DataFrame:
    out = frame.copy()
    index_names = list(out.index.names)
    found = False
    for column in columns:
        if column in out.columns:
            found = True
            out[column] = _series_like(out[column], p.values(out[column].to_numpy(object)))
        if column in index_names:
            found = True
            if isinstance(out.index, pd.MultiIndex):
                arrays = [
                    _series_like(
                        pd.Index(out.index.get_level_values(i)),
                        p.values(out.index.get_level_values(i).to_numpy(object)),
                    )
                    if name == column
                    else out.index.get_level_values(i)
                    for i, name in enumerate(index_names)
                ]
                out.index = pd.MultiIndex.from_arrays(arrays, names=index_names)
            else:
                out.index = _series_like(out.index, p.values(out.index.to_numpy(object)))
    if not found:
        raise KeyError(f"no column or index level named {', '.join(map(repr, columns))}")
    gone = [c for c in drop if c in out.columns and c not in columns]
    if gone:
        out = out.drop(columns=gone)
    left = [c for c in PERSONAL_COLUMNS if c in out.columns and c not in columns]
    if left:
        warnings.warn(
            f"pseudonymised frame still holds personal column(s) {', '.join(left)}; "
            "pass drop=PERSONAL_COLUMNS to remove them",
            AttendanceWarning,
            stacklevel=4,  # the caller of pseudonymise()
        )
    return out


def identifying_column(column: Any) -> bool:
    """Whether a column (a core name or a source header) holds ids or names, whose values a
    pseudonymised rejected table or message must not show: ``pupil_id``, ``UPN``, ``Adno``,
    ``studentId``, ``Legal Surname``, ``DOB``, ``@id``..."""
    if not isinstance(column, str):
        return False
    words = _WORD_SPLIT.split(_CAMEL.sub("_", column).lower())
    return any(w in _ID_WORDS for w in words)


def _known_ids(*tables: Any) -> set[str]:
    """The ids of a register and pupils table, and the values of their identifying columns."""
    from .register import Register

    known: set[str] = set()
    for table in tables:
        if isinstance(table, Register):
            known.update(_id_text(v) for v in table.pupil_ids)
        elif isinstance(table, pd.DataFrame):
            for i, level in enumerate(table.index.names):
                if identifying_column(level):
                    known.update(_id_text(v) for v in table.index.get_level_values(i))
            for column in table.columns:
                if identifying_column(column) or column in PERSONAL_COLUMNS:
                    values = table[column].dropna()
                    known.update(_id_text(v) for v in values if not isinstance(v, bool))
    known.discard("")
    return known


def _hide(column: Any, value: Any, reason: Any, columns: Sequence[str], known: set[str]) -> bool:
    if is_blank(value):
        return False
    if column in columns or identifying_column(column) or reason == "unknown_pupil":
        return True
    return _id_text(value) in known


def _rejected(
    rejected: Any, columns: Sequence[str], p: Pseudonymiser, known: set[str] | None = None
) -> Any:
    """Rejected rows with every identifying value pseudonymised (row numbers are kept)."""
    if not isinstance(rejected, pd.DataFrame) or not len(rejected):
        return rejected
    if "column" not in rejected.columns or "value" not in rejected.columns:
        return rejected
    out = rejected.copy()
    reasons = out["reason"] if "reason" in out.columns else pd.Series(None, index=out.index)
    found = known or set()
    hit = np.array(
        [
            _hide(c, v, r, columns, found)
            for c, v, r in zip(out["column"], out["value"], reasons, strict=True)
        ],
        dtype=bool,
    )
    if hit.any():
        values = np.array(out["value"].astype(object).to_numpy(), dtype=object, copy=True)
        values[hit] = p.values(values[hit])
        out["value"] = pd.Series(values, index=out.index, dtype=object)
    return out


def _register(reg: Any, columns: Sequence[str], p: Pseudonymiser, drop: Sequence[str]) -> Any:
    from .register import Register

    if "pupil_id" not in columns:
        raise KeyError("a Register is pseudonymised on 'pupil_id'; pass column='pupil_id'")
    new_ids = p.values(reg.pupil_ids)
    # enrolments stay sorted by (school, pupil), now by pseudonym within each school
    order = np.lexsort((new_ids.astype(str), np.asarray(reg.school_index)))
    changed: dict[str, Any] = {
        "marks": np.ascontiguousarray(reg.marks[order]),
        "pupil_ids": new_ids[order],
        "school_ids": None if reg.school_ids is None else reg.school_ids[order],
        "span": reg.span[order],
        "rejected": _rejected(reg.rejected, columns, p, _known_ids(reg)),
    }
    kwargs: dict[str, Any] = {}
    for name, param in inspect.signature(Register.__init__).parameters.items():
        if name == "self" or param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        if name in changed:
            kwargs[name] = changed[name]
        elif hasattr(reg, name):
            value = getattr(reg, name)
            if isinstance(value, pd.DataFrame):
                value = _pseudonymise_any(value, columns, p, drop, strict=False)
            kwargs[name] = value
    kwargs["_fresh"] = True  # the changed arrays are new, the rest the register's read-only ones
    return Register(**kwargs)


def _pseudonymise_any(
    obj: Any, columns: Sequence[str], p: Pseudonymiser, drop: Sequence[str], *, strict: bool
) -> Any:
    from .register import Register

    if isinstance(obj, Register):
        return _register(obj, columns, p, drop)
    if isinstance(obj, pd.DataFrame):
        if not strict and not any(c in obj.columns or c in obj.index.names for c in columns):
            return obj
        return _frame(obj, columns, p, drop)
    if isinstance(obj, pd.Series | pd.Index):
        return _series_like(obj, p.values(obj.to_numpy(object)))
    if isinstance(obj, str | int | np.integer):
        return p(obj)
    if attrs.has(type(obj)) and isinstance(getattr(obj, "register", None), Register):
        # a LoadResult: every table in it that carries the id
        updates: dict[str, Any] = {}
        known = _known_ids(obj.register, getattr(obj, "pupils", None))
        for field in attrs.fields(type(obj)):
            value = getattr(obj, field.name)
            if field.name == "rejected":
                updates[field.name] = _rejected(value, columns, p, known)
            elif isinstance(value, Register | pd.DataFrame):
                updates[field.name] = _pseudonymise_any(value, columns, p, drop, strict=False)
        return attrs.evolve(obj, **updates)
    raise TypeError(
        "pseudonymise takes a DataFrame, Series, Index, Register, load() result or one id "
        f"(got {type(obj).__name__})"
    )


def pseudonymise_error(
    error: RegisterError, key: bytes | str | os.PathLike[str], *, length: int = DEFAULT_LENGTH
) -> RegisterError:
    """``error`` as it may be shown beside pseudonymised outputs: a new exception of the same
    type whose value is the pseudonym of an identifying value (see
    :func:`identifying_column`); file, row, column and reason are kept."""
    value = error.value
    if _hide(error.column, value, error.reason, ("pupil_id",), set()):
        value = Pseudonymiser(key, length=length)(value)
    return type(error)(
        error.message,
        file=error.file,
        row=error.row,
        column=error.column,
        value=value,
        reason=error.reason,
    )


@overload
def pseudonymise(
    obj: pd.DataFrame,
    key: bytes | str | os.PathLike[str],
    column: str | Sequence[str] = ...,
    *,
    length: int = ...,
    prefix: str = ...,
    drop: Iterable[str] = ...,
) -> pd.DataFrame: ...
@overload
def pseudonymise(
    obj: T,
    key: bytes | str | os.PathLike[str],
    column: str | Sequence[str] = ...,
    *,
    length: int = ...,
    prefix: str = ...,
    drop: Iterable[str] = ...,
) -> T: ...
def pseudonymise(
    obj: Any,
    key: bytes | str | os.PathLike[str],
    column: str | Sequence[str] = "pupil_id",
    *,
    length: int = DEFAULT_LENGTH,
    prefix: str = "P",
    drop: Iterable[str] = (),
) -> Any:
    """A copy of ``obj`` whose pupil ids are replaced by keyed pseudonyms.

    ``obj`` is a DataFrame (``column`` may be a column, an index level or both; every
    occurrence changes), a :class:`~attendance_core.Register` (a new register whose
    ``pupil_ids`` are pseudonymised and everything else is identical — marks, dates, spans,
    school ids, codes — with enrolments re-sorted by pseudonym within each school, and id
    values among its rejected rows pseudonymised), the result of :func:`~attendance_core.load`
    (register, pupils, rejected rows and totals alike), a Series or Index of ids, or one id.

    ``key`` is ``bytes``, ``str`` or a key file path (see the module notes on key handling).
    ``column`` may name several id columns. Ids are compared as the register keeps them
    (``1234``, ``1234.0`` and ``"1234"`` are one id), so a register and its pupils table
    still join after pseudonymisation; missing ids stay missing. A pseudonym is ``prefix``
    followed by ``length`` hex digits of HMAC-SHA256(key, id) (8 to 64; default 16; the
    prefix keeps spreadsheets from reading a pseudonym as a number). ``drop`` names columns to
    remove as well, e.g. ``drop=PERSONAL_COLUMNS``; a frame that still holds one of
    :data:`PERSONAL_COLUMNS` afterwards draws an :class:`AttendanceWarning`.
    """
    columns = (column,) if isinstance(column, str) else tuple(column)
    if not columns:
        raise ValueError("column must name at least one id column")
    p = Pseudonymiser(key, length=length, prefix=prefix)
    return _pseudonymise_any(obj, columns, p, tuple(drop), strict=True)
