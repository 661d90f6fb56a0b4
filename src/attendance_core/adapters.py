"""The MIS adapter layer: sources, the adapter protocol, the registry and :func:`load`.

An *adapter* turns one export format (a CSV report, an Ed-Fi XML file, pages of a JSON API)
into chunks of the long register layout of the API contract plus a pupils table. Adapters live
in their own distributions (``adapters/<name>/`` in the repository) and announce themselves
through the entry-point group ``attendance_core.adapters``::

    [project.entry-points."attendance_core.adapters"]
    generic-csv = "attendance_core_generic.long:GenericCsvAdapter"

Discovery is lazy: nothing is imported when ``attendance_core`` is imported. The first call of
:func:`formats`, :func:`get_adapter` or :func:`load` reads the entry points (names and import
paths only); an adapter module is imported when that adapter is first used. Setting the
environment variable ``ATTENDANCE_CORE_NO_PLUGINS=1`` skips entry-point discovery altogether;
adapters registered by hand with :func:`register_adapter` still work.

Limits. :func:`load` refuses a source larger than ``max_file_size`` bytes
(default :data:`DEFAULT_MAX_FILE_SIZE`, 2 GiB) with a :class:`FormatError`, and rejects a mark
row any of whose fields is longer than ``max_field_length`` characters (default
:data:`DEFAULT_MAX_FIELD_LENGTH`) with reason ``field_too_long``. Callers raise either limit by
passing a bigger value: ``ac.load(path, max_file_size=8 * 2**30)``. Every option the caller
gives, these two included, is passed on to the adapter, which may enforce the limits earlier
(e.g. on pupil columns): adapters must accept both among their ``**options``.

Writing an adapter: a class with the :class:`Adapter` members. ``sniff`` reads
``source.head()`` and answers quickly without raising; ``read`` returns an
:class:`AdapterOutput` whose ``marks`` is a generator of DataFrame chunks indexed by 1-based
source row numbers, appending ``{row, column, value, reason}`` to ``rejected`` for rows it
cannot use (the core validates codes, sessions and duplicates itself) and setting ``pupils``
when the marks are exhausted. Anything unreadable raises :class:`FormatError` naming the file
(and row); with ``errors="raise"`` the first bad row raises :class:`RegisterError`. Test it with
the conformance kit :mod:`attendance_core.testing`.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import os
import re
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from importlib import metadata
from pathlib import Path
from types import MappingProxyType
from typing import Any, BinaryIO, ClassVar, Protocol, runtime_checkable

import attrs
import numpy as np
import numpy.typing as npt
import pandas as pd

from . import _pupils
from ._rejected import (
    DEFAULT_MAX_REJECTED_ROWS,
    REJECTED_COLUMNS,
    RejectedStore,
    capped,
    check_errors,
    reason_counts,
    rejected_total,
)
from ._values import shorten, truthy
from .errors import AttendanceError, AttendanceWarning, FormatError, Reason, RegisterError

__all__ = [
    "CORE_OPTIONS",
    "DEFAULT_MAX_FIELD_LENGTH",
    "DEFAULT_MAX_FILE_SIZE",
    "DEFAULT_MAX_REJECTED_ROWS",
    "ENTRY_POINT_GROUP",
    "LONG_COLUMNS",
    "NO_PLUGINS_ENV",
    "PUPIL_COLUMNS",
    "REJECTED_COLUMNS",
    "Adapter",
    "AdapterOutput",
    "LoadResult",
    "RejectedStore",
    "Source",
    "adapter_distributions",
    "check_options",
    "detect",
    "formats",
    "get_adapter",
    "load",
    "register_adapter",
    "registry",
    "unregister_adapter",
]

#: Entry-point group adapters are published under.
ENTRY_POINT_GROUP = "attendance_core.adapters"
#: Environment variable that, set to ``1``/``true``/``yes``, turns entry-point discovery off.
NO_PLUGINS_ENV = "ATTENDANCE_CORE_NO_PLUGINS"
#: Default largest source :func:`load` reads, in bytes (2 GiB); raise with ``max_file_size``.
DEFAULT_MAX_FILE_SIZE = 2 * 1024**3
#: Default longest field of a mark row, in characters; raise with ``max_field_length``.
DEFAULT_MAX_FIELD_LENGTH = 1024
#: Options :func:`load` handles itself and passes on to every adapter's ``read``.
CORE_OPTIONS = frozenset({"max_file_size", "max_field_length"})
#: Columns of the long layout an adapter yields (``school_id`` optional).
LONG_COLUMNS: tuple[str, ...] = ("pupil_id", "date", "session", "code", "school_id")
#: Columns the pupils frame may carry (indexed by ``pupil_id``), as in api.md ``load.pupils``.
PUPIL_COLUMNS: tuple[str, ...] = _pupils.COLUMNS

_HEAD_DEFAULT = 8192


# --------------------------------------------------------------------------------------------
# Sources


class _NonClosing(io.RawIOBase):
    """A raw reader over a caller's seekable binary file object that never closes it.

    It keeps its own position and seeks before every read, so several readers of one source
    (a ``head()`` while another reader is open) never disturb each other.
    """

    def __init__(self, inner: Any, start: int) -> None:
        super().__init__()
        self._inner = inner
        self._start = start
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        self._inner.seek(self._start + self._pos)
        data = self._inner.read(len(view))
        if not data:
            return 0
        n = len(data)
        view[:n] = data
        self._pos += n
        return n

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_SET:
            self._pos = offset
        elif whence == io.SEEK_CUR:
            self._pos += offset
        else:
            self._pos = int(self._inner.seek(offset, io.SEEK_END)) - self._start
        return self._pos

    def tell(self) -> int:
        return self._pos

    def close(self) -> None:
        # leave the caller's object open; only this view is closed
        super().close()


def _is_binary_file(obj: Any) -> bool:
    return callable(getattr(obj, "read", None)) and not isinstance(obj, io.TextIOBase)


@attrs.frozen(kw_only=True)
class Source:
    """Where a register comes from: a path, a bytes buffer or file object, a folder, or pages.

    ``name`` is what messages show (the file name, ``"<buffer>"`` or ``"<pages>"``), ``path``
    the file or folder when there is one, and ``obj`` the argument as the caller gave it.
    Build one with :meth:`of`.
    """

    name: str
    path: Path | None = None
    obj: Any = None
    _start: int = attrs.field(default=0, alias="start")

    @classmethod
    def of(cls, obj: Any, *, name: str | None = None, max_size: int | None = None) -> Source:
        """A source for ``obj``: a path (``str``/``PathLike``), ``bytes``, a binary file object,
        a text buffer (encoded as UTF-8), a folder, or an iterable of page dicts.

        A non-seekable stream (and a text buffer) is read into memory once so that it can be
        sniffed and re-read; with ``max_size`` it is read a block at a time and refused with a
        :class:`FormatError` as soon as it passes ``max_size`` bytes, so a stream larger than
        the limit never sits in memory whole. Raises :class:`FormatError` for a path that does
        not exist.
        """
        if isinstance(obj, Source):
            return obj
        if isinstance(obj, str | os.PathLike):
            path = Path(obj)
            if not path.exists():
                raise FormatError("no such file or folder", file=path.name or str(path))
            return cls(name=name or path.name or str(path), path=path, obj=obj)
        if isinstance(obj, bytes | bytearray | memoryview):
            return cls(name=name or "<buffer>", obj=bytes(obj))
        if isinstance(obj, io.TextIOBase):
            shown = name or _stream_name(obj)
            return cls(name=shown, obj=_read_limited(obj, max_size, shown, text=True))
        if _is_binary_file(obj):
            seekable = bool(getattr(obj, "seekable", lambda: False)())
            if not seekable:
                shown = name or _stream_name(obj)
                return cls(name=shown, obj=_read_limited(obj, max_size, shown))
            return cls(name=name or _stream_name(obj), obj=obj, start=int(obj.tell()))
        if isinstance(obj, Iterable):  # pages (a Mapping is one page)
            return cls(name=name or "<pages>", obj=obj)
        raise TypeError(
            f"cannot read a register from {type(obj).__name__}; pass a path, bytes, "
            "a binary file object or an iterable of pages"
        )

    @property
    def is_dir(self) -> bool:
        """Whether the source is a folder."""
        return self.path is not None and self.path.is_dir()

    @property
    def is_bytes(self) -> bool:
        """Whether the source is a byte stream (a file, bytes or a binary file object)."""
        if self.path is not None:
            return self.path.is_file()
        return isinstance(self.obj, bytes) or _is_binary_file(self.obj)

    @property
    def suffix(self) -> str:
        """The lower-case file extension of ``name`` (``".csv"``), or ``""``."""
        return Path(self.name).suffix.lower() if not self.name.startswith("<") else ""

    def head(self, n: int = _HEAD_DEFAULT) -> bytes:
        """The first ``n`` bytes, without consuming anything; ``b""`` when not a byte stream."""
        if not self.is_bytes:
            return b""
        with self.open() as fh:
            return fh.read(n)

    def size(self) -> int | None:
        """The size in bytes of a byte stream, or None when it cannot be known cheaply."""
        if self.path is not None:
            return self.path.stat().st_size if self.path.is_file() else None
        if isinstance(self.obj, bytes):
            return len(self.obj)
        if _is_binary_file(self.obj):
            here = self.obj.tell()
            try:
                end = int(self.obj.seek(0, io.SEEK_END))
            finally:
                self.obj.seek(here)
            return end - self._start
        return None

    def open(self) -> BinaryIO:
        """A fresh binary reader positioned at the start; closing it never closes ``obj``.

        Raises :class:`FormatError` when the source is not a byte stream (a folder or pages).
        """
        if self.path is not None:
            if not self.path.is_file():
                raise FormatError("is a folder, not a file", file=self.name)
            return self.path.open("rb")
        if isinstance(self.obj, bytes):
            return io.BytesIO(self.obj)
        if _is_binary_file(self.obj):
            return io.BufferedReader(_NonClosing(self.obj, self._start))
        raise FormatError("is not a byte stream", file=self.name)


_BLOCK = 1 << 20


def _read_limited(obj: Any, limit: int | None, name: str, *, text: bool = False) -> bytes:
    """The whole of a stream as bytes (text encoded as UTF-8), read a block at a time and
    refused as soon as it passes ``limit`` bytes."""
    if limit is None:
        data = obj.read()
        return data.encode("utf-8", "surrogatepass") if text else bytes(data)
    parts: list[bytes] = []
    total = 0
    while True:
        block = obj.read(_BLOCK)
        if not block:
            break
        raw = block.encode("utf-8", "surrogatepass") if text else bytes(block)
        total += len(raw)
        if total > limit:
            raise FormatError(
                f"stream is over the limit of {limit} bytes (raise max_file_size to read it)",
                file=name,
            )
        parts.append(raw)
    return b"".join(parts)


def _stream_name(obj: Any) -> str:
    raw = getattr(obj, "name", None)
    if isinstance(raw, str) and raw and not raw.startswith("<"):
        return Path(raw).name
    return "<buffer>"


# --------------------------------------------------------------------------------------------
# Adapter contract


def _empty_pupils() -> pd.DataFrame:
    return pd.DataFrame(index=pd.Index([], name="pupil_id", dtype=object))


@attrs.define(kw_only=True, eq=False)
class AdapterOutput:
    """What an adapter's ``read`` returns.

    ``marks`` is an iterable of DataFrame chunks in the long layout (``pupil_id``, ``date``,
    ``session``, ``code``, optional ``school_id``), each indexed by the 1-based source row
    number; codes are given as the source writes them. ``rejected`` (a
    :class:`RejectedStore`: compact columns, capped, counted by reason) collects
    ``{row, column, value, reason}`` records while marks are iterated; ``pupils``, ``rejected``,
    ``totals`` and ``warnings`` are final once ``marks`` is exhausted.
    """

    marks: Iterable[pd.DataFrame] = attrs.field(factory=list)
    pupils: pd.DataFrame = attrs.field(factory=_empty_pupils)
    rejected: RejectedStore = attrs.field(factory=RejectedStore)
    warnings: list[str] = attrs.field(factory=list)
    totals: pd.DataFrame | None = None
    code_set: str | None = None
    symbols: dict[str, str] = attrs.field(factory=dict)
    source_columns: dict[str, str] = attrs.field(factory=dict)


@runtime_checkable
class Adapter(Protocol):
    """The shape every adapter class has.

    ``sniff`` looks at a :class:`Source` (usually ``source.head()``) and says whether it is this
    format, cheaply and without raising. ``read`` returns an :class:`AdapterOutput`; with
    ``errors="raise"`` it raises :class:`FormatError`/:class:`RegisterError` naming file, row,
    column and value at the first bad row, with ``errors="collect"`` it lists bad rows in
    ``rejected`` and goes on. ``read`` takes ``**options``, among them ``max_field_length`` and
    ``max_file_size``; an adapter declares the others in an ``options`` class attribute (a
    frozenset of names), and :func:`load` refuses any other option before ``read`` is called
    (see :func:`check_options`).
    """

    name: ClassVar[str]
    extensions: ClassVar[tuple[str, ...]]
    description: ClassVar[str]

    def sniff(self, source: Source) -> bool:
        """Whether ``source`` looks like this format."""
        ...

    def read(self, source: Source, *, errors: str = "collect", **options: Any) -> AdapterOutput:
        """Read ``source`` into marks chunks, pupils and rejected rows."""
        ...


_REQUIRED_ATTRS: tuple[tuple[str, type | None], ...] = (
    ("name", str),
    ("extensions", tuple),
    ("description", str),
    ("sniff", None),
    ("read", None),
)


def check_options(
    format_name: str, known: Iterable[str] | None, options: Mapping[str, Any], file: str = ""
) -> None:
    """Raise :class:`FormatError` naming the unknown and the known options when ``options``
    holds a name that is neither in ``known`` (what the adapter declares) nor one of
    :data:`CORE_OPTIONS`. ``known=None`` (an adapter that declares no options) checks nothing:
    that adapter checks its own."""
    if known is not None:
        refuse_unknown(format_name, frozenset(known) | CORE_OPTIONS, options, file)


def refuse_unknown(
    format_name: str, allowed: frozenset[str], options: Mapping[str, Any], file: str
) -> None:
    """The one unknown-option error (used by :func:`check_options` and the adapter kit)."""
    unknown = set(options) - allowed
    if unknown:
        raise FormatError(
            f"{format_name}: unknown option(s) {', '.join(sorted(unknown))}; "
            f"known: {', '.join(sorted(allowed))}",
            file=file,
        )


def _check_shape(name: str, cls: Any, distribution: str | None) -> None:
    """Raise :class:`FormatError` naming what ``cls`` lacks to be an adapter."""
    where = f"adapter {name!r}" + (f" (distribution {distribution})" if distribution else "")
    if not isinstance(cls, type):
        raise FormatError(f"{where} is {type(cls).__name__}, not a class")
    for attr, kind in _REQUIRED_ATTRS:
        if not hasattr(cls, attr):
            raise FormatError(f"{where}: class {cls.__qualname__} has no {attr!r}")
        value = getattr(cls, attr)
        if kind is None:
            if not callable(value):
                raise FormatError(f"{where}: {cls.__qualname__}.{attr} is not callable")
        elif not isinstance(value, kind):
            raise FormatError(
                f"{where}: {cls.__qualname__}.{attr} must be {kind.__name__} "
                f"(got {type(value).__name__})"
            )


# --------------------------------------------------------------------------------------------
# Registry

_registry: dict[str, type[Adapter] | str] = {}
#: Read-only view of the registry: name -> adapter class, or ``"pkg.mod:Class"`` not yet
#: imported. Entry points appear in it after the first :func:`formats`/:func:`load` call.
registry: Mapping[str, type[Adapter] | str] = MappingProxyType(_registry)
_distributions: dict[str, str | None] = {}
_discovered = False

#: Where each known adapter comes from, for install hints when a name is not installed. The
#: generic readers ship inside attendance-core; the MIS plug-ins install from a checkout
#: (they are not on a package index yet), so the hint names the folder.
_CORE = "pip install .  (the generic readers are part of attendance-core)"
_KNOWN_PROVIDERS: dict[str, str] = {
    "generic-csv": _CORE,
    "generic-parquet": _CORE,
    "wide-csv": _CORE,
    "wide-excel": _CORE,
    "generic-excel": _CORE,
    "sims-xml": "pip install ./adapters/sims",
    "arbor-json": "pip install ./adapters/arbor",
    "ctf-xml": "pip install ./adapters/ctf",
    "wonde-json": "pip install ./adapters/wonde",
    "assembly-json": "pip install ./adapters/assembly",
    "edfi-json": "pip install ./adapters/edfi",
    "edfi-xml": "pip install ./adapters/edfi",
}


#: The file name endings of the adapters in this repository, by import path, so that
#: :func:`detect` can try the adapters a file's name points at without importing every
#: installed one (``tests/test_adapters.py`` checks them against each class's ``extensions``).
#: An adapter not listed here is imported to learn its endings.
_KNOWN_EXTENSIONS: dict[str, tuple[str, ...]] = {
    "attendance_core_generic.long:GenericCsvAdapter": (".csv", ".txt", ".tsv"),
    "attendance_core_generic.long:GenericParquetAdapter": (".parquet", ".pq"),
    "attendance_core_generic.long:GenericExcelAdapter": (".xlsx", ".xlsm"),
    "attendance_core_generic.wide:WideCsvAdapter": (".csv", ".txt", ".tsv"),
    "attendance_core_generic.wide:WideExcelAdapter": (".xlsx", ".xlsm"),
    "attendance_core_sims.adapter:SimsXmlAdapter": (".xml",),
    "attendance_core_ctf.adapter:CtfXmlAdapter": (".xml",),
    "attendance_core_edfi.xml_adapter:EdFiXmlAdapter": (".xml",),
    "attendance_core_edfi.json_adapter:EdFiJsonAdapter": (".json",),
    "attendance_core_arbor.adapter:ArborJsonAdapter": (".json",),
    "attendance_core_wonde.adapter:WondeJsonAdapter": (".json",),
    "attendance_core_assembly.adapter:AssemblyJsonAdapter": (".json",),
}


def _plugins_disabled() -> bool:
    return truthy(os.environ.get(NO_PLUGINS_ENV))


def _discover() -> None:
    """Read the entry points once (names and import paths only; nothing is imported)."""
    global _discovered  # noqa: PLW0603 - one process-wide, lazily filled registry
    if _discovered:
        return
    _discovered = True
    if _plugins_disabled():
        return
    found = sorted(
        metadata.entry_points(group=ENTRY_POINT_GROUP),
        key=lambda ep: (ep.name, ep.dist.name if ep.dist else ""),
    )
    for ep in found:
        dist = ep.dist.name if ep.dist is not None else None
        current = _registry.get(ep.name)
        if current is not None:
            if _target_text(current) != ep.value:
                warnings.warn(
                    f"adapter {ep.name!r} from {dist or 'an unnamed distribution'} ignored: "
                    f"the name is already taken by "
                    f"{_distributions.get(ep.name) or 'a registration in code'}",
                    AttendanceWarning,
                    stacklevel=3,
                )
            continue
        _registry[ep.name] = ep.value
        _distributions[ep.name] = dist


def _target_text(target: type[Adapter] | str) -> str:
    if isinstance(target, str):
        return target
    return f"{target.__module__}:{target.__qualname__}"


def register_adapter(
    name: str,
    obj: type[Adapter] | str,
    *,
    replace: bool = False,
    distribution: str | None = None,
) -> None:
    """Register an adapter class (or its ``"pkg.module:Class"`` path) under ``name``.

    A string is imported only when the adapter is first used. Registering a different adapter
    under a name that is taken raises :class:`FormatError` unless ``replace=True``;
    re-registering the same target is a no-op. A class is checked against the
    :class:`Adapter` shape now, a string when it is imported.
    """
    if not isinstance(name, str) or not name:
        raise TypeError("adapter name must be a non-empty string")
    if isinstance(obj, str):
        if ":" not in obj:
            raise FormatError(
                f"adapter {name!r}: import path {obj!r} must look like 'package.module:Class'"
            )
    else:
        _check_shape(name, obj, distribution)
    _discover()
    current = _registry.get(name)
    if current is not None and not replace and _target_text(current) != _target_text(obj):
        raise FormatError(
            f"adapter {name!r} is already registered ({_target_text(current)}); "
            "pass replace=True to replace it"
        )
    _registry[name] = obj
    _distributions[name] = distribution


def unregister_adapter(name: str) -> None:
    """Remove ``name`` from the registry (for tests and for replacing a plug-in in a session).

    Raises :class:`FormatError` listing the known names when ``name`` is not registered.
    """
    _discover()
    if name not in _registry:
        raise FormatError(_unknown_message(name))
    del _registry[name]
    _distributions.pop(name, None)


def formats() -> list[str]:
    """Names of the registered adapters, sorted, without importing any of them."""
    _discover()
    return sorted(_registry)


def adapter_distributions() -> dict[str, str | None]:
    """Which distribution provides each adapter (None for adapters registered in code)."""
    _discover()
    return {name: _distributions.get(name) for name in sorted(_registry)}


def _unknown_message(name: str) -> str:
    known = ", ".join(sorted(_registry)) or "none installed"
    text = f"unknown format {name!r}; known formats: {known}"
    provider = _KNOWN_PROVIDERS.get(name)
    if provider:
        text += f"; to install {name!r} from a checkout of attendance-core: {provider}"
    return text


def _resolve(name: str) -> type[Adapter]:
    """The adapter class registered as ``name``, importing and caching it on first use."""
    _discover()
    if name not in _registry:
        raise FormatError(_unknown_message(name))
    target = _registry[name]
    if not isinstance(target, str):
        return target
    dist = _distributions.get(name)
    module_name, _, attr_path = target.partition(":")
    hint = _KNOWN_PROVIDERS.get(name) or f"pip install {dist or module_name.split('.')[0]}"
    try:
        obj: Any = importlib.import_module(module_name)
        for part in attr_path.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as exc:
        raise FormatError(
            f"adapter {name!r} ({target}) cannot be imported ({type(exc).__name__}: {exc}); "
            f"install or repair it: {hint}"
        ) from exc
    _check_shape(name, obj, dist)
    _registry[name] = obj
    return obj  # type: ignore[no-any-return]


def get_adapter(name: str) -> Adapter:
    """A new instance of the adapter registered as ``name``.

    Raises :class:`FormatError` listing the known names when ``name`` is unknown, and naming the
    distribution to install when its module cannot be imported.
    """
    return _resolve(name)()


# --------------------------------------------------------------------------------------------
# Detection


def _extension_matches(adapter: Adapter, source: Source) -> bool:
    return _ends_with_one_of(source.name, adapter.extensions)


def _ends_with_one_of(name: str, extensions: Iterable[str]) -> bool:
    lowered = name.lower()
    for ext in extensions:
        wanted = ext.lower() if ext.startswith(".") else f".{ext.lower()}"
        if lowered.endswith(wanted):
            return True
    return False


def _named_by_extension(src: Source) -> str | None:
    """The adapter :func:`detect` picks, found by sniffing only the adapters whose extensions
    match the source's name; None when not exactly one of them accepts it (then every adapter
    is sniffed).

    Exactly one such adapter accepting the source is :func:`detect`'s answer whatever the others
    say: alone among the candidates it wins, and among several it is the one whose extension
    matches. So a ``.csv`` file imports the CSV readers only, not every installed plug-in.
    """
    hits: list[str] = []
    for name in formats():
        target = _registry[name]
        if isinstance(target, str) and target in _KNOWN_EXTENSIONS:
            extensions: Iterable[str] = _KNOWN_EXTENSIONS[target]
        else:
            try:
                extensions = _resolve(name).extensions
            except FormatError:  # not importable: never a candidate
                continue
        if not _ends_with_one_of(src.name, extensions):
            continue
        try:
            adapter = get_adapter(name)
        except FormatError:
            continue
        if _safe_sniff(adapter, src):
            hits.append(name)
    return hits[0] if len(hits) == 1 else None


def _safe_sniff(adapter: Adapter, source: Source) -> bool:
    try:
        return bool(adapter.sniff(source))
    except Exception:  # a sniffer that breaks on odd input just says "no"
        return False


def _sniffers(src: Source) -> tuple[list[tuple[str, Adapter]], list[str]]:
    """The adapters whose ``sniff`` accepts ``src``, and the names that cannot be imported."""
    candidates: list[tuple[str, Adapter]] = []
    broken: list[str] = []
    for name in formats():
        try:
            adapter = get_adapter(name)
        except FormatError:
            broken.append(name)
            continue
        if _safe_sniff(adapter, src):
            candidates.append((name, adapter))
    return candidates, broken


def _detect_or_none(path: Path) -> str | None:
    """The adapter for ``path`` as :func:`detect` decides, or None when no adapter
    recognises it (several fitting still raise: that is a question for the user)."""
    return _decide(Source.of(path), required=False)


def _claimed(folder: Path, format: str | None) -> bool:
    """Whether an adapter reads ``folder`` as one export (an Arbor or Wonde folder)."""
    src = Source.of(folder)
    if format is not None:
        return _safe_sniff(get_adapter(format), src)
    return bool(_sniffers(src)[0])


def _expand(path: Path, format: str | None, named: bool) -> list[tuple[Path, bool]]:
    """``(path, may be skipped)`` for each export under ``path``: a file or a folder an adapter
    claims is one export; any other folder stands for its entries, recursively. Entries found
    in a folder may be skipped when no adapter knows them; a file the caller named may not."""
    from .exports import folder_entries

    if not path.is_dir() or _claimed(path, format):
        return [(path, not named)]
    out: list[tuple[Path, bool]] = []
    for entry in folder_entries(path):
        out.extend(_expand(entry, format, named=False))
    return out


def _several(target: Any, format: str | None) -> list[tuple[Path, bool]] | None:
    """The exports to read one by one when ``target`` is a list of paths or a folder that no
    adapter reads as one export; None when it is one source."""
    from .exports import is_several

    if is_several(target):
        return [item for p in target for item in _expand(Path(p), format, named=True)]
    if not isinstance(target, str | os.PathLike) or not Path(target).is_dir():
        return None
    if _claimed(Path(target), format):
        return None
    return _expand(Path(target), format, named=True)


def detect(source: Any) -> str:
    """The name of the one adapter whose ``sniff`` accepts ``source``.

    When several accept it, the one whose extensions match the file name wins; when none, or
    several still, raises :class:`FormatError` listing the candidates. Adapters that cannot be
    imported are skipped (noted in the message when nothing fits).
    """
    name = _decide(Source.of(source), required=True)
    assert name is not None
    return name


def _decide(src: Source, *, required: bool) -> str | None:
    """:func:`detect`'s decision from one round of sniffing; with ``required=False`` None
    when no adapter recognises ``src`` instead of a :class:`FormatError`."""
    named = _named_by_extension(src)
    if named is not None:
        return named
    candidates, broken = _sniffers(src)
    if len(candidates) == 1:
        return candidates[0][0]
    if not candidates:
        if not required:
            return None
        installed = ", ".join(formats()) or "none"
        text = f"no installed adapter recognises this source; installed formats: {installed}"
        if broken:
            text += f" (not importable: {', '.join(broken)})"
        raise FormatError(text + "; pass format=... to choose one", file=src.name)
    by_extension = [name for name, adapter in candidates if _extension_matches(adapter, src)]
    if len(by_extension) == 1:
        return by_extension[0]
    names = by_extension or [name for name, _ in candidates]
    raise FormatError(
        f"several formats fit this source: {', '.join(names)}; pass format=... to choose one",
        file=src.name,
    )


# --------------------------------------------------------------------------------------------
# Loading


@attrs.frozen(kw_only=True, eq=False)
class LoadResult:
    """The outcome of :func:`load`.

    ``register`` holds the accepted marks, ``pupils`` the pupil attributes the format carries,
    ``rejected`` every row left out (``row``, ``column``, ``value``, ``reason``; ``row`` is the
    1-based source row number), sorted by row -- the same table as ``register.rejected``.
    ``error_counts`` counts the rejected rows by reason id and ``rejected_count`` is their
    number. ``rows_read`` counts the source rows seen, so
    ``rows_read == len(register.to_long()) + rejected_count``, and ``rejected_count ==
    len(rejected)`` unless more than ``max_rejected_rows`` rows were rejected: then
    ``rejected`` lists the first ``max_rejected_rows`` by row number, ``error_counts`` still
    counts every one, and a warning says so. ``totals`` holds period totals of summary
    formats; ``format`` is the adapter name; ``warnings`` notes accepted oddities.
    """

    register: Any
    pupils: pd.DataFrame
    rejected: pd.DataFrame
    rows_read: int
    warnings: tuple[str, ...] = ()
    totals: pd.DataFrame | None = None
    format: str = ""
    source: str = ""
    error_counts: Mapping[str, int] = attrs.field(factory=dict)
    rejected_count: int = -1

    def __attrs_post_init__(self) -> None:
        if self.rejected_count < 0:  # built by hand: the table is the whole story
            object.__setattr__(self, "rejected_count", len(self.rejected))
        if not self.error_counts and len(self.rejected):
            object.__setattr__(self, "error_counts", reason_counts(self.rejected))

    @property
    def rejected_truncated(self) -> bool:
        """Whether more rows were rejected than ``rejected`` lists (the cap was reached)."""
        return self.rejected_count > len(self.rejected)


def with_given_pupils(loaded: pd.DataFrame, given: pd.DataFrame | None) -> pd.DataFrame:
    """The export's pupils table completed and overridden by a table the caller gives
    (``load(..., pupils=table)``, the CLI's ``--pupils``): the caller's cells win, the export
    fills the rest, and pupils in either are kept. Matched on (``school_id``, ``pupil_id``)
    when both tables name schools, else on ``pupil_id``."""
    if given is None:
        return loaded
    given = given.copy()
    given.index = given.index.astype(str).rename("pupil_id")
    if not len(loaded):
        return given
    base = loaded.copy()
    base.index = base.index.astype(str).rename("pupil_id")
    if "school_id" in base.columns and "school_id" in given.columns:
        keyed = [
            t.set_index("school_id", append=True).reorder_levels(["school_id", "pupil_id"])
            for t in (given, base)
        ]
        if not any(t.index.has_duplicates for t in keyed):
            merged = keyed[0].combine_first(keyed[1])
            return merged.reset_index("school_id")
    if given.index.has_duplicates or base.index.has_duplicates:
        raise AttendanceError(
            "pupils: a pupil_id appears more than once; give school_id in both tables"
        )
    return given.combine_first(base)


@contextlib.contextmanager
def _adapter_failures(name: str, file: str) -> Iterator[None]:
    """Turn a stray exception of an adapter reading untrusted input into a FormatError.

    The original exception is chained; its text (which may quote data) is not repeated.
    """
    try:
        yield
    except AttendanceError:
        raise
    except Exception as exc:
        raise FormatError(
            f"adapter {name!r} could not read the source ({type(exc).__name__})", file=file
        ) from exc


@attrs.define
class _Counter:
    """Passes chunks through, counting rows and rejecting fields over the length limit."""

    _chunks: Iterable[pd.DataFrame]
    _limit: int = attrs.field(kw_only=True)
    _errors: str = attrs.field(kw_only=True)
    _file: str = attrs.field(kw_only=True)
    _rejected: RejectedStore = attrs.field(kw_only=True)
    _adapter: str = attrs.field(default="", kw_only=True)
    _on_done: Callable[[], None] | None = attrs.field(default=None, kw_only=True)
    rows: int = attrs.field(default=0, init=False)

    def __iter__(self) -> Iterator[pd.DataFrame]:
        chunks = iter(self._chunks)
        while True:
            with _adapter_failures(self._adapter, self._file):
                chunk = next(chunks, None)
            if chunk is None:
                break
            if not isinstance(chunk, pd.DataFrame):
                raise TypeError(f"adapter yielded {type(chunk).__name__}, not a DataFrame")
            self.rows += len(chunk)
            if not len(chunk):
                continue
            yield self._check_lengths(chunk)
        if self._on_done is not None:
            self._on_done()

    def _check_lengths(self, chunk: pd.DataFrame) -> pd.DataFrame:
        too_long: npt.NDArray[np.bool_] | None = None  # made only when a field is too long
        present = set(chunk.columns)
        for column in LONG_COLUMNS:
            if column not in present:
                continue
            values = chunk[column]
            if values.dtype.kind in "biufcmM":
                continue
            over = self._over_limit(values)
            if over is None:
                continue
            if too_long is None:
                too_long = np.zeros(len(chunk), dtype=bool)
            for i in np.flatnonzero(over & ~too_long):
                row = chunk.index[int(i)]
                value = values.iloc[i]
                if self._errors == "raise":
                    raise RegisterError(
                        f"field longer than {self._limit} characters "
                        "(raise max_field_length to accept it)",
                        file=self._file,
                        row=row,
                        column=column,
                        reason=Reason.FIELD_TOO_LONG,
                    )
                self._rejected.add(row, column, shorten(str(value)), Reason.FIELD_TOO_LONG)
            too_long |= over
        return chunk[~too_long] if too_long is not None else chunk

    def _over_limit(self, values: pd.Series) -> npt.NDArray[np.bool_] | None:
        """Which rows of a column are over the length limit; None when none is (the common
        case costs no pass over the rows)."""
        if isinstance(values.dtype, pd.CategoricalDtype):
            # measured once per category; rows share their category's length
            per_category = _text_lengths(pd.Series(values.cat.categories.to_numpy()))
            over_category = per_category.to_numpy() > self._limit
            if not over_category.any():
                return None
            codes = values.cat.codes.to_numpy()
            over: npt.NDArray[np.bool_] = np.append(over_category, False)[codes]
            return over
        flags = _over(values, self._limit).to_numpy(dtype=bool)
        return flags if flags.any() else None


def _over(values: pd.Series, limit: int) -> pd.Series:
    """Whether each value of a column of text (or of mixed objects) is over ``limit``."""
    try:
        lengths = values.str.len()  # vectorised for text columns
    except AttributeError:  # not text: lengths of the odd strings only
        lengths = _text_lengths(values)
    return (lengths > limit).fillna(False).astype(bool)


def _text_lengths(values: pd.Series) -> pd.Series:
    """Lengths of the strings in a column of mixed objects (0 for other values), measured once
    per distinct value."""
    try:
        codes, uniques = pd.factorize(values.to_numpy(dtype=object))
    except TypeError:  # unhashable values: one at a time
        return values.map(lambda v: len(v) if isinstance(v, str) else 0)
    distinct = [len(v) if isinstance(v, str) else 0 for v in uniques]
    per_value = np.asarray([*distinct, 0], dtype=np.int64)  # code -1 (missing) -> 0
    return pd.Series(per_value[codes], index=values.index)


def _from_long() -> Callable[..., Any]:
    from .register import Register

    return Register.from_long


_URL_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]+)://")


def _fetch_url(target: Any, format: str | None, options: dict[str, Any]) -> tuple[str, Any] | None:
    """(adapter name, fetched pages) when ``target`` is an API URL such as
    ``wonde://SCHOOL_ID``: the adapter whose ``url_schemes`` holds the scheme fetches it (taking
    its fetch options, e.g. ``token``, out of ``options``). None for anything else."""
    match = _URL_SCHEME.match(target) if isinstance(target, str) else None
    if match is None or match.group(1).lower() == "file":
        return None
    scheme = match.group(1).lower()
    names = [format] if format is not None else formats()
    for name in names:
        try:
            adapter = get_adapter(name)
        except FormatError:
            continue
        if scheme in getattr(adapter, "url_schemes", ()):
            return name, adapter.fetch(target, options)  # type: ignore[attr-defined]
    raise FormatError(f"no installed adapter fetches {scheme}:// URLs", file=target)


def load(
    path_or_buffer: Any,
    format: str | None = None,  # the contract names it ``format``
    errors: str = "collect",
    **options: Any,
) -> LoadResult:
    """Read a register export with the adapter for its format.

    ``path_or_buffer`` is a path, ``bytes``, a binary file object, a folder or an iterable of
    pages (for API adapters), a list of paths, or a folder of several exports (a trust's
    folder: each file read on its own, formats may differ, one register; see
    ``attendance_core.exports``), or an API URL (``"wonde://SCHOOL_ID"``,
    ``"assembly://SCHOOL_ID"``) that the adapter declaring that scheme fetches first
    (``token=`` or its environment variable; see the adapter's README). ``pupils=`` (a
    pupils table) completes the export's own and bounds enrolments by its admission and
    leaving dates. ``format=None`` detects the format with each adapter's ``sniff``
    (see :func:`detect`); name one of :func:`formats` to skip detection. ``errors="collect"``
    lists bad rows in ``rejected``; ``errors="raise"`` raises :class:`RegisterError` (or
    :class:`FormatError`) at the first bad row. Other ``options`` go to the adapter; the core
    ones are ``max_file_size`` (bytes) and ``max_field_length`` (characters).
    ``max_rejected_rows`` (default :data:`DEFAULT_MAX_REJECTED_ROWS`) caps the rows listed in
    ``rejected``; it is not passed to the adapter.

    Invariant: ``rows_read == len(result.register.to_long()) + result.rejected_count``, and
    ``rejected_count == len(result.rejected)`` while the cap is not reached.
    """
    check_errors(errors)
    several = _several(path_or_buffer, format)
    if several is not None:  # a list of files, or a trust's folder of exports
        from .exports import Reading, is_several, load_several

        folder = None if is_several(path_or_buffer) else Path(path_or_buffer)
        given = options.pop("pupils", None)
        progress = bool(options.pop("progress", False))
        return load_several(
            several,
            Reading(format=format, errors=errors, options=options, progress=progress),
            name=folder.name if folder is not None else f"{len(several)} files",
            pupils=given,
        )
    options.pop("progress", None)  # one source: nothing to count
    max_rejected = int(options.pop("max_rejected_rows", DEFAULT_MAX_REJECTED_ROWS))
    if max_rejected < 0:
        raise ValueError(f"max_rejected_rows must be at least 0 (got {max_rejected})")
    with capped(max_rejected):
        return _load(path_or_buffer, format, errors, max_rejected, options)


def _load(
    path_or_buffer: Any, format: str | None, errors: str, cap: int, options: dict[str, Any]
) -> LoadResult:
    given_pupils = options.pop("pupils", None)
    max_file_size = int(options.get("max_file_size", DEFAULT_MAX_FILE_SIZE))
    max_field_length = int(options.get("max_field_length", DEFAULT_MAX_FIELD_LENGTH))
    fetched = _fetch_url(path_or_buffer, format, options)
    if fetched is not None:  # "wonde://SCHOOL_ID": pages fetched by the adapter, then read
        format, pages = fetched
        source = Source.of(pages, name=path_or_buffer)
    else:
        source = Source.of(path_or_buffer, max_size=max_file_size)
    size = source.size()
    if size is not None and size > max_file_size:
        raise FormatError(
            f"file is {size} bytes, over the limit of {max_file_size} "
            "(raise max_file_size to read it)",
            file=source.name,
        )
    name = format if format is not None else detect(source)
    adapter = get_adapter(name)
    check_options(name, getattr(adapter, "options", None), options, source.name)
    from_long = _from_long()
    guarded = RejectedStore(cap)
    with _adapter_failures(name, source.name):
        output = adapter.read(source, errors=errors, **options)
    if not isinstance(output, AdapterOutput):
        raise TypeError(f"adapter {name!r} returned {type(output).__name__}, not AdapterOutput")
    counter = _Counter(
        output.marks,
        limit=max_field_length,
        errors=errors,
        file=source.name,
        rejected=guarded,
        adapter=name,
    )
    register = from_long(
        counter,
        errors=errors,
        # final only once the marks are exhausted
        pupils=lambda: with_given_pupils(output.pupils, given_pupils),
        code_set=output.code_set,
        symbols=output.symbols or None,
        source=source.name,
        source_columns=output.source_columns or None,
    )
    # one table of every rejected row: the adapter's, the length guard's and the register's
    adapter_rejected = output.rejected
    store = RejectedStore(cap)
    with _adapter_failures(name, source.name):
        store.extend(adapter_rejected)  # a third-party adapter may still hand a list of dicts
    store.merge(guarded)
    core_rejected = getattr(register, "rejected", None)
    if isinstance(core_rejected, pd.DataFrame) and len(core_rejected):
        store.absorb(core_rejected, getattr(register, "error_counts", None))
    rejected = store.frame()
    notes = list(output.warnings)
    if store.dropped:
        counts = ", ".join(f"{why} {count}" for why, count in store.error_counts.items())
        notes.append(
            f"{store.total} rows rejected: the first {len(store)} by row number are listed "
            f"(max_rejected_rows={cap}); every one is counted in error_counts ({counts})"
        )
    # one table: the register reports the load's rejected rows and their counts
    register = register.with_rejected(rejected, store.error_counts)
    for text in notes:
        warnings.warn(f"{source.name}: {text}", AttendanceWarning, stacklevel=3)
    return LoadResult(
        register=register,
        pupils=with_given_pupils(output.pupils, given_pupils),
        rejected=rejected,
        rows_read=counter.rows + rejected_total(adapter_rejected),
        warnings=tuple(notes),
        totals=output.totals,
        format=name,
        source=source.name,
        error_counts=store.error_counts,
        rejected_count=store.total,
    )
