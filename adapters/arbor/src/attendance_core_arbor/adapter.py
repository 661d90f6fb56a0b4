"""The ``arbor-json`` adapter: Arbor REST v2 attendance records (JSON).

Input is what the Arbor REST v2 API returns (``arbor-education/sis-sdk-php``): a listing
``{"attendanceRecords": [...]}`` or a single ``{"attendanceRecord": {...}}``, one file, a folder
of page files, or an iterable of page dicts. Related objects are nested stubs
(``entityType`` + ``href``) or expanded objects; stubs are resolved against every object found
in the pages, so lookups (``attendanceMarks``, ``attendanceRegisters``,
``attendanceRegisterTypes``, ``sessions``, ``students``, ``ukDfeUpnAssignments``...) can ride
in the same files or pages under any root key.

* AM/PM from the register type's ``isMorning``/``isAfternoon`` (via ``attendanceRegister`` or
  ``event``); a type with neither is a lesson register: its records are skipped and counted.
  Without a resolvable type, the start time decides (before 12:00 = AM), flagged as inferred.
* The mark's statistical flags decide its category (``marks.toml``); a letter that disagrees is
  replaced by the category's default code and listed as ``flag_mismatch`` in the warnings (the
  mark is accepted). Flags that contradict each other reject the record (``flag_mismatch``).
* ``isRedundant`` records are superseded: skipped and counted in a warning.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar, TypeGuard

import attrs
import pandas as pd

from attendance_core import adapterkit as kit
from attendance_core.adapters import CORE_OPTIONS, AdapterOutput, Source
from attendance_core.errors import FormatError, Reason

__all__ = ["ArborJsonAdapter", "MarkRules", "parse_stamp"]

OPTIONS = frozenset({"pupil_key", "school_id"}) | kit.CHUNK_OPTIONS | CORE_OPTIONS
#: ``auto`` keys pupils by UPN when every student with records has a UPN assignment, else by
#: the Arbor student id (last segment of its ``href``); never a mix within one load.
PUPIL_KEYS = ("auto", "upn", "arbor")
_STUB_KEYS = frozenset({"entityType", "href", "displayName"})
_RECORD_TYPES = frozenset({"attendancerecord"})
_UPN_TYPES = frozenset({"ukdfe_upnassignment", "ukdfeupnassignment", "upnassignment"})
_DATETIME = re.compile(r"^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2}))?)?")
_SUB_CODE = re.compile(r"^[A-Z][0-9]{2}$")
_NUMBER = re.compile(r"(\d+)")
_MAX_DEPTH = 12
_SHOWN = 10
_MIDDAY = dt.time(12, 0)
_EARLIEST = dt.datetime(1900, 1, 1)


@attrs.frozen(kw_only=True)
class MarkRules:
    """The classification data of ``marks.toml``: flags, defaults and letter categories."""

    flags: Mapping[str, str]
    possible_flag: str
    default_code: Mapping[str, str]
    letters: Mapping[str, str]

    @classmethod
    def builtin(cls) -> MarkRules:
        """The rules shipped with the adapter."""
        data = kit.package_toml(__package__, "marks.toml")
        letters = {
            str(letter): str(category)
            for category, members in data["letters"].items()
            for letter in members
        }
        return cls(
            flags={str(k): str(v) for k, v in data["flags"].items()},
            possible_flag=str(data["possible"]["flag"]),
            default_code={str(k): str(v) for k, v in data["default_code"].items()},
            letters=letters,
        )

    def letter_category(self, letter: str) -> str | None:
        """The statutory category of a register letter, or None for a non-statutory letter."""
        if letter in self.letters:
            return self.letters[letter]
        if _SUB_CODE.match(letter) and letter[0] in self.letters:
            return self.letters[letter[0]]
        return None

    def flag_category(self, mark: Mapping[str, Any]) -> str | None:
        """The category the flags assert; None when the mark carries no flags.

        Raises ``ValueError`` when the flags contradict each other.
        """
        if not any(k in mark for k in (*self.flags, self.possible_flag)):
            return None
        asserted = [cat for flag, cat in self.flags.items() if mark.get(flag) is True]
        if mark.get(self.possible_flag) is False:
            if asserted:
                raise ValueError("not a possible session, yet a category flag is set")
            return "not_possible"
        if len(asserted) != 1:
            raise ValueError(f"{len(asserted)} category flags set (expected one)")
        return asserted[0]

    def default(self, category: str, session: str) -> str:
        """The code that stands for ``category`` in ``session`` when the letter is wrong."""
        if category == "present":
            return self.default_code["present_am" if session == "AM" else "present_pm"]
        return self.default_code[category]


# --------------------------------------------------------------------------------------------
# reading pages


def _decode(raw: bytes, name: str) -> tuple[Any, list[str]]:
    notes: list[str] = []
    if not raw.strip():
        raise FormatError("empty file: no JSON in it", file=name)
    text, used = kit.decode_bytes(raw)
    if used != "utf-8":
        notes.append(f"{name} is not UTF-8; read as {'cp1252' if used == 'cp1252' else 'Latin-1'}")
    try:
        return kit.json_text(text, name, notes), notes
    except json.JSONDecodeError as exc:
        raise FormatError(f"not valid JSON ({exc.msg})", file=name, row=exc.lineno) from None
    except (RecursionError, ValueError) as exc:
        raise FormatError(f"not readable as JSON ({type(exc).__name__})", file=name) from None


_SCALARS = (str, int, float, bool, type(None))
_CONTAINERS = (dict, list)


def _is_map(value: Any) -> TypeGuard[Mapping[str, Any]]:
    """Whether ``value`` is a JSON object (a dict, or another Mapping from a caller's pages);
    cheap for the scalars that make up most of a page."""
    if type(value) is dict:
        return True
    return type(value) not in _SCALARS and isinstance(value, Mapping)


def _natural(path: Path) -> tuple[Any, ...]:
    return tuple(int(p) if p.isdigit() else p.lower() for p in _NUMBER.split(path.name))


def _pages(source: Source) -> tuple[list[tuple[str, Any]], list[str]]:
    """(page name, decoded page) pairs in order, and reading notes."""
    notes: list[str] = []
    pages: list[tuple[str, Any]] = []
    if source.is_dir:
        assert source.path is not None
        files = sorted((p for p in source.path.glob("*.json") if p.is_file()), key=_natural)
        if not files:
            raise FormatError("folder holds no .json page files", file=source.name)
        for path in files:
            page, more = _decode(path.read_bytes(), path.name)
            pages.append((path.name, page))
            notes.extend(more)
        return pages, notes
    if source.is_bytes:
        with source.open() as fh:
            page, notes = _decode(fh.read(), source.name)
        if isinstance(page, list) and page and all(_is_page(p) for p in page):
            return [(f"{source.name}[{i}]", p) for i, p in enumerate(page, 1)], notes
        return [(source.name, page)], notes
    obj = source.obj
    if isinstance(obj, Mapping):
        return [(source.name, obj)], notes
    if isinstance(obj, Iterable) and not isinstance(obj, str | bytes):
        return [(f"page {i}", p) for i, p in enumerate(obj, 1)], notes
    raise FormatError("not JSON pages", file=source.name)


def _is_page(value: Any) -> bool:
    return _is_map(value) and "entityType" not in value


def _page_records(page: Any, name: str) -> Iterator[tuple[str, Any]]:
    """(root key, item) of every listed object of a page."""
    if isinstance(page, list):
        for item in page:
            yield "", item
        return
    if not isinstance(page, Mapping):
        raise FormatError("a page is not a JSON object", file=name)
    for key, value in page.items():
        if isinstance(value, list):
            for item in value:
                yield str(key), item
        elif _is_map(value):
            yield str(key), value


def _entity(value: Any) -> str:
    if _is_map(value):
        kind = value.get("entityType")
        if isinstance(kind, str):
            return kind.lower()
    return ""


def _href_id(value: Any) -> str | None:
    if _is_map(value):
        href = value.get("href")
        if isinstance(href, str) and href.strip("/"):
            return href.rstrip("/").rsplit("/", 1)[-1]
        ident = value.get("id")
        if isinstance(ident, str | int) and not isinstance(ident, bool):
            return str(ident)
    return None


def _is_expanded(value: Mapping[str, Any]) -> bool:
    return any(key not in _STUB_KEYS for key in value)


def parse_stamp(value: Any) -> dt.datetime | None:
    """An Arbor date object ``{"entityType": "date", "date": "YYYY-MM-DD HH:MM:SS"}`` or a
    plain date(-time) string, as a naive datetime; None when absent or unreadable."""
    if _is_map(value):
        value = value.get("date")
    if not isinstance(value, str):
        return None
    match = _DATETIME.match(value.strip())
    if not match:
        return None
    parts = [int(g) if g else 0 for g in match.groups()]
    try:
        stamp = dt.datetime(*parts)  # type: ignore[arg-type]
    except ValueError:
        return None
    return stamp if 1900 <= stamp.year <= 2199 else None


@attrs.define(kw_only=True)
class _Upn:
    upn: str
    start: dt.datetime | None
    end: dt.datetime | None
    temporary: bool


class ArborJsonAdapter:
    """Reads Arbor REST v2 attendance records (``format="arbor-json"``).

    Options: ``pupil_key`` (``auto``, ``upn``, ``arbor``), ``school_id`` (Arbor records name no
    school), ``chunk_size`` (rows per marks chunk).
    """

    name: ClassVar[str] = "arbor-json"
    options: ClassVar[frozenset[str]] = OPTIONS
    extensions: ClassVar[tuple[str, ...]] = (".json",)
    description: ClassVar[str] = (
        "Arbor REST v2 attendance records (JSON listings, page folders or page dicts)"
    )

    _SNIFF = re.compile(rb'"attendanceRecords?"\s*:|"entityType"\s*:\s*"AttendanceRecord"')

    def sniff(self, source: Source) -> bool:
        """Yes for JSON that lists Arbor attendance records (a file, the first page file of
        a folder, or a list of page dicts)."""
        if source.is_dir:
            assert source.path is not None
            files = sorted(source.path.glob("*.json"), key=_natural)
            if not files:
                return False
            with files[0].open("rb") as fh:
                head = fh.read(8192)
        elif source.is_bytes:
            head = source.head(8192)
        else:
            obj = source.obj
            first = obj if isinstance(obj, Mapping) else None
            if isinstance(obj, list | tuple) and obj:
                first = obj[0]
            return isinstance(first, Mapping) and bool(
                {"attendanceRecords", "attendanceRecord"} & set(first)
            )
        text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
        return text[:1] in (b"{", b"[") and self._SNIFF.search(text) is not None

    def read(self, source: Source, *, errors: str = "collect", **options: Any) -> AdapterOutput:
        """Read every page now (JSON problems raise :class:`FormatError` here); marks are a
        lazy iterable of chunks."""
        kit.check_read_args("arbor-json", source.name, errors, options, OPTIONS)
        key = kit.pupil_key_option(options, PUPIL_KEYS, source.name)
        pages, notes = _pages(source)
        school = options.get("school_id")
        return _Reader(
            pages=pages,
            file=source.name,
            errors=errors,
            key=key,
            school_id=None if school is None else str(school),
            chunk_size=kit.chunk_size(options),
            notes=notes,
        ).out


class _Reader:
    def __init__(
        self,
        *,
        pages: list[tuple[str, Any]],
        file: str,
        errors: str,
        key: str,
        school_id: str | None,
        chunk_size: int,
        notes: list[str],
    ) -> None:
        self.file = file
        self.errors = errors
        self.school_id = school_id
        self.chunk_size = chunk_size
        self.rules = MarkRules.builtin()
        self.out = AdapterOutput(warnings=list(notes))
        self.sink = kit.RejectedRows(file, errors, self.out.rejected)
        self.objects: dict[str, Mapping[str, Any]] = {}
        self.records: list[Mapping[str, Any]] = []
        self.upns: dict[str, list[_Upn]] = defaultdict(list)
        others: Counter[str] = Counter()
        listed = False
        for name, page in pages:
            if isinstance(page, Mapping) and {"attendanceRecords", "attendanceRecord"} & set(page):
                listed = True
            for root, item in _page_records(page, name):
                kind = _entity(item)
                if kind in _RECORD_TYPES or (
                    not kind and root in ("attendanceRecords", "attendanceRecord")
                ):
                    if not _is_map(item):
                        raise FormatError("an attendance record is not an object", file=name)
                    self.records.append(item)
                elif _is_map(item):
                    if kind in _UPN_TYPES:
                        self._add_upn(item)
                    elif not kind:
                        others[root or "?"] += 1
                self._index(item, 0)
        if not listed and not self.records:
            raise FormatError(
                "no Arbor attendance records: expected an 'attendanceRecords' listing or "
                "AttendanceRecord objects",
                file=file,
            )
        if others:
            self.out.warnings.append(
                "objects without entityType ignored: "
                + ", ".join(f"{k} x{n}" for k, n in sorted(others.items()))
            )
        self.out.source_columns = {
            "pupil_id": "student",
            "date": "startDatetime",
            "session": "attendanceRegister",
            "code": "attendanceMark",
        }
        self.key = self._choose_key(key)
        self.out.pupils = self._pupils_frame()
        self.out.marks = self._marks()

    # -- object index ----------------------------------------------------------------------

    def _index(self, value: Any, depth: int) -> None:
        if depth > _MAX_DEPTH:
            return
        if _is_map(value):
            href = value.get("href")
            if isinstance(href, str) and _is_expanded(value):
                known = self.objects.get(href)
                if known is None or len(value) > len(known):
                    self.objects[href] = value
            for inner in value.values():
                if type(inner) in _CONTAINERS or _is_map(inner):
                    self._index(inner, depth + 1)
        elif isinstance(value, list):
            for inner in value:
                self._index(inner, depth + 1)

    def _resolve(self, value: Any) -> Mapping[str, Any] | None:
        """The expanded object a stub stands for (or the object itself), else None."""
        if not _is_map(value):
            return None
        if _is_expanded(value):
            return value
        href = value.get("href")
        return self.objects.get(href) if isinstance(href, str) else None

    def _add_upn(self, item: Mapping[str, Any]) -> None:
        student = _href_id(item.get("student"))
        upn = item.get("upn")
        if student is None or not isinstance(upn, str) or not upn.strip():
            return
        entry = _Upn(
            upn=upn.strip().upper(),
            start=parse_stamp(item.get("startDatetime")),
            end=parse_stamp(item.get("endDatetime")),
            temporary=item.get("isTemporary") is True,
        )
        if entry not in self.upns[student]:
            self.upns[student].append(entry)

    # -- pupils ----------------------------------------------------------------------------

    def _students(self) -> dict[str, tuple[Mapping[str, Any] | None, dt.datetime | None]]:
        """Arbor id -> (student object or stub, latest record start) of students with
        records."""
        seen: dict[str, tuple[Mapping[str, Any] | None, dt.datetime | None]] = {}
        for record in self.records:
            stub = record.get("student")
            sid = _href_id(stub)
            if sid is None:
                continue
            stamp = parse_stamp(record.get("startDatetime"))
            obj = self._resolve(stub) or (stub if _is_map(stub) else None)
            old = seen.get(sid)
            latest = stamp if old is None or old[1] is None else max(old[1], stamp or old[1])
            seen[sid] = (obj if old is None or old[0] is None else old[0], latest)
        return seen

    def _choose_key(self, key: str) -> str:
        self.students = self._students()
        if key != "auto":
            return key
        if all(sid in self.upns for sid in self.students):
            return "upn"
        if self.students:
            missing = sum(1 for sid in self.students if sid not in self.upns)
            self.out.warnings.append(
                f"{missing} student(s) have no UkDfe_UpnAssignment: pupils are keyed by the "
                "Arbor student id (pass pupil_key= to choose)"
            )
        return "arbor"

    def _upn_for(self, sid: str, when: dt.datetime | None) -> _Upn | None:
        """The UPN current on ``when`` (non-temporary preferred), else the latest one."""
        found = self.upns.get(sid)
        if not found:
            return None

        def current(u: _Upn) -> bool:
            if when is None:
                return u.end is None
            return (u.start is None or u.start <= when) and (u.end is None or when <= u.end)

        pool = [u for u in found if current(u)] or found
        return max(pool, key=lambda u: (not u.temporary, u.start or _EARLIEST, u.upn))

    def _pupils_frame(self) -> pd.DataFrame:
        self.pupil_ids: dict[str, str | None] = {}
        rows: list[dict[str, Any]] = []
        invalid: list[str] = []
        several = 0
        for sid, (found, latest) in self.students.items():
            chosen = self._upn_for(sid, latest)
            if len({u.upn for u in self.upns.get(sid, [])}) > 1:
                several += 1
            pupil_id = sid if self.key == "arbor" else (chosen.upn if chosen else None)
            self.pupil_ids[sid] = pupil_id
            if pupil_id is None:
                continue
            if chosen is not None and not kit.upn_ok(chosen.upn):
                invalid.append(pupil_id)
            obj: Mapping[str, Any] = found or {}
            name = obj.get("displayName")
            dob = parse_stamp(obj.get("dateOfBirth"))
            if dob is None:
                # The SDK's Student model has no dateOfBirth: it is a property of the
                # Person the student's `person` points to (Model/Student.php, Person.php).
                person = self._resolve(obj.get("person"))
                dob = parse_stamp(person.get("dateOfBirth")) if person else None
            row: dict[str, Any] = {
                "pupil_id": pupil_id,
                "upn": chosen.upn if chosen else None,
                "upn_temporary": chosen.temporary if chosen else pd.NA,
                "mis_id": sid,
                "name": name if isinstance(name, str) and name.strip() else None,
                "date_of_birth": pd.Timestamp(dob.date()) if dob else pd.NaT,
            }
            if self.school_id is not None:
                row["school_id"] = self.school_id
            rows.append(row)
        if several:
            self.out.warnings.append(
                f"{several} student(s) have several UPNs over time: each is keyed by the one "
                "current on their latest record (a permanent one before a temporary one)"
            )
        if invalid:
            self.out.warnings.append(
                f"{len(invalid)} UPN(s) with a wrong check letter, kept as given: "
                + ", ".join(invalid[:_SHOWN])
            )
        columns = ["pupil_id", "upn", "upn_temporary", "mis_id", "name", "date_of_birth"]
        if self.school_id is not None:
            columns.insert(1, "school_id")
        return kit.pupils_from_records(
            rows,
            columns,
            text=("upn", "mis_id", "name"),
            flags=("upn_temporary",),
            dedupe=True,
        )

    # -- marks -----------------------------------------------------------------------------

    def _marks(self) -> Iterator[pd.DataFrame]:
        return kit.marks_chunks(self._mark_rows(), self.chunk_size)

    def _mark_rows(self) -> Iterator[tuple[int, dict[str, Any]]]:
        redundant: list[int] = []
        lessons: list[int] = []
        inferred: list[int] = []
        corrected: list[str] = []
        for number, record in enumerate(self.records, start=1):
            if record.get("isRedundant") is True:
                redundant.append(number)
                continue
            try:
                row, how, note = self._record(record)
            except kit.RowProblem as bad:
                self.sink.record(number, bad)
                continue
            if how == "lesson":
                lessons.append(number)
                continue
            if how == "time":
                inferred.append(number)
            if note:
                corrected.append(f"row {number}: {note}")
            yield number, row
        self._summarise(redundant, lessons, inferred, corrected)

    def _summarise(
        self, redundant: list[int], lessons: list[int], inferred: list[int], corrected: list[str]
    ) -> None:
        notes = self.out.warnings
        kit.note_rows(
            notes, redundant, "{n} superseded record(s) (isRedundant) skipped: rows {rows}"
        )
        kit.note_rows(
            notes,
            lessons,
            "{n} lesson-register record(s) skipped (register type neither morning nor "
            "afternoon): rows {rows}",
        )
        kit.note_rows(
            notes,
            inferred,
            "{n} record(s) without a resolvable register type: AM/PM inferred from the start "
            "time (before 12:00 = AM): rows {rows}",
        )
        if corrected:
            more = len(corrected) - _SHOWN
            self.out.warnings.append(
                f"{Reason.FLAG_MISMATCH}: {len(corrected)} mark(s) whose letter disagrees with "
                "the Arbor flags were classified from the flags ("
                + "; ".join(corrected[:_SHOWN])
                + (f"; and {more} more" if more > 0 else "")
                + ")"
            )

    def _record(self, record: Mapping[str, Any]) -> tuple[dict[str, Any], str, str | None]:
        """(row, how AM/PM was found: "type" | "time" | "lesson", correction note)."""
        sid = _href_id(record.get("student"))
        if sid is None:
            raise kit.RowProblem("student", None, Reason.MISSING_VALUE, "record names no student")
        pupil_id = self.pupil_ids.get(sid)
        if pupil_id is None:
            raise kit.RowProblem(
                "student", sid, Reason.MISSING_VALUE, "student has no UPN assignment"
            )
        # SDK models of 2017-2019 link a record to its `session` (a Session with the same
        # attendanceRegisterType and startDatetime); later ones to its `event`.
        holder = "event" if _is_map(record.get("event")) else "session"
        event = self._resolve(record.get(holder))
        raw_start = record.get("startDatetime")
        column = "startDatetime"
        if raw_start is None and event is not None:
            raw_start, column = event.get("startDatetime"), f"{holder}.startDatetime"
        if raw_start is None:
            raise kit.RowProblem(
                column, None, Reason.MISSING_VALUE, "record has no start date-time"
            )
        start = parse_stamp(raw_start)
        # None (no date-time) or a date outside the register's bounds is a kit.RowProblem here
        day = kit.checked_date(
            None if start is None else start.date(), raw_start, column, text="not a date-time"
        )
        session, how = self._session(record, event, start)
        if how == "lesson":
            return {}, how, None
        code, note = self._code(record, session)
        return kit.mark_row(pupil_id, day, session, code, self.school_id), how, note

    def _register_type(
        self, record: Mapping[str, Any], event: Mapping[str, Any] | None
    ) -> Mapping[str, Any] | None:
        register = self._resolve(record.get("attendanceRegister"))
        for holder in (register, event):
            if holder is None:
                continue
            kind = self._resolve(holder.get("attendanceRegisterType"))
            if kind is not None and ("isMorning" in kind or "isAfternoon" in kind):
                return kind
        return None

    def _session(
        self, record: Mapping[str, Any], event: Mapping[str, Any] | None, start: dt.datetime
    ) -> tuple[str, str]:
        kind = self._register_type(record, event)
        if kind is not None:
            morning = kind.get("isMorning") is True
            afternoon = kind.get("isAfternoon") is True
            if morning and afternoon:
                raise kit.RowProblem(
                    "attendanceRegisterType",
                    "isMorning+isAfternoon",
                    Reason.BAD_SESSION,
                    "register type is both morning and afternoon",
                )
            if morning:
                return "AM", "type"
            if afternoon:
                return "PM", "type"
            return "", "lesson"
        return ("AM" if start.time() < _MIDDAY else "PM"), "time"

    def _code(self, record: Mapping[str, Any], session: str) -> tuple[str, str | None]:
        stub = record.get("attendanceMark")
        if stub is None:
            raise kit.RowProblem("attendanceMark", None, Reason.MISSING_VALUE, "record has no mark")
        mark = self._resolve(stub)
        if mark is None:
            raise kit.RowProblem(
                "attendanceMark",
                _href_id(stub),
                Reason.MISSING_VALUE,
                "mark is a stub and the attendance-marks lookup is not in the source",
            )
        raw = mark.get("attendanceMark")
        letter = raw.strip().upper() if isinstance(raw, str) else ""
        try:
            category = self.rules.flag_category(mark)
        except ValueError as exc:
            raise kit.RowProblem(
                "attendanceMark",
                raw if raw is not None else _href_id(stub),
                Reason.FLAG_MISMATCH,
                f"mark flags contradict each other: {exc}",
            ) from None
        if category is None:
            if not letter:
                raise kit.RowProblem(
                    "attendanceMark",
                    _href_id(stub),
                    Reason.MISSING_VALUE,
                    "mark has neither a letter nor flags",
                )
            return str(raw), None
        if letter and self.rules.letter_category(letter) == category:
            return str(raw), None
        code = self.rules.default(category, session)
        shown = repr(letter) if letter else f"(no letter, {_href_id(stub)!r})"
        return code, f"{shown} -> {code!r} ({category})"
