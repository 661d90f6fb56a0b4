"""A pupil's case history: the dated facts enforcement depends on.

Plans record intentions; the law asks what has *happened*: a notice to improve issued with its
improvement period, a penalty notice issued to a parent and paid, unpaid or withdrawn, the LA
told of a run of absence. :class:`CaseHistory` holds those facts as :class:`CaseEvent` rows so
that :func:`attendance_core.recommend` can decide on them (``history=...``). Storing history is
the casebook's job; here it is only passed in.

The table form (:meth:`CaseHistory.from_table` / :meth:`CaseHistory.to_table`) has the columns
``pupil_id``, ``school_id``, ``event``, ``date``, ``until``, ``parent_id``, ``outcome`` and
``note``; only ``pupil_id``, ``event`` and ``date`` are required.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Final

import attrs
import numpy as np
import pandas as pd

from .calendar import as_date
from .errors import AttendanceError, PolicyError, _shown

__all__ = ["EVENTS", "OUTCOMES", "CaseEvent", "CaseHistory"]

#: Event ids and, for each, the outcomes it may carry (empty: it takes none). Only a penalty
#: notice has an outcome: whether it was paid, left unpaid or withdrawn decides both the
#: three-year limit (withdrawn ones do not count) and the LA's duty to prosecute or withdraw.
EVENTS: Final[Mapping[str, frozenset[str]]] = {
    "notice_to_improve": frozenset(),
    "penalty_notice": frozenset({"paid", "unpaid", "withdrawn"}),
    "la_notified_continuous_absence": frozenset(),
    "la_notified_illness": frozenset(),
    "attendance_officer_consulted": frozenset(),
    "social_worker_agreed": frozenset(),
    "support_not_engaged": frozenset(),
    "support_not_worked": frozenset(),
    "prosecution": frozenset(),
    "education_supervision_order": frozenset(),
}

#: Every outcome any event may carry.
OUTCOMES: Final[frozenset[str]] = frozenset().union(*EVENTS.values())

COLUMNS: Final[tuple[str, ...]] = (
    "pupil_id",
    "school_id",
    "event",
    "date",
    "until",
    "parent_id",
    "outcome",
    "note",
)
_REQUIRED: Final[tuple[str, ...]] = ("pupil_id", "event", "date")


def _missing(value: Any) -> bool:
    if value is None or value is pd.NaT:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    if isinstance(value, str) and not value.strip():
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _to_date(value: Any) -> Any:
    """A date as :func:`~attendance_core.calendar.as_date` reads it (a date, datetime,
    Timestamp, ``datetime64`` or ISO ``YYYY-MM-DD`` text; a day-first ``03/04/2025`` is
    ambiguous and refused). Anything else is returned unchanged so the validator can refuse it
    by name."""
    if _missing(value):
        return None
    try:
        return as_date(value)
    except AttendanceError:
        return value


def _to_text(value: Any) -> Any:
    if _missing(value):
        return None
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, int | np.integer) and not isinstance(value, bool):
        # ids exported by spreadsheets arrive as numbers
        return str(int(value))
    return value


def _text_or_none(_: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None and not isinstance(value, str):
        raise PolicyError(f"{attribute.name!r} must be text (got {_shown(value)})")


def _date_or_none(_: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None and not isinstance(value, dt.date):
        raise PolicyError(
            f"{attribute.name!r} must be a date such as 2025-03-14 (got {_shown(value)})"
        )


@attrs.frozen(kw_only=True)
class CaseEvent:
    """One dated fact of a pupil's case.

    ``date`` is the day it happened or was issued; ``until`` ends a notice to improve's
    improvement period; ``parent_id`` names the parent a penalty notice was issued to;
    ``outcome`` is a penalty notice's ``paid``, ``unpaid`` or ``withdrawn``. An unknown event
    id, a missing date, an outcome the event does not take, or an ``until`` before ``date``
    raises :class:`~attendance_core.errors.PolicyError`.
    """

    pupil_id: str = attrs.field(converter=_to_text)
    event: str = attrs.field(converter=_to_text)
    date: dt.date = attrs.field(converter=_to_date)
    school_id: str | None = attrs.field(default=None, converter=_to_text, validator=_text_or_none)
    until: dt.date | None = attrs.field(default=None, converter=_to_date, validator=_date_or_none)
    parent_id: str | None = attrs.field(default=None, converter=_to_text, validator=_text_or_none)
    outcome: str | None = attrs.field(default=None, converter=_to_text, validator=_text_or_none)
    note: str | None = attrs.field(default=None, converter=_to_text, validator=_text_or_none)

    @pupil_id.validator
    def _check_pupil(self, attribute: attrs.Attribute[Any], value: Any) -> None:
        if not isinstance(value, str) or not value:
            raise PolicyError(f"'pupil_id' is required (got {_shown(value)})")

    @event.validator
    def _check_event(self, attribute: attrs.Attribute[Any], value: Any) -> None:
        if value not in EVENTS:
            known = ", ".join(sorted(EVENTS))
            raise PolicyError(f"unknown event {_shown(value)}: expected one of {known}")

    @date.validator
    def _check_date(self, attribute: attrs.Attribute[Any], value: Any) -> None:
        if value is None:
            raise PolicyError("'date' is required")
        _date_or_none(self, attribute, value)

    @until.validator
    def _check_until(self, attribute: attrs.Attribute[Any], value: Any) -> None:
        if value is not None and isinstance(self.date, dt.date) and value < self.date:
            raise PolicyError(f"'until' {value.isoformat()} is before 'date' {self.date}")

    @outcome.validator
    def _check_outcome(self, attribute: attrs.Attribute[Any], value: Any) -> None:
        if value is None:
            return
        allowed = EVENTS.get(self.event, frozenset())
        if not allowed:
            raise PolicyError(f"event {self.event!r} takes no outcome (got {_shown(value)})")
        if value not in allowed:
            raise PolicyError(
                f"outcome {_shown(value)} of {self.event!r}: expected one of "
                + ", ".join(sorted(allowed))
            )

    def as_row(self) -> dict[str, Any]:
        """The event as a row of :meth:`CaseHistory.to_table`."""
        return {name: getattr(self, name) for name in COLUMNS}


def _events_tuple(events: Iterable[CaseEvent]) -> tuple[CaseEvent, ...]:
    result = tuple(events)
    for i, event in enumerate(result):
        if not isinstance(event, CaseEvent):
            raise PolicyError(f"event {i}: expected a CaseEvent (got {type(event).__name__})")
    return result


def _sort_key(event: CaseEvent) -> tuple[str, str, dt.date, str]:
    return (event.school_id or "", event.pupil_id, event.date, event.event)


@attrs.frozen(kw_only=True)
class CaseHistory:
    """The case history of one or more pupils: :class:`CaseEvent` rows in the order given.

    Build one from events (``CaseHistory(events=[...])``) or a table
    (:meth:`from_table`). ``for_pupil`` gives one pupil's events in date order.
    """

    events: tuple[CaseEvent, ...] = attrs.field(factory=tuple, converter=_events_tuple)

    def __len__(self) -> int:
        return len(self.events)

    def __iter__(self) -> Iterator[CaseEvent]:
        return iter(self.events)

    @classmethod
    def from_table(cls, table: pd.DataFrame) -> CaseHistory:
        """Read a history from a DataFrame with the columns of :meth:`to_table`.

        ``pupil_id``, ``event`` and ``date`` are required; other columns are optional and any
        column not named there is ignored. A row that cannot be used raises
        :class:`~attendance_core.errors.PolicyError` naming the row (its index label), the
        column and the value.
        """
        if isinstance(table, CaseHistory):
            return table
        if not isinstance(table, pd.DataFrame):
            raise PolicyError(
                f"history must be a CaseHistory or a DataFrame (got {type(table).__name__})"
            )
        absent = [c for c in _REQUIRED if c not in table.columns]
        if absent:
            raise PolicyError("history table: missing column(s) " + ", ".join(absent))
        present = [c for c in COLUMNS if c in table.columns]
        events = []
        for label, values in zip(
            table.index, table[present].itertuples(index=False, name=None), strict=True
        ):
            row = dict(zip(present, values, strict=True))
            try:
                events.append(CaseEvent(**row))
            except PolicyError as err:
                raise PolicyError(f"history table, row {label}: {err}") from None
        return cls(events=events)

    def to_table(self) -> pd.DataFrame:
        """The history as a DataFrame with the columns ``pupil_id``, ``school_id``, ``event``,
        ``date``, ``until``, ``parent_id``, ``outcome`` and ``note`` (dates as ``datetime.date``,
        missing values as None); :meth:`from_table` reads it back unchanged."""
        return pd.DataFrame([e.as_row() for e in self.events], columns=list(COLUMNS), dtype=object)

    def for_pupil(self, pupil_id: str, school_id: str | None = None) -> tuple[CaseEvent, ...]:
        """The events of ``pupil_id`` in date order. With ``school_id``, events recorded at
        another school are left out; events with no school count for every school."""
        chosen = [
            e
            for e in self.events
            if e.pupil_id == pupil_id
            and (school_id is None or e.school_id is None or e.school_id == school_id)
        ]
        return tuple(sorted(chosen, key=lambda e: (e.date, e.event)))

    def sorted(self) -> CaseHistory:
        """The same events ordered by school, pupil, date and event id."""
        return CaseHistory(events=sorted(self.events, key=_sort_key))


def as_history(value: CaseHistory | pd.DataFrame | Iterable[CaseEvent] | None) -> CaseHistory:
    """``recommend``'s ``history`` argument as a :class:`CaseHistory` (empty for None)."""
    if value is None:
        return CaseHistory()
    if isinstance(value, CaseHistory):
        return value
    if isinstance(value, pd.DataFrame):
        return CaseHistory.from_table(value)
    if isinstance(value, str | bytes):
        raise PolicyError("history must be a CaseHistory or a DataFrame (got text)")
    return CaseHistory(events=value)
