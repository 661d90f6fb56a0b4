"""The bundled data files (code sets, band schemes, policies), read once per process."""

from __future__ import annotations

import functools
import tomllib
from collections.abc import Callable, Iterable, Mapping
from importlib import resources
from pathlib import Path
from typing import Any, Protocol, TypeVar


class _HasId(Protocol):
    @property
    def id(self) -> str: ...


T = TypeVar("T", bound=_HasId)


@functools.cache
def _tables(folder: str) -> tuple[tuple[str, dict[str, Any]], ...]:
    root = resources.files("attendance_core") / "data" / folder
    return tuple(
        (entry.name, tomllib.loads(entry.read_text(encoding="utf-8")))
        for entry in sorted(root.iterdir(), key=lambda e: e.name)
        if entry.name.endswith(".toml")
    )


def table(folder: str, name: str) -> dict[str, Any]:
    """The bundled TOML file ``data/<folder>/<name>``, parsed (read once per process)."""
    return dict(_tables(folder))[name]


def bundled(folder: str, build: Callable[[Mapping[str, Any], str], T]) -> dict[str, T]:
    """Each TOML file of ``data/<folder>`` built into an object, keyed by its ``id``.

    A fresh dict every call, built whole before it is returned: a second thread never sees a
    half-filled table (Dask workers call this concurrently).
    """
    objects = (build(data, name) for name, data in _tables(folder))
    return {obj.id: obj for obj in objects}


def by_id(objects: Iterable[T], wanted: str) -> T:
    """The first of ``objects`` whose ``id`` is ``wanted``; ``KeyError(wanted)`` when none is."""
    for obj in objects:
        if obj.id == wanted:
            return obj
    raise KeyError(wanted)


M = TypeVar("M")


def resolve(
    ref: Any,
    *,
    model: type[M],
    known: Mapping[str, M],
    from_toml: Callable[[Path], M],
    from_dict: Callable[[Mapping[str, Any]], M] | None = None,
    error: Callable[[str], Exception],
    what: str,
    listed: str = "known",
    hint: str = "",
) -> M:
    """The one resolver of a code set, band scheme or policy reference: the object itself, a
    mapping (when ``from_dict`` is given), a bundled id, or the path of a ``.toml`` file.
    Anything else raises ``error`` with a message that lists the known ids."""
    if isinstance(ref, model):
        return ref
    if from_dict is not None and isinstance(ref, Mapping):
        return from_dict(ref)
    if isinstance(ref, str) and ref in known:
        return known[ref]
    path = Path(ref)
    if path.suffix == ".toml" and path.exists():
        return from_toml(path)
    raise error(f"unknown {what} {str(ref)!r}; {listed}: {', '.join(sorted(known))}{hint}")
