"""The one contract of the pupils table: its columns and their kinds, the normaliser every entry
point applies, and the one join of pupils to enrolments.

A pupils table is indexed by ``pupil_id`` (a ``pupil_id`` column is moved to the index) and may
carry the columns below; ids are matched as :func:`~attendance_core._values.id_text` gives them
on both sides (so a table read with float ids, ``1234.0``, matches pupil ``1234``), on
(``school_id``, ``pupil_id``) when both the enrolments and the table have a school, else on
``pupil_id`` alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from ._values import id_texts

__all__ = [
    "ALL_FLAGS",
    "COLUMNS",
    "DATE_COLUMNS",
    "FLAGS",
    "OTHER_FLAGS",
    "SOURCE_FLAGS",
    "SOURCE_ID_COLUMNS",
    "TEXT_COLUMNS",
    "pupil_column",
    "pupils_table",
    "positions",
]

#: Text columns, read as given.
TEXT_COLUMNS: tuple[str, ...] = ("school_id", "upn", "name", "year_group")
#: Date columns.
DATE_COLUMNS: tuple[str, ...] = ("date_of_birth", "admission_date", "leaving_date")
#: Flag columns (booleans; a cell is read by :func:`~attendance_core._values.truthy`): the
#: cohorts the policy and the reports name.
FLAGS: tuple[str, ...] = ("cin", "cp", "cic", "sen", "ehcp", "medical", "fsm", "youth_justice")
#: Flag columns read as booleans besides the policy's cohorts: the cohorts only the reports
#: name (special schools and anxiety / school avoidance, patterns.COHORTS) and ``boarder``,
#: whose pupils the DfE's statistics leave out (dfe-rules.md §2).
OTHER_FLAGS: tuple[str, ...] = ("ebsa", "special_school", "boarder")
#: Every flag column of a pupils table: the one list the readers of a pupils table use.
ALL_FLAGS: tuple[str, ...] = FLAGS + OTHER_FLAGS
#: Every column a pupils table may carry besides its ``pupil_id`` index, as in api.md.
COLUMNS: tuple[str, ...] = TEXT_COLUMNS + DATE_COLUMNS + FLAGS
#: The source's own identifiers an adapter may add beside the pupil id (text): the MIS id,
#: Wonde's and Assembly's ids.
SOURCE_ID_COLUMNS: tuple[str, ...] = ("mis_id", "wonde_id", "assembly_id")
#: Flags an adapter may add about those ids: Arbor's "the UPN is a temporary one".
SOURCE_FLAGS: tuple[str, ...] = ("upn_temporary",)


def pupils_table(pupils: Any) -> pd.DataFrame | None:
    """The pupils table as the library reads it: indexed by ``pupil_id`` (a ``pupil_id`` column
    is moved to the index); None stays None; anything but a DataFrame is a :class:`TypeError`."""
    if pupils is None:
        return None
    if not isinstance(pupils, pd.DataFrame):
        raise TypeError(f"pupils must be a pandas DataFrame (got {type(pupils).__name__})")
    if "pupil_id" in pupils.columns and pupils.index.name != "pupil_id":
        return pupils.set_index("pupil_id")
    return pupils


def _ids(values: Any) -> pd.Index:
    """Identifiers as the register keeps them, each distinct value normalised once."""
    codes, uniques = pd.factorize(pd.Index(values, dtype=object), use_na_sentinel=False)
    texts = np.array(id_texts(uniques), dtype=object)
    out: pd.Index = pd.Index(texts[codes] if len(codes) else texts[:0], dtype=object)
    return out


def _first_positions(keys: pd.Index, wanted: pd.Index) -> npt.NDArray[np.int64]:
    by_key = pd.Series(np.arange(len(keys), dtype=np.int64), index=keys)
    by_key = by_key[~by_key.index.duplicated(keep="first")]
    return by_key.reindex(wanted).fillna(-1).to_numpy(dtype=np.int64)


def positions(
    pupil_ids: Sequence[Any] | npt.NDArray[Any] | pd.Index,
    school_ids: Sequence[Any] | npt.NDArray[Any] | pd.Index | None,
    pupils: pd.DataFrame | None,
) -> npt.NDArray[np.int64]:
    """Row position in ``pupils`` (a :func:`pupils_table`) of each enrolment, -1 where the
    table has no row for it: the one join of pupils to enrolments (first row of a repeated
    key)."""
    n = len(pupil_ids)
    if pupils is None or not len(pupils) or n == 0:
        return np.full(n, -1, dtype=np.int64)
    ids, wanted = _ids(pupils.index), _ids(pupil_ids)
    if school_ids is not None and "school_id" in pupils.columns:
        keys = pd.MultiIndex.from_arrays([_ids(pupils["school_id"]), ids])
        return _first_positions(keys, pd.MultiIndex.from_arrays([_ids(school_ids), wanted]))
    return _first_positions(ids, wanted)


def pupil_column(index: pd.Index, pupils: pd.DataFrame, column: str) -> pd.Series:
    """The pupils-table ``column`` aligned to a result ``index`` (a positional Series of
    objects; NaN for enrolments the table does not have)."""
    table = pupils_table(pupils)
    assert table is not None
    names: list[Any] = list(index.names or [])
    schools = index.get_level_values("school_id") if "school_id" in names else None
    at = positions(index.get_level_values("pupil_id"), schools, table)
    values = np.append(table[column].to_numpy(dtype=object), np.array([np.nan], dtype=object))
    return pd.Series(values[np.where(at >= 0, at, len(table))], dtype=object)
