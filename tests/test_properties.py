"""Hypothesis properties of the register and classify, against an independent oracle."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
from hypothesis import given
from hypothesis import strategies as st

import attendance_core as ac
from attendance_core.codes import normalise_code

CODES = [
    "/",
    "\\",
    "L",
    "B",
    "I",
    "M",
    "O",
    "G",
    "N",
    "U",
    "C",
    "#",
    "X",
    "D",
    "Z",
    "Y1",
    "Y",
    "J",
    "J1",
    "H",
    "Q",
    "K",
    "i01",
    " o ",
    "",
    "-",
    None,
    "??",
    "X02",
]
DAYS = [dt.date(2024, 8, 12) + dt.timedelta(days=i) for i in range(21)]

rows = st.fixed_dictionaries(
    {
        "pupil_id": st.sampled_from(["p1", "p2", "p3", "", None]),
        "date": st.one_of(st.sampled_from(DAYS).map(str), st.sampled_from(["2024-13-01", "x"])),
        "session": st.sampled_from(["AM", "PM", "am", "Pm", "XX"]),
        "code": st.sampled_from(CODES),
    }
)


def frames(with_school: bool):
    row = rows
    if with_school:
        row = st.tuples(rows, st.sampled_from(["S1", "S2"])).map(
            lambda t: {**t[0], "school_id": t[1]}
        )
    return st.lists(row, max_size=60).map(
        lambda r: pd.DataFrame(
            r,
            columns=["pupil_id", "date", "session", "code"]
            + (["school_id"] if with_school else []),
        )
    )


def oracle(df: pd.DataFrame) -> dict[tuple[str, str], dict[str, int]]:
    """Counts computed row by row from the code sets, the slow obvious way."""
    sets = ac.code_sets()
    seen: dict[tuple, list[str]] = {}
    for r in df.to_dict("records"):
        if r["pupil_id"] in ("", None) or r["session"].strip().upper() not in ("AM", "PM"):
            continue
        try:
            day = dt.date.fromisoformat(r["date"])
        except ValueError:
            continue
        cs = sets["england-2024"] if day >= dt.date(2024, 8, 19) else sets["england-2006"]
        code = normalise_code(r["code"])
        if code != "-":
            resolved = cs.resolve(code)
            if resolved is None:
                continue
            code = resolved
        key = (r.get("school_id", ""), r["pupil_id"], day, r["session"].strip().upper())
        seen.setdefault(key, []).append(f"{cs.id}:{code}")
    out: dict[tuple[str, str], dict[str, int]] = {}
    for (school, pupil, _day, _s), codes in seen.items():
        counts = out.setdefault(
            (school, pupil),
            dict.fromkeys(["possible", "attended", "authorised", "unauthorised"], 0),
        )
        if len(set(codes)) > 1:
            continue  # conflicting: unmarked
        set_id, code = codes[0].split(":", 1)
        if code == "-":
            continue
        cat = sets[set_id][code].category
        counts["possible"] += cat.possible
        counts["attended"] += cat.attendance
        counts["authorised"] += cat == "authorised"
        counts["unauthorised"] += cat == "unauthorised"
    return out


@given(frames(with_school=False))
def test_classify_matches_oracle_and_attended_plus_absent_is_possible(df):
    reg = ac.Register.from_long(df, errors="collect")
    table = ac.classify(reg)
    expected = oracle(df)
    assert (table["attended"] + table["absent"] == table["possible"]).all()
    assert (table["authorised"] + table["unauthorised"] == table["absent"]).all()
    for pupil, row in table.iterrows():
        want = expected[("", pupil)]
        got = {k: int(row[k]) for k in want}
        assert got == want


@given(frames(with_school=True))
def test_every_row_is_in_the_register_or_rejected(df):
    df.index = pd.RangeIndex(100, 100 + len(df))
    reg = ac.Register.from_long(df, errors="collect")
    kept = reg.to_long()
    assert len(df) == len(kept) + len(reg.rejected)
    rejected_rows = set(reg.rejected["row"])
    assert rejected_rows <= set(df.index)
    assert len(rejected_rows) == len(reg.rejected)  # one reason per row


@given(frames(with_school=True), st.sampled_from(DAYS), st.sampled_from(DAYS))
def test_classify_over_period_equals_classify_of_slice(df, a, b):
    start, end = min(a, b), max(a, b)
    reg = ac.Register.from_long(df, errors="collect")
    whole = ac.classify(reg, "five-band", start=start, end=end)
    sliced = reg.select(start=start, end=end)
    part = ac.classify(sliced, "five-band")
    if reg.has_schools and not sliced.has_schools:
        part.index = whole.index  # one school left in the slice: index drops school_id
    pd.testing.assert_frame_equal(whole, part, check_index_type=False)


@given(frames(with_school=True))
def test_to_long_round_trips(df):
    reg = ac.Register.from_long(df, errors="collect")
    out = reg.to_long()
    again = ac.Register.from_long(out)
    pd.testing.assert_frame_equal(again.to_long(), out)
    assert len(again.rejected) == 0
    if len(out):
        pd.testing.assert_frame_equal(
            ac.classify(again).drop(columns="unmarked"), ac.classify(reg).drop(columns="unmarked")
        )


@given(frames(with_school=False))
def test_rates_are_counts_over_possible(df):
    table = ac.classify(ac.Register.from_long(df, errors="collect"))
    has = table["possible"] > 0
    assert np.allclose(
        table.loc[has, "attendance_rate"], table.loc[has, "attended"] / table.loc[has, "possible"]
    )
    assert table.loc[~has, "attendance_rate"].isna().all()
    assert table.loc[~has, "band"].isna().all()
    for col in ac.measures.COUNT_COLUMNS:
        assert table[col].dtype == np.int64
