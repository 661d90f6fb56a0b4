"""The ``edfi-xml`` adapter: Ed-Fi XML interchanges (v1 ``http://ed-fi.org/0100`` to v5).

Reads ``InterchangeStudentAttendance`` (``StudentSchoolAttendanceEvent``; v1
``AttendanceEvent``), and optionally ``InterchangeEducationOrgCalendar`` (``CalendarDate``),
``InterchangeStudentParent``/``InterchangeStudent`` (``Student``) and
``InterchangeStudentEnrollment`` (``StudentSchoolAssociation``), from a folder or the
``calendar=`` / ``students=`` options. Parsing goes through ``defusedxml`` (SAX, streaming):
entity declarations and external references are refused with a :class:`FormatError`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, ClassVar
from xml.sax import SAXException, SAXParseException, handler, xmlreader

from defusedxml import DefusedXmlException
from defusedxml.expatreader import DefusedExpatParser

from attendance_core.adapterkit import parse_date
from attendance_core.adapters import AdapterOutput, Source
from attendance_core.errors import AttendanceError, FormatError

from . import _model

__all__ = ["EdFiXmlAdapter"]

#: Namespaces of Ed-Fi interchanges start with this (``/0100`` v1, ``/0200`` v2, ``/5.2.0`` ...).
EDFI_NAMESPACE = "http://ed-fi.org/"
#: Record elements (direct children of the interchange root) -> kind.
RECORDS = {
    "StudentSchoolAttendanceEvent": "event",
    "AttendanceEvent": "event",  # Ed-Fi v1
    "CalendarDate": "calendar_date",
    "Session": "session",
    "Student": "student",
    "StudentSchoolAssociation": "enrolment",
}
#: Attendance records of other kinds that are not statutory sessions (counted, not read).
OTHER_ATTENDANCE = (
    "StudentSectionAttendanceEvent",
    "StudentProgramAttendanceEvent",
    "StudentInterventionAttendanceEvent",
)
COLUMNS = _model.Columns(
    student="StudentReference",
    school="SchoolReference",
    date="EventDate",
    category="AttendanceEventCategory",
    duration="EventDuration",
    kind="AttendanceEventType",
)
_STUDENT_IDS = ("StudentUniqueId", "StudentUniqueStateId")
_SCHOOL_IDS = ("SchoolId", "StateOrganizationId", "EducationOrganizationId")
_ROOT = re.compile(rb"<(?:[\w.-]+:)?Interchange\w*\b[^>]*ed-fi\.org", re.DOTALL)


class Node:
    """A captured element: local name, text, children and the line it starts on."""

    __slots__ = ("children", "line", "name", "parts")

    def __init__(self, name: str, line: int) -> None:
        self.name = name
        self.line = line
        self.parts: list[str] = []
        self.children: list[Node] = []

    @property
    def text(self) -> str:
        """The element's own text, stripped."""
        return "".join(self.parts).strip()

    def find(self, *names: str) -> Node | None:
        """The first descendant (depth first, document order) with one of ``names``."""
        for child in self.children:
            if child.name in names:
                return child
            found = child.find(*names)
            if found is not None:
                return found
        return None

    def value(self, *names: str) -> str | None:
        """Text of the first descendant named one of ``names`` (None when absent or empty)."""
        node = self.find(*names)
        return (node.text or None) if node is not None else None

    def descriptor(self, *names: str) -> str | None:
        """A descriptor value: the element's text (v3+ URI or v1 word), or v2's
        ``CodeValue``/``Namespace`` children joined as ``namespace#code``."""
        node = self.find(*names)
        if node is None:
            return None
        return _descriptor_text(node)


def _descriptor_text(node: Node) -> str | None:
    code = node.value("CodeValue")
    if code is not None:
        namespace = node.value("Namespace")
        return f"{namespace}#{code}" if namespace else code
    return node.text or None


class _Handler(handler.ContentHandler):
    """Captures record elements under the interchange root, with their start lines."""

    def __init__(self, name: str, emit: Callable[[str, Node], None]) -> None:
        super().__init__()
        self.file = name
        self.emit = emit
        self.depth = 0
        self.stack: list[Node] = []
        self.locator: xmlreader.Locator | None = None
        self.other = 0
        self.root: str | None = None
        self.namespace: str | None = None

    def setDocumentLocator(self, locator: xmlreader.Locator) -> None:  # noqa: N802 - SAX API
        self.locator = locator

    def _line(self) -> int:
        return int(self.locator.getLineNumber() or 0) if self.locator is not None else 0

    def startElementNS(  # noqa: N802 - SAX API
        self,
        name: tuple[str | None, str],
        qname: str | None,
        attrs: Any,
    ) -> None:
        uri, local = name
        self.depth += 1
        if self.depth == 1:
            if not local.startswith("Interchange"):
                raise FormatError(
                    f"not an Ed-Fi interchange (root element {local!r})",
                    file=self.file,
                    row=self._line(),
                )
            if uri and not uri.startswith(EDFI_NAMESPACE):
                raise FormatError(
                    f"not an Ed-Fi namespace ({uri!r})", file=self.file, row=self._line()
                )
            self.root, self.namespace = local, uri
            return
        if self.stack:
            node = Node(local, self._line())
            self.stack[-1].children.append(node)
            self.stack.append(node)
        elif self.depth == 2 and local in RECORDS:
            self.stack.append(Node(local, self._line()))
        elif self.depth == 2 and local in OTHER_ATTENDANCE:
            self.other += 1

    def endElementNS(self, name: tuple[str | None, str], qname: str | None) -> None:  # noqa: N802
        self.depth -= 1
        if self.stack:
            node = self.stack.pop()
            if not self.stack:
                self.emit(RECORDS[node.name], node)

    def characters(self, content: str) -> None:
        if self.stack:
            self.stack[-1].parts.append(content)


def parse_interchange(source: Source, emit: Callable[[str, Node], None]) -> _Handler:
    """Stream one XML file through defusedxml, calling ``emit(kind, node)`` per record."""
    sax = _Handler(source.name, emit)
    parser = DefusedExpatParser(forbid_dtd=False, forbid_entities=True, forbid_external=True)
    parser.setFeature(handler.feature_namespaces, True)
    parser.setFeature(handler.feature_external_ges, False)
    parser.setFeature(handler.feature_external_pes, False)
    parser.setContentHandler(sax)
    with source.open() as fh:
        first = fh.read(1)
        if not first:
            raise FormatError("empty file: no XML document", file=source.name)
        fh.seek(0)
        stream = xmlreader.InputSource(source.name)
        stream.setByteStream(fh)
        try:
            parser.parse(stream)
        except AttendanceError:
            raise
        except DefusedXmlException as exc:
            raise FormatError(
                f"unsafe XML refused ({type(exc).__name__}: entity declarations "
                "and external references are not read)",
                file=source.name,
            ) from None
        except SAXParseException as exc:
            raise FormatError(
                f"not well-formed XML ({exc.getMessage()})",
                file=source.name,
                row=exc.getLineNumber(),
            ) from None
        except (SAXException, ValueError, LookupError, UnicodeError, RecursionError) as exc:
            raise FormatError(
                f"XML not readable ({type(exc).__name__})", file=source.name
            ) from None
    if sax.root is None:
        raise FormatError("no XML root element", file=source.name)
    return sax


class _Records(_model.Records):
    """Records from one or more XML files, by kind."""

    columns = COLUMNS
    source_columns: ClassVar[dict[str, str]] = {
        "pupil_id": "StudentUniqueId",
        "date": COLUMNS.date,
        "code": COLUMNS.category,
        "school_id": "SchoolId",
    }

    def notes(self) -> list[str]:
        notes = []
        if self.other:
            notes.append(
                f"{self.other} section/program attendance event(s) ignored: only "
                "school (daily) attendance makes statutory sessions"
            )
        if self.skipped:
            notes.append(f"{self.skipped} student record(s) without a StudentUniqueId skipped")
        return notes

    def __init__(self, warnings: list[str]) -> None:
        super().__init__(warnings)
        self.other = 0

    def add_source(self, source: Source) -> None:
        if source.is_dir and source.path is not None:
            files = sorted(
                p for p in source.path.iterdir() if p.is_file() and p.suffix.lower() == ".xml"
            )
            if not files:
                raise FormatError("folder holds no .xml files", file=source.name)
            for path in files:
                self.add_file(Source.of(path, name=f"{source.name}/{path.name}"))
        else:
            self.add_file(source)

    def add_file(self, source: Source) -> None:
        sax = parse_interchange(source, self.add)
        self.other += sax.other
        if sax.namespace is None or sax.namespace == "":
            self.warnings.append(
                f"{source.name}: root element has no Ed-Fi namespace; read by element names"
            )

    def add(self, kind: str, node: Node) -> None:
        if kind == "event":
            ref = node.find("StudentReference") or node
            school_ref = node.find("SchoolReference") or node.find("SessionReference")
            self.events.append(
                _model.Event(
                    row=node.line,
                    pupil=ref.value(*_STUDENT_IDS),
                    school=school_ref.value(*_SCHOOL_IDS) if school_ref is not None else None,
                    date=node.value("EventDate"),
                    category=node.descriptor(
                        "AttendanceEventCategory", "AttendanceEventCategoryDescriptor"
                    ),
                    duration=node.value("EventDuration"),
                    kind=node.value("AttendanceEventType")
                    if node.name == "AttendanceEvent"
                    else None,
                )
            )
        elif kind == "calendar_date":
            events = tuple(
                text
                for child in _all(node, "CalendarEvent", "CalendarEventDescriptor")
                for text in _event_texts(child)
            )
            date_text = node.value("Date")
            self.days.append(
                _model.CalendarDay(
                    row=node.line,
                    school=node.value(*_SCHOOL_IDS),
                    date=parse_date(date_text) if date_text else None,
                    events=events,
                )
            )
        elif kind == "session":
            ref = node.find("SchoolReference", "EducationOrganizationReference") or node
            total = node.value("TotalInstructionalDays")
            begin, end = node.value("BeginDate"), node.value("EndDate")
            self.sessions.append(
                _model.SessionSpan(
                    row=node.line,
                    school=ref.value(*_SCHOOL_IDS),
                    name=node.value("SessionName"),
                    begin=parse_date(begin) if begin else None,
                    end=parse_date(end) if end else None,
                    total=int(total) if total is not None and total.isdigit() else None,
                )
            )
        elif kind == "student":
            pupil = node.value(*_STUDENT_IDS)
            if pupil is None:
                self.skipped += 1
                return
            parts = [node.value("FirstName"), node.value("LastSurname")]
            birth = node.value("BirthDate")
            self.students.append(
                _model.Student(
                    pupil=pupil,
                    name=" ".join(p for p in parts if p) or None,
                    date_of_birth=parse_date(birth) if birth else None,
                )
            )
        else:
            ref = node.find("StudentReference") or node
            pupil = ref.value(*_STUDENT_IDS)
            if pupil is None:
                self.skipped += 1
                return
            school_ref = node.find("SchoolReference") or node
            grade = node.descriptor("EntryGradeLevel", "EntryGradeLevelDescriptor")
            entry, leave = node.value("EntryDate"), node.value("ExitWithdrawDate")
            self.enrolments.append(
                _model.Enrolment(
                    pupil=pupil,
                    school=school_ref.value(*_SCHOOL_IDS),
                    entry=parse_date(entry) if entry else None,
                    exit=parse_date(leave) if leave else None,
                    grade=_model.split_descriptor(grade)[1] if grade else None,
                )
            )


def _event_texts(node: Node) -> tuple[str, ...]:
    """The code values a calendar event element gives: its text (v1 ``Instructional day``,
    v3+ descriptor URI), v2's ``CodeValue`` (``Namespace`` dropped), and any ``Description``,
    ``ShortDescription`` or ``CalendarEventMap`` child (a v1/v2 descriptor written out in
    full), so a local code value with a standard description is still recognised."""
    out: list[str] = []
    first = _descriptor_text(node)
    if first is not None:
        out.append(_model.split_descriptor(first)[1])
    for name in ("Description", "ShortDescription", "CalendarEventMap"):
        text = node.value(name)
        if text is not None and text not in out:
            out.append(_model.split_descriptor(text)[1])
    return tuple(out)


def _all(node: Node, *names: str) -> list[Node]:
    out: list[Node] = []
    for child in node.children:
        if child.name in names:
            out.append(child)
        else:
            out.extend(_all(child, *names))
    return out


class EdFiXmlAdapter:
    """Ed-Fi XML interchanges: ``InterchangeStudentAttendance`` (v1 to v5 namespaces).

    Options of :meth:`read`: ``calendar`` (an ``InterchangeEducationOrgCalendar`` file or a
    folder), ``students`` (``InterchangeStudentParent``/``InterchangeStudentEnrollment`` file or
    folder), ``descriptor_map``, ``instructional_events`` and ``session_days`` as for
    ``edfi-json`` (``Session`` elements of the calendar interchange give the session dates).
    A mark's row is the line of its event element; calendar-filled present marks carry the line
    of the ``CalendarDate``.
    """

    name: ClassVar[str] = "edfi-xml"
    options: ClassVar[frozenset[str]] = _model.EDFI_OPTIONS
    extensions: ClassVar[tuple[str, ...]] = (".xml",)
    description: ClassVar[str] = (
        "Ed-Fi XML InterchangeStudentAttendance (v1 http://ed-fi.org/0100 to v5), defusedxml"
    )

    def sniff(self, source: Source) -> bool:
        """An XML document whose root is an ``Interchange…`` element in an ed-fi.org
        namespace (a folder: any of its first ``.xml`` files)."""
        try:
            if source.is_dir and source.path is not None:
                files = sorted(
                    p for p in source.path.iterdir() if p.is_file() and p.suffix.lower() == ".xml"
                )
                return any(self.sniff(Source.of(f)) for f in files[:8])
            head = source.head(8192)
            if head.startswith((b"\xff\xfe", b"\xfe\xff")):  # UTF-16 with a BOM
                head = head.decode("utf-16", errors="ignore").encode("utf-8")
            return bool(_ROOT.search(head))
        except Exception:  # sniffing never raises
            return False

    def read(self, source: Source, *, errors: str = "collect", **options: Any) -> AdapterOutput:
        """Read events (and the optional calendar and students); see the class docstring."""
        if not source.is_bytes and not source.is_dir:
            raise FormatError(
                "edfi-xml reads a file, bytes, a binary file object or a folder", file=source.name
            )
        return _Records.read(self.name, source, errors, options)
