"""Tests of the sims-xml adapter: fixtures built from the inferred layout in the README."""

from __future__ import annotations

import io
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from attendance_core_sims import SimsXmlAdapter, load_symbols
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from attendance_core.adapters import LoadResult, Source, get_adapter, load
from attendance_core.errors import AttendanceWarning, FormatError, RegisterError
from attendance_core.testing import AdapterConformance, check_random_bytes

DATA = Path(__file__).parent / "data"
LATIN = DATA / "sims_latin1.xml"
NS = DATA / "sims_ns_utf8.xml"


class TestConformance(AdapterConformance):
    @pytest.fixture
    def format(self) -> str:
        return "sims-xml"

    @pytest.fixture
    def sample(self) -> Path:
        return LATIN

    @pytest.fixture
    def bad_sample(self) -> Path:
        return LATIN

    @pytest.fixture
    def structured(self) -> bool:
        return True

    @pytest.fixture
    def expect_rows(self) -> int:
        return 12


def _load(path: Path | bytes, **options: Any) -> LoadResult:
    return load(path, format="sims-xml", **options)


def test_latin1_export_marks_symbols_and_rejections() -> None:
    with pytest.warns(AttendanceWarning, match="unmapped_symbol"):
        result = load(LATIN)
    assert result.format == "sims-xml"
    long = result.register.to_long()
    got = {(r.pupil_id, str(r.date)[:10], r.session): r.code for r in long.itertuples()}
    assert got == {
        ("D201200101001", "2024-09-02", "AM"): "/",
        ("D201200101001", "2024-09-02", "PM"): "\\",
        ("D201200101001", "2024-09-03", "AM"): "I",  # '7' via embedded mapping
        ("D201200101001", "2024-09-03", "PM"): "M",  # '8', PM from 13:15
        ("D201200101001", "2024-09-04", "PM"): "L",  # 'Afternoon'
        ("D201200101001", "2024-09-05", "PM"): "U",  # mark outside the pupil, by UPN
        ("T201200101002", "2024-09-02", "AM"): "N",
        ("T201200101002", "2024-09-02", "PM"): "O",  # '='
        ("T201200101002", "2024-09-04", "AM"): "I",  # 04/09/2024 day-first, lower case
    }
    assert set(long["school_id"]) == {"2012345"}
    rejected = result.rejected
    assert list(rejected.itertuples(index=False, name=None)) == [
        (24, "Code", "9", "unmapped_symbol"),
        (37, "SessionDate", "2024-13-04", "bad_date"),
        (38, "SessionName", "Lunch", "bad_session"),
    ]
    assert result.rows_read == 12
    assert any("unmapped_symbol" in w and "'9'" in w for w in result.warnings)
    assert any("inferred from the start time" in w and "23" in w for w in result.warnings)


def test_latin1_pupils_frame() -> None:
    result = _load(LATIN)
    pupils = result.pupils
    assert list(pupils.index) == ["D201200101001", "T201200101002"]
    first = pupils.loc["D201200101001"]
    assert first["name"] == "Zoë Brontë"  # Latin-1 decoded by the declaration
    assert first["mis_id"] == "001001"
    assert first["year_group"] == "4"
    assert first["date_of_birth"] == pd.Timestamp("2015-03-14")
    assert pd.isna(first["leaving_date"])
    second = pupils.loc["T201200101002"]
    assert second["name"] == "Seán Ó Briain"
    assert second["date_of_birth"] == pd.Timestamp("2015-07-14")  # 14/07/2015 day-first
    assert second["leaving_date"] == pd.Timestamp("2024-09-05")
    assert set(pupils["school_id"]) == {"2012345"}


@pytest.mark.parametrize("mapping", ["symbols.toml", "symbols.csv"])
def test_namespaced_export_with_mapping_file(mapping: str) -> None:
    result = _load(NS, symbols=DATA / mapping)
    long = result.register.to_long()
    got = {(r.pupil_id, r.session): r.code for r in long.itertuples()}
    # not every pupil has a UPN -> keyed by admission number for all
    assert got == {("002017", "AM"): "I", ("002017", "PM"): "#", ("002018", "AM"): "B"}
    rejected = result.rejected
    assert list(rejected["reason"]) == ["unknown_code"]  # Q9 is statutory-shaped
    assert any("keyed by 'adno'" in w for w in result.warnings)
    pupils = result.pupils
    assert pupils.loc["002018", "upn"] == "G201200101003"
    assert pupils["upn"].isna().to_dict() == {"002017": True, "002018": False}


def test_without_mapping_symbols_are_unmapped() -> None:
    result = _load(NS)
    rejected = result.rejected
    assert sorted(rejected["reason"]) == ["unknown_code", "unmapped_symbol", "unmapped_symbol"]
    assert sorted(rejected.loc[rejected["reason"] == "unmapped_symbol", "value"]) == ["7", "@"]


def test_option_mapping_overrides_embedded_and_warns() -> None:
    result = _load(LATIN, symbols={"7": "M", "9": "B"})
    long = result.register.to_long()
    codes = {(r.pupil_id, str(r.date)[:10], r.session): r.code for r in long.itertuples()}
    assert codes[("D201200101001", "2024-09-03", "AM")] == "M"
    assert codes[("D201200101001", "2024-09-04", "AM")] == "B"
    assert any("overrides" in w and "'7'" in w for w in result.warnings)


def test_pupil_key_forced() -> None:
    result = _load(LATIN, pupil_key="adno")
    assert set(result.register.to_long()["pupil_id"]) == {"001001", "001002"}
    result = _load(NS, pupil_key="upn", symbols=DATA / "symbols.toml")
    rejected = result.rejected
    assert (rejected["reason"] == "missing_value").sum() == 2  # P17 has no UPN
    with pytest.raises(FormatError, match="pupil_key"):
        _load(NS, pupil_key="name")


def test_errors_raise_names_line_and_element() -> None:
    with pytest.raises(RegisterError) as info:
        _load(LATIN, errors="raise")
    err = info.value
    assert (err.row, err.column, err.value, err.reason) == (24, "Code", "9", "unmapped_symbol")
    assert "sims_latin1.xml" in str(err)
    assert "Zo" not in str(err)


@pytest.mark.parametrize("name", ["billion_laughs.xml", "external_entity.xml"])
def test_unsafe_xml_refused_quickly(name: str) -> None:
    began = time.perf_counter()
    with pytest.raises(FormatError, match="refused for safety") as info:
        _load(DATA / name)
    assert time.perf_counter() - began < 2.0
    assert info.value.file == name


def test_truncated_and_empty_name_the_file() -> None:
    with pytest.raises(FormatError) as info:
        _load(DATA / "truncated.xml")
    assert info.value.file == "truncated.xml"
    assert isinstance(info.value.row, int)
    assert info.value.row > 1
    with pytest.raises(FormatError, match="empty"):
        _load(b"  \n")


def test_undeclared_latin1_falls_back_with_warning() -> None:
    text = LATIN.read_bytes().replace(b' encoding="ISO-8859-1"', b"")
    with pytest.warns(AttendanceWarning, match="read as cp1252"):
        result = load(text, format="sims-xml")
    assert result.pupils.loc["D201200101001", "name"] == "Zoë Brontë"


def test_sniff_own_and_not_others() -> None:
    adapter = SimsXmlAdapter()
    assert adapter.sniff(Source.of(LATIN))
    assert adapter.sniff(Source.of(NS))
    for other in (
        b'<?xml version="1.0"?><CTfile><Header/></CTfile>',
        b"<Message><Header/><PupilOnRoll/></Message>",
        b'<InterchangeStudentAttendance xmlns="http://ed-fi.org/0200"/>',
        b'{"attendanceRecords": []}',
        b"UPN,Date,Session,Mark\n",
        b"",
    ):
        assert adapter.sniff(Source.of(other)) is False
    assert get_adapter("sims-xml").name == "sims-xml"


def test_one_line_export_uses_line_one_and_chunks() -> None:
    flat = b"".join(LATIN.read_bytes().split(b"\n")[1:])  # drop declaration, one line
    out = get_adapter("sims-xml").read(Source.of(flat), symbols={"9": "B"}, chunk_size=2)
    chunks = list(out.marks)
    assert [len(c) for c in chunks] == [2, 2, 2, 2, 2]
    assert all(set(c.index) == {1} for c in chunks)
    assert {r["reason"] for r in out.rejected} == {"bad_date", "bad_session"}


def test_mapping_file_errors() -> None:
    with pytest.raises(FormatError, match="statutory code"):
        load_symbols({"7": "Illness"})
    bad = DATA / "symbols.csv"
    assert load_symbols(bad) == {"7": "I", "@": "B"}
    with pytest.raises(FormatError, match="unknown option"):
        _load(LATIN, symbol="x.toml")


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    code=st.text(
        alphabet=st.characters(codec="latin-1", exclude_categories=["Cs", "Cc"]), max_size=4
    ),
    session=st.sampled_from(["AM", "PM", "Morning", "x", ""]),
    day=st.integers(1, 31),
)
def test_fuzz_marks_keep_the_row_invariant(code: str, session: str, day: int) -> None:
    from xml.sax.saxutils import quoteattr

    doc = (
        '<?xml version="1.0" encoding="ISO-8859-1"?><SIMSAttendanceExport>'
        '<Pupil UPN="D201200101001">'
        f'<Mark SessionDate="2024-10-{day:02d}" SessionName={quoteattr(session)} '
        f"Code={quoteattr(code)}/>"
        "</Pupil></SIMSAttendanceExport>"
    ).encode("latin-1")
    result = load(io.BytesIO(doc), format="sims-xml")
    assert result.rows_read == 1
    assert result.rows_read == len(result.register.to_long()) + len(result.rejected)


def test_random_bytes_kit() -> None:
    check_random_bytes("sims-xml", NS, examples=20)


def test_child_element_layout_with_mark_field_named_like_a_record() -> None:
    result = _load(DATA / "sims_child_elements.xml")
    long = result.register.to_long()
    got = [(str(r.date)[:10], r.session, r.code) for r in long.itertuples()]
    # <Mark> inside <AttendanceMark> is the code field, not another record; empty = missing
    assert got == [("2024-09-02", "AM", "/"), ("2024-09-02", "PM", "L"), ("2024-09-03", "AM", "-")]
    assert result.rows_read == 3
    assert result.pupils.loc["W201200101004", "date_of_birth"] == pd.Timestamp("2016-02-03")
    assert set(long["school_id"]) == {"2012345"}


def test_invalid_upn_is_a_warning_not_a_rejection() -> None:
    text = LATIN.read_bytes().replace(b"D201200101001", b"A201200101001")
    result = _load(text)
    assert "A201200101001" in set(result.register.to_long()["pupil_id"])
    assert not (result.rejected["reason"] == "missing_value").any()
    assert any("invalid UPN check letter" in w and "lines 15" in w for w in result.warnings)


# -- SIMS CommandReporter / Report Designer XML (see tests/data/README.md) ----------------------

REPORT = DATA / "sims_commandreporter.xml"
EDFI_XML = Path(__file__).parents[2] / "edfi/tests/data/xml/district/StudentAttendance.xml"
CTF_XML = Path(__file__).parents[2] / "ctf/tests/data/ctf_yeardata.xml"


class TestReportConformance(AdapterConformance):
    @pytest.fixture
    def format(self) -> str:
        return "sims-xml"

    @pytest.fixture
    def sample(self) -> Path:
        return REPORT

    @pytest.fixture
    def structured(self) -> bool:
        return True

    @pytest.fixture
    def foreign_sample(self) -> Path:
        return EDFI_XML


def test_report_records_are_flat_rows() -> None:
    assert SimsXmlAdapter().sniff(Source.of(REPORT))
    result = _load(REPORT, symbols={"7": "B"})
    long = result.register.to_long()
    assert result.rows_read == 8
    assert len(result.rejected) == 0
    assert len(long) == 8
    amira = long[long["pupil_id"] == "D201200101001"]
    assert sorted(amira["code"]) == ["/", "B", "B", "\\"]
    pupils = result.pupils
    assert list(pupils.index) == ["D201200101001", "T201200101002"]
    assert pupils.loc["T201200101002", "name"] == "Tom O'Neill"  # Legal_x0020_ names decoded
    assert pupils.loc["D201200101001", "year_group"] == "Year 7"
    assert pupils.loc["D201200101001", "mis_id"] == "001234"
    assert not any("repeat" in w for w in result.warnings)


def test_report_without_symbols_rejects_local_marks() -> None:
    result = _load(REPORT)
    assert sorted(result.rejected["value"]) == ["7", "7"]
    assert set(result.rejected["reason"]) == {"unmapped_symbol"}


def test_report_of_another_kind_is_not_sniffed() -> None:
    pupil_list = (
        b"<SuperStarReport><Record><Adno>1</Adno><Legal_x0020_Surname>A</Legal_x0020_Surname>"
        b"</Record></SuperStarReport>"
    )
    assert not SimsXmlAdapter().sniff(Source.of(pupil_list))


def test_alias_order_wins_over_file_order() -> None:
    # "Session Date" comes before "Date" in the alias table: it wins although later in the file
    doc = (
        b"<SuperStarReport><Record><UPN>D201200101001</UPN><Date>2024-09-01</Date>"
        b"<Session_x0020_Date>2024-09-02</Session_x0020_Date><Session>AM</Session>"
        b"<Mark>/</Mark></Record></SuperStarReport>"
    )
    long = _load(doc).register.to_long()
    assert [str(pd.Timestamp(d).date()) for d in long["date"]] == ["2024-09-02"]


def test_encoded_names_in_an_alias_file_need_not_be_written_literally(tmp_path: Path) -> None:
    doc = (
        b"<SuperStarReport><Record><UPN>D201200101001</UPN><Register_x0020_Day>2024-09-02"
        b"</Register_x0020_Day><Session>AM</Session><Mark>/</Mark></Record></SuperStarReport>"
    )
    result = _load(doc, aliases={"mark": {"date": ["Register Day"]}})
    assert len(result.register.to_long()) == 1


def test_other_xml_is_a_format_error_not_an_empty_load() -> None:
    for other in (EDFI_XML, CTF_XML, b"<Catalogue><Book/></Catalogue>"):
        with pytest.raises(FormatError, match="no SIMS"):
            load(other, format="sims-xml")
