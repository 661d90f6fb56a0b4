"""The governor summary and the parent letters: figures by hand, escaping, replaceable letters.

Looked at in a real browser (axe-core, A4 pages) in test_browser.py.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pandas as pd
import pytest

import attendance_core as ac
from attendance_core import printed

MONDAY = dt.date(2024, 9, 2)
PRESENT = ("/", "\\")
OUT = ("O", "O")
AWAY = ("X", "X")  # not required to attend: no possible session


def _dates() -> list[dt.date]:
    """Eight school weeks, Monday to Friday."""
    return [MONDAY + dt.timedelta(days=7 * w + d) for w in range(8) for d in range(5)]


#: PA: 10 days out in weeks 5-6 (last 4 weeks 50%, the 4 before 100%); PB always in; PC out
#: the first two weeks (last 4 weeks 100%, the 4 before 50%); PD never has a possible session.
MARKS = {
    "PA": [PRESENT] * 20 + [OUT] * 10 + [PRESENT] * 10,
    "PB": [PRESENT] * 40,
    "PC": [OUT] * 10 + [PRESENT] * 30,
    "PD": [AWAY] * 40,
}
SCHOOL_OF = {"PA": "S1", "PB": "S1", "PC": "S2", "PD": "S2"}


def _long(schools: bool) -> pd.DataFrame:
    rows = []
    for pupil, marks in MARKS.items():
        for day, pair in zip(_dates(), marks, strict=True):
            for session, code in zip(("AM", "PM"), pair, strict=True):
                row = {"pupil_id": pupil, "date": day.isoformat(), "session": session}
                row["code"] = code
                if schools:
                    row["school_id"] = SCHOOL_OF[pupil]
                rows.append(row)
    return pd.DataFrame(rows)


def _pupils(schools: bool) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "name": ["Ann <Oak>", "Bo & Co", "Cy Elm", "Di Ash"],
            "year_group": ["Y7", "Y7", "Y8", "Y8"],
            "parent_name": ["Mrs Oak", "Mr Co", "Ms Elm", "Mx Ash"],
        },
        index=pd.Index(list(MARKS), name="pupil_id"),
    )
    if schools:
        frame["school_id"] = [SCHOOL_OF[p] for p in MARKS]
    return frame


def _letters(html: str) -> list[str]:
    return re.findall(r'<article class="letter".*?</article>', html, flags=re.DOTALL)


# ----------------------------------------------------------------------------- governors
def test_governor_summary_one_page_per_school_figures_by_hand(tmp_path: Path) -> None:
    reg = ac.Register.from_long(_long(schools=True))
    path = ac.governor_summary(reg, tmp_path / "gov.html", pupils=_pupils(schools=True))
    html = path.read_text(encoding="utf-8")
    pages = re.findall(r'<article class="governors".*?</article>', html, flags=re.DOTALL)
    assert len(pages) == 2
    s1, s2 = pages
    assert "summary for governors: S1" in s1 and "summary for governors: S2" in s2
    # S1: PA 60 + PB 80 of 160 sessions; persistent absence PA, 1 of 2 pupils
    assert "87.5%" in s1 and "140 of 160 possible sessions" in s1
    assert re.search(r"Persistent absence</div><div class=\"value\">50\.0%", s1)
    # S2: PC 60 of 80 (PD has no possible session and is in no band)
    assert "60 of 80 possible sessions" in s2
    assert re.search(r"Persistent absence</div><div class=\"value\">100\.0%", s2)
    # each page: the bands, the trend with its 95% line, the benchmarks
    for page in pages:
        assert page.count('class="badge"') == 5  # five bands
        assert 'class="ref-95"' in page
        assert "Against the benchmarks" in page and "England" in page
    # ids stay unique across pages (one SVG title per school)
    ids = re.findall(r'\sid="([^"]+)"', html)
    assert len(ids) == len(set(ids))
    # no pupil is named or identified
    for pupil, name in zip(MARKS, _pupils(True)["name"], strict=True):
        assert pupil not in html
        assert name not in html and name.replace("<", "&lt;").replace(">", "&gt;") not in html


def test_governor_summary_benchmarks_file_single_school_and_bytes(tmp_path: Path) -> None:
    bench = tmp_path / "la.csv"
    bench.write_text(
        "benchmark,title,year,overall_absence_rate,persistent_absence_rate\n"
        "our-la,Our <LA>,2024/25,6.5%,0.181\n",
        encoding="utf-8",
    )
    reg = ac.Register.from_long(_long(schools=False))
    pupils = _pupils(schools=False).assign(school_id="DEMO-1")
    a = ac.governor_summary(reg, tmp_path / "a.html", pupils=pupils, benchmarks=bench)
    b = ac.governor_summary(reg, tmp_path / "b.html", pupils=pupils, benchmarks=bench)
    assert a.read_bytes() == b.read_bytes()
    html = a.read_text(encoding="utf-8")
    assert html.count('<article class="governors"') == 1
    assert "summary for governors: DEMO-1" in html  # named from the pupils table
    assert "Our &lt;LA&gt; 2024/25" in html and "<LA>" not in html
    assert "6.5%" in html and "18.1%" in html
    assert "generated" not in html
    stamped = ac.governor_summary(
        reg, tmp_path / "c.html", generated_at=dt.datetime(2025, 1, 2, 3, 4)
    ).read_text(encoding="utf-8")
    assert "generated 2025-01-02 03:04" in stamped
    assert "<script" not in html.lower() and not re.search(r"(src|href)\s*=", html)


def test_governor_summary_lists_pupils_below_the_minimum_apart(tmp_path: Path) -> None:
    scheme = {
        "id": "min-test",
        "min_possible_sessions": 100,  # every pupil here has 80
        "bands": [
            {"id": "ok", "label": "OK", "min": 90, "max": 100},
            {"id": "low", "label": "Low", "min": 0, "max": 90, "include_max": False},
        ],
    }
    reg = ac.Register.from_long(_long(schools=False))
    html = ac.governor_summary(reg, tmp_path / "g.html", scheme=scheme).read_text("utf-8")
    assert "3 pupils with fewer than 100 possible sessions are counted apart, not banded." in html


# ----------------------------------------------------------------------------- letters
def test_parent_letters_by_hand(tmp_path: Path) -> None:
    reg = ac.Register.from_long(_long(schools=False))
    html = ac.parent_letters(reg, tmp_path / "l.html", pupils=_pupils(False)).read_text("utf-8")
    letters = _letters(html)
    assert len(letters) == 3  # PD has no possible session: no letter
    pa, pb, pc = letters  # year group, then pupil id
    assert "Dear parent or carer of Ann &lt;Oak&gt;," in pa and "<Oak>" not in html
    assert "<strong>10 days</strong>" in pa and "<strong>75.0%</strong>" in pa
    assert "pupils in Y7 have attended 87.5%" in pa  # (60 + 80) / 160
    assert "has fallen (-50.0 pts" in pa
    assert "Bo &amp; Co" in pb and "<strong>0 days</strong>" in pb and "stayed about the same" in pb
    assert "<strong>10 days</strong>" in pc and "pupils in Y8 have attended 75.0%" in pc
    assert "has improved (+50.0 pts" in pc
    assert "The attendance team" in pa


def test_parent_letters_choose_pupils(tmp_path: Path) -> None:
    reg = ac.Register.from_long(_long(schools=False))
    pupils = _pupils(False)
    below = ac.parent_letters(reg, tmp_path / "b.html", pupils=pupils, below=0.9)
    assert len(_letters(below.read_text("utf-8"))) == 2  # PA and PC at 75%
    one = ac.parent_letters(reg, tmp_path / "o.html", pupils=pupils, pupil_ids=["PC"])
    (letter,) = _letters(one.read_text("utf-8"))
    assert "Cy Elm" in letter
    none = ac.parent_letters(reg, tmp_path / "n.html", pupils=pupils, pupil_ids=["nobody"])
    text = none.read_text("utf-8")
    assert not _letters(text) and "there are no letters to print" in text
    with pytest.raises(ValueError, match="fraction"):
        ac.parent_letters(reg, tmp_path / "x.html", below=90)


def test_parent_letters_without_pupils_table(tmp_path: Path) -> None:
    reg = ac.Register.from_long(_long(schools=True))
    html = ac.parent_letters(reg, tmp_path / "l.html").read_text("utf-8")
    letters = _letters(html)
    assert len(letters) == 3
    assert all("Dear parent or carer," in x for x in letters)
    assert all("<p>Your child has missed" in x for x in letters)
    assert "<strong>S1</strong>" in letters[0] and "<strong>S2</strong>" in letters[2]


def test_parent_letters_with_the_la_template(tmp_path: Path) -> None:
    own = tmp_path / "la-letter.html.j2"
    own.write_text(
        "<p>To {{ pupil.parent_name }}: {{ name }} ({{ pupil_id }}) missed {{ days_text }} days"
        " ({{ sessions_missed }} of {{ possible }} sessions); call {{ extra.phone }}.</p>"
        "<p>{{ school_name }}, {{ as_of|date }}, {{ attendance_rate|pct(0) }}</p>",
        encoding="utf-8",
    )
    reg = ac.Register.from_long(_long(schools=False))
    pupils = _pupils(False).assign(parent_name=["<b>Mrs Oak</b>", "Mr Co", "Ms Elm", "Mx Ash"])
    path = ac.parent_letters(
        reg,
        tmp_path / "l.html",
        pupils=pupils,
        template=own,
        school_name="Oak Primary",
        extra={"phone": "01234 567890"},
        pupil_ids=["PA"],
    )
    (letter,) = _letters(path.read_text("utf-8"))
    assert "To &lt;b&gt;Mrs Oak&lt;/b&gt;: Ann &lt;Oak&gt; (PA) missed 10 days" in letter
    assert "(20 of 80 sessions); call 01234 567890." in letter
    assert "Oak Primary, 25 Oct 2024, 75%" in letter


def test_an_la_template_may_extend_the_package_letter(tmp_path: Path) -> None:
    own = tmp_path / "wrapped.html.j2"
    own.write_text(
        '<p class="address">{{ pupil.parent_name }}</p>{% include "letter.html.j2" %}', "utf-8"
    )
    reg = ac.Register.from_long(_long(schools=False))
    path = ac.parent_letters(
        reg, tmp_path / "l.html", pupils=_pupils(False), template=own, pupil_ids=["PC"]
    )
    (letter,) = _letters(path.read_text("utf-8"))
    assert '<p class="address">Ms Elm</p>' in letter and "has improved" in letter


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{% if %}", r"broken\.html\.j2, line 1"),
        ("{{ no_such_field }}", r"broken\.html\.j2: 'no_such_field' is undefined"),
        ("{{ name.__class__.__mro__ }}", r"broken\.html\.j2: .*unsafe"),
        ('{% include "missing.j2" %}', r"cannot find missing\.j2"),
    ],
)
def test_a_broken_template_is_a_clear_error(tmp_path: Path, text: str, message: str) -> None:
    own = tmp_path / "broken.html.j2"
    own.write_text(text, encoding="utf-8")
    reg = ac.Register.from_long(_long(schools=False))
    with pytest.raises(ac.AttendanceError, match=message) as err:
        ac.parent_letters(reg, tmp_path / "l.html", pupils=_pupils(False), template=own)
    assert "Ann" not in str(err.value) and "Oak" not in str(err.value)
    assert not (tmp_path / "l.html").exists()


def test_a_missing_template_is_a_clear_error(tmp_path: Path) -> None:
    reg = ac.Register.from_long(_long(schools=False))
    with pytest.raises(ac.AttendanceError, match=r"nope\.j2: no such letter template"):
        ac.parent_letters(reg, tmp_path / "l.html", template=tmp_path / "nope.j2")


def test_letter_fields_are_the_fields_a_letter_gets(tmp_path: Path) -> None:
    names = [name for name, _ in printed.LETTER_FIELDS]
    own = tmp_path / "fields.html.j2"
    own.write_text("".join(f"[{n}={{{{ {n} }}}}]" for n in names), encoding="utf-8")
    reg = ac.Register.from_long(_long(schools=False))
    path = ac.parent_letters(
        reg, tmp_path / "l.html", pupils=_pupils(False), template=own, pupil_ids=["PA"]
    )
    (letter,) = _letters(path.read_text("utf-8"))
    for n in names:
        assert f"[{n}=" in letter
    assert "[trend=fallen]" in letter and "[days_missed=10.0]" in letter
