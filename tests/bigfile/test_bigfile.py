"""Bounded memory on a big CSV: a generated 2 GB long-layout file streamed through ``ac.load``.

Not part of the default run (it writes 2 GB to a temporary folder and takes minutes): set
``ATTENDANCE_CORE_BIGFILE=1`` (tox env ``bigfile``). ``ATTENDANCE_CORE_BIGFILE_BYTES`` changes
the size (default 2 GB) for a quicker look. The load runs in a fresh subprocess so that its peak
resident set size (``resource.getrusage(RUSAGE_SELF).ru_maxrss``) is the load's own, and the
test asserts that what the load adds to it (peak minus the RSS after imports) stays well below
the file size, and that every row is accounted for.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ENABLED = os.environ.get("ATTENDANCE_CORE_BIGFILE", "").strip().lower() in {"1", "true", "yes"}
SIZE = int(os.environ.get("ATTENDANCE_CORE_BIGFILE_BYTES", str(2 * 10**9)))
#: Peak RSS may be at most this fraction of the file size.
MAX_RSS_FRACTION = 0.5
#: Codes cycled through the file: attendance, absences, a late, a missing mark.
CODES = ("/", "\\", "/", "\\", "L", "I", "/", "\\", "M", "N", "/", "\\", "O", "-")

pytestmark = [
    pytest.mark.skipif(not ENABLED, reason="set ATTENDANCE_CORE_BIGFILE=1 (tox -e bigfile)"),
    pytest.mark.skipif(sys.platform == "win32", reason="resource module is POSIX only"),
    pytest.mark.filterwarnings("ignore::attendance_core.errors.AttendanceWarning"),
]


def school_days(start: dt.date, n: int) -> list[str]:
    days: list[str] = []
    day = start
    while len(days) < n:
        if day.weekday() < 5:
            days.append(day.isoformat())
        day += dt.timedelta(days=1)
    return days


def generate(path: Path, size: int) -> int:
    """Write a long CSV of at least ``size`` bytes; returns the number of data rows.

    Pupils are written one after another, each with a full year of sessions, so no row repeats
    a key; about 1 in 1000 rows carries a code that does not exist, to be rejected.
    """
    days = school_days(dt.date(2024, 9, 2), 190)
    written = 0
    rows = 0
    pupil = 0
    with path.open("w", encoding="utf-8", newline="\n") as fh:
        header = "school_id,pupil_id,date,session,code\n"
        fh.write(header)
        written += len(header)
        while written < size:
            pupil += 1
            pid = f"P{pupil:08d}"
            lines = []
            for d, day in enumerate(days):
                for s, session in enumerate(("AM", "PM")):
                    k = pupil + 2 * d + s
                    code = "XX" if k % 997 == 0 else CODES[k % len(CODES)]
                    lines.append(f"100001,{pid},{day},{session},{code}\n")
            block = "".join(lines)
            fh.write(block)
            written += len(block)
            rows += len(lines)
    return rows


LOADER = textwrap.dedent(
    """
    import json, resource, sys, time, warnings
    warnings.simplefilter("ignore")
    import attendance_core as ac

    start = time.perf_counter()
    base_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    result = ac.load(sys.argv[1], format="generic-csv")
    seconds = time.perf_counter() - start
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # the rows to_long() would give back, counted without building that frame
    accepted = int((result.register.marks != 0).sum())
    print(json.dumps({
        "rows_read": result.rows_read,
        "accepted": accepted,
        "rejected": result.rejected_count,
        "register_bytes": result.register.nbytes,
        "peak_rss_bytes": peak_kib * 1024,
        "baseline_rss_bytes": base_kib * 1024,
        "seconds": round(seconds, 1),
    }))
    """
)


def test_two_gigabyte_csv_streams_in_bounded_memory(tmp_path: Path) -> None:
    import attendance_core_generic  # noqa: F401 (a core dependency: never skipped)

    path = tmp_path / "big.csv"
    rows = generate(path, SIZE)
    size = path.stat().st_size
    assert size >= SIZE
    done = subprocess.run(
        [sys.executable, "-c", LOADER, str(path)],
        capture_output=True,
        text=True,
        check=False,
        timeout=4 * 3600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    stats = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"\n{size:,} bytes, {rows:,} rows: {stats}")
    assert stats["rows_read"] == rows
    assert stats["rows_read"] == stats["accepted"] + stats["rejected"]
    assert stats["rejected"] >= rows // 1000 - 1
    grown = stats["peak_rss_bytes"] - stats["baseline_rss_bytes"]
    assert grown < MAX_RSS_FRACTION * size, (
        f"the load grew the process by {grown:,} bytes: not well below the file size {size:,}"
    )
