"""The ``ctf-xml`` adapter: DfE Common Transfer File and School Census attendance summaries.

CTF and census files carry period totals, not marks: per pupil, ``Attendance/YearData``
(``Year``, ``SessionsPossible``, ``SessionsAuthorised``, ``SessionsUnauthorised``) or census
``TermlyAttendance`` (the same items, optionally per-reason ``SessionDetail`` counts). They load
into ``AdapterOutput.totals``. A ``YearData`` that also carries ``AttendanceStartDate`` and an
``AttendanceMarks`` string is expanded into marks as well: two characters per school day (AM
then PM) on consecutive weekdays from the start date.

Element names come from ``aliases.toml`` (partly inferred; extend with ``aliases=``).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator, Mapping
from typing import Any, ClassVar
from xml.etree.ElementTree import Element

import attrs
import pandas as pd

from attendance_core import adapterkit as kit
from attendance_core.adapters import CORE_OPTIONS, AdapterOutput, Source
from attendance_core.errors import FormatError, Reason

__all__ = ["CtfAliases", "CtfXmlAdapter", "expand_marks"]

OPTIONS = frozenset({"aliases", "school_id"}) | kit.CHUNK_OPTIONS | CORE_OPTIONS
_ISO = re.compile(r"^(\d{4})-(\d{2})-(\d{2})(?:T[\d:.]+(?:Z|[+-]\d{2}:?\d{2})?)?$")
_CENSUS_HINT = re.compile(rb"<(\w+:)?(PupilOnRoll|Pupil|PupilsOnRoll|CollectionDetails)\b")
_COUNT = re.compile(r"^\d{1,6}$")
_VALUE_LIMIT = 40
#: Weekdays in one academic year are at most 262; a longer marks string cannot fit.
_MAX_DAYS = 262


@attrs.frozen(kw_only=True)
class CtfAliases:
    """Element names per record and field (lower case), the marks alphabet and reasons."""

    records: Mapping[str, frozenset[str]]
    fields: Mapping[str, Mapping[str, frozenset[str]]]
    alphabet: frozenset[str]
    no_session: frozenset[str]
    reasons: Mapping[str, str]

    @classmethod
    def from_mapping(
        cls, data: Mapping[str, Any], extra: Mapping[str, Any] | None = None
    ) -> CtfAliases:
        """Build from the TOML layout; names in ``extra`` are added to ours."""
        extra = extra or {}
        merged = {
            table: kit.merge_aliases(data, extra, table)
            for table in ("records", "school", "pupil", "totals", "collection")
        }
        marks = {**data.get("marks", {}), **extra.get("marks", {})}
        reasons = {
            str(code).upper(): kind
            for table in (data, extra)
            for kind, codes in table.get("reasons", {}).items()
            for code in codes
        }
        return cls(
            records={k: kit.lower_names(v) for k, v in merged["records"].items()},
            fields={
                t: {k: kit.lower_names(v) for k, v in merged[t].items()}
                for t in ("school", "pupil", "totals", "collection")
            },
            alphabet=frozenset(str(marks.get("alphabet", ""))),
            no_session=frozenset(str(marks.get("no_session", " "))),
            reasons=reasons,
        )

    def record(self, key: str) -> frozenset[str]:
        """The element names of a record kind."""
        return self.records.get(key, frozenset())

    def field(self, table: str, key: str) -> frozenset[str]:
        """The element names of a field."""
        return self.fields.get(table, {}).get(key, frozenset())


def _builtin() -> dict[str, Any]:
    return kit.package_toml(__package__, "aliases.toml")


def _aliases(option: Any) -> CtfAliases:
    return CtfAliases.from_mapping(_builtin(), kit.toml_option(option))


def parse_iso(text: str | None) -> dt.date | None:
    """An ISO ``YYYY-MM-DD`` date (a time part is ignored); census dates are never day-first."""
    if not text:
        return None
    match = _ISO.match(text.strip())
    if not match:
        return None
    try:
        day = dt.date(int(match[1]), int(match[2]), int(match[3]))
    except ValueError:
        return None
    return day if 1900 <= day.year <= 2199 else None


def academic_year_end(day: dt.date) -> dt.date:
    """31 August of the academic year (1 September to 31 August) that holds ``day``."""
    return dt.date(day.year + (1 if day.month >= 9 else 0), 8, 31)


def expand_marks(
    marks: str, start: dt.date, *, no_session: frozenset[str] = frozenset(" ")
) -> list[tuple[dt.date, str, str]]:
    """(date, "AM"/"PM", code) of a marks string: two characters per weekday from ``start``
    (a weekend start moves to the Monday); characters in ``no_session`` give no row.
    The caller checks length and alphabet."""
    out: list[tuple[dt.date, str, str]] = []
    day = start
    for i in range(0, len(marks), 2):
        while day.weekday() >= 5:
            day += dt.timedelta(days=1)
        for session, char in zip(("AM", "PM"), marks[i : i + 2], strict=False):
            if char not in no_session:
                out.append((day, session, char))
        day += dt.timedelta(days=1)
    return out


class CtfXmlAdapter:
    """Reads CTF ``YearData`` and School Census ``TermlyAttendance`` (``format="ctf-xml"``).

    Options: ``aliases`` (extra element names, TOML path or dict), ``school_id`` (overrides
    the header's LA and establishment numbers), ``chunk_size`` (rows per marks chunk).
    """

    name: ClassVar[str] = "ctf-xml"
    options: ClassVar[frozenset[str]] = OPTIONS
    extensions: ClassVar[tuple[str, ...]] = (".xml",)
    description: ClassVar[str] = (
        "DfE Common Transfer File / School Census attendance totals (and marks strings)"
    )

    def sniff(self, source: Source) -> bool:
        """Yes for a ``CTfile`` root, or a census ``Message`` root that mentions pupils."""
        head = source.head(8192)
        if not head:
            return False
        root = kit.xml_root_name(head)
        if root == "ctfile":
            return True
        if root != "message":
            return False
        # a census header names its collection before the School block, whose Classes can push
        # the first PupilOnRoll far past the first 8 KiB
        return _CENSUS_HINT.search(head) is not None

    def read(self, source: Source, *, errors: str = "collect", **options: Any) -> AdapterOutput:
        """Parse now (XML problems raise :class:`FormatError` here); totals and pupils are
        ready at once, expanded marks are a lazy iterable of chunks."""
        kit.check_read_args("ctf-xml", source.name, errors, options, OPTIONS)
        aliases = _aliases(options.get("aliases"))
        with source.open() as fh:
            raw = fh.read()
        doc = kit.parse_xml(raw, source.name)
        if kit.local_name(doc.root.tag) not in aliases.record("root"):
            raise FormatError(
                f"root element <{kit.local_name(doc.root.tag)}> is not a CTF or census root",
                file=source.name,
                row=doc.line(doc.root),
            )
        school = options.get("school_id")
        return _Reader(
            doc=doc,
            file=source.name,
            aliases=aliases,
            errors=errors,
            school_option=None if school is None else str(school),
            chunk_size=kit.chunk_size(options),
        ).out


@attrs.define(kw_only=True)
class _Block:
    """One attendance block (YearData or TermlyAttendance) of one pupil."""

    element: Element
    kind: str
    pupil_id: str | None
    school_id: str | None


class _Reader:
    def __init__(
        self,
        *,
        doc: kit.XmlDocument,
        file: str,
        aliases: CtfAliases,
        errors: str,
        school_option: str | None,
        chunk_size: int,
    ) -> None:
        self.doc = doc
        self.aliases = aliases
        self.chunk_size = chunk_size
        self.out = AdapterOutput(warnings=list(doc.notes))
        self.sink = kit.RejectedRows(file, errors, self.out.rejected)
        self.school_option = school_option
        self.header_school = school_option or self._school_of(doc.root, header=True)
        self.period = self._census_period()
        self.blocks: list[_Block] = []
        self.out.pupils = self._pupils()
        self.out.source_columns = {"pupil_id": "UPN", "code": "AttendanceMarks"}
        self.out.totals = self._totals()
        self.out.marks = self._marks()

    # -- header ----------------------------------------------------------------------------

    def _school_of(self, element: Element, *, header: bool) -> str | None:
        """LAEstab of a header school element (``header``) or of a YearData element."""
        holders = (
            list(kit.iter_named(element, self.aliases.record("school"))) if header else [element]
        )
        for holder in holders:
            whole, _, _ = kit.child_text(holder, self.aliases.field("school", "laestab"))
            if whole:
                return whole
            lea, _, _ = kit.child_text(holder, self.aliases.field("school", "lea"))
            estab, _, _ = kit.child_text(holder, self.aliases.field("school", "estab"))
            if lea and estab:
                return f"{lea}{estab}"
        return None

    def _census_period(self) -> str | None:
        for element in kit.iter_named(self.doc.root, self.aliases.record("collection")):
            term, _, _ = kit.child_text(element, self.aliases.field("collection", "term"))
            year, _, _ = kit.child_text(element, self.aliases.field("collection", "year"))
            text = " ".join(p for p in (term, year) if p)
            if text:
                return text
        return None

    # -- pupils ----------------------------------------------------------------------------

    def _pupil_field(self, pupil: Element, key: str) -> str | None:
        names = self.aliases.field("pupil", key)
        value, _, _ = kit.child_text(pupil, names)
        if value:
            return value
        containers = self.aliases.record("containers")
        for child in pupil:
            if kit.local_name(child.tag) in containers:
                value, _, _ = kit.child_text(child, names)
                if value:
                    return value
        return None

    def _pupils(self) -> pd.DataFrame:
        rows: list[dict[str, Any]] = []
        seen: set[str] = set()
        invalid: list[int] = []
        no_upn: list[int] = []
        unread: dict[str, list[int]] = {}
        attendance = self.aliases.record("attendance")
        kinds = {"year": self.aliases.record("year_data"), "term": self.aliases.record("termly")}
        pupils_seen = 0
        for pupil in kit.iter_named(self.doc.root, self.aliases.record("pupil")):
            pupils_seen += 1
            line = self.doc.line(pupil)
            upn = (self._pupil_field(pupil, "upn") or "").upper() or None
            if upn is None:
                no_upn.append(line)
            elif not kit.upn_ok(upn):
                invalid.append(line)
            for holder in pupil:
                if kit.local_name(holder.tag) not in attendance:
                    continue
                for child in holder:
                    tag = kit.local_name(child.tag)
                    if tag and not any(tag in names for names in kinds.values()):
                        unread.setdefault(kit.local_name_as_written(str(child.tag)), []).append(
                            self.doc.line(child)
                        )
                for element in holder.iter():
                    for kind, names in kinds.items():
                        if kit.local_name(element.tag) in names:
                            school = self.school_option or self._school_of(element, header=False)
                            self.blocks.append(
                                _Block(
                                    element=element,
                                    kind=kind,
                                    pupil_id=upn,
                                    school_id=school or self.header_school,
                                )
                            )
            if upn is None or upn in seen:
                continue
            seen.add(upn)
            forename = self._pupil_field(pupil, "forename")
            surname = self._pupil_field(pupil, "surname")
            row: dict[str, Any] = {
                "pupil_id": upn,
                "upn": upn,
                "name": " ".join(p for p in (forename, surname) if p) or None,
                "year_group": self._pupil_field(pupil, "year_group"),
            }
            for column in ("date_of_birth", "admission_date", "leaving_date"):
                day = parse_iso(self._pupil_field(pupil, column))
                row[column] = pd.Timestamp(day) if day else pd.NaT
            if self.header_school is not None:
                row["school_id"] = self.header_school
            rows.append(row)
        kit.note_rows(
            self.out.warnings,
            no_upn,
            "{n} pupil(s) without a UPN (lines {rows}): their attendance is rejected",
        )
        if not pupils_seen:
            self.out.warnings.append(
                "no pupil records (<Pupil> / <PupilOnRoll>) in the file: nothing loaded"
            )
        elif not self.blocks:
            self.out.warnings.append(
                f"{pupils_seen} pupil record(s) but no attendance block "
                "(YearData / TermlyAttendance / ...) in any of them: nothing loaded"
            )
        for tag, lines in sorted(unread.items()):
            # no silent loss: an attendance block this adapter does not read is named
            self.out.warnings.append(
                f"{len(lines)} <{tag}> attendance block(s) not read (lines {kit.row_list(lines)}); "
                "add its name to the year_data or termly aliases to read it"
            )
        kit.note_rows(
            self.out.warnings,
            invalid,
            "{n} pupil(s) with an invalid UPN check letter (lines {rows}); kept as given",
        )
        columns = ["pupil_id", *(f for f in kit.PUPIL_FIELDS if f != "mis_id")]
        if self.header_school is not None:
            columns.insert(1, "school_id")
        return kit.pupils_from_records(rows, columns, text=("upn", "name", "year_group"))

    # -- totals ----------------------------------------------------------------------------

    def _reject(self, row: int, bad: kit.RowProblem) -> None:
        self.sink.record(row, bad, limit=_VALUE_LIMIT)

    def _count(self, element: Element, key: str, *, required: bool) -> int | None:
        value, column, _ = kit.child_text(element, self.aliases.field("totals", key))
        name = column or next(iter(sorted(self.aliases.field("totals", key))), key)
        if value is None or value == "":
            if required:
                raise kit.RowProblem(name, None, Reason.MISSING_VALUE, "no value")
            return None
        if not _COUNT.match(value):
            raise kit.RowProblem(name, value, Reason.BAD_VALUE, "not a whole number of sessions")
        return int(value)

    def _totals(self) -> pd.DataFrame:
        rows: list[dict[str, Any]] = []
        mismatch: list[int] = []
        no_dates: list[int] = []
        reason_columns: set[str] = set()
        for block in self.blocks:
            line = self.doc.line(block.element)
            try:
                row = self._total(block, line, mismatch)
            except kit.RowProblem as bad:
                self._reject(line, bad)
                continue
            if row is None:
                continue
            if pd.isna(row["start"]):
                no_dates.append(line)
            reason_columns.update(k for k in row if k.startswith("reason_"))
            rows.append(row)
        kit.note_rows(
            self.out.warnings,
            mismatch,
            "{n} block(s) whose SessionsAttended differs from possible - authorised - "
            "unauthorised (lines {rows}); the difference is used",
        )
        kit.note_rows(
            self.out.warnings,
            no_dates,
            "{n} termly total(s) without term dates (lines {rows}): start and end left empty; "
            "see the period column",
        )
        return kit.totals_frame(
            rows,
            extra=["period", *sorted(reason_columns)],
            text=("pupil_id", "school_id", "period"),
            counts=reason_columns,
            count_dtype="Int64",
        )

    def _total(self, block: _Block, line: int, mismatch: list[int]) -> dict[str, Any] | None:
        element = block.element
        possible = self._count(element, "possible", required=False)
        if possible is None:
            if self._marks_holders(element):
                return None  # a marks-only block: expanded, no totals
            raise kit.RowProblem(
                "SessionsPossible", None, Reason.MISSING_VALUE, "no sessions possible"
            )
        if block.pupil_id is None:
            raise kit.RowProblem("UPN", None, Reason.MISSING_VALUE, "pupil has no UPN")
        authorised = self._count(element, "authorised", required=False)
        unauthorised = self._count(element, "unauthorised", required=False)
        reasons = self._reasons(element)
        if authorised is None or unauthorised is None:
            if not reasons:
                missing = "SessionsAuthorised" if authorised is None else "SessionsUnauthorised"
                raise kit.RowProblem(missing, None, Reason.MISSING_VALUE, "no value")
            by_kind = {"authorised": 0, "unauthorised": 0}
            for code, count in reasons.items():
                kind = self.aliases.reasons.get(code)
                if kind is None:
                    raise kit.RowProblem(
                        "AttendanceReason",
                        code,
                        Reason.UNKNOWN_CODE,
                        "absence reason not in the reasons table",
                    )
                by_kind[kind] += count
            authorised = by_kind["authorised"] if authorised is None else authorised
            unauthorised = by_kind["unauthorised"] if unauthorised is None else unauthorised
        if authorised + unauthorised > possible:
            raise kit.RowProblem(
                "SessionsPossible",
                possible,
                Reason.BAD_RECORD,
                "authorised + unauthorised absence exceeds the sessions possible",
            )
        attended = possible - authorised - unauthorised
        stated = self._count(element, "attended", required=False)
        if stated is not None and stated != attended:
            mismatch.append(line)
        start, end, period = self._period(block, element)
        row: dict[str, Any] = {
            "pupil_id": block.pupil_id,
            "school_id": block.school_id,
            "start": pd.Timestamp(start) if start else pd.NaT,
            "end": pd.Timestamp(end) if end else pd.NaT,
            "possible": possible,
            "attended": attended,
            "authorised": authorised,
            "unauthorised": unauthorised,
            "period": period,
        }
        row.update({f"reason_{code}": count for code, count in reasons.items()})
        return row

    def _reasons(self, element: Element) -> dict[str, int]:
        out: dict[str, int] = {}
        for detail in kit.iter_named(element, self.aliases.record("session_detail")):
            code, _, _ = kit.child_text(detail, self.aliases.field("totals", "reason"))
            if not code:
                raise kit.RowProblem("AttendanceReason", None, Reason.MISSING_VALUE, "no reason")
            count = self._count(detail, "sessions", required=True)
            key = code.upper()
            out[key] = out.get(key, 0) + int(count or 0)
        return out

    def _period(
        self, block: _Block, element: Element
    ) -> tuple[dt.date | None, dt.date | None, str | None]:
        f = self.aliases
        start_text, start_col, _ = kit.child_text(element, f.field("totals", "start"))
        if start_text is None:
            for holder in kit.iter_named(element, f.record("attend_sessions")):
                start_text, start_col, _ = kit.child_text(holder, f.field("totals", "start"))
                if start_text is not None:
                    break
        end_text, end_col, _ = kit.child_text(element, f.field("totals", "end"))
        start = end = None
        if start_text:
            start = kit.checked_date(
                parse_iso(start_text), start_text, start_col or "AttendanceStartDate"
            )
        if end_text:
            end = kit.checked_date(parse_iso(end_text), end_text, end_col or "AttendanceEndDate")
        if block.kind == "term":
            name = kit.local_name_as_written(str(element.tag))
            if name.lower() == "termlyattendance" or self.period is None:
                return start, end, self.period if name.lower() == "termlyattendance" else name
            return start, end, f"{self.period} {name}"
        year_text, year_col, _ = kit.child_text(element, f.field("totals", "year"))
        if year_text and not re.fullmatch(r"\d{4}", year_text):
            raise kit.RowProblem(year_col or "Year", year_text, Reason.BAD_VALUE, "not a year")
        year = int(year_text) if year_text else None
        if start is None and year is not None:
            start = dt.date(year, 9, 1)  # inferred: Year is the academic year's first year
        if end is None and start is not None:
            end = academic_year_end(start)
        return start, end, year_text or None

    # -- marks -----------------------------------------------------------------------------

    def _marks(self) -> Iterator[pd.DataFrame]:
        return kit.marks_chunks(self._mark_rows(), self.chunk_size)

    def _mark_rows(self) -> Iterator[tuple[int, dict[str, Any]]]:
        expanded = 0
        for block in self.blocks:
            if block.kind != "year":
                continue
            for dates, marks, marks_col, holder in self._marks_holders(block.element):
                raw_marks = _raw_text(holder) if holder is not dates else marks
                line = self.doc.line(holder) or self.doc.line(block.element)
                try:
                    sessions = self._expand(block, dates, raw_marks, marks_col or "AttendanceMarks")
                except kit.RowProblem as bad:
                    self._reject(line, bad)
                    continue
                expanded += 1
                for day, session, code in sessions:
                    yield line, kit.mark_row(block.pupil_id, day, session, code, block.school_id)
        if expanded:
            self.out.warnings.append(
                f"{expanded} AttendanceMarks string(s) expanded into marks on weekdays from "
                "their AttendanceStartDate (school holidays must be spaces in the string)"
            )

    def _marks_holders(self, element: Element) -> list[tuple[Element, str, str | None, Element]]:
        """Every marks string of a YearData as (element holding its start date, text, element
        name, element holding the marks): a direct ``AttendanceMarks`` child (older layout) and
        each ``AttendSessions`` block (the layout real exporters write)."""
        names = self.aliases.field("totals", "marks")
        found: list[tuple[Element, str, str | None, Element]] = []
        for holder in [element, *kit.iter_named(element, self.aliases.record("attend_sessions"))]:
            marks, column, where = kit.child_text(holder, names)
            if marks is not None and where is not holder:
                found.append((holder, marks, column, where))
        return found

    def _expand(
        self, block: _Block, dates: Element, marks: str, column: str
    ) -> list[tuple[dt.date, str, str]]:
        if block.pupil_id is None:
            raise kit.RowProblem("UPN", None, Reason.MISSING_VALUE, "pupil has no UPN")
        start_text, start_col, _ = kit.child_text(dates, self.aliases.field("totals", "start"))
        if start_text is None and dates is not block.element:
            start_text, start_col, _ = kit.child_text(
                block.element, self.aliases.field("totals", "start")
            )
        start = kit.checked_date(
            parse_iso(start_text),
            start_text,
            start_col or "AttendanceStartDate",
            reason=Reason.BAD_RECORD,
            text="a marks string needs a valid AttendanceStartDate",
        )
        if len(marks) % 2:
            raise kit.RowProblem(
                column,
                marks,
                Reason.BAD_RECORD,
                f"marks string of odd length {len(marks)} (two per school day)",
            )
        allowed = self.aliases.alphabet | self.aliases.no_session
        wrong = sorted({c for c in marks.upper() if c not in allowed})
        if wrong:
            raise kit.RowProblem(
                column,
                marks,
                Reason.BAD_RECORD,
                f"marks string holds characters outside the alphabet: {wrong!r}",
            )
        days = len(marks) // 2
        if days > _MAX_DAYS or _last_weekday(start, days) > academic_year_end(start):
            raise kit.RowProblem(
                column,
                marks,
                Reason.BAD_RECORD,
                f"{len(marks) // 2} school days from the start date run past the end "
                "of the academic year",
            )
        return expand_marks(marks.upper(), start, no_session=self.aliases.no_session)


def _raw_text(element: Element) -> str:
    """An element's text with spaces kept (spaces are marks of 'no session')."""
    text = element.text or ""
    return text.strip("\r\n\t")


def _last_weekday(start: dt.date, days: int) -> dt.date:
    day = start
    seen = 0
    while True:
        if day.weekday() < 5:
            seen += 1
            if seen >= days:
                return day
        day += dt.timedelta(days=1)
