"""Benchmark runner: the library against a straightforward pandas baseline, side by side.

Runs, for each size, with medians of repeated runs (wall clock and CPU time):

(a) ``pandas``: the baseline in :mod:`peers` (map codes to categories, group by pupil, count,
    band); every ratio is against it;
(b) ``from_long+classify``: ``Register.from_long`` then ``classify``;
(c) ``classify``: ``classify`` on a built register (its school calendar derived afresh);
(d) ``recommend``: ``recommend`` for every pupil, with the pupils table;
(e) ``load csv`` / ``load parquet``: ``ac.load`` of the generic long CSV and of Parquet (when
    the generic adapters are installed; by default only at small sizes, see ``--load-max``);
and, when installed, Polars and DuckDB doing the baseline's aggregation (single-threaded, like
numpy and pandas, so that every row of the table is one core's work).

Every peer's counts and bands are checked pupil for pupil against ``classify``. The results
table (Markdown and JSON) and the scaling plot go to ``benchmarks/results/``. Usage::

    python benchmarks/run.py                 # 1k and 10k pupils, quick
    python benchmarks/run.py --full          # 1k, 10k, 100k, 200k pupils (BENCH_FULL=1 too)
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("POLARS_MAX_THREADS", "1")

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

import attendance_core as ac

sys.path.insert(0, str(Path(__file__).resolve().parent))
import generate
import peers

RESULTS = Path(__file__).resolve().parent / "results"
SMALL = ["1k", "10k"]
FULL = ["1k", "10k", "100k", "200k"]
GOALS = {  # step: (minimum speed-up against the baseline, wording)
    "classify": (30.0, "classify on a built register ≥ 30× faster"),
    "from_long+classify": (2.0, "from_long + classify ≥ 2× faster"),
    "recommend": (1.0, "recommend for all pupils no slower"),
}
MAX_BYTES_PER_MARK = 1.25


def rss() -> int:
    """Resident memory of this process now, in bytes."""
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class PeakSampler:
    """Samples resident memory every few milliseconds while a step runs."""

    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss())
            time.sleep(0.005)

    def __enter__(self) -> PeakSampler:
        self.peak = rss()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss())


def timed(fn: Callable[[], Any]) -> tuple[float, float, int, Any]:
    """One run: wall seconds, CPU seconds, peak memory above the start, result."""
    gc.collect()
    start = rss()
    with PeakSampler() as sampler:
        w0, c0 = time.perf_counter(), time.process_time()
        result = fn()
        wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    return wall, cpu, sampler.peak - start, result


def measure_round_robin(
    steps: dict[str, Callable[[], Any]], repeats: int
) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    """Run every step once per round, ``repeats`` rounds, so that a burst of load from other
    work on the machine falls on all steps alike; medians of wall and CPU time."""
    walls: dict[str, list[float]] = {k: [] for k in steps}
    cpus: dict[str, list[float]] = {k: [] for k in steps}
    peaks: dict[str, int] = dict.fromkeys(steps, 0)
    results: dict[str, Any] = {}
    for _ in range(repeats):
        for name, fn in steps.items():
            results.pop(name, None)
            wall, cpu, peak, results[name] = timed(fn)
            walls[name].append(wall)
            cpus[name].append(cpu)
            peaks[name] = max(peaks[name], peak)
    stats = {
        name: {
            "wall": statistics.median(walls[name]),
            "cpu": statistics.median(cpus[name]),
            "walls": walls[name],
            "peak_extra_bytes": peaks[name],
        }
        for name in steps
    }
    return stats, results


def cold_classify(reg: ac.Register) -> pd.DataFrame:
    """classify with the register's school calendar derived afresh (as on a new register)."""
    # the cache classify fills on first use (the register is frozen: its dict holds the cache)
    reg.__dict__["_school_sessions"] = None
    return ac.classify(reg)


def run_size(size: str, repeats: int, load_max: int, out: dict[str, Any]) -> None:
    info = generate.generate(size)
    folder = generate.size_dir(size)
    table = pq.read_table(folder / "marks.parquet")
    long = table.to_pandas(date_as_object=False)
    pupils = pd.read_parquet(folder / "pupils.parquet")
    marks = len(long)
    rows: dict[str, dict[str, Any]] = {}
    print(
        f"\n== {size}: {info['pupils']:,} pupils, {info['schools']} schools, {marks:,} marks",
        flush=True,
    )

    def show(name: str) -> None:
        m = rows[name]
        print(
            f"  {name:22s} {m['wall']:9.3f} s wall {m['cpu']:9.3f} s cpu   "
            f"peak +{m['peak_extra_bytes'] / 2**20:8.0f} MiB",
            flush=True,
        )

    def record(name: str, fn: Callable[[], Any], reps: int = repeats) -> Any:
        stats, results = measure_round_robin({name: fn}, reps)
        rows.update(stats)
        show(name)
        return results[name]

    reg = ac.Register.from_long(long)
    steps: dict[str, Callable[[], Any]] = {
        "pandas": lambda: peers.pandas_classify(long),
        "from_long+classify": lambda: ac.classify(ac.Register.from_long(long)),
        "from_long": lambda: ac.Register.from_long(long),
        "classify": lambda: cold_classify(reg),
        "recommend": lambda: ac.recommend(reg, pupils=pupils),
    }
    try:
        ac.recommend(reg.select(pupils=list(reg.pupil_ids[:5])), pupils=pupils)
    except Exception as exc:  # the engine may be missing or failing: say so, do not hide it
        print(f"  recommend: not measured ({type(exc).__name__}: {exc})")
        del steps["recommend"]
    stats, results = measure_round_robin(steps, repeats)
    rows.update(stats)
    for name in steps:
        show(name)
    table_ac = results["classify"]
    rows["pandas"]["agrees"] = peers.agree(table_ac, results["pandas"])
    del results
    nbytes = reg.nbytes
    steps.clear()  # the closures hold the register and the long frame
    reg = None
    gc.collect()
    try:
        import polars as pl

        frame = pl.from_arrow(table)
        result = record("polars", lambda: peers.polars_classify(frame))
        rows["polars"]["agrees"] = peers.agree(table_ac, result.to_pandas())
        frame = result = None
    except ImportError:
        print("  polars: not installed")
    try:
        con = peers.duckdb_connect(table)
        result = record("duckdb", lambda: peers.duckdb_classify(con))
        rows["duckdb"]["agrees"] = peers.agree(table_ac, result.to_pandas())
        con.close()
        del result
    except ImportError:
        print("  duckdb: not installed")
    # last, so that no other step is timed after it in this interpreter
    formats = set(ac.formats()) if hasattr(ac, "formats") else set()
    if info["pupils"] <= load_max:
        for fmt, name in (("generic-csv", "marks.csv"), ("generic-parquet", "marks.parquet")):
            if fmt in formats:
                loaded = record(
                    f"load {fmt.split('-')[1]}",
                    lambda n=name: ac.load(folder / n),
                    reps=min(repeats, 3),
                )
                if not loaded.rejected.empty or loaded.rows_read != marks:
                    print(
                        f"  WARNING {fmt}: {len(loaded.rejected)} rejected, "
                        f"{loaded.rows_read} rows read"
                    )
                del loaded
    base_wall, base_cpu = rows["pandas"]["wall"], rows["pandas"]["cpu"]
    for r in rows.values():
        r["speedup"] = base_wall / r["wall"]
        r["speedup_cpu"] = base_cpu / r["cpu"]
    out[size] = {
        **info,
        "marks": marks,
        "register_bytes": nbytes,
        "bytes_per_mark": nbytes / marks,
        "steps": rows,
    }
    print(f"  register {nbytes:,} bytes = {nbytes / marks:.3f} bytes a mark", flush=True)
    gc.collect()


def scaling_exponent(sizes: dict[str, Any], step: str) -> float | None:
    """Slope of log(CPU time) against log(marks) over the sizes above 1k (1.0 = linear).

    CPU time, not wall time: on a shared machine other work inflates wall times unevenly
    between sizes, which bends the curve without telling anything about the code."""
    pts = [
        (v["marks"], v["steps"][step]["cpu"])
        for k, v in sizes.items()
        if step in v["steps"] and k != "1k"
    ]
    if len(pts) < 2:
        return None
    x, y = np.log([p[0] for p in pts]), np.log([p[1] for p in pts])
    return float(np.polyfit(x, y, 1)[0])


def write_results(data: dict[str, Any], tag: str) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    sizes = data["sizes"]
    lines = [
        f"# Benchmark results ({tag})",
        "",
        f"Run {data['when']} on {data['machine']}; {data['repeats']} repeats, medians. "
        "Ratios are the baseline's median wall time divided by the step's (higher is faster); "
        "CPU-time ratios in brackets. Peak = resident memory above the step's start. "
        "Each size runs in a fresh interpreter.",
        "",
    ]
    for size, v in sizes.items():
        lines += [
            f"## {size}: {v['pupils']:,} pupils, {v['schools']} schools, {v['marks']:,} marks",
            "",
            "| step | wall s | CPU s | × vs (a) | peak MiB | agrees |",
            "|---|---:|---:|---:|---:|:---:|",
        ]
        for name, r in v["steps"].items():
            agrees = {True: "yes", False: "NO"}.get(r.get("agrees"), "")
            lines.append(
                f"| {name} | {r['wall']:.3f} | {r['cpu']:.3f} | "
                f"{r['speedup']:.1f} ({r['speedup_cpu']:.1f}) | "
                f"{r['peak_extra_bytes'] / 2**20:.0f} | {agrees} |"
            )
        lines += [
            "",
            f"Register: {v['register_bytes']:,} bytes, {v['bytes_per_mark']:.3f} bytes a mark.",
            "",
        ]
    largest = list(sizes)[-1]
    lines += [f"## Goals at {largest}", "", "| goal | measured | met |", "|---|---:|:---:|"]
    steps = sizes[largest]["steps"]
    for step, (target, words) in GOALS.items():
        if step in steps:
            got = steps[step]["speedup"]
            lines.append(f"| {words} | {got:.1f}× | {'yes' if got >= target else 'no'} |")
        else:
            lines.append(f"| {words} | not measured | no |")
    bpm = sizes[largest]["bytes_per_mark"]
    lines.append(
        f"| register ≤ {MAX_BYTES_PER_MARK} bytes a mark | {bpm:.3f} | "
        f"{'yes' if bpm <= MAX_BYTES_PER_MARK else 'no'} |"
    )
    lines += [
        "",
        f"Peak resident memory of the whole run (its largest process): "
        f"{data['peak_rss_bytes'] / 2**30:.2f} GiB.",
        "",
    ]
    if len(sizes) > 2:
        lines += [
            "## Scaling",
            "",
            "Slope of log(CPU time) against log(marks) from 10k pupils up (1.0 is linear):",
            "",
        ]
        for step in ("pandas", "from_long+classify", "classify", "recommend", "polars", "duckdb"):
            e = scaling_exponent(sizes, step)
            if e is not None:
                lines.append(f"- {step}: {e:.2f}")
        lines.append("")
        lines.append(f"![scaling](scaling-{tag}.png)")
    path = RESULTS / f"bench-{tag}.md"
    path.write_text("\n".join(lines) + "\n")
    clean = json.loads(json.dumps(data, default=str))
    (RESULTS / f"bench-{tag}.json").write_text(json.dumps(clean, indent=2) + "\n")
    plot(sizes, RESULTS / f"scaling-{tag}.png")
    return path


def plot(sizes: dict[str, Any], path: Path) -> None:
    """Time against marks on log-log axes, with a line of slope one for reference."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib not installed: no plot")
        return
    fig, ax = plt.subplots(figsize=(7, 4.5))
    names = ["pandas", "from_long+classify", "classify", "recommend", "polars", "duckdb"]
    for name in names:
        pts = [(v["marks"], v["steps"][name]["cpu"]) for v in sizes.values() if name in v["steps"]]
        if pts:
            ax.loglog(*zip(*pts, strict=True), marker="o", label=name)
    x = np.array([v["marks"] for v in sizes.values()], dtype=float)
    ref = sizes[list(sizes)[-1]]["steps"]["from_long+classify"]["cpu"] * x / x[-1]
    ax.loglog(x, ref, "k:", label="linear (slope 1)")
    ax.set_xlabel("marks (pupils × sessions)")
    ax.set_ylabel("seconds (median CPU time)")
    ax.set_title("attendance-core scaling, one core")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "sizes", nargs="*", metavar="SIZE", help="sizes to run (default 1k 10k; --full for all)"
    )
    parser.add_argument(
        "--full", action="store_true", default=os.environ.get("BENCH_FULL", "") not in ("", "0")
    )
    parser.add_argument(
        "--repeats", type=int, default=None, help="runs per step (default 5, 3 with --full)"
    )
    parser.add_argument(
        "--load-max",
        type=int,
        default=10_000,
        help="largest size (pupils) at which ac.load is timed (default 10000)",
    )
    parser.add_argument("--tag", default=None, help="name of the results files")
    parser.add_argument("--one", metavar="JSON", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    sizes = args.sizes or (FULL if args.full else SMALL)
    repeats = args.repeats or (3 if args.full else 5)
    tag = args.tag or sizes[-1]
    data: dict[str, Any] = {
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, numpy {np.__version__}, pandas {pd.__version__}",
        "repeats": repeats,
        "sizes": {},
    }
    if args.one:  # a child: one size, results to a JSON file
        out: dict[str, Any] = {}
        run_size(sizes[0], repeats, args.load_max, out)
        Path(args.one).write_text(json.dumps(out[sizes[0]], default=str))
        return 0
    # each size in a fresh interpreter: in one long-lived process the earlier sizes' steps
    # (frames, adapters, peers) slowed the pandas baseline up to 3x in our runs
    for size in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            target = Path(tmp) / "size.json"
            cmd = [
                sys.executable,
                __file__,
                size,
                "--repeats",
                str(repeats),
                "--load-max",
                str(args.load_max),
                "--one",
                str(target),
            ]
            subprocess.run(cmd, check=True)
            data["sizes"][size] = json.loads(target.read_text())
    data["peak_rss_bytes"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    path = write_results(data, tag)
    print(f"\npeak resident memory of the run: {data['peak_rss_bytes'] / 2**30:.2f} GiB")
    print(f"results: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
