"""Coverage-guided fuzzing of every installed adapter with atheris (libFuzzer for Python).

Not a pytest module: run it as a script (tox env ``fuzz`` does)::

    python tests/fuzz/atheris_harness.py -max_total_time=600 -timeout=30
    python tests/fuzz/atheris_harness.py crash-<sha1>        # replay one input

The first byte of an input picks the format (among :func:`attendance_core.formats`), the rest
is the file. The seed corpus is every fixture under ``adapters/*/tests/data/`` (each file of a
folder fixture on its own), written with its format's selector byte to a temporary folder;
libFuzzer then mutates and grows it. An input fails when ``ac.load`` or the adapter on its own
raises anything but :class:`~attendance_core.AttendanceError`, or when a load that succeeds
does not account for every row. libFuzzer saves such inputs as ``crash-*`` files: turn each
into a regression test (``tests/fuzz/test_regressions.py``).

Without atheris installed (it needs a CPython it has wheels for) the script says so and exits
0, so the tox env still runs the long hypothesis profile.
"""

from __future__ import annotations

import contextlib
import sys
import tempfile
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

try:
    import atheris
except ImportError:  # pragma: no cover - depends on the environment
    atheris = None

ADAPTER_PACKAGES = (
    "attendance_core",
    "attendance_core_generic",
    "attendance_core_sims",
    "attendance_core_arbor",
    "attendance_core_ctf",
    "attendance_core_wonde",
    "attendance_core_assembly",
    "attendance_core_edfi",
)


def _setup() -> tuple[list[str], object]:
    """Import the library (instrumented for coverage) and return (formats, checker)."""
    assert atheris is not None
    with atheris.instrument_imports(include=list(ADAPTER_PACKAGES)):
        import attendance_core as ac
        from attendance_core.adapters import get_adapter

        names = ac.formats()
        for name in names:  # import every adapter module now, so it is instrumented
            with contextlib.suppress(ac.AttendanceError):
                get_adapter(name)
    import fuzz_corpus

    return names, fuzz_corpus


def _seed_corpus(names: list[str], fuzz_corpus: object, folder: Path) -> None:
    from fuzz_corpus import fixtures  # type: ignore[import-not-found]

    index = {name: i for i, name in enumerate(names)}
    n = 0
    for fixture in fixtures():
        for fmt in fixture.formats:
            for file in fixture.files():
                data = bytes([index[fmt]]) + file.read_bytes()
                (folder / f"seed-{n:04d}").write_bytes(data)
                n += 1
    assert fuzz_corpus is not None


def main(argv: list[str]) -> int:
    if atheris is None:
        print("atheris is not installed: coverage-guided fuzzing skipped (pip install atheris)")
        return 0
    names, fuzz_corpus = _setup()
    if not names:
        print("no adapters installed: nothing to fuzz")
        return 0
    import attendance_core as ac
    from attendance_core.errors import AttendanceError
    from attendance_core.testing import drain

    check_result = fuzz_corpus.check_result  # type: ignore[attr-defined]
    check_error = fuzz_corpus.check_error  # type: ignore[attr-defined]
    warnings.simplefilter("ignore")

    def one_input(data: bytes) -> None:
        if not data:
            return
        fmt = names[data[0] % len(names)]
        body = data[1:]
        try:
            result = ac.load(body, format=fmt)
        except AttendanceError as exc:
            check_error(exc)
            if fuzz_corpus.wrapped_crash(exc):  # type: ignore[attr-defined]
                # load() wrapped a stray exception: still a bug of the adapter or the core
                raise AssertionError(f"{fmt}: load wrapped a crash") from exc.__cause__
        else:
            check_result(result)
        try:
            drain(fmt, body)
        except AttendanceError as exc:
            check_error(exc)

    args = list(argv)
    replay = [a for a in args[1:] if not a.startswith("-")]
    with tempfile.TemporaryDirectory(prefix="ac-atheris-") as tmp:
        if not replay:
            corpus = Path(tmp)
            _seed_corpus(names, fuzz_corpus, corpus)
            args.append(str(corpus))
        atheris.Setup(args, one_input)
        atheris.Fuzz()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
