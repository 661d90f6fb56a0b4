"""Attendance and absence codes: the statutory code sets, as data.

A :class:`CodeSet` is read from a TOML file (``data/codesets/*.toml`` ships the 2024 and the
2006 sets). Each mark of a register is decided by the set in force on its date, unless the
caller forces one set or loads a local one.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
import re
import tomllib
from collections.abc import Iterable, Mapping
from enum import StrEnum
from pathlib import Path
from typing import Any

import attrs

from ._data import bundled
from .errors import AttendanceError

__all__ = [
    "MISSING_MARK",
    "AttendanceCode",
    "Category",
    "CodeSet",
    "code_set",
    "code_sets",
    "load_code_set",
    "normalise_code",
]

#: The symbol of a missing mark (register not taken) in ``to_long()`` output.
MISSING_MARK = "-"

_SUB_CODE = re.compile(r"^[A-Z][0-9]{2}$")


class Category(StrEnum):
    """The statutory category of a code, which decides how it counts."""

    PRESENT = "present"
    APPROVED_ACTIVITY = "approved_activity"
    AUTHORISED = "authorised"
    UNAUTHORISED = "unauthorised"
    NOT_POSSIBLE = "not_possible"

    @property
    def possible(self) -> bool:
        """Whether a session with this code counts as a possible session."""
        return self is not Category.NOT_POSSIBLE

    @property
    def attendance(self) -> bool:
        """Whether it counts as attendance (present or approved educational activity)."""
        return self in (Category.PRESENT, Category.APPROVED_ACTIVITY)

    @property
    def absence(self) -> bool:
        """Whether it counts as absence (authorised or unauthorised)."""
        return self in (Category.AUTHORISED, Category.UNAUTHORISED)


@attrs.frozen(kw_only=True)
class AttendanceCode:
    """One code of a code set: its symbol, meaning and statutory category."""

    code: str
    meaning: str
    category: Category = attrs.field(converter=Category)

    @property
    def possible(self) -> bool:
        """Whether the session counts as possible."""
        return self.category.possible

    @property
    def attendance(self) -> bool:
        """Whether the session counts as attendance."""
        return self.category.attendance


@attrs.frozen(kw_only=True)
class CodeSet:
    """A set of attendance codes in force over a range of dates.

    ``symbols`` maps local display symbols (e.g. a school's ``7``) onto codes of the set.
    """

    id: str
    title: str = ""
    codes: tuple[AttendanceCode, ...]
    valid_from: dt.date | None = None
    valid_to: dt.date | None = None
    symbols: Mapping[str, str] = attrs.field(factory=dict)
    references: tuple[str, ...] = ()

    def __attrs_post_init__(self) -> None:
        known = {c.code for c in self.codes}
        if len(known) != len(self.codes):
            raise AttendanceError(f"code set {self.id!r}: a code is listed twice")
        for symbol, target in self.symbols.items():
            if target not in known:
                raise AttendanceError(
                    f"code set {self.id!r}: symbol {symbol!r} maps to {target!r}, "
                    "which is not a code of the set"
                )

    def __contains__(self, code: object) -> bool:
        return code in self.by_code

    def __getitem__(self, code: str) -> AttendanceCode:
        return self.by_code[code]

    def __iter__(self) -> Any:
        return iter(self.codes)

    def __len__(self) -> int:
        return len(self.codes)

    @property
    def by_code(self) -> dict[str, AttendanceCode]:
        """The codes keyed by symbol."""
        return {c.code: c for c in self.codes}

    def in_force(self, date: dt.date) -> bool:
        """Whether the set applies to marks on ``date``."""
        if self.valid_from is not None and date < self.valid_from:
            return False
        return not (self.valid_to is not None and date > self.valid_to)

    def resolve(self, raw: str) -> str | None:
        """The code of this set that a normalised mark stands for, or None.

        A local symbol maps through ``symbols``; a vendor sub-code such as ``I01`` that is not
        itself a code maps to its first letter when that letter is a code of the set.
        """
        codes = self.by_code
        if raw in codes:
            return raw
        if raw in self.symbols:
            return self.symbols[raw]
        if _SUB_CODE.match(raw) and raw[0] in codes:
            return raw[0]
        return None

    def with_symbols(self, symbols: Mapping[str, str]) -> CodeSet:
        """A copy that also maps the given local display symbols onto codes of the set."""
        merged = {**self.symbols, **{normalise_code(k): v for k, v in symbols.items()}}
        return attrs.evolve(self, symbols=merged)


def normalise_code(value: object) -> str:
    """A raw mark as codes are compared: spaces stripped, upper case; missing → ``"-"``."""
    if value is None:
        return MISSING_MARK
    if isinstance(value, float) and math.isnan(value):
        return MISSING_MARK
    text = str(value).strip().upper()
    return text if text else MISSING_MARK


def _from_mapping(data: Mapping[str, Any], origin: str) -> CodeSet:
    try:
        codes = tuple(
            AttendanceCode(
                code=str(sym), meaning=str(row.get("meaning", "")), category=row["category"]
            )
            for sym, row in data["codes"].items()
        )
        return CodeSet(
            id=str(data["id"]),
            title=str(data.get("title", "")),
            codes=codes,
            valid_from=data.get("valid_from"),
            valid_to=data.get("valid_to"),
            symbols={normalise_code(k): str(v) for k, v in data.get("symbols", {}).items()},
            references=tuple(data.get("references", ())),
        )
    except (KeyError, ValueError, TypeError, AttributeError) as exc:
        raise AttendanceError(f"{origin}: not a valid code set ({exc})") from exc


def load_code_set(path: str | Path) -> CodeSet:
    """Read a code set from a TOML file (the layout of the bundled ``england-2024.toml``)."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise AttendanceError(f"{path.name}: cannot read code set ({exc})") from exc
    return _from_mapping(data, path.name)


@functools.cache
def _builtin() -> dict[str, CodeSet]:
    return bundled("codesets", _from_mapping)


def code_sets() -> dict[str, CodeSet]:
    """The bundled code sets by id (``england-2024``, ``england-2006``)."""
    return dict(_builtin())


def code_set(ref: str | Path | CodeSet) -> CodeSet:
    """Resolve a code set from its id, a TOML path, or a :class:`CodeSet`."""
    if isinstance(ref, CodeSet):
        return ref
    sets = code_sets()
    if isinstance(ref, str) and ref in sets:
        return sets[ref]
    path = Path(ref)
    if path.suffix == ".toml" and path.exists():
        return load_code_set(path)
    raise AttendanceError(f"unknown code set {str(ref)!r}; known: {', '.join(sorted(sets))}")


def sets_by_date(forced: str | Path | CodeSet | Iterable[CodeSet] | None) -> tuple[CodeSet, ...]:
    """The code sets a register uses: one forced set, or the bundled sets chosen by date."""
    if forced is None:
        return tuple(sorted(code_sets().values(), key=lambda s: s.valid_from or dt.date.min))
    if isinstance(forced, str | Path | CodeSet):
        return (attrs.evolve(code_set(forced), valid_from=None, valid_to=None),)
    return tuple(forced)
