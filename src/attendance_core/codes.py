"""Attendance and absence codes: the statutory code sets, as data.

A :class:`CodeSet` is read from a TOML file (``data/codesets/*.toml`` ships the 2024 and the
2006 sets). Each mark of a register is decided by the set in force on its date, unless the
caller forces one set or loads a local one.

Besides its statutory category a code carries *tags* (``late``, ``illness``, ``threshold``, ...,
see :data:`TAGS`): every count, pattern and rule of the library reads categories and tags, never
a code's letter, so a local code (say ``I2``, illness: mental health) counts as its tags say.
A local file may ``extends = "england-2024"`` and state only the codes it adds or changes.
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

from ._data import bundled, resolve
from .errors import CodeSetError

__all__ = [
    "MISSING_MARK",
    "TAGS",
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

#: The tags a code may carry (the code-set files describe each). A tag outside this list is a
#: :class:`~attendance_core.errors.CodeSetError`, so that a misspelt tag never silently stops a
#: code from being counted.
TAGS: frozenset[str] = frozenset(
    {
        "closure",  # planned closure: the session is not a school session
        "holiday",  # term-time holiday, agreed or not
        "illness",
        "late",  # arrived late (before or after the register closed)
        "late_after_close",  # arrived after the register closed
        "medical",  # medical or dental appointment
        "mental_health",  # illness related to mental health (local sets)
        "threshold",  # counts toward the penalty-notice threshold
        "unexplained",  # reason not yet established
    }
)


def _tags(value: Iterable[str]) -> frozenset[str]:
    if isinstance(value, str):
        raise CodeSetError(f"tags must be a list of names (got {value!r})")
    tags = frozenset(str(v) for v in value)
    unknown = sorted(tags - TAGS)
    if unknown:
        raise CodeSetError(
            f"unknown tag {', '.join(map(repr, unknown))}; known: {', '.join(sorted(TAGS))}"
        )
    return tags


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
    """One code of a code set: its symbol, meaning, statutory category and tags."""

    code: str
    meaning: str
    category: Category = attrs.field(converter=Category)
    tags: frozenset[str] = attrs.field(factory=frozenset, converter=_tags)

    def has(self, tag: str) -> bool:
        """Whether the code carries ``tag`` (one of :data:`TAGS`)."""
        return tag in self.tags

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
    #: id of the set this one extends (None for a set stated in full)
    extends: str | None = None

    def __attrs_post_init__(self) -> None:
        known = {c.code for c in self.codes}
        if len(known) != len(self.codes):
            raise CodeSetError(f"code set {self.id!r}: a code is listed twice")
        for symbol, target in self.symbols.items():
            if target not in known:
                raise CodeSetError(
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

    def tagged(self, tag: str) -> frozenset[str]:
        """The codes of the set that carry ``tag``."""
        if tag not in TAGS:
            raise CodeSetError(f"unknown tag {tag!r}; known: {', '.join(sorted(TAGS))}")
        return frozenset(c.code for c in self.codes if tag in c.tags)

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


_CODE_FIELDS = frozenset({"meaning", "category", "tags"})
_SET_FIELDS = frozenset(
    {"id", "title", "valid_from", "valid_to", "references", "symbols", "codes", "extends"}
)


def _code(sym: str, row: Mapping[str, Any], base: AttendanceCode | None) -> AttendanceCode:
    if not isinstance(row, Mapping):
        raise CodeSetError(f"code {sym!r}: expected a table of meaning, category, tags")
    extra = sorted(set(row) - _CODE_FIELDS)
    if extra:
        raise CodeSetError(
            f"code {sym!r}: unknown field {', '.join(map(repr, extra))}; "
            f"known: {', '.join(sorted(_CODE_FIELDS))}"
        )
    if base is None and "category" not in row:
        raise CodeSetError(f"code {sym!r}: no category")
    try:
        return AttendanceCode(
            code=sym,
            meaning=str(row.get("meaning", base.meaning if base else "")),
            category=row.get("category", base.category if base else None),
            # a changed code states its whole list of tags: a local set can drop a tag
            tags=row.get("tags", base.tags if base else ()),
        )
    except ValueError as exc:
        if isinstance(exc, CodeSetError):
            raise CodeSetError(f"code {sym!r}: {exc}") from exc
        known = ", ".join(c.value for c in Category)
        raise CodeSetError(
            f"code {sym!r}: unknown category {row.get('category')!r}; known: {known}"
        ) from exc


def _from_mapping(data: Mapping[str, Any], origin: str, base: CodeSet | None = None) -> CodeSet:
    """A code set from a parsed TOML table; with ``base``, the table states only changes."""
    try:
        extra = sorted(set(data) - _SET_FIELDS)
        if extra:
            raise CodeSetError(
                f"unknown field {', '.join(map(repr, extra))}; "
                f"known: {', '.join(sorted(_SET_FIELDS))}"
            )
        rows = data.get("codes", {})
        if not isinstance(rows, Mapping) or (base is None and not rows):
            raise CodeSetError("no [codes] table")
        inherited = base.by_code if base is not None else {}
        changed = {
            str(sym): _code(str(sym), row, inherited.get(str(sym))) for sym, row in rows.items()
        }
        # the base's order first (changed codes in place), then the added codes
        codes = tuple(changed.get(c, inherited[c]) for c in inherited) + tuple(
            c for sym, c in changed.items() if sym not in inherited
        )
        symbols = dict(base.symbols) if base is not None else {}
        symbols.update({normalise_code(k): str(v) for k, v in data.get("symbols", {}).items()})
        if "id" not in data and base is None:
            raise CodeSetError("no id")
        return CodeSet(
            id=str(data.get("id", f"{base.id}-local" if base else "")),
            title=str(data.get("title", base.title if base else "")),
            codes=codes,
            valid_from=data.get("valid_from", base.valid_from if base else None),
            valid_to=data.get("valid_to", base.valid_to if base else None),
            symbols=symbols,
            references=tuple(data.get("references", base.references if base else ())),
            extends=base.id if base is not None else None,
        )
    except CodeSetError as exc:
        raise CodeSetError(f"{origin}: {exc}") from exc
    except (KeyError, ValueError, TypeError, AttributeError) as exc:
        raise CodeSetError(f"{origin}: not a valid code set ({exc})") from exc


def load_code_set(path: str | Path) -> CodeSet:
    """Read a code set from a TOML file (the layout of the bundled ``england-2024.toml``).

    ``extends = "england-2024"`` (a bundled id, or a path relative to the file) makes the file
    state only what differs: each ``[codes.X]`` table adds code ``X`` or changes the fields it
    names (``tags`` replaces the whole list); ``symbols`` are added; ``id``, ``title``, the
    dates and ``references`` default to the base's. For example::

        id = "our-trust"
        extends = "england-2024"
        [codes.I2]
        meaning = "Illness: mental health"
        category = "authorised"
        tags = ["illness", "mental_health"]
    """
    return _load(Path(path), ())


def _load(path: Path, seen: tuple[Path, ...]) -> CodeSet:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise CodeSetError(f"{path.name}: cannot read code set ({exc})") from exc
    ref = data.get("extends")
    if ref is None:
        return _from_mapping(data, path.name)
    if not isinstance(ref, str):
        raise CodeSetError(f"{path.name}: extends must be a code-set id or a path (got {ref!r})")
    if ref in _builtin():
        base = _builtin()[ref]
    else:
        target = (path.parent / ref).resolve()
        if target in seen or target == path.resolve():
            raise CodeSetError(f"{path.name}: extends {ref!r} forms a cycle")
        if target.suffix != ".toml" or not target.exists():
            raise CodeSetError(
                f"{path.name}: extends unknown code set {ref!r}; "
                f"known: {', '.join(sorted(_builtin()))} or a .toml path"
            )
        base = _load(target, (*seen, path.resolve()))
    return _from_mapping(data, path.name, base)


@functools.cache
def _builtin() -> dict[str, CodeSet]:
    return bundled("codesets", _from_mapping)


def code_sets() -> dict[str, CodeSet]:
    """The bundled code sets by id (``england-2024``, ``england-2006``)."""
    return dict(_builtin())


def code_set(ref: str | Path | CodeSet) -> CodeSet:
    """Resolve a code set from its id, a TOML path, or a :class:`CodeSet`."""
    return resolve(
        ref,
        model=CodeSet,
        known=_builtin(),
        from_toml=load_code_set,
        error=CodeSetError,
        what="code set",
    )


CodeSetRef = str | Path | CodeSet


def sets_by_date(forced: CodeSetRef | Iterable[CodeSetRef] | None) -> tuple[CodeSet, ...]:
    """The code sets a register uses.

    None: the bundled sets, each for the dates it is in force. One set (id, path or
    :class:`CodeSet`): that set for every date. Several sets: each mark is decided by the
    first of them in force on its date (so a local set extending ``england-2024`` keeps its
    ``valid_from`` and, listed with ``england-2006``, is chosen by date).
    """
    if forced is None:
        return tuple(sorted(code_sets().values(), key=lambda s: s.valid_from or dt.date.min))
    if isinstance(forced, str | Path | CodeSet):
        return (attrs.evolve(code_set(forced), valid_from=None, valid_to=None),)
    sets = tuple(code_set(ref) for ref in forced)
    if not sets:
        raise CodeSetError("no code set given")
    return sets
