"""The fuzzing corpus and the checks every mutated input must pass.

Shared by the hypothesis tests (``test_fuzz_adapters.py``) and the atheris harness
(``atheris_harness.py``). The corpus is every fixture under ``adapters/*/tests/data/`` (files
and folders), each paired with the installed formats of its adapter distribution: the format
detection picks for it, or when it is not detected (a deliberately bad fixture such as
``billion_laughs.xml``), every format of that distribution.
"""

from __future__ import annotations

import codecs
import random
import re
import shutil
import signal
import tempfile
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

import attendance_core as ac
from attendance_core import calendar
from attendance_core.adapters import adapter_distributions, detect
from attendance_core.errors import AttendanceError
from attendance_core.testing import assert_rejected_shape, drain

ROOT = Path(__file__).resolve().parents[2]
ADAPTERS = ROOT / "adapters"
#: Fixtures that are not register exports (option files of an adapter).
NOT_REGISTERS = frozenset({"symbols.csv", "symbols.toml", "aliases.toml"})
#: Longest an error message may be: messages quote values cut short, never whole fields.
MAX_MESSAGE = 2000
#: Seconds one load may take on a fixture-sized input before it counts as a hang.
HANG_SECONDS = 60


@dataclass(frozen=True)
class Fixture:
    """One fixture: a file or a folder, and the formats to read it with."""

    path: Path
    formats: tuple[str, ...]
    detected: bool

    @property
    def id(self) -> str:
        return str(self.path.relative_to(ADAPTERS))

    def files(self) -> list[Path]:
        """The files to mutate: the fixture itself, or every file in the folder."""
        if self.path.is_dir():
            return sorted(p for p in self.path.rglob("*") if p.is_file())
        return [self.path]


def _formats_of_folder(folder: str) -> tuple[str, ...]:
    dist = f"attendance-core-{folder}"
    return tuple(
        name
        for name, provider in adapter_distributions().items()
        if provider is not None and provider.lower().replace("_", "-") == dist
    )


def fixtures() -> list[Fixture]:
    """Every fixture of every installed adapter, sorted by path."""
    found: list[Fixture] = []
    for data in sorted(ADAPTERS.glob("*/tests/data")):
        folder = data.parts[-3]
        names = _formats_of_folder(folder)
        if not names:
            continue  # adapter not installed here
        for path in sorted(data.iterdir()):
            if (
                path.name.startswith(".")
                or path.name in NOT_REGISTERS
                or path.suffix
                in (
                    ".py",
                    ".md",
                )
            ):
                continue
            try:
                fmt = detect(path)
            except AttendanceError:
                found.append(Fixture(path, names, detected=False))
                continue
            found.append(Fixture(path, (fmt,), detected=True))
    return found


# ---------------------------------------------------------------------------- mutations
_ENCODINGS = (
    "utf-16",
    "utf-16-be",
    "utf-32",
    "latin-1",
    "cp1252",
    "utf-8-sig",
    "ascii",
    "cp037",
    "shift_jis",
    "utf-7",
)
_HUGE_SIZES = (1_025, 4_097, 70_000, 300_000)
_HUGE_TEXT = ("A", "9", "é", "\x00", '"', "<", ",", "\n", "{", "-", "=")
_BOUNDARY = re.compile(rb'[,;\t|"<>:=\[\]{}\n]')


def _kind(data: bytes) -> str:
    head = data.lstrip(codecs.BOM_UTF8 + b" \t\r\n")[:1]
    if head == b"<":
        return "xml"
    if head in (b"{", b"["):
        return "json"
    return "text"


def truncate(data: bytes, rng: random.Random) -> bytes:
    """The data cut at a random point."""
    return data[: rng.randint(0, len(data))]


def flip_bytes(data: bytes, rng: random.Random) -> bytes:
    """A few bytes XOR-ed with random values."""
    if not data:
        return data
    out = bytearray(data)
    for _ in range(rng.randint(1, 16)):
        i = rng.randrange(len(out))
        out[i] ^= rng.randint(1, 255)
    return bytes(out)


def wrong_encoding(data: bytes, rng: random.Random) -> bytes:
    """The text re-encoded in another encoding (or double-encoded as mojibake)."""
    text = data.decode("utf-8", "replace")
    codec = rng.choice((*_ENCODINGS, "mojibake"))
    if codec == "mojibake":
        return data.decode("latin-1").encode("utf-8")
    return text.encode(codec, "replace")


def huge_field(data: bytes, rng: random.Random) -> bytes:
    """A very long run of one character inserted at a field boundary."""
    run = (rng.choice(_HUGE_TEXT) * rng.choice(_HUGE_SIZES)).encode("utf-8")
    spots = [m.end() for m in _BOUNDARY.finditer(data)] or [0]
    at = rng.choice(spots)
    return data[:at] + run + data[at:]


def extra_columns(data: bytes, rng: random.Random) -> bytes:
    """Unknown columns, keys, attributes or elements added throughout."""
    kind = _kind(data)
    n = rng.randint(1, 3)
    if kind == "json":
        extra = b'"zz_extra": [1, {"a": null}, "=cmd|x"], ' * n
        return re.sub(rb"\{(?=\s*\")", lambda m: b"{" + extra, data)
    if kind == "xml":
        attr = b' zz:extra="1"' if rng.random() < 0.3 else b' zzExtra="x&amp;y"'
        data = re.sub(rb"<([A-Za-z][\w.:-]*)(?=[\s>/])", lambda m: m.group(0) + attr, data)
        return re.sub(rb"(<[A-Za-z][^<>]*[^/]>)", lambda m: m.group(1) + b"<Zz>1</Zz>", data)
    lines = data.split(b"\n")
    delimiter = max((b",", b"\t", b";", b"|"), key=lines[0].count)
    cells = [delimiter + f"extra{i}".encode() for i in range(n)]
    return b"\n".join(line.rstrip(b"\r") + b"".join(cells) if line else line for line in lines)


def empty(data: bytes, rng: random.Random) -> bytes:
    """Nothing, or nothing but a BOM or whitespace."""
    return rng.choice((b"", codecs.BOM_UTF8, b"\n\n", b"   ", b"\r\n", codecs.BOM_UTF16_LE))


def binary(data: bytes, rng: random.Random) -> bytes:
    """Random bytes, a zip/xlsx or parquet look-alike, or the data with NULs sprinkled in."""
    choice = rng.randrange(4)
    noise = bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 2048)))
    if choice == 0:
        return noise
    if choice == 1:
        return b"PK\x03\x04" + noise
    if choice == 2:
        return b"PAR1" + noise + b"PAR1"
    out = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        out.insert(rng.randint(0, len(out)), 0)
    return bytes(out)


def shuffle_lines(data: bytes, rng: random.Random) -> bytes:
    """Lines (after the first) repeated, dropped or shuffled: every row still accounted for."""
    lines = data.split(b"\n")
    head, body = lines[:1], lines[1:]
    choice = rng.randrange(3)
    if choice == 0 and body:
        body = body + rng.sample(body, k=min(len(body), rng.randint(1, 5)))
    elif choice == 1 and body:
        del body[rng.randrange(len(body))]
    else:
        rng.shuffle(body)
    return b"\n".join(head + body)


_JSON_STRING = re.compile(rb'"[^"\\]{0,40}"')
_JSON_KEY = re.compile(rb'"([A-Za-z_]{1,40})"\s*:')


def json_claims(data: bytes, rng: random.Random) -> bytes:
    """Issue 19's JSON tricks: a lone surrogate escape in a string, a key given twice, a
    huge integer count, or an absurd ``total_pages``. Other text: a lone surrogate escape."""
    choice = rng.randrange(4)
    if choice == 0 or _kind(data) != "json":
        spots = list(_JSON_STRING.finditer(data)) or list(re.finditer(rb"\w+", data))
        if not spots:
            return b'"\\ud800"' + data
        m = rng.choice(spots)
        return data[: m.start()] + b'"\\ud800"' + data[m.end() :]
    if choice == 1:
        keys = list(_JSON_KEY.finditer(data))
        if keys:
            m = rng.choice(keys)
            return data[: m.start()] + m.group(0) + b'"X",' + data[m.start() :]
    numbers = list(re.finditer(rb":\s*(\d+(?:\.\d+)?)", data))
    if choice == 2 and numbers:
        m = rng.choice(numbers)
        return data[: m.start(1)] + b"1" + b"0" * 50 + data[m.end(1) :]
    return data.replace(b'"total_pages":', b'"total_pages": 1000000000, "_was":', 1)


def sheet_claims(data: bytes, rng: random.Random) -> bytes:
    """Issue 19's workbook tricks, inside an .xlsx: a ``<dimension>`` claiming the whole grid
    or one cell, a whitespace bomb between rows, or a ``<row r>`` repeated or going back.
    Not a workbook: lines repeated at the end (rows seen twice)."""
    import io
    import zipfile

    if not data.startswith(b"PK\x03\x04"):
        lines = data.splitlines(keepends=True)
        return data + b"".join(rng.sample(lines, min(len(lines), 3)))
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            names = z.namelist()
            parts = {n: z.read(n) for n in names}
    except (zipfile.BadZipFile, OSError, ValueError):
        return data
    sheets = [n for n in names if n.startswith("xl/worksheets/")]
    if not sheets:
        return data
    target = rng.choice(sheets)
    xml = parts[target]
    choice = rng.randrange(4)
    if choice == 0:
        ref = rng.choice([b"A1:XFD1048576", b"A1", b"A1:B2"])
        xml = re.sub(rb'<dimension ref="[^"]*"\s*/>', b'<dimension ref="' + ref + b'"/>', xml)
    elif choice == 1:
        xml = xml.replace(b"</row>", b"</row>" + b" \n" * rng.choice([10**5, 10**6]), 1)
    else:
        numbers = [int(m) for m in re.findall(rb'<row r="(\d+)"', xml)]
        if len(numbers) >= 2:
            old = rng.choice(numbers[1:])
            new = rng.randint(1, old)
            xml = xml.replace(b'<row r="%d"' % old, b'<row r="%d"' % new, 1)
    parts[target] = xml
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as w:
        for n in names:
            w.writestr(n, parts[n])
    return out.getvalue()


_ISO_DAY = re.compile(rb"(?<!\d)(19|20)\d\d-[01]\d-[0-3]\d(?!\d)")
_UK_DAY = re.compile(rb"(?<!\d)[0-3]\d/[01]\d/(19|20)\d\d(?!\d)")
_FAR_DAYS = ((b"0001-01-01", b"01/01/0001"), (b"9999-12-31", b"31/12/9999"))
_STRAY_DAYS = ((b"2052-06-18", b"18/06/2052"), (b"1990-01-01", b"01/01/1990"))


def far_dates(
    data: bytes, rng: random.Random, *, day: str | None = None, share: float | None = None
) -> bytes:
    """Some dates replaced by ones no register holds (0001-01-01, 9999-12-31) or far from every
    other (2052-06-18): rejected as ``date_out_of_range`` / ``stray_date``, never a crash.
    ``day`` (ISO) and ``share`` (of the dates replaced) are random unless given."""
    pairs = _FAR_DAYS + _STRAY_DAYS
    iso, uk = rng.choice(pairs) if day is None else next(p for p in pairs if p[0] == day.encode())
    share = rng.choice((0.01, 0.2, 1.0)) if share is None else share

    def swap(new: bytes) -> Callable[[re.Match[bytes]], bytes]:
        return lambda m: new if rng.random() < share else m.group(0)

    return _UK_DAY.sub(swap(uk), _ISO_DAY.sub(swap(iso), data))


MUTATIONS: dict[str, Callable[[bytes, random.Random], bytes]] = {
    "json_claims": json_claims,
    "sheet_claims": sheet_claims,
    "far_dates": far_dates,
    "truncate": truncate,
    "flip_bytes": flip_bytes,
    "wrong_encoding": wrong_encoding,
    "huge_field": huge_field,
    "extra_columns": extra_columns,
    "empty": empty,
    "binary": binary,
    "shuffle_lines": shuffle_lines,
}


@contextmanager
def materialise(fixture: Fixture, target: Path, mutated: bytes) -> Iterator[Path]:
    """A temporary copy of the fixture with ``target`` (one of its files) replaced by
    ``mutated``; the copy keeps the file names, so extension-based detection still applies."""
    with tempfile.TemporaryDirectory(prefix="ac-fuzz-") as tmp:
        base = Path(tmp)
        if fixture.path.is_dir():
            copy = base / fixture.path.name
            shutil.copytree(fixture.path, copy)
            (copy / target.relative_to(fixture.path)).write_bytes(mutated)
        else:
            copy = base / fixture.path.name
            copy.write_bytes(mutated)
        yield copy


# ---------------------------------------------------------------------------- checks
#: Crashes already reported and tracked by a strict-xfail test in ``test_regressions.py``:
#: (format, exception type) pairs the fuzzers do not report again. Remove an entry when its
#: regression test starts passing.
# (format, exception name) pairs reported to an owner and not fixed yet; empty when all are
KNOWN: frozenset[tuple[str | None, str]] = frozenset()


def known(fmt: str | None, exc: BaseException | None) -> bool:
    """Whether ``exc`` raised while reading ``fmt`` is a crash already reported."""
    return exc is not None and (fmt, type(exc).__name__) in KNOWN


class Crash(AssertionError):
    """A mutated input made the library raise something other than AttendanceError."""


@contextmanager
def time_limit(seconds: int) -> Iterator[None]:
    """Raise TimeoutError when the block runs longer than ``seconds`` (POSIX; else no limit)."""
    if not hasattr(signal, "setitimer"):
        yield
        return

    def on_alarm(_signum: int, _frame: Any) -> None:
        raise TimeoutError(f"still running after {seconds} s: a hang")

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


#: How :func:`attendance_core.load` words a stray exception it wrapped in a FormatError.
WRAPPED = "could not read the source ("


def wrapped_crash(exc: AttendanceError) -> bool:
    """Whether ``exc`` is load()'s wrapper around a stray (non-AttendanceError) exception."""
    cause = exc.__cause__
    return WRAPPED in str(exc) and cause is not None and not isinstance(cause, AttendanceError)


def check_error(exc: AttendanceError) -> None:
    """An error a caller sees: one bounded message."""
    text = str(exc)
    assert isinstance(text, str)
    assert len(text) <= MAX_MESSAGE, f"message of {len(text)} characters: {text[:200]!r}..."


def check_result(result: Any) -> None:
    """Every row accounted for, and the rejected table in its fixed shape.

    The checks of :func:`attendance_core.testing.assert_load_invariants`, except that the
    pupils table must be unique per (``school_id``, ``pupil_id``) rather than per pupil id
    when it has a ``school_id`` column (one pupil may be on two schools' rolls; see
    ``test_regressions.py``). How long a rejected value may be is checked in
    ``tests/test_security.py``.
    """
    accepted = len(result.register.to_long())
    assert isinstance(result.rows_read, int), "rows_read must be an int"
    total = result.rejected_count
    assert result.rows_read == accepted + total, (
        f"rows_read {result.rows_read} != accepted {accepted} + rejected {total}"
    )
    assert sum(result.error_counts.values()) == total, (result.error_counts, total)
    assert result.rejected_truncated or len(result.rejected) == total
    assert result.register.rejected is result.rejected, "register.rejected is the load's table"
    assert result.register.error_counts == dict(result.error_counts)
    assert_rejected_shape(result.rejected)
    dates = result.register.dates
    if len(dates):  # the bounds of every date (calendar.FIRST_DATE to LAST_DATE)
        assert calendar.to_date(dates[0]) >= calendar.FIRST_DATE, dates[0]
        assert calendar.to_date(dates[-1]) <= calendar.LAST_DATE, dates[-1]
    pupils = result.pupils
    assert isinstance(pupils, pd.DataFrame)
    if len(pupils):
        assert pupils.index.name == "pupil_id", pupils.index.name
        if "school_id" in pupils.columns:
            keys = pd.MultiIndex.from_arrays([pupils["school_id"].astype(str), pupils.index])
            assert keys.is_unique, "pupils must have one row per school and pupil"
        else:
            assert pupils.index.is_unique, "pupils must have one row per pupil_id"


def exercise(source: Any, fmt: str | None, *, label: str, errors: str = "collect") -> str:
    """Load ``source`` (through :func:`ac.load`, then the adapter alone via ``drain``) and
    check the outcome; returns ``"loaded"`` or ``"refused"``.

    Raises :class:`Crash` (with the original traceback in the message) when anything but an
    :class:`AttendanceError` escapes, and AssertionError when a loaded result breaks the
    row-count invariant.
    """
    outcome = "refused"
    with time_limit(HANG_SECONDS):
        try:
            result = ac.load(source, format=fmt, errors=errors)
        except AttendanceError as exc:
            check_error(exc)
            named = re.search(r"adapter '([^']+)'", str(exc))
            adapter = named.group(1) if named else fmt
            if wrapped_crash(exc) and not known(adapter, exc.__cause__):
                cause = exc.__cause__
                trace = "".join(traceback.format_exception(cause)) if cause else ""
                raise Crash(
                    f"{label}: ac.load wrapped {type(cause).__name__} in a FormatError\n{trace}"
                ) from cause
        except Exception as exc:
            raise Crash(
                f"{label}: ac.load raised {type(exc).__name__}\n{traceback.format_exc()}"
            ) from exc
        else:
            check_result(result)
            outcome = "loaded"
        if fmt is not None:
            try:
                drain(fmt, source, errors=errors)
            except AttendanceError as exc:
                check_error(exc)
            except Exception as exc:
                if known(fmt, exc):
                    return outcome
                raise Crash(
                    f"{label}: adapter {fmt} raised {type(exc).__name__}\n{traceback.format_exc()}"
                ) from exc
    return outcome
