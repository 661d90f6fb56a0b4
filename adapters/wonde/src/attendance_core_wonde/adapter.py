"""The ``wonde-json`` adapter: Wonde v1.0 paged JSON (students + session attendance).

A source is one page file, a file holding a JSON array of pages, a folder of page files, or an
iterable of page dicts. Students, attendance-code and session-attendance pages may sit in the
same folder: each page's kind is told from its records, not from its file name.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

from attendance_core import adapterkit as kit
from attendance_core.adapters import AdapterOutput, RejectedStore, Source, check_options
from attendance_core.errors import FormatError, Reason

__all__ = ["DEFAULT_ALIASES", "OPEN_END_DATES", "WondeJsonAdapter"]

#: Leaving dates that mean "not left" (re-exported from the adapter kit).
OPEN_END_DATES = kit.OPEN_END_DATES

#: Reason id of an attendance record whose student is not in the students pages.
UNKNOWN_PUPIL = Reason.UNKNOWN_PUPIL.value
_WONDE_ID = re.compile(r"^[A-Z]\d{4,}$")
_PAGINATION = re.compile(rb'"pagination"\s*:')
_OBJECT_LIST = re.compile(rb'"object"\s*:\s*"list"')
_DATA_KEY = re.compile(rb'"data"\s*:')


def _load_aliases() -> dict[str, Any]:
    return kit.package_toml(__package__, "aliases.toml")


#: The alias table shipped with the adapter (``aliases.toml``).
DEFAULT_ALIASES: Mapping[str, Any] = _load_aliases()


def _merge_aliases(extra: Mapping[str, Any] | None) -> dict[str, Any]:
    """The default alias table with the caller's entries put first (a string or a list)."""
    table = {k: dict(v) for k, v in DEFAULT_ALIASES.items()}
    for section, entries in (extra or {}).items():
        if section not in table or not isinstance(entries, Mapping):
            raise FormatError(f"aliases: unknown section {section!r} (known: {sorted(table)})")
        for key, paths in entries.items():
            new = [paths] if isinstance(paths, str) else list(paths)
            if section in ("sessions",):
                table[section][key] = paths
            elif section == "detect":
                table[section][key] = new
            else:
                table[section][key] = new + [p for p in table[section].get(key, []) if p not in new]
    return table


def _looks_like_page(page: Any) -> bool:
    return (
        isinstance(page, Mapping)
        and "data" in page
        and isinstance(page.get("meta"), Mapping)
        and "pagination" in page["meta"]
        and page.get("object") != "list"
    )


class _Catalogue:
    """Pages sorted by kind, with the students and attendance codes read up front."""

    def __init__(self, aliases: dict[str, Any], warnings: list[str]) -> None:
        self.aliases = aliases
        self.warnings = warnings
        self.attendance: list[tuple[str, list[Any]]] = []
        self.students: list[tuple[str, int, Mapping[str, Any]]] = []
        self.codes: dict[str, str] = {}
        self.paging: list[tuple[str, str, Any]] = []
        self.skipped: list[str] = []

    def check_found(self, file: str) -> None:
        """No silent loss: a source without attendance or student records is a FormatError
        when it held other records (a schools or classes page, another format), a warning when
        its pages were empty or held only attendance codes."""
        if self.attendance or self.students:
            return
        if self.skipped:
            raise FormatError(
                f"no Wonde attendance or student records in {len(self.skipped)} page(s) of "
                f"other records (first: {self.skipped[0]}); a schools page, or another format?",
                file=file,
            )
        self.warnings.append("the pages hold no attendance or student records: nothing loaded")

    def kind(self, record: Any) -> str | None:
        a = self.aliases
        if not isinstance(record, Mapping):
            return None
        att = a["attendance"]
        if (
            kit.has_any(record, att["student"])
            and kit.has_any(record, att["date"])
            and kit.has_any(record, att["session"])
        ):
            return "attendance"
        if kit.has_any(record, a["detect"]["student_keys"]):
            return "students"
        if kit.has_any(record, a["attendance_code"]["code"]) and not kit.has_any(
            record, att["student"]
        ):
            return "attendance_codes"
        return None

    def add(self, name: str, page: Any) -> None:
        if not isinstance(page, Mapping) or "data" not in page:
            raise FormatError("not a Wonde page: no 'data' key", file=name)
        if page.get("object") == "list":
            # Assembly's v1.0 envelope also has 'data'; reading it here would mix formats
            raise FormatError(
                "not a Wonde page: an Assembly list ('object': 'list'); use format='assembly-json'",
                file=name,
            )
        data = page["data"]
        items = data if isinstance(data, list) else [data]
        first = next((i for i in items if isinstance(i, Mapping)), None)
        if first is None:
            if items:
                raise FormatError("not a Wonde page: 'data' holds no records", file=name)
            return  # an empty last page
        kind = self.kind(first)
        if kind is None:
            self.warnings.append(
                f"{name}: page of unrecognised records skipped ({len(items)} records)"
            )
            self.skipped.append(name)
            return
        self.paging.append((kind, name, page.get("meta")))
        if kind == "attendance":
            self.attendance.append((name, items))
        elif kind == "students":
            for i, item in enumerate(items, start=1):
                if isinstance(item, Mapping):
                    self.students.append((name, i, item))
        else:
            ca = self.aliases["attendance_code"]
            for item in items:
                _, cid = kit.first_of(item, ca["id"])
                _, letter = kit.first_of(item, ca["code"])
                if kit.text_id(cid) is not None and isinstance(letter, str):
                    self.codes[str(kit.text_id(cid))] = letter


def _last_page(meta: Any) -> bool | None:
    pag = meta.get("pagination") if isinstance(meta, Mapping) else None
    if not isinstance(pag, Mapping):
        return None
    if "more" in pag:
        return not bool(pag["more"])
    if "next" in pag:
        return not pag["next"]
    return None


class WondeJsonAdapter:
    """Wonde v1.0 JSON pages: students and AM/PM session attendance, joined.

    Options of :meth:`read`:

    ``aliases``
        extra field aliases, ``{"attendance": {"code": ["my_code"]}, ...}``, tried before the
        shipped table (``aliases.toml``; names beyond paging are inferred, see README).
    ``codes``
        mapping of Wonde attendance-code id -> code letter, when the export has no
        ``attendance-codes`` pages.
    ``pupil_key``
        ``"auto"`` (default: UPN when every student has one, else MIS id, else Wonde id),
        ``"upn"``, ``"mis_id"`` or ``"id"``.
    ``open_end_dates``
        leaving dates read as "not left" besides null (default ``("2079-06-06",)``).
    ``school_id``
        a school id to put on every mark and pupil (Wonde pages do not carry it).
    """

    name: ClassVar[str] = "wonde-json"
    options: ClassVar[frozenset[str]] = frozenset(
        {"aliases", "codes", "pupil_key", "open_end_dates", "school_id"}
    )
    extensions: ClassVar[tuple[str, ...]] = (".json",)
    description: ClassVar[str] = (
        "Wonde v1.0 JSON pages (data + meta.pagination): students and AM/PM session attendance"
    )

    #: ``ac.load("wonde://SCHOOL_ID", token=...)`` fetches the school's pages first.
    url_schemes: ClassVar[tuple[str, ...]] = ("wonde",)

    def fetch(self, url: str, options: dict[str, Any]) -> list[dict[str, Any]]:
        """The pages of ``wonde://SCHOOL_ID`` over HTTP (see :mod:`attendance_core_wonde.fetch`);
        takes the fetch options (``token``, ``base_url``, ...) out of ``options``."""
        from .fetch import fetch_school

        return fetch_school(url, options)

    def sniff(self, source: Source) -> bool:
        """A Wonde page: a JSON object with ``data`` and ``meta.pagination``, not Assembly's
        ``"object": "list"`` wrapper. Looks at the head and the tail of a file (``meta``
        follows ``data``), the first page file of a folder, or the first of a list of pages."""
        try:
            if source.is_dir and source.path is not None:
                files = kit.page_files(source.path)
                if not files:
                    return False
                return self.sniff(Source.of(files[0]))
            if not source.is_bytes:
                return kit.sniff_page_objects(source.obj, _looks_like_page, whole=False)
            head = source.head(8192)
            text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
            if not text.startswith((b"{", b"[")):
                return False
            both = head + kit.tail(source)
            return bool(
                _DATA_KEY.search(both)
                and _PAGINATION.search(both)
                and not _OBJECT_LIST.search(both)
            )
        except Exception:  # sniffing never raises
            return False

    def read(self, source: Source, *, errors: str = "collect", **options: Any) -> AdapterOutput:
        """Read the pages; see the class docstring for the options."""
        aliases = _merge_aliases(options.pop("aliases", None))
        extra_codes = {str(k): str(v) for k, v in (options.pop("codes", None) or {}).items()}
        pupil_key, open_end, school_id = kit.take_api_options(options)
        check_options(self.name, self.options, options, source.name)

        warnings: list[str] = []
        rejected = RejectedStore()
        sink = kit.RejectedRows(source.name, errors, rejected)
        cat = _Catalogue(aliases, warnings)
        for name, doc in kit.read_json_source(source, warnings):
            pages = (
                doc
                if isinstance(doc, list)
                and all(isinstance(p, Mapping) and "data" in p for p in doc)
                and doc
                else [doc]
            )
            for i, page in enumerate(pages, start=1):
                cat.add(name if len(pages) == 1 else f"{name}[{i}]", page)
        cat.check_found(source.name)
        warnings.extend(kit.sequence_check(cat.paging, _last_page))
        codes = {**cat.codes, **extra_codes}

        key_of, unkeyed, pupils = self._students(cat, pupil_key, open_end, school_id, warnings)
        if not cat.students and cat.attendance:
            warnings.append("no students pages: pupils are keyed on the Wonde student id")

        rows = self._marks(
            cat,
            codes=codes,
            key_of=key_of,
            unkeyed=unkeyed,
            school_id=school_id,
            sink=sink,
            warnings=warnings,
        )
        return kit.api_output(
            rows,
            with_school=bool(school_id),
            pupils=pupils,
            rejected=rejected,
            warnings=warnings,
            source_columns={
                "pupil_id": "student",
                "date": "date",
                "session": "session",
                "code": "attendance_code",
            },
        )

    # ---------------------------------------------------------------------------- students
    def _students(
        self,
        cat: _Catalogue,
        pupil_key: str,
        open_end: set[dt.date],
        school_id: str | None,
        warnings: list[str],
    ) -> tuple[dict[str, str], dict[str, str], Any]:
        sa = cat.aliases["student"]
        records: list[dict[str, Any]] = []
        for name, i, item in cat.students:
            rec: dict[str, Any] = {"_where": f"{name} record {i}"}
            for field in ("id", "mis_id", "upn", "year_group"):
                _, value = kit.first_of(item, sa[field])
                rec[field] = kit.text_id(value)
            _, fore = kit.first_of(item, sa["forename"])
            _, sur = kit.first_of(item, sa["surname"])
            rec["name"] = " ".join(str(p) for p in (fore, sur) if isinstance(p, str) and p) or None
            for field in ("date_of_birth", "admission_date", "leaving_date"):
                _, value = kit.first_of(item, sa[field])
                day = kit.parse_date(kit.unwrap(value)) if value is not None else None
                if value is not None and day is None:
                    warnings.append(f"{rec['_where']}: {field} is not a date, left empty")
                if field == "leaving_date" and day in open_end:
                    day = None
                rec[field] = day
            if rec["upn"] is not None and not kit.upn_ok(rec["upn"]):
                warnings.append(f"{rec['_where']}: UPN fails the check letter")
            records.append(rec)

        key = kit.choose_pupil_key(records, pupil_key, warnings)
        return kit.key_pupils(
            records,
            key,
            warnings,
            fields=kit.PUPIL_FIELDS,
            id_column="wonde_id",
            school_id=school_id,
        )

    # ---------------------------------------------------------------------------- marks
    def _marks(
        self,
        cat: _Catalogue,
        *,
        codes: dict[str, str],
        key_of: dict[str, str],
        unkeyed: dict[str, str],
        school_id: str | None,
        sink: kit.RejectedRows,
        warnings: list[str],
    ) -> Iterator[tuple[int, dict[str, Any]]]:
        att = cat.aliases["attendance"]
        sessions = {str(k).replace(" ", ""): v for k, v in cat.aliases["sessions"].items()}
        joined = bool(cat.students)
        row = 0
        unresolved_ids = 0
        for _name, items in cat.attendance:
            for item in items:
                row += 1
                if not isinstance(item, Mapping):
                    sink.reject(
                        row,
                        "record",
                        type(item).__name__,
                        Reason.BAD_RECORD,
                        "attendance record is not an object",
                    )
                    continue
                s_path, s_raw = kit.first_of(item, att["student"])
                s_col = (s_path or att["student"][0]).split(".")[0]
                sid = kit.text_id(
                    kit.get_path(s_raw, "id") if isinstance(s_raw, Mapping) else s_raw
                )
                if sid is None:
                    sink.reject(row, s_col, None, Reason.MISSING_VALUE, "no student")
                    continue
                if joined:
                    pid = key_of.get(sid)
                    if pid is None:
                        if sid in unkeyed:
                            sink.reject(
                                row,
                                s_col,
                                sid,
                                Reason.MISSING_VALUE,
                                f"student has no {unkeyed[sid]}",
                            )
                        else:
                            sink.reject(
                                row, s_col, sid, UNKNOWN_PUPIL, "student not in the students pages"
                            )
                        continue
                else:
                    pid = sid
                d_path, d_raw = kit.first_of(item, att["date"])
                d_col = (d_path or att["date"][0]).split(".")[0]
                if d_raw is None:
                    sink.reject(row, d_col, None, Reason.MISSING_VALUE, "no date")
                    continue
                try:
                    day = kit.mark_date(d_raw, d_col)
                except kit.RowProblem as problem:
                    sink.record(row, problem)
                    continue
                t_path, t_raw = kit.first_of(item, att["session"])
                t_col = (t_path or att["session"][0]).split(".")[0]
                if t_raw is None:
                    sink.reject(row, t_col, None, Reason.MISSING_VALUE, "no session")
                    continue
                session = sessions.get(str(t_raw).strip().lower().replace(" ", ""))
                if session is None:
                    sink.reject(row, t_col, t_raw, Reason.BAD_SESSION, "session must be AM or PM")
                    continue
                c_path, c_raw = kit.first_of(item, att["code"])
                c_col = (c_path or att["code"][0]).split(".")[0]
                code = self._code(c_raw, codes)
                if code is None:
                    shown = c_raw if isinstance(c_raw, str | int) else str(c_raw)
                    if not codes:
                        unresolved_ids += 1
                    sink.reject(
                        row,
                        c_col,
                        shown,
                        Reason.UNKNOWN_CODE,
                        "attendance code id does not resolve to a code",
                    )
                    continue
                yield row, kit.mark_row(pid, day, session, code, school_id)
        if unresolved_ids:
            warnings.append(
                f"{unresolved_ids} marks carry Wonde code ids but no attendance-codes "
                "pages (or codes= mapping) were given"
            )

    @staticmethod
    def _code(raw: Any, codes: dict[str, str]) -> str | None:
        """The code letter of a mark: an included code object, a code id, or a letter.

        Returns ``""`` for a missing mark and None for an id that does not resolve.
        """
        value = kit.unwrap(raw)
        if value is None:
            return ""
        if isinstance(value, Mapping):
            letter = value.get("code")
            if isinstance(letter, str):
                return letter
            value = value.get("id")
        text = kit.text_id(value)
        if text is None:
            return ""
        if text in codes:
            return codes[text]
        if _WONDE_ID.match(text):
            return None
        return text
