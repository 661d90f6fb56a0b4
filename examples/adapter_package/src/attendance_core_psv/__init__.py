"""An example attendance-core adapter: a pipe-separated register export.

The format (invented for the example, shaped like many small MIS exports)::

    #REGISTER-PSV 1
    pupil_id|date|session|code
    A100|20240902|AM|/
    A100|20240902|PM|\\

Line 1 is the signature that ``sniff`` looks for, line 2 the header, then one mark per line with
the date as ``YYYYMMDD``. The adapter does only what the format needs: it finds the fields, turns
the date into a date and numbers every mark with its line in the file. Codes and sessions are
passed on as written: the core normalises, maps sub-codes and validates them against the code
set of the date, so every adapter agrees on what a code means.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any, ClassVar

import pandas as pd

from attendance_core import AdapterOutput, FormatError, Reason, RegisterError, Source
from attendance_core.adapters import check_options

__all__ = ["PsvAdapter"]

SIGNATURE = b"#REGISTER-PSV 1"
HEADER = ["pupil_id", "date", "session", "code"]
CHUNK_ROWS = 100_000  # marks per chunk: bounded memory on a large export


class PsvAdapter:
    """Read ``#REGISTER-PSV 1`` files: one mark per line, ``pupil_id|YYYYMMDD|AM/PM|code``."""

    name: ClassVar[str] = "register-psv"
    options: ClassVar[frozenset[str]] = frozenset()  # no options of its own
    extensions: ClassVar[tuple[str, ...]] = (".psv",)
    description: ClassVar[str] = "pipe-separated register export (#REGISTER-PSV 1)"

    def sniff(self, source: Source) -> bool:
        """True when the source starts with the signature line (a BOM is allowed)."""
        head: bytes = source.head(64)
        return head.removeprefix(b"\xef\xbb\xbf").startswith(SIGNATURE)

    def read(self, source: Source, *, errors: str = "collect", **options: Any) -> AdapterOutput:
        """Read the file; marks are produced lazily, rejected rows collected as they go."""
        check_options(self.name, self.options, options, source.name)  # load() checked too
        out = AdapterOutput(source_columns={column: column for column in HEADER})
        out.marks = self._marks(source, errors, out)
        return out

    def _marks(self, source: Source, errors: str, out: AdapterOutput) -> Iterator[pd.DataFrame]:
        with source.open() as fh:
            data = fh.read()
        if not data.strip():
            raise FormatError("file is empty", file=source.name)
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            line = data[: exc.start].count(b"\n") + 1
            raise FormatError("not UTF-8 text", file=source.name, row=line) from exc
        # split on newlines only, so that row numbers are the file's line numbers
        lines = [line.removesuffix("\r") for line in text.split("\n")]
        if lines[0].strip() != SIGNATURE.decode():
            raise FormatError("first line must be '#REGISTER-PSV 1'", file=source.name, row=1)
        if len(lines) < 2 or [f.strip().lower() for f in lines[1].split("|")] != HEADER:
            raise FormatError(
                "second line must be the header pupil_id|date|session|code",
                file=source.name,
                row=2,
            )

        def problem(row: int, column: str, value: str, reason: Reason, text: str) -> None:
            if errors == "raise":
                raise RegisterError(
                    text, file=source.name, row=row, column=column, value=value, reason=reason
                )
            out.rejected.append({"row": row, "column": column, "value": value, "reason": reason})

        rows: list[tuple[str, dt.date, str, str]] = []
        index: list[int] = []
        for number, line in enumerate(lines[2:], start=3):
            if not line.strip():
                continue  # a blank line is not a row (a trailing newline makes one)
            fields = [field.strip() for field in line.split("|")]
            if len(fields) != len(HEADER):
                problem(
                    number, "code", f"{len(fields)} fields", Reason.BAD_RECORD, "needs 4 fields"
                )
                continue
            pupil_id, date_text, session, code = fields
            if not pupil_id:
                problem(number, "pupil_id", "", Reason.MISSING_VALUE, "no pupil id")
                continue
            try:
                day = dt.datetime.strptime(date_text, "%Y%m%d").date()
            except ValueError:
                problem(number, "date", date_text, Reason.BAD_DATE, "date must be YYYYMMDD")
                continue
            rows.append((pupil_id, day, session, code))
            index.append(number)
            if len(rows) == CHUNK_ROWS:
                yield _chunk(rows, index)
                rows, index = [], []
        if rows:
            yield _chunk(rows, index)


def _chunk(rows: list[tuple[str, dt.date, str, str]], index: list[int]) -> pd.DataFrame:
    """A chunk in the long layout, indexed by the line number of each mark."""
    return pd.DataFrame(rows, columns=HEADER, index=pd.Index(index, dtype="int64"))
