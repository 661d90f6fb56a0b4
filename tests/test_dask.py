"""The Dask path equals the in-process path exactly, on a LocalCluster with several workers."""

from __future__ import annotations

import os

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

import attendance_core as ac
from attendance_core import demo

try:
    import dask
    import dask.dataframe as dd
    import distributed

    import attendance_core.dask as acd
except ImportError as exc:  # the dask extra; CI installs it, so there a missing one fails
    if os.environ.get("CI"):
        raise
    pytest.skip(f"the dask extra is not installed ({exc.name})", allow_module_level=True)

SCHOOLS = ("S0001", "S0002", "S0003")


@pytest.fixture(scope="module")
def schools() -> list[tuple[pd.DataFrame, pd.DataFrame]]:
    """The demo school split into three schools of different sizes and seeds."""
    return [
        demo.school(seed=i, n_pupils=n, school_id=sid, names=False)
        for i, (sid, n) in enumerate(zip(SCHOOLS, (70, 40, 55), strict=True))
    ]


@pytest.fixture(scope="module")
def whole(schools: list[tuple[pd.DataFrame, pd.DataFrame]]) -> pd.DataFrame:
    return pd.concat([long for long, _ in schools], ignore_index=True)


@pytest.fixture(scope="module")
def pupils(schools: list[tuple[pd.DataFrame, pd.DataFrame]]) -> pd.DataFrame:
    return pd.concat([p for _, p in schools])


@pytest.fixture(scope="module")
def client():
    # generous timeouts: CI machines have two cores and may be busy with other test processes
    with dask.config.set(
        {"distributed.comm.timeouts.connect": "120s", "distributed.comm.timeouts.tcp": "120s"}
    ):
        cluster = distributed.LocalCluster(
            n_workers=3, threads_per_worker=1, processes=False, dashboard_address=None
        )
        with distributed.Client(cluster, timeout=120) as c:
            yield c
        cluster.close(timeout=120)


def per_school(schools: list[tuple[pd.DataFrame, pd.DataFrame]]):
    """One partition a school, as dd.read_parquet gives for one file a school."""
    return dd.concat([dd.from_pandas(long, npartitions=1) for long, _ in schools])


def test_workers(client) -> None:
    assert len(client.scheduler_info()["workers"]) == 3


@pytest.mark.parametrize("scheme", ["dfe", "five-band"])
def test_classify_equals_in_process(client, schools, whole, scheme) -> None:
    ddf = per_school(schools)
    assert ddf.npartitions == 3
    got = acd.classify(ddf, scheme=scheme)
    want = ac.classify(ac.Register.from_long(whole), scheme=scheme)
    pd.testing.assert_frame_equal(got, want, check_exact=True)
    assert got.index.names == ["school_id", "pupil_id"]
    assert [lvl.dtype for lvl in got.index.levels] == [lvl.dtype for lvl in want.index.levels]
    assert got.attrs == want.attrs


def test_classify_period_and_pupils(client, schools, whole, pupils) -> None:
    got = acd.classify(per_school(schools), start="2024-11-04", end="2025-02-14", pupils=pupils)
    reg = ac.Register.from_long(whole, pupils=pupils)
    want = ac.classify(reg, start="2024-11-04", end="2025-02-14")
    pd.testing.assert_frame_equal(got, want, check_exact=True)
    assert (got["unmarked"] > 0).any()  # the calendar matters to this comparison


def test_one_school_is_indexed_by_pupil(client, schools) -> None:
    long = schools[1][0]
    got = acd.classify(dd.from_pandas(long, npartitions=1))
    want = ac.classify(ac.Register.from_long(long))
    pd.testing.assert_frame_equal(got, want, check_exact=True)
    assert got.index.name == "pupil_id"


def test_empty(client, whole) -> None:
    ddf = dd.from_pandas(whole.iloc[:0], npartitions=1)
    got = acd.classify(ddf)
    pd.testing.assert_frame_equal(got, ac.classify(ac.Register.from_long(whole.iloc[:0])))
    assert acd.recommend(ddf) == []


def test_no_school_id_needs_one_partition(client, schools) -> None:
    long = schools[0][0].drop(columns="school_id")
    with pytest.raises(ac.AttendanceError, match="no school_id"):
        acd.classify(dd.from_pandas(long, npartitions=2))
    got = acd.classify(dd.from_pandas(long, npartitions=1))
    pd.testing.assert_frame_equal(got, ac.classify(ac.Register.from_long(long)), check_exact=True)


def test_school_split_across_partitions_is_refused(client, whole) -> None:
    ddf = dd.from_pandas(whole, npartitions=4)  # cuts through schools
    with pytest.raises(ac.AttendanceError, match="spans partitions"):
        acd.classify(ddf)
    fixed = acd.by_school(ddf)
    got = acd.classify(fixed)
    pd.testing.assert_frame_equal(got, ac.classify(ac.Register.from_long(whole)), check_exact=True)


def test_recommend_equals_in_process(client, schools, whole, pupils) -> None:
    got = acd.recommend(per_school(schools), pupils=pupils)
    want = ac.recommend(ac.Register.from_long(whole, pupils=pupils), pupils=pupils)
    assert len(want) > 0
    assert got == want
    assert {s.school_id for s in got} == set(SCHOOLS)


def test_recommend_with_history_equals_in_process(client, schools, whole, pupils) -> None:
    reg = ac.Register.from_long(whole, pupils=pupils)
    first = ac.recommend(reg, pupils=pupils)[0]
    history = pd.DataFrame(
        {
            "pupil_id": [first.pupil_id],
            "school_id": [first.school_id],
            "event": ["penalty_notice"],
            "date": [first.due.replace(year=first.due.year - 1)],
            "outcome": ["unpaid"],
        }
    )
    got = acd.recommend(per_school(schools), pupils=pupils, history=history)
    want = ac.recommend(reg, pupils=pupils, history=history)
    assert got == want
    assert "prosecute_or_withdraw_penalty_notice" in {s.action for s in got}


def test_recommend_as_of(client, schools, whole, pupils) -> None:
    got = acd.recommend(per_school(schools), pupils=pupils, as_of="2025-03-14")
    want = ac.recommend(
        ac.Register.from_long(whole, pupils=pupils), pupils=pupils, as_of="2025-03-14"
    )
    assert got == want


def test_collect_rejected_rows_like_in_process(client, schools) -> None:
    frames = [long.copy() for long, _ in schools]
    frames[0].loc[frames[0].index[5], "code"] = "ZZ"
    frames[2].loc[frames[2].index[9], "session"] = "XX"
    ddf = dd.concat([dd.from_pandas(f, npartitions=1) for f in frames])
    got = acd.classify(ddf, errors="collect")
    whole = pd.concat(frames, ignore_index=True)
    want = ac.classify(ac.Register.from_long(whole, errors="collect"))
    pd.testing.assert_frame_equal(got, want, check_exact=True)
    with pytest.raises(ac.RegisterError):
        acd.classify(ddf)


@given(groups=st.lists(st.integers(0, 2), min_size=3, max_size=3))
def test_any_grouping_of_whole_schools(schools, whole, groups) -> None:
    """However whole schools are grouped into partitions, the result is the same (here with
    the local threaded scheduler, so that hypothesis does not fight the cluster)."""
    parts = [
        pd.concat([schools[i][0] for i in range(3) if groups[i] == g], ignore_index=True)
        for g in sorted(set(groups))
    ]
    ddf = dd.concat([dd.from_pandas(p, npartitions=1) for p in parts])
    import dask

    with dask.config.set(scheduler="threads"):
        got = acd.classify(ddf)
    pd.testing.assert_frame_equal(got, ac.classify(ac.Register.from_long(whole)), check_exact=True)
