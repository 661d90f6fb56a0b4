"""The same classification written the straightforward way: pandas (the baseline), Polars, DuckDB.

Each function takes the long layout (``school_id``, ``pupil_id``, ``date``, ``session``,
``code``), maps each code to its statutory category through the library's own code set (so the
categories are the same by construction), counts per pupil and assigns the DfE band on exact
integers (``10 × absent ≥ possible``, ``2 × absent ≥ possible``). They do less than the library:
no validation, no duplicate detection, no sub-codes, no date-dependent code set, no ``unmarked``
(which needs each school's calendar). Their results are checked against ``ac.classify``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

import attendance_core as ac

COUNTS = [
    "possible",
    "attended",
    "authorised",
    "unauthorised",
    "absent",
    "late",
    "late_after_close",
]
BANDS = ["not_persistent", "persistent_absence", "severe_absence"]


def code_categories(code_set: str = "england-2024") -> dict[str, str]:
    """Code → category id, from the library's code set (missing mark ``-`` → no category)."""
    return {c.code: c.category.value for c in ac.code_set(code_set).codes}


def _band(absent: np.ndarray, possible: np.ndarray) -> pd.Categorical:
    codes = np.select(
        [possible == 0, 2 * absent >= possible, 10 * absent >= possible], [-1, 2, 1], default=0
    )
    return pd.Categorical.from_codes(codes, categories=BANDS)


def pandas_classify(long: pd.DataFrame) -> pd.DataFrame:
    """(a) The baseline: what a competent analyst writes in pandas over the long frame."""
    category = long["code"].map(code_categories())
    flags = pd.DataFrame(
        {
            "attended": category.isin(["present", "approved_activity"]),
            "authorised": category.eq("authorised"),
            "unauthorised": category.eq("unauthorised"),
            "late": long["code"].eq("L"),
            "late_after_close": long["code"].eq("U"),
        }
    )
    table = flags.groupby([long["school_id"], long["pupil_id"]], sort=True).sum()
    table["absent"] = table["authorised"] + table["unauthorised"]
    table["possible"] = table["attended"] + table["absent"]
    table["attendance_rate"] = table["attended"] / table["possible"]
    table["band"] = _band(table["absent"].to_numpy(), table["possible"].to_numpy())
    return table


def polars_classify(frame: Any) -> Any:
    """The same aggregation in Polars (a ``polars.DataFrame`` of the long layout)."""
    import polars as pl

    cat = pl.col("code").replace_strict(code_categories(), default=None, return_dtype=pl.String)
    out = (
        frame.lazy()
        .with_columns(category=cat)
        .group_by("school_id", "pupil_id")
        .agg(
            attended=pl.col("category").is_in(["present", "approved_activity"]).sum(),
            authorised=(pl.col("category") == "authorised").sum(),
            unauthorised=(pl.col("category") == "unauthorised").sum(),
            late=(pl.col("code") == "L").sum(),
            late_after_close=(pl.col("code") == "U").sum(),
        )
        .with_columns(absent=pl.col("authorised") + pl.col("unauthorised"))
        .with_columns(possible=pl.col("attended") + pl.col("absent"))
        .with_columns(
            attendance_rate=pl.col("attended") / pl.col("possible"),
            band=pl.when(pl.col("possible") == 0)
            .then(None)
            .when(2 * pl.col("absent") >= pl.col("possible"))
            .then(pl.lit("severe_absence"))
            .when(10 * pl.col("absent") >= pl.col("possible"))
            .then(pl.lit("persistent_absence"))
            .otherwise(pl.lit("not_persistent")),
        )
        .sort("school_id", "pupil_id")
    )
    return out.collect()


def duckdb_classify(con: Any) -> Any:
    """The same aggregation in DuckDB SQL over a registered ``marks`` relation.

    ``con`` has ``marks`` (the long layout) and ``codes`` (code, category) registered.
    """
    return con.sql(
        """
        WITH t AS (
          SELECT school_id, pupil_id,
            count(*) FILTER (WHERE c.category IN ('present', 'approved_activity')) AS attended,
            count(*) FILTER (WHERE c.category = 'authorised') AS authorised,
            count(*) FILTER (WHERE c.category = 'unauthorised') AS unauthorised,
            count(*) FILTER (WHERE m.code = 'L') AS late,
            count(*) FILTER (WHERE m.code = 'U') AS late_after_close
          FROM marks m LEFT JOIN codes c ON m.code = c.code
          GROUP BY school_id, pupil_id)
        SELECT *, authorised + unauthorised AS absent,
          attended + authorised + unauthorised AS possible,
          attended / nullif(attended + authorised + unauthorised, 0) AS attendance_rate,
          CASE WHEN attended + authorised + unauthorised = 0 THEN NULL
               WHEN 2 * (authorised + unauthorised) >= attended + authorised + unauthorised
                 THEN 'severe_absence'
               WHEN 10 * (authorised + unauthorised) >= attended + authorised + unauthorised
                 THEN 'persistent_absence'
               ELSE 'not_persistent' END AS band
        FROM t ORDER BY school_id, pupil_id
        """
    ).to_arrow_table()


def duckdb_connect(table: Any) -> Any:
    """A single-threaded DuckDB connection with ``marks`` and ``codes`` registered."""
    import duckdb
    import pyarrow as pa

    con = duckdb.connect()
    con.execute("SET threads = 1")
    con.register("marks", table)
    cats = code_categories()
    con.register("codes", pa.table({"code": list(cats), "category": list(cats.values())}))
    return con


def agree(reference: pd.DataFrame, other: pd.DataFrame) -> bool:
    """Whether a peer's counts and bands equal the library's, pupil for pupil."""
    ref = reference.reset_index()
    oth = other.reset_index() if "pupil_id" not in other.columns else other
    keys = ["school_id", "pupil_id"] if "school_id" in ref.columns else ["pupil_id"]
    ref = ref.sort_values(keys).reset_index(drop=True)
    oth = oth.sort_values(keys).reset_index(drop=True)
    if (
        len(ref) != len(oth)
        or not (
            ref["pupil_id"].astype(str).to_numpy() == oth["pupil_id"].astype(str).to_numpy()
        ).all()
    ):
        return False
    for col in COUNTS:
        if not (ref[col].to_numpy(np.int64) == oth[col].to_numpy(np.int64)).all():
            return False
    return bool(
        (
            ref["band"].astype(object).fillna("").to_numpy()
            == oth["band"].astype(object).fillna("").to_numpy()
        ).all()
    )
