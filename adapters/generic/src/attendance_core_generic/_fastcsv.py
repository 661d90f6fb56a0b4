"""The fast CSV path: blocks of a file proven to hold one record per line, parsed by pyarrow.

The stdlib ``csv`` module reads a file on one core, a record at a time, and gives exact line
numbers for free. pyarrow's CSV parser reads many times faster on every core, but it does not
know physical lines: a quoted line break makes one record span two lines, a blank line is
skipped. So a block of bytes goes to pyarrow only when it is *proved* to hold exactly one record
per line, with every record readable the way the csv module reads it:

- an even number of quote characters (a quote left open would run to the end of the file),
- no lone ``\\r`` (every line ends in ``\\n`` or ``\\r\\n``, as pyarrow and Python both split),
- no blank line and no NUL byte,
- no line longer than the csv module's field limit (so no ``field larger than field limit``),
- after parsing: as many records as lines, every one with the header's field count (pyarrow
  refuses any other count) and a pupil id (a record without one may be a blank line of
  delimiters, which the reader skips).

Every record ends at a line break outside quotes (or at the end of the file), so as many records
as lines means no record holds a line break: each record is one line. pyarrow's quoting rules
are the csv module's (a quote opens a field only at its start, ``""`` inside quotes is a quote,
text after a closing quote is kept); ``tests`` compare the two readers on such fields. Then
record ``i`` of the block starts on the block's first line plus ``i``. From the first block
where any of this fails, to the end of the file, the existing reader (:class:`~.long.CsvBody`)
takes over from that block's first byte, so rejected rows, line numbers and values are exactly
what it gives. Only encodings whose line breaks are single bytes and whose whole file decoded
strictly (UTF-8, cp1252, Latin-1) take the fast path; UTF-16 and files with replaced bytes do
not.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator, Sequence
from typing import Any, BinaryIO

import attrs
import numpy as np
import numpy.typing as npt

#: Bytes read per block (about 200,000 lines of a typical long export): big enough that
#: pyarrow spreads each block over the cores, small enough that memory stays bounded.
BLOCK_BYTES = 1 << 23

#: The encodings :func:`~._common.detect_encoding` names that the fast path reads (their line
#: breaks and delimiters are single bytes), and the codec a block is decoded with.
_FAST_ENCODINGS = {"utf-8": "utf-8", "utf-8-sig": "utf-8", "cp1252": "cp1252", "latin-1": "latin-1"}
_LINE_END = re.compile(rb"\r\n|\r|\n")


def fast_encoding(encoding: str, errors: str) -> str | None:
    """The codec the fast path reads ``encoding`` with, or None when it cannot."""
    return _FAST_ENCODINGS.get(encoding) if errors == "strict" else None


class Rest(io.RawIOBase):
    """Bytes already read, then the rest of a file: where the existing reader takes over."""

    def __init__(self, head: bytes, tail: BinaryIO) -> None:
        self._head = memoryview(head)
        self._tail = tail

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        if len(self._head):
            n = min(len(view), len(self._head))
            view[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        data = self._tail.read(len(view))
        view[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self._tail.close()
        super().close()


class FastBlock:
    """One proven block: ``lines`` (1-based, one per record) and the needed columns as Arrow
    string arrays, in the order asked for."""

    __slots__ = ("columns", "lines")

    def __init__(self, lines: npt.NDArray[np.int64], columns: list[Any]) -> None:
        self.lines = lines
        self.columns = columns


def skip_lines(fh: BinaryIO, count: int, bom: bytes) -> tuple[bytes, int] | None:
    """Read past the BOM and ``count`` physical lines; the bytes read beyond them and their
    count. None when the lines above the body cannot be found (the file ends first)."""
    data = fh.read(max(1 << 16, len(bom)))
    if bom and data.startswith(bom):
        data = data[len(bom) :]
    pos = 0
    while count:
        match = _LINE_END.search(data, pos)
        if match is None or (match.group() == b"\r" and match.end() == len(data)):
            more = fh.read(1 << 16)
            if not more:
                return None
            data = data[pos:] + more
            pos = 0
            continue
        pos = match.end()
        count -= 1
    return data[pos:], pos


def _field_limit(limit: int | None) -> int:
    """The longest field read: the csv module's limit unless one is given."""
    return csv.field_size_limit() if limit is None else limit


@attrs.define
class FastBody:
    """Reads the records after the header in proven blocks (see the module docstring).

    Iterate :meth:`blocks` for the fast part; afterwards :attr:`rest` is None when the whole
    file was read, else ``(first line, binary stream from that line's first byte)`` for the
    existing reader.
    """

    _fh: BinaryIO
    #: the bytes read past the header and not yet in a block
    _pending: bytes = attrs.field(alias="leftover")
    _line: int = attrs.field(kw_only=True, alias="first_line")
    _codec: str = attrs.field(kw_only=True, alias="codec")
    _delimiter: str = attrs.field(kw_only=True, alias="delimiter")
    _width: int = attrs.field(kw_only=True, alias="width")
    _places: list[int] = attrs.field(kw_only=True, converter=list, alias="places")
    _id_place: int = attrs.field(kw_only=True, alias="id_place")
    _limit: int = attrs.field(
        kw_only=True,
        alias="field_limit",
        default=None,
        converter=_field_limit,
    )
    rest: tuple[int, BinaryIO] | None = attrs.field(default=None, init=False)

    @property
    def _id_at(self) -> int | None:
        """Where the id column is among the columns read (None: not read)."""
        return self._places.index(self._id_place) if self._id_place in self._places else None

    def blocks(self) -> Iterator[FastBlock]:
        """The proven blocks, in file order."""
        while True:
            # the bytes left over from the last block, then a block read straight after them
            # (no copy of a whole block is made to join or cut it)
            kept = len(self._pending)
            buf = bytearray(kept + BLOCK_BYTES)
            buf[:kept] = self._pending
            with memoryview(buf) as view:
                got = self._fh.readinto(view[kept:]) or 0
            size = kept + got
            if not size:
                self._fh.close()
                return
            if got:
                end = buf.rfind(b"\n", 0, size) + 1
                if end == 0:  # one line longer than a block: not the fast path's business
                    self._hand_over(bytes(buf[:size]))
                    return
            else:
                end = size
            self._pending = bytes(buf[end:size])
            parsed = self._parse(buf, end)
            if parsed is None:
                self._hand_over(bytes(buf[:size]))
                return
            yield parsed
            self._line += len(parsed.lines)

    def _hand_over(self, buf: bytes) -> None:
        self.rest = (self._line, io.BufferedReader(Rest(buf, self._fh), 1 << 20))
        self._pending = b""

    def _parse(self, buf: bytearray, end: int) -> FastBlock | None:
        """The block ``buf[:end]`` parsed, or None when it is not proven one record a line."""
        if buf.find(b"\x00", 0, end) >= 0:
            return None
        # ``find`` runs at memory speed; the counts are made only when a "\r" is there
        crs = buf.count(b"\r", 0, end) if buf.find(b"\r", 0, end) >= 0 else 0
        if crs and crs != buf.count(b"\r\n", 0, end):
            return None
        octets = np.frombuffer(buf, dtype=np.uint8, count=end)
        if np.count_nonzero(octets == 34) % 2:  # '"': a vectorised count, not bytes.count
            return None
        n = _line_count(buf, octets, end, crs, self._limit)
        if n is None:
            return None
        block: Any = memoryview(buf)[:end]
        if self._codec != "utf-8":
            block = bytes(block).decode(self._codec).encode("utf-8")
        table = _read(block, self._delimiter, self._width, self._places)
        if table is None or table.num_rows != n:
            return None
        columns = [_one_dictionary(table.column(f"c{p}")) for p in self._places]
        if self._id_at is not None and _any_empty(columns[self._id_at]):
            return None
        lines = np.arange(self._line, self._line + n, dtype=np.int64)
        return FastBlock(lines, columns)


def _line_count(
    buf: bytearray, octets: npt.NDArray[np.uint8], end: int, crs: int, limit: int
) -> int | None:
    """The lines of ``buf[:end]`` (the last may lack its "\n"), or None when one is blank
    ("\n" or "\r\n" alone) or holds more than ``limit`` bytes before its "\n"."""
    if octets[0] == 10 or buf.find(b"\n\n", 0, end) >= 0:  # "\n" alone: a blank line
        return None
    if crs and (buf.find(b"\r\n", 0, min(2, end)) == 0 or buf.find(b"\n\r\n", 0, end) >= 0):
        return None  # "\r\n" alone
    if _may_run_over(buf, end, limit):
        ends = np.flatnonzero(octets == 10)
        # bytes of each line with its "\n" (the last counted as if it had one)
        if int(np.diff(ends, prepend=-1, append=end).max()) - 1 > limit:
            return None
    return int(np.count_nonzero(octets == 10)) + (0 if octets[end - 1] == 10 else 1)


def _may_run_over(buf: bytearray, end: int, limit: int) -> bool:
    """False when no line of ``buf[:end]`` can hold more than ``limit`` bytes: every window of
    ``(limit + 1) // 2`` bytes on a multiple of that holds a "\n" (a run of more than ``limit``
    bytes without one would cover a whole window). A few ``find`` calls instead of a pass
    measuring every line; small limits are measured line by line."""
    step = (limit + 1) // 2
    if step < 1 << 12:
        return True
    return any(buf.find(b"\n", k, k + step) < 0 for k in range(0, end - step + 1, step))


def _read(block: Any, delimiter: str, width: int, places: Sequence[int]) -> Any:
    import pyarrow as pa
    import pyarrow.csv as pacsv

    names = [f"c{i}" for i in range(width)]
    wanted = [names[p] for p in dict.fromkeys(places)]
    # dictionary-encoded while parsing: each distinct text is made once, rows are int32 codes
    text = pa.dictionary(pa.int32(), pa.string())
    try:
        return pacsv.read_csv(
            pa.py_buffer(block),
            read_options=pacsv.ReadOptions(
                column_names=names, use_threads=True, block_size=1 << 20, encoding="utf8"
            ),
            parse_options=pacsv.ParseOptions(
                delimiter=delimiter,
                quote_char='"',
                double_quote=True,
                escape_char=False,
                newlines_in_values=True,  # a quoted line break is read, then counted
                ignore_empty_lines=False,
            ),
            convert_options=pacsv.ConvertOptions(
                column_types=dict.fromkeys(wanted, text),
                include_columns=wanted,
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
                null_values=[],
                # the bytes are valid UTF-8 already: the whole file decoded strictly before the
                # fast path was chosen (see fast_encoding), or the block was re-encoded from
                # cp1252/Latin-1 above; checking again would cost a tenth of the parse
                check_utf8=False,
            ),
        )
    except pa.ArrowInvalid:  # a record of another field count: the existing reader says which
        return None


def _one_dictionary(column: Any) -> Any:
    """A dictionary-encoded chunked column as one DictionaryArray over one dictionary."""
    import pyarrow as pa

    chunks = column.unify_dictionaries().chunks
    if len(chunks) == 1:
        return chunks[0]
    if not chunks:
        return pa.array([], type=column.type)
    indices = pa.concat_arrays([c.indices for c in chunks])
    return pa.DictionaryArray.from_arrays(indices, chunks[0].dictionary)


def coded_arrow_text(array: Any) -> tuple[npt.NDArray[np.signedinteger[Any]], list[str]]:
    """A dictionary-encoded Arrow string array (without nulls) as (codes, distinct texts), as
    :func:`~.long.coded` gives them: only the texts the rows use, in order of first
    appearance."""
    import pandas as pd

    indices = array.indices.to_numpy(zero_copy_only=False)
    if _first_appearance(indices, len(array.dictionary)):
        # pyarrow's parser builds each dictionary in order of first appearance: whole blocks
        # need no renumbering
        # (Arrow's int32 indices as they are: widening them would be one more pass)
        return indices, array.dictionary.to_pylist()
    codes, used = pd.factorize(indices)
    texts = array.dictionary.take(used.astype(np.int32)).to_pylist()
    return codes, texts


def _first_appearance(indices: npt.NDArray[np.integer[Any]], size: int) -> bool:
    """Whether ``indices`` number the ``size`` entries in order of first appearance, each used:
    the first is 0 and each index is at most one above the largest before it."""
    if not len(indices):
        return size == 0
    peak = np.maximum.accumulate(indices)
    return bool(indices[0] == 0 and peak[-1] == size - 1 and (indices[1:] <= peak[:-1] + 1).all())


def _any_empty(array: Any) -> bool:
    """Whether a row of a dictionary-encoded string array holds the empty text."""
    import pyarrow.compute as pc

    empty = np.flatnonzero(pc.equal(pc.utf8_length(array.dictionary), 0).to_numpy(False))
    if not len(empty):
        return False
    return bool(np.isin(array.indices.to_numpy(zero_copy_only=False), empty).any())
