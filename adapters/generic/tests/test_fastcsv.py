"""The fast CSV path (pyarrow on proven blocks) against the csv-module reader, file for file.

Each file is read twice by ``generic-csv``: once as shipped (fast blocks, then the existing
reader from the first block it cannot prove) and once with the fast path switched off. Marks
(values, dtypes and source line numbers), rejected rows, warnings, pupils and source columns
must be identical. Small blocks force hand-overs in the middle of files.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterator
from typing import Any

import attendance_core_generic._fastcsv as fastcsv
import attendance_core_generic.long as long_mod
import pandas as pd
import pytest
from attendance_core_generic.long import GenericCsvAdapter
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from attendance_core.adapters import Source
from attendance_core.errors import RegisterError

HEADER = "School,UPN,Surname,Date,Session,Mark"


def _line(i: int, code: str = "/") -> str:
    pupil = f"A{800000000000 + i % 7:012d}"
    day = 2 + (i // 14) % 20
    return f"S1,{pupil},Name{i % 7},{day:02d}/09/2024,{'AM' if i % 2 else 'PM'},{code}"


def _clean(n: int, end: str = "\n") -> str:
    return end.join([HEADER, *(_line(i) for i in range(n))]) + end


def _read(data: bytes, *, fast: bool, errors: str = "collect", **options: Any) -> dict[str, Any]:
    saved = long_mod._fast_body
    if not fast:
        long_mod._fast_body = lambda *a, **k: None
    try:
        out = GenericCsvAdapter().read(Source.of(data), errors=errors, **options)
        chunks = list(out.marks)
    finally:
        long_mod._fast_body = saved
    marks = pd.concat(chunks) if chunks else pd.DataFrame()
    return {
        "marks": marks,
        "rejected": list(out.rejected),
        "warnings": list(out.warnings),
        "pupils": out.pupils,
        "columns": out.source_columns,
    }


def _same(data: bytes, **options: Any) -> dict[str, Any]:
    fast = _read(data, fast=True, **options)
    slow = _read(data, fast=False, **options)
    pd.testing.assert_frame_equal(fast["marks"], slow["marks"])
    assert fast["rejected"] == slow["rejected"]
    assert fast["warnings"] == slow["warnings"]
    assert fast["columns"] == slow["columns"]
    if slow["pupils"] is None:
        assert fast["pupils"] is None
    else:
        pd.testing.assert_frame_equal(fast["pupils"], slow["pupils"])
    return fast


@pytest.fixture(params=[1 << 23, 97, 1024], ids=["big-blocks", "tiny-blocks", "small-blocks"])
def block_bytes(request: pytest.FixtureRequest) -> Iterator[int]:
    saved = fastcsv.BLOCK_BYTES
    fastcsv.BLOCK_BYTES = request.param
    yield request.param
    fastcsv.BLOCK_BYTES = saved


def _with(text: str, at: int, extra: str) -> str:
    lines = text.split("\n")
    lines.insert(at, extra)
    return "\n".join(lines)


BODY = _clean(300)
CASES = {
    "clean": BODY,
    "crlf": _clean(300, "\r\n"),
    "no final newline": BODY.rstrip("\n"),
    "quoted fields": BODY.replace(",Name3,", ',"Name3",').replace(",Name5,", ',"Na""me5",'),
    "quoted line break": _with(BODY, 150, 'S1,A800000000001,"Two\nLines",03/09/2024,AM,/'),
    "quoted CRLF": _with(BODY, 40, 'S1,A800000000001,"Two\r\nLines",03/09/2024,AM,/'),
    "blank line": _with(BODY, 120, ""),
    "line of delimiters": _with(BODY, 200, ",,,,,"),
    "short record": _with(BODY, 70, "S1,A800000000002,Name,04/09/2024,AM"),
    "long record": _with(BODY, 70, "S1,A800000000002,Name,04/09/2024,AM,/,x,y"),
    "trailing empty fields": _with(BODY, 90, "S1,A800000000002,Name,04/09/2024,AM,/,,"),
    "missing id": _with(BODY, 33, "S1,,Name,04/09/2024,AM,/"),
    "bad date": _with(BODY, 250, "S1,A800000000002,Name,31/02/2024,AM,/"),
    "bad upn": _with(BODY, 10, "S1,NOTAUPN,Name,04/09/2024,AM,/"),
    "lone CR": _with(BODY, 60, "S1,A800000000002,Na\rme,04/09/2024,AM,/"),
    "open quote at the end": BODY + 'S1,A800000000002,"Name,04/09/2024,AM,/\n',
    "text after a closing quote": _with(BODY, 5, 'S1,A800000000002,"Na"me,04/09/2024,AM,/'),
    "title lines": "Attendance report\nPrinted 2024\n" + BODY,
    "NUL byte": _with(BODY, 80, "S1,A800000000002,Na\x00me,04/09/2024,AM,/"),
    "field over the limit": _with(BODY, 20, "S1,A800000000002," + "x" * 300 + ",04/09/2024,AM,/"),
    "semicolons": BODY.replace(",", ";"),
    "tabs": BODY.replace(",", "\t"),
}


@pytest.mark.parametrize("name", list(CASES))
@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp1252", "utf-16"])
def test_fast_and_csv_module_readers_agree(name: str, encoding: str, block_bytes: int) -> None:
    text = CASES[name].replace("Name1", "Zoë")
    _same(text.encode(encoding), chunksize=64, max_field_length=200)


def test_fast_path_is_taken_on_a_clean_file(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fast path really reads clean files (so the comparisons above compare two readers)."""
    calls: list[int] = []
    parse = fastcsv.FastBody._parse

    def counted(self: fastcsv.FastBody, buf: bytearray, end: int) -> Any:
        found = parse(self, buf, end)
        calls.append(found is not None)
        return found

    monkeypatch.setattr(fastcsv.FastBody, "_parse", counted)
    out = _same(CASES["quoted fields"].encode())
    assert calls and all(calls)
    assert out["marks"].index[0] == 2 and out["marks"].index[-1] == 301


def test_raise_mode_names_the_same_row() -> None:
    data = _with(BODY, 250, "S1,A800000000002,Name,31/02/2024,AM,/").encode()
    found = []
    for fast in (True, False):
        with pytest.raises(RegisterError) as info:
            _read(data, fast=fast, errors="raise")
        found.append((info.value.row, info.value.column, str(info.value)))
    assert found[0] == found[1]
    assert found[0][0] == 251


_PIECES = st.sampled_from(
    [
        "S1,A800000000003,Ann,05/09/2024,AM,/",
        "S1,A800000000004,Bob,05/09/2024,PM,N",
        'S2,A800000000005,"Quoted, with comma",06/09/2024,AM,L',
        'S2,A800000000005,"Two\nlines",06/09/2024,PM,/',
        "S2,A800000000006,Cy,2024-09-13,AM,#",
        "S2,A800000000006,Cy,13/13/2024,AM,/",
        "S3,,Dee,06/09/2024,AM,/",
        ",,,,,",
        "",
        "S3,A800000000007,Eve,06/09/2024",
        "S3,A800000000007,Eve,06/09/2024,AM,/,extra",
        'S3,A800000000008,Fay "F",09/09/2024,AM,/',
    ]
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(_PIECES, max_size=60),
    st.sampled_from(["\n", "\r\n"]),
    st.sampled_from([64, 200, 1 << 20]),
    st.booleans(),
)
def test_random_files_read_alike(pieces: list[str], end: str, block: int, bom: bool) -> None:
    saved = fastcsv.BLOCK_BYTES
    fastcsv.BLOCK_BYTES = block
    try:
        text = end.join([HEADER, *pieces]) + end
        data = (codecs.BOM_UTF8 if bom else b"") + text.encode()
        _same(data, chunksize=7)
    finally:
        fastcsv.BLOCK_BYTES = saved
