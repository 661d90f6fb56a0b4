"""From the file to the answer: whole processes, the library against DuckDB and Polars.

Every contender is one fresh process that reads the same file (the generic long CSV or the
Parquet file of a size written by ``generate.py``), computes every pupil's counts and band, and
writes them to a CSV file. Rounds are interleaved (every contender once a round), medians of
wall and CPU time are reported with each process's peak resident memory (from GNU ``time``,
which starts it: a child forked from this process would inherit its size), and every output
is compared pupil for pupil with the library's ``classify``. DuckDB and Polars run with their
defaults (all cores).
Usage::

    python benchmarks/e2e.py 10k --rounds 5
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
import generate
import peers

RESULTS = Path(__file__).resolve().parent / "results"
HERE = Path(__file__).resolve().parent

_LOAD = (
    "import sys, attendance_core as ac; "
    "ac.classify(ac.load(sys.argv[1], max_file_size=int(sys.argv[3])).register)"
    ".to_csv(sys.argv[2])"
)
_DUCK = (
    "import sys, duckdb, peers; con = duckdb.connect(); "
    "src = sys.argv[1]; rd = 'read_parquet' if src.endswith('.parquet') else 'read_csv'; "
    "con.execute(f\"CREATE VIEW marks AS SELECT * FROM {rd}('{src}')\"); "
    "c = peers.code_categories(); "
    "con.execute('CREATE TABLE codes (code VARCHAR, category VARCHAR)'); "
    "con.executemany('INSERT INTO codes VALUES (?, ?)', list(c.items())); "
    "import pyarrow.csv as pc; pc.write_csv(peers.duckdb_classify(con), sys.argv[2])"
)
_PANDAS = (
    "import sys, pandas as pd, peers; src = sys.argv[1]; "
    "f = pd.read_parquet(src) if src.endswith('.parquet') else "
    "pd.read_csv(src, dtype={'school_id': str, 'pupil_id': str}, engine='pyarrow'); "
    "peers.pandas_classify(f).to_csv(sys.argv[2])"
)
_POLARS = (
    "import sys, polars as pl, peers; src = sys.argv[1]; "
    "f = pl.read_parquet(src) if src.endswith('.parquet') else "
    "pl.read_csv(src, schema_overrides={'date': pl.String}); "
    "peers.polars_classify(f).write_csv(sys.argv[2])"
)

#: The floors: what a contender cannot go below. Starting Python and importing what each side
#: imports (the DuckDB, Polars and pandas contenders import ``peers``, hence pandas and the
#: library, for the code list); and the library's imports plus Arrow parsing the file with
#: every text column dictionary-encoded (as the library's readers parse it) and nothing else.
_START_OURS = "import attendance_core, attendance_core_generic"
_START_DUCK = "import duckdb, peers"
_ARROW_PARSE = (
    "import sys, attendance_core, pyarrow as pa, pyarrow.csv as pc, pyarrow.parquet as pq; "
    "src = sys.argv[1]; text = ['school_id', 'pupil_id', 'session', 'code']; "
    "pq.read_table(src, read_dictionary=text) if src.endswith('.parquet') else "
    "pc.read_csv(src, convert_options=pc.ConvertOptions(column_types={c: "
    "pa.dictionary(pa.int32(), pa.string()) for c in [*text, 'date']}))"
)
FLOOR = "floor: "


#: The school whose first pupils the Excel workbook holds (openpyxl reads and writes some
#: ten thousand cells a second: a whole authority would take hours); rates are compared per
#: mark.
EXCEL_SCHOOL = "S0001"
EXCEL_PUPILS = 100


def wide_files(folder: Path) -> dict[str, int]:
    """Write the SIMS-style wide layout of a size once (one row a pupil, one column a
    session, a blank cell where the pupil has no row): ``marks-wide.csv`` with every school and
    ``marks-wide-S0001.xlsx`` with the first pupils of one; the marks each holds."""
    counts_file = folder / "wide.json"
    if counts_file.exists():
        return dict(json.loads(counts_file.read_text()))
    long = pd.read_parquet(folder / "marks.parquet")
    long["column"] = pd.to_datetime(long["date"]).dt.strftime("%Y-%m-%d") + " " + long["session"]
    wide = long.pivot(index=["school_id", "pupil_id"], columns="column", values="code")
    wide = wide[sorted(wide.columns)].fillna("").reset_index()
    wide.to_csv(folder / "marks-wide.csv.tmp", index=False)
    (folder / "marks-wide.csv.tmp").replace(folder / "marks-wide.csv")
    one = wide[wide["school_id"] == EXCEL_SCHOOL].head(EXCEL_PUPILS)
    import openpyxl

    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet("Attendance")
    sheet.append(list(one.columns))
    for row in one.itertuples(index=False):
        sheet.append([v if v != "" else None for v in row])
    book.save(folder / "marks-wide.xlsx.tmp")
    (folder / "marks-wide.xlsx.tmp").replace(folder / f"marks-wide-{EXCEL_SCHOOL}.xlsx")
    in_book = long["school_id"].eq(EXCEL_SCHOOL) & long["pupil_id"].isin(one["pupil_id"])
    counts = {"wide_csv": len(long), "wide_xlsx": int(in_book.sum())}
    counts_file.write_text(json.dumps(counts))
    return counts


def contenders(folder: Path) -> dict[str, tuple[list[str], str]]:
    """Name → (command with ``{out}`` for the output file, the file it reads)."""
    py = sys.executable
    cli = [str(Path(py).with_name("attendance-core"))]
    csv_, parquet = str(folder / "marks.csv"), str(folder / "marks.parquet")
    wide_csv = str(folder / "marks-wide.csv")
    wide_xlsx = str(folder / f"marks-wide-{EXCEL_SCHOOL}.xlsx")
    quiet = ["--to", "csv", "--output", "{out}", "--quiet"]
    # the readers refuse a file over 2 GiB unless told otherwise (the 200k CSV is 3.2 GB)
    largest = max(Path(f).stat().st_size for f in (csv_, parquet) if Path(f).exists())
    limit = str(max(largest, 1 << 31))
    quiet += ["--option", f"max_file_size={limit}"]
    return {
        "cli classify (csv)": ([*cli, "classify", csv_, *quiet], csv_),
        "cli classify --format generic-csv": (
            [*cli, "classify", "--format", "generic-csv", csv_, *quiet],
            csv_,
        ),
        "cli report --table pupils (csv)": (
            [
                *cli,
                "report",
                csv_,
                "--table",
                "pupils",
                "--to",
                "csv",
                "--output",
                "{out}",
                *quiet[-2:],
            ],
            csv_,
        ),
        "ac.load+classify (csv)": ([py, "-c", _LOAD, csv_, "{out}", limit], csv_),
        "duckdb (csv)": ([py, "-c", _DUCK, csv_, "{out}"], csv_),
        "polars (csv)": ([py, "-c", _POLARS, csv_, "{out}"], csv_),
        "pandas (csv)": ([py, "-c", _PANDAS, csv_, "{out}"], csv_),
        "ac.load+classify (wide csv)": ([py, "-c", _LOAD, wide_csv, "{out}", limit], wide_csv),
        f"ac.load+classify (wide xlsx, {EXCEL_PUPILS} pupils)": (
            [py, "-c", _LOAD, wide_xlsx, "{out}", limit],
            wide_xlsx,
        ),
        "cli classify (parquet)": (
            [*cli, "classify", "--format", "generic-parquet", parquet, *quiet],
            parquet,
        ),
        "ac.load+classify (parquet)": ([py, "-c", _LOAD, parquet, "{out}", limit], parquet),
        "duckdb (parquet)": ([py, "-c", _DUCK, parquet, "{out}"], parquet),
        "polars (parquet)": ([py, "-c", _POLARS, parquet, "{out}"], parquet),
        "pandas (parquet)": ([py, "-c", _PANDAS, parquet, "{out}"], parquet),
        f"{FLOOR}start-up, ours": ([py, "-c", _START_OURS], csv_),
        f"{FLOOR}start-up, DuckDB's": ([py, "-c", _START_DUCK], csv_),
        f"{FLOOR}ours + Arrow parse (csv)": ([py, "-c", _ARROW_PARSE, csv_], csv_),
        f"{FLOOR}ours + Arrow parse (parquet)": ([py, "-c", _ARROW_PARSE, parquet], parquet),
    }


#: GNU time, which reports the peak of the process it starts. A child forked from this (big)
#: process inherits its resident size as the start of its own ``ru_maxrss`` on Linux, so the
#: contender is started by ``time`` (a small process) and its peak read from ``time``'s report.
GNU_TIME = "/usr/bin/time"


def run_once(cmd: list[str], out: Path) -> dict[str, float]:
    """One whole process: wall, user + system CPU seconds, peak resident bytes."""
    args = [a.replace("{out}", str(out)) for a in cmd]
    # the benchmarks folder first (for ``peers``), then the caller's path: a checkout run with
    # PYTHONPATH=src measures that checkout, not whatever is installed
    path = [str(HERE), *filter(None, [os.environ.get("PYTHONPATH")])]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(path)}
    report = out.with_name("peak.txt")
    wrapped = os.path.exists(GNU_TIME)
    launch = [GNU_TIME, "-f", "%M", "-o", str(report), *args] if wrapped else args
    t0 = time.perf_counter()
    proc = subprocess.Popen(launch, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"{shlex.join(args)} failed ({proc.returncode}): {err[-2000:]}")
    peak = usage.ru_maxrss * 1024
    if wrapped:
        peak = int(report.read_text().split()[-1]) * 1024
    return {"wall": wall, "cpu": usage.ru_utime + usage.ru_stime, "peak": peak}


def agrees(reference: pd.DataFrame, path: Path, name: str = "") -> bool:
    """Whether the counts and bands written to ``path`` equal ``reference``'s, pupil for pupil
    (the Excel contender's against its one school's)."""
    other = pd.read_csv(path, dtype={"school_id": str, "pupil_id": str}, encoding="utf-8-sig")
    if "possible" not in other.columns:  # the report's pupils table names its columns itself
        return False
    if "xlsx" in name:
        reference = reference.xs(EXCEL_SCHOOL, level="school_id").iloc[:EXCEL_PUPILS]
    return peers.agree(reference, other)


def limits(folder: Path, register: Any) -> dict[str, float]:
    """The physical limits beside the figures: bytes a second one core reads each file from the
    page cache in 8 MB blocks (nothing parsed), and the seconds of one pass over the built
    register's marks (a count of the cells holding a mark). Best of three."""
    import numpy as np

    out: dict[str, float] = {}
    for name in ("marks.csv", "marks.parquet", "marks-wide.csv"):
        if not (folder / name).exists():
            continue
        best = float("inf")
        for _ in range(3):
            t0 = time.perf_counter()
            with open(folder / name, "rb", buffering=0) as fh:
                while fh.read(1 << 23):
                    pass
            best = min(best, time.perf_counter() - t0)
        out[f"read {name} bytes/s"] = (folder / name).stat().st_size / best
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        int(np.count_nonzero(register.marks))
        best = min(best, time.perf_counter() - t0)
    out["register pass s"] = best
    out["register bytes"] = float(register.marks.nbytes)
    return out


def compiled() -> None:
    """Byte-compile the library as an installed copy is (pip compiles at install time): with
    ``PYTHONDONTWRITEBYTECODE`` set, as on the shared machine, each contender's process would
    otherwise compile the library's modules afresh (about a quarter of a second)."""
    import compileall

    import attendance_core_generic

    import attendance_core

    for package in (attendance_core, attendance_core_generic):
        compileall.compile_dir(Path(package.__file__).parent, quiet=1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("size", nargs="?", default="10k")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--only", nargs="*", help="contenders to run (default all)")
    args = parser.parse_args(argv)
    info = generate.generate(args.size)
    folder = generate.size_dir(args.size)
    every = contenders(folder)
    chosen = {k: v for k, v in every.items() if not args.only or k in args.only}
    import attendance_core as ac

    compiled()
    wide_marks = (
        wide_files(folder) if any("wide" in k for k in chosen) else {"wide_xlsx": 0, "wide_csv": 0}
    )
    data_marks = len(pd.read_parquet(folder / "marks.parquet", columns=["code"]))
    loaded = ac.load(folder / "marks.parquet").register
    reference = ac.classify(loaded)
    physical = limits(folder, loaded)
    del loaded
    runs: dict[str, list[dict[str, float]]] = {k: [] for k in chosen}
    agree: dict[str, bool | None] = {}
    load = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        for k, (cmd, _) in chosen.items():  # a warm-up each (page cache, imports), and checks
            out = Path(tmp) / "out.csv"
            run_once(cmd, out)
            checked = "report" not in k and not k.startswith(FLOOR)  # floors write nothing
            agree[k] = agrees(reference, out, k) if checked else None
        for _ in range(args.rounds):
            for k, (cmd, _) in chosen.items():
                runs[k].append(run_once(cmd, Path(tmp) / "out.csv"))
                print(f"  {k:36s} {runs[k][-1]['wall']:7.2f} s", flush=True)
    load_after = os.getloadavg()
    rows: dict[str, dict[str, Any]] = {}
    for k, (cmd, src) in chosen.items():
        size = Path(src).stat().st_size
        wall = statistics.median(r["wall"] for r in runs[k])
        rows[k] = {
            "wall": wall,
            "cpu": statistics.median(r["cpu"] for r in runs[k]),
            "peak_bytes": max(r["peak"] for r in runs[k]),
            "walls": [r["wall"] for r in runs[k]],
            "file_bytes": size,
            "bytes_per_s": size / wall,
            "agrees": agree[k],
            "marks": wide_marks["wide_xlsx"] if "xlsx" in k else data_marks,
            "command": shlex.join(cmd),
        }
    data = {
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}",
        "load_average_before": load,
        "load_average_after": load_after,
        "rounds": args.rounds,
        "size": args.size,
        **info,
        "marks": data_marks,
        "limits": physical,
        "steps": rows,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"e2e-{args.size}.json").write_text(json.dumps(data, indent=2) + "\n")
    path = RESULTS / f"e2e-{args.size}.md"
    path.write_text(table(data))
    print(path.read_text())
    return 0


def table(data: dict[str, Any]) -> str:
    """The results as Markdown: each contender, ours against DuckDB from the same file, the
    wide layouts per mark against the long CSV, and the physical limits."""
    steps = data["steps"]
    lines = [
        f"# From the file to the answer ({data['size']}: {data['pupils']:,} pupils)",
        "",
        f"Run {data['when']} on {data['machine']}; {data['rounds']} interleaved rounds after a "
        f"warm-up, medians; load average {data['load_average_before'][0]:.1f} before, "
        f"{data['load_average_after'][0]:.1f} after (other developers share the 2 cores). Whole "
        "processes from start to a written CSV of per-pupil counts and bands. Peak = the "
        "process's largest resident memory. Read rate = the file's bytes / the median wall "
        "time. DuckDB ÷ this compares wall times from the same file (above 1: we are faster); "
        "for the wide layouts, per mark ÷ long CSV compares marks a second with the long CSV's.",
        "",
        "| contender | wall s | CPU s | peak MiB | file MB/s | M marks/s | DuckDB ÷ this "
        "| per mark ÷ long CSV | agrees |",
        "|---|---:|---:|---:|---:|---:|---:|---:|:---:|",
    ]
    long_csv = steps.get("ac.load+classify (csv)")
    for k, r in steps.items():
        marks = r.get("marks", data["marks"])
        fmt = "parquet" if "parquet" in k else "csv"
        duck = steps.get(f"duckdb ({fmt})")
        wide = "wide" in k
        ratio = f"{duck['wall'] / r['wall']:.2f}" if duck and not wide else ""
        per_mark = ""
        if wide and long_csv:
            per_mark = f"{(marks / r['wall']) / (data['marks'] / long_csv['wall']):.2f}"
        ok = {True: "yes", False: "NO", None: ""}[r["agrees"]]
        lines.append(
            f"| {k} | {r['wall']:.2f} | {r['cpu']:.2f} | {r['peak_bytes'] / 2**20:.0f} | "
            f"{r['bytes_per_s'] / 1e6:.1f} | {marks / r['wall'] / 1e6:.2f} | "
            f"{ratio} | {per_mark} | {ok} |"
        )
    limits = data.get("limits")
    if limits:
        lines += [
            "",
            "Physical limits on this machine (best of three): one core reads "
            + ", ".join(
                f"{k.split()[1]} at {v / 1e6:,.0f} MB/s"
                for k, v in limits.items()
                if k.startswith("read ")
            )
            + f" from the page cache (nothing parsed); one pass over the built register "
            f"({limits['register bytes'] / 1e6:,.1f} MB, a byte a cell) takes "
            f"{limits['register pass s'] * 1e3:.1f} ms. Each contender's file MB/s is its "
            "fraction of the first figures; the register pass bounds what counting can cost.",
        ]
    if any(k.startswith(FLOOR) for k in steps):
        lines += [
            "",
            "The floor rows do part of the work only: starting Python with each side's "
            "imports, and the library's imports plus Arrow parsing the file (text columns "
            "dictionary-encoded, as the library's readers parse it) with nothing computed or "
            "written. Their DuckDB ÷ this is the ceiling of that ratio for any contender that "
            "pays them.",
        ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
