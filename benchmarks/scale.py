"""What one machine reaches: streamed in-process builds, and the same work on a Dask cluster.

``python benchmarks/scale.py stream 200k``
    builds the register from the per-school Parquet files as an iterable of chunks (the long
    frame never exists whole), classifies, and prints time and peak resident memory;
``python benchmarks/scale.py dask 200k [--workers 2]``
    runs ``attendance_core.dask.classify`` over the same files on a local cluster of worker
    processes and checks the result equals the streamed in-process one.

Results are appended to ``benchmarks/results/scale.json``.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

import attendance_core as ac

sys.path.insert(0, str(Path(__file__).resolve().parent))
import generate
from run import PeakSampler, rss

RESULTS = Path(__file__).resolve().parent / "results" / "scale.json"


def school_files(size: str) -> list[Path]:
    generate.generate(size)
    return sorted((generate.size_dir(size) / "schools").glob("*.parquet"))


def stream(size: str) -> dict[str, object]:
    """Register.from_long over one chunk a school, then classify."""
    files = school_files(size)
    start = rss()
    with PeakSampler() as sampler:
        t0 = time.perf_counter()
        chunks = (pq.read_table(f).to_pandas(date_as_object=False) for f in files)
        reg = ac.Register.from_long(chunks)
        t1 = time.perf_counter()
        table = ac.classify(reg)
        t2 = time.perf_counter()
    marks = int((reg.marks != 0).sum())
    out = {
        "mode": "stream",
        "size": size,
        "schools": len(files),
        "marks": marks,
        "read+from_long_s": round(t1 - t0, 2),
        "classify_s": round(t2 - t1, 2),
        "peak_extra_bytes": sampler.peak - start,
        "peak_extra_bytes_per_mark": round((sampler.peak - start) / marks, 2),
        "register_bytes": reg.nbytes,
        "pupils": len(table),
    }
    table.to_pickle(generate.size_dir(size) / "classify-stream.pkl")
    return out


def on_dask(size: str, workers: int) -> dict[str, object]:
    """attendance_core.dask.classify over one partition a school on a local cluster."""
    import dask.dataframe as dd
    from distributed import Client, LocalCluster

    import attendance_core.dask as acd

    files = school_files(size)
    with (
        LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            memory_limit="6GiB",
        ) as cluster,
        Client(cluster),
    ):
        ddf = dd.read_parquet([str(f) for f in files])
        t0 = time.perf_counter()
        table = acd.classify(ddf)
        wall = time.perf_counter() - t0
    reference = generate.size_dir(size) / "classify-stream.pkl"
    same = None
    if reference.exists():
        want = pd.read_pickle(reference)
        pd.testing.assert_frame_equal(table, want, check_exact=True)
        same = True
    return {
        "mode": "dask",
        "size": size,
        "workers": workers,
        "partitions": ddf.npartitions,
        "classify_s": round(wall, 2),
        "pupils": len(table),
        "equals_in_process": same,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=["stream", "dask"])
    parser.add_argument("size", choices=list(generate.SIZES))
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    result = stream(args.size) if args.mode == "stream" else on_dask(args.size, args.workers)
    result["peak_rss_bytes"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    result["when"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    print(json.dumps(result, indent=2))
    runs = json.loads(RESULTS.read_text()) if RESULTS.exists() else []
    runs.append(result)
    RESULTS.write_text(json.dumps(runs, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
