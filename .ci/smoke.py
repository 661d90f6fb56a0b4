"""A fresh machine's first ten minutes: ac.load reads a long CSV, an xlsx and a Parquet file
written from the demo school, with nothing installed but `pip install .`."""

import sys
import tempfile
from pathlib import Path

import attendance_core as ac

long, pupils = ac.demo.school(seed=0)
print("formats:", ", ".join(ac.formats()))
with tempfile.TemporaryDirectory() as tmp:
    folder = Path(tmp)
    small = long[long["pupil_id"].isin(sorted(long["pupil_id"].unique())[:20])].copy()
    small["date"] = small["date"].astype(str)
    small.to_csv(folder / "marks.csv", index=False)
    small.to_excel(folder / "marks.xlsx", index=False)
    small.to_parquet(folder / "marks.parquet", index=False)
    for name in ("marks.csv", "marks.xlsx", "marks.parquet"):
        result = ac.load(folder / name)
        marks = len(result.register.to_long())
        print(f"{name}: {marks} marks, {len(result.rejected)} rejected")
        if marks != len(small):
            sys.exit(f"{name}: expected {len(small)} marks, got {marks}")
