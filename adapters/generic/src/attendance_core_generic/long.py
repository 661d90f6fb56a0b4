"""Long-layout adapters: one row per pupil and session, from CSV (``generic-csv``), Parquet
(``generic-parquet``) or an .xlsx workbook (``generic-excel``).

Columns are found through the header alias table (``aliases.toml``): a pupil id (``UPN``, or
the MIS's own ``Adno``/``Pupil ID``), ``Date``, ``Session``/``AM/PM``, ``Mark``/``Code`` and
optionally ``School``/``URN``/``DfE number``; pupil attributes (name, year group, date of birth,
admission and leaving dates, cohort flags) go to the pupils table. Dates are day-first
(``02/09/2024`` = 2 September) or ISO; ambiguous forms are rejected as ``ambiguous_date``.
"""

from __future__ import annotations

import codecs
import csv
import io
import itertools
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping, Sequence
from operator import itemgetter
from typing import Any, BinaryIO, ClassVar

import attrs
import numpy as np
import numpy.typing as npt
import pandas as pd

from attendance_core import adapterkit as kit
from attendance_core.adapters import AdapterOutput, Source
from attendance_core.errors import AttendanceError, FormatError, Reason

from ._common import (
    ARROW_CHUNKSIZE,
    PARQUET_CHUNKSIZE,
    AliasTable,
    DateParser,
    Header,
    Problems,
    Pupils,
    alias_table,
    cell_text,
    clean_ids,
    csv_header,
    detect_encoding,
    find_header,
    head_text,
    is_long_header,
    max_field_length,
    max_file_size,
    prefetched,
    sniff_csv,
    sniff_text,
)
from ._excel import open_sheet, reading, sheet_note, sheet_rows, sniff_workbook
from ._fastcsv import FastBody, coded_arrow_text, fast_encoding, skip_lines

__all__ = ["LONG_OPTIONS", "GenericCsvAdapter", "GenericExcelAdapter", "GenericParquetAdapter"]

#: The ``read`` options of the long adapters (the Excel one adds ``sheet``).
LONG_OPTIONS = kit.CHUNK_OPTIONS | {"aliases", "pupil_key", "pupil_id", "code_set", "symbols"}

#: Column id used in rejected rows for problems of a whole record (wrong field count).
RECORD = "<record>"
_CORE = ("date", "session", "code")


def _choose_id(header: Header, options: Mapping[str, Any], file: str) -> str:
    wanted = kit.pupil_key_option(options, ("auto", "upn", "mis_id"), file)
    if wanted == "auto":
        found = header.id_column
        assert found is not None  # is_long_header/is_wide_header checked it
        return found
    if wanted not in header.index:
        raise FormatError(f"pupil_key={wanted!r} asked for, but there is no such column", file=file)
    return wanted


def _output(options: Mapping[str, Any]) -> AdapterOutput:
    code_set = options.get("code_set")
    return AdapterOutput(
        code_set=None if code_set is None else str(code_set),
        symbols={str(k): str(v) for k, v in dict(options.get("symbols") or {}).items()},
    )


def aliases_for(source: Source, options: Mapping[str, Any]) -> AliasTable:
    """The header aliases with the caller's ``aliases`` option; an empty source is refused."""
    table = alias_table().extended(options.get("aliases"))
    if not source.head(1):
        raise FormatError("file is empty", file=source.name)
    return table


def _begin(
    source: Source, options: Mapping[str, Any], errors: str
) -> tuple[AliasTable, AdapterOutput, Problems]:
    """The start of every long ``read``: the header aliases with the caller's ``aliases``, an
    empty source refused, the output and its collector of rejected rows."""
    table = aliases_for(source, options)
    out = _output(options)
    return table, out, Problems(file=source.name, errors=errors, rejected=out.rejected)


def unreadable(problems: Problems, line: int, error: str | None) -> None:
    """Reject a CSV record the csv module could not read (too long a field, bad quoting)."""
    reason = Reason.FIELD_TOO_LONG if "field limit" in (error or "") else None
    problems.add(line, RECORD, "", reason or Reason.BAD_RECORD, f"unreadable CSV record ({error})")


@attrs.define
class LongRows:
    """Turns column texts of the long layout into mark chunks, rejecting bad dates."""

    header: Header
    table: AliasTable
    problems: Problems
    pupils: Pupils
    id_column: str = attrs.field(kw_only=True)
    limit: int = attrs.field(kw_only=True)
    dates: DateParser = attrs.field(factory=DateParser, init=False)
    _sessions: dict[str, str] = attrs.field(factory=dict, init=False)

    @classmethod
    def of(
        cls,
        header: Header,
        table: AliasTable,
        problems: Problems,
        out: AdapterOutput,
        *,
        options: Mapping[str, Any],
        file: str,
        limit: int,
    ) -> LongRows:
        """The reader of a long header's rows: the pupil id chosen (``pupil_key``), a pupils
        collector, and the output's ``source_columns`` named from the header."""
        id_column = _choose_id(header, options, file)
        pupils = Pupils(header, table, id_column)
        out.source_columns = {
            "pupil_id": header.names[id_column],
            **{c: header.names[c] for c in (*_CORE, "school_id") if c in header.names},
        }
        return cls(header, table, problems, pupils, id_column=id_column, limit=limit)

    @property
    def has_school(self) -> bool:
        return "school_id" in self.header.index

    @property
    def wanted(self) -> tuple[str, ...]:
        """The columns every mark row needs: the id, date, session, code (and school)."""
        return (self.id_column, *_CORE, *(["school_id"] if self.has_school else []))

    @property
    def attr_columns(self) -> tuple[str, ...]:
        return tuple(self.pupils.columns)

    def needed(self) -> tuple[str, ...]:
        """Column ids this reader uses."""
        return tuple(dict.fromkeys((*self.wanted, *self.attr_columns)))

    def _session(self, raw: str) -> str:
        found = self._sessions.get(raw)
        if found is None:
            found = self.table.session(raw) or raw.strip()
            if len(self._sessions) < 10_000:
                self._sessions[raw] = found
        return found

    def chunk(
        self, lines: Sequence[int] | npt.NDArray[np.int64], columns: Mapping[str, Coded]
    ) -> pd.DataFrame:
        """The marks chunk for rows ``lines`` whose columns are ``columns`` (see :func:`coded`).

        Work is done per distinct value (dates, ids and sessions repeat a lot) and mapped back
        to the rows through the codes; row by row only for the rows that are rejected.
        """
        names = self.header.names
        limit = self.limit
        rows = np.asarray(lines, dtype=np.int64)
        dropped = np.zeros(len(rows), dtype=bool)
        for column in self.needed():
            codes, uniques = columns[column]
            over = _flags(len(value) > limit for value in uniques)
            if not over.any():
                continue
            over_rows = over[codes]
            for i in np.flatnonzero(over_rows & ~dropped):
                self.problems.add(
                    int(rows[i]),
                    names[column],
                    uniques[codes[i]],
                    Reason.FIELD_TOO_LONG,
                    f"field longer than {limit} characters (raise max_field_length to accept it)",
                    show=False,
                )
            dropped |= over_rows
        date_codes, date_texts = columns["date"]
        parsed = [self.dates.parse(value) for value in date_texts]
        bad = _flags(why is not None for _, why in parsed)
        if bad.any():
            bad_rows = bad[date_codes]
            for i in np.flatnonzero(bad_rows & ~dropped):
                value = date_texts[date_codes[i]]
                why = parsed[date_codes[i]][1]
                assert why is not None
                self.problems.add(int(rows[i]), names["date"], value, why)
            dropped |= bad_rows
        self.problems.flush()
        keep = ~dropped if dropped.any() else None
        if keep is not None:
            rows = rows[keep]

        id_column = self.id_column
        # each distinct id cleaned once, for the marks and for the pupils table
        ids_of = clean_ids(columns[id_column][1], id_column)

        def mapped(column: str, convert: Callable[[str], str] | None = None) -> Any:
            codes, uniques = columns[column]
            texts = uniques if convert is None else [convert(v) for v in uniques]
            return _take(ids_of if column == id_column else texts, codes[keep_or_all])

        keep_or_all = slice(None) if keep is None else keep
        data: dict[str, Any] = {
            "pupil_id": mapped(id_column),
            "date": _take(
                [iso or "" for iso, _ in parsed],
                date_codes[keep] if keep is not None else date_codes,
            ),
            "session": mapped("session", self._session),
            "code": mapped("code"),
        }
        if self.has_school:
            data["school_id"] = mapped("school_id", str.strip)
        if self.attr_columns:
            used = list(
                dict.fromkeys(
                    [id_column, *(["school_id"] if self.has_school else []), *self.attr_columns]
                )
            )
            picked = {c: columns[c][0] if keep is None else columns[c][0][keep] for c in used}
            # the pupils table takes each distinct row once, in order of first appearance: hand
            # it only the first row of each distinct combination of texts (not every mark)
            first = _first_rows([picked[c] for c in used], [len(columns[c][1]) for c in used])

            def texts(column: str, convert: Callable[[str], str] | None = None) -> list[str]:
                uniques = columns[column][1]
                values = uniques if convert is None else [convert(v) for v in uniques]
                table = np.asarray(ids_of if column == id_column else values, dtype=object)
                return list(table[picked[column][first]])

            ids = texts(id_column)
            self.pupils.add_rows(
                rows[first].tolist(),
                texts("school_id", str.strip) if self.has_school else [""] * len(ids),
                ids,
                [texts(c) for c in self.attr_columns],
                check_upns=False,
            )
            if "upn" in self.attr_columns:
                self.pupils.check_upns(rows, picked["upn"], columns["upn"][1])
        return pd.DataFrame(data, index=pd.Index(rows, dtype="int64"))


#: A column of texts as (codes, distinct texts): row ``i`` holds ``uniques[codes[i]]``.
#: The codes are of any signed integer type: Arrow's int32 indices are used as they come.
Coded = tuple["npt.NDArray[np.signedinteger[Any]]", list[str]]


def _first_rows(
    codes: list[npt.NDArray[np.signedinteger[Any]]], sizes: list[int]
) -> npt.NDArray[np.intp]:
    """Positions of the first row of each distinct combination of ``codes``, in row order."""
    n = len(codes[0]) if codes else 0
    radix = 1
    for size in sizes:
        if radix * max(size, 1) >= 1 << 62:  # too many combinations for one int64 key
            return np.arange(n, dtype=np.intp)
        radix *= max(size, 1)
    if not n:
        return np.zeros(0, dtype=np.intp)
    # rows come in runs of one pupil: only the first row of each run can be a first row, and a
    # run starts where any column's code changes (compared as they are, not as one wide key)
    differ = np.zeros(n - 1, dtype=bool)
    for column in codes:
        differ |= column[1:] != column[:-1]
    starts = np.concatenate([[0], np.flatnonzero(differ) + 1]).astype(np.intp)
    key = np.zeros(len(starts), dtype=np.int64)
    radix = 1
    for column, size in zip(codes, sizes, strict=True):
        key += column[starts].astype(np.int64) * radix
        radix *= max(size, 1)
    # numbered in order of first appearance, a key is new where the running maximum grows
    numbered = pd.factorize(key)[0]
    peak = np.maximum.accumulate(numbered)
    new = np.ones(len(starts), dtype=bool)
    new[1:] = peak[1:] > peak[:-1]
    return starts[new]


def coded(values: Sequence[str]) -> Coded:
    """Factorise a column of texts so that per-value work is done once per distinct text."""
    codes, uniques = pd.factorize(np.asarray(values, dtype=object))
    return codes.astype(np.intp, copy=False), [str(v) for v in uniques]


def _take(texts: list[str], codes: npt.NDArray[np.intp]) -> Any:
    """The texts of ``codes`` as a categorical column, each distinct text one category.

    The core reads a categorical through its codes and categories, so no text is made or
    hashed per row between the reader and the register.
    """
    if not len(codes):
        return []  # an empty list, as before: object dtype
    place: dict[str, int] = {}
    renumber = np.fromiter(
        (place.setdefault(t, len(place)) for t in texts), dtype=np.intp, count=len(texts)
    )
    return pd.Categorical.from_codes(
        renumber[codes] if len(place) < len(texts) else codes,
        categories=pd.Index(list(place), dtype="str"),
        validate=False,
    )


def _flags(values: Iterable[bool]) -> npt.NDArray[np.bool_]:
    return np.fromiter(values, dtype=bool)


class GenericCsvAdapter:
    """Long CSV exports (SIMS/Bromcom/Arbor reports): one row per pupil and session.

    Options: ``chunksize`` (rows per chunk; default 50 000 read by the csv module, 1 000 000
    from the blocks pyarrow reads), ``aliases`` (extra
    ``{column id: header}`` entries), ``pupil_id`` (``"upn"`` or ``"mis_id"`` to choose the key;
    default the UPN when there is a UPN column), ``code_set``, ``symbols`` (local display symbol
    → statutory code), ``max_field_length``. Source rows are 1-based line numbers (the line a
    record starts on); blank lines are skipped, title lines above the header are allowed.
    """

    name: ClassVar[str] = "generic-csv"
    options: ClassVar[frozenset[str]] = LONG_OPTIONS
    extensions: ClassVar[tuple[str, ...]] = (".csv", ".txt", ".tsv")
    description: ClassVar[str] = (
        "long CSV export: pupil id (UPN/Adno), date, session (AM/PM) and mark per row"
    )

    def sniff(self, source: Source) -> bool:
        """A text file with a long-layout header in its first lines."""
        return sniff_text(source, is_long_header)

    def read(self, source: Source, *, errors: str = "collect", **options: Any) -> AdapterOutput:
        """Read the file (see the class docstring for options)."""
        table, out, problems = _begin(source, options, errors)
        size = kit.chunk_size(options)
        arrow_size = kit.chunk_size(options, ARROW_CHUNKSIZE)
        limit = max_field_length(options)
        found = sniff_csv(head_text(source), table, is_long_header)
        if found is None:
            raise FormatError(
                "no header row with a pupil id (UPN/Adno), date, session and mark column in "
                "the first lines",
                file=source.name,
            )
        delimiter = found[0]
        encoding, decode_errors, note = detect_encoding(source)
        if note:
            out.warnings.append(note)
        body = CsvBody(source, encoding, delimiter, decode_errors)
        records = body.records()
        header, skipped = csv_header(records, table, is_long_header, file=source.name)
        if skipped:
            out.warnings.append(f"{skipped} lines above the header skipped")
        out.warnings.extend(header.notes())
        rows = LongRows.of(
            header, table, problems, out, options=options, file=source.name, limit=limit
        )
        pupils = rows.pupils

        reading = _CsvMarks(rows, problems, size=size, arrow_size=arrow_size)
        header_body = body

        def marks() -> Iterator[pd.DataFrame]:
            body: CsvBody | None = header_body
            fast = _fast_body(
                source,
                header_body,
                reading,
                encoding=encoding,
                errors=decode_errors,
                delimiter=delimiter,
            )
            if fast is not None:
                header_body.close()
                yield from reading.proven(fast)
                if fast.rest is None:
                    body = None
                else:  # the existing reader from the first block not proven, to the end
                    line, stream = fast.rest
                    body = CsvBody.resume(stream, encoding, delimiter, decode_errors, line)
            if body is not None:
                yield from reading.by_csv_module(body)
            yield from reading.last()
            problems.flush()
            if reading.padded:
                out.warnings.append(
                    f"{reading.padded} records had fewer fields than the header (padded)"
                )
            pupils.finish(out, rows.dates)

        out.marks = marks()
        return out


class _CsvMarks:
    """The marks chunks of a long CSV's records after its header: blocks proven one record a
    line through pyarrow (:meth:`proven`), the rest through the csv module (:meth:`by_csv_module`,
    record by record where it must), the rows left over at the end (:meth:`last`)."""

    def __init__(self, rows: LongRows, problems: Problems, *, size: int, arrow_size: int) -> None:
        header = rows.header
        self.rows = rows
        self.problems = problems
        self.size = size
        self.arrow_size = arrow_size
        self.needed = rows.needed()
        self.places = [header.index[c] for c in self.needed]
        self.width = len(header.cells)
        self.core_end = max(header.index[c] for c in (rows.id_column, *_CORE)) + 1
        self.first = header.index[rows.id_column]
        self.lines: list[int] = []
        self.columns: list[list[str]] = [[] for _ in self.needed]
        self.padded = 0

    def proven(self, fast: FastBody) -> Iterator[pd.DataFrame]:
        """Chunks of the proven blocks; the next block is parsed on a worker thread meanwhile."""
        blocks = prefetched(fast.blocks())
        try:
            for proven in blocks:
                for at in range(0, len(proven.lines), self.arrow_size):
                    yield self.rows.chunk(
                        proven.lines[at : at + self.arrow_size],
                        {
                            c: coded_arrow_text(a.slice(at, self.arrow_size))
                            for c, a in zip(self.needed, proven.columns, strict=True)
                        },
                    )
        finally:
            blocks.close()

    def by_csv_module(self, body: CsvBody) -> Iterator[pd.DataFrame]:
        """Chunks of exactly ``size`` accepted rows of what ``body`` reads, then closes it."""
        width, first = self.width, self.first
        try:
            for base, flat, block, fields, error in body.blocks(self.size, width):
                if flat is not None and all(flat[first::width]):
                    # one record a line, all of the header's width: taken column-wise
                    self.lines.extend(range(base, base + len(flat) // width))
                    for column, place in zip(self.columns, self.places, strict=True):
                        column.extend(flat[place::width])
                elif flat is not None or block is not None:
                    if flat is not None:
                        step = range(0, len(flat), width)
                        block = [flat[i : i + width] for i in step]  # noqa: PLW2901
                    for i, cells in enumerate(block or []):
                        self.record(base + i, cells, None)
                        yield from self.full()
                else:
                    self.record(base, fields, error)
                yield from self.full()
        finally:
            body.close()

    def record(self, line: int, fields: list[str] | None, error: str | None) -> None:
        """Take one record read by the csv module (or reject it)."""
        width = self.width
        if fields is None:
            unreadable(self.problems, line, error)
            return
        if len(fields) != width or not fields[self.first]:
            if not fields or not "".join(fields).strip():
                return  # a blank line is not a row
            if len(fields) > width and not "".join(fields[width:]).strip():
                fields = fields[:width]
            elif self.core_end <= len(fields) < width:
                fields = fields + [""] * (width - len(fields))
                self.padded += 1
            elif len(fields) != width:
                self.problems.add(
                    line,
                    RECORD,
                    f"{len(fields)} fields",
                    Reason.BAD_RECORD,
                    f"record has {len(fields)} fields, the header has {width}",
                )
                return
        self.lines.append(line)
        for column, place in zip(self.columns, self.places, strict=True):
            column.append(fields[place])

    def full(self) -> Iterator[pd.DataFrame]:
        """Chunks of exactly ``size`` taken rows, cut where the row-by-row reader cut them."""
        size = self.size
        while len(self.lines) >= size:
            yield self.rows.chunk(
                self.lines[:size],
                {c: coded(v[:size]) for c, v in zip(self.needed, self.columns, strict=True)},
            )
            self.lines = self.lines[size:]
            self.columns = [v[size:] for v in self.columns]

    def last(self) -> Iterator[pd.DataFrame]:
        """The chunk of the rows taken and not yet given, if any."""
        if self.lines:
            yield self.rows.chunk(
                self.lines, {c: coded(v) for c, v in zip(self.needed, self.columns, strict=True)}
            )


def _fast_body(
    source: Source,
    body: CsvBody,
    reading: _CsvMarks,
    *,
    encoding: str,
    errors: str,
    delimiter: str,
) -> FastBody | None:
    """The fast reader for the records after the header (see :mod:`._fastcsv`) of the
    columns ``reading`` reads, or None when the file's encoding or delimiter keeps it from
    the fast path."""
    codec = fast_encoding(encoding, errors)
    if codec is None or len(delimiter.encode(codec)) != 1:
        return None
    first_line = body.body_line
    fh = source.open()
    bom = codecs.BOM_UTF8 if encoding == "utf-8-sig" else b""
    skipped = skip_lines(fh, first_line - 1, bom)
    if skipped is None:
        fh.close()
        return None
    return FastBody(
        fh,
        skipped[0],
        first_line=first_line,
        codec=codec,
        delimiter=delimiter,
        width=reading.width,
        places=reading.places,
        id_place=reading.first,
    )


def _regular(block: list[list[str]], width: int, first: int) -> bool:
    """Every record of ``block`` has the header's width and a pupil id."""
    return all(len(fields) == width for fields in block) and all(fields[first] for fields in block)


class CsvBody:
    """A CSV file's records with the 1-based line each starts on, read fast where possible.

    :meth:`records` yields ``(line, fields, error)`` one record at a time (for the header
    search). :meth:`blocks` then reads the rest in blocks of physical lines parsed by the csv
    module in one go: a block where every record is exactly one line (so line numbers simply
    count up) comes as ``(first line, records, None, None)``; from the first block where that
    does not hold (a quoted line break, an unreadable record) to the end of the file, records
    come one at a time as ``(line, None, fields, error)``, exactly as :meth:`records` reads
    them.
    """

    def __init__(
        self,
        source: Source | None,
        encoding: str,
        delimiter: str,
        errors: str,
        *,
        raw: BinaryIO | None = None,
        first_line: int = 1,
    ) -> None:
        if raw is None:
            assert source is not None
            raw = source.open()
        self._raw = raw
        self._stream = io.TextIOWrapper(self._raw, encoding=encoding, errors=errors, newline="")
        self._delimiter = delimiter
        self._reader = csv.reader(self._stream, delimiter=delimiter)
        self._offset = first_line - 1  # lines of the file before the stream's first byte
        self._start = first_line

    @classmethod
    def resume(
        cls, raw: BinaryIO, encoding: str, delimiter: str, errors: str, first_line: int
    ) -> CsvBody:
        """A body over ``raw``, a stream that starts at the first byte of line ``first_line``
        of the file, whose records :meth:`blocks` gives with the file's line numbers."""
        return cls(None, encoding, delimiter, errors, raw=raw, first_line=first_line)

    @property
    def body_line(self) -> int:
        """The line the next record starts on, after what :meth:`records` gave."""
        return self._offset + self._reader.line_num + 1

    def close(self) -> None:
        """Close the file."""
        self._stream.close()

    def records(self) -> Iterator[tuple[int, list[str] | None, str | None]]:
        """``(line, fields, error)`` for each record (as :func:`~._common.csv_records`)."""
        yield from self._one_by_one(self._reader, 0)

    def _one_by_one(
        self, reader: Any, offset: int
    ) -> Iterator[tuple[int, list[str] | None, str | None]]:
        while True:
            try:
                for fields in reader:
                    yield self._start, fields, None
                    self._start = offset + reader.line_num + 1
            except csv.Error as exc:
                yield self._start, None, str(exc)
                self._start = offset + reader.line_num + 1
            else:
                return

    def blocks(self, size: int, width: int) -> Iterator[Block]:
        """The records after those :meth:`records` gave (see the class docstring)."""
        base = self.body_line
        self._start = base
        delimiter = self._delimiter
        while True:
            text = list(itertools.islice(self._stream, size))
            if not text:
                return
            # the csv module's row lists are not kept (the cyclic GC would rescan them): each
            # row's fields go onto one flat list and its field count onto another, all in C
            flat: list[str] = []
            try:
                rows, again = itertools.tee(csv.reader(text, delimiter=delimiter))
                pairs = zip(map(len, rows), map(flat.extend, again), strict=True)
                counts = list(map(itemgetter(0), pairs))
            except csv.Error:
                counts = []
            if len(counts) == len(text):
                if set(counts) == {width}:
                    if _closed(flat[-width:]):
                        yield base, flat, None, None, None
                        base += len(text)
                        continue
                else:
                    block = list(csv.reader(text, delimiter=delimiter))
                    if _closed(block[-1]):
                        yield base, None, block, None, None
                        base += len(text)
                        continue
            # from here on record by record, the way the csv module reads a whole file
            self._start = base
            reader = csv.reader(itertools.chain(text, self._stream), delimiter=delimiter)
            for line, fields, error in self._one_by_one(reader, base - 1):
                yield line, None, None, fields, error
            return


#: What :meth:`CsvBody.blocks` yields: ``(first line, fields of a block of records of the
#: header's width one after another, or None; records of a block of other widths, or None;
#: fields of one record, or None; error of an unreadable record, or None)``.
Block = tuple[int, list[str] | None, list[list[str]] | None, list[str] | None, str | None]


def _closed(fields: list[str]) -> bool:
    """The last record of a block holds no line break (it does not run on into the next)."""
    return not any("\n" in f or "\r" in f for f in fields)


class GenericParquetAdapter:
    """Parquet files with the columns of the long layout (same header aliases as CSV).

    Read batch by batch with ``ParquetFile.iter_batches`` (``chunksize`` rows, default
    200 000), text columns as dictionary arrays (a few bytes a row), so memory is bounded by
    two batches (the next is read ahead on a worker thread) plus about 3 bytes a kept row and
    the capped rejected rows, however many rows a small file decodes to. Date columns may be
    typed (date/timestamp) or text. Source rows are 1-based record numbers.
    """

    name: ClassVar[str] = "generic-parquet"
    options: ClassVar[frozenset[str]] = LONG_OPTIONS
    extensions: ClassVar[tuple[str, ...]] = (".parquet", ".pq")
    description: ClassVar[str] = "Parquet file with the long-layout columns"

    def sniff(self, source: Source) -> bool:
        """Parquet magic ``PAR1`` at the start."""
        return source.is_bytes and source.head(4) == b"PAR1"

    def read(self, source: Source, *, errors: str = "collect", **options: Any) -> AdapterOutput:
        """Read the file (options as for ``generic-csv``)."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        table, out, problems = _begin(source, options, errors)
        size = kit.chunk_size(options, PARQUET_CHUNKSIZE)
        limit = max_field_length(options)
        fh = source.open()
        try:
            names = list(pq.ParquetFile(fh).schema_arrow.names)
            fh.seek(0)
        except (pa.ArrowException, OSError, ValueError, IndexError, TypeError) as exc:
            fh.close()
            raise FormatError(
                f"not a readable Parquet file ({type(exc).__name__})", file=source.name
            ) from exc
        header = find_header([names], table, is_long_header, file=source.name)
        if header is None:
            fh.close()
            raise FormatError(
                "no pupil id (UPN/Adno), date, session and mark columns", file=source.name
            )
        hdr = header[1]
        out.warnings.extend(hdr.notes())
        rows = LongRows.of(
            hdr, table, problems, out, options=options, file=source.name, limit=limit
        )
        pupils = rows.pupils
        needed = rows.needed()
        wanted_names = [names[hdr.index[c]] for c in needed]

        def marks() -> Iterator[pd.DataFrame]:
            start = 1
            batches: Generator[Any, None, None] | None = None
            try:
                # text columns come dictionary-encoded, as Parquet stores them: decoded once
                # per distinct value, never per row
                parquet = _dictionary_file(fh, wanted_names)
                # the next batch decoded on another core while this one is turned into marks
                batches = prefetched(parquet.iter_batches(batch_size=size, columns=wanted_names))
                pool = pa.default_memory_pool()
                for batch in batches:
                    # Arrow's allocator (mimalloc) keeps the pages of decoded batches for reuse
                    # unless told otherwise: handing them back each batch lowers the peak of a
                    # 10,000-pupil file by about a fifth (260 to 205 MiB) at no measured cost
                    pool.release_unused()
                    n = batch.num_rows
                    lines = np.arange(start, start + n, dtype=np.int64)
                    start += n
                    not_text = np.zeros(n, dtype=bool)
                    arrays = []
                    for i, name in enumerate(wanted_names):
                        array, bad = _valid_text(batch.column(i))
                        arrays.append(array)
                        if bad is not None:  # one bad value rejects its row, not the file
                            for line in lines[bad & ~not_text]:
                                problems.add(
                                    int(line),
                                    name,
                                    None,
                                    Reason.BAD_VALUE,
                                    "text that is not valid UTF-8",
                                )
                            not_text |= bad
                    columns = {c: _coded_arrow(arrays[i]) for i, c in enumerate(needed)}
                    blank = np.ones(n, dtype=bool)
                    for codes, uniques in columns.values():
                        empty = _flags(not v.strip() for v in uniques)
                        if not empty.any():  # a column without a blank: no row is all blank
                            blank = np.zeros(n, dtype=bool)
                            break
                        blank &= empty[codes]
                    blank |= not_text  # rejected above as bad_value
                    if blank.any():
                        keep = ~blank
                        lines = lines[keep]
                        columns = {c: (codes[keep], u) for c, (codes, u) in columns.items()}
                    yield rows.chunk(lines, columns)
            except AttendanceError:
                raise
            except (pa.ArrowException, OSError, ValueError, IndexError, TypeError) as exc:
                raise FormatError(
                    f"Parquet data cannot be read ({type(exc).__name__})",
                    file=source.name,
                    row=start,
                ) from exc
            finally:
                if batches is not None:  # the batch being read is waited for first
                    batches.close()
                fh.close()
            pupils.finish(out, rows.dates)

        out.marks = marks()
        return out


class GenericExcelAdapter:
    """Long-layout .xlsx workbooks (same header aliases as ``generic-csv``), via openpyxl.

    Read in read-only mode, row by row, so memory is bounded by one chunk. Options: ``sheet``
    (name or 0-based index; default the first sheet with a long header) plus those of
    ``generic-csv``. Source rows are the sheet's 1-based row numbers; date cells may be real
    Excel dates or day-first text.
    """

    name: ClassVar[str] = "generic-excel"
    options: ClassVar[frozenset[str]] = LONG_OPTIONS | {"sheet"}
    extensions: ClassVar[tuple[str, ...]] = (".xlsx", ".xlsm")
    description: ClassVar[str] = "long Excel workbook: pupil id, date, session and mark per row"

    def sniff(self, source: Source) -> bool:
        """A zip file holding an .xlsx workbook with a long header on a sheet."""
        return sniff_workbook(source, is_long_header, wide=False)

    def read(self, source: Source, *, errors: str = "collect", **options: Any) -> AdapterOutput:
        """Read the workbook (see the class docstring for options)."""
        table, out, problems = _begin(source, options, errors)
        size = kit.chunk_size(options)
        workbook, sheet, header, header_row = open_sheet(
            source,
            table,
            options.get("sheet"),
            is_long_header,
            wide=False,
            keep=max_field_length(options) + 1,
            max_file_size=max_file_size(options),
        )
        out.warnings.extend(header.notes())
        note = sheet_note(workbook, sheet)
        if note is not None:
            out.warnings.append(note)
        rows = LongRows.of(
            header,
            table,
            problems,
            out,
            options=options,
            file=source.name,
            limit=max_field_length(options),
        )
        pupils = rows.pupils
        needed = rows.needed()
        places = [header.index[c] for c in needed]
        width = len(header.cells)

        def marks() -> Iterator[pd.DataFrame]:
            lines: list[int] = []
            columns: list[list[str]] = [[] for _ in needed]

            def disorder(number: int, values: Sequence[object]) -> None:
                problems.add(
                    number,
                    RECORD,
                    f"row {number}",
                    Reason.BAD_RECORD,
                    f"sheet row number {number} repeats or goes back (<row r> out of order)",
                )

            passed = False  # the header is behind: every row that follows is data
            limit = max_field_length(options)
            with reading(workbook, source.name):
                for number, values in sheet_rows(sheet, disorder=disorder, keep=limit + 1):
                    if not passed:
                        passed = number >= header_row
                        if number <= header_row:
                            continue
                    texts = [cell_text(v) for v in values]
                    if not "".join(texts).strip():
                        continue  # an empty row is not a row
                    if len(texts) > width and "".join(texts[width:]).strip():
                        problems.add(
                            number,
                            RECORD,
                            f"{len(texts)} cells",
                            Reason.BAD_RECORD,
                            f"row has {len(texts)} cells, the header has {width}",
                        )
                        continue
                    if len(texts) < width:
                        texts += [""] * (width - len(texts))
                    lines.append(number)
                    for column, place in zip(columns, places, strict=True):
                        column.append(texts[place])
                    if len(lines) >= size:
                        yield rows.chunk(
                            lines, {c: coded(v) for c, v in zip(needed, columns, strict=True)}
                        )
                        lines = []
                        columns = [[] for _ in needed]
                if lines:
                    yield rows.chunk(
                        lines, {c: coded(v) for c, v in zip(needed, columns, strict=True)}
                    )
                problems.flush()
            pupils.finish(out, rows.dates)

        out.marks = marks()
        return out


def _valid_text(array: Any) -> tuple[Any, npt.NDArray[np.bool_] | None]:
    """``(array, None)`` when the column holds valid data, else for a text column whose bytes
    are not all UTF-8: the column with those cells emptied, and which cells they were."""
    import pyarrow as pa
    import pyarrow.compute as pc

    try:
        if pa.types.is_dictionary(array.type) and _indices_in_range(array):
            # the text is in the dictionary: a full check of the rows would re-read every
            # index, which the range check above has done in one pass
            array.validate()
            array.dictionary.validate(full=True)
        else:
            array.validate(full=True)
        return array, None
    except pa.ArrowInvalid:
        pass
    if pa.types.is_dictionary(array.type):
        array = array.dictionary_decode()
    if pa.types.is_string(array.type):
        binary = pa.binary()
    elif pa.types.is_large_string(array.type):
        binary = pa.large_binary()
    else:
        return array, None  # not a text problem: reading it raises as before
    raw = array.view(binary)
    bad = np.fromiter(
        (v is not None and not _is_utf8(v) for v in raw.to_pylist()), dtype=bool, count=len(raw)
    )
    cleaned = pc.if_else(pa.array(bad), pa.scalar(None, binary), raw).cast(array.type)
    return cleaned, bad


def _indices_in_range(array: Any) -> bool:
    """Whether every index of a dictionary array points into its dictionary (a null counts)."""
    import pyarrow.compute as pc

    if not len(array) or array.indices.null_count == len(array):
        return True
    low, high = pc.min_max(array.indices).values()
    return bool(low.as_py() >= 0 and high.as_py() < len(array.dictionary))


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _dictionary_file(fh: BinaryIO, columns: Sequence[str]) -> Any:
    """The Parquet file with its text (and binary) ``columns`` read as dictionary arrays."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pq.ParquetFile(fh).schema_arrow
    fh.seek(0)
    textual = (pa.types.is_string, pa.types.is_large_string, pa.types.is_binary)
    wanted = set(columns)
    text = [f.name for f in schema if f.name in wanted and any(t(f.type) for t in textual)]
    return pq.ParquetFile(fh, read_dictionary=text or None)


def _cells(array: Any) -> list[Any]:
    """The Python values of an Arrow column; one out-of-range value spoils only its own row.

    A date beyond what Python's ``datetime`` holds (year 10000 and later) makes the bulk
    conversion raise; the value then comes through as its raw text, which the core rejects as
    ``bad_date`` on that row, instead of the whole file failing.
    """
    try:
        return list(array.to_pylist())
    except (OverflowError, ValueError):
        values: list[Any] = []
        for scalar in array:
            try:
                values.append(scalar.as_py())
            except (OverflowError, ValueError):
                values.append(f"out of range: {scalar.value}")
        return values


def _coded_arrow(array: Any) -> Coded:
    """An Arrow column as texts (:func:`~._common.cell_text`), converted once per distinct value.

    The column is dictionary-encoded by Arrow; a type Arrow cannot encode is converted cell by
    cell. Nulls become ``""``.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_date32(array.type) and len(array) and not array.null_count:
        days = _coded_days(array)
        if days is not None:
            return days
    try:
        encoded = array if pa.types.is_dictionary(array.type) else pc.dictionary_encode(array)
    except pa.ArrowException:
        return coded([cell_text(v) for v in _cells(array)])
    dictionary = encoded.dictionary
    texts = [cell_text(v) for v in _cells(dictionary)]
    indices = encoded.indices
    if indices.null_count:
        texts.append("")  # the null entry
        indices = pc.fill_null(indices, len(dictionary))
    # Arrow's int32 indices as they are: widening them would be one more pass a column
    return indices.to_numpy(zero_copy_only=False), texts


def _coded_days(array: Any) -> Coded | None:
    """A date32 column without nulls as codes into its distinct days (ISO texts, in date
    order), through a table over the days it spans (a school year: a few hundred) instead of
    hashing every row; None when it spans too many days for a table."""
    import pyarrow as pa

    days = array.view(pa.int32()).to_numpy(zero_copy_only=False)
    low, high = int(days.min()), int(days.max())
    if high - low >= 1 << 16:
        return None
    offsets = days - np.int32(low)
    present = np.bincount(offsets, minlength=high - low + 1) > 0
    used = np.flatnonzero(present)
    rank = np.zeros(len(present), dtype=np.int32)
    rank[used] = np.arange(len(used), dtype=np.int32)
    dates = pa.array((used + low).astype(np.int32), type=pa.int32()).view(pa.date32())
    return rank[offsets], [cell_text(v) for v in _cells(dates)]
