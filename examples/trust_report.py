"""A multi-academy trust's termly run: one register for several schools, every report.

Usage::

    python examples/trust_report.py                      # 4 synthetic schools into a temp folder
    python examples/trust_report.py --schools 8 --as-of 2025-03-14 --folder out/

What it writes (each school on its own calendar, figures academic year to ``--as-of``):

* ``trust.html``: the self-contained HTML report of the whole trust (bands, weekly trend,
  weekday heat map, cohorts, a table per school, the pupils most in need with next steps);
* ``tsm/``: the Targeting Support Meeting pack, one folder per school (HTML, CSV, Excel) and
  the all-schools tables the LA aggregates;
* ``trust.xlsx``: cohorts by school, the weekday × session profile by school and the pupils
  whose Monday or Friday absence is well above their other days;
* ``letters.csv``: the figures for each parent's letter (days missed, attendance rate, change
  over the last four school weeks, the year group's rate). No sending.

The schools come from :func:`attendance_core.demo.local_authority`; a trust would read its MIS
exports with ``ac.load(path)`` instead and concatenate the long frames and pupils tables.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

import attendance_core as ac
from attendance_core import patterns, reports


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--schools", type=int, default=4, help="number of schools (default 4)")
    parser.add_argument("--pupils", type=int, default=400, help="pupils per school")
    parser.add_argument(
        "--as-of",
        type=dt.date.fromisoformat,
        default=dt.date(2025, 3, 14),
        help="figures to this day (YYYY-MM-DD)",
    )
    parser.add_argument(
        "--folder",
        type=Path,
        default=None,
        help="where to write (default: a new temporary folder, named in the output)",
    )
    args = parser.parse_args(argv)

    started = time.perf_counter()
    longs, tables = [], []
    for long, pupils in ac.demo.local_authority(
        n_schools=args.schools, pupils_per_school=args.pupils
    ):
        longs.append(long)
        tables.append(pupils)
    pupils = pd.concat(tables)
    # chunks go straight into the register: no one big long frame is needed
    reg = ac.Register.from_long(iter(longs), pupils=pupils)
    print(f"{reg!r} built in {time.perf_counter() - started:.1f}s")

    # never the working directory by default: run from a checkout, the reports would land in
    # the source tree as untracked files
    folder = args.folder or Path(tempfile.mkdtemp(prefix="trust-report-"))
    folder.mkdir(parents=True, exist_ok=True)
    html = ac.html_report(
        reg, folder / "trust.html", pupils=pupils, as_of=args.as_of, title="Trust attendance report"
    )
    pack = reports.tsm_pack(reg, pupils, args.as_of)
    written = reports.write_tsm_pack(pack, folder / "tsm")

    figures = patterns.pupil_patterns(reg, args.as_of)
    cohorts = patterns.cohort_summary(figures, pupils)
    profile = patterns.group_weekday_profile(reg, dt.date(2024, 8, 1), args.as_of, by="school_id")
    flagged = figures[figures["monday_flag"] | figures["friday_flag"]][
        [
            "attendance_rate",
            "absent",
            "absent_monday",
            "absent_friday",
            "monday_share",
            "friday_share",
            "monday_flag",
            "friday_flag",
        ]
    ]
    ac.to_excel(
        {"cohorts": cohorts, "weekday profile": profile, "monday or friday": flagged},
        folder / "trust.xlsx",
    )
    letters = ac.letter_data(reg, args.as_of, pupils=pupils)
    ac.to_csv(letters, folder / "letters.csv")

    summary = pack.bands.pivot_table(
        index="school_id", columns="band", values="percent_year", observed=True
    )[list(ac.band_scheme("five-band").band_ids)]
    print(f"\nFive bands, % of pupils, academic year to {args.as_of}:")
    # percent_year is a fraction (0.573): shown here as a percentage (57.3)
    print((100 * summary).round(1).to_string())
    print(
        f"\nReport: {html}\nTSM pack: {len(written)} files in {folder / 'tsm'}"
        f"\nCohorts and weekday patterns: {folder / 'trust.xlsx'}"
        f"\nLetters: {len(letters)} pupils in {folder / 'letters.csv'}"
        f"\nDone in {time.perf_counter() - started:.1f}s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
