"""A fresh machine's first ten minutes, with nothing installed but `pip install .`: the demo
writes its sample exports; ac.load and the command line read the long CSV, the xlsx, the
Parquet file and the trust's folder of mixed formats, and agree."""

import io
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd

import attendance_core as ac

CLI = str(Path(sys.executable).with_name("attendance-core"))
print("formats:", ", ".join(ac.formats()))
with tempfile.TemporaryDirectory() as tmp:
    files = ac.demo.write_exports(Path(tmp), n_pupils=20)
    long, _ = ac.demo.school(n_pupils=20)
    for name in ("marks.csv", "marks.xlsx", "marks.parquet", "trust"):
        result = ac.load(files[name])
        marks = len(result.register.to_long())
        print(f"{name}: {result.format}, {marks} marks, {len(result.rejected)} rejected")
        if name != "trust" and marks != len(long):
            sys.exit(f"{name}: expected {len(long)} marks, got {marks}")
        done = subprocess.run(
            [CLI, "classify", str(files[name]), "--to", "csv", "--quiet"],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            sys.exit(f"attendance-core classify {name} failed: {done.stderr}")
        table = pd.read_csv(io.StringIO(done.stdout))
        want = ac.classify(result.register)
        if int(table["possible"].sum()) != int(want["possible"].sum()):
            sys.exit(f"{name}: the command line and ac.load disagree")
        print(f"  attendance-core classify: {len(table)} pupils, agrees with ac.classify")
