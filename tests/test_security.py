"""What SECURITY.md promises, tested: hostile XML and JSON refused, limits, atomic writes,
formula neutralisation, HTML escaping, and no pupil names in messages, warnings or logs."""

from __future__ import annotations

import ast
import io
import json
import logging
import os
import re
import socket
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

import attendance_core as ac
from attendance_core import io as acio
from attendance_core import reports as ac_reports
from attendance_core.adapters import get_adapter
from attendance_core.errors import AttendanceError, FormatError

ROOT = Path(__file__).resolve().parents[1]
ADAPTER_DATA = sorted(ROOT.glob("adapters/*/tests/data"))
SECRET_NAME = "Zebedee Secretname"
SECRET_DOB = "2012-02-29"
SECRET_MARKER = "TOP-SECRET-MARKER-6a1f"
#: A request over the network is a failure: the library never needs one.
NO_NETWORK = "the library tried to open a network connection"


def installed_with_extension(ext: str) -> list[str]:
    names = []
    for name in ac.formats():
        try:
            adapter = get_adapter(name)
        except AttendanceError:
            continue
        if ext in adapter.extensions:
            names.append(name)
    return names


XML_FORMATS = installed_with_extension(".xml")
JSON_FORMATS = installed_with_extension(".json")
CSV_FORMATS = [n for n in installed_with_extension(".csv") if n == "generic-csv"]


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    """Fail any attempt to connect anywhere; yields the list of attempts."""
    attempts: list[Any] = []

    def refuse(self: socket.socket, address: Any) -> None:
        attempts.append(address)
        raise OSError(NO_NETWORK)

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    yield attempts
    assert not attempts, NO_NETWORK


def load_quickly(data: bytes | Path, fmt: str | None, seconds: float = 5.0, **kw: Any) -> Any:
    start = time.perf_counter()
    try:
        return ac.load(data, format=fmt, **kw)
    finally:
        assert time.perf_counter() - start < seconds, "took too long: not refused early"


# ---------------------------------------------------------------------------- hostile XML
BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<Attendance><Pupil><Name>&lol9;</Name></Pupil></Attendance>
"""


def quadratic_blowup() -> bytes:
    entity = "x" * 50_000
    body = "&a;" * 50_000
    return (
        f'<?xml version="1.0"?>\n<!DOCTYPE r [<!ENTITY a "{entity}">]>\n'
        f"<Attendance><Pupil><Name>{body}</Name></Pupil></Attendance>"
    ).encode()


def external_entity(secret: Path) -> bytes:
    return (
        f'<?xml version="1.0"?>\n<!DOCTYPE r [<!ENTITY x SYSTEM "file://{secret}">]>\n'
        "<Attendance><Pupil><UPN>A1</UPN><Name>&x;</Name></Pupil></Attendance>"
    ).encode()


def parameter_entity(secret: Path) -> bytes:
    return (
        f'<?xml version="1.0"?>\n<!DOCTYPE r [<!ENTITY % p SYSTEM "file://{secret}"> %p;]>\n'
        "<Attendance/>"
    ).encode()


EXTERNAL_DTD = (
    b'<?xml version="1.0"?>\n<!DOCTYPE Attendance SYSTEM "http://127.0.0.1:9/evil.dtd">\n'
    b"<Attendance/>"
)
REMOTE_ENTITY = (
    b'<?xml version="1.0"?>\n<!DOCTYPE r [<!ENTITY x SYSTEM "http://127.0.0.1:9/x">]>\n'
    b"<Attendance><Name>&x;</Name></Attendance>"
)


@pytest.fixture
def secret_file(tmp_path: Path) -> Path:
    path = tmp_path / "secret.txt"
    path.write_text(SECRET_MARKER)
    return path


def hostile_xml(secret: Path) -> dict[str, bytes]:
    return {
        "billion_laughs": BILLION_LAUGHS,
        "quadratic_blowup": quadratic_blowup(),
        "external_entity": external_entity(secret),
        "parameter_entity": parameter_entity(secret),
        "external_dtd": EXTERNAL_DTD,
        "remote_entity": REMOTE_ENTITY,
    }


@pytest.mark.skipif(not XML_FORMATS, reason="no XML adapter installed")
@pytest.mark.parametrize("fmt", XML_FORMATS)
@pytest.mark.parametrize(
    "attack",
    [
        "billion_laughs",
        "quadratic_blowup",
        "external_entity",
        "parameter_entity",
        "external_dtd",
        "remote_entity",
    ],
)
def test_hostile_xml_refused_quickly(
    fmt: str, attack: str, secret_file: Path, no_network: list[Any]
) -> None:
    data = hostile_xml(secret_file)[attack]
    with pytest.raises(FormatError) as info:
        load_quickly(data, fmt, seconds=5.0)
    assert SECRET_MARKER not in str(info.value)
    assert len(str(info.value)) < 500


@pytest.mark.skipif(not XML_FORMATS, reason="no XML adapter installed")
def test_hostile_xml_refused_by_detection_too(secret_file: Path, no_network: list[Any]) -> None:
    for name, data in hostile_xml(secret_file).items():
        with pytest.raises(FormatError):
            load_quickly(data, None, seconds=5.0)
        assert name


@pytest.mark.skipif(not XML_FORMATS, reason="no XML adapter installed")
@pytest.mark.parametrize("fmt", XML_FORMATS)
def test_xinclude_never_followed(fmt: str, secret_file: Path, no_network: list[Any]) -> None:
    data = (
        '<?xml version="1.0"?>\n<Attendance xmlns:xi="http://www.w3.org/2001/XInclude">'
        f'<xi:include href="file://{secret_file}" parse="text"/></Attendance>'
    ).encode()
    try:
        result = load_quickly(data, fmt)
    except AttendanceError as exc:
        message = str(exc)
        result = None
    else:
        message = result.pupils.to_csv() + result.register.to_long().to_csv()
    assert SECRET_MARKER not in message
    if result is None:
        return
    assert SECRET_MARKER not in result.pupils.to_csv()
    assert SECRET_MARKER not in result.register.to_long().to_csv()


@pytest.mark.skipif(not XML_FORMATS, reason="no XML adapter installed")
@pytest.mark.parametrize("fmt", XML_FORMATS)
@pytest.mark.parametrize("depth", [1_000, 100_000])
def test_deep_xml_never_crashes(fmt: str, depth: int) -> None:
    data = b'<?xml version="1.0"?>\n' + b"<a>" * depth + b"x" + b"</a>" * depth
    try:
        result = load_quickly(data, fmt, seconds=20.0)
    except AttendanceError:
        return
    assert result.rows_read == len(result.register.to_long()) + len(result.rejected)


# ---------------------------------------------------------------------------- hostile JSON
def hostile_json() -> dict[str, bytes]:
    return {
        "deep_arrays": b"[" * 100_000 + b"]" * 100_000,
        "deep_objects": b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
        "huge_integer": b'{"data": [{"id": ' + b"9" * 100_000 + b"}]}",
        "nan_literals": b'{"data": [{"id": NaN, "date": Infinity}]}',
        "lone_surrogate": b'{"data": [{"id": "\\ud800", "name": "\\udfff"}]}',
        "duplicate_keys": b'{"data": [], "data": {"x": 1}}',
        "wrong_types": b'{"data": [1, "x", null, true, [], {"date": {"x": []}}]}',
        "utf16": '{"data": []}'.encode("utf-16"),
    }


@pytest.mark.skipif(not JSON_FORMATS, reason="no JSON adapter installed")
@pytest.mark.parametrize("fmt", JSON_FORMATS)
@pytest.mark.parametrize("attack", sorted(hostile_json()))
def test_hostile_json_never_crashes(fmt: str, attack: str) -> None:
    """Only AttendanceError, from load and from the adapter on its own."""
    from attendance_core.testing import drain

    data = hostile_json()[attack]
    for run in (lambda: load_quickly(data, fmt, seconds=20.0), lambda: drain(fmt, data)):
        try:
            result = run()
        except AttendanceError as exc:
            message = str(exc)
            assert len(message) < 2000
            continue
        if hasattr(result, "rows_read"):
            assert result.rows_read == len(result.register.to_long()) + len(result.rejected)


# ---------------------------------------------------------------------------- limits
def long_csv(rows: int = 4, code: str = "/") -> bytes:
    lines = ["pupil_id,date,session,code"]
    for i in range(rows):
        lines.append(f"P{i},2024-09-02,AM,{code}")
    return ("\n".join(lines) + "\n").encode()


@pytest.mark.skipif(not CSV_FORMATS, reason="generic-csv not installed")
def test_file_size_limit_refuses_and_can_be_raised(tmp_path: Path) -> None:
    path = tmp_path / "marks.csv"
    path.write_bytes(long_csv(50))
    size = path.stat().st_size
    with pytest.raises(FormatError, match="over the limit") as info:
        ac.load(path, format="generic-csv", max_file_size=size - 1)
    assert "max_file_size" in str(info.value)
    result = ac.load(path, format="generic-csv", max_file_size=size)
    assert result.rows_read == 50
    with pytest.raises(FormatError, match="over the limit"):
        ac.load(path.read_bytes(), format="generic-csv", max_file_size=10)


@pytest.mark.skipif(not CSV_FORMATS, reason="generic-csv not installed")
def test_field_length_limit_rejects_the_row_not_the_file() -> None:
    data = long_csv(3) + b"P9,2024-09-03,AM," + b"X" * 5000 + b"\n"
    result = ac.load(data, format="generic-csv")
    assert result.rows_read == len(result.register.to_long()) + len(result.rejected)
    bad = result.rejected[result.rejected["row"] == 5]
    assert list(bad["reason"]) == ["field_too_long"]
    assert all(len(str(v)) <= 100 for v in result.rejected["value"])
    with pytest.raises(ac.RegisterError) as info:
        ac.load(data, format="generic-csv", errors="raise")
    assert "X" * 100 not in str(info.value)
    raised = ac.load(data, format="generic-csv", max_field_length=10_000)
    assert "field_too_long" not in set(raised.rejected["reason"])


def test_default_limits_are_documented() -> None:
    from attendance_core import adapters

    assert adapters.DEFAULT_MAX_FILE_SIZE == 2 * 1024**3
    assert adapters.DEFAULT_MAX_FIELD_LENGTH == 1024
    text = (ROOT / "SECURITY.md").read_text(encoding="utf-8")
    assert "max_file_size" in text
    assert "max_field_length" in text


# ---------------------------------------------------------------------------- atomic writes
def test_atomic_write_replaces_whole_file(tmp_path: Path) -> None:
    target = tmp_path / "out" / "report.csv"
    acio.write_text_atomic(target, "a,b\n1,2\n")
    assert target.read_text() == "a,b\n1,2\n"
    acio.write_bytes_atomic(target, b"new")
    assert target.read_bytes() == b"new"
    assert [p.name for p in target.parent.iterdir()] == ["report.csv"]


def test_crash_while_writing_leaves_old_file_and_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "report.html"
    target.write_text("old report")

    def write_half() -> None:
        with acio.atomic_open(target, "w", encoding="utf-8") as fh:
            fh.write("<html>half a rep")
            raise RuntimeError("crash half-way")

    with pytest.raises(RuntimeError):
        write_half()
    assert target.read_text() == "old report"
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]


def test_failed_rename_leaves_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "t.csv"
    target.write_text("old")

    def broken(*_a: Any, **_k: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(acio.os, "replace", broken)
    with pytest.raises(OSError, match="disk full"):
        acio.write_text_atomic(target, "new")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["t.csv"]


def test_to_csv_is_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "bands.csv"
    target.write_text("previous")

    class Boom(Exception):
        pass

    def explode(*_a: Any, **_k: Any) -> None:
        raise Boom

    monkeypatch.setattr(pd.DataFrame, "to_csv", explode)
    with pytest.raises(Boom):
        ac.to_csv(pd.DataFrame({"a": [1]}), target)
    assert target.read_text() == "previous"
    assert [p.name for p in tmp_path.iterdir()] == ["bands.csv"]


@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
def test_atomic_write_permissions(tmp_path: Path) -> None:
    fresh = tmp_path / "fresh.csv"
    acio.write_text_atomic(fresh, "x")
    umask = os.umask(0o022)
    os.umask(umask)
    assert fresh.stat().st_mode & 0o777 == 0o666 & ~umask
    private = tmp_path / "private.csv"
    private.write_text("x")
    private.chmod(0o600)
    acio.write_text_atomic(private, "y")
    assert private.stat().st_mode & 0o777 == 0o600


def test_atomic_open_refuses_read_and_append_modes(tmp_path: Path) -> None:
    for mode in ("r", "a", "w+", "r+b"):
        with pytest.raises(ValueError, match="mode"), acio.atomic_open(tmp_path / "x", mode):
            pass


def test_atomic_path_refuses_a_folder(tmp_path: Path) -> None:
    with pytest.raises(IsADirectoryError):
        acio.write_text_atomic(tmp_path, "x")


# ---------------------------------------------------------------------------- formula injection
DANGEROUS = [
    "=1+1",
    "+1",
    "-1",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(A1:A2)",
    "\t=1",
    "\r=1",
    '=HYPERLINK("http://x","y")',
]
#: Values that become a formula only if a line break inside them is not quoted.
SPLIT = ["x\r=1+1", "x\n=1+1", "x\r\n@SUM(A1)"]


@pytest.mark.parametrize("value", DANGEROUS)
def test_neutralise_each_formula_start(value: str) -> None:
    out = acio.neutralise(value)
    assert out.startswith("'")
    assert out.replace("'", "") == value.replace("'", "")
    for line in re.split(r"[\r\n]", out):
        assert not line.startswith(("=", "+", "-", "@", "\t", "\r"))


def _hides_formula(line: str) -> bool:
    """A formula start after any run of spaces and control/format characters (issue 19: a
    leading NUL hid ``=HYPERLINK(...)`` from a first-character check)."""
    import unicodedata

    rest = line
    while rest and (rest[0].isspace() or unicodedata.category(rest[0]).startswith("C")):
        rest = rest[1:]
    return rest.startswith(("=", "+", "-", "@"))


@given(st.text())
def test_neutralise_property(value: str) -> None:
    out = acio.neutralise(value)
    starts = ("=", "+", "-", "@", "\t", "\r")
    # no line of the result starts a formula, even behind a prefix of controls or spaces,
    # and removing the added apostrophes gives the value
    for line in re.split(r"[\r\n]", out):
        assert not line.startswith(starts)
        assert not _hides_formula(line)
    if not re.search(r"[\r\n]", value):
        dangerous = value.startswith(starts) or _hides_formula(value)
        assert out == ("'" + value if dangerous else value)
    assert out.replace("'", "") == value.replace("'", "")


@pytest.mark.parametrize(
    "value",
    ["\x00=HYPERLINK(1)", " =1", "\x00\x01\x1f@SUM(A1)", "\u200b+1", "\ufeff-2+3", "x\n\x00=1"],
)
def test_neutralise_formula_behind_control_characters(value: str) -> None:
    out = acio.neutralise(value)
    for line in re.split(r"[\r\n]", out):
        assert not _hides_formula(line), out


def test_neutralise_leaves_non_text_alone() -> None:
    for value in (-3, 2.5, None, np.nan, pd.Timestamp("2024-09-02"), True):
        assert acio.neutralise(value) is value


def test_neutralise_frame_everywhere() -> None:
    frame = pd.DataFrame(
        {
            "name": DANGEROUS,
            "=col": list(range(len(DANGEROUS))),
            "band": pd.Categorical(["@x", "ok"] * (len(DANGEROUS) // 2)),
        },
        index=pd.Index([f"=id{i}" for i in range(len(DANGEROUS))], name="@pupil"),
    )
    out = acio.neutralise_frame(frame)
    assert all(v.startswith("'") for v in out["name"])
    assert list(out["'=col"]) == list(range(len(DANGEROUS)))  # numbers untouched
    assert set(out["band"].astype(str)) == {"'@x", "ok"}
    assert all(v.startswith("'=") for v in out.index)
    assert out.index.name == "'@pupil"
    pd.testing.assert_frame_equal(frame, frame.copy())  # input untouched


def test_neutralise_frame_multiindex_and_string_dtype() -> None:
    frame = pd.DataFrame(
        {"v": pd.array(["=a", "b"], dtype="string")},
        index=pd.MultiIndex.from_tuples([("+s", "=p"), ("s", "p")], names=["school", "-pupil"]),
    )
    out = acio.neutralise_frame(frame)
    assert list(out["v"]) == ["'=a", "b"]
    assert list(out.index) == [("'+s", "'=p"), ("s", "p")]
    assert list(out.index.names) == ["school", "'-pupil"]


def csv_cells(path: Path) -> list[str]:
    import csv

    with path.open(encoding="utf-8-sig", newline="") as fh:
        return [cell for row in csv.reader(fh) for cell in row]


def test_to_csv_output_has_no_live_formula(tmp_path: Path) -> None:
    """Read back as a spreadsheet would: no cell starts a formula, even where a value holds a
    bare carriage return (unquoted, it would start a new row)."""
    values = DANGEROUS + SPLIT
    frame = pd.DataFrame({"pupil_id": values, "n": range(len(values))})
    path = ac.to_csv(frame, tmp_path / "out.csv")
    for cell in csv_cells(Path(path)):
        assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), cell


def test_to_excel_output_has_no_formula(tmp_path: Path) -> None:
    import openpyxl

    to_excel = ac_reports.to_excel
    frame = pd.DataFrame({"pupil_id": DANGEROUS, "n": range(len(DANGEROUS))})
    path = tmp_path / "out.xlsx"
    to_excel(frame, path)
    book = openpyxl.load_workbook(path)
    for sheet in book.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                assert cell.data_type != "f", f"formula cell {cell.coordinate}: {cell.value!r}"
                if isinstance(cell.value, str):
                    assert not cell.value.startswith(("=", "+", "-", "@", "\t", "\r"))


def test_cli_csv_on_stdout_is_neutralised(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from attendance_core.cli import main

    path = tmp_path / "marks.csv"
    path.write_text(
        "pupil_id,date,session,code\n=HYPERLINK(1),2024-09-02,AM,/\n=HYPERLINK(1),2024-09-02,PM,/\n"
    )
    assert main(["classify", str(path), "--to", "csv"]) == 0
    out = capsys.readouterr().out
    for line in out.splitlines():
        assert not line.startswith("=")


# ---------------------------------------------------------------------------- HTML escaping
XSS_NAME = "<script>alert(1)</script>"
XSS_ID = '"><img src=x onerror=alert(2)>'


def test_html_report_escapes_every_value(tmp_path: Path) -> None:
    long, pupils = ac.demo.school(seed=0)
    first = pupils.index[0]
    long = long.replace({"pupil_id": {first: XSS_ID}})
    long.loc[long["pupil_id"] == XSS_ID, "code"] = "O"  # worst attender: on every list
    pupils = pupils.rename(index={first: XSS_ID})
    if "name" in pupils.columns:
        pupils["name"] = pupils["name"].astype(object)
        pupils.loc[XSS_ID, "name"] = XSS_NAME
    if "year_group" in pupils.columns:
        pupils["year_group"] = pupils["year_group"].astype(object)
        pupils.loc[XSS_ID, "year_group"] = "<b>Y7</b>"
    reg = ac.Register.from_long(long, pupils=pupils)
    path = tmp_path / "report.html"
    ac.html_report(reg, path, pupils=pupils)
    html = path.read_text(encoding="utf-8")
    assert "<script>alert(1)" not in html
    assert "<img src=x" not in html
    assert "<b>Y7</b>" not in html
    assert "onerror=alert(2)>" not in html or "&gt;" in html
    # the report shows the hostile id as text
    assert "&lt;img src=x onerror=alert(2)&gt;" in html or "&#34;&gt;&lt;img" in html
    # self-contained: no remote resources fetched when the file is opened
    assert not re.search(r"""<(script|link|img)[^>]+(src|href)=["']?(https?:)?//""", html)


# ---------------------------------------------------------------------------- no personal data
def adapter_fixtures() -> list[Path]:
    paths = []
    for data in ADAPTER_DATA:
        for path in sorted(data.iterdir()):
            if path.name.startswith(".") or path.name in ("symbols.csv", "symbols.toml"):
                continue
            if path.suffix in (".py", ".md"):  # fixture generators and notes
                continue
            paths.append(path)
    return paths


def _personal_values(result: Any) -> tuple[set[str], set[str]]:
    names: set[str] = set()
    dobs: set[str] = set()
    pupils = result.pupils
    for column in ("name", "forename", "surname", "legal_name", "preferred_name"):
        if column in pupils.columns:
            names |= {str(v) for v in pupils[column].dropna() if len(str(v)) >= 3}
    if "date_of_birth" in pupils.columns:
        for v in pupils["date_of_birth"].dropna():
            dobs.add(pd.Timestamp(v).date().isoformat())
    return names, dobs


def _name_words(names: set[str]) -> dict[str, str]:
    """Each word of each name -> its replacement: first words become ``Zebedee``, the others
    ``Secretname``."""
    words: dict[str, str] = {}
    for name in names:
        parts = [w.strip(",.") for w in name.split() if len(w.strip(",.")) >= 2]
        for i, part in enumerate(parts):
            words.setdefault(part, "Zebedee" if i == 0 else "Secretname")
    return words


def _swap_bytes(data: bytes, words: dict[str, str]) -> bytes:
    for old in sorted(words, key=len, reverse=True):
        for enc in ("utf-8", "cp1252"):
            try:
                raw = old.encode(enc)
            except UnicodeEncodeError:
                continue
            pattern = rb"(?<![A-Za-z0-9])" + re.escape(raw) + rb"(?![A-Za-z0-9])"
            data = re.sub(pattern, words[old].encode(enc), data)
    return data


def _swap_workbook(path: Path, out: Path, words: dict[str, str], dobs: dict[str, str]) -> None:
    import openpyxl

    book = openpyxl.load_workbook(path)
    for sheet in book.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                if isinstance(cell.value, str):
                    value = cell.value
                    for old in sorted(words, key=len, reverse=True):
                        value = re.sub(rf"(?<!\w){re.escape(old)}(?!\w)", words[old], value)
                    cell.value = dobs.get(value, value)
                elif hasattr(cell.value, "date") and cell.value is not None:
                    iso = pd.Timestamp(cell.value).date().isoformat()
                    if iso in dobs:
                        cell.value = pd.Timestamp(SECRET_DOB).to_pydatetime()
    book.save(out)


def _dob_forms(iso: str) -> list[str]:
    d = pd.Timestamp(iso)
    return [iso, d.strftime("%d/%m/%Y"), d.strftime("%Y%m%d"), d.strftime("%Y-%m-%dT00:00:00")]


def _with_secret_people(src: Path, dst: Path) -> bool:
    """Copy ``src`` to ``dst`` with every word of every pupil name replaced by ``Zebedee`` or
    ``Secretname`` and every date of birth by SECRET_DOB; False when the fixture names
    nobody."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = ac.load(src)
    except AttendanceError:
        return False
    names, dobs = _personal_values(result)
    if not names:
        return False
    words = _name_words(names)
    dob_map = {
        old: new
        for dob in dobs
        for old, new in zip(_dob_forms(dob), _dob_forms(SECRET_DOB), strict=True)
    }
    files = [src] if src.is_file() else sorted(p for p in src.rglob("*") if p.is_file())
    for file in files:
        out = dst / file.relative_to(src.parent)
        out.parent.mkdir(parents=True, exist_ok=True)
        if file.suffix.lower() in (".xlsx", ".xlsm"):
            _swap_workbook(file, out, words, dob_map)
            continue
        data = _swap_bytes(file.read_bytes(), words)
        for old, new in dob_map.items():
            data = data.replace(old.encode(), new.encode())
        out.write_bytes(data)
    return True


def _planted(path: Path) -> bool:
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        import openpyxl

        book = openpyxl.load_workbook(path)
        return any(
            "Zebedee" in str(cell.value)
            for sheet in book.worksheets
            for row in sheet.iter_rows()
            for cell in row
        )
    return b"Zebedee" in path.read_bytes() or "Zebedee".encode("utf-16-le") in path.read_bytes()


def _mangle(path: Path) -> Iterator[tuple[str, bytes]]:
    """Bad rows around the pupils: codes, dates and sessions broken, lines cut short."""
    data = path.read_bytes()
    yield "as is", data
    yield "bad codes", re.sub(rb'(code"?\s*[:=]\s*"?)[A-Z/\\#]', rb"\g<1>?", data, flags=re.I)
    yield "bad dates", data.replace(b"2024-09", b"2024-19").replace(b"/09/2024", b"/19/2024")
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        return  # compressed: only the whole workbook is meaningful
    cut = data.find(b"Zebedee")
    if cut > 0:
        yield "cut after the name", data[: cut + len("Zebedee Secretname") + 3]
        yield "cut in the name", data[: cut + 4]


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def _texts_seen(run: Any) -> list[str]:
    """Every message, warning and log record text produced by ``run()``."""
    handler = _Capture()
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    texts: list[str] = []
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                result = run()
            except AttendanceError as exc:
                texts.append(str(exc))
                texts.extend(str(a) for a in exc.args)
                texts.append(repr(getattr(exc, "value", None)))
                result = None
        texts.extend(str(w.message) for w in caught)
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
    for record in handler.records:
        texts.append(record.getMessage())
        if record.exc_text:
            texts.append(record.exc_text)
    if result is not None and hasattr(result, "rejected"):
        texts.append(result.rejected.to_csv())
        texts.extend(str(w) for w in getattr(result, "warnings", ()))
    return texts


def _leaks(texts: list[str]) -> list[str]:
    secrets = [SECRET_NAME, "Zebedee", "Secretname", *_dob_forms(SECRET_DOB)]
    return [t for t in texts for s in secrets if s in t]


FIXTURES = adapter_fixtures()


@pytest.mark.skipif(not FIXTURES, reason="no adapter fixtures")
@pytest.mark.parametrize("fixture", FIXTURES, ids=[str(p.relative_to(ROOT)) for p in FIXTURES])
def test_no_names_or_birth_dates_in_messages_warnings_or_logs(
    fixture: Path, tmp_path: Path
) -> None:
    if not _with_secret_people(fixture, tmp_path):
        pytest.skip("fixture names no pupil")
    made = tmp_path / fixture.name
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fmt = ac.load(made).format
    files = [made] if made.is_file() else sorted(p for p in made.rglob("*") if p.is_file())
    assert any(_planted(f) for f in files), "name not planted"
    for file in files:
        original = file.read_bytes()
        try:
            for label, data in _mangle(file):
                file.write_bytes(data)
                for errors in ("collect", "raise"):
                    for f in (fmt, None):
                        texts = _texts_seen(lambda f=f, e=errors: ac.load(made, format=f, errors=e))
                        leaks = _leaks(texts)
                        assert not leaks, f"{file.name} ({label}, errors={errors}): {leaks[:2]}"
        finally:
            file.write_bytes(original)


def test_register_errors_never_quote_other_columns() -> None:
    """A bad row of the long layout: the message names row, column and value, not the name."""
    frame = pd.DataFrame(
        {
            "pupil_id": ["A1", "A1"],
            "name": [SECRET_NAME, SECRET_NAME],
            "date_of_birth": [SECRET_DOB, SECRET_DOB],
            "date": ["2024-09-02", "not a date"],
            "session": ["AM", "AM"],
            "code": ["/", "/"],
        }
    )
    with pytest.raises(ac.RegisterError) as info:
        ac.Register.from_long(frame)
    assert "row 1" in str(info.value) and "date" in str(info.value)
    assert not _leaks([str(info.value)])
    reg = ac.Register.from_long(frame, errors="collect")
    assert not _leaks([reg.rejected.to_csv()])


def _calls_in(path: Path) -> Iterator[tuple[str, int]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            name = (
                func.id
                if isinstance(func, ast.Name)
                else f"{getattr(func.value, 'id', '?')}.{func.attr}"
                if isinstance(func, ast.Attribute)
                else ""
            )
            yield name, node.lineno


def library_sources() -> list[Path]:
    files = sorted((ROOT / "src" / "attendance_core").rglob("*.py"))
    files += sorted(ROOT.glob("adapters/*/src/**/*.py"))
    return files


def test_library_code_never_prints_configures_logging_or_phones_home() -> None:
    """Only the command line writes to the console; nothing configures the caller's logging
    or opens a connection."""
    forbidden = {
        "print",
        "logging.basicConfig",
        "traceback.print_exc",
        "urlopen",
        "urllib.request.urlopen",
        "requests.get",
        "socket.create_connection",
        "http.client.HTTPConnection",
        "breakpoint",
    }
    found = []
    for path in library_sources():
        # the command line: cli.py and the casebook's subcommands it registers
        if path.name in ("cli.py", "__main__.py", "_casebook_cli.py"):
            continue
        for name, line in _calls_in(path):
            if name in forbidden:
                found.append(f"{path.relative_to(ROOT)}:{line}: {name}")
    assert not found, found


def test_library_logs_only_through_named_loggers() -> None:
    """Log calls go through module loggers (``logging.getLogger(__name__)``), never the root
    logger, so an application decides what is shown and where."""
    found = []
    for path in library_sources():
        for name, line in _calls_in(path):
            if name in {
                "logging.info",
                "logging.debug",
                "logging.warning",
                "logging.error",
                "logging.exception",
                "logging.critical",
                "logging.log",
            }:
                found.append(f"{path.relative_to(ROOT)}:{line}: {name}")
    assert not found, found


def test_error_value_is_cut_short() -> None:
    err = ac.RegisterError("bad", file="f.csv", row=3, column="code", value="X" * 10_000)
    assert len(str(err)) < 200


def test_load_wraps_stray_exceptions_without_their_text() -> None:
    """A bug in an adapter never surfaces as a traceback quoting the data it choked on."""
    from attendance_core.adapters import AdapterOutput, register_adapter, unregister_adapter

    class Leaky:
        name = "leaky-test"
        extensions = (".leaky",)
        description = "raises with pupil data in the message"

        def sniff(self, source: object) -> bool:
            return False

        def read(self, source: object, *, errors: str = "collect", **options: object):
            raise KeyError(SECRET_NAME)

    register_adapter("leaky-test", Leaky)
    try:
        with pytest.raises(FormatError) as info:
            ac.load(io.BytesIO(b"x"), format="leaky-test")
    finally:
        unregister_adapter("leaky-test")
    assert SECRET_NAME not in str(info.value)
    assert AdapterOutput


def test_pseudonymised_outputs_hold_no_id(tmp_path: Path) -> None:
    long, pupils = ac.demo.school(seed=0)
    reg = ac.pseudonymise(ac.Register.from_long(long, pupils=pupils), b"k" * 32)
    table = ac.classify(reg)
    path = ac.to_csv(table, tmp_path / "shared.csv")
    text = Path(path).read_text(encoding="utf-8-sig")
    assert not any(pid in text for pid in pupils.index[:50])
    assert json.dumps(list(table.index[:3]))


# ---------------------------------------------------------------------------- file names
@given(st.text(min_size=0, max_size=80))
def test_school_folder_names_cannot_leave_the_output_folder(school_id: str) -> None:
    """``write_tsm_pack`` makes one folder per school id taken from the input: whatever the
    id (``../..``, ``/etc``, ``C:\\x``, NUL), the folder stays inside the output folder."""
    slug = ac_reports._slug(school_id)
    assert slug
    assert slug not in (".", "..")
    assert "/" not in slug and "\\" not in slug and "\x00" not in slug
    root = Path("/srv/out")
    assert (root / slug).resolve().parent == root.resolve()


@given(st.text())
def test_unneutralise_undoes_neutralise(value: str) -> None:
    assert acio.unneutralise(acio.neutralise(value)) == value
