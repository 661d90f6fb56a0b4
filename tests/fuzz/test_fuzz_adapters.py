"""Mutation fuzzing of every adapter's fixture files.

Each fixture under ``adapters/*/tests/data/`` is mutated (truncated, bytes flipped, re-encoded,
a huge field inserted, extra columns added, emptied, replaced by binary, lines shuffled) and
loaded with its format, by detection, and through the adapter alone. Only
:class:`~attendance_core.AttendanceError` may escape, messages stay short, and whenever the
load succeeds every source row is accounted for:
``rows_read == len(register.to_long()) + len(rejected)``.

The default profile runs a few dozen examples per fixture; ``HYPOTHESIS_PROFILE=fuzz`` (tox
env ``fuzz``) runs thousands.
"""

from __future__ import annotations

import random

import pytest
from fuzz_corpus import MUTATIONS, Crash, Fixture, exercise, fixtures, materialise
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from attendance_core.errors import AttendanceError, FormatError

FIXTURES = fixtures()
IDS = [f.id for f in FIXTURES]

pytestmark = [
    pytest.mark.skipif(not FIXTURES, reason="no adapter with fixtures is installed"),
    pytest.mark.filterwarnings("ignore::attendance_core.errors.AttendanceWarning"),
]

# A short run per fixture in the default suite (there are many fixtures); the long profile
# ("fuzz", thousands of examples, tox env fuzz) is used as it is.
_LONG_RUN = settings.default.max_examples >= 1000
quick = settings(
    max_examples=settings.default.max_examples if _LONG_RUN else 20,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def test_corpus_covers_every_installed_adapter_distribution() -> None:
    from attendance_core.adapters import adapter_distributions

    covered = {fmt for f in FIXTURES for fmt in f.formats}
    providers = {d for d in adapter_distributions().values() if d}
    assert {d for name, d in adapter_distributions().items() if name in covered} or not providers


@pytest.mark.parametrize("fixture", FIXTURES, ids=IDS)
def test_fixture_itself(fixture: Fixture) -> None:
    """The unmutated fixture loads or is refused cleanly, by name and by detection."""
    for fmt in fixture.formats:
        exercise(fixture.path, fmt, label=fixture.id)
    exercise(fixture.path, None, label=fixture.id)


@pytest.mark.parametrize("fixture", FIXTURES, ids=IDS)
@quick
@given(
    mutation=st.sampled_from(sorted(MUTATIONS)),
    rng=st.randoms(use_true_random=False),
    file_choice=st.integers(min_value=0),
    errors=st.sampled_from(["collect", "collect", "raise"]),
    by_detection=st.booleans(),
)
def test_mutated_fixture(
    fixture: Fixture,
    mutation: str,
    rng: random.Random,
    file_choice: int,
    errors: str,
    by_detection: bool,
) -> None:
    files = fixture.files()
    target = files[file_choice % len(files)]
    mutated = MUTATIONS[mutation](target.read_bytes(), rng)
    fmt = None if by_detection else fixture.formats[file_choice % len(fixture.formats)]
    label = f"{fixture.id} [{mutation} of {target.name}, format={fmt}, errors={errors}]"
    with materialise(fixture, target, mutated) as path:
        exercise(path, fmt, label=label, errors=errors)
    if not fixture.path.is_dir() and fmt is not None:
        # the same bytes as a buffer (no file name to go by)
        exercise(mutated, fmt, label=label + " as bytes", errors=errors)


@pytest.mark.parametrize(
    "fixture",
    [f for f in FIXTURES if not f.path.is_dir()],
    ids=[f.id for f in FIXTURES if not f.path.is_dir()],
)
@quick
@given(data=st.binary(max_size=4096))
def test_random_bytes_with_each_format(fixture: Fixture, data: bytes) -> None:
    for fmt in fixture.formats:
        exercise(data, fmt, label=f"random bytes as {fmt}")


@pytest.mark.parametrize("fixture", FIXTURES, ids=IDS)
def test_each_mutation_once(fixture: Fixture) -> None:
    """Every mutation at least once per fixture and file, whatever hypothesis draws."""
    rng = random.Random(fixture.id)
    for target in fixture.files():
        for name, mutate in sorted(MUTATIONS.items()):
            mutated = mutate(target.read_bytes(), rng)
            with materialise(fixture, target, mutated) as path:
                for fmt in (*fixture.formats, None):
                    exercise(path, fmt, label=f"{fixture.id} [{name} of {target.name}, {fmt}]")


@pytest.mark.parametrize("fixture", FIXTURES, ids=IDS)
def test_empty_is_a_format_error(fixture: Fixture) -> None:
    """An empty file is refused; in a folder source, one empty page never crashes."""
    import attendance_core as ac

    for target in fixture.files():
        with materialise(fixture, target, b"") as path:
            for fmt in fixture.formats:
                if fixture.path.is_dir():
                    exercise(path, fmt, label=f"{fixture.id} with {target.name} empty")
                    continue
                with pytest.raises(FormatError):
                    ac.load(path, format=fmt)


def test_crash_detector_catches_stray_exceptions() -> None:
    """The harness itself: an adapter raising KeyError is reported as a crash."""
    import pandas as pd

    from attendance_core.adapters import AdapterOutput, register_adapter, unregister_adapter

    class Broken:
        name = "fuzz-broken"
        extensions = (".broken",)
        description = "raises KeyError while reading"

        def sniff(self, source: object) -> bool:
            return False

        def read(self, source: object, *, errors: str = "collect", **options: object):
            def chunks():
                yield pd.DataFrame(
                    {"pupil_id": ["1"], "date": ["2024-09-02"], "session": ["AM"], "code": ["/"]},
                    index=[1],
                )
                raise KeyError("x")

            return AdapterOutput(marks=chunks())

    register_adapter("fuzz-broken", Broken)
    try:
        with pytest.raises(Crash, match="KeyError"):
            exercise(b"x", "fuzz-broken", label="broken")
    finally:
        unregister_adapter("fuzz-broken")
    assert issubclass(FormatError, AttendanceError)
