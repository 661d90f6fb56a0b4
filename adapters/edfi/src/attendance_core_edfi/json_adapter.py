"""The ``edfi-json`` adapter: Ed-Fi ODS/API JSON resources (camelCase).

Reads ``studentSchoolAttendanceEvents`` arrays, and optionally ``calendarDates``, ``students``
and ``studentSchoolAssociations`` from the same folder or from the ``calendar=`` /
``students=`` options.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, ClassVar

from attendance_core.adapterkit import (
    get_path,
    page_files,
    parse_date,
    read_json_source,
    sniff_page_objects,
    text_id,
)
from attendance_core.adapters import AdapterOutput, Source
from attendance_core.errors import FormatError

from . import _model

__all__ = ["EdFiJsonAdapter"]

_EDFI_KEYS = re.compile(
    rb'"(eventDate|attendanceEventCategoryDescriptor|studentUniqueId|calendarEvents)"\s*:'
)
COLUMNS = _model.Columns(
    student="studentReference.studentUniqueId",
    school="schoolReference.schoolId",
    date="eventDate",
    category="attendanceEventCategoryDescriptor",
    duration="eventDuration",
    kind="attendanceEventType",
)


def record_kind(record: Any) -> str | None:
    """``event``, ``calendar_date``, ``session``, ``enrolment``, ``student`` or None, from a
    record's keys."""
    if not isinstance(record, Mapping):
        return None
    if "eventDate" in record:
        return "event"
    if "sessionName" in record and "beginDate" in record:
        return "session"
    if "calendarEvents" in record and "date" in record:
        return "calendar_date"
    if "entryDate" in record and "studentReference" in record:
        return "enrolment"
    if "studentUniqueId" in record:
        return "student"
    return None


class _Records(_model.Records):
    """Records of one or more JSON sources, sorted by kind, numbered per kind."""

    columns = COLUMNS
    source_columns: ClassVar[dict[str, str]] = {
        "pupil_id": COLUMNS.student,
        "date": COLUMNS.date,
        "code": COLUMNS.category,
        "school_id": COLUMNS.school,
    }

    def notes(self) -> list[str]:
        return [f"{self.skipped} record(s) of other resources skipped"] if self.skipped else []

    def add_source(self, source: Source) -> None:
        docs = read_json_source(source, self.warnings)
        if (
            not source.is_bytes
            and not source.is_dir
            and all(isinstance(d, Mapping) for _, d in docs)
        ):
            docs = [(source.name, [d for _, d in docs])]  # an iterable of records
        for name, doc in docs:
            self.add_document(name, doc)

    def add_document(self, name: str, doc: Any, *, page: bool = False) -> None:
        if isinstance(doc, Mapping):
            doc = [doc]
        if not isinstance(doc, list):
            raise FormatError("not Ed-Fi JSON: expected an array of resources", file=name)
        if doc and all(isinstance(p, list) for p in doc):
            if page:  # pages of pages: not an Ed-Fi layout
                raise FormatError("not Ed-Fi JSON: arrays nested too deep", file=name)
            for item in doc:  # a file holding an array of pages
                self.add_document(name, item, page=True)
            return
        first = next((record_kind(r) for r in doc if record_kind(r) is not None), None)
        if first is None and doc:
            raise FormatError(
                "not Ed-Fi JSON: no attendance event, calendar date, session, student or "
                "student-school association records",
                file=name,
            )
        for record in doc:
            self.add_record(record, first)

    def add_record(self, record: Any, page_kind: str | None) -> None:
        kind = record_kind(record)
        if kind is not None:
            getattr(self, f"_add_{kind}")(record)
        elif page_kind == "event":  # a broken element of an events array: a rejected row
            self.events.append(_model.Event(row=len(self.events) + 1, bad=type(record).__name__))
        else:
            self.skipped += 1

    def _add_event(self, record: Mapping[str, Any]) -> None:
        category = record.get("attendanceEventCategoryDescriptor")
        self.events.append(
            _model.Event(
                row=len(self.events) + 1,
                pupil=text_id(get_path(record, "studentReference.studentUniqueId")),
                school=text_id(get_path(record, "schoolReference.schoolId"))
                or text_id(get_path(record, "sessionReference.schoolId")),
                date=record.get("eventDate"),
                category=None if category is None else str(category),
                duration=record.get("eventDuration"),
            )
        )

    def _add_calendar_date(self, record: Mapping[str, Any]) -> None:
        events = record.get("calendarEvents")
        codes = tuple(
            _model.split_descriptor(str(e.get("calendarEventDescriptor")))[1]
            for e in (events if isinstance(events, list) else [])
            if isinstance(e, Mapping) and e.get("calendarEventDescriptor") is not None
        )
        day = record.get("date")
        self.days.append(
            _model.CalendarDay(
                row=len(self.days) + 1,
                school=text_id(get_path(record, "calendarReference.schoolId")),
                date=parse_date(day) if isinstance(day, str) else None,
                events=codes,
            )
        )

    def _add_session(self, record: Mapping[str, Any]) -> None:
        self.sessions.append(
            _model.SessionSpan(
                row=len(self.sessions) + 1,
                school=text_id(get_path(record, "schoolReference.schoolId")),
                name=text_id(record.get("sessionName")),
                begin=_date(record.get("beginDate")),
                end=_date(record.get("endDate")),
                total=_whole(record.get("totalInstructionalDays")),
            )
        )

    def _add_enrolment(self, record: Mapping[str, Any]) -> None:
        pupil = text_id(get_path(record, "studentReference.studentUniqueId"))
        if pupil is None:
            self.skipped += 1
            return
        grade = record.get("entryGradeLevelDescriptor")
        self.enrolments.append(
            _model.Enrolment(
                pupil=pupil,
                school=text_id(get_path(record, "schoolReference.schoolId")),
                entry=_date(record.get("entryDate")),
                exit=_date(record.get("exitWithdrawDate")),
                grade=_model.split_descriptor(grade)[1] if isinstance(grade, str) else None,
            )
        )

    def _add_student(self, record: Mapping[str, Any]) -> None:
        pupil = text_id(record.get("studentUniqueId"))
        if pupil is None:
            self.skipped += 1
            return
        parts = [record.get(k) for k in ("firstName", "lastSurname")]
        self.students.append(
            _model.Student(
                pupil=pupil,
                name=" ".join(p for p in parts if isinstance(p, str) and p) or None,
                date_of_birth=_date(record.get("birthDate")),
            )
        )


def _date(value: Any) -> Any:
    return parse_date(value) if isinstance(value, str) else None


def _whole(value: Any) -> int | None:
    """A JSON whole number; None for anything else (a boolean too)."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _sniff_page(page: Any) -> bool:
    if isinstance(page, Mapping):
        return record_kind(page) is not None
    if isinstance(page, list):
        return any(record_kind(r) is not None for r in page[:5])
    return False


class EdFiJsonAdapter:
    """Ed-Fi ODS/API JSON: ``studentSchoolAttendanceEvents`` (plus calendar and students).

    Options of :meth:`read`:

    ``calendar``
        a file, folder, bytes or pages of ``calendarDates`` (and ``sessions``): instructional days
        without an event become present sessions for every pupil known to the school.
    ``students``
        a file, folder, bytes or pages of ``students`` and/or ``studentSchoolAssociations``.
    ``descriptor_map``
        local (non ed-fi.org) or extra category descriptors (full URI or code value) -> a
        statutory code or a category name (``"Excused Absence"``, ``"present"``).
    ``instructional_events``
        calendar event code values that make an instructional day (default
        ``("Instructional day", "Make-up day")``).
    ``session_days``
        ``True`` (default): a school whose calendar is missing or partial takes its school
        days from its ``sessions`` (weekdays from ``beginDate`` to ``endDate``), warned;
        ``False``: listed calendar dates only.
    """

    name: ClassVar[str] = "edfi-json"
    options: ClassVar[frozenset[str]] = _model.EDFI_OPTIONS
    extensions: ClassVar[tuple[str, ...]] = (".json",)
    description: ClassVar[str] = (
        "Ed-Fi ODS/API JSON studentSchoolAttendanceEvents (with optional calendarDates/students)"
    )

    def sniff(self, source: Source) -> bool:
        """A JSON array (or object) of Ed-Fi resources: camelCase ``eventDate``,
        ``attendanceEventCategoryDescriptor``, ``studentUniqueId`` or ``calendarEvents``."""
        try:
            if source.is_dir and source.path is not None:
                files = page_files(source.path)
                return any(self.sniff(Source.of(f)) for f in files[:8])
            if not source.is_bytes:
                return sniff_page_objects(source.obj, _sniff_page)
            head = source.head(8192)
            text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
            return text.startswith((b"[", b"{")) and bool(_EDFI_KEYS.search(head))
        except Exception:  # sniffing never raises
            return False

    def read(self, source: Source, *, errors: str = "collect", **options: Any) -> AdapterOutput:
        """Read events (and the optional calendar and students); see the class docstring."""
        return _Records.read(self.name, source, errors, options)
