"""Conformance kit for MIS adapters: the checks every adapter's tests run.

Two ways to use it. Call :func:`check_conformance` from a test::

    from attendance_core.testing import check_conformance

    def test_conformance():
        check_conformance("generic-csv", DATA / "sims_long.csv", bad_sample=DATA / "bad.csv")

or subclass the pytest mixin :class:`AdapterConformance` and supply the ``format`` and
``sample`` fixtures (optionally ``bad_sample``, ``structured``, ``expect_rows``)::

    class TestGenericCsv(AdapterConformance):
        @pytest.fixture
        def format(self) -> str:
            return "generic-csv"

        @pytest.fixture
        def sample(self) -> Path:
            return DATA / "sims_long.csv"

The checks: ``sniff`` accepts the sample and detection picks the adapter; ``rows_read ==
len(register.to_long()) + len(rejected)``; rejected rows are 1-based source row numbers within
the source, with the fixed columns and sorted; path and buffer give the same result; an empty
source is a :class:`FormatError`; a truncated source is a :class:`FormatError` (structured
formats such as XML/JSON) or a normal load with rows accepted or rejected (line formats), never
another exception; random and mangled bytes never make ``sniff`` or ``read`` raise anything
but :class:`AttendanceError`; the adapter declares its ``options`` and an unknown option is the
core's :class:`FormatError` naming it and the known ones; ``errors="raise"`` on a sample with a
bad row raises :class:`RegisterError` naming the row and the column; **no silent loss**: a file
of another format (the kit's own :data:`FOREIGN_SAMPLES` -- an unrelated XML, JSON array, Wonde
schools page, CSV -- and the ``foreign_sample`` fixture, e.g. another adapter's sample) is a
:class:`FormatError` or a load that warns or rejects, and a load that yields no marks and no
totals from a non-empty file always carries a warning saying why.

This module needs pytest and hypothesis (test dependencies, not runtime ones).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from . import _pupils
from ._rejected import rejected_total
from .adapters import REJECTED_COLUMNS, LoadResult, Source, detect, formats, get_adapter
from .adapters import load as _load
from .calendar import FIRST_DATE, LAST_DATE
from .errors import AttendanceError, AttendanceWarning, FormatError, RegisterError

__all__ = [
    "FOREIGN_SAMPLES",
    "OPTION_ALIASES",
    "OUT_OF_RANGE_DATES",
    "AdapterConformance",
    "assert_load_invariants",
    "assert_rejected_shape",
    "check_bad_row_raises",
    "check_conformance",
    "check_detection",
    "check_empty",
    "check_foreign",
    "check_load",
    "check_option_names",
    "check_options",
    "check_pupils",
    "check_out_of_range_dates",
    "check_random_bytes",
    "check_truncated",
    "drain",
    "explains_empty",
    "load",
]


def load(source: Any, **options: Any) -> LoadResult:
    """:func:`attendance_core.load` with its :class:`AttendanceWarning` noise silenced."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AttendanceWarning)
        return _load(source, **options)


def _bytes_of(sample: Any) -> bytes:
    if isinstance(sample, bytes | bytearray):
        return bytes(sample)
    if isinstance(sample, str | Path):
        return Path(sample).read_bytes()
    source = Source.of(sample)
    with source.open() as fh:
        return fh.read()


def _line_count(data: bytes) -> int:
    return data.count(b"\n") + (1 if data and not data.endswith(b"\n") else 0)


def _row_bound(data: bytes, rows_read: int) -> int | None:
    """The highest source row a text source can have: its lines, or its records when a
    record is shorter than a line; None for binary sources (Excel, Parquet), whose row
    numbers the kit cannot count."""
    if b"\x00" in data[:8192] and not data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return None
    return max(_line_count(data), rows_read, 1)


def drain(format_name: str, data: Any, *, errors: str = "collect", **options: Any) -> int:
    """Run the adapter itself (not :func:`load`) over ``data`` and exhaust its marks.

    Returns the number of mark rows plus adapter-rejected rows. Any exception propagates, so a
    test sees exactly what the adapter raises (``load`` would wrap stray exceptions).
    """
    adapter = get_adapter(format_name)
    output = adapter.read(Source.of(data), errors=errors, **options)
    rows = 0
    for chunk in output.marks:
        assert isinstance(chunk, pd.DataFrame), f"{format_name} yielded {type(chunk).__name__}"
        rows += len(chunk)
    return rows + rejected_total(output.rejected)


#: Reasons only the files together can give (no source row then): a session given in two
#: files, or a date far from every other of its school across the files.
_ACROSS_FILES = frozenset({"duplicate_row", "duplicate_session", "stray_date"})


def assert_rejected_shape(rejected: pd.DataFrame, *, max_row: int | None = None) -> None:
    """Assert the fixed shape of a rejected table: the columns ``row, column, value, reason``
    (and ``file`` after a load of several files), rows sorted 1-based integers (within each
    file), reasons non-empty ids. A row rejected only once the files are put together (the
    same session in two files, a stray date across them) has no source row (``None``)."""
    several = list(rejected.columns) == [*REJECTED_COLUMNS, "file"]
    assert several or list(rejected.columns) == list(REJECTED_COLUMNS), list(rejected.columns)
    groups = rejected.groupby("file", sort=False, dropna=False) if several else [("", rejected)]
    for _file, part in groups:
        known = part[part["row"].notna()] if several else part
        if several:
            assert set(part.loc[part["row"].isna(), "reason"]) <= _ACROSS_FILES, part
        rows = [int(r) for r in known["row"]]
        assert rows == sorted(rows), "rejected must be sorted by row"
        for row in rows:
            assert row >= 1, f"rejected row {row} is not a 1-based source row number"
            if max_row is not None:
                assert row <= max_row, f"rejected row {row} is beyond the source ({max_row} rows)"
    for reason in rejected["reason"]:
        assert isinstance(reason, str), f"reason must be a string id: {reason!r}"
        assert reason, "reason must not be empty"


def assert_load_invariants(result: LoadResult, *, max_row: int | None = None) -> None:
    """Assert the contract of a :class:`LoadResult`.

    ``rows_read == len(register.to_long()) + rejected_count``; ``rejected`` lists every
    rejected row unless the cap was reached (then ``max_rejected_rows`` of them),
    ``error_counts`` counts them all by reason, and ``register.rejected`` is the same table;
    ``rejected`` has the shape :func:`assert_rejected_shape` checks; ``pupils`` is indexed by
    ``pupil_id``, one row
    per pupil (per school and pupil when it has a ``school_id`` column).
    """
    accepted = len(result.register.to_long())
    assert isinstance(result.rows_read, int), "rows_read must be an int"
    total = result.rejected_count
    assert result.rows_read == accepted + total, (
        f"rows_read {result.rows_read} != accepted {accepted} + rejected {total}"
    )
    assert sum(result.error_counts.values()) == total, (result.error_counts, total)
    rejected = result.rejected
    if not result.rejected_truncated:
        assert len(rejected) == total, (len(rejected), total)
        listed = rejected["reason"].astype(str).value_counts().to_dict()
        assert dict(result.error_counts) == {k: int(v) for k, v in listed.items()}, (
            result.error_counts,
            listed,
        )
    register_rejected = getattr(result.register, "rejected", None)
    if isinstance(register_rejected, pd.DataFrame):
        assert register_rejected is rejected or register_rejected.equals(rejected), (
            "register.rejected must be the load's table"
        )
    assert_rejected_shape(rejected, max_row=max_row)
    assert isinstance(result.pupils, pd.DataFrame)
    if len(result.pupils):
        assert result.pupils.index.name == "pupil_id", result.pupils.index.name
        if "school_id" in result.pupils.columns:
            keys = pd.MultiIndex.from_arrays([result.pupils["school_id"], result.pupils.index])
            assert keys.is_unique, "pupils must have one row per (school_id, pupil_id)"
        else:
            assert result.pupils.index.is_unique, "pupils must have one row per pupil_id"


#: Files of other formats every adapter must refuse or warn about (never load quietly).
FOREIGN_SAMPLES: dict[str, bytes] = {
    "unrelated.xml": (
        b'<?xml version="1.0"?>\n<Catalogue><Book><Title>A</Title></Book></Catalogue>\n'
    ),
    "unrelated.json": b'[{"isbn": "0000000000", "title": "A"}, {"isbn": "1", "title": "B"}]\n',
    "wonde-schools.json": (
        b'{"data": [{"id": "A1930499544", "name": "Example School", "urn": 100000, '
        b'"la_code": "201", "establishment_number": "2345"}], '
        b'"meta": {"pagination": {"next": null, "previous": null, "more": false, '
        b'"per_page": 50, "current_page": 1}}}\n'
    ),
    "unrelated.csv": b"title,author,isbn\nA,B,0000000000\nC,D,1111111111\n",
}


def explains_empty(result: LoadResult) -> bool:
    """Whether a load is not a silent loss: it has marks, rejected rows or totals, or it warns."""
    has_totals = result.totals is not None and len(result.totals) > 0
    return bool(result.rows_read or has_totals or result.warnings)


def check_foreign(format_name: str, foreign: Any | None = None) -> None:
    """No silent loss on a file of another format: each of :data:`FOREIGN_SAMPLES` (and
    ``foreign``, when given) read with ``format=format_name`` raises :class:`FormatError`, or
    loads with a warning or a rejected row; and it never loads marks or totals quietly."""
    inputs: list[tuple[str, Any]] = list(FOREIGN_SAMPLES.items())
    if foreign is not None:
        inputs.append((str(foreign), foreign))
    for label, data in inputs:
        try:
            result = load(data, format=format_name)
        except FormatError:
            continue
        has_totals = result.totals is not None and len(result.totals) > 0
        assert result.warnings or len(result.rejected), (
            f"{format_name} read {label} (another format) without a warning or a rejected row "
            f"(rows_read={result.rows_read}, totals={has_totals})"
        )


def check_detection(format_name: str, sample: Any) -> None:
    """``sniff`` accepts the sample and detection (``format=None``) picks this adapter."""
    assert format_name in formats(), f"{format_name!r} is not registered: {formats()}"
    adapter = get_adapter(format_name)
    assert isinstance(adapter.name, str)
    assert adapter.name
    assert isinstance(adapter.extensions, tuple)
    assert all(isinstance(e, str) for e in adapter.extensions)
    assert isinstance(adapter.description, str)
    assert adapter.description
    assert adapter.sniff(Source.of(sample)) is True, f"{format_name} does not sniff its sample"
    assert detect(sample) == format_name


def check_load(
    format_name: str,
    sample: Any,
    *,
    expect_rows: int | None = None,
    max_row: int | None = None,
) -> LoadResult:
    """Load the sample, check the invariants, and check path and buffer agree.

    Rejected rows must lie within the source: ``max_row`` when given (e.g. a sheet's last row),
    else the line count of a text source (binary sources are only checked for ``>= 1``).
    """
    data = _bytes_of(sample)
    result = load(sample, format=format_name)
    assert result.format == format_name
    bound = max_row if max_row is not None else _row_bound(data, result.rows_read)
    assert_load_invariants(result, max_row=bound)
    if len(data.strip()):
        assert explains_empty(result), f"{format_name}: no marks, no totals and no warning"
    if expect_rows is not None:
        assert result.rows_read == expect_rows, f"rows_read {result.rows_read} != {expect_rows}"
    again = load(io.BytesIO(data), format=format_name)
    assert again.rows_read == result.rows_read
    pd.testing.assert_frame_equal(again.register.to_long(), result.register.to_long())
    pd.testing.assert_frame_equal(again.rejected, result.rejected)
    detected = load(sample)
    assert detected.format == format_name
    return result


def check_empty(format_name: str) -> None:
    """An empty source is a :class:`FormatError`."""
    with pytest.raises(FormatError):
        load(b"", format=format_name)
    with pytest.raises(FormatError):
        drain(format_name, b"")


def check_truncated(format_name: str, sample: Any, *, structured: bool = False) -> None:
    """A source cut short is a FormatError (structured) or a normal load (line formats)."""
    data = _bytes_of(sample)
    for cut in sorted({len(data) // 2, (2 * len(data)) // 3, len(data) - 7}):
        if cut <= 0:
            continue
        part = data[:cut]
        if structured:
            with pytest.raises(FormatError):
                drain(format_name, part)
            with pytest.raises(FormatError):
                load(part, format=format_name)
            continue
        with contextlib.suppress(AttendanceError):
            drain(format_name, part)
        try:
            result = load(part, format=format_name)
        except AttendanceError:
            continue
        assert_load_invariants(result, max_row=_row_bound(part, result.rows_read))


def _never_worse_than_attendance_error(format_name: str, data: bytes) -> None:
    adapter = get_adapter(format_name)
    sniffed = adapter.sniff(Source.of(data))
    assert isinstance(sniffed, bool), f"sniff returned {type(sniffed).__name__}"
    try:
        drain(format_name, data)
    except AttendanceError:
        return
    try:
        result = load(data, format=format_name)
    except AttendanceError:
        return
    assert_load_invariants(result)


def check_random_bytes(format_name: str, sample: Any | None = None, *, examples: int = 40) -> None:
    """Random bytes, and the sample with bytes changed or cut out, raise only AttendanceError.

    Uses hypothesis; ``examples`` bounds each of the two searches.
    """
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    config = settings(
        max_examples=examples,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )

    @config
    @given(st.binary(max_size=4096))
    def random_bytes(data: bytes) -> None:
        _never_worse_than_attendance_error(format_name, data)

    random_bytes()
    if sample is None:
        return
    base = _bytes_of(sample)[:65536]
    if not base:
        return

    @config
    @given(
        st.lists(
            st.tuples(st.integers(0, len(base) - 1), st.binary(max_size=8), st.integers(0, 8)),
            min_size=1,
            max_size=6,
        )
    )
    def mangled(edits: list[tuple[int, bytes, int]]) -> None:
        data = bytearray(base)
        for pos, insert, drop in edits:
            where = min(pos, len(data))
            data[where : where + drop] = insert
        _never_worse_than_attendance_error(format_name, bytes(data))

    mangled()


#: The placeholders of .NET-based exports for "open end" and "no date". A mark dated so is
#: rejected as ``date_out_of_range`` in every format.
OUT_OF_RANGE_DATES = (dt.date(9999, 12, 31), dt.date(1, 1, 1))
# how a date is written in a sample: ISO, then day-first (zero-padded years: year 1 is 0001)
_DATE_FORMS: tuple[Callable[[dt.date], bytes], ...] = (
    lambda d: f"{d.year:04d}-{d.month:02d}-{d.day:02d}".encode(),
    lambda d: f"{d.day:02d}/{d.month:02d}/{d.year:04d}".encode(),
)


def check_out_of_range_dates(format_name: str, sample: Any, *, tries: int = 40) -> bool:
    """A mark dated 9999-12-31, and one dated 0001-01-01, written into the sample in its own
    format is rejected as ``date_out_of_range`` (never ``bad_date``, never kept, never a
    crash), with the row-count invariant.

    The kit builds the marks from the sample: one occurrence of a mark's date, written as the
    sample writes it (``yyyy-mm-dd`` or ``dd/mm/yyyy``, inside a date-time too), is replaced;
    occurrences that change nothing (a date of another field, or of a row rejected for an
    earlier reason) are passed over, up to ``tries``. Where a date heads a whole column (wide
    layouts) a :class:`FormatError` with that reason is the answer. Returns False, having
    checked nothing, when the sample holds no mark's date as text (Excel, Parquet).
    """
    data = _bytes_of(sample)
    base = load(data, format=format_name, errors="collect")
    found = _date_occurrences(data, base, tries)
    if data.startswith((b"PK\x03\x04", b"PAR1")) or not found:
        return False
    for at, text, form in found:
        outcomes = [
            _out_of_range_outcome(format_name, data[:at] + form(bad) + data[at + len(text) :], base)
            for bad in OUT_OF_RANGE_DATES
        ]
        if all(outcomes):
            return True
        assert not any(outcomes), f"{format_name}: only one of {OUT_OF_RANGE_DATES} rejected"
    raise AssertionError(
        f"{format_name}: no mark's date in the sample could be moved to 9999-12-31 "
        f"({len(found)} occurrence(s) tried): is a mark dated so kept or lost unseen?"
    )


def _date_occurrences(
    data: bytes, base: LoadResult, limit: int
) -> list[tuple[int, bytes, Callable[[dt.date], bytes]]]:
    """Where the sample writes its marks' dates: (offset, text, form), the first ``limit``."""
    out: list[tuple[int, bytes, Callable[[dt.date], bytes]]] = []
    for value in base.register.dates:
        day = pd.Timestamp(value).date()
        for form in _DATE_FORMS:
            text = form(day)
            at = data.find(text)
            while at >= 0 and len(out) < limit:
                out.append((at, text, form))
                at = data.find(text, at + 1)
    return out


def _out_of_range_outcome(format_name: str, data: bytes, base: LoadResult) -> bool:
    """Whether the edited sample rejects a mark as ``date_out_of_range`` (True), or loads as
    before (False: the edit met no mark); anything else fails the check."""
    reason = "date_out_of_range"
    try:
        result = load(data, format=format_name, errors="collect")
    except FormatError as exc:  # a date heading a whole column refuses the file
        if exc.reason != reason:
            raise AssertionError(f"{format_name}: {exc} (reason {exc.reason})") from exc
        return True
    assert_load_invariants(result)
    before, after = dict(base.error_counts), dict(result.error_counts)
    grown = {k for k, n in after.items() if n > before.get(k, 0)}
    if not grown and after == before:
        assert len(result.register.to_long()) == len(base.register.to_long())
        return False
    assert grown == {reason}, f"{format_name}: {before} -> {after}"
    dates = result.register.dates
    assert not len(dates) or dates[-1] <= np.datetime64(LAST_DATE), "a 9999 mark was kept"
    assert not len(dates) or dates[0] >= np.datetime64(FIRST_DATE), "a 0001 mark was kept"
    return True


def check_bad_row_raises(format_name: str, bad_sample: Any) -> None:
    """``errors="raise"`` stops with :class:`RegisterError` naming the row and column; with
    ``errors="collect"`` the same source loads with at least one rejected row."""
    with pytest.raises(RegisterError) as info:
        load(bad_sample, format=format_name, errors="raise")
    err = info.value
    assert err.row is not None, f"error does not name the row: {err}"
    assert err.column is not None, f"error does not name the column: {err}"
    assert f"row {err.row}" in str(err)
    collected = load(bad_sample, format=format_name, errors="collect")
    assert len(collected.rejected) >= 1, "the bad sample loads with nothing rejected"
    assert_load_invariants(collected)


def check_options(format_name: str, sample: Any) -> None:
    """The adapter declares its ``read`` options (a frozenset of names in ``options``), and
    :func:`~attendance_core.load` refuses an unknown one with a :class:`FormatError` that
    names it and lists the known options, before the adapter reads anything."""
    declared = getattr(type(get_adapter(format_name)), "options", None)
    assert isinstance(declared, frozenset), f"{format_name} declares no options frozenset"
    assert all(isinstance(name, str) for name in declared)
    with pytest.raises(FormatError, match="unknown option\\(s\\) no_such_option; known: ") as info:
        load(sample, format=format_name, no_such_option=1)
    for name in declared:
        assert name in str(info.value), f"the error does not list the known option {name!r}"


#: Option names with one meaning across adapters, each alias with the name it stands for.
OPTION_ALIASES = {"chunksize": "chunk_size", "pupil_id": "pupil_key"}


def check_option_names(format_name: str) -> None:
    """The adapter speaks the one option vocabulary: an alias (``chunksize``, ``pupil_id``) is
    declared only beside the name it stands for, and a chunk size option is both names."""
    declared: frozenset[str] = getattr(type(get_adapter(format_name)), "options", frozenset())
    for alias, name in OPTION_ALIASES.items():
        if alias in declared:
            assert name in declared, f"{format_name} declares {alias!r} without {name!r}"
    if "chunk_size" in declared:
        assert "chunksize" in declared, f"{format_name}: chunk_size without its alias"


def check_pupils(format_name: str, sample: Any) -> None:
    """The pupils table of the sample keeps the one contract (``attendance_core._pupils``):
    indexed by ``pupil_id``; only the contract's columns, the flags and the source's own ids;
    flags boolean, dates dates (or missing), text columns text (or missing)."""
    pupils = load(sample, format=format_name).pupils
    assert pupils is not None, f"{format_name}: no pupils table"
    assert pupils.index.name == "pupil_id", f"{format_name}: pupils not indexed by pupil_id"
    flags = set(_pupils.ALL_FLAGS) | set(_pupils.SOURCE_FLAGS)
    allowed = set(_pupils.COLUMNS) | flags | set(_pupils.SOURCE_ID_COLUMNS)
    extra = sorted(set(pupils.columns) - allowed)
    assert not extra, f"{format_name}: pupils columns outside the contract: {extra}"
    for column in pupils.columns:
        values = pupils[column]
        present = values[values.notna()]
        if column in flags:
            assert pd.api.types.is_bool_dtype(values.dtype) or all(
                isinstance(v, bool) for v in present
            ), f"{format_name}: flag {column} is not boolean"
        elif column in _pupils.DATE_COLUMNS:
            assert pd.api.types.is_datetime64_any_dtype(values.dtype) or all(
                isinstance(v, dt.date) for v in present
            ), f"{format_name}: {column} holds values that are not dates"
        else:
            assert all(isinstance(v, str) for v in present), f"{format_name}: {column} not text"


def check_conformance(
    format_name: str,
    sample_path: Any,
    *,
    expect_rows: int | None = None,
    bad_sample: Any | None = None,
    structured: bool = False,
    examples: int = 40,
    max_row: int | None = None,
    foreign: Any | None = None,
) -> LoadResult:
    """Run every check of the kit on one adapter; returns the sample's :class:`LoadResult`."""
    check_detection(format_name, sample_path)
    result = check_load(format_name, sample_path, expect_rows=expect_rows, max_row=max_row)
    check_empty(format_name)
    check_foreign(format_name, foreign)
    check_options(format_name, sample_path)
    check_option_names(format_name)
    check_pupils(format_name, sample_path)
    check_truncated(format_name, sample_path, structured=structured)
    check_random_bytes(format_name, sample_path, examples=examples)
    check_out_of_range_dates(format_name, sample_path)
    if bad_sample is not None:
        check_bad_row_raises(format_name, bad_sample)
    return result


class AdapterConformance:
    """pytest mixin: subclass it and supply ``format`` and ``sample`` fixtures.

    Optional fixtures: ``bad_sample`` (a source with at least one bad row; default None skips
    that test), ``structured`` (True for XML/JSON formats, default False), ``expect_rows``
    (the exact ``rows_read`` of the sample, default None), ``foreign_sample`` (a file of
    another format, default None: the kit's own foreign files are always tried), ``max_row``
    (the sample's last source row, for binary formats whose rows the kit cannot count;
    default None).
    """

    @pytest.fixture
    def bad_sample(self) -> Any:
        """A source with a bad row, or None."""
        return None

    @pytest.fixture
    def foreign_sample(self) -> Any:
        """A file of another format (e.g. another adapter's sample), or None: the kit's own
        :data:`FOREIGN_SAMPLES` are always tried."""
        return None

    @pytest.fixture
    def structured(self) -> bool:
        """Whether the format is structured (XML/JSON): truncation must be a FormatError."""
        return False

    @pytest.fixture
    def expect_rows(self) -> int | None:
        """The exact ``rows_read`` of the sample, when the test knows it."""
        return None

    @pytest.fixture
    def max_row(self) -> int | None:
        """The last source row of the sample (e.g. a sheet's last row), when the test knows it."""
        return None

    def test_conformance_detection(self, format: str, sample: Any) -> None:
        """sniff accepts the sample; detection picks the adapter."""
        check_detection(format, sample)

    def test_conformance_load(
        self, format: str, sample: Any, expect_rows: int | None, max_row: int | None
    ) -> None:
        """The sample loads with the row-count invariant and 1-based row numbers."""
        check_load(format, sample, expect_rows=expect_rows, max_row=max_row)

    def test_conformance_empty(self, format: str) -> None:
        """An empty source is a FormatError."""
        check_empty(format)

    def test_conformance_foreign(self, format: str, foreign_sample: Any) -> None:
        """A file of another format is refused or warned about, never loaded quietly."""
        check_foreign(format, foreign_sample)

    def test_conformance_options(self, format: str, sample: Any) -> None:
        """Declared options; an unknown one is the core's FormatError listing the known."""
        check_options(format, sample)

    def test_conformance_option_names(self, format: str) -> None:
        """The one option vocabulary (chunk_size/chunksize, pupil_key/pupil_id)."""
        check_option_names(format)

    def test_conformance_pupils(self, format: str, sample: Any) -> None:
        """The pupils table keeps the one contract of columns and kinds."""
        check_pupils(format, sample)

    def test_conformance_truncated(self, format: str, sample: Any, structured: bool) -> None:
        """A truncated source never raises anything but AttendanceError."""
        check_truncated(format, sample, structured=structured)

    def test_conformance_random_bytes(self, format: str, sample: Any) -> None:
        """Random and mangled bytes raise only AttendanceError."""
        check_random_bytes(format, sample)

    def test_conformance_out_of_range_dates(self, format: str, sample: Any) -> None:
        """Marks dated 9999-12-31 and 0001-01-01 are rejected as date_out_of_range."""
        if not check_out_of_range_dates(format, sample):
            pytest.skip("the sample holds no mark's date as text (a binary format)")

    def test_conformance_bad_row(self, format: str, bad_sample: Any) -> None:
        """errors='raise' names row and column of the first bad row."""
        if bad_sample is None:
            pytest.skip("no bad_sample fixture")
        check_bad_row_raises(format, bad_sample)
