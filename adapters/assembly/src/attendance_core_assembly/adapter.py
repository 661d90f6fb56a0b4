"""The ``assembly-json`` adapter: Assembly Platform API JSON (attendance, students, calendar).

A source is one page file, a folder of page files, or an iterable of pages already fetched.
A page is a v1.1 body (a bare JSON array; paging is in response headers) or a v1.0 wrapped list
(``{"object": "list", "total_pages", "current_page", ..., "data": [...]}``). Attendance,
student, calendar-event and attendance-summary pages may share a folder: each page's kind is
told from its records.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

import pandas as pd
from dateutil import tz

from attendance_core import adapterkit as kit
from attendance_core.adapters import AdapterOutput, RejectedStore, Source, check_options
from attendance_core.errors import FormatError, Reason

__all__ = ["FIELDS", "OPEN_END_DATES", "AssemblyJsonAdapter"]

#: Leaving dates that mean "not left" (re-exported from the adapter kit).
OPEN_END_DATES = kit.OPEN_END_DATES

#: Reason id of an attendance record whose student is not in the student pages.
UNKNOWN_PUPIL = Reason.UNKNOWN_PUPIL.value
_LONDON = tz.gettz("Europe/London")
_OBJECT_LIST = re.compile(rb'"object"\s*:\s*"list"')
_ASSEMBLY_RECORD = re.compile(
    rb'"object"\s*:\s*"(attendance|student|calendar_event|attendance_summary)"'
    rb'|"attendance_mark"\s*:|"session_name"\s*:|"possible_sessions"\s*:'
)


def _load_fields() -> dict[str, Any]:
    return kit.package_toml(__package__, "fields.toml")


#: The field table shipped with the adapter (``fields.toml``).
FIELDS: Mapping[str, Any] = _load_fields()


def _record_kind(record: Any) -> str | None:
    if not isinstance(record, Mapping):
        return None
    obj = record.get("object")
    if isinstance(obj, str) and obj in FIELDS["kinds"]:
        return str(FIELDS["kinds"][obj])
    for kind, keys in FIELDS["detect"].items():
        if kit.has_any(record, keys):
            return str(kind)
    return None


def _looks_like_page(page: Any) -> bool:
    if isinstance(page, Mapping):
        return page.get("object") == "list" and isinstance(page.get("data"), list)
    if isinstance(page, list):
        first = next((r for r in page if isinstance(r, Mapping)), None)
        return first is not None and _record_kind(first) is not None
    return False


class _Pages:
    """Records sorted by kind, in reading order, with v1.0 paging facts."""

    def __init__(self, warnings: list[str]) -> None:
        self.warnings = warnings
        self.records: dict[str, list[Any]] = {
            "attendance": [],
            "student": [],
            "calendar_event": [],
            "attendance_summary": [],
        }
        self.paging: dict[str, list[tuple[Any, Any]]] = {}
        self.skipped: list[str] = []

    def check_found(self, file: str) -> None:
        """No silent loss: pages without one Assembly record are a FormatError when they held
        other records (another format), a warning when they were empty."""
        if any(self.records.values()):
            return
        if self.skipped:
            raise FormatError(
                f"no Assembly records in {len(self.skipped)} page(s) of other records "
                f"(first: {self.skipped[0]}); is this another format's file?",
                file=file,
            )
        self.warnings.append("the pages hold no records: nothing loaded")

    def add_document(self, name: str, doc: Any) -> None:
        if (
            isinstance(doc, list)
            and doc
            and all(isinstance(p, Mapping) and p.get("object") == "list" for p in doc)
        ):
            for i, page in enumerate(doc, start=1):
                self.add_page(f"{name}[{i}]", page)
        else:
            self.add_page(name, doc)

    def add_page(self, name: str, page: Any) -> None:
        if isinstance(page, Mapping):
            if page.get("object") != "list" or not isinstance(page.get("data"), list):
                raise FormatError(
                    "not an Assembly page: an object that is not a v1.0 list", file=name
                )
            items: list[Any] = page["data"]
            meta: tuple[Any, Any] | None = (page.get("current_page"), page.get("total_pages"))
        elif isinstance(page, list):
            items, meta = page, None
        else:
            raise FormatError("not an Assembly page: neither an array nor a v1.0 list", file=name)
        first = next((r for r in items if isinstance(r, Mapping)), None)
        if first is None:
            if items:
                raise FormatError("not an Assembly page: no record objects", file=name)
            return
        kind = _record_kind(first)
        if kind is None:
            self.warnings.append(
                f"{name}: page of unrecognised records skipped ({len(items)} records)"
            )
            self.skipped.append(name)
            return
        self.records[kind].extend(items)
        if meta is not None:
            self.paging.setdefault(kind, []).append(meta)

    def paging_warnings(self) -> list[str]:
        out = []
        for kind, metas in sorted(self.paging.items()):
            totals = {t for _, t in metas if isinstance(t, int) and not isinstance(t, bool)}
            seen = {c for c, _ in metas if isinstance(c, int) and not isinstance(c, bool)}
            if len(totals) == 1:
                # the claimed page count is only compared, never allocated: a page claiming
                # total_pages 10**9 costs no more than one claiming 3
                total = next(iter(totals))
                present = {c for c in seen if 1 <= c <= total}
                n_missing = total - len(present)
                if n_missing > 0:
                    first: list[int] = []
                    page = 1
                    while len(first) < 10 and page <= total:
                        if page not in present:
                            first.append(page)
                        page += 1
                    shown = ", ".join(str(m) for m in first)
                    more = f" and {n_missing - len(first)} more" if n_missing > len(first) else ""
                    out.append(
                        f"{kind} pages: page(s) {shown}{more} of {total} missing; "
                        "the export looks incomplete"
                    )
        return out


class AssemblyJsonAdapter:
    """Assembly Platform API JSON: AM/PM attendance marks joined to students.

    Options of :meth:`read`:

    ``pupil_key``
        ``"auto"`` (default: UPN when every student has one, else MIS id, else Assembly id),
        ``"upn"``, ``"mis_id"`` or ``"id"``.
    ``open_end_dates``
        leaving dates read as "not left" besides null (default ``("2079-06-06",)``).
    ``school_id``
        a school id to put on every mark, pupil and total (Assembly records do not carry it).
    """

    name: ClassVar[str] = "assembly-json"
    options: ClassVar[frozenset[str]] = frozenset({"pupil_key", "open_end_dates", "school_id"})
    extensions: ClassVar[tuple[str, ...]] = (".json",)
    description: ClassVar[str] = (
        "Assembly Platform API JSON (v1.1 arrays or v1.0 lists): AM/PM attendance and students"
    )

    url_schemes: ClassVar[tuple[str, ...]] = ("assembly",)

    def fetch(self, url: str, options: dict[str, Any]) -> list[dict[str, Any]]:
        """The pages of ``assembly://SCHOOL_ID`` over HTTP (see
        :mod:`attendance_core_assembly.fetch`); takes the fetch options (``token``,
        ``base_url``, ``start_date``, ...) out of ``options``."""
        from .fetch import fetch_school

        return fetch_school(url, options)

    def sniff(self, source: Source) -> bool:
        """An Assembly page: a v1.0 ``{"object": "list", ...}`` wrapper, or a bare array of
        Assembly records (``"object": "attendance"``, ``attendance_mark``, ...)."""
        try:
            if source.is_dir and source.path is not None:
                files = kit.page_files(source.path)
                return bool(files) and self.sniff(Source.of(files[0]))
            if not source.is_bytes:
                return kit.sniff_page_objects(source.obj, _looks_like_page)
            head = source.head(8192)
            text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
            if text.startswith(b"["):
                return bool(_ASSEMBLY_RECORD.search(head) or _OBJECT_LIST.search(head))
            if text.startswith(b"{"):
                return bool(_OBJECT_LIST.search(head + kit.tail(source)))
            return False
        except Exception:  # sniffing never raises
            return False

    def read(self, source: Source, *, errors: str = "collect", **options: Any) -> AdapterOutput:
        """Read the pages; see the class docstring for the options."""
        pupil_key, open_end, school_id = kit.take_api_options(options)
        check_options(self.name, self.options, options, source.name)

        warnings: list[str] = []
        rejected = RejectedStore()
        pages = _Pages(warnings)
        docs = kit.read_json_source(source, warnings)
        if (
            not source.is_bytes
            and not source.is_dir
            and all(isinstance(d, Mapping) and d.get("object") != "list" for _, d in docs)
        ):
            # an iterable of records rather than of pages: one v1.1 page
            docs = [(source.name, [d for _, d in docs])]
        for name, doc in docs:
            pages.add_document(name, doc)
        pages.check_found(source.name)
        warnings.extend(pages.paging_warnings())

        key_of, unkeyed, pupils = _students(
            pages.records["student"], pupil_key, open_end, school_id, warnings
        )
        joined = bool(pages.records["student"])
        if not joined and pages.records["attendance"]:
            warnings.append("no student pages: pupils are keyed on the Assembly student id")
        totals = _totals(
            pages.records["attendance_summary"], key_of if joined else None, school_id, warnings
        )
        closed = _closed_days(pages.records["calendar_event"], warnings)
        sink = kit.RejectedRows(source.name, errors, rejected)
        rows = _marks(
            pages.records["attendance"],
            key_of=key_of if joined else None,
            unkeyed=unkeyed,
            school_id=school_id,
            closed=closed,
            sink=sink,
            warnings=warnings,
        )
        return kit.api_output(
            rows,
            with_school=bool(school_id),
            pupils=pupils,
            rejected=rejected,
            warnings=warnings,
            totals=totals,
            source_columns={
                "pupil_id": "student_id",
                "date": "session_date",
                "session": "session_name",
                "code": "attendance_mark",
            },
        )


def _students(
    items: list[Any],
    pupil_key: str,
    open_end: set[dt.date],
    school_id: str | None,
    warnings: list[str],
) -> tuple[dict[str, str], dict[str, str], pd.DataFrame]:
    """(Assembly id -> pupil id, Assembly id -> missing key name, pupils frame)."""
    sf = FIELDS["student"]
    records: list[dict[str, Any]] = []
    for i, item in enumerate(items, start=1):
        where = f"student record {i}"
        if not isinstance(item, Mapping):
            warnings.append(f"{where}: not an object, skipped")
            continue
        rec: dict[str, Any] = {"_where": where}
        for field in ("id", "upn", "mis_id", "year_group"):
            rec[field] = kit.text_id(kit.first_of(item, sf[field])[1])
        parts = [kit.first_of(item, sf[f])[1] for f in ("first_name", "last_name")]
        rec["name"] = " ".join(p for p in parts if isinstance(p, str) and p) or None
        for field in ("date_of_birth", "admission_date", "leaving_date"):
            value = kit.first_of(item, sf[field])[1]
            day = kit.parse_date(value, local_tz=_LONDON) if value is not None else None
            if value is not None and day is None:
                warnings.append(f"{where}: {field} is not a date, left empty")
            # the "not left" sentinel is compared as written: 2079-06-06T23:59:00.000Z moved to
            # London time is 7 June and would miss it
            if field == "leaving_date" and (day in open_end or kit.parse_date(value) in open_end):
                day = None
            rec[field] = day
        if rec["upn"] is not None and not kit.upn_ok(rec["upn"]):
            warnings.append(f"{where}: UPN fails the check letter")
        records.append(rec)

    key = kit.choose_pupil_key(records, pupil_key, warnings, hint=" (scope students.upn?)")
    return kit.key_pupils(
        records,
        key,
        warnings,
        fields=kit.PUPIL_FIELDS,
        id_column="assembly_id",
        school_id=school_id,
    )


#: Largest session count believed (as the CTF reader's six digits): a summary claiming more
#: (``10**50``) is skipped with a warning instead of refusing the file.
MAX_SESSION_COUNT = 999_999


def _count(value: Any) -> int | None:
    """A session count (Assembly sends floats) as an exact int, or None if not whole or not
    between 0 and :data:`MAX_SESSION_COUNT`."""
    if isinstance(value, bool):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int) and 0 <= value <= MAX_SESSION_COUNT:
        return value
    return None


def _totals(
    items: list[Any],
    key_of: dict[str, str] | None,
    school_id: str | None,
    warnings: list[str],
) -> pd.DataFrame | None:
    """Attendance summaries as period totals, or None when there are none."""
    if not items:
        return None
    f = FIELDS["attendance_summary"]
    out: list[dict[str, Any]] = []
    unequal: list[int] = []
    for i, item in enumerate(items, start=1):
        where = f"attendance summary record {i}"
        if not isinstance(item, Mapping):
            warnings.append(f"{where}: not an object, skipped")
            continue
        sid = kit.text_id(kit.first_of(item, f["student"])[1])
        pid = sid if key_of is None or sid is None else key_of.get(sid)
        if pid is None:
            warnings.append(f"{where}: student not known, skipped")
            continue
        rec: dict[str, Any] = {"pupil_id": pid, "school_id": school_id}
        for field in ("start", "end"):
            rec[field] = kit.parse_date(kit.first_of(item, f[field])[1], local_tz=_LONDON)
        counts = {
            c: _count(kit.first_of(item, f[c])[1])
            for c in ("possible", "attended", "authorised", "unauthorised")
        }
        if any(v is None for v in counts.values()):
            warnings.append(
                f"{where}: a session count is missing, not a whole number or over "
                f"{MAX_SESSION_COUNT}, skipped"
            )
            continue
        if counts["attended"] + counts["authorised"] + counts["unauthorised"] != counts["possible"]:
            unequal.append(i)
        rec.update(counts)
        out.append(rec)
    if unequal:
        warnings.append(
            f"{len(unequal)} attendance summary record(s) whose attended + authorised + "
            f"unauthorised sessions differ from possible (records {kit.row_list(unequal)}); "
            "kept as the export gives them"
        )
    return kit.totals_frame(out, text=())


def _closed_days(items: list[Any], warnings: list[str]) -> set[dt.date]:
    """Days covered by Holiday/Inset calendar events."""
    f = FIELDS["calendar_event"]
    closed_types = {t.lower() for t in f["non_school_types"]}
    days: set[dt.date] = set()
    for i, item in enumerate(items, start=1):
        if not isinstance(item, Mapping):
            continue
        kind = kit.first_of(item, f["type"])[1]
        if not isinstance(kind, str) or kind.lower() not in closed_types:
            continue
        start = kit.parse_date(kit.first_of(item, f["start"])[1], local_tz=_LONDON)
        end = kit.parse_date(kit.first_of(item, f["end"])[1], local_tz=_LONDON) or start
        if start is None or end is None or end < start or (end - start).days > 366:
            warnings.append(f"calendar event {i}: dates not usable, ignored")
            continue
        days.update(start + dt.timedelta(days=n) for n in range((end - start).days + 1))
    return days


def _marks(
    items: list[Any],
    *,
    key_of: dict[str, str] | None,
    unkeyed: dict[str, str],
    school_id: str | None,
    closed: set[dt.date],
    sink: kit.RejectedRows,
    warnings: list[str],
) -> Iterator[tuple[int, dict[str, Any]]]:
    """(record number, long row) for each usable attendance record; rejects the others."""
    f = FIELDS["attendance"]
    sessions = {str(k): str(v) for k, v in FIELDS["sessions"].items()}
    on_closed = 0
    for row, item in enumerate(items, start=1):
        if not isinstance(item, Mapping):
            sink.reject(
                row,
                "record",
                type(item).__name__,
                Reason.BAD_RECORD,
                "attendance record is not an object",
            )
            continue
        col, raw = kit.first_of(item, f["student"])
        col = col or f["student"][0]
        sid = kit.text_id(raw)
        if sid is None:
            sink.reject(row, col, raw, Reason.MISSING_VALUE, "no student")
            continue
        if key_of is None:
            pid = sid
        else:
            found = key_of.get(sid)
            if found is None:
                if sid in unkeyed:
                    sink.reject(
                        row, col, sid, Reason.MISSING_VALUE, f"student has no {unkeyed[sid]}"
                    )
                else:
                    sink.reject(row, col, sid, UNKNOWN_PUPIL, "student not in the student pages")
                continue
            pid = found
        col, raw = kit.first_of(item, f["date"])
        col = col or f["date"][0]
        if raw is None:
            sink.reject(row, col, None, Reason.MISSING_VALUE, "no date")
            continue
        try:
            day = kit.mark_date(raw, col, local_tz=_LONDON)
        except kit.RowProblem as problem:
            sink.record(row, problem)
            continue
        col, raw = kit.first_of(item, f["session"])
        col = col or f["session"][0]
        if raw is None:
            sink.reject(row, col, None, Reason.MISSING_VALUE, "no session")
            continue
        session = sessions.get(str(raw).strip().lower().replace(" ", "").replace("_", ""))
        if session is None:
            sink.reject(row, col, raw, Reason.BAD_SESSION, "session must be AM or PM")
            continue
        col, raw = kit.first_of(item, f["code"])
        col = col or f["code"][0]
        if raw is not None and not isinstance(raw, str):
            sink.reject(row, col, raw, Reason.UNKNOWN_CODE, "attendance mark is not text")
            continue
        if day in closed and raw not in (None, "", "#"):
            on_closed += 1
        yield row, kit.mark_row(pid, day, session, raw or "", school_id)
    if on_closed:
        warnings.append(f"{on_closed} marks fall on Holiday/Inset days of the calendar events")
