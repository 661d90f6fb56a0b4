"""The shared value helpers (``attendance_core._values``): one of each, for core and adapters."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from attendance_core import _values, adapterkit, patterns, privacy, register


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (True, True),
        (np.bool_(True), True),
        (1, True),
        (1.0, True),
        (" Y ", True),
        ("yes", True),
        ("TRUE", True),
        ("on", True),
        (False, False),
        (0, False),
        ("no", False),
        ("", False),
        (None, False),
        (float("nan"), False),
        (pd.NA, False),
    ],
)
def test_truthy(value: object, expected: bool) -> None:
    assert _values.truthy(value) is expected
    column = pd.Series([value, None], dtype=object)
    assert list(_values.truthy_array(column)) == [expected, False]


@pytest.mark.parametrize(
    ("value", "expected"),
    [(1234, "1234"), (1234.0, "1234"), (np.float64(7.0), "7"), (" A1 ", "A1"), (12.5, "12.5")],
)
def test_id_text(value: object, expected: str) -> None:
    assert _values.id_text(value) == expected
    assert _values.id_texts([value]) == [expected]
    assert adapterkit.text_id(value) == expected


def test_text_id_keeps_its_none_for_no_id() -> None:
    for value in (None, True, float("nan"), "  ", object()):
        assert adapterkit.text_id(value) is None


def test_shorten() -> None:
    assert _values.shorten("x" * 40) == "x" * 40
    assert _values.shorten("x" * 41) == "x" * 37 + "..."
    assert adapterkit.shorten(12345, 3) == 12345  # not text: unchanged


@pytest.mark.parametrize(
    ("data", "text", "used"),
    [
        ("café".encode(), "café", "utf-8"),
        (b"\xef\xbb\xbfid", "id", "utf-8"),
        ("café €".encode("cp1252"), "café €", "cp1252"),
        (b"\x81", "\x81", "latin-1"),  # not cp1252 either: Latin-1 decodes any byte
    ],
)
def test_decode_bytes(data: bytes, text: str, used: str) -> None:
    assert _values.decode_bytes(data) == (text, used)


def test_core_modules_use_the_one_helper() -> None:
    """No module keeps its own copy: they import the one in ``_values``."""
    assert register._id_texts is _values.id_texts
    assert privacy._id_text is _values.id_text
    assert patterns._truthy is _values.truthy_array
    assert adapterkit.decode_bytes is _values.decode_bytes
