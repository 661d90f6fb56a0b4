"""Exceptions and warnings of attendance-core.

Every exception derives from :class:`AttendanceError` and from the builtin a caller would
naturally catch (``ValueError``), so ``except ac.AttendanceError`` catches anything the library
raises about its input. Messages name the file, row, column and value where there is one, and
never carry personal fields beyond the pupil id.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class Reason(StrEnum):
    """Why a row was rejected: the ids of ``rejected["reason"]``.

    Code branches on these values, never on message text.
    """

    MISSING_VALUE = "missing_value"
    BAD_DATE = "bad_date"
    DATE_OUT_OF_RANGE = "date_out_of_range"
    STRAY_DATE = "stray_date"
    AMBIGUOUS_DATE = "ambiguous_date"
    BAD_SESSION = "bad_session"
    UNKNOWN_CODE = "unknown_code"
    UNMAPPED_SYMBOL = "unmapped_symbol"
    DUPLICATE_ROW = "duplicate_row"
    DUPLICATE_SESSION = "duplicate_session"
    BAD_VALUE = "bad_value"
    FIELD_TOO_LONG = "field_too_long"
    FLAG_MISMATCH = "flag_mismatch"
    BAD_RECORD = "bad_record"
    UNKNOWN_PUPIL = "unknown_pupil"
    NOT_DAILY_ATTENDANCE = "not_daily_attendance"


REASON_TEXT: dict[str, str] = {
    Reason.MISSING_VALUE: "no value",
    Reason.BAD_DATE: "not a date",
    Reason.DATE_OUT_OF_RANGE: "date outside 1990-01-01 to 2099-12-31, the dates a register holds",
    Reason.STRAY_DATE: "date far from every other date of its school (a mistyped year?)",
    Reason.AMBIGUOUS_DATE: "ambiguous date",
    Reason.BAD_SESSION: "session must be AM or PM",
    Reason.UNKNOWN_CODE: "unknown attendance code",
    Reason.UNMAPPED_SYMBOL: "local symbol with no mapping to a statutory code",
    Reason.DUPLICATE_ROW: "repeats an earlier row exactly",
    Reason.DUPLICATE_SESSION: "another row gives a different code for the same session",
    Reason.BAD_VALUE: "value not usable",
    Reason.FIELD_TOO_LONG: "field longer than the limit",
    Reason.FLAG_MISMATCH: "flags disagree with the code",
    Reason.BAD_RECORD: "record not usable",
    Reason.UNKNOWN_PUPIL: "mark for a pupil the export does not list",
    Reason.NOT_DAILY_ATTENDANCE: "not a statutory AM/PM session mark (e.g. a lesson register)",
}


class AttendanceError(Exception):
    """Root of every error attendance-core raises about its input or configuration."""


class RegisterError(AttendanceError, ValueError):
    """A register row (or the register as a whole) cannot be used.

    Carries ``message`` (the text alone), ``file``, ``row``, ``column``, ``value`` and
    ``reason`` as attributes; the message renders them in that order on one line.
    """

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        row: Any = None,
        column: str | None = None,
        value: Any = None,
        reason: str | None = None,
    ) -> None:
        self.message = message
        self.file = file
        self.row = row
        self.column = column
        self.value = value
        self.reason = reason
        parts = []
        if file is not None:
            parts.append(str(file))
        if row is not None:
            parts.append(f"row {row}")
        if column is not None:
            parts.append(f"column {column!r}")
        where = ", ".join(parts)
        text = f"{where}: {message}" if where else message
        if value is not None:
            text += f" (got {_shown(value)})"
        super().__init__(text)

    def __reduce__(self) -> tuple[Any, ...]:
        # keep exceptions picklable across processes (Dask workers)
        return (_rebuild, (type(self), self.args[0], self.__dict__))


class FormatError(RegisterError):
    """A source file is not of the expected format, is truncated, unsafe, or ambiguous."""


class CodeSetError(AttendanceError, ValueError):
    """A code set is unknown or malformed: a field, a tag, an ``extends`` or a symbol is wrong.

    The fault is the code-set file's (or the name asked for), not the register's.
    """


class SchemeError(AttendanceError, ValueError):
    """A band scheme is malformed: bands overlap, leave a gap, or a field is wrong."""


class PolicyError(AttendanceError, ValueError):
    """A policy file is malformed; the message names the rule and the field."""


class PlanError(AttendanceError, ValueError):
    """An action plan table or item cannot be read or is inconsistent."""


class AttendanceWarning(UserWarning):
    """Something was accepted but deserves a look (e.g. a Latin-1 file, swapped plan cells)."""


def _shown(value: Any, limit: int = 40) -> str:
    """A value as it may appear in a message: repr, cut short so no long field leaks."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _rebuild(cls: type[RegisterError], first: str, state: dict[str, Any]) -> RegisterError:
    err = cls.__new__(cls)
    Exception.__init__(err, first)
    err.__dict__.update(state)
    return err
