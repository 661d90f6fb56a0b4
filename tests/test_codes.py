"""Every code of both statutory sets counts as dfe-rules.md says."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

import attendance_core as ac
from attendance_core.codes import Category, normalise_code

PRESENT_2024 = {"/", "\\", "L"}
AEA_2024 = {"K", "V", "P", "W", "B"}
AUTH_2024 = {"C", "C1", "C2", "E", "I", "J1", "M", "R", "S", "T"}
UNAUTH_2024 = {"G", "N", "O", "U"}
NOT_POSSIBLE_2024 = {"D", "X", "Z", "#", "Q", "Y1", "Y2", "Y3", "Y4", "Y5", "Y6", "Y7"}

PRESENT_2006 = {"/", "\\", "L"}
AEA_2006 = {"B", "J", "P", "V", "W"}
AUTH_2006 = {"C", "E", "F", "H", "I", "M", "R", "S", "T"}
UNAUTH_2006 = {"G", "N", "O", "U"}
NOT_POSSIBLE_2006 = {"D", "X", "Y", "Z", "#"}


def _expected(present, aea, auth, unauth, notp):
    out = {}
    for codes, cat in (
        (present, Category.PRESENT),
        (aea, Category.APPROVED_ACTIVITY),
        (auth, Category.AUTHORISED),
        (unauth, Category.UNAUTHORISED),
        (notp, Category.NOT_POSSIBLE),
    ):
        out.update(dict.fromkeys(codes, cat))
    return out


EXPECTED = {
    "england-2024": _expected(PRESENT_2024, AEA_2024, AUTH_2024, UNAUTH_2024, NOT_POSSIBLE_2024),
    "england-2006": _expected(PRESENT_2006, AEA_2006, AUTH_2006, UNAUTH_2006, NOT_POSSIBLE_2006),
}


@pytest.mark.parametrize("set_id", sorted(EXPECTED))
def test_set_has_exactly_the_statutory_codes(set_id):
    cs = ac.code_set(set_id)
    assert {c.code for c in cs} == set(EXPECTED[set_id])


@pytest.mark.parametrize(
    ("set_id", "code"), [(s, c) for s, codes in sorted(EXPECTED.items()) for c in sorted(codes)]
)
def test_each_code_category(set_id, code):
    cs = ac.code_set(set_id)
    cat = EXPECTED[set_id][code]
    assert cs[code].category is cat
    assert cs[code].possible is (cat is not Category.NOT_POSSIBLE)
    assert cs[code].attendance is (cat in (Category.PRESENT, Category.APPROVED_ACTIVITY))


@pytest.mark.parametrize(
    ("set_id", "code"), [(s, c) for s, codes in sorted(EXPECTED.items()) for c in sorted(codes)]
)
def test_each_code_counts_in_classify(set_id, code):
    """One mark of each code through the whole pipeline lands in the right column."""
    day = "2024-09-10" if set_id == "england-2024" else "2023-09-12"
    df = pd.DataFrame({"pupil_id": ["p"], "date": [day], "session": ["AM"], "code": [code]})
    row = ac.classify(ac.Register.from_long(df)).loc["p"]
    cat = EXPECTED[set_id][code]
    assert row["possible"] == (0 if cat is Category.NOT_POSSIBLE else 1)
    assert row["attended"] == (1 if cat in (Category.PRESENT, Category.APPROVED_ACTIVITY) else 0)
    assert row["authorised"] == (1 if cat is Category.AUTHORISED else 0)
    assert row["unauthorised"] == (1 if cat is Category.UNAUTHORISED else 0)
    assert row["late"] == (1 if code == "L" else 0)
    assert row["late_after_close"] == (1 if code == "U" else 0)


def test_sets_switch_on_19_august_2024():
    old, new = ac.code_set("england-2006"), ac.code_set("england-2024")
    assert old.in_force(dt.date(2024, 8, 18)) and not old.in_force(dt.date(2024, 8, 19))
    assert new.in_force(dt.date(2024, 8, 19)) and not new.in_force(dt.date(2024, 8, 18))


def test_normalise_code():
    assert normalise_code(" i ") == "I"
    assert normalise_code(None) == "-"
    assert normalise_code(float("nan")) == "-"
    assert normalise_code("   ") == "-"
    assert normalise_code("y1") == "Y1"


def test_sub_codes_map_to_their_letter_only_when_that_letter_is_a_code():
    cs = ac.code_set("england-2024")
    assert cs.resolve("I01") == "I"
    assert cs.resolve("X02") == "X"
    assert cs.resolve("Y1") == "Y1"  # a code itself, never its first letter
    assert cs.resolve("J01") is None  # J is not a 2024 code
    assert ac.code_set("england-2006").resolve("J01") == "J"
    assert cs.resolve("I1") is None  # not the ^[A-Z][0-9]{2}$ shape
    assert cs.resolve("H") is None


def test_local_code_set_from_toml(tmp_path):
    path = tmp_path / "local.toml"
    path.write_text(
        'id = "our-school"\n'
        '[codes."/"]\nmeaning = "present"\ncategory = "present"\n'
        '[codes.A]\nmeaning = "absent"\ncategory = "unauthorised"\n'
        '[symbols]\n"7" = "A"\n',
        encoding="utf-8",
    )
    cs = ac.load_code_set(path)
    assert cs.id == "our-school" and cs.resolve("7") == "A"
    df = pd.DataFrame(
        {
            "pupil_id": ["p", "p"],
            "date": ["2024-09-10"] * 2,
            "session": ["AM", "PM"],
            "code": ["/", "7"],
        }
    )
    t = ac.classify(ac.Register.from_long(df, code_set=path))
    assert (t.loc["p", "possible"], t.loc["p", "unauthorised"]) == (2, 1)


def test_symbol_mapping_to_unknown_code_is_refused(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text(
        'id = "x"\n[codes."/"]\ncategory = "present"\n[symbols]\n"7" = "Q"\n', encoding="utf-8"
    )
    with pytest.raises(ac.AttendanceError, match="symbol '7'"):
        ac.load_code_set(path)


def test_local_symbols_passed_to_from_long():
    df = pd.DataFrame(
        {
            "pupil_id": ["p", "p"],
            "date": ["2024-09-10"] * 2,
            "session": ["AM", "PM"],
            "code": ["7", "/"],
        }
    )
    with pytest.raises(ac.RegisterError):
        ac.Register.from_long(df)
    reg = ac.Register.from_long(df, symbols={"7": "I"})
    assert list(reg.to_long()["code"]) == ["I", "/"]


def test_unknown_code_set_lists_known():
    with pytest.raises(ac.AttendanceError, match="england-2024"):
        ac.code_set("england-1999")


def test_unconfirmed_facts_are_marked_in_the_data_file():
    from importlib import resources

    text = (
        resources.files("attendance_core") / "data" / "codesets" / "england-2024.toml"
    ).read_text(encoding="utf-8")
    assert "[UNCONFIRMED]" in text
