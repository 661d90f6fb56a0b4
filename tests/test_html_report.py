"""The HTML report in a real headless browser (Debian's chromium).

The fixture installs chromium with apt when it is missing and the tests run as root; otherwise
the tests are skipped with the reason. Each test renders the report, takes a screenshot and
dumps the DOM the browser built, then checks that the charts are there and that the console
stayed clean (no errors, nothing refused by the page's Content-Security-Policy, which allows
no network resource at all).
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pandas as pd
import pytest

import attendance_core as ac
from attendance_core import reports
from builders import unavailable

pytestmark = pytest.mark.browser

BROWSER_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-default-apps",
    "--disable-extensions",
]


def _find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    return None


@pytest.fixture(scope="session")
def chromium() -> str:
    """The chromium executable, installed with apt when missing and running as root."""
    found = _find_chromium()
    if found:
        return found
    if not hasattr(os, "geteuid") or os.geteuid() != 0 or shutil.which("apt-get") is None:
        unavailable("chromium is not installed (apt-get install chromium)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update"], check=False, capture_output=True, env=env, timeout=600)
    done = subprocess.run(
        ["apt-get", "install", "-y", "chromium"],
        check=False,
        capture_output=True,
        env=env,
        timeout=1200,
    )
    found = _find_chromium()
    if done.returncode != 0 or not found:
        unavailable("chromium could not be installed")
    return found


def run_browser(
    chromium: str, tmp_path: Path, url: str, *extra: str
) -> subprocess.CompletedProcess[str]:
    profile = tmp_path / f"profile-{len(list(tmp_path.iterdir()))}"
    profile.mkdir()
    return subprocess.run(
        [
            chromium,
            *BROWSER_FLAGS,
            f"--user-data-dir={profile}",
            "--enable-logging=stderr",
            "--v=0",
            *extra,
            url,
        ],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def console_problems(stderr: str) -> list[str]:
    """Console messages and page errors in chromium's log (not its own start-up noise)."""
    bad = []
    for line in stderr.splitlines():
        if (
            ":CONSOLE" in line
            or "Uncaught" in line
            or "Refused to" in line
            or "Content Security Policy" in line
        ):
            bad.append(line)
    return bad


def png_pixels(path: Path) -> tuple[int, int, list[bytes]]:
    """Width, height and the unfiltered rows of an 8-bit RGB or RGBA PNG."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height, depth, colour_type = struct.unpack(">IIBB", data[16:26])
    assert depth == 8 and colour_type in (2, 6)
    bpp = 3 if colour_type == 2 else 4
    chunks, pos = [], 8
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        if data[pos + 4 : pos + 8] == b"IDAT":
            chunks.append(data[pos + 8 : pos + 8 + length])
        pos += 12 + length
    raw = zlib.decompress(b"".join(chunks))
    stride = width * bpp
    rows: list[bytes] = []
    prev = bytearray(stride)
    for r in range(height):
        kind = raw[r * (stride + 1)]
        line = bytearray(raw[r * (stride + 1) + 1 : (r + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if kind == 1:
                line[i] = (line[i] + a) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + b) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (a + b) // 2) & 0xFF
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else b if pb <= pc else c
                line[i] = (line[i] + pred) & 0xFF
        rows.append(bytes(line))
        prev = line
    return (
        width,
        height,
        [row if bpp == 3 else bytes(v for i, v in enumerate(row) if i % 4 != 3) for row in rows],
    )


def distinct_colours(rows: list[bytes], step: int = 4) -> int:
    """Distinct RGB values on a grid of every ``step``-th pixel."""
    seen = set()
    for row in rows[::step]:
        for x in range(0, len(row) - 2, 3 * step):
            seen.add(row[x : x + 3])
    return len(seen)


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    long, pupils = ac.demo.school(seed=2, n_pupils=300)
    pupils = pupils.copy()
    pupils["name"] = "<script>alert('x')</script>"  # every pupil: the top 20 show it
    reg = ac.Register.from_long(long, pupils=pupils)
    path = tmp_path_factory.mktemp("html") / "report.html"
    return ac.html_report(reg, path, pupils=pupils)


def test_report_renders_charts_without_console_errors(
    chromium: str, report: Path, tmp_path: Path
) -> None:
    dom = run_browser(chromium, tmp_path, report.as_uri(), "--dump-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    html = dom.stdout
    assert html.count("<svg") == 3
    assert html.count("<rect") >= 5 + 10  # five band bars, ten heat-map cells
    assert "<polyline" in html and html.count("<circle") >= 20
    assert "&lt;script&gt;alert('x')&lt;/script&gt;" in html
    assert "<script" not in html
    assert console_problems(dom.stderr) == []


def test_report_screenshot_looks_like_a_report(chromium: str, report: Path, tmp_path: Path) -> None:
    shot = tmp_path / "report.png"
    done = run_browser(
        chromium,
        tmp_path,
        report.as_uri(),
        f"--screenshot={shot}",
        "--window-size=1280,2000",
        "--hide-scrollbars",
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert shot.exists()
    width, height, rows = png_pixels(shot)
    assert (width, height) == (1280, 2000)
    # the dark banner across the top, then the light page
    assert rows[20][3 * 640 : 3 * 640 + 3] == bytes.fromhex("16325c")
    assert rows[-5][3 * 5 : 3 * 5 + 3] in (bytes.fromhex("f4f6f9"), bytes.fromhex("ffffff"))
    # a blank or unstyled page has a handful of colours; the cards, bars, heat map and trend
    # line give many
    assert distinct_colours(rows[:1200]) > 40
    assert console_problems(done.stderr) == []
    keep = os.environ.get("ATTENDANCE_CORE_SCREENSHOTS")
    if keep:
        shutil.copy(shot, Path(keep) / "report.png")


def test_tsm_page_renders(chromium: str, tmp_path: Path) -> None:
    long, pupils = ac.demo.school(seed=3, n_pupils=120)
    reg = ac.Register.from_long(long, pupils=pupils)
    written = reports.write_tsm_pack(reports.tsm_pack(reg, pupils), tmp_path / "pack")
    page = next(p for p in written if p.name == "tsm.html")
    dom = run_browser(chromium, tmp_path, page.as_uri(), "--dump-dom")
    assert dom.returncode == 0
    assert "<svg" in dom.stdout and "Severe absence" in dom.stdout
    assert console_problems(dom.stderr) == []
    assert isinstance(pd.read_csv(page.parent / "bands.csv"), pd.DataFrame)


def test_console_check_catches_a_bad_page(chromium: str, tmp_path: Path) -> None:
    """The console check can fail: a page that loads a network image and runs a script."""
    page = tmp_path / "bad.html"
    page.write_text(
        '<!DOCTYPE html><html><head><meta http-equiv="Content-Security-Policy" '
        "content=\"default-src 'none'; style-src 'unsafe-inline'\"></head><body>"
        "<img src=\"https://example.invalid/x.png\"><script>console.error('boom')</script>"
        "</body></html>",
        encoding="utf-8",
    )
    dom = run_browser(chromium, tmp_path, page.as_uri(), "--dump-dom")
    assert len(console_problems(dom.stderr)) >= 1
