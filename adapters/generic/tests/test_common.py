"""Tests of the shared pieces: dates, header aliases, UPN checks, encodings."""

from __future__ import annotations

import datetime as dt
import tomllib
from collections.abc import Iterator
from importlib import resources

import pytest
from attendance_core_generic._common import (
    PUPIL_DATE_COLUMNS,
    AliasTable,
    DateParser,
    alias_table,
    detect_encoding,
    header_key,
    map_header,
    prefetched,
)
from hypothesis import given
from hypothesis import strategies as st

import attendance_core.adapters as ad
from attendance_core.errors import FormatError, Reason

dates = st.dates(min_value=dt.date(1990, 1, 1), max_value=dt.date(2099, 12, 31))


class TestDates:
    @given(dates)
    def test_day_first_and_iso_round_trip(self, day: dt.date) -> None:
        parser = DateParser()
        assert parser.parse(f"{day:%d/%m/%Y}") == (day.isoformat(), None)
        assert parser.parse(day.isoformat()) == (day.isoformat(), None)
        assert parser.parse(f"{day.day}/{day.month}/{day.year}") == (day.isoformat(), None)
        assert parser.parse(f"{day:%a %d/%m/%Y}") == (day.isoformat(), None)
        assert parser.parse(f"{day:%d %b %Y}") == (day.isoformat(), None)
        assert parser.parse(dt.datetime.combine(day, dt.time(8, 45))) == (day.isoformat(), None)

    @given(dates)
    def test_never_swapped(self, day: dt.date) -> None:
        """A month-first rendering is read day-first, or refused; never quietly swapped."""
        iso, why = DateParser().parse(f"{day:%m/%d/%Y}")
        if day.day == day.month:
            assert iso == day.isoformat()
        elif day.day <= 12:
            assert iso == dt.date(day.year, day.day, day.month).isoformat()  # as written
        else:
            assert (iso, why) == (None, Reason.AMBIGUOUS_DATE)

    @given(dates)
    def test_two_digit_years_are_ambiguous(self, day: dt.date) -> None:
        assert DateParser().parse(f"{day:%d/%m/%y}") == (None, Reason.AMBIGUOUS_DATE)

    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("02/09/2024", ("2024-09-02", None)),
            ("2/9/2024", ("2024-09-02", None)),
            ("02.09.2024", ("2024-09-02", None)),
            ("02-09-2024", ("2024-09-02", None)),
            ("2024-09-02T00:00:00", ("2024-09-02", None)),
            ("2024-09-02 08:45", ("2024-09-02", None)),
            ("02/09/2024 00:00:00", ("2024-09-02", None)),
            ("2nd September 2024", ("2024-09-02", None)),
            ("2024/09/02", ("2024-09-02", None)),
            ("2024/13/02", (None, Reason.AMBIGUOUS_DATE)),
            ("Mon 02/09/2024", ("2024-09-02", None)),
            ("Mon 09/02/2024", (None, Reason.AMBIGUOUS_DATE)),  # 9 Feb 2024 was a Friday
            ("31/09/2024", (None, Reason.BAD_DATE)),
            ("13/13/2024", (None, Reason.BAD_DATE)),
            ("45537", (None, Reason.BAD_DATE)),  # an Excel serial saved as text
            ("tomorrow", (None, Reason.BAD_DATE)),
            ("", (None, None)),
            ("  ", (None, None)),
        ],
    )
    def test_forms(self, text: str, expected: tuple[str | None, Reason | None]) -> None:
        assert DateParser().parse(text) == expected


class TestAliases:
    def test_table_is_data(self) -> None:
        text = resources.files("attendance_core_generic").joinpath("aliases.toml").read_text()
        data = tomllib.loads(text)
        table = AliasTable.from_mapping(data)
        assert table.columns == alias_table().columns
        known = set(ad.PUPIL_COLUMNS) | {
            "pupil_id",
            "upn",
            "mis_id",
            "date",
            "session",
            "code",
            "forename",
            "surname",
            "week_start",
            "marks",
        }
        assert set(data["columns"]) <= known
        assert set(PUPIL_DATE_COLUMNS) <= set(data["columns"])

    @pytest.mark.parametrize(
        ("header", "column"),
        [
            ("UPN", "upn"),
            ("Adno", "mis_id"),
            ("Pupil ID", "mis_id"),
            ("pupil_id", "mis_id"),
            ("Date", "date"),
            ("AM/PM", "session"),
            ("Mark", "code"),
            ("Code", "code"),
            ("School", "school_id"),
            ("URN", "school_id"),
            ("DfE number", "school_id"),
            ("  dfe   NUMBER ", "school_id"),
            ("CiN", "cin"),
            ("CP", "cp"),
            ("CiC", "cic"),
            ("SEN", "sen"),
            ("EHCP", "ehcp"),
            ("Medical", "medical"),
            ("FSM", "fsm"),
            ("Week Beginning", "week_start"),
        ],
    )
    def test_aliases(self, header: str, column: str) -> None:
        assert alias_table().column_of(header) == column

    def test_header_key(self) -> None:
        assert header_key(" Pupil_ID ") == header_key("pupil-id") == "pupilid"

    def test_better_alias_wins(self) -> None:
        header = map_header(["School", "Adno", "URN"], alias_table())
        assert header.names["school_id"] == "URN"
        assert header.repeated == ("School",)

    def test_ambiguous_session_header(self) -> None:
        with pytest.raises(FormatError, match="column 'Mon 02/09/24 AM'"):
            map_header(["Adno", "Mon 02/09/24 AM"], alias_table(), wide=True, file="x.csv")

    def test_a_column_named_like_a_session_without_a_date_is_unmapped(self) -> None:
        header = map_header(["Adno", "Total AM"], alias_table(), wide=True)
        assert header.unmapped == ("Total AM",)


class TestEncoding:
    @pytest.mark.parametrize(
        ("data", "encoding"),
        [
            (b"UPN,Name\n1,Sian\n", "utf-8"),
            ("UPN,Name\n1,Siân\n".encode(), "utf-8"),
            ("UPN,Name\n1,Siân\n".encode("utf-8-sig"), "utf-8-sig"),
            ("UPN,Name\n1,Siân\n".encode("utf-16"), "utf-16"),
            ("UPN,Name\n1,Siân – Zoë\n".encode("cp1252"), "cp1252"),
            (b"UPN,Name\n1,\x81\n", "latin-1"),
        ],
    )
    def test_detect(self, data: bytes, encoding: str) -> None:
        found, _errors, note = detect_encoding(ad.Source.of(data))
        assert found == encoding
        assert (note is None) == encoding.startswith(("utf-8", "utf-16"))


# ------------------------------------------------------------------ reading ahead on a thread


def test_prefetched_gives_every_item_in_order() -> None:
    assert list(prefetched(iter(range(50)))) == list(range(50))
    assert list(prefetched(iter([]))) == []


def test_prefetched_raises_at_the_failing_items_place() -> None:
    def items() -> Iterator[int]:
        yield 1
        yield 2
        raise ValueError("third")

    ahead = prefetched(items())
    assert [next(ahead), next(ahead)] == [1, 2]
    with pytest.raises(ValueError, match="third"):
        next(ahead)


def test_prefetched_closes_its_source_when_left_early() -> None:
    closed: list[bool] = []

    def items() -> Iterator[int]:
        try:
            yield from range(10)
        finally:
            closed.append(True)

    ahead = prefetched(items())
    assert next(ahead) == 0
    ahead.close()
    assert closed == [True]
