"""Format-neutral Ed-Fi records and the step that turns them into register rows.

Both readers (JSON API resources and XML interchanges) produce the same small records; this
module maps categories to codes, places events on sessions, fills instructional days from the
calendar and builds the pupils table.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

import attrs
import pandas as pd

from attendance_core.adapterkit import (
    RejectedRows,
    RowProblem,
    checked_date,
    chunked,
    mark_row,
    package_toml,
    parse_date,
)
from attendance_core.adapters import AdapterOutput, RejectedStore, Source, check_options
from attendance_core.calendar import as_dates, clip
from attendance_core.errors import Reason

#: Descriptor namespaces of the Ed-Fi standard itself (anything else is a local descriptor).
STANDARD_NAMESPACES = ("uri://ed-fi.org/", "http://ed-fi.org/", "https://ed-fi.org/")
#: An eventDuration at or above this is a full day (both sessions); below it, one session.
FULL_DAY_FROM = 0.75
#: Reason id of an Ed-Fi v1 event that is not daily attendance (e.g. section attendance).
NOT_DAILY = Reason.NOT_DAILY_ATTENDANCE.value
SESSIONS = ("AM", "PM")
_SPACES = re.compile(r"\s+")


def _table(name: str) -> dict[str, Any]:
    return package_toml(__package__, name)


#: Category code value (lower-case) -> {"am": code, "pm": code} (``categories.toml``).
CATEGORIES: Mapping[str, Mapping[str, str]] = _table("categories.toml")
_CALENDAR = _table("calendar.toml")
#: Calendar event code values that make an instructional day (``calendar.toml``).
INSTRUCTIONAL_EVENTS: tuple[str, ...] = tuple(_CALENDAR["instructional"])
#: Every calendar event value of the Ed-Fi standard (others are counted in a warning).
KNOWN_EVENTS: frozenset[str] = frozenset(_CALENDAR["known"])
#: Weekdays (Monday = 0) that are school days when they come from Session begin/end dates.
SESSION_WEEKDAYS: frozenset[int] = frozenset(int(d) for d in _CALENDAR["session_weekdays"])
#: A calendar listing fewer dates than this share of the weekdays in its span is partial.
PARTIAL_BELOW: float = float(_CALENDAR["partial_below"])


def norm(text: str) -> str:
    """Lower-case with single spaces: how code values are compared."""
    return _SPACES.sub(" ", text.strip()).lower()


def split_descriptor(value: str) -> tuple[str | None, str]:
    """``uri://ed-fi.org/XDescriptor#Code`` -> (namespace, code value); a bare value -> (None,
    value)."""
    if "#" in value:
        namespace, _, code = value.rpartition("#")
        return namespace, code
    return None, value


@attrs.frozen
class Columns:
    """Source names of the event fields, for rejected rows and messages."""

    student: str
    school: str
    date: str
    category: str
    duration: str
    kind: str


@attrs.frozen
class Event:
    """One attendance event as read (values raw, checked later)."""

    row: int
    pupil: str | None = None
    school: str | None = None
    date: Any = None
    category: str | None = None
    duration: Any = None
    kind: str | None = None
    #: the type of a damaged record that stands where an event should (a rejected row)
    bad: str | None = None


@attrs.frozen
class CalendarDay:
    """One calendar date and the code values of its calendar events."""

    row: int
    school: str | None
    date: dt.date | None
    events: tuple[str, ...]


@attrs.frozen
class SessionSpan:
    """A Session (term): its school, name, begin and end dates and declared day count."""

    row: int
    school: str | None
    name: str | None
    begin: dt.date | None
    end: dt.date | None
    total: int | None


@attrs.frozen
class Student:
    """A pupil's attributes from a student record."""

    pupil: str
    name: str | None
    date_of_birth: dt.date | None


@attrs.frozen
class Enrolment:
    """A student-school association: where and when a pupil is enrolled."""

    pupil: str
    school: str | None
    entry: dt.date | None
    exit: dt.date | None
    grade: str | None


@attrs.frozen
class Mapper:
    """Category descriptors -> (AM code, PM code), with the caller's local mapping."""

    local: Mapping[str, str] = attrs.field(factory=dict)

    @classmethod
    def of(cls, descriptor_map: Mapping[str, str] | None) -> Mapper:
        """A mapper over a caller mapping (full descriptor URI or code value -> code or
        category name); keys are compared like code values."""
        local: dict[str, str] = {}
        for key, value in (descriptor_map or {}).items():
            if not isinstance(key, str) or not isinstance(value, str):
                raise TypeError("descriptor_map must map descriptor text to a code text")
            local[norm(key)] = value
        return cls(local)

    def codes(self, value: str) -> tuple[tuple[str, str] | None, str]:
        """((am, pm), "") when mapped, else (None, reason id)."""
        namespace, code = split_descriptor(value)
        standard = namespace is None or namespace.lower().startswith(STANDARD_NAMESPACES)
        if standard and norm(code) in CATEGORIES:
            row = CATEGORIES[norm(code)]
            return (row["am"], row["pm"]), ""
        for key in (norm(value), norm(code)):
            if key in self.local:
                target = self.local[key]
                if norm(target) in CATEGORIES:
                    row = CATEGORIES[norm(target)]
                    return (row["am"], row["pm"]), ""
                if norm(target) == "present":
                    return ("/", "\\"), ""
                return (target, target), ""
        return None, (Reason.UNKNOWN_CODE if standard else Reason.UNMAPPED_SYMBOL)


def duration_of(raw: Any) -> float | None:
    """eventDuration as a float (None when missing); raises ValueError when unusable."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    if isinstance(raw, bool):
        raise ValueError("not a number")
    value = float(raw)
    if not 0 < value <= 1:
        raise ValueError("out of range")
    return value


@attrs.frozen
class _SchoolDates:
    """One school's calendar (``key``: its id, None when the export names no schools): the
    dates listed (date -> (row, instructional)), the instructional ones (date -> row) and its
    Sessions."""

    key: str | None
    dates: Mapping[dt.date, tuple[int, bool]]
    days: Mapping[dt.date, int]
    spans: list[SessionSpan]


@attrs.define
class Build:
    """Turns events (and optionally calendar days, students, enrolments) into register rows."""

    events: list[Event]
    days: list[CalendarDay]
    students: list[Student]
    enrolments: list[Enrolment]
    columns: Columns
    mapper: Mapper
    instructional: frozenset[str]
    sink: RejectedRows
    warnings: list[str]
    sessions: list[SessionSpan] = attrs.field(factory=list)
    session_days: bool = True
    file: str = ""

    @property
    def has_school(self) -> bool:
        """Whether marks carry a school id (any event names a school)."""
        return any(e.school for e in self.events)

    # ------------------------------------------------------------------------- marks
    def rows(self) -> Iterator[tuple[int, dict[str, Any]]]:
        """(source row, long row) for events, then for calendar-filled present sessions."""
        if not self.events:
            # no silent loss: a calendar or student file alone says nothing about attendance,
            # and filling its days would claim every pupil was present
            found = [
                f"{len(items)} {what}"
                for items, what in (
                    (self.days, "calendar date(s)"),
                    (self.sessions, "session(s)"),
                    (self.students, "student(s)"),
                    (self.enrolments, "school association(s)"),
                )
                if items
            ]
            self.warnings.append(
                f"{self.file or 'the source'}: no attendance event records "
                f"(StudentSchoolAttendanceEvent / studentSchoolAttendanceEvents)"
                + (f"; read only {', '.join(found)}" if found else "")
                + ": nothing to mark (no day is filled as present without events)"
            )
            return
        has_school = self.has_school
        valid: list[tuple[int, str | None, str, dt.date, tuple[str, str], bool]] = []
        taken: dict[tuple[str | None, str, dt.date], set[str]] = {}
        blocked: set[tuple[str | None, str, dt.date]] = set()
        for ev in self.events:
            checked = self._check(ev, has_school)
            if checked is not None:
                valid.append(checked)
            elif ev.pupil is not None and isinstance(ev.date, str):
                # a rejected event still says something happened that day: never fill it as
                # present (its sessions stay unmarked)
                day = parse_date(ev.date)
                if day is not None:
                    blocked.add((ev.school if has_school else None, ev.pupil, day))
        half = 0
        for row, school, pupil, day, (am, pm), full in valid:
            used = taken.setdefault((school, pupil, day), set())
            if full:
                sessions: list[tuple[str, str]] = [("AM", am), ("PM", pm)]
            else:
                half += 1
                which = "PM" if "AM" in used and "PM" not in used else "AM"
                sessions = [(which, am if which == "AM" else pm)]
            for session, code in sessions:
                used.add(session)
                yield (
                    row,
                    mark_row(pupil, day, session, code, school, with_school=has_school),
                )
        if half:
            self.warnings.append(
                f"{half} half-day event(s) (eventDuration below {FULL_DAY_FROM}): Ed-Fi does not "
                "say which session; recorded on AM (PM when AM already holds a half-day event)"
            )
        yield from self._fill(taken, blocked, has_school)

    def _check(
        self, ev: Event, has_school: bool
    ) -> tuple[int, str | None, str, dt.date, tuple[str, str], bool] | None:
        c, sink = self.columns, self.sink
        if ev.bad is not None:
            sink.reject(ev.row, "record", ev.bad, Reason.BAD_RECORD, "event is not a record")
            return None
        if ev.pupil is None:
            sink.reject(ev.row, c.student, None, Reason.MISSING_VALUE, "no student")
            return None
        if has_school and ev.school is None:
            sink.reject(ev.row, c.school, None, Reason.MISSING_VALUE, "no school")
            return None
        if ev.kind is not None and norm(ev.kind) != "daily attendance":
            sink.reject(ev.row, c.kind, ev.kind, NOT_DAILY, "not a daily attendance event")
            return None
        if ev.date is None:
            sink.reject(ev.row, c.date, None, Reason.MISSING_VALUE, "no date")
            return None
        if not isinstance(ev.date, str) or "/" in ev.date:
            sink.reject(ev.row, c.date, ev.date, Reason.BAD_DATE, "not an ISO date")
            return None
        try:
            day = checked_date(parse_date(ev.date), ev.date, c.date, text="not an ISO date")
        except RowProblem as problem:
            sink.record(ev.row, problem)
            return None
        if not ev.category:
            sink.reject(ev.row, c.category, None, Reason.MISSING_VALUE, "no category")
            return None
        codes, why = self.mapper.codes(ev.category)
        if codes is None:
            text = (
                "local descriptor with no mapping (pass descriptor_map)"
                if why == Reason.UNMAPPED_SYMBOL
                else "unknown attendance event category"
            )
            sink.reject(ev.row, c.category, ev.category, why, text)
            return None
        try:
            duration = duration_of(ev.duration)
        except (TypeError, ValueError):
            shown = ev.duration if isinstance(ev.duration, str | int | float) else str(ev.duration)
            sink.reject(
                ev.row,
                c.duration,
                shown,
                Reason.BAD_VALUE,
                "eventDuration must be a fraction of a day in (0, 1]",
            )
            return None
        full = duration is None or duration >= FULL_DAY_FROM
        return ev.row, ev.school, ev.pupil, day, codes, full

    # ------------------------------------------------------------------------- calendar
    def calendars(self, has_school: bool) -> dict[str | None, dict[dt.date, int]]:
        """Instructional days (date -> source row) per school (None = any school).

        From the calendar dates; for a school whose calendar lists no instructional day, or
        is partial (see ``calendar.toml``), from its Sessions' begin/end dates (weekdays, less
        the dates the calendar lists as not instructional) when ``session_days`` is on. Every
        such decision is warned about.
        """
        listed: dict[str | None, dict[dt.date, tuple[int, bool]]] = {}
        unknown: list[CalendarDay] = []
        for cd in self.days:
            if cd.date is None:
                continue
            codes = {norm(e) for e in cd.events}
            instructional = bool(codes & self.instructional)
            if not instructional and not codes & KNOWN_EVENTS:
                unknown.append(cd)
            entry = listed.setdefault(cd.school if has_school else None, {})
            before = entry.get(cd.date)
            entry[cd.date] = (
                before[0] if before else cd.row,
                instructional or bool(before and before[1]),
            )
        if unknown:
            shown = ", ".join(sorted({e for cd in unknown for e in cd.events})[:5]) or "none"
            self.warnings.append(
                f"{len(unknown)} calendar date(s) (first at row {unknown[0].row}) carry no "
                f"calendar event the adapter knows (events: {shown}): not school days; "
                "pass instructional_events=(...) if they are"
            )
        spans: dict[str | None, list[SessionSpan]] = {}
        for sp in self.sessions:
            if sp.begin is not None and sp.end is not None and sp.begin <= sp.end:
                spans.setdefault(sp.school if has_school else None, []).append(sp)
        out: dict[str | None, dict[dt.date, int]] = {}
        for key in sorted(set(listed) | set(spans), key=lambda k: k or ""):
            dates = listed.get(key, {})
            days = {d: row for d, (row, instr) in dates.items() if instr}
            school = _SchoolDates(key, dates, days, spans.get(key, []))
            partial = self._partial(school)
            if (partial or not days) and school.spans and self.session_days:
                out[key] = self._session_days(school)
            elif days:
                out[key] = days
            elif dates:
                self.warnings.append(
                    f"{_label(key)}: the calendar marks none of its {len(dates)} date(s) "
                    "instructional: no day is filled as present"
                )
        return out

    def _partial(self, school: _SchoolDates) -> bool:
        """Whether the calendar of ``school`` is partial; warns about it and about sessions whose
        declared instructional days the calendar does not reach."""
        partial = False
        if school.dates:
            first, last = min(school.dates), max(school.dates)
            weekdays = _weekdays(first, last)
            if len(school.dates) < weekdays * PARTIAL_BELOW:
                partial = True
                self.warnings.append(
                    f"{_label(school.key)}: the calendar lists {len(school.dates)} date(s) between "
                    f"{first} and {last}, a span of {weekdays} weekdays: a partial calendar (days "
                    "it does not list are not school days unless Session dates fill them)"
                )
        short = []
        for sp in school.spans:
            if sp.total is None or sp.begin is None or sp.end is None or not school.dates:
                continue
            count = sum(1 for d in school.days if sp.begin <= d <= sp.end)
            if count < sp.total:
                short.append(f"'{sp.name}' {count} of {sp.total}")
        if short and not partial:
            self.warnings.append(
                f"{_label(school.key)}: the calendar lists fewer instructional days than the "
                f"session(s) declare (TotalInstructionalDays): {'; '.join(short[:5])}"
            )
        return partial

    def _session_days(self, school: _SchoolDates) -> dict[dt.date, int]:
        """Weekdays of the sessions (less dates listed as not instructional) plus the listed
        instructional days; the row of a derived day is its Session's row."""
        out = dict(school.days)
        for sp in school.spans:
            if sp.begin is None or sp.end is None:
                continue
            # a session dated past the bounds any register holds (a 9999-12-31 end) is read
            # up to those bounds, never day by day to the end of the calendar
            day, end = clip(sp.begin, sp.end)
            while day <= end:
                if day.weekday() in SESSION_WEEKDAYS and day not in school.dates:
                    out.setdefault(day, sp.row)
                day += dt.timedelta(days=1)
        declared = [sp.total for sp in school.spans if sp.total is not None]
        first = min(sp.begin for sp in school.spans if sp.begin is not None)
        last = max(sp.end for sp in school.spans if sp.end is not None)
        self.warnings.append(
            f"{_label(school.key)}: instructional days taken from {len(school.spans)} "
            f"Session(s) ({first}..{last}): {len(out)} weekday(s)"
            + (f", the sessions declare {sum(declared)}" if declared else "")
            + "; holidays the calendar does not list count as school days"
            " (pass session_days=False to use only listed dates)"
        )
        return out

    def _fill(
        self,
        taken: dict[tuple[str | None, str, dt.date], set[str]],
        blocked: set[tuple[str | None, str, dt.date]],
        has_school: bool,
    ) -> Iterator[tuple[int, dict[str, Any]]]:
        """Present marks for every known pupil on every instructional day without an event."""
        if not self.days and not self.sessions:
            self.warnings.append(
                "no calendar: only days with an event are in the register, so days of plain "
                "attendance are missing and rates are not comparable; pass calendar=..."
            )
            return
        calendars = self.calendars(has_school)
        if not calendars:
            return

        def calendar_of(school: str | None) -> dict[dt.date, int] | None:
            return calendars.get(school) if school in calendars else calendars.get(None)

        off_days = {
            (s, d) for (s, _, d) in taken if (cal := calendar_of(s)) is not None and d not in cal
        }
        if off_days:
            self.warnings.append(
                f"events on {len(off_days)} school day(s) that the calendar "
                "does not mark as instructional; kept"
            )
        spans: dict[tuple[str | None, str], list[tuple[dt.date | None, dt.date | None]]] = {}
        for en in self.enrolments:
            school = en.school if has_school else None
            spans.setdefault((school, en.pupil), []).append((en.entry, en.exit))
        pupils: set[tuple[str | None, str]] = {(s, p) for (s, p, _) in taken}
        pupils |= {(s, p) for (s, p, _) in blocked}
        pupils |= set(spans)
        schools = {s for s, _ in pupils if s is not None}
        placed = {p for _, p in pupils}
        unplaced = 0
        for st in self.students:
            if st.pupil in placed:
                continue
            if not has_school:
                pupils.add((None, st.pupil))
            elif len(schools) == 1:
                pupils.add((next(iter(schools)), st.pupil))
            else:
                unplaced += 1
        if unplaced:
            self.warnings.append(f"{unplaced} student(s) with no school: no days filled for them")
        missing = sorted(
            {s or "" for s, _ in pupils if s not in calendars and None not in calendars}
        )
        if missing:
            self.warnings.append(
                f"school(s) {', '.join(missing[:10])}: no calendar dates or sessions: only "
                "their event days are in the register, so their rates are not comparable"
            )
        for school, pupil in sorted(pupils, key=lambda sp: (sp[0] or "", sp[1])):
            calendar = calendar_of(school)
            if not calendar:
                continue
            span = spans.get((school, pupil))
            for day, row in sorted(calendar.items()):
                if span is not None and not any(
                    (a is None or a <= day) and (b is None or day <= b) for a, b in span
                ):
                    continue
                if (school, pupil, day) in blocked:
                    continue
                used = taken.get((school, pupil, day), set())
                for session, code in (("AM", "/"), ("PM", "\\")):
                    if session not in used:
                        yield (
                            row,
                            mark_row(pupil, day, session, code, school, with_school=has_school),
                        )

    # ------------------------------------------------------------------------- pupils
    def pupils(self) -> pd.DataFrame:
        """The pupils table: one row per (school, pupil) from events, enrolments and students,
        with the attributes those records give."""
        rows: dict[tuple[str | None, str], dict[str, Any]] = {}
        for ev in self.events:
            if ev.pupil is not None:
                rows.setdefault((ev.school, ev.pupil), {})
        for en in sorted(self.enrolments, key=lambda e: e.entry or dt.date.min):
            rec = rows.setdefault((en.school, en.pupil), {})
            rec["admission_date"] = en.entry
            rec["leaving_date"] = en.exit
            rec["year_group"] = en.grade
        schools = {s for s, _ in rows if s is not None}
        for st in self.students:
            keys = [k for k in rows if k[1] == st.pupil]
            if not keys:
                keys = [(next(iter(schools)) if len(schools) == 1 else None, st.pupil)]
            for key in keys:
                rec = rows.setdefault(key, {})
                rec["name"] = st.name
                rec["date_of_birth"] = st.date_of_birth
        order = (
            "school_id",
            "name",
            "year_group",
            "date_of_birth",
            "admission_date",
            "leaving_date",
        )
        records = [{"pupil_id": p, "school_id": s, **rec} for (s, p), rec in rows.items()]
        present = [c for c in order if any(r.get(c) is not None for r in records)]
        frame = pd.DataFrame.from_records(
            [{c: r.get(c) for c in ["pupil_id", *present]} for r in records],
            columns=["pupil_id", *present],
        )
        frame = frame.set_index(pd.Index(frame.pop("pupil_id").astype(object), name="pupil_id"))
        for col in ("date_of_birth", "admission_date", "leaving_date"):
            if col in frame:  # the one date policy: a 9999-12-31 placeholder is unknown
                frame[col] = as_dates(frame[col], col, ids=frame.index)
        return frame.sort_index(kind="mergesort")


#: The ``read`` options of both Ed-Fi adapters (besides ``errors`` and the core limits).
EDFI_OPTIONS = frozenset(
    {"calendar", "students", "descriptor_map", "instructional_events", "session_days"}
)


def _label(key: str | None) -> str:
    return f"school {key}" if key else "the calendar"


def _weekdays(first: dt.date, last: dt.date) -> int:
    """School weekdays (``SESSION_WEEKDAYS``) from ``first`` to ``last``, both included."""
    full, rest = divmod((last - first).days + 1, 7)
    extra = sum(1 for n in range(rest) if (first.weekday() + n) % 7 in SESSION_WEEKDAYS)
    return full * len(SESSION_WEEKDAYS) + extra


@attrs.frozen(kw_only=True)
class ReadOptions:
    """The ``read`` options both Ed-Fi adapters take (see their class docstrings)."""

    calendar: Any
    students: Any
    mapper: Mapper
    instructional: frozenset[str]
    session_days: bool = True

    @classmethod
    def take(cls, format_name: str, options: dict[str, Any]) -> ReadOptions:
        """Pop the Ed-Fi options from ``options``; anything left that the core does not
        handle is a :class:`~attendance_core.FormatError` naming the format."""
        check_options(format_name, EDFI_OPTIONS, options)
        calendar = options.pop("calendar", None)
        students = options.pop("students", None)
        mapper = Mapper.of(options.pop("descriptor_map", None))
        instructional = frozenset(
            norm(e) for e in options.pop("instructional_events", INSTRUCTIONAL_EVENTS)
        )
        session_days = options.pop("session_days", True)
        if not isinstance(session_days, bool):
            raise TypeError(f"{format_name}: session_days must be True or False")
        return cls(
            calendar=calendar,
            students=students,
            mapper=mapper,
            instructional=instructional,
            session_days=session_days,
        )


class Records:
    """Records of one or more sources, by kind. Each reader's subclass adds its own
    ``add_source`` and says which fields it reads (``columns``) and, for people, which source
    fields the register's columns came from (``source_columns``)."""

    columns: ClassVar[Columns]
    source_columns: ClassVar[dict[str, str]]

    def __init__(self, warnings: list[str]) -> None:
        self.warnings = warnings
        self.events: list[Event] = []
        self.days: list[CalendarDay] = []
        self.students: list[Student] = []
        self.enrolments: list[Enrolment] = []
        self.sessions: list[SessionSpan] = []
        self.skipped = 0

    def add_source(self, source: Source) -> None:
        raise NotImplementedError

    def notes(self) -> list[str]:
        """Warnings about what the sources held and was not read (after every source)."""
        return []

    @classmethod
    def read(
        cls, format_name: str, source: Source, errors: str, options: dict[str, Any]
    ) -> AdapterOutput:
        """The adapter output of ``source`` and of the optional ``calendar`` and ``students``
        files or folders named in ``options``."""
        opts = ReadOptions.take(format_name, options)
        records = cls([])
        records.add_source(source)
        for extra in (opts.calendar, opts.students):
            if extra is not None:
                records.add_source(Source.of(extra))
        records.warnings += records.notes()
        return output(
            records=records,
            options=opts,
            columns=cls.columns,
            file=source.name,
            errors=errors,
            warnings=records.warnings,
            source_columns=cls.source_columns,
        )


def output(
    *,
    records: Records,
    options: ReadOptions,
    columns: Columns,
    file: str,
    errors: str,
    warnings: list[str],
    source_columns: dict[str, str],
) -> AdapterOutput:
    """The adapter output of read records: marks built lazily, pupils at once."""
    rejected = RejectedStore()
    build = Build(
        events=records.events,
        days=records.days,
        students=records.students,
        enrolments=records.enrolments,
        columns=columns,
        mapper=options.mapper,
        instructional=options.instructional,
        sink=RejectedRows(file, errors, rejected),
        warnings=warnings,
        sessions=records.sessions,
        session_days=options.session_days,
        file=file,
    )
    names = ["pupil_id", "date", "session", "code"]
    if build.has_school:
        names.append("school_id")
    return AdapterOutput(
        marks=chunked(build.rows(), names),
        pupils=build.pupils(),
        rejected=rejected,
        warnings=warnings,
        source_columns=source_columns,
    )
