"""The bundled data files (code sets, band schemes, policies), read once per process."""

from __future__ import annotations

import functools
import tomllib
from collections.abc import Callable, Mapping
from importlib import resources
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


def bundled(folder: str, build: Callable[[Mapping[str, Any], str], T]) -> dict[str, T]:
    """Each TOML file of ``data/<folder>`` built into an object, keyed by its ``id``.

    A fresh dict every call, built whole before it is returned: a second thread never sees a
    half-filled table (Dask workers call this concurrently).
    """
    objects = (build(data, name) for name, data in _tables(folder))
    return {obj.id: obj for obj in objects}
