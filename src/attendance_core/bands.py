"""Attendance bands: the DfE scheme, the five-band local model, and user-defined schemes.

A scheme is data (TOML or a dict). Every edge is an exact fraction and a pupil's band is decided
on integer session counts — ``attended * q >= p * possible`` for an edge ``p/q`` — never on a
rounded percentage.
"""

from __future__ import annotations

import functools
import itertools
import re
import tomllib
from collections.abc import Mapping, Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import numpy.typing as npt

from ._data import bundled, by_id, resolve
from .errors import SchemeError

__all__ = [
    "DEFAULT_SCHEME",
    "Band",
    "BandScheme",
    "band_scheme",
    "band_schemes",
    "days_missed",
    "persistent_and_severe",
]

_HUNDRED = Fraction(100)
#: The scheme of the local five-band model (domain.md §2): what reports, the TSM pack and
#: policies band by when no scheme is named.
DEFAULT_SCHEME = "five-band"
_COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")


def _fraction(value: object, where: str) -> Fraction:
    """A band edge as an exact fraction of 1: ``"95%"``, ``95``, ``"94.5%"``, ``"19/20"``."""
    try:
        if isinstance(value, bool):
            raise TypeError
        if isinstance(value, int | float):
            return Fraction(str(value)) / _HUNDRED
        text = str(value).strip()
        if text.endswith("%"):
            return Fraction(text[:-1].strip()) / _HUNDRED
        if "/" in text:
            return Fraction(text)
        return Fraction(text) / _HUNDRED
    except (ValueError, TypeError, ZeroDivisionError) as exc:
        raise SchemeError(f"{where}: {value!r} is not a percentage or fraction") from exc


@attrs.frozen(kw_only=True)
class Band:
    """One band of a scheme, as a range of the attendance ratio ``attended / possible``."""

    id: str
    label: str
    lower: Fraction
    upper: Fraction
    include_lower: bool = True
    include_upper: bool = True
    #: display colour (``#rrggbb``) from the scheme file; None: the report's palette decides
    colour: str | None = None

    def contains(self, attended: int, possible: int) -> bool:
        """Whether exact counts fall in this band (``possible`` must be positive)."""
        return bool(self.mask(np.array([attended]), np.array([possible]))[0])

    def mask(
        self, attended: npt.NDArray[np.integer[Any]], possible: npt.NDArray[np.integer[Any]]
    ) -> npt.NDArray[np.bool_]:
        """Vectorised membership on integer counts (rows with ``possible == 0`` are False)."""
        a = attended.astype(np.int64)
        p = possible.astype(np.int64)
        lo_n, lo_d = self.lower.numerator, self.lower.denominator
        hi_n, hi_d = self.upper.numerator, self.upper.denominator
        above = a * lo_d >= lo_n * p if self.include_lower else a * lo_d > lo_n * p
        below = a * hi_d <= hi_n * p if self.include_upper else a * hi_d < hi_n * p
        result: npt.NDArray[np.bool_] = above & below & (p > 0)
        return result


@attrs.frozen(kw_only=True)
class BandScheme:
    """An ordered set of bands (best first) that covers 0–100 % attendance without gaps."""

    id: str
    title: str = ""
    bands: tuple[Band, ...]
    #: pupils with fewer possible sessions are in no band (listed apart, as Monitor your school
    #: attendance does with its minimum of 20); 0 bands every pupil with a possible session
    min_possible_sessions: int = 0

    def __attrs_post_init__(self) -> None:
        _check_cover(self.id, self.bands)
        if self.min_possible_sessions < 0:
            raise SchemeError(f"scheme {self.id!r}: min_possible_sessions must be 0 or more")

    @property
    def band_ids(self) -> tuple[str, ...]:
        """Band ids in scheme order (best first; "X or worse" is X and every later band)."""
        return tuple(b.id for b in self.bands)

    def __getitem__(self, band_id: str) -> Band:
        return by_id(self.bands, band_id)

    def assign(self, attended: npt.ArrayLike, possible: npt.ArrayLike) -> npt.NDArray[np.int64]:
        """The band index of each pupil (position in :attr:`bands`), -1 where possible is 0."""
        a = np.asarray(attended, dtype=np.int64)
        p = np.asarray(possible, dtype=np.int64)
        out = np.full(a.shape, -1, dtype=np.int64)
        for i, band in enumerate(self.bands):
            out[band.mask(a, p) & (out < 0)] = i
        if self.min_possible_sessions:
            out[p < self.min_possible_sessions] = -1
        return out

    def band_of(self, attended: int, possible: int) -> str | None:
        """The band id for one pupil's counts, or None with no possible sessions."""
        i = int(self.assign([attended], [possible])[0])
        return None if i < 0 else self.bands[i].id

    def worse_or_equal(self, band_id: str) -> tuple[str, ...]:
        """``band_id`` and every band after it in scheme order ("X or worse")."""
        ids = self.band_ids
        return ids[ids.index(band_id) :]

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], origin: str = "scheme") -> BandScheme:
        """Build a scheme from a mapping in the layout of the bundled TOML files.

        ``measure`` is ``"attendance"`` (default) or ``"absence"``; each band has ``id``,
        ``label``, ``min``, ``max`` (percentages or fractions) and optional ``include_min`` /
        ``include_max`` (default true).
        """
        if "id" not in data:
            raise SchemeError(f"{origin}: missing field 'id'")
        measure = data.get("measure", "attendance")
        if measure not in ("attendance", "absence"):
            raise SchemeError(
                f"{origin}: measure must be 'attendance' or 'absence' (got {measure!r})"
            )
        raw = data.get("bands")
        if not isinstance(raw, Sequence) or not raw:
            raise SchemeError(f"{origin}: 'bands' must be a non-empty list")
        bands = []
        for n, row in enumerate(raw, start=1):
            if not isinstance(row, Mapping):
                raise SchemeError(f"{origin}: band {n} is not a table")
            where = f"{origin}: band {row.get('id', n)!r}"
            for key in ("id", "min", "max"):
                if key not in row:
                    raise SchemeError(f"{where}: missing field {key!r}")
            unknown = set(row) - {
                "id",
                "label",
                "min",
                "max",
                "include_min",
                "include_max",
                "colour",
            }
            if unknown:
                raise SchemeError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
            lo, hi = _fraction(row["min"], where), _fraction(row["max"], where)
            inc_lo, inc_hi = bool(row.get("include_min", True)), bool(row.get("include_max", True))
            if measure == "absence":
                # absence in [lo, hi] is attendance in [1 - hi, 1 - lo], edges swapped
                lo, hi, inc_lo, inc_hi = 1 - hi, 1 - lo, inc_hi, inc_lo
            colour = row.get("colour")
            if colour is not None and not _COLOUR.match(str(colour)):
                raise SchemeError(f"{where}: colour must be #rrggbb (got {colour!r})")
            bands.append(
                Band(
                    id=str(row["id"]),
                    label=str(row.get("label", row["id"])),
                    lower=lo,
                    upper=hi,
                    include_lower=inc_lo,
                    include_upper=inc_hi,
                    colour=None if colour is None else str(colour).lower(),
                )
            )
        minimum = data.get("min_possible_sessions", 0)
        if isinstance(minimum, bool) or not isinstance(minimum, int):
            raise SchemeError(
                f"{origin}: min_possible_sessions must be a whole number (got {minimum!r})"
            )
        return cls(
            id=str(data["id"]),
            title=str(data.get("title", "")),
            bands=tuple(bands),
            min_possible_sessions=minimum,
        )

    @classmethod
    def from_toml(cls, path: str | Path) -> BandScheme:
        """Read a scheme from a TOML file."""
        path = Path(path)
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise SchemeError(f"{path.name}: cannot read scheme ({exc})") from exc
        return cls.from_dict(data, origin=path.name)


def _check_cover(scheme_id: str, bands: tuple[Band, ...]) -> None:
    """Refuse a scheme whose bands overlap or leave a gap in [0, 1]."""
    if not bands:
        raise SchemeError(f"scheme {scheme_id!r}: no bands")
    ids = [b.id for b in bands]
    if len(set(ids)) != len(ids):
        raise SchemeError(f"scheme {scheme_id!r}: a band id is used twice")
    for b in bands:
        if not (0 <= b.lower <= b.upper <= 1):
            raise SchemeError(f"scheme {scheme_id!r}: band {b.id!r} has edges outside 0–100%")
        if b.lower == b.upper and not (b.include_lower and b.include_upper):
            raise SchemeError(f"scheme {scheme_id!r}: band {b.id!r} is empty")
    ordered = sorted(bands, key=lambda b: (b.lower, not b.include_lower))
    first, last = ordered[0], ordered[-1]
    if first.lower != 0 or not first.include_lower:
        raise SchemeError(f"scheme {scheme_id!r}: gap below band {first.id!r} (0% not covered)")
    if last.upper != 1 or not last.include_upper:
        raise SchemeError(f"scheme {scheme_id!r}: gap above band {last.id!r} (100% not covered)")
    for prev, nxt in itertools.pairwise(ordered):
        if prev.upper < nxt.lower or (
            prev.upper == nxt.lower and not (prev.include_upper or nxt.include_lower)
        ):
            raise SchemeError(f"scheme {scheme_id!r}: gap between bands {prev.id!r} and {nxt.id!r}")
        if prev.upper > nxt.lower or (prev.include_upper and nxt.include_lower):
            raise SchemeError(f"scheme {scheme_id!r}: bands {prev.id!r} and {nxt.id!r} overlap")


@functools.cache
def _builtin() -> dict[str, BandScheme]:
    return bundled("schemes", BandScheme.from_dict)


def band_schemes() -> dict[str, BandScheme]:
    """The bundled schemes by id (``dfe``, ``five-band``)."""
    return dict(_builtin())


def band_scheme(ref: str | Path | Mapping[str, Any] | BandScheme) -> BandScheme:
    """Resolve a scheme from its id, a TOML path, a dict, or a :class:`BandScheme`."""
    return resolve(
        ref,
        model=BandScheme,
        known=band_schemes(),
        from_dict=BandScheme.from_dict,
        from_toml=BandScheme.from_toml,
        error=SchemeError,
        what="band scheme",
    )


@functools.cache
def _dfe_scheme() -> BandScheme:
    # resolved once: persistent_and_severe runs per school and per group of every report
    return band_scheme("dfe")


def persistent_and_severe(
    absent: npt.ArrayLike, possible: npt.ArrayLike
) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
    """Which enrolments are persistently absent (severe included) and which severely, by the
    bands of the DfE scheme (``data/schemes/dfe.toml``: 10 % and 50 % of possible sessions
    missed), decided on the integer counts. The one definition every report, pattern and the
    DfE statistics use; an enrolment with no possible session is neither."""
    a = np.asarray(absent, dtype=np.int64)
    p = np.asarray(possible, dtype=np.int64)
    scheme = _dfe_scheme()
    band = scheme.assign(p - a, p)
    ids = scheme.band_ids
    persistent = band >= ids.index("persistent_absence")
    severe = band >= ids.index("severe_absence")
    return persistent, severe


def days_missed(attendance_rate: float, days: int = 190) -> float:
    """Days missed over a school year of ``days`` days at a given attendance rate.

    For letters to parents: 95 % over 190 days is 9.5 days missed. Figures for a real pupil
    come from sessions (absent ÷ 2), not from this helper.
    """
    if not 0 <= attendance_rate <= 1:
        raise ValueError(f"attendance_rate must be in [0, 1] (got {attendance_rate!r})")
    return days * (1 - attendance_rate)
