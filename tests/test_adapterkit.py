"""Tests of ``attendance_core.adapterkit``, the helpers shared by the adapters."""

from __future__ import annotations

import datetime as dt
import io
import json
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from dateutil import tz
from hypothesis import given
from hypothesis import strategies as st

from attendance_core import adapterkit as kit
from attendance_core.adapters import Source
from attendance_core.errors import FormatError, RegisterError

LONDON = tz.gettz("Europe/London")
_ALPHABET = "ABCDEFGHJKLMNPQRTUVWXYZ0123456789"


# -- rejected rows ----------------------------------------------------------------------------


def test_rejected_rows_collect_and_raise() -> None:
    rejected: list[dict[str, Any]] = []
    sink = kit.RejectedRows("f.json", "collect", rejected)
    sink.reject(3, "code", ["x"], "bad_code", "unknown code")
    sink.reject(4, "date", None, "bad_date", "no date")
    assert rejected == [
        {"row": 3, "column": "code", "value": "['x']", "reason": "bad_code"},
        {"row": 4, "column": "date", "value": None, "reason": "bad_date"},
    ]
    raising = kit.RejectedRows("f.json", "raise", [])
    with pytest.raises(RegisterError) as info:
        raising.reject(7, "code", "Q", "bad_code", "unknown code")
    assert info.value.row == 7
    assert info.value.column == "code"
    assert info.value.file == "f.json"
    with pytest.raises(ValueError, match="errors must be"):
        kit.RejectedRows("f.json", "ignore", [])


# -- JSON -------------------------------------------------------------------------------------


def test_parse_json_errors_name_file_and_line() -> None:
    warnings: list[str] = []
    assert kit.parse_json(b'\xef\xbb\xbf{"a": 1}', "p.json", warnings) == {"a": 1}
    assert warnings == []
    with pytest.raises(FormatError, match="empty file"):
        kit.parse_json(b"  \n", "p.json", warnings)
    with pytest.raises(FormatError) as info:
        kit.parse_json(b'{\n"a": ', "p.json", warnings)
    assert info.value.row == 2
    assert info.value.file == "p.json"


def test_decode_text_falls_back_with_a_warning() -> None:
    warnings: list[str] = []
    assert kit.decode_text("caf\xe9".encode("cp1252"), "p.json", warnings) == "caf\xe9"
    assert warnings == ["p.json: not UTF-8, read as cp1252/Latin-1"]


def test_read_json_source_folder_buffer_and_pages(tmp_path: Path) -> None:
    (tmp_path / "b.json").write_text(json.dumps({"page": 2}))
    (tmp_path / "a.json").write_text(json.dumps({"page": 1}))
    (tmp_path / "notes.txt").write_text("ignored")
    warnings: list[str] = []
    docs = kit.read_json_source(Source.of(tmp_path), warnings)
    assert [doc for _, doc in docs] == [{"page": 1}, {"page": 2}]
    buffer = kit.read_json_source(Source.of(io.BytesIO(b"[1, 2]")), warnings)
    assert [doc for _, doc in buffer] == [[1, 2]]
    pages = kit.read_json_source(Source.of([{"data": []}, {"data": [1]}]), warnings)
    assert [name for name, _ in pages] == ["<pages>[1]", "<pages>[2]"]
    (tmp_path / "a.json").unlink()
    (tmp_path / "b.json").unlink()
    with pytest.raises(FormatError, match=r"no \.json page files"):
        kit.read_json_source(Source.of(tmp_path), warnings)


def test_page_iterable_and_paths() -> None:
    assert kit.is_page_iterable({"data": []})
    assert kit.is_page_iterable([{}])
    for not_pages in ("x", b"x", Path("x"), io.BytesIO(b"")):
        assert not kit.is_page_iterable(not_pages)
    record = {"extended_details": {"data": {"upn": "A1"}}, "id": None}
    assert kit.get_path(record, "extended_details.upn") == "A1"
    assert kit.get_path(record, "extended_details.missing") is None
    assert kit.unwrap({"data": {"data": 5}}) == 5
    assert kit.unwrap({"data": 1, "meta": 2}) == {"data": 1, "meta": 2}
    assert kit.first_of(record, ["id", "extended_details.upn"]) == ("extended_details.upn", "A1")
    assert kit.first_of(record, ["nope"]) == (None, None)
    assert kit.has_any(record, ["id"])
    assert not kit.has_any(record, ["nope.id"])


def test_sequence_check_warns_only_when_no_page_is_last() -> None:
    pages = [("marks", "p1", {"last": False}), ("marks", "p2", {"last": False})]
    pages += [("pupils", "s1", {"last": True}), ("codes", "c1", {})]
    warnings = kit.sequence_check(pages, lambda meta: meta.get("last"))
    assert warnings == [
        "marks pages: every page says more pages follow; the export looks incomplete"
    ]


# -- values -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-09-02", dt.date(2024, 9, 2)),
        ("2024-09-02T08:45:00", dt.date(2024, 9, 2)),
        ({"date": "2024-09-02 00:00:00.000000"}, dt.date(2024, 9, 2)),
        ("02/09/2024", dt.date(2024, 9, 2)),
        ("02/09/2024 08:45", dt.date(2024, 9, 2)),
        ("31/12/9999 00:00:00", dt.date(9999, 12, 31)),
        (dt.datetime(2024, 9, 2, 9), dt.date(2024, 9, 2)),
        ("2024-02-30", None),
        ("31/02/2024", None),
        ("next tuesday", None),
        (20240902, None),
    ],
)
def test_parse_date(value: Any, expected: dt.date | None) -> None:
    assert kit.parse_date(value) == expected


def test_parse_date_moves_offsets_to_local_time() -> None:
    assert kit.parse_date("2024-09-01T23:00:00Z", local_tz=LONDON) == dt.date(2024, 9, 2)
    assert kit.parse_date("2024-09-01T23:00:00Z") == dt.date(2024, 9, 1)
    assert kit.parse_date("2024-09-01T23:00:00", local_tz=LONDON) == dt.date(2024, 9, 1)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("9999-12-31", "date_out_of_range"),
        ("0001-01-01T00:00:00", "date_out_of_range"),
        ({"date": "9999-12-31 08:45:00"}, "date_out_of_range"),
        ("31/12/9999", "date_out_of_range"),
        ("9999-12-31T23:00:00Z", "date_out_of_range"),  # moved to London: past year 9999
        ("1989-12-31", "date_out_of_range"),
        ("2100-01-01", "date_out_of_range"),
        ("2024-02-30", "bad_date"),
        ("next tuesday", "bad_date"),
        (None, "bad_date"),
    ],
)
def test_mark_date_holds_every_adapter_to_the_register_bounds(value: Any, reason: str) -> None:
    with pytest.raises(kit.RowProblem) as info:
        kit.mark_date(value, "date", local_tz=LONDON)
    assert (info.value.column, info.value.reason) == ("date", reason)
    shown = value.get("date") if isinstance(value, dict) else value
    assert info.value.value == shown


def test_checked_date_keeps_the_adapters_reason_for_what_is_no_date() -> None:
    assert kit.mark_date("1990-01-01", "d") == dt.date(1990, 1, 1)
    assert kit.checked_date(dt.date(2099, 12, 31), "x", "d") == dt.date(2099, 12, 31)
    # an adapter whose parser refuses years outside 1900..2199 still gets date_out_of_range
    with pytest.raises(kit.RowProblem, match="outside 1990-01-01") as info:
        kit.checked_date(None, "9999-12-31", "d", reason="bad_record", text="needs a start")
    assert info.value.reason == "date_out_of_range"
    # a real date the adapter refuses for its form (day-first in CTF) keeps the adapter's reason
    with pytest.raises(kit.RowProblem, match="needs a start") as info:
        kit.checked_date(None, "02/09/2024", "d", reason="bad_record", text="needs a start")
    assert info.value.reason == "bad_record"


def test_open_end_set_and_text_id() -> None:
    assert kit.open_end_set(["2079-06-06"]) == {dt.date(2079, 6, 6)}
    with pytest.raises(ValueError, match="not a date"):
        kit.open_end_set(["never"])
    assert kit.text_id(1234.0) == "1234"
    assert kit.text_id(12) == "12"
    assert kit.text_id(" A7 ") == "A7"
    for nothing in (None, True, float("nan"), "  ", [1]):
        assert kit.text_id(nothing) is None


@given(st.text(alphabet="0123456789", min_size=11, max_size=11), st.sampled_from(_ALPHABET))
def test_upn_check_letter_agrees_with_the_builtin_check(digits: str, last: str) -> None:
    rest = digits + last
    upn = kit.upn_check_letter(rest) + rest
    assert kit._upn_ok_builtin(upn)
    assert kit._upn_ok_builtin(upn.lower()[:5] + " " + upn[5:])
    wrong = next(c for c in "AB" if c != upn[0]) + rest
    assert not kit._upn_ok_builtin(wrong)


def test_upn_ok_agrees_with_stdnum_on_known_la_numbers() -> None:
    assert kit.upn_ok("B801200005001")  # python-stdnum's own example
    assert not kit.upn_ok("A801200005001")
    for rest in ("801200024001", "873400123015", "202300524101"):
        upn = kit.upn_check_letter(rest) + rest
        assert kit.upn_ok(upn) == kit._upn_ok_builtin(upn) is True


def test_upn_ok() -> None:
    rest = "801200000011"  # local authority 801 (Bristol), so python-stdnum accepts it too
    good = kit.upn_check_letter(rest) + rest
    assert kit.upn_ok(good)
    assert kit.upn_ok(good[:4] + " " + good[4:].lower())
    assert not kit.upn_ok(next(c for c in "AB" if c != good[0]) + rest)
    assert not kit.upn_ok(good[:-1])
    assert not kit._upn_ok_builtin("A80120000001I")


# -- frames -----------------------------------------------------------------------------------


def test_chunked_splits_and_indexes_by_source_row() -> None:
    rows = ((i, {"pupil_id": f"P{i}", "date": "2024-09-02"}) for i in range(1, 6))
    chunks = list(kit.chunked(rows, ["pupil_id", "date"], size=2))
    assert [len(c) for c in chunks] == [2, 2, 1]
    assert list(chunks[2].index) == [5]
    assert chunks[0]["date"].dtype.kind == "M"
    assert list(kit.chunked(iter([]), ["pupil_id"])) == []


def test_marks_frame_holds_objects() -> None:
    frame = kit.marks_frame([{"pupil_id": "P1", "code": "/"}], [9])
    assert list(frame.index) == [9]
    assert frame.index.dtype == "int64"
    assert all(dtype == "object" for dtype in frame.dtypes)


def test_pupils_frame_from_dict() -> None:
    rows = {"P1": {"upn": "A1", "date_of_birth": "2015-01-02"}}
    frame = kit.pupils_frame(rows, ["upn", "date_of_birth"])
    assert frame.index.name == "pupil_id"
    assert frame.loc["P1", "date_of_birth"] == pd.Timestamp("2015-01-02")
    empty = kit.pupils_frame({}, ["upn"])
    assert empty.empty
    assert list(empty.columns) == ["upn"]


def test_pupils_from_records_types_and_dedupe() -> None:
    records = [
        {"pupil_id": "P1", "upn": "A1", "temp": True, "date_of_birth": "2015-01-02"},
        {"pupil_id": "P1", "upn": "B2", "temp": False, "date_of_birth": None},
        {"pupil_id": "P2", "upn": None, "temp": None, "date_of_birth": None},
    ]
    columns = ["pupil_id", "upn", "temp", "date_of_birth"]
    frame = kit.pupils_from_records(records, columns, text=("upn",), flags=("temp",), dedupe=True)
    assert list(frame.index) == ["P1", "P2"]
    assert frame["upn"].dtype == object
    assert frame.index.dtype == object
    assert str(frame["temp"].dtype) == "boolean"
    assert frame["date_of_birth"].dtype.kind == "M"
    assert frame.loc["P1", "upn"] == "A1"
    assert len(kit.pupils_from_records(records, columns)) == 3


# -- XML --------------------------------------------------------------------------------------

_XML = b"""<?xml version="1.0"?>
<Root xmlns="urn:x">
  <Pupil UPN="A1">
    <Name>Ann</Name>
    <Mark><Mark>/</Mark></Mark>
  </Pupil>
</Root>
"""


def test_parse_xml_lines_names_and_lookups() -> None:
    doc = kit.parse_xml(_XML, "f.xml")
    assert kit.local_name(doc.root.tag) == "root"
    assert kit.local_name_as_written(doc.root.tag) == "Root"
    pupil = next(kit.iter_named(doc.root, frozenset({"pupil"})))
    assert doc.line(pupil) == 3
    assert kit.child_text(pupil, frozenset({"upn"}))[:2] == ("A1", "UPN")
    value, written, holder = kit.child_text(pupil, frozenset({"name"}))
    assert (value, written, doc.line(holder)) == ("Ann", "Name", 4)
    assert kit.child_text(pupil, frozenset({"nope"}))[:2] == (None, None)
    marks = list(kit.iter_named(doc.root, frozenset({"mark"})))
    assert len(marks) == 1  # the inner <Mark> is a field of the outer one
    assert kit.local_name(None) == ""


def test_parse_xml_reencodes_non_utf8_with_a_note() -> None:
    doc = kit.parse_xml(
        '<?xml version="1.0" encoding="UTF-8"?><a>caf\xe9</a>'.encode("cp1252"), "f"
    )
    assert doc.root.text == "caf\xe9"
    assert doc.notes == ("the file declares UTF-8 but is not; read as cp1252",)
    latin = kit.parse_xml(
        '<?xml version="1.0" encoding="ISO-8859-1"?><a>\xe9</a>'.encode("latin-1"), "f"
    )
    assert latin.root.text == "\xe9"
    assert latin.notes == ()


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (b"", "empty file"),
        (b"<a><b></a>", "not well-formed"),
        (b'<?xml version="1.0" encoding="x-nope"?><a/>', "unknown XML encoding"),
        (
            b'<?xml version="1.0"?>\n<!DOCTYPE a [<!ENTITY e "x">]>\n<a>&e;</a>',
            "refused for safety",
        ),
        (b'<!DOCTYPE a SYSTEM "file:///etc/passwd"><a/>', "refused for safety"),
    ],
)
def test_parse_xml_refuses_bad_and_unsafe_input(data: bytes, match: str) -> None:
    with pytest.raises(FormatError, match=match) as info:
        kit.parse_xml(data, "f.xml")
    assert info.value.file == "f.xml"


def test_row_problem_recorded_or_raised() -> None:
    rejected: list[dict[str, Any]] = []
    sink = kit.RejectedRows("f.xml", "collect", rejected)
    problem = kit.RowProblem("Mark", "x" * 50, "bad_code", "unknown mark")
    sink.record(12, problem)
    sink.record(13, problem, limit=10)
    assert rejected[0] == {"row": 12, "column": "Mark", "value": "x" * 50, "reason": "bad_code"}
    assert rejected[1]["value"] == "xxxxxxx..."
    with pytest.raises(RegisterError, match="unknown mark") as info:
        kit.RejectedRows("f.xml", "raise", []).record(5, problem)
    assert (info.value.row, info.value.column) == (5, "Mark")
    assert info.value.__suppress_context__


def test_shorten_and_lower_names() -> None:
    assert kit.shorten("a" * 41) == "a" * 37 + "..."
    assert kit.shorten("a" * 40) == "a" * 40
    assert kit.shorten(12345, 2) == 12345
    assert kit.lower_names(["UPN", "Upn", 7]) == frozenset({"upn", "7"})


def test_check_read_args() -> None:
    kit.check_read_args("x-fmt", "f", "collect", {"school_id": 1}, {"school_id"})
    with pytest.raises(ValueError, match="errors must be"):
        kit.check_read_args("x-fmt", "f", "ignore", {}, ())
    with pytest.raises(FormatError, match="x-fmt: unknown option\\(s\\) zap; known: a, b"):
        kit.check_read_args("x-fmt", "f", "raise", {"zap": 1, "a": 2}, ("b", "a"))


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (b'\xef\xbb\xbf<?xml version="1.0"?>\n<!-- c --><ns:CTfile xmlns:ns="x">', "ctfile"),
        (b'<!DOCTYPE x><?pi a?>\n<Message attr="1">', "message"),
        (b"<!-- never closed", None),
        (b"plain text", None),
        (b"< notatag", None),
    ],
)
def test_xml_root_name(head: bytes, expected: str | None) -> None:
    assert kit.xml_root_name(head) == expected


def _student(i: int, **fields: Any) -> dict[str, Any]:
    base = {"_where": f"student record {i}", "id": f"S{i}", "upn": None, "mis_id": None}
    return {**base, **fields}


def test_choose_pupil_key() -> None:
    warnings: list[str] = []
    both = [_student(1, upn="U1", mis_id="M1"), _student(2, upn="U2", mis_id="M2")]
    assert kit.choose_pupil_key(both, "auto", warnings) == "upn"
    assert warnings == []
    some = [_student(1, upn="U1", mis_id="M1"), _student(2, mis_id="M2")]
    assert kit.choose_pupil_key(some, "auto", warnings, hint=" (scope?)") == "mis_id"
    assert warnings == ["not every student has a UPN (scope?): pupils are keyed on mis_id"]
    assert kit.choose_pupil_key([_student(1)], "auto", []) == "id"
    assert kit.choose_pupil_key([], "auto", warnings) == "id"
    assert kit.choose_pupil_key(some, "upn", []) == "upn"
    assert len(warnings) == 1


def test_key_pupils() -> None:
    warnings: list[str] = []
    records = [
        _student(1, upn="U1", name=None),
        _student(2, upn=None, name=None),
        _student(3, upn="U1", name=None),
        _student(4, upn="U4", name=None, id=None),
    ]
    key_of, unkeyed, frame = kit.key_pupils(
        records, "upn", warnings, fields=("upn", "name"), id_column="src_id", school_id="100"
    )
    assert key_of == {"S1": "U1", "S3": "U1"}
    assert unkeyed == {"S2": "upn"}
    assert list(frame.index) == ["U1", "U4"]
    assert list(frame.columns) == ["school_id", "upn", "src_id"]  # name holds nothing
    assert frame.loc["U1", "src_id"] == "S1"
    assert warnings == [
        "student record 2: no upn; its marks are rejected",
        "student record 3: upn repeats another student's; kept the first",
    ]


def test_totals_frame_columns_and_dtypes() -> None:
    record = {"pupil_id": "P1", "school_id": "100", "start": "2024-09-02", "end": "2025-07-18"}
    record |= {"possible": 10, "attended": 8, "authorised": 1, "unauthorised": 1}
    frame = kit.totals_frame([record])
    assert tuple(frame.columns) == kit.TOTAL_COLUMNS
    assert frame["pupil_id"].dtype == object
    assert frame["start"].dtype.kind == "M"
    assert str(frame["possible"].dtype) == "int64"
    wider = kit.totals_frame(
        [record | {"period": "Autumn", "reason_I": None}],
        extra=["period", "reason_I"],
        text=("pupil_id", "period"),
        counts=["reason_I"],
        count_dtype="Int64",
    )
    assert list(wider.columns)[-2:] == ["period", "reason_I"]
    assert str(wider["reason_I"].dtype) == "Int64"
    assert wider["reason_I"].isna().all()
    # school_id is not among `text`: it keeps pandas' own default for text (object before
    # pandas 3, its string dtype from 3)
    assert wider["school_id"].dtype == pd.DataFrame({"t": ["100"]})["t"].dtype


def test_row_list() -> None:
    assert kit.row_list([3, 8]) == "3, 8"
    assert kit.row_list(list(range(1, 14))) == "1, 2, 3, 4, 5, 6, 7, 8, 9, 10 and 3 more"
    assert kit.row_list([1, 2, 3], limit=2) == "1, 2 and 1 more"
    assert kit.row_list([]) == ""


def test_sniff_helpers(tmp_path: Path) -> None:
    for name in ("b.JSON", "a.json", "c.txt"):
        (tmp_path / name).write_text("{}")
    (tmp_path / "d.json").mkdir()
    assert [p.name for p in kit.page_files(tmp_path)] == ["a.json", "b.JSON"]
    source = Source.of(b"x" * 5000 + b"END")
    assert kit.tail(source, 3) == b"END"
    assert len(kit.tail(source)) == 4096
    assert kit.tail(Source.of(b"ab"), 10) == b"ab"

    def looks(obj: Any) -> bool:
        return isinstance(obj, dict) and "data" in obj

    assert kit.sniff_page_objects({"data": 1}, looks)
    assert kit.sniff_page_objects([{"data": 1}, {}], looks)
    assert not kit.sniff_page_objects([], looks)
    assert not kit.sniff_page_objects("data", looks)
    seen: list[Any] = []

    def record(obj: Any) -> bool:
        seen.append(obj)
        return False

    assert not kit.sniff_page_objects([{"x": 1}], record)
    assert seen == [{"x": 1}, [{"x": 1}]]
    seen.clear()
    assert not kit.sniff_page_objects([{"x": 1}], record, whole=False)
    assert seen == [{"x": 1}]


def test_package_toml_and_toml_option(tmp_path: Path) -> None:
    table = kit.package_toml("attendance_core_ctf", "aliases.toml")
    assert "records" in table
    with pytest.raises(ValueError, match="__package__"):
        kit.package_toml(None, "aliases.toml")
    assert kit.toml_option(None) is None
    given = {"records": {"pupil": ["Kid"]}}
    assert kit.toml_option(given) is given
    good = tmp_path / "extra.toml"
    good.write_text('[records]\npupil = ["Kid"]\n', encoding="utf-8")
    assert kit.toml_option(str(good)) == given
    bad = tmp_path / "bad.toml"
    bad.write_text("[records\n", encoding="utf-8")
    with pytest.raises(FormatError, match="cannot read the symbol map") as info:
        kit.toml_option(bad, "symbol map")
    assert info.value.file == "bad.toml"
    with pytest.raises(FormatError, match="FileNotFoundError"):
        kit.toml_option(tmp_path / "missing.toml")


def test_upn_ok_without_python_stdnum(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "stdnum.gb", None)  # the import now fails
    rest = "801200000011"
    good = kit.upn_check_letter(rest) + rest
    assert kit.upn_ok(good)
    assert not kit.upn_ok("B" + rest if good[0] != "B" else "A" + rest)
    assert kit.upn_ok(kit.upn_check_letter("999200000011") + "999200000011")  # no LA check


def test_mark_row() -> None:
    day = dt.date(2024, 9, 2)
    assert kit.mark_row("P1", day, "AM", "/") == {
        "pupil_id": "P1",
        "date": "2024-09-02",
        "session": "AM",
        "code": "/",
    }
    assert kit.mark_row("P1", day, "PM", "L", "100")["school_id"] == "100"
    assert kit.mark_row("P1", day, "PM", "L", None, with_school=True)["school_id"] is None
    assert "school_id" not in kit.mark_row("P1", day, "PM", "L", "100", with_school=False)


def test_merge_aliases_puts_the_callers_names_first():
    from attendance_core.adapterkit import merge_aliases

    ours = {"pupil": {"upn": ["UPN"], "name": ["Forename"]}}
    extra = {"pupil": {"upn": ["PupilUPN"], "year": ["NCYear"]}}
    merged = merge_aliases(ours, extra, "pupil")
    assert merged == {"upn": ["PupilUPN", "UPN"], "name": ["Forename"], "year": ["NCYear"]}
    assert merge_aliases(ours, None, "school") == {}


# -- one option vocabulary ----------------------------------------------------------------------


def test_chunk_size_is_one_option_with_one_alias() -> None:
    assert kit.chunk_size({}) == kit.CHUNK_ROWS
    assert kit.chunk_size({"chunk_size": 7}) == 7
    assert kit.chunk_size({"chunksize": 9}) == 9
    for bad in (0, -1, 2.5, "10", True):
        with pytest.raises(ValueError, match="at least 1"):
            kit.chunk_size({"chunk_size": bad})
    with pytest.raises(ValueError, match="not both"):
        kit.chunk_size({"chunk_size": 7, "chunksize": 7})


@pytest.mark.parametrize("name", sorted(kit.CHUNK_OPTIONS))
def test_every_file_adapter_takes_both_chunk_option_names(name: str) -> None:
    """generic, SIMS, Arbor and CTF name the rows per chunk the same way."""
    from attendance_core.adapters import get_adapter

    for adapter_name in ("generic-csv", "generic-parquet", "sims-xml", "arbor-json", "ctf-xml"):
        assert name in get_adapter(adapter_name).options, adapter_name


def test_pupil_key_is_one_option_with_one_alias() -> None:
    allowed = ("auto", "upn", "mis_id")
    assert kit.pupil_key_option({}, allowed) == "auto"
    assert kit.pupil_key_option({"pupil_key": "upn"}, allowed) == "upn"
    assert kit.pupil_key_option({"pupil_id": "mis_id"}, allowed) == "mis_id"
    with pytest.raises(FormatError, match="pupil_key must be one of auto, upn, mis_id"):
        kit.pupil_key_option({"pupil_key": "adno"}, allowed)
    with pytest.raises(FormatError, match="not both"):
        kit.pupil_key_option({"pupil_key": "upn", "pupil_id": "upn"}, allowed)


def test_a_bad_option_value_reaches_the_caller_with_its_message(tmp_path: Path) -> None:
    """Not rewrapped as 'could not read the source (ValueError)': the caller's fault is named."""
    import attendance_core as ac

    path = tmp_path / "marks.csv"
    path.write_text("pupil_id,date,session,code\nA1,2024-09-02,AM,/\n", encoding="utf-8")
    with pytest.raises(FormatError, match="chunk_size must be a whole number of at least 1"):
        ac.load(path, chunk_size=0)
    with pytest.raises(FormatError, match="pupil_key must be one of"):
        ac.load(path, pupil_key="adno")
    assert len(ac.load(path, pupil_key="auto", chunk_size=1).register.pupil_ids) == 1
