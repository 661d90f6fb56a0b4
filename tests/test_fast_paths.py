"""The fast paths give what the paths they replace gave: the same register, row for row.

Readers hand ``Register.from_long`` dictionary-encoded (categorical) columns instead of text
columns, and the generic readers take Arrow's dictionaries straight from Parquet and from the
CSV parser. Each test builds a register both ways from the same rows (text columns as before,
categorical columns as now; the csv module and pyarrow; CSV and Parquet of the same marks) and
compares everything: marks, date axis, pupils, schools, spans, code table and rejected rows.
"""

from __future__ import annotations

import io
import itertools
import warnings
from typing import Any

import attendance_core_generic._fastcsv as fastcsv
import attendance_core_generic.long as long_mod
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import attendance_core as ac
from attendance_core import _engine as engine
from attendance_core.register import Register


def assert_same_register(a: Register, b: Register) -> None:
    np.testing.assert_array_equal(a.marks, b.marks)
    np.testing.assert_array_equal(a.dates, b.dates)
    np.testing.assert_array_equal(a.pupil_ids.astype(str), b.pupil_ids.astype(str))
    if a.school_ids is None or b.school_ids is None:
        assert a.school_ids is None and b.school_ids is None
    else:
        np.testing.assert_array_equal(a.school_ids.astype(str), b.school_ids.astype(str))
    np.testing.assert_array_equal(a.span, b.span)
    assert a.codes == b.codes
    assert _records(a.rejected) == _records(b.rejected)


def _records(frame: pd.DataFrame) -> list[tuple[Any, ...]]:
    return [tuple(str(v) for v in row) for row in frame.itertuples(index=False)]


def _categorical(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    for column in out.columns:
        out[column] = out[column].astype("category")
    return out


def test_demo_school_categorical_equals_text() -> None:
    long, pupils = ac.demo.school()
    text = Register.from_long(long, pupils=pupils)
    coded = Register.from_long(_categorical(long), pupils=pupils)
    assert_same_register(text, coded)
    pd.testing.assert_frame_equal(ac.classify(text), ac.classify(coded))


def test_demo_trust_in_chunks_categorical_equals_text() -> None:
    """Several schools, streamed in chunks that cut runs of a pupil; long enough chunks for the
    run-length paths (more than 8,192 rows)."""
    frames = [
        ac.demo.school(seed=s, n_pupils=60, school_id=f"S{s}", names=False)[0] for s in range(3)
    ]
    long = pd.concat(frames, ignore_index=True)
    long.index = pd.RangeIndex(2, len(long) + 2)
    cuts = [0, 9_001, 30_000, len(long)]
    text = Register.from_long(
        [long.iloc[a:b] for a, b in itertools.pairwise(cuts)], errors="collect"
    )
    coded = Register.from_long(
        [_categorical(long.iloc[a:b]) for a, b in itertools.pairwise(cuts)],
        errors="collect",
    )
    assert_same_register(text, coded)


_PUPILS = st.sampled_from(["P1", "P2", " P2", "P3", "", "  ", None])
_DATES = st.sampled_from(
    ["2024-09-02", "2024-09-03", "2025-07-21", "2024-02-30", "02/09/2024", "", None, "x"]
)
_SESSIONS = st.sampled_from(["AM", "PM", "am", " pm", "X", "", None])
_CODES = st.sampled_from(["/", "\\", "L", "N", "-", "", "ZZ", "#", "J", "Y1", None])
_SCHOOLS = st.sampled_from(["S1", "S2"])


@st.composite
def long_frames(draw: Any) -> tuple[pd.DataFrame, list[int]]:
    n = draw(st.integers(min_value=1, max_value=60))
    rows = draw(
        st.lists(st.tuples(_SCHOOLS, _PUPILS, _DATES, _SESSIONS, _CODES), min_size=n, max_size=n)
    )
    frame = pd.DataFrame(rows, columns=["school_id", "pupil_id", "date", "session", "code"])
    frame = frame.astype(object)
    if draw(st.booleans()):
        frame = frame.drop(columns="school_id")
    frame.index = pd.Index(draw(st.permutations(range(1, n + 1))), dtype="int64")
    cuts = sorted(set(draw(st.lists(st.integers(0, n), max_size=3))) | {0, n})
    return frame, cuts


def _build(frame: pd.DataFrame, cuts: list[int], convert: Any) -> tuple[str, Any]:
    chunks = [convert(frame.iloc[a:b]) for a, b in itertools.pairwise(cuts)]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return "ok", Register.from_long(chunks, errors="collect")
    except ac.RegisterError as exc:
        return "error", (str(exc), exc.row, exc.column)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(long_frames())
def test_categorical_chunks_equal_text_chunks(case: tuple[pd.DataFrame, list[int]]) -> None:
    """Bad ids, dates, sessions and codes, missing values, duplicates, unordered row labels and
    chunks: a categorical column gives the register (or the error) a text column gives."""
    frame, cuts = case
    kind_t, text = _build(frame, cuts, lambda f: f)
    kind_c, coded = _build(frame, cuts, _categorical)
    assert kind_t == kind_c
    if kind_t == "error":
        assert text == coded
    else:
        assert_same_register(text, coded)


# -------------------------------------------------------------------------------- readers


def _csv_bytes(long: pd.DataFrame) -> bytes:
    out = long.copy()
    out["date"] = out["date"].dt.strftime("%d/%m/%Y")
    return out.rename(columns={"pupil_id": "Adno", "code": "Mark"}).to_csv(index=False).encode()


def _with_field(line: str, place: int, value: str) -> str:
    fields = line.split(",")
    fields[place] = value
    return ",".join(fields)


def _load(data: bytes, *, fast: bool, **options: Any) -> ac.LoadResult:
    saved = long_mod._fast_body
    if not fast:
        long_mod._fast_body = lambda *a, **k: None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return ac.load(data, format="generic-csv", **options)
    finally:
        long_mod._fast_body = saved


def _assert_same_load(a: ac.LoadResult, b: ac.LoadResult) -> None:
    assert_same_register(a.register, b.register)
    assert _records(a.rejected) == _records(b.rejected)
    assert a.rows_read == b.rows_read
    assert a.warnings == b.warnings
    pd.testing.assert_frame_equal(a.pupils, b.pupils)


@pytest.mark.parametrize("chunksize", [None, 7_000])
def test_load_csv_fast_equals_csv_module(
    chunksize: int | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Small blocks: the first ones proven and parsed by pyarrow (bad rows among them), the
    rest read by the csv module from the first block holding a blank line."""
    monkeypatch.setattr(fastcsv, "BLOCK_BYTES", 1 << 14)
    proven: list[bool] = []
    parse = fastcsv.FastBody._parse

    def counted(self: fastcsv.FastBody, buf: bytearray, end: int) -> Any:
        found = parse(self, buf, end)
        proven.append(found is not None)
        return found

    monkeypatch.setattr(fastcsv.FastBody, "_parse", counted)
    long, _ = ac.demo.school(n_pupils=40, names=False)
    body = _csv_bytes(long).decode().splitlines()
    # a bad date and an unknown code in proven blocks; then a short record (its block goes to
    # the csv module), a blank line, a quoted line break and another bad date
    body[3000] = _with_field(body[3000], 2, "31/02/2024")
    body[3300] = body[3300].rsplit(",", 1)[0] + ",QQ"
    body[9000] = "DEMO,DEMO-00001"
    body[9500] = ""
    body[10000] = body[10000].rsplit(",", 1)[0] + ',"/\n"'
    body[12000] = _with_field(body[12000], 2, "2025-13-01")
    data = ("\r\n".join(body) + "\r\n").encode()
    options = {} if chunksize is None else {"chunksize": chunksize}
    fast, slow = _load(data, fast=True, **options), _load(data, fast=False, **options)
    _assert_same_load(fast, slow)
    assert proven.count(True) > 10 and proven[-1] is False
    # the blank line is no row; "/\n" reads as "/"
    assert list(fast.rejected["row"]) == [3001, 3301, 9001, 12002]


def test_load_parquet_equals_csv() -> None:
    """The dictionary-reading Parquet path gives the register the CSV of the same marks gives,
    typed dates and text dates alike."""
    long, _ = ac.demo.school(n_pupils=30, names=False)
    table = pa.Table.from_pandas(long, preserve_index=False)
    typed = io.BytesIO()
    pq.write_table(table, typed)
    text = io.BytesIO()
    pq.write_table(
        table.set_column(2, "date", pa.array(long["date"].dt.strftime("%Y-%m-%d"))), text
    )
    from_csv = _load(_csv_bytes(long), fast=True).register
    for buffer in (typed, text):
        for chunksize in (None, 5_000):
            options = {} if chunksize is None else {"chunksize": chunksize}
            result = ac.load(buffer.getvalue(), format="generic-parquet", **options)
            assert_same_register(result.register, from_csv)


# -------------------------------------------------------------------------------- counting


def _trust() -> Register:
    frames = [
        ac.demo.school(seed=s, n_pupils=70, school_id=f"S{s}", names=False)[0] for s in range(3)
    ]
    return Register.from_long(pd.concat(frames, ignore_index=True))


@pytest.mark.parametrize("period", [(None, None), ("2024-10-01", "2025-02-14")])
def test_classify_on_threads_equals_classify_in_order(
    period: tuple[str | None, str | None], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Blocks of rows counted on several threads give the counts of one thread."""
    monkeypatch.setattr(engine, "CHUNK_BYTES", 1 << 14)  # a few rows a block: many blocks
    reg = _trust()
    start, end = period
    monkeypatch.setenv(engine.THREADS_ENV, "1")
    in_order = ac.classify(reg, start=start, end=end)
    monkeypatch.setenv(engine.THREADS_ENV, "4")
    assert engine.threads() == 4
    on_threads = ac.classify(reg, start=start, end=end)
    pd.testing.assert_frame_equal(in_order, on_threads)
    assert len(in_order) == 210 and in_order["possible"].sum() > 0


def test_each_block_raises_a_blocks_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(engine.THREADS_ENV, "3")
    done: list[int] = []

    def work(start: int) -> None:
        if start == 20:
            raise ValueError("block 20")
        done.append(start)

    with pytest.raises(ValueError, match="block 20"):
        engine.each_block(work, range(0, 50, 10))


def test_whole_register_index_is_shared_but_not_its_name() -> None:
    reg = _trust()
    first = reg.index()
    first.names = ["a", "b"]
    again = reg.index(np.arange(reg.n_enrolments))
    assert list(again.names) == ["school_id", "pupil_id"]
    assert again.equals(reg.index(np.arange(reg.n_enrolments)[::-1])[::-1])
    # a boolean mask is a selection, never "every enrolment"
    mask = np.zeros(reg.n_enrolments, dtype=bool)
    mask[1] = True
    assert len(reg.index(mask)) == 1


class _ChunkAdapter:
    """Yields one given chunk (text or categorical), for the core's field-length guard."""

    name = "test-fast-chunk"
    extensions = (".chunk",)
    description = "one chunk given by the test"
    chunk: pd.DataFrame = pd.DataFrame()

    def sniff(self, source: Any) -> bool:
        return False

    def read(self, source: Any, *, errors: str = "collect", **options: Any) -> Any:
        from attendance_core.adapters import AdapterOutput

        return AdapterOutput(marks=[type(self).chunk])


@pytest.mark.parametrize("errors", ["collect", "raise"])
def test_length_guard_on_categorical_equals_text(errors: str) -> None:
    rows = pd.DataFrame(
        {
            "pupil_id": ["P1", "P2" * 30, "P3", "P1"],
            "date": ["2024-09-02"] * 4,
            "session": ["AM", "AM", "AM", "PM"],
            "code": ["/", "/", "/" * 50, "\\"],
        },
        index=pd.Index([2, 3, 4, 5], dtype="int64"),
    )
    from attendance_core.adapters import register_adapter, unregister_adapter

    register_adapter(_ChunkAdapter.name, _ChunkAdapter, replace=True)
    try:
        seen = []
        for chunk in (rows, _categorical(rows)):
            _ChunkAdapter.chunk = chunk
            try:
                result = ac.load(
                    b"x", format=_ChunkAdapter.name, errors=errors, max_field_length=20
                )
                seen.append((_records(result.rejected), result.register.n_enrolments))
            except ac.RegisterError as exc:
                seen.append((str(exc), exc.row))
    finally:
        unregister_adapter(_ChunkAdapter.name)
    assert seen[0] == seen[1]
    if errors == "collect":
        assert [r[0] for r in seen[0][0]] == ["3", "4"]
