"""The ``sims-xml`` adapter: SIMS-style XML attendance marks (layout inferred, configurable).

A document holds pupil records (UPN, admission number, names, date of birth, year group,
admission and leaving dates) and session marks (date, session name and/or start time, and the
mark as the school displays it). Marks sit inside their pupil element or elsewhere with a pupil
reference; a mark may also point at a separate session element by id. Element and attribute
names come from the alias table ``aliases.toml`` (data, extendable with ``aliases=``).

Local display symbols (``7``, ``=``...) are translated to statutory codes with a mapping given
as the ``symbols=`` option (TOML or CSV file, or a dict) and/or embedded in the export as
mapping elements; the option wins where both give a symbol. A mark that is neither a mapped
symbol nor shaped like a statutory code is rejected with reason ``unmapped_symbol``.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import tomllib
from collections import Counter
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar
from xml.etree.ElementTree import Element

import attrs
import pandas as pd

from attendance_core import adapterkit as kit
from attendance_core.adapters import CORE_OPTIONS, AdapterOutput, Source
from attendance_core.errors import FormatError, Reason

__all__ = ["SimsAliases", "SimsXmlAdapter", "load_symbols"]

#: Options the adapter understands besides ``errors`` (the core passes the two limits).
OPTIONS = (
    frozenset({"symbols", "aliases", "pupil_key", "school_id"}) | kit.CHUNK_OPTIONS | CORE_OPTIONS
)
#: How a pupil is keyed: ``auto`` takes the UPN when every pupil has one, else the admission
#: number when every pupil has one, else the MIS id; never a mix within one file.
PUPIL_KEYS = ("auto", "upn", "adno", "id")
#: A mark of this shape is taken as a statutory code (the core validates it against the code
#: set); anything else is a local display symbol that needs a mapping.
STATUTORY_SHAPE = re.compile(r"^(?:[A-Z][0-9]{0,2}|[/\\#-])$")
_ISO_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?)?")
_UK_DATE = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})(?:\s+(\d{1,2}):(\d{2})(?::(\d{2}))?)?$")
_TIME = re.compile(r"^(\d{1,2}):(\d{2})(?::(\d{2}))?$")
#: Years a date may fall in; anything else is taken as a typing error, not a date.
YEARS = (1900, 2199)
_HEAD_TAG = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?([A-Za-z_][\w.-]*)")


@attrs.frozen(kw_only=True)
class SimsAliases:
    """The element/attribute names of each record and field, normalised by :func:`xml_name`,
    in the alias table's order (the first alias found in a record wins, not the first child)."""

    records: Mapping[str, tuple[str, ...]]
    fields: Mapping[str, Mapping[str, tuple[str, ...]]]
    session_names: Mapping[str, str]

    @classmethod
    def from_mapping(
        cls, data: Mapping[str, Any], extra: Mapping[str, Any] | None = None
    ) -> SimsAliases:
        """Build from the TOML layout; names in ``extra`` are added to (tried before) ours."""
        extra = extra or {}
        merged = {table: kit.merge_aliases(data, extra, table) for table in set(data) | set(extra)}
        session_names = {
            " ".join(name.upper().split()): session
            for session, names in merged.get("session_names", {}).items()
            for name in names
        }
        records = {k: xml_names(v) for k, v in merged.get("records", {}).items()}
        fields = {
            table: {k: xml_names(v) for k, v in merged.get(table, {}).items()}
            for table in ("school", "pupil", "mark", "session", "mapping", "report")
        }
        for need in ("pupil", "mark"):
            if not records.get(need):
                raise FormatError(f"alias table lists no names for the {need!r} record")
        return cls(records=records, fields=fields, session_names=session_names)

    def field(self, table: str, key: str) -> tuple[str, ...]:
        """The names of ``key`` in ``table`` (empty when the table does not list it)."""
        return self.fields.get(table, {}).get(key, ())

    def record(self, key: str) -> tuple[str, ...]:
        """The element names of a record kind (empty when the table does not list it)."""
        return self.records.get(key, ())


_XML_ESCAPE = re.compile(r"_x([0-9A-Fa-f]{4})_")


def xml_name(name: str) -> str:
    """A name for matching: ``_xHHHH_`` escapes decoded (``Legal_x0020_Surname`` is
    ``Legal Surname``, as .NET writes XML names), lower-cased, spaces removed -- so element
    names and CSV-style header aliases (``Session Date``, ``SessionDate``) meet."""
    decoded = _XML_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), name)
    return "".join(decoded.lower().split())


def xml_names(values: Any) -> tuple[str, ...]:
    """Alias names normalised by :func:`xml_name`, order kept, repeats dropped."""
    out: list[str] = []
    for value in values:
        name = xml_name(str(value))
        if name not in out:
            out.append(name)
    return tuple(out)


def _tag(tag: Any) -> str:
    """An element's local name normalised by :func:`xml_name` (``""`` for comments/PIs)."""
    return xml_name(kit.local_name_as_written(tag)) if isinstance(tag, str) else ""


def _written(tag: str) -> str:
    """A local name as a person reads it: ``_xHHHH_`` decoded, case kept."""
    return _XML_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), kit.local_name_as_written(tag))


def _text(element: Element, names: tuple[str, ...]) -> tuple[str | None, str | None, Element]:
    """The value of the first of ``names`` (in alias order) that ``element`` has, as an
    attribute or the text of a direct child: (value, name as written, element holding it)."""
    if not names:
        return None, None, element
    attrs_by: dict[str, tuple[str, str]] = {}
    for key, value in element.attrib.items():
        attrs_by.setdefault(_tag(key), (value, key))
    children: dict[str, Element] = {}
    for child in element:
        children.setdefault(_tag(child.tag), child)
    for name in names:
        if name in attrs_by:
            value, key = attrs_by[name]
            return value.strip(), _written(key), element
        if name in children:
            child = children[name]
            return (child.text or "").strip(), _written(str(child.tag)), child
    return None, None, element


def _iter(root: Element, names: tuple[str, ...]) -> Iterator[Element]:
    """Every element at or below ``root`` named in ``names`` (names as :func:`_tag` gives
    them), in document order, without looking inside a match."""
    return kit.iter_named(root, names, _tag)


def _builtin_aliases() -> dict[str, Any]:
    return kit.package_toml(__package__, "aliases.toml")


def _read_aliases(option: Any) -> SimsAliases:
    return SimsAliases.from_mapping(_builtin_aliases(), kit.toml_option(option))


# --------------------------------------------------------------------------------------------
# symbol mappings


def _check_mapping(pairs: Mapping[str, Any], origin: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for symbol, target in pairs.items():
        key = str(symbol).strip().upper()
        code = str(target).strip().upper()
        if not key:
            raise FormatError("a mapping row has no symbol", file=origin, column="symbol")
        if not STATUTORY_SHAPE.match(code) or code == "-":
            raise FormatError(
                "a local symbol must map onto a statutory code",
                file=origin,
                column=key,
                value=str(target),
                reason=Reason.UNKNOWN_CODE,
            )
        out[key] = code
    return out


_CSV_SYMBOL = frozenset({"symbol", "local", "localsymbol", "display", "displaysymbol", "mark"})
_CSV_CODE = frozenset({"code", "statutory", "statutorycode", "dfe", "dfecode"})


def load_symbols(option: Any) -> dict[str, str]:
    """A local-symbol mapping from a dict, a TOML file (a ``[symbols]`` table or top-level
    ``"7" = "I"`` pairs) or a CSV file (columns ``symbol`` and ``code``, header aliases
    accepted). Symbols are upper-cased; targets must look like statutory codes."""
    if isinstance(option, Mapping):
        return _check_mapping(option, "<symbols>")
    path = Path(option)
    name = path.name
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise FormatError(
            f"cannot read the symbol mapping ({type(exc).__name__})", file=name
        ) from None
    if path.suffix.lower() == ".toml":
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise FormatError(f"not valid TOML ({exc})", file=name) from None
        table = data.get("symbols", data)
        if not isinstance(table, Mapping) or any(isinstance(v, Mapping) for v in table.values()):
            raise FormatError("expected symbol = code pairs (or a [symbols] table)", file=name)
        return _check_mapping(table, name)
    reader = csv.reader(io.StringIO(text))
    header = [h.strip().lower().replace(" ", "").replace("_", "") for h in next(reader, [])]
    sym_col = next((i for i, h in enumerate(header) if h in _CSV_SYMBOL), None)
    code_col = next((i for i, h in enumerate(header) if h in _CSV_CODE), None)
    if sym_col is None or code_col is None:
        raise FormatError("a symbol mapping CSV needs columns 'symbol' and 'code'", file=name)
    pairs: dict[str, str] = {}
    for number, row in enumerate(reader, start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) <= max(sym_col, code_col):
            raise FormatError("mapping row is short", file=name, row=number)
        pairs[row[sym_col]] = row[code_col]
    return _check_mapping(pairs, name)


# --------------------------------------------------------------------------------------------
# values


def parse_date(text: str) -> dt.date | None:
    """An ISO date (optionally with a time) or a day-first ``dd/mm/yyyy`` date, else None."""
    stamp = parse_datetime(text)
    return stamp.date() if stamp is not None else None


def parse_datetime(text: str) -> dt.datetime | None:
    """An ISO or day-first UK date-time (time defaults to midnight), else None."""
    text = text.strip()
    match = _ISO_DATE.match(text)
    if match:
        y, m, d = int(match[1]), int(match[2]), int(match[3])
    else:
        match = _UK_DATE.match(text)
        if not match:
            return None
        d, m, y = int(match[1]), int(match[2]), int(match[3])
    hh, mm, ss = (int(match[i]) if match[i] else 0 for i in (4, 5, 6))
    if not YEARS[0] <= y <= YEARS[1]:
        return None
    try:
        return dt.datetime(y, m, d, hh, mm, ss)
    except ValueError:
        return None


def parse_time(text: str) -> dt.time | None:
    """A ``HH:MM[:SS]`` time or the time of a date-time, else None."""
    text = text.strip()
    match = _TIME.match(text)
    if match:
        try:
            return dt.time(int(match[1]), int(match[2]), int(match[3] or 0))
        except ValueError:
            return None
    stamp = parse_datetime(text)
    if stamp is None or not (_ISO_DATE.match(text) and ("T" in text or " " in text)):
        return None
    return stamp.time()


# --------------------------------------------------------------------------------------------
# the adapter


@attrs.define(kw_only=True)
class _Pupil:
    line: int
    upn: str | None
    adno: str | None
    mis_id: str | None
    values: dict[str, Any]
    key_column: dict[str, str | None]


@attrs.define(kw_only=True)
class _Session:
    date: str | None
    date_column: str | None
    name: str | None
    name_column: str | None
    start: str | None
    start_column: str | None


class SimsXmlAdapter:
    """Reads SIMS-style XML attendance exports (``format="sims-xml"``).

    Options: ``symbols`` (mapping file ``.toml``/``.csv`` or dict of local symbol -> statutory
    code), ``aliases`` (extra alias table, TOML path or dict), ``pupil_key`` (``auto``,
    ``upn``, ``adno``, ``id``), ``school_id`` (when the export names no school),
    ``chunk_size`` (rows per marks chunk).
    """

    name: ClassVar[str] = "sims-xml"
    options: ClassVar[frozenset[str]] = OPTIONS
    extensions: ClassVar[tuple[str, ...]] = (".xml",)
    description: ClassVar[str] = (
        "SIMS-style XML session marks with local symbol mapping (layout inferred, aliases)"
    )

    def sniff(self, source: Source) -> bool:
        """Yes when the root element is one of the SIMS root names of the alias table."""
        head = source.head(4096)
        if not head:
            return False
        root = kit.xml_root_name(head)
        if root is None:
            return False
        aliases = SimsAliases.from_mapping(_builtin_aliases())
        if xml_name(root) in aliases.record("root"):
            return True
        if xml_name(root) not in aliases.record("report_root"):
            return False
        # a CommandReporter / Report Designer report: SuperStarReport/Record/<field>. Any report
        # has that root; an attendance one names a mark and a date among its first fields
        fields = {xml_name(m.decode("ascii", "replace")) for m in _HEAD_TAG.findall(head)}
        return bool(fields & set(aliases.field("mark", "code"))) and bool(
            fields & set(aliases.field("mark", "date"))
        )

    def read(self, source: Source, *, errors: str = "collect", **options: Any) -> AdapterOutput:
        """Parse the whole document now (XML problems raise :class:`FormatError` here) and
        return marks as a lazy iterable of chunks."""
        kit.check_read_args("sims-xml", source.name, errors, options, OPTIONS)
        key = kit.pupil_key_option(options, PUPIL_KEYS, source.name)
        aliases = _read_aliases(options.get("aliases"))
        with source.open() as fh:
            raw = fh.read()
        doc = kit.parse_xml(raw, source.name)
        return _Reader(
            doc=doc,
            file=source.name,
            aliases=aliases,
            errors=errors,
            key=key,
            symbols_option=options.get("symbols"),
            school_option=options.get("school_id"),
            chunk_size=kit.chunk_size(options),
        ).output()


class _Reader:
    """One read of one document."""

    def __init__(
        self,
        *,
        doc: kit.XmlDocument,
        file: str,
        aliases: SimsAliases,
        errors: str,
        key: str,
        symbols_option: Any,
        school_option: Any,
        chunk_size: int,
    ) -> None:
        self.doc = doc
        self.file = file
        self.report = _tag(doc.root.tag) in aliases.record("report_root")
        if self.report:
            # CommandReporter / Report Designer: each Record is one flat row, pupil and mark
            rows = aliases.record("report_record")
            aliases = attrs.evolve(
                aliases, records={**aliases.records, "pupil": rows, "mark": rows}
            )
        self.aliases = aliases
        self.errors = errors
        self.chunk_size = max(1, chunk_size)
        self.out = AdapterOutput(warnings=list(doc.notes))
        self._check_records()
        self.sink = kit.RejectedRows(file, errors, self.out.rejected)
        self.school_id = self._school(school_option)
        self.symbols = self._symbols(symbols_option)
        self.out.symbols = dict(self.symbols)
        self.pupils, self.owner = self._pupils()
        self.key = self._choose_key(key)
        self.sessions = self._sessions()
        self.out.pupils = self._pupils_frame()
        self.out.source_columns = {"pupil_id": self._key_label(), "code": "Mark"}
        self.out.marks = self._marks()

    def output(self) -> AdapterOutput:
        return self.out

    def _check_records(self) -> None:
        """No silent loss: a document with neither pupil nor mark records is not read as an
        empty register."""
        root = self.doc.root
        has_pupils = next(_iter(root, self.aliases.record("pupil")), None) is not None
        has_marks = next(_iter(root, self.aliases.record("mark")), None) is not None
        known_root = self.report or _tag(root.tag) in self.aliases.record("root")
        if not has_marks and not known_root:
            raise FormatError(
                f"no SIMS mark records under the root <{_written(str(root.tag))}>, which is not "
                "a SIMS export root: another format? (pass aliases= for a SIMS layout)",
                file=self.file,
                row=self.doc.line(root),
            )
        if not has_pupils and not has_marks:
            what = "Record" if self.report else "pupil or mark"
            raise FormatError(
                f"no SIMS {what} records under the root <{_written(str(root.tag))}>: not a SIMS "
                "attendance export, or its element names are not in the alias table (aliases=)",
                file=self.file,
                row=self.doc.line(root),
            )
        if not has_marks:
            self.out.warnings.append(
                "pupil records but no mark records (Mark / AttendanceMark / SessionMark): "
                "no marks loaded"
            )

    # -- header pieces ---------------------------------------------------------------------

    def _school(self, option: Any) -> str | None:
        if option is not None:
            return str(option)
        names = self.aliases.field("school", "school_id")
        for element in _iter(self.doc.root, self.aliases.record("school")):
            value, _, _ = _text(element, names)
            if value:
                return value
        value, _, _ = _text(self.doc.root, names)
        return value or None

    def _symbols(self, option: Any) -> dict[str, str]:
        embedded: dict[str, str] = {}
        sym_names = self.aliases.field("mapping", "symbol")
        code_names = self.aliases.field("mapping", "code")
        for element in _iter(self.doc.root, self.aliases.record("mapping")):
            symbol, _, _ = _text(element, sym_names)
            code, _, _ = _text(element, code_names)
            if symbol is None or code is None:
                raise FormatError(
                    "symbol mapping element without symbol and code",
                    file=self.file,
                    row=self.doc.line(element),
                    column=kit.local_name(element.tag),
                )
            try:
                embedded.update(_check_mapping({symbol: code}, self.file))
            except FormatError as exc:
                raise FormatError(
                    "embedded mapping: a local symbol must map onto a statutory code",
                    file=self.file,
                    row=self.doc.line(element),
                    column=symbol,
                    value=code,
                    reason=exc.reason,
                ) from None
        given = load_symbols(option) if option is not None else {}
        clashes = sorted(s for s in set(embedded) & set(given) if embedded[s] != given[s])
        if clashes:
            self.out.warnings.append(
                f"symbols option overrides the mapping embedded in the export for "
                f"{', '.join(repr(s) for s in clashes)}"
            )
        return {**embedded, **given}

    def _pupils(self) -> tuple[list[_Pupil], dict[Element, _Pupil]]:
        fields = self.aliases.fields["pupil"]
        mark_names = self.aliases.records["mark"]
        pupils: list[_Pupil] = []
        owner: dict[Element, _Pupil] = {}
        for element in _iter(self.doc.root, self.aliases.records["pupil"]):
            values: dict[str, Any] = {}
            columns: dict[str, str | None] = {}
            for fieldname, names in fields.items():
                value, column, _ = _text(element, names)
                values[fieldname] = value or None
                columns[fieldname] = column
            pupil = _Pupil(
                line=self.doc.line(element),
                upn=(values.pop("upn") or "").upper() or None,
                adno=values.pop("adno"),
                mis_id=values.pop("id"),
                values=values,
                key_column=columns,
            )
            pupils.append(pupil)
            for inner in _iter(element, mark_names):
                owner[inner] = pupil
        return pupils, owner

    def _choose_key(self, key: str) -> str:
        if key != "auto":
            return key
        if not self.pupils:
            return "upn"
        for candidate in ("upn", "adno", "id"):
            if all(getattr(p, "mis_id" if candidate == "id" else candidate) for p in self.pupils):
                if candidate != "upn":
                    self.out.warnings.append(
                        f"not every pupil has a UPN: pupils are keyed by {candidate!r} "
                        "(pass pupil_key= to choose)"
                    )
                return candidate
        self.out.warnings.append(
            "no identifier is given for every pupil: pupils are keyed by UPN and marks of "
            "pupils without one are rejected (pass pupil_key= to choose)"
        )
        return "upn"

    def _key_label(self) -> str:
        names = {"upn": "UPN", "adno": "Adno", "id": "PupilId"}
        return names[self.key]

    def _key_of(self, pupil: _Pupil) -> str | None:
        return {"upn": pupil.upn, "adno": pupil.adno, "id": pupil.mis_id}[self.key]

    def _sessions(self) -> dict[str, _Session]:
        names = self.aliases.record("session")
        f = self.aliases.fields["session"]
        sessions: dict[str, _Session] = {}
        mark_names = self.aliases.records["mark"]
        for element in _iter(self.doc.root, names):
            if element in self.owner or _tag(element.tag) in mark_names:
                continue
            ident, _, _ = _text(element, f["id"])
            if not ident:
                continue
            date, date_col, _ = _text(element, f["date"])
            name, name_col, _ = _text(element, f["name"])
            start, start_col, _ = _text(element, f["start"])
            sessions[ident] = _Session(
                date=date,
                date_column=date_col,
                name=name,
                name_column=name_col,
                start=start,
                start_column=start_col,
            )
        return sessions

    def _pupils_frame(self) -> pd.DataFrame:
        records: list[dict[str, Any]] = []
        invalid_upn: list[int] = []
        bad_dates: list[int] = []
        seen: set[str] = set()
        duplicates: list[int] = []
        for pupil in self.pupils:
            key = self._key_of(pupil)
            if key is None:
                continue
            if key in seen:
                duplicates.append(pupil.line)
                continue
            seen.add(key)
            if pupil.upn and not kit.upn_ok(pupil.upn):
                invalid_upn.append(pupil.line)
            a = pupil.values
            name = a.get("name") or " ".join(
                part for part in (a.get("forename"), a.get("surname")) if part
            )
            record: dict[str, Any] = {
                "pupil_id": key,
                "upn": pupil.upn,
                "mis_id": pupil.adno or pupil.mis_id,
                "name": name or None,
                # reports write year groups like "Year  7"
                "year_group": " ".join(a["year_group"].split()) if a.get("year_group") else None,
            }
            if self.school_id is not None:
                record["school_id"] = self.school_id
            for column in ("date_of_birth", "admission_date", "leaving_date"):
                text = a.get(column)
                value = parse_date(text) if text else None
                if text and value is None:
                    bad_dates.append(pupil.line)
                record[column] = pd.Timestamp(value) if value else pd.NaT
            records.append(record)
        kit.note_rows(
            self.out.warnings,
            invalid_upn,
            "{n} pupil(s) with an invalid UPN check letter (lines {rows}); kept as given",
        )
        kit.note_rows(
            self.out.warnings,
            bad_dates,
            "{n} pupil(s) with a date that is not a date (lines {rows}); left empty",
        )
        if duplicates and not self.report:  # a report repeats its pupil on every row
            self.out.warnings.append(
                f"{len(duplicates)} pupil element(s) repeat an earlier pupil "
                f"(lines {kit.row_list(duplicates)}); the first is kept"
            )
        columns = [
            "pupil_id",
            "upn",
            "mis_id",
            "name",
            "year_group",
            "date_of_birth",
            "admission_date",
            "leaving_date",
        ]
        if self.school_id is not None:
            columns.insert(1, "school_id")
        return kit.pupils_from_records(
            records, columns, text=("upn", "mis_id", "name", "year_group")
        )

    # -- marks -----------------------------------------------------------------------------

    def _marks(self) -> Iterator[pd.DataFrame]:
        return kit.marks_chunks(self._mark_rows(), self.chunk_size)

    def _mark_rows(self) -> Iterator[tuple[int, dict[str, Any]]]:
        unmapped: Counter[str] = Counter()
        inferred: list[int] = []
        by_ref = self._pupil_refs()
        for element in _iter(self.doc.root, self.aliases.records["mark"]):
            line = self.doc.line(element)
            try:
                row, from_time = self._mark(element, by_ref)
            except kit.RowProblem as bad:
                if bad.reason == Reason.UNMAPPED_SYMBOL:
                    unmapped[str(bad.value)] += 1
                self.sink.record(line, bad)
                continue
            if from_time:
                inferred.append(line)
            yield line, row
        if unmapped:
            shown = ", ".join(f"{s!r} x{n}" for s, n in sorted(unmapped.items()))
            self.out.warnings.append(
                f"{Reason.UNMAPPED_SYMBOL}: {sum(unmapped.values())} mark(s) use local symbols "
                f"with no mapping to a statutory code ({shown}); rejected - pass symbols=<file>"
            )
        kit.note_rows(
            self.out.warnings,
            inferred,
            "{n} mark(s) with no session name: AM/PM inferred from the start time (before "
            "12:00 = AM) at lines {rows}",
        )

    def _pupil_refs(self) -> dict[str, _Pupil]:
        refs: dict[str, _Pupil] = {}
        for pupil in self.pupils:
            for value in (pupil.upn, pupil.adno, pupil.mis_id):
                if value and value not in refs:
                    refs[value] = pupil
        return refs

    def _mark(self, element: Element, by_ref: Mapping[str, _Pupil]) -> tuple[dict[str, Any], bool]:
        f = self.aliases.fields["mark"]
        pupil = self.owner.get(element)
        if pupil is None:
            ref, ref_col, _ = _text(element, f["pupil_ref"])
            if not ref:
                raise kit.RowProblem("PupilId", None, Reason.MISSING_VALUE, "mark names no pupil")
            pupil = by_ref.get(ref.upper()) or by_ref.get(ref)
            if pupil is None:
                raise kit.RowProblem(
                    ref_col or "PupilId", ref, Reason.BAD_VALUE, "mark of an unknown pupil"
                )
        pupil_id = self._key_of(pupil)
        if pupil_id is None:
            raise kit.RowProblem(
                self._key_label(), None, Reason.MISSING_VALUE, "pupil has no identifier"
            )
        session: _Session | None = None
        ref, ref_col, _ = _text(element, f["session_ref"])
        if ref:
            session = self.sessions.get(ref)
            if session is None:
                raise kit.RowProblem(
                    ref_col or "SessionId", ref, Reason.BAD_SESSION, "unknown session id"
                )
        date_text, date_col, _ = _text(element, f["date"])
        if not date_text and session is not None:
            date_text, date_col = session.date, session.date_column
        if not date_text:
            raise kit.RowProblem(
                date_col or "SessionDate", None, Reason.MISSING_VALUE, "mark has no date"
            )
        date = kit.checked_date(kit.parse_date(date_text), date_text, date_col or "SessionDate")
        name, name_col, _ = _text(element, f["session_name"])
        if not name and session is not None:
            name, name_col = session.name, session.name_column
        start, start_col, _ = _text(element, f["start"])
        if not start and session is not None:
            start, start_col = session.start, session.start_column
        if not start and date_text:
            start = date_text if parse_time(date_text) not in (None, dt.time(0, 0)) else None
        ampm, from_time = self._session_of(name, name_col, start, start_col)
        code_text, code_col, _ = _text(element, f["code"])
        code = self._code(code_text, code_col or "Code")
        row: dict[str, Any] = {
            "pupil_id": pupil_id,
            "date": date.isoformat(),
            "session": ampm,
            "code": code,
        }
        if self.school_id is not None:
            row["school_id"] = self.school_id
        return row, from_time

    def _session_of(
        self, name: str | None, name_col: str | None, start: str | None, start_col: str | None
    ) -> tuple[str, bool]:
        if name:
            session = self.aliases.session_names.get(" ".join(name.upper().split()))
            if session is not None:
                return session, False
            if not start:
                raise kit.RowProblem(
                    name_col or "SessionName",
                    name,
                    Reason.BAD_SESSION,
                    "session name is neither AM nor PM",
                )
        if start:
            time = parse_time(start)
            if time is None:
                raise kit.RowProblem(
                    start_col or "StartTime", start, Reason.BAD_SESSION, "start time is not a time"
                )
            return ("AM" if time < dt.time(12, 0) else "PM"), True
        raise kit.RowProblem(
            "SessionName", None, Reason.MISSING_VALUE, "mark has no session name or time"
        )

    def _code(self, text: str | None, column: str) -> str:
        raw = (text or "").strip()
        normal = raw.upper()
        if not normal:
            return "-"
        if normal in self.symbols:
            return self.symbols[normal]
        if STATUTORY_SHAPE.match(normal):
            return raw
        raise kit.RowProblem(
            column, raw, Reason.UNMAPPED_SYMBOL, "local symbol with no mapping to a statutory code"
        )
