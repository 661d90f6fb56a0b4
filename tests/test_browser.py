"""The HTML report, the trust report, a TSM pack, the governor summary and parent letters,
looked at in a real headless Chromium.

axe-core must find no serious or critical violation; no table may overflow its container at a
1280 px desktop width nor in the A4 print layout; the printed PDF carries every column and its
colours. The Debian ``chromium`` package is driven through Playwright's Python API
(``executable_path``, no browser download: ``.ci/chromium.sh`` installs both). Off CI a machine
without the browser skips these tests; with ``CI=true`` a missing browser is a failure.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import attendance_core as ac

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
ON_CI = os.environ.get("CI", "").lower() == "true"
pytestmark = pytest.mark.browser
#: A4 at 96 px per inch less the 12 mm print margins of the style sheet.
A4_PRINT_WIDTH = round((210 - 2 * 12) / 25.4 * 96)


def _missing() -> str | None:
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        return f"no Chromium at {CHROMIUM} (apt-get install chromium, or bash .ci/chromium.sh)"
    try:
        import axe_playwright_python  # noqa: F401
        import playwright.sync_api  # noqa: F401
    except ImportError as exc:
        return f"browser tests need playwright and axe-playwright-python ({exc.name} missing)"
    return None


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    why = _missing()
    if why is not None:
        if ON_CI:
            pytest.fail(f"CI=true but {why}")
        pytest.skip(why)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("browser")
    warnings.simplefilter("ignore")
    long, pupils = ac.demo.school(seed=3)
    reg = ac.Register.from_long(long, pupils=pupils)
    written = {"report": ac.html_report(reg, out / "report.html", pupils=pupils)}
    parts, pups = [], []
    for i, seed in enumerate((3, 4)):  # a two-school trust: the report gains per-school tables
        lg, pp = ac.demo.school(seed=seed)
        parts.append(lg.assign(school_id=f"S{i + 1}"))
        pups.append(pp.assign(school_id=f"S{i + 1}"))
    trust_long, trust_pupils = pd.concat(parts), pd.concat(pups)
    treg = ac.Register.from_long(trust_long, pupils=trust_pupils)
    written["trust"] = ac.html_report(treg, out / "trust.html", pupils=trust_pupils)
    tsm = ac.write_tsm_pack(ac.tsm_pack(reg, pupils), out / "tsm")
    written["tsm"] = next(p for p in tsm if p.suffix == ".html")
    written["governors"] = ac.governor_summary(treg, out / "governors.html", pupils=trust_pupils)
    some = sorted(pupils.index.astype(str))[:LETTERS]
    written["letters"] = ac.parent_letters(reg, out / "letters.html", pupils, pupil_ids=some)
    return written


NAMES = ("report", "trust", "tsm", "governors", "letters")
#: The pages with tables (letters have none).
TABLE_PAGES = tuple(n for n in NAMES if n != "letters")
#: Parent letters printed in the browser tests, one a page.
LETTERS = 6


def _open(browser: Any, path: Path, width: int = 1280) -> Any:
    page = browser.new_page(viewport={"width": width, "height": 900})
    page.goto(path.as_uri())
    return page


OVERFLOW_JS = """
() => Array.from(document.querySelectorAll('table')).map((t, i) => {
  const box = t.parentElement;
  return {i, caption: (t.closest('section')?.querySelector('h2')?.textContent || '').trim(),
          table: t.scrollWidth, box: box.clientWidth};
}).filter(r => r.table > r.box + 1)
"""


@pytest.mark.parametrize("name", NAMES)
def test_axe_finds_no_serious_violation(browser: Any, pages: dict[str, Path], name: str) -> None:
    from axe_playwright_python.sync_playwright import Axe

    page = _open(browser, pages[name])
    results = Axe().run(page)
    bad = [
        (v["id"], v["impact"], len(v["nodes"]), v["nodes"][0]["target"])
        for v in results.response["violations"]
        if v["impact"] in ("serious", "critical")
    ]
    page.close()
    assert not bad, bad


@pytest.mark.parametrize("name", NAMES)
def test_no_table_overflows_at_desktop_width(
    browser: Any, pages: dict[str, Path], name: str
) -> None:
    page = _open(browser, pages[name], 1280)
    over = page.evaluate(OVERFLOW_JS)
    page.close()
    assert not over, over


@pytest.mark.parametrize("name", NAMES)
def test_no_table_overflows_in_a4_print(browser: Any, pages: dict[str, Path], name: str) -> None:
    page = _open(browser, pages[name], A4_PRINT_WIDTH)
    page.emulate_media(media="print")
    over = page.evaluate(OVERFLOW_JS)
    hidden = page.evaluate(
        """() => Array.from(document.querySelectorAll('th, td')).filter(
             c => getComputedStyle(c).display === 'none' || c.getBoundingClientRect().right >
                  document.documentElement.clientWidth + 1).length"""
    )
    page.close()
    assert not over, over
    assert hidden == 0


@pytest.mark.parametrize("name", TABLE_PAGES)
def test_pdf_prints_every_column_with_colours(
    browser: Any, pages: dict[str, Path], name: str
) -> None:
    page = _open(browser, pages[name], A4_PRINT_WIDTH)
    page.emulate_media(media="print")
    headers = page.evaluate(
        "() => Array.from(document.querySelectorAll('th')).map(t => t.textContent.trim())"
    )
    adjust = page.evaluate(
        "() => getComputedStyle(document.body).getPropertyValue('print-color-adjust')"
    )
    pdf = page.pdf(format="A4", print_background=True)
    page.close()
    assert pdf.startswith(b"%PDF")
    assert headers and all(headers)
    assert adjust.strip() == "exact"  # badge and band colours print


def test_trend_chart_draws_the_95_percent_line(browser: Any, pages: dict[str, Path]) -> None:
    page = _open(browser, pages["report"])
    found = page.evaluate(
        """() => { const l = document.querySelector('svg.trend-chart line.ref-95');
                  if (!l) return null; const r = l.getBoundingClientRect();
                  return {w: r.width, y: l.getAttribute('y1')}; }"""
    )
    page.close()
    assert found is not None and found["w"] > 100


def _pdf_pages(pdf: bytes) -> int:
    """The pages of a PDF Chromium printed (its page objects are not compressed)."""
    return len(re.findall(rb"/Type\s*/Page(?![a-zA-Z])", pdf))


@pytest.mark.parametrize(("name", "expected"), [("governors", 2), ("letters", LETTERS)])
def test_one_school_or_one_letter_a_printed_page(
    browser: Any, pages: dict[str, Path], name: str, expected: int
) -> None:
    page = _open(browser, pages[name], A4_PRINT_WIDTH)
    pdf = page.pdf(format="A4", print_background=True)
    page.close()
    assert _pdf_pages(pdf) == expected


#: A4's height at 96 px per inch less the 12 mm print margins of the style sheet.
A4_PRINT_HEIGHT = round((297 - 2 * 12) / 25.4 * 96)


@pytest.mark.parametrize("name", ["report", "trust", "tsm"])
def test_sections_break_without_half_empty_pages(
    browser: Any, pages: dict[str, Path], name: str
) -> None:
    """Sections may break across pages: the printed pages are not many more than the content
    needs (sections kept whole printed the demo on 8 pages and a school's pack on 18)."""
    page = _open(browser, pages[name], A4_PRINT_WIDTH)
    page.emulate_media(media="print")
    height = page.evaluate("() => document.documentElement.scrollHeight")
    pdf = page.pdf(format="A4", print_background=True)
    page.close()
    needed = height / A4_PRINT_HEIGHT
    assert _pdf_pages(pdf) <= math.ceil(1.2 * needed), (_pdf_pages(pdf), needed)
