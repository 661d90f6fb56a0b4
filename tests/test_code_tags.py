"""Code behaviour is data: tags in the code-set files, local sets that extend the statutory ones."""

from __future__ import annotations

import re
from importlib import resources

import pandas as pd
import pytest

import attendance_core as ac
from attendance_core.codes import TAGS
from attendance_core.patterns import pupil_patterns

#: The statutory meaning of each tag, from dfe-rules.md (1.2, 1.3, 3.3, 4.1, 4.4).
SHIPPED = {
    "england-2024": {
        "late": {"L", "U"},
        "late_after_close": {"U"},
        "illness": {"I"},
        "medical": {"M"},
        "holiday": {"G"},
        "unexplained": {"N"},
        "threshold": {"G", "N", "O", "U"},
        "closure": {"#"},
        "mental_health": set(),
    },
    "england-2006": {
        "late": {"L", "U"},
        "late_after_close": {"U"},
        "illness": {"I"},
        "medical": {"M"},
        "holiday": {"F", "G", "H"},
        "unexplained": {"N"},
        "threshold": {"G", "N", "O", "U"},
        "closure": {"#"},
        "mental_health": set(),
    },
}

LOCAL = """\
id = "our-trust"
extends = "england-2024"

# A trust's own code: illness, mental health (the health partners' request for better coding)
[codes.I2]
meaning = "Illness: mental health"
category = "authorised"
tags = ["illness", "mental_health"]

# A local late code: arrived late but before the register closed
[codes.L2]
meaning = "Late: arrived before the register closed (bus)"
category = "present"
tags = ["late"]

# A local planned closure code
[codes."#2"]
meaning = "Planned partial closure: INSET"
category = "not_possible"
tags = ["closure"]
"""


@pytest.mark.parametrize("set_id", sorted(SHIPPED))
@pytest.mark.parametrize("tag", sorted(TAGS))
def test_shipped_tags(set_id, tag):
    assert ac.code_set(set_id).tagged(tag) == SHIPPED[set_id][tag]


@pytest.mark.parametrize("set_id", sorted(SHIPPED))
def test_every_shipped_tag_cites_its_source(set_id):
    text = (resources.files("attendance_core") / "data" / "codesets" / f"{set_id}.toml").read_text(
        encoding="utf-8"
    )
    blocks = re.split(r"\n(?=\[codes\.)", text)
    tagged = [b for b in blocks if re.search(r"^tags = ", b, re.M)]
    assert len(tagged) == sum(1 for c in ac.code_set(set_id) if c.tags)
    for block in tagged:
        assert "dfe-rules.md" in block, block.splitlines()[0]


@pytest.fixture
def local(tmp_path):
    path = tmp_path / "local.toml"
    path.write_text(LOCAL, encoding="utf-8")
    return path


def _frame(rows):
    return pd.DataFrame(rows, columns=["pupil_id", "date", "session", "code"])


def test_extends_adds_codes_and_keeps_the_base(local):
    cs = ac.load_code_set(local)
    base = ac.code_set("england-2024")
    assert cs.id == "our-trust" and cs.extends == "england-2024"
    assert {c.code for c in cs} == {c.code for c in base} | {"I2", "L2", "#2"}
    assert cs["I2"].category is ac.Category.AUTHORISED
    assert cs["I2"].tags == frozenset({"illness", "mental_health"})
    assert cs["U"] == base["U"]
    assert (cs.valid_from, cs.valid_to) == (base.valid_from, base.valid_to)
    assert cs.tagged("illness") == {"I", "I2"}


def test_extends_changes_only_the_fields_it_names(tmp_path):
    path = tmp_path / "change.toml"
    path.write_text(
        'id = "x"\nextends = "england-2024"\n[codes.O]\ntags = []\n'
        '[codes.I]\nmeaning = "Illness (any)"\n',
        encoding="utf-8",
    )
    cs = ac.load_code_set(path)
    assert cs["O"].tags == frozenset() and cs["O"].category is ac.Category.UNAUTHORISED
    assert cs["I"].meaning == "Illness (any)" and cs["I"].tags == {"illness"}
    assert cs.tagged("threshold") == {"G", "N", "U"}


def test_extends_a_local_file_by_path(tmp_path, local):
    path = tmp_path / "school.toml"
    path.write_text(
        'id = "our-school"\nextends = "local.toml"\n[codes.I3]\n'
        'meaning = "Illness: long covid"\ncategory = "authorised"\ntags = ["illness"]\n',
        encoding="utf-8",
    )
    cs = ac.load_code_set(path)
    assert cs.extends == "our-trust"
    assert cs.tagged("illness") == {"I", "I2", "I3"}


def test_local_codes_count_as_their_tags_say(local):
    df = _frame(
        [
            ("p", "2024-09-10", "AM", "I2"),
            ("p", "2024-09-10", "PM", "I"),
            ("p", "2024-09-11", "AM", "L2"),
            ("p", "2024-09-11", "PM", "/"),
            ("p", "2024-09-12", "AM", "#2"),
            ("p", "2024-09-12", "PM", "#2"),
        ]
    )
    reg = ac.Register.from_long(df, code_set=ac.load_code_set(local))
    row = ac.classify(reg).loc["p"]
    assert (row["possible"], row["attended"], row["authorised"], row["late"]) == (4, 2, 2, 1)
    assert row["unmarked"] == 0
    pat = pupil_patterns(reg, "2024-09-12").loc["p"]
    assert pat["illness_sessions"] == 2
    # the closure code makes its day no school day
    assert not reg.calendar().is_school_day("2024-09-12")
    assert reg.calendar().is_school_day("2024-09-11")


def test_from_long_with_a_path_or_the_set(local):
    df = _frame([("p", "2024-09-10", "AM", "I2"), ("p", "2024-09-10", "PM", "/")])
    by_set = ac.classify(ac.Register.from_long(df, code_set=ac.load_code_set(local)))
    by_path = ac.classify(ac.Register.from_long(df, code_set=local))
    pd.testing.assert_frame_equal(by_set, by_path)
    with pytest.raises(ac.RegisterError, match="unknown attendance code"):
        ac.Register.from_long(df)


def test_local_set_chosen_by_date(local):
    """A local set keeps the base's valid_from: listed with england-2006, each mark by its date."""
    df = _frame(
        [
            ("p", "2024-07-15", "AM", "H"),  # 2006: agreed holiday (authorised)
            ("p", "2024-07-15", "PM", "J"),  # 2006: interview (attendance)
            ("p", "2024-09-10", "AM", "I2"),
            ("p", "2024-09-10", "PM", "L2"),
        ]
    )
    reg = ac.Register.from_long(df, code_set=["england-2006", ac.load_code_set(local)])
    row = ac.classify(reg).loc["p"]
    assert (row["possible"], row["attended"], row["authorised"], row["late"]) == (4, 2, 2, 1)
    bad = _frame([("p", "2024-07-15", "AM", "I2")])  # I2 is not a code before 19 August 2024
    with pytest.raises(ac.RegisterError, match="unknown attendance code"):
        ac.Register.from_long(bad, code_set=["england-2006", local])


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ('id = "x"\nextends = "england-1999"\n', "extends unknown code set 'england-1999'"),
        (
            'id = "x"\nextends = "england-2024"\n[codes.A]\ncategory = "present"\ntags = ["lat"]\n',
            "unknown tag 'lat'; known: closure",
        ),
        (
            'id = "x"\nextends = "england-2024"\n[codes.A]\nmeaning = "new"\n',
            "code 'A': no category",
        ),
        (
            'id = "x"\nextends = "england-2024"\n[codes.A]\ncategory = "here"\n',
            "unknown category 'here'",
        ),
        (
            'id = "x"\nextends = "england-2024"\n[codes.A]\ncategory = "present"\ncolour = 1\n',
            "unknown field 'colour'",
        ),
        ('id = "x"\nextend = "england-2024"\n', "unknown field 'extend'"),
        ('id = "x"\nextends = "self.toml"\n', "cycle"),
    ],
)
def test_bad_code_sets_raise_code_set_error(tmp_path, text, match):
    path = tmp_path / "self.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ac.CodeSetError, match=match) as info:
        ac.load_code_set(path)
    assert isinstance(info.value, ac.AttendanceError)
    assert "self.toml" in str(info.value)


def test_unknown_code_set_name_is_a_code_set_error():
    with pytest.raises(ac.CodeSetError, match="known: england-2006, england-2024"):
        ac.code_set("england-1999")
    assert issubclass(ac.CodeSetError, ac.AttendanceError)


def test_unknown_tag_asked_of_a_set():
    with pytest.raises(ac.CodeSetError, match="unknown tag 'illnes'"):
        ac.code_set("england-2024").tagged("illnes")
