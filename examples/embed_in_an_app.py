"""Embed attendance-core in another tool: one function from an export file to plain JSON.

Usage::

    python examples/embed_in_an_app.py                 # a demo export written to a temp folder
    python examples/embed_in_an_app.py marks.csv       # your own export (any installed format)
    python examples/embed_in_an_app.py export.xml --format sims-xml --scheme five-band

A developer adding attendance to a school dashboard, a parent app or a data pipeline needs a
small, predictable surface: give it a file, get back numbers and ids that serialise, and never
an exception it did not expect. ``summarise`` below is that surface. It

* reads the export with :func:`attendance_core.load` in ``errors="collect"`` mode, so a bad row
  is reported (row, column, value, reason) rather than aborting the whole file;
* turns every :class:`attendance_core.AttendanceError` (unreadable file, unknown format, bad
  scheme) into an error message that names the file, row and column and never personal data;
* returns only JSON types: band counts, integer session totals, the pupils needing action, and
  the rejected rows grouped by reason id (branch on the id, not on message text).

Nothing here is specific to the demo: point it at a real export and it does the same job.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attendance_core as ac


def summarise(
    path: str | Path,
    *,
    format: str | None = None,
    scheme: str = "dfe",
    as_of: str | None = None,
) -> dict[str, Any]:
    """Bands, totals, next steps and rejected rows of one export, as JSON-ready data."""
    try:
        load = ac.load(path, format=format)
        table = ac.classify(load.register, scheme=scheme)
        steps = ac.recommend(load.register, pupils=load.pupils, as_of=as_of)
    except ac.AttendanceError as exc:
        # The message names the file, row, column and value, never a pupil's name or birth date.
        return {"ok": False, "error": str(exc), "error_type": type(exc).__name__}

    summary = ac.band_summary(table)
    bands = {
        # "percent" is a fraction in [0, 1] (0.573), as every rate of the library: the app
        # formats it as 57.3% when it shows it
        str(band): {"pupils": int(row["pupils"]), "percent": round(float(row["percent"]), 4)}
        for band, row in summary.iterrows()
    }
    worst = scheme_bands(scheme)[-1]
    needing_action = sorted(str(p) for p in table.index[table["band"] == worst])
    rejected: Mapping[str, int] = load.error_counts  # every rejected row, counted by reason
    return {
        "ok": True,
        "format": load.format,
        "rows_read": int(load.rows_read),
        "rows_rejected": load.rejected_count,
        "rejected_by_reason": {str(k): int(v) for k, v in sorted(rejected.items())},
        "warnings": list(load.warnings),
        "pupils": len(table),
        "sessions": {
            column: int(table[column].sum())
            for column in ("possible", "attended", "authorised", "unauthorised", "unmarked")
        },
        "bands": bands,
        f"pupils_in_{worst}": needing_action,
        "next_steps": len(steps),
        "next_steps_by_stage": {
            str(stage): int(n) for stage, n in ac.steps_frame(steps)["stage"].value_counts().items()
        },
    }


def scheme_bands(scheme: str) -> tuple[str, ...]:
    """Band ids of a scheme, best first."""
    return tuple(band.id for band in ac.band_scheme(scheme).bands)


def demo_export(folder: Path) -> Path:
    """Write the demo school as the long CSV most MIS reports can produce."""
    marks, _pupils = ac.demo.school(n_pupils=120)
    path = folder / "marks.csv"
    marks.drop(columns="school_id").to_csv(path, index=False)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("export", nargs="?", type=Path, help="an MIS export (default: demo)")
    parser.add_argument("--format", help="adapter name, e.g. sims-xml (default: detect)")
    parser.add_argument("--scheme", default="dfe", help="band scheme id or TOML path")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        path = args.export or demo_export(Path(tmp))
        result = summarise(path, format=args.format, scheme=args.scheme)
        print(json.dumps(result, indent=2, ensure_ascii=False))
        if not result["ok"]:
            return 1

        # The same function on a damaged file: an answer, not a traceback.
        if args.export is None:
            broken = Path(tmp) / "broken.csv"
            broken.write_text(
                "pupil_id,date,session,code\nP1,2024-09-02,AM,/\nP1,2024-09-02,XX,/\n"
            )
            damaged = summarise(broken)
            print(json.dumps({"damaged_file": damaged["rejected_by_reason"]}))
            assert damaged["rejected_by_reason"] == {"bad_session": 1}
    return 0


if __name__ == "__main__":
    sys.exit(main())
