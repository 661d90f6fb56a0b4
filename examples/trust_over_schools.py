"""A multi-academy trust's script: every school's export in one folder, one table for the trust.

Usage::

    python examples/trust_over_schools.py                     # 3 demo schools in a temp folder
    python examples/trust_over_schools.py exports/ --output trust-bands.csv
    python examples/trust_over_schools.py exports/ --scheme five-band --from 2024-09-01

A trust's data manager receives one export per school — here named ``<school id>.csv`` (or
``.xml``, ``.json``: any installed format is detected). The script

1. loads the folder with :func:`attendance_core.load`, which reads every export in it (formats
   detected, each school taken from the file's content or else its file name) into one
   register, in which each school keeps its own calendar and each (school, pupil) enrolment is
   counted separately, as in DfE statistics;
2. reports rejected rows by file and reason, so one damaged export never silently skews the
   trust's figures;
3. classifies every enrolment over the period and prints the band table per school and for the
   whole trust, writing it to a CSV that is safe to open in Excel.

Without a folder it writes three demo schools as generic CSV exports into a temporary folder
first, so it runs anywhere.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
from pathlib import Path

import pandas as pd

import attendance_core as ac


def write_demo_exports(folder: Path, n_schools: int = 3, pupils: int = 150) -> None:
    """One long CSV per school, as each school's MIS would export it (no school column)."""
    schools = ac.demo.local_authority(n_schools=n_schools, pupils_per_school=pupils, seed=7)
    for marks, _pupils in schools:
        school_id = str(marks["school_id"].iloc[0])
        marks.drop(columns="school_id").to_csv(folder / f"{school_id}.csv", index=False)


def load_trust(folder: Path) -> tuple[ac.Register, pd.DataFrame]:
    """One register for every export in ``folder``, and a per-school load report."""
    # one call reads the folder: each file's format is detected from its content, a file that
    # names no school takes its file name as the school id, and errors="collect" keeps going
    # past bad rows, listing each in load.rejected with the file it came from
    load = ac.load(folder)
    # the invariant every adapter keeps: nothing is dropped silently
    assert load.rows_read == len(load.register.to_long()) + load.rejected_count
    kept = load.register.to_long().groupby("school_id").size().rename("rows_kept")
    report = kept.to_frame()
    if load.rejected_count:
        # every rejected row is counted by reason, even past the listed cap
        print("Rejected rows, by reason:", dict(load.error_counts))
        reasons = load.rejected.groupby("file")["reason"].value_counts()
        print("Listed rejected rows, by file and reason\n")
        print(reasons.to_string(), "\n")
    return load.register, report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?", type=Path, help="one export per school")
    parser.add_argument("--scheme", default="dfe", help="band scheme id or TOML path")
    parser.add_argument("--from", dest="start", type=dt.date.fromisoformat, help="first date")
    parser.add_argument("--until", dest="end", type=dt.date.fromisoformat, help="last date")
    parser.add_argument("--output", type=Path, help="write the per-school band table (CSV)")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        folder = args.folder
        if folder is None:
            folder = Path(tmp) / "exports"
            folder.mkdir()
            write_demo_exports(folder)
        try:
            register, report = load_trust(folder)
            table = ac.classify(register, scheme=args.scheme, start=args.start, end=args.end)
        except ac.AttendanceError as exc:  # a damaged or unknown file, named in the message
            print(f"error: {exc}", file=sys.stderr)
            return 2

        pd.set_option("display.width", 120)
        print("Exports read\n")
        print(report.to_string())

        # two or more schools: the table is indexed by (school_id, pupil_id)
        by_school = ac.band_summary(table, by="school_id")
        trust = ac.band_summary(table)
        print("\nPupils in each band, by school\n")
        print(by_school["pupils"].unstack("band")[list(trust.index)].to_string())
        print("\nWhole trust (each school's enrolments counted separately)\n")
        # percent is a fraction (0.573): shown here as a percentage (57.3%)
        print(trust.assign(percent=trust["percent"].map("{:.1%}".format)).to_string())

        totals = table[["possible", "attended"]].sum()
        rate = int(totals["attended"]) / int(totals["possible"])
        possible = int(totals["possible"])
        print(f"\nTrust attendance rate: {rate:.1%} of {possible:,} possible sessions")

        if args.output is not None:
            ac.to_csv(by_school, args.output)
            print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
