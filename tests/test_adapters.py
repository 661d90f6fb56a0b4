"""Tests of the adapter layer: Source, the registry, detection, load() and the conformance kit.

The adapters here are small line formats written for the tests; the real adapters live in
``adapters/*`` and run the conformance kit in their own test suites.
"""

from __future__ import annotations

import importlib
import importlib.util
import io
import sys
import textwrap
import warnings
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import Any, ClassVar, cast

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import attendance_core.adapters as ad
from attendance_core import adapterkit as kit
from attendance_core.errors import (
    AttendanceError,
    AttendanceWarning,
    FormatError,
    RegisterError,
)
from attendance_core.testing import (
    check_conformance,
    check_detection,
    check_random_bytes,
)


class MarksAdapter:
    """Test format: a ``MARKS`` line, then ``pupil,date,session,code[,admission]`` lines.

    Line numbers are source rows; a line without 4 or 5 fields is rejected as ``bad_record``.
    The pupils frame (admission dates) is only built once the marks are exhausted.
    """

    name: ClassVar[str] = "test-marks"
    options: ClassVar[frozenset[str]] = kit.CHUNK_OPTIONS  # the one vocabulary
    extensions: ClassVar[tuple[str, ...]] = (".marks",)
    description: ClassVar[str] = "test line format"

    def sniff(self, source: ad.Source) -> bool:
        return source.head(6) == b"MARKS\n"

    def read(
        self, source: ad.Source, *, errors: str = "collect", **options: Any
    ) -> ad.AdapterOutput:
        out = ad.AdapterOutput()
        head = source.head(6)
        if head != b"MARKS\n":
            raise FormatError("not a MARKS file", file=source.name)
        size = kit.chunk_size(options, 2)

        def marks() -> Iterator[pd.DataFrame]:
            admissions: dict[str, str] = {}
            rows: list[list[str]] = []
            index: list[int] = []
            with source.open() as fh:
                text = fh.read().decode("utf-8", "replace")
            for number, line in enumerate(text.splitlines(), start=1):
                if number == 1 or not line.strip():
                    continue
                fields = line.split(",")
                if len(fields) not in (4, 5):
                    if errors == "raise":
                        raise FormatError(
                            "wrong number of fields", file=source.name, row=number, column="line"
                        )
                    out.rejected.append(
                        {
                            "row": number,
                            "column": "line",
                            "value": line[:40],
                            "reason": "bad_record",
                        }
                    )
                    continue
                if len(fields) == 5 and fields[4]:
                    admissions.setdefault(fields[0], fields[4])
                rows.append(fields[:4])
                index.append(number)
                if len(rows) >= size:
                    yield pd.DataFrame(
                        rows, columns=["pupil_id", "date", "session", "code"], index=index
                    )
                    rows, index = [], []
            if rows:
                yield pd.DataFrame(
                    rows, columns=["pupil_id", "date", "session", "code"], index=index
                )
            out.pupils = pd.DataFrame(
                {
                    "admission_date": pd.to_datetime(
                        pd.Series(admissions, dtype=object), format="%Y-%m-%d", errors="coerce"
                    )
                },
            ).rename_axis("pupil_id")

        out.marks = marks()
        return out


class OtherMarksAdapter(MarksAdapter):
    """Sniffs the same files, claims another extension."""

    name: ClassVar[str] = "test-other"
    extensions: ClassVar[tuple[str, ...]] = (".other",)


class BrokenAdapter(MarksAdapter):
    """Raises a stray KeyError on anything that is not its sample."""

    name: ClassVar[str] = "test-broken"

    def read(
        self, source: ad.Source, *, errors: str = "collect", **options: Any
    ) -> ad.AdapterOutput:
        raise KeyError("pupil Smith")  # data in the text: must not reach the message


class NoSniff:
    """Not an adapter: no sniff."""

    name: ClassVar[str] = "nope"
    extensions: ClassVar[tuple[str, ...]] = ()
    description: ClassVar[str] = "missing sniff"

    def read(self, source: ad.Source, **options: Any) -> ad.AdapterOutput:
        return ad.AdapterOutput()


SAMPLE = (
    b"MARKS\n"
    b"P1,2024-09-02,AM,/,2024-09-02\n"
    b"P1,2024-09-02,PM,\\\n"
    b"P2,2024-09-02,AM,N\n"
    b"broken line\n"
    b"\n"
    b"P2,2024-09-02,PM,Q9\n"
    b"P1,2024-09-02,PM,\\\n"
    b"P1,2024-09-03,AM,/\n"
)


@pytest.fixture(autouse=True)
def isolated_registry(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test starts from an empty, undiscovered registry with the test adapters only."""
    saved = (dict(ad._registry), dict(ad._distributions), ad._discovered)
    ad._registry.clear()
    ad._distributions.clear()
    ad._discovered = True  # no entry points unless a test asks for them
    ad.register_adapter("test-marks", MarksAdapter)
    yield
    ad._registry.clear()
    ad._registry.update(saved[0])
    ad._distributions.clear()
    ad._distributions.update(saved[1])
    ad._discovered = saved[2]


def quiet_load(obj: Any, **options: Any) -> ad.LoadResult:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AttendanceWarning)
        return ad.load(obj, **options)


# ------------------------------------------------------------------------------ Source


class TestSource:
    def test_bytes(self) -> None:
        src = ad.Source.of(b"abcdef")
        assert src.name == "<buffer>"
        assert src.head(3) == b"abc"
        assert src.head(3) == b"abc"  # head never consumes
        with src.open() as fh:
            assert fh.read() == b"abcdef"
        assert src.size() == 6

    def test_file_object_is_left_open_at_its_position(self) -> None:
        buffer = io.BytesIO(b"xxMARKS\n")
        buffer.seek(2)
        src = ad.Source.of(buffer)
        assert src.head(5) == b"MARKS"
        with src.open() as fh:
            assert fh.read() == b"MARKS\n"
        assert not buffer.closed
        assert src.size() == 6

    def test_readers_of_a_file_object_do_not_disturb_each_other(self) -> None:
        src = ad.Source.of(io.BytesIO(b"0123456789" * 2000))
        with src.open() as first:
            assert first.read(3) == b"012"
            assert src.head(5) == b"01234"
            assert first.read(4) == b"3456"
            assert first.read(10_000) == (b"0123456789" * 2000)[7:10_007]  # past its buffer
            first.seek(0)
            assert first.read(2) == b"01"
            assert first.seek(0, io.SEEK_END) == 20000

    def test_non_seekable_stream_is_buffered(self) -> None:
        class Pipe(io.RawIOBase):
            def __init__(self, data: bytes) -> None:
                self._data = io.BytesIO(data)

            def readable(self) -> bool:
                return True

            def readinto(self, buffer: Any) -> int:
                chunk = self._data.read(len(buffer))
                buffer[: len(chunk)] = chunk
                return len(chunk)

        src = ad.Source.of(Pipe(b"MARKS\nrest"))
        assert src.head(5) == b"MARKS"
        with src.open() as fh:
            assert fh.read() == b"MARKS\nrest"

    def test_text_buffer_is_encoded(self) -> None:
        src = ad.Source.of(io.StringIO("MARKS\n"))
        assert src.head() == b"MARKS\n"

    def test_path_folder_and_pages(self, tmp_path: Path) -> None:
        path = tmp_path / "week.marks"
        path.write_bytes(SAMPLE)
        src = ad.Source.of(str(path))
        assert (src.name, src.path, src.suffix) == ("week.marks", path, ".marks")
        assert src.head(5) == b"MARKS"
        folder = ad.Source.of(tmp_path)
        assert folder.is_dir
        assert folder.head() == b""
        with pytest.raises(FormatError, match="folder"):
            folder.open()
        pages = ad.Source.of([{"data": []}])
        assert pages.name == "<pages>"
        assert pages.head() == b""
        assert not pages.is_bytes

    def test_missing_path(self, tmp_path: Path) -> None:
        with pytest.raises(FormatError, match="no such file"):
            ad.Source.of(tmp_path / "nope.csv")

    def test_unsupported_object(self) -> None:
        with pytest.raises(TypeError):
            ad.Source.of(42)


# ------------------------------------------------------------------------------ registry


class TestRegistry:
    def test_register_and_get(self) -> None:
        assert ad.formats() == ["test-marks"]
        adapter = ad.get_adapter("test-marks")
        assert isinstance(adapter, MarksAdapter)
        assert isinstance(adapter, ad.Adapter)
        assert ad.registry["test-marks"] is MarksAdapter
        with pytest.raises(TypeError):
            ad.registry["x"] = MarksAdapter  # type: ignore[index]

    def test_refuses_silent_overwrite(self) -> None:
        with pytest.raises(FormatError, match=r"already registered.*replace=True"):
            ad.register_adapter("test-marks", OtherMarksAdapter)
        ad.register_adapter("test-marks", MarksAdapter)  # same target: no-op
        ad.register_adapter("test-marks", OtherMarksAdapter, replace=True)
        assert isinstance(ad.get_adapter("test-marks"), OtherMarksAdapter)

    def test_shape_checked_at_registration(self) -> None:
        with pytest.raises(FormatError, match="has no 'sniff'"):
            ad.register_adapter("nope", NoSniff)  # type: ignore[arg-type]
        with pytest.raises(FormatError, match=r"package\.module:Class"):
            ad.register_adapter("nope", "no_colon_here")

    def test_unknown_name_lists_known_names(self) -> None:
        with pytest.raises(FormatError) as info:
            ad.get_adapter("sims-csv")
        assert "unknown format 'sims-csv'; known formats: test-marks" in str(info.value)
        with pytest.raises(FormatError, match=r"generic readers are part of attendance-core"):
            ad.get_adapter("generic-csv")
        with pytest.raises(FormatError, match=r"pip install \./adapters/sims"):
            ad.get_adapter("sims-xml")

    def test_string_target_is_imported_lazily(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        module = tmp_path / "lazy_adapter_mod.py"
        module.write_text(
            textwrap.dedent(
                """
                class Lazy:
                    name = "lazy"
                    extensions = (".lazy",)
                    description = "lazy test adapter"
                    def sniff(self, source):
                        return False
                    def read(self, source, *, errors="collect", **options):
                        raise NotImplementedError
                """
            )
        )
        monkeypatch.syspath_prepend(str(tmp_path))
        ad.register_adapter("lazy", "lazy_adapter_mod:Lazy")
        assert "lazy" in ad.formats()
        assert "lazy_adapter_mod" not in sys.modules
        assert ad.registry["lazy"] == "lazy_adapter_mod:Lazy"
        adapter = ad.get_adapter("lazy")
        assert type(adapter).__name__ == "Lazy"
        assert "lazy_adapter_mod" in sys.modules
        assert isinstance(ad.registry["lazy"], type)
        monkeypatch.delitem(sys.modules, "lazy_adapter_mod")

    def test_failed_import_gives_install_hint(self) -> None:
        ad.register_adapter(
            "ghost", "attendance_core_ghost.adapter:Ghost", distribution="ghost-dist"
        )
        with pytest.raises(FormatError) as info:
            ad.get_adapter("ghost")
        assert "pip install ghost-dist" in str(info.value)
        assert isinstance(info.value.__cause__, ImportError)

    def test_unregister(self) -> None:
        ad.unregister_adapter("test-marks")
        assert ad.formats() == []
        with pytest.raises(FormatError):
            ad.unregister_adapter("test-marks")


def fake_entry_points(calls: list[str]) -> Any:
    points = [
        metadata.EntryPoint("ep-one", "attendance_core_ep_one:One", ad.ENTRY_POINT_GROUP),
        metadata.EntryPoint("test-marks", "elsewhere:Other", ad.ENTRY_POINT_GROUP),
    ]

    def entry_points(*, group: str) -> list[metadata.EntryPoint]:
        calls.append(group)
        return [p for p in points if p.group == group]

    return entry_points


class TestDiscovery:
    def test_lazy_and_once(self, monkeypatch: pytest.MonkeyPatch) -> None:
        calls: list[str] = []
        monkeypatch.setattr(metadata, "entry_points", fake_entry_points(calls))
        monkeypatch.delenv(ad.NO_PLUGINS_ENV, raising=False)
        ad._discovered = False
        assert calls == []  # nothing read until first use
        with pytest.warns(AttendanceWarning, match="'test-marks'.*ignored"):
            names = ad.formats()
        assert names == ["ep-one", "test-marks"]
        assert calls == [ad.ENTRY_POINT_GROUP]
        assert ad.registry["ep-one"] == "attendance_core_ep_one:One"  # not imported
        assert ad.registry["test-marks"] is MarksAdapter  # registration in code wins
        ad.formats()
        ad.load(SAMPLE, format="test-marks")
        assert calls == [ad.ENTRY_POINT_GROUP]  # once per process
        with pytest.raises(FormatError, match="cannot be imported"):
            ad.get_adapter("ep-one")

    def test_opt_out(self, monkeypatch: pytest.MonkeyPatch) -> None:
        calls: list[str] = []
        monkeypatch.setattr(metadata, "entry_points", fake_entry_points(calls))
        monkeypatch.setenv(ad.NO_PLUGINS_ENV, "1")
        ad._discovered = False
        assert ad.formats() == ["test-marks"]
        assert calls == []

    def test_distributions(self) -> None:
        ad.register_adapter("test-other", OtherMarksAdapter, distribution="some-dist")
        assert ad.adapter_distributions() == {"test-marks": None, "test-other": "some-dist"}


# ------------------------------------------------------------------------------ detection


class TestDetection:
    def test_single_candidate(self) -> None:
        assert ad.detect(SAMPLE) == "test-marks"

    def test_extension_breaks_a_tie(self, tmp_path: Path) -> None:
        ad.register_adapter("test-other", OtherMarksAdapter)
        path = tmp_path / "week.other"
        path.write_bytes(SAMPLE)
        assert ad.detect(path) == "test-other"
        assert quiet_load(path).format == "test-other"

    def test_ambiguous_lists_candidates(self) -> None:
        ad.register_adapter("test-other", OtherMarksAdapter)
        with pytest.raises(FormatError) as info:
            ad.load(SAMPLE)
        assert "several formats fit this source: test-marks, test-other" in str(info.value)

    def test_nothing_fits(self) -> None:
        with pytest.raises(FormatError, match=r"no installed adapter recognises.*test-marks"):
            ad.load(b"hello")

    def test_a_crashing_sniffer_is_a_no(self) -> None:
        class Crashing(MarksAdapter):
            name: ClassVar[str] = "crash"

            def sniff(self, source: ad.Source) -> bool:
                raise RuntimeError("boom")

        ad.register_adapter("crash", Crashing)
        assert ad.detect(SAMPLE) == "test-marks"

    def test_known_extensions_are_the_classes_own(self) -> None:
        # detection trusts this table instead of importing every adapter to read its endings
        for target, extensions in ad._KNOWN_EXTENSIONS.items():
            module, _, name = target.partition(":")
            if module.startswith("attendance_core_generic") or importlib.util.find_spec(
                module.partition(".")[0]
            ):
                assert getattr(importlib.import_module(module), name).extensions == extensions

    def _with_real_adapters(self) -> None:
        for target in ad._KNOWN_EXTENSIONS:
            ad.register_adapter(target.rpartition(":")[2], target)
        ad.register_adapter("test-other", OtherMarksAdapter)

    def test_a_named_file_imports_only_the_adapters_its_name_points_at(
        self, tmp_path: Path
    ) -> None:
        self._with_real_adapters()
        path = tmp_path / "marks.csv"
        path.write_text("school_id,pupil_id,date,session,code\nS1,P1,2024-09-02,AM,/\n")
        assert ad.detect(path) == "GenericCsvAdapter"
        untouched = [n for n, t in ad._registry.items() if isinstance(t, str)]
        assert "SimsXmlAdapter" in untouched and "GenericParquetAdapter" in untouched
        assert "GenericCsvAdapter" not in untouched

    @pytest.mark.parametrize(
        ("name", "content"),
        [
            ("marks.csv", b"school_id,pupil_id,date,session,code\nS1,P1,2024-09-02,AM,/\n"),
            ("wide.csv", b"pupil_id,2024-09-02 AM,2024-09-02 PM\nP1,/,\\\n"),
            ("week.other", SAMPLE),
            ("week.csv", SAMPLE),
            ("notes.txt", b"hello"),
            ("marks.parquet", b"PAR1 not really"),
        ],
    )
    def test_the_shortcut_decides_as_sniffing_every_adapter(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, content: bytes
    ) -> None:
        self._with_real_adapters()
        path = tmp_path / name
        path.write_bytes(content)

        def decided() -> str:
            try:
                return str(ad._decide(ad.Source.of(path), required=True))
            except FormatError as exc:
                return f"FormatError: {exc}"

        quick = decided()
        monkeypatch.setattr(ad, "_named_by_extension", lambda src: None)
        assert quick == decided()


# ------------------------------------------------------------------------------ load


class TestLoad:
    def test_invariants_and_rejected_rows(self) -> None:
        result = quiet_load(SAMPLE)
        assert result.format == "test-marks"
        assert result.source == "<buffer>"
        long = result.register.to_long()
        assert result.rows_read == 7
        assert result.rows_read == len(long) + len(result.rejected)
        assert list(result.rejected.columns) == ["row", "column", "value", "reason"]
        assert result.rejected[["row", "reason"]].to_records(index=False).tolist() == [
            (5, "bad_record"),
            (7, "unknown_code"),
            (8, "duplicate_row"),
        ]

    def test_unknown_option_refused_by_the_core_before_read(self) -> None:
        calls: list[str] = []

        class Counting(MarksAdapter):
            name: ClassVar[str] = "counting"

            def read(self, source: ad.Source, *, errors: str = "collect", **options: Any) -> Any:
                calls.append("read")
                return super().read(source, errors=errors, **options)

        ad.register_adapter("counting", Counting)
        with pytest.raises(
            FormatError,
            match=r"counting: unknown option\(s\) chunk; "
            r"known: chunk_size, chunksize, max_field_length, max_file_size",
        ):
            ad.load(SAMPLE, format="counting", chunk=3)
        assert calls == []
        assert (
            quiet_load(SAMPLE, format="counting", chunksize=3, max_file_size=10**6).rows_read == 7
        )
        assert calls == ["read"]

    def test_an_adapter_that_declares_no_options_checks_its_own(self) -> None:
        class Undeclared(MarksAdapter):
            name: ClassVar[str] = "undeclared"
            options = None  # type: ignore[assignment]  # a plug-in written before options

        ad.register_adapter("undeclared", Undeclared)
        assert quiet_load(SAMPLE, format="undeclared", anything=1).rows_read == 7

    def test_pupils_arrive_after_the_marks(self) -> None:
        result = quiet_load(SAMPLE)
        assert result.pupils.loc["P1", "admission_date"] == pd.Timestamp("2024-09-02")

    def test_pupils_of_two_schools_reach_the_register(self) -> None:
        class TwoSchools(MarksAdapter):
            name: ClassVar[str] = "two-schools"

            def read(self, source: ad.Source, *, errors: str = "collect", **options: Any) -> Any:
                out = ad.AdapterOutput()

                def marks() -> Iterator[pd.DataFrame]:
                    yield pd.DataFrame(
                        {
                            "pupil_id": ["P1", "P1"],
                            "date": ["2024-09-02", "2024-09-09"],
                            "session": ["AM", "AM"],
                            "code": ["/", "/"],
                            "school_id": ["S1", "S2"],
                        },
                        index=[2, 3],
                    )
                    out.pupils = pd.DataFrame(
                        {
                            "school_id": ["S1", "S2"],
                            "leaving_date": pd.to_datetime(pd.Series(["2024-09-06", None])).array,
                        },
                        index=pd.Index(["P1", "P1"], name="pupil_id"),
                    )

                out.marks = marks()
                return out

        ad.register_adapter("two-schools", TwoSchools)
        result = quiet_load(SAMPLE, format="two-schools")
        assert result.rows_read == 2
        assert list(result.pupils["school_id"]) == ["S1", "S2"]
        assert len(result.register.to_long()) == 2

    @pytest.mark.parametrize("kind", ["bytes", "bytesio", "path", "str"])
    def test_buffer_and_path_agree(self, kind: str, tmp_path: Path) -> None:
        path = tmp_path / "w.marks"
        path.write_bytes(SAMPLE)
        obj: Any = {"bytes": SAMPLE, "bytesio": io.BytesIO(SAMPLE), "path": path, "str": str(path)}[
            kind
        ]
        result = quiet_load(obj)
        base = quiet_load(SAMPLE)
        pd.testing.assert_frame_equal(result.register.to_long(), base.register.to_long())
        pd.testing.assert_frame_equal(result.rejected, base.rejected)
        assert result.rows_read == base.rows_read

    def test_buffer_not_closed(self) -> None:
        buffer = io.BytesIO(SAMPLE)
        quiet_load(buffer)
        assert not buffer.closed

    def test_errors_raise(self) -> None:
        with pytest.raises(RegisterError) as info:
            ad.load(SAMPLE, errors="raise")
        assert info.value.row == 5
        with pytest.raises(ValueError, match="errors must be"):
            ad.load(SAMPLE, errors="ignore")

    def test_field_length_limit(self) -> None:
        data = SAMPLE + b"P3,2024-09-03,AM," + b"X" * 3000 + b"\n"
        result = quiet_load(data)
        last = result.rejected.iloc[-1]
        assert (last["row"], last["column"], last["reason"]) == (10, "code", "field_too_long")
        assert len(last["value"]) <= 40
        assert result.rows_read == len(result.register.to_long()) + len(result.rejected)
        raised = quiet_load(data, max_field_length=10_000)
        assert raised.rejected.iloc[-1]["reason"] == "unknown_code"
        with pytest.raises(RegisterError, match="max_field_length") as info:
            ad.load(b"MARKS\nP3,2024-09-03,AM," + b"X" * 3000 + b"\n", errors="raise")
        assert info.value.reason == "field_too_long"

    @pytest.mark.parametrize("dtype", ["string", "str", "object"])
    def test_field_length_guard_with_missing_values(self, dtype: str) -> None:
        class Typed(MarksAdapter):
            name: ClassVar[str] = "typed"

            def read(self, source: ad.Source, *, errors: str = "collect", **options: Any) -> Any:
                frame = pd.DataFrame(
                    {
                        "pupil_id": ["P1", "P1", "P2"],
                        "date": ["2024-09-02", "2024-09-02", "2024-09-02"],
                        "session": ["AM", "PM", "AM"],
                        "code": ["/", None, "X" * 50],
                    },
                    index=[2, 3, 4],
                ).astype(cast(Any, dtype))
                # pandas before 3 turns None into the text "None" under astype(str): put the
                # missing mark back as the dtype's own missing value
                frame.loc[3, "code"] = None
                return ad.AdapterOutput(marks=[frame])

        ad.register_adapter("typed", Typed)
        result = quiet_load(SAMPLE, format="typed", max_field_length=20)
        assert result.rejected[["row", "reason"]].to_records(index=False).tolist() == [
            (4, "field_too_long")
        ]
        assert result.rows_read == 3

    def test_file_size_limit(self, tmp_path: Path) -> None:
        path = tmp_path / "w.marks"
        path.write_bytes(SAMPLE)
        with pytest.raises(FormatError, match="over the limit of 20"):
            ad.load(path, max_file_size=20)
        assert quiet_load(path, max_file_size=len(SAMPLE)).rows_read == 7

    def test_stray_exception_becomes_format_error_without_data(self) -> None:
        ad.register_adapter("test-broken", BrokenAdapter)
        with pytest.raises(FormatError) as info:
            ad.load(SAMPLE, format="test-broken")
        assert "KeyError" in str(info.value)
        assert "Smith" not in str(info.value)
        assert isinstance(info.value.__cause__, KeyError)

    def test_wrong_return_type(self) -> None:
        class Wrong(MarksAdapter):
            name: ClassVar[str] = "wrong"

            def read(self, source: ad.Source, *, errors: str = "collect", **options: Any) -> Any:
                return [pd.DataFrame()]

        ad.register_adapter("wrong", Wrong)
        with pytest.raises(TypeError, match="not AdapterOutput"):
            ad.load(SAMPLE, format="wrong")

    @settings(max_examples=60, deadline=None)
    @given(
        st.lists(
            st.sampled_from(
                [
                    b"P1,2024-09-02,AM,/",
                    b"P1,2024-09-02,AM,N",
                    b"bad",
                    b"P2,2024-09-03,PM,L",
                    b"P2,2024-09-0x,PM,L",
                    b"",
                    b"P3,,AM,/",
                    b"P3,2024-09-04,XX,/",
                ]
            ),
            max_size=30,
        ),
        st.integers(1, 5),
    )
    def test_rows_read_invariant(self, lines: list[bytes], chunk: int) -> None:
        data = b"MARKS\n" + b"\n".join(lines) + b"\n"
        result = quiet_load(data, chunksize=chunk)
        assert result.rows_read == len(result.register.to_long()) + len(result.rejected)
        assert result.rows_read == sum(1 for line in lines if line)
        rows = result.rejected["row"].tolist()
        assert rows == sorted(rows)


# ------------------------------------------------------------------------------ the kit


class TestConformanceKit:
    def test_kit_passes_a_line_format(self, tmp_path: Path) -> None:
        path = tmp_path / "week.marks"
        path.write_bytes(SAMPLE)
        result = check_conformance("test-marks", path, expect_rows=7, bad_sample=path, examples=15)
        assert result.rows_read == 7

    def test_kit_catches_stray_exceptions(self) -> None:
        class Fragile(MarksAdapter):
            name: ClassVar[str] = "fragile"

            def read(self, source: ad.Source, *, errors: str = "collect", **options: Any) -> Any:
                if not source.head(1):
                    raise FormatError("empty", file=source.name)
                return ad.AdapterOutput(marks=[pd.DataFrame({"x": [source.head(1)[0] // 0]})])

        ad.register_adapter("fragile", Fragile)
        with pytest.raises(ZeroDivisionError):
            check_random_bytes("fragile", examples=10)

    def test_kit_catches_a_sniffer_that_misses_its_sample(self) -> None:
        with pytest.raises(AssertionError, match="does not sniff its sample"):
            check_detection("test-marks", b"NOT MARKS\n")

    def test_every_error_is_an_attendance_error(self) -> None:
        assert issubclass(FormatError, AttendanceError)
