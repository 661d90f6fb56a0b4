"""Write the LA-scale synthetic registers of the benchmarks once, to Parquet and CSV.

Each size is a synthetic local authority made of :func:`attendance_core.demo.school` schools of
800 pupils (the last school takes the remainder), one academic year (about 380 sessions a
pupil). The full size is 200,000 pupils in 250 schools, about 76 million marks. For every size
the generator writes, under ``benchmarks/data/<size>/`` (git-ignored):

``schools/S0001.parquet`` …
    one Parquet file per school: the layout a Dask cluster reads, one partition per school;
``marks.parquet``
    the same marks in one file, one row group per school (read by the in-process runs);
``marks.csv``
    the same marks as a generic long CSV (``school_id,pupil_id,date,session,code``);
``pupils.parquet``
    the pupils table (no names), for ``recommend``.

Schools are generated and written one at a time, so memory stays at one school's frame.
Run ``python benchmarks/generate.py 1k 10k 100k 200k``; sizes already on disk are skipped.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from attendance_core import demo

DATA = Path(__file__).resolve().parent / "data"
PUPILS_PER_SCHOOL = 800
SIZES = {"1k": 1_000, "10k": 10_000, "100k": 100_000, "200k": 200_000}
SCHEMA = pa.schema(
    [
        ("school_id", pa.string()),
        ("pupil_id", pa.string()),
        ("date", pa.date32()),
        ("session", pa.string()),
        ("code", pa.string()),
    ]
)


def school_sizes(n_pupils: int) -> list[int]:
    """Pupils of each school: schools of 800, the last one taking the remainder."""
    full, rest = divmod(n_pupils, PUPILS_PER_SCHOOL)
    sizes = [PUPILS_PER_SCHOOL] * full
    if rest:
        sizes.append(rest)
    return sizes


def size_dir(size: str) -> Path:
    """The data folder of one size."""
    return DATA / size


def generate(size: str, *, force: bool = False) -> dict[str, int]:
    """Write one size to disk (skipped when its manifest exists) and return its manifest."""
    out = size_dir(size)
    manifest = out / "manifest.json"
    if manifest.exists() and not force:
        return dict(json.loads(manifest.read_text()))
    (out / "schools").mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    marks = 0
    pupils_frames = []
    with (
        pq.ParquetWriter(out / "marks.parquet.tmp", SCHEMA, compression="zstd") as pw,
        pacsv.CSVWriter(
            out / "marks.csv.tmp", SCHEMA, write_options=pacsv.WriteOptions(quoting_style="needed")
        ) as cw,
    ):
        for s, n in enumerate(school_sizes(SIZES[size])):
            school_id = f"S{s + 1:04d}"
            long, pupils = demo.school(seed=s, n_pupils=n, school_id=school_id, names=False)
            long["date"] = long["date"].dt.date
            table = pa.Table.from_pandas(long, schema=SCHEMA, preserve_index=False)
            pq.write_table(table, out / "schools" / f"{school_id}.parquet", compression="zstd")
            pw.write_table(table)
            cw.write_table(table)
            pupils_frames.append(pupils)
            marks += len(long)
    (out / "marks.parquet.tmp").replace(out / "marks.parquet")
    (out / "marks.csv.tmp").replace(out / "marks.csv")
    import pandas as pd

    all_pupils = pd.concat(pupils_frames)
    all_pupils.to_parquet(out / "pupils.parquet")
    info = {
        "pupils": SIZES[size],
        "schools": len(school_sizes(SIZES[size])),
        "marks": marks,
        "seconds": round(time.perf_counter() - t0, 1),
    }
    manifest.write_text(json.dumps(info, indent=2))
    return info


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sizes", nargs="*", default=["1k", "10k"], choices=sorted(SIZES))
    parser.add_argument("--force", action="store_true", help="rewrite sizes already on disk")
    args = parser.parse_args(argv)
    for size in args.sizes:
        info = generate(size, force=args.force)
        print(f"{size}: {info}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
