"""Band edges on exact integers, both bundled schemes, user schemes and their validation."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import attendance_core as ac

FIVE = [  # (attended, possible, band) — worked example 11 and each edge either side
    (200, 200, "expected"),
    (190, 200, "expected"),
    (189, 200, "at_risk_of_persistent_absence"),
    (181, 200, "at_risk_of_persistent_absence"),
    (180, 200, "persistent_absence"),
    (160, 200, "persistent_absence"),
    (159, 200, "at_risk_of_severe_absence"),
    (101, 200, "at_risk_of_severe_absence"),
    (100, 200, "severe_absence"),
    (0, 200, "severe_absence"),
    (19, 20, "expected"),
    (9, 10, "persistent_absence"),
    (1, 2, "severe_absence"),
    (4, 5, "persistent_absence"),
]
DFE = [
    (200, 200, "not_persistent"),
    (181, 200, "not_persistent"),
    (180, 200, "persistent_absence"),
    (101, 200, "persistent_absence"),
    (100, 200, "severe_absence"),
    (0, 1, "severe_absence"),
    (9, 10, "persistent_absence"),
    (1, 2, "severe_absence"),
]


@pytest.mark.parametrize(("attended", "possible", "band"), FIVE)
def test_five_band_edges(attended, possible, band):
    assert ac.band_scheme("five-band").band_of(attended, possible) == band


@pytest.mark.parametrize(("attended", "possible", "band"), DFE)
def test_dfe_edges(attended, possible, band):
    assert ac.band_scheme("dfe").band_of(attended, possible) == band


def test_94_6_percent_is_at_risk_though_it_rounds_to_95():
    # 946 of 1000 rounds to 95% but is below the edge
    assert ac.band_scheme("five-band").band_of(946, 1000) == "at_risk_of_persistent_absence"


def test_no_possible_sessions_no_band():
    for scheme in ("dfe", "five-band"):
        assert ac.band_scheme(scheme).band_of(0, 0) is None
        assert ac.band_scheme(scheme).assign([0], [0])[0] == -1


@given(st.integers(1, 2000).flatmap(lambda p: st.tuples(st.integers(0, p), st.just(p))))
def test_dfe_definitions_hold_on_integers(counts):
    attended, possible = counts
    absent = possible - attended
    band = ac.band_scheme("dfe").band_of(attended, possible)
    if 2 * absent >= possible:
        assert band == "severe_absence"
    elif 10 * absent >= possible:
        assert band == "persistent_absence"
    else:
        assert band == "not_persistent"


@given(st.integers(1, 5000).flatmap(lambda p: st.tuples(st.integers(0, p), st.just(p))))
def test_every_pupil_in_exactly_one_five_band(counts):
    attended, possible = counts
    scheme = ac.band_scheme("five-band")
    hits = [b.id for b in scheme.bands if b.contains(attended, possible)]
    assert len(hits) == 1
    a = Fraction(attended, possible)
    expected = (
        "expected"
        if a >= Fraction(95, 100)
        else "at_risk_of_persistent_absence"
        if a > Fraction(9, 10)
        else "persistent_absence"
        if a >= Fraction(8, 10)
        else "at_risk_of_severe_absence"
        if a > Fraction(1, 2)
        else "severe_absence"
    )
    assert hits[0] == expected


def test_user_scheme_from_dict_and_toml(tmp_path):
    data = {
        "id": "three",
        "bands": [
            {"id": "good", "min": "96%", "max": "100%"},
            {"id": "watch", "min": 85, "max": "96%", "include_max": False},
            {"id": "concern", "min": "0%", "max": "85%", "include_max": False},
        ],
    }
    scheme = ac.band_scheme(data)
    assert scheme.band_of(96, 100) == "good"
    assert scheme.band_of(85, 100) == "watch"
    assert scheme.band_of(84, 100) == "concern"
    path = tmp_path / "three.toml"
    path.write_text(
        'id = "three"\n'
        '[[bands]]\nid = "good"\nmin = "96%"\nmax = "100%"\n'
        '[[bands]]\nid = "watch"\nmin = "85%"\nmax = "96%"\ninclude_max = false\n'
        '[[bands]]\nid = "concern"\nmin = "0%"\nmax = "85%"\ninclude_max = false\n',
        encoding="utf-8",
    )
    assert ac.band_scheme(path).band_ids == ("good", "watch", "concern")


@pytest.mark.parametrize(
    ("bands", "message"),
    [
        (
            [{"id": "a", "min": "0%", "max": "50%"}, {"id": "b", "min": "50%", "max": "100%"}],
            "overlap",
        ),
        (
            [
                {"id": "a", "min": "0%", "max": "50%", "include_max": False},
                {"id": "b", "min": "50%", "max": "100%", "include_min": False},
            ],
            "gap",
        ),
        ([{"id": "a", "min": "0%", "max": "40%"}, {"id": "b", "min": "50%", "max": "100%"}], "gap"),
        ([{"id": "a", "min": "10%", "max": "100%"}], "0% not covered"),
        ([{"id": "a", "min": "0%", "max": "90%"}], "100% not covered"),
        ([{"id": "a", "min": "0%", "max": "100%"}, {"id": "a", "min": "0%", "max": "0%"}], "twice"),
        ([{"id": "a", "min": "zero", "max": "100%"}], "not a percentage"),
        ([{"id": "a", "max": "100%"}], "missing field 'min'"),
        ([{"id": "a", "min": "0", "max": "100", "shade": "red"}], "unknown field"),
    ],
)
def test_bad_schemes_refused(bands, message):
    with pytest.raises(ac.SchemeError, match=message):
        ac.band_scheme({"id": "bad", "bands": bands})


def test_scheme_of_absence_converted_exactly():
    scheme = ac.band_scheme("dfe")
    severe = scheme["severe_absence"]
    assert (severe.lower, severe.upper, severe.include_upper) == (0, Fraction(1, 2), True)


def test_worse_or_equal_in_scheme_order():
    five = ac.band_scheme("five-band")
    assert five.worse_or_equal("persistent_absence") == (
        "persistent_absence",
        "at_risk_of_severe_absence",
        "severe_absence",
    )


def test_assign_vectorised_matches_scalar():
    scheme = ac.band_scheme("five-band")
    rng = np.random.default_rng(1)
    possible = rng.integers(0, 400, 500)
    attended = (possible * rng.random(500)).astype(int)
    out = scheme.assign(attended, possible)
    for a, p, i in zip(attended, possible, out, strict=True):
        b = scheme.band_of(int(a), int(p))
        assert (b is None and i == -1) or scheme.bands[i].id == b


def test_days_missed_helper():
    assert ac.days_missed(0.95) == pytest.approx(9.5)
    assert ac.days_missed(0.5) == pytest.approx(95)
    with pytest.raises(ValueError):
        ac.days_missed(1.5)


@given(st.lists(st.tuples(st.integers(0, 400), st.integers(0, 400)), max_size=50))
def test_persistent_and_severe_is_the_dfe_scheme_on_integers(pairs: list[tuple[int, int]]) -> None:
    """The one definition of persistent (10 %, severe included) and severe (50 %) absence is
    exactly the integer rule at every edge, and nothing with no possible session is either."""
    from attendance_core.bands import persistent_and_severe

    absent = [min(a, p) for a, p in pairs]
    possible = [p for _, p in pairs]
    pa, sa = persistent_and_severe(absent, possible)
    for i, (a, p) in enumerate(zip(absent, possible, strict=True)):
        assert bool(pa[i]) == (p > 0 and 10 * a >= p)
        assert bool(sa[i]) == (p > 0 and 2 * a >= p)
    edges = persistent_and_severe([1, 0, 10, 9, 50, 49], [10, 0, 100, 100, 100, 100])
    assert edges[0].tolist() == [True, False, True, False, True, True]
    assert edges[1].tolist() == [False, False, False, False, True, False]
