"""The same inputs give byte-identical outputs: twice in one process, and across processes with
different ``PYTHONHASHSEED`` values (set iteration order must never leak into an output)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import pandas as pd
import pytest

import attendance_core as ac
from attendance_core.errors import AttendanceError

ROOT = Path(__file__).resolve().parents[1]
KEY = b"determinism-test-key-0123456789ab"


def _fixtures() -> list[Path]:
    paths = []
    for data in sorted(ROOT.glob("adapters/*/tests/data")):
        for path in sorted(data.iterdir()):
            if path.name.startswith(".") or path.suffix in (".py", ".md"):
                continue
            if path.name not in ("symbols.csv", "symbols.toml"):
                paths.append(path)
    return paths


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def produce(out: Path) -> dict[str, str]:
    """Run the pipeline and write every output under ``out``; returns file name -> sha256.

    Used in this process and, through ``python -c``, in subprocesses with other hash seeds.
    """
    out.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}

    def csv(name: str, frame: pd.DataFrame) -> None:
        written[name] = Path(ac.to_csv(frame, out / name))

    def text(name: str, value: str) -> None:
        path = out / name
        path.write_text(value, encoding="utf-8", newline="")
        written[name] = path

    warnings.simplefilter("ignore")
    long, pupils = ac.demo.school(seed=3)
    reg = ac.Register.from_long(long, pupils=pupils)
    for scheme in ("dfe", "five-band"):
        table = ac.classify(reg, scheme=scheme)
        csv(f"demo_{scheme}.csv", table)
        text(
            f"demo_{scheme}.json",
            table.reset_index().to_json(orient="records", date_format="iso", indent=1),
        )
        csv(f"demo_{scheme}_summary.csv", ac.band_summary(table))
    csv("demo_long.csv", reg.to_long())
    shared = ac.pseudonymise(reg, KEY)
    csv("demo_pseudonymised.csv", ac.classify(shared, scheme="five-band"))
    csv("demo_letters.csv", ac.letter_data(reg, pupils=pupils))
    csv("demo_steps.csv", ac.steps_frame(ac.recommend(reg, pupils=pupils)).astype(str))
    ac.html_report(reg, out / "demo_report.html", pupils=pupils)
    written["demo_report.html"] = out / "demo_report.html"
    from attendance_core.cli import main

    long_csv = out / "cli_input.csv"
    long.head(4000).to_csv(long_csv, index=False)
    for kind in ("csv", "json"):
        target = out / f"cli_classify.{kind}"
        assert (
            main(["--quiet", "classify", str(long_csv), "--to", kind, "--output", str(target)]) == 0
        )
        written[target.name] = target
    for i, fixture in enumerate(_fixtures()):
        stem = f"fx{i:02d}_{fixture.name}"
        try:
            result = ac.load(fixture)
        except AttendanceError as exc:
            text(f"{stem}.error.txt", str(exc))
            continue
        csv(f"{stem}.long.csv", result.register.to_long())
        csv(f"{stem}.rejected.csv", result.rejected)
        csv(f"{stem}.pupils.csv", result.pupils)
        text(f"{stem}.warnings.txt", "\n".join(result.warnings))
        if len(result.register):
            csv(f"{stem}.classify.csv", ac.classify(result.register))
        csv(f"{stem}.pseudonymised.csv", ac.pseudonymise(result.register, KEY).to_long())
    return {name: _digest(path) for name, path in sorted(written.items())}


def _in_subprocess(seed: str, out: Path) -> dict[str, str]:
    code = (
        "import json, sys; from pathlib import Path; "
        f"sys.path.insert(0, {str(Path(__file__).parent)!r}); "
        "import test_determinism as t; "
        "print(json.dumps(t.produce(Path(sys.argv[1]))))"
    )
    env = {**os.environ, "PYTHONHASHSEED": seed}
    done = subprocess.run(
        [sys.executable, "-c", code, str(out)],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        check=False,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def _differences(a: dict[str, str], b: dict[str, str]) -> list[str]:
    return sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k))


def test_same_process_twice_is_byte_identical(tmp_path: Path) -> None:
    first = produce(tmp_path / "one")
    second = produce(tmp_path / "two")
    assert first, "nothing was produced"
    assert not _differences(first, second)
    for name in first:
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes()


@pytest.mark.slow
def test_other_hash_seeds_give_the_same_bytes(tmp_path: Path) -> None:
    here = produce(tmp_path / "here")
    for seed in ("1", "4242"):
        there = _in_subprocess(seed, tmp_path / f"seed{seed}")
        diff = _differences(here, there)
        assert not diff, f"PYTHONHASHSEED={seed} changed: {diff}"


def test_html_report_has_no_timestamp_unless_asked(tmp_path: Path) -> None:
    import datetime as dt

    long, pupils = ac.demo.school(seed=0)
    reg = ac.Register.from_long(long, pupils=pupils)
    ac.html_report(reg, tmp_path / "a.html", pupils=pupils)
    text = (tmp_path / "a.html").read_text(encoding="utf-8")
    today = dt.date.today()
    for form in (today.isoformat(), f"{today.day} {today.strftime('%b %Y')}"):
        assert form not in text, "the report shows today's date without being asked"


def test_pseudonyms_do_not_depend_on_order_or_process() -> None:
    ids = [f"A{i:05d}" for i in range(200)]
    forward = ac.pseudonymise(pd.Series(ids), KEY)
    backward = ac.pseudonymise(pd.Series(ids[::-1]), KEY)
    assert list(forward) == list(backward)[::-1]
