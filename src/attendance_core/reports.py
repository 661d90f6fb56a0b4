"""Reports: band summaries (the Targeting Support Meeting table) and safe exports."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["band_summary", "to_csv"]

#: The extra row of a ``dfe`` summary that matches the DfE's published persistent absence rate.
PERSISTENT_INCLUSIVE = "persistent_absence_inclusive"


def _group_values(table: pd.DataFrame, by: str, pupils: pd.DataFrame | None) -> pd.Series:
    """The value of ``by`` for each row of ``table``: a column, an index level, or a pupils
    column joined on ``pupil_id`` (and ``school_id`` when both have it)."""
    if by in table.columns:
        return table[by].reset_index(drop=True)
    if by in (table.index.names or []):
        return pd.Series(table.index.get_level_values(by), dtype=object)
    if pupils is not None and by in pupils.columns:
        pupil_ids = pd.Index(table.index.get_level_values("pupil_id"))
        values = pupils[by]
        if "school_id" in pupils.columns and "school_id" in (table.index.names or []):
            keyed = pd.Series(values.to_numpy(), index=pd.MultiIndex.from_arrays(
                [pupils["school_id"].astype(str), pupils.index.astype(str)]))
            keyed = keyed[~keyed.index.duplicated()]
            want = pd.MultiIndex.from_arrays([
                pd.Index(table.index.get_level_values("school_id")).astype(str),
                pupil_ids.astype(str)])
            return pd.Series(keyed.reindex(want).to_numpy(), dtype=object)
        values = values[~values.index.duplicated()]
        values.index = values.index.astype(str)
        return pd.Series(values.reindex(pupil_ids.astype(str)).to_numpy(), dtype=object)
    raise KeyError(f"{by!r} is neither a column of the table nor of the pupils table")


def band_summary(
    table: pd.DataFrame,
    by: str | Sequence[str] | None = None,
    pupils: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Pupils and percentage of pupils in each band, bands in scheme order.

    ``table`` is the result of :func:`~attendance_core.classify`. ``percent`` is of the pupils
    with possible sessions (pupils without are in no band). With ``by`` (a column or index level
    of ``table`` such as ``"school_id"``, or a column of ``pupils`` such as ``"cin"``) the
    summary has one block per group. For the ``dfe`` scheme a last row
    ``persistent_absence_inclusive`` counts persistent and severe absence together
    (10 × absent ≥ possible), which is the DfE's published persistent absence rate.
    """
    if "band" not in table.columns:
        raise KeyError("table has no 'band' column: pass the result of classify()")
    bands = table["band"]
    categories = list(bands.cat.categories) if isinstance(bands.dtype, pd.CategoricalDtype) \
        else sorted(bands.dropna().unique())
    inclusive = table.attrs.get("scheme") == "dfe"
    keys: list[str] = [] if by is None else [by] if isinstance(by, str) else list(by)
    frame = pd.DataFrame({"band": pd.Categorical(bands.to_numpy(), categories=categories)})
    frame["persistent"] = ((10 * table["absent"].to_numpy() >= table["possible"].to_numpy())
                           & (table["possible"].to_numpy() > 0))
    for key in keys:
        frame[key] = _group_values(table, key, pupils).to_numpy()

    def block(part: pd.DataFrame) -> pd.DataFrame:
        counts = part["band"].value_counts(sort=False).reindex(categories, fill_value=0)
        rows = pd.DataFrame({"pupils": counts.to_numpy(dtype=np.int64)},
                            index=pd.Index(categories, name="band"))
        if inclusive:
            rows.loc[PERSISTENT_INCLUSIVE] = int(part["persistent"].sum())
        banded = int(part["band"].notna().sum())
        with np.errstate(invalid="ignore", divide="ignore"):
            rows["percent"] = (100 * rows["pupils"] / banded) if banded else np.nan
        rows["pupils"] = rows["pupils"].astype(np.int64)
        return rows

    if not keys:
        return block(frame)
    parts = []
    for value, part in frame.groupby(keys, sort=True, dropna=False, observed=True):
        rows = block(part)
        labels: tuple[Any, ...] = value if isinstance(value, tuple) else (value,)
        rows.index = pd.MultiIndex.from_tuples([(*labels, b) for b in rows.index],
                                               names=[*keys, "band"])
        parts.append(rows)
    return pd.concat(parts)


def to_csv(frame: pd.DataFrame, path: str | Path, *, index: bool = True) -> Path:
    """Write ``frame`` as a CSV file that is safe to open in Excel.

    Text cells starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return are
    neutralised with a leading apostrophe, so opening the file runs nothing; the file is
    written atomically (UTF-8 with a byte-order mark, which Excel needs to read it as UTF-8).
    """
    from .io import atomic_open, neutralise_frame

    target = Path(path)
    with atomic_open(target, "w", encoding="utf-8-sig", newline="") as handle:
        neutralise_frame(frame).to_csv(handle, index=index, lineterminator="\n")
    return target
