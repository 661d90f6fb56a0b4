"""The value helpers every reader shares, one of each: ids as text, flags as booleans, text cut
short for a message, bytes decoded with the one encoding fallback.

Dates have their own single parser, :func:`attendance_core.calendar.as_date`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

__all__ = [
    "TRUE_WORDS",
    "decode_bytes",
    "id_text",
    "id_texts",
    "is_blank",
    "shorten",
    "truthy",
    "truthy_array",
]

#: Cell texts (compared stripped and lower-cased) that mean "yes" in a flag column or a switch.
TRUE_WORDS = frozenset({"true", "t", "yes", "y", "on", "1", "1.0"})
#: Cell texts that mean "no" where a reader refuses anything that is neither (the CLI's pupils
#: CSV): an empty cell is no.
FALSE_WORDS = frozenset({"false", "f", "no", "n", "off", "0", "0.0", ""})


def is_blank(value: Any) -> bool:
    """Whether a cell holds nothing: None, ``pd.NA``, ``NaT``, a NaN float or blank text."""
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    if isinstance(value, float | np.floating):
        return bool(np.isnan(value))
    return isinstance(value, str) and not value.strip()


def truthy(value: Any) -> bool:
    """Whether a flag cell or setting means yes: True, 1, ``"Y"``, ``"yes"``, ``"true"``,
    ``"on"``; None, NaN and anything else are false."""
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return False
    return str(value).strip().lower() in TRUE_WORDS


def truthy_array(values: pd.Series) -> npt.NDArray[np.bool_]:
    """:func:`truthy` of every value of a flag column, each distinct value read once."""
    if pd.api.types.is_bool_dtype(values.dtype) and not values.hasnans:
        return values.to_numpy(dtype=bool)
    codes, uniques = pd.factorize(values.astype(object), use_na_sentinel=True)
    truth = np.array([truthy(v) for v in uniques] + [False], dtype=bool)
    out: npt.NDArray[np.bool_] = truth[codes]  # NaN (code -1) takes the last entry: False
    return out


def id_text(value: Any) -> str:
    """An identifier as the register keeps it: ``1234``, ``1234.0`` (a float read by a CSV
    parser) and ``" 1234 "`` are one id."""
    if isinstance(value, bool | np.bool_):
        return str(value)
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    return str(value).strip()


def id_texts(values: Any) -> list[str]:
    """:func:`id_text` of every value (text values need only their spaces stripped)."""
    return [v.strip() if type(v) is str else id_text(v) for v in values]


def shorten(text: str, limit: int = 40) -> str:
    """``text`` cut to ``limit`` characters, ending ``...``, when it is longer. Keeps values
    quoted in messages and rejected rows small."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


def decode_bytes(data: bytes) -> tuple[str, str]:
    """Text of bytes and the encoding used: UTF-8 (with or without a BOM), else cp1252, else
    Latin-1 (which decodes anything). The caller words the warning for a fallback."""
    try:
        return data.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252"), "cp1252"
    except UnicodeDecodeError:
        return data.decode("latin-1"), "latin-1"
