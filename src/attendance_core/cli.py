"""The ``attendance-core`` command line (also ``python -m attendance_core``).

Commands: ``demo``, ``classify``, ``recommend``, ``report``, ``formats``. Exit code 0 on
success, 2 on bad usage or unreadable input, with one clear line on stderr. A progress bar is
drawn on stderr for work that takes more than a moment, only when stderr is a terminal and
``--quiet`` is not given.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import math
import os
import re
import sys
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any, NoReturn

import numpy as np
import pandas as pd

from . import _casebook_cli, _pupils
from ._casebook_cli import date_argument as _date
from ._values import FALSE_WORDS, TRUE_WORDS
from .bands import DEFAULT_SCHEME
from .calendar import as_date
from .errors import AttendanceError
from .io import terminal_text

__all__ = ["main", "read_pupils_csv"]

EXAMPLES = """\
examples:
  attendance-core demo
  attendance-core demo --output demo-report.html
  attendance-core classify marks.csv --scheme five-band --from 2024-09-01 --until 2025-07-31
  attendance-core recommend marks.csv --pupils pupils.csv --as-of 2025-03-14 --to csv
  attendance-core report marks.csv --pupils pupils.csv --as-of 2025-03-14 --output report.html
  attendance-core report export.xml --format sims-xml --tsm tsm-pack/
  attendance-core report exports/ --output trust.html      # a trust's folder of exports
  attendance-core formats

Input is read by ac.load: one file, several files or a folder (a trust's exports, formats
detected from each file's content and mixed if need be) become one register; --format forces
one adapter. Library notes are shown as `attendance-core: note: ...` (--quiet hides them).
A pupils CSV has a pupil_id column and any of school_id, name, year_group, date_of_birth,
admission_date, leaving_date (dates as YYYY-MM-DD, the one date policy) and Y/N flags cin, cp,
cic, sen, ehcp, medical, fsm, youth_justice, ebsa, special_school.
"""

CLASSIFY_EXAMPLES = """\
examples:
  attendance-core classify marks.csv
  attendance-core classify marks.csv --scheme five-band --from 2024-09-01 --until 2025-07-31
  attendance-core classify marks.csv --to csv --output bands.csv
  attendance-core classify export.csv --format generic-csv --errors collect --rejected bad.csv
"""

RECOMMEND_EXAMPLES = """\
examples:
  attendance-core recommend marks.csv --pupils pupils.csv
  attendance-core recommend marks.csv --pupils pupils.csv --as-of 2025-03-14 --to csv \\
      --output steps.csv
  attendance-core recommend marks.csv --plans pupil-plans.xlsx --to json
  attendance-core recommend marks.csv --pupils pupils.csv --history case-events.csv
"""

REPORT_EXAMPLES = """\
examples:
  attendance-core report marks.csv --pupils pupils.csv --output report.html
  attendance-core report marks.csv --as-of 2025-03-14 --scheme dfe --output report.html
  attendance-core report marks.csv --pupils pupils.csv --to csv --table letters \\
      --output letters.csv
  attendance-core report marks.csv --pupils pupils.csv --tsm tsm-pack/
  attendance-core report export.xml --format sims-xml --output report.html --tsm tsm-pack/
  attendance-core report marks.csv --pupils pupils.csv --governors governors.html \\
      --letters letters.html --letters-below 90
"""

DEMO_EXAMPLES = """\
examples:
  attendance-core demo
  attendance-core demo --seed 3 --output demo-report.html
  attendance-core demo --exports samples      # then: attendance-core report samples/trust ...
"""

#: Tables that ``report --to csv|json`` can write.
REPORT_TABLES = ("pupils", "letters", "bands", "cohorts", "spells", "weekly")

#: Cohort flag columns a pupils CSV may carry (read as booleans).
FLAG_COLUMNS = _pupils.ALL_FLAGS
#: Date columns a pupils CSV may carry.
DATE_COLUMNS = _pupils.DATE_COLUMNS


# ============================================================================ progress
class Progress:
    """Stage progress on stderr (tqdm): shown only on a terminal and not with ``--quiet``, and
    only for work that outlasts ``delay`` seconds (tqdm's own ``delay``)."""

    def __init__(
        self, total: int, *, enabled: bool, stream: IO[str] | None = None, delay: float = 0.5
    ) -> None:
        from tqdm import tqdm

        self.enabled = enabled
        self._bar = tqdm(
            total=max(total, 1),
            file=stream or sys.stderr,
            disable=not enabled,
            delay=delay,
            leave=False,
            unit="stage",
            bar_format="{bar:24}| {n_fmt}/{total_fmt} {desc}",
            mininterval=0,  # a stage is long: draw every step, once the delay has passed
            miniters=1,
            dynamic_ncols=True,
        )

    @classmethod
    def for_args(cls, args: argparse.Namespace, total: int) -> Progress:
        """A bar for a command: on only when stderr is a terminal and not ``--quiet``."""
        return cls(total, enabled=_on_terminal() and not args.quiet)

    def step(self, label: str) -> None:
        """Start the next stage, named ``label``."""
        if self.enabled:
            self._bar.set_description_str(terminal_text(label), refresh=False)
            self._bar.update(1)

    def __enter__(self) -> Progress:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._bar.close()


def _on_terminal() -> bool:
    return bool(getattr(sys.stderr, "isatty", lambda: False)())


# ============================================================================ parser
class _Parser(argparse.ArgumentParser):
    """The parser of the command and of each subcommand (``add_subparsers`` makes them of the
    parent's class): the description and the examples of the epilog are shown as written, and
    errors in the terminal's words."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", argparse.RawDescriptionHelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        self.exit(2, terminal_text(f"attendance-core: {message}\n"))


def _at_least(minimum: int, words: str) -> Callable[[str], int]:
    """An argparse type: a whole number of at least ``minimum``, else "not <words>: <text>"."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = minimum - 1
        if value < minimum:
            raise argparse.ArgumentTypeError(f"not {words}: {text[:40]!r}")
        return value

    return parse


_whole = _at_least(0, "a whole number from 0")
_positive = _at_least(1, "a positive whole number")


def _percent(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value <= 100:
        raise argparse.ArgumentTypeError(f"not a percentage above 0 and at most 100: {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for documentation and tests)."""
    parser = _Parser(
        prog="attendance-core",
        description="School attendance for England: bands, patterns, stages of support, "
        "next steps and reports.",
        epilog=EXAMPLES,
    )
    parser.add_argument(
        "--quiet", action="store_true", help="print nothing but results (no notes, no progress bar)"
    )
    from importlib.metadata import version

    parser.add_argument(
        "--version", action="version", version=f"%(prog)s {version('attendance-core')}"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    for add in (_demo_parser, _classify_parser, _recommend_parser, _report_parser, _formats_parser):
        add(sub)
    _casebook_cli.add_commands(sub)  # serve, token (extras casebook and service)
    return parser


def _demo_parser(sub: argparse._SubParsersAction[_Parser]) -> None:
    """attendance-core demo."""
    demo = sub.add_parser(
        "demo",
        help="run the main job on the built-in demo school",
        description="Classify the built-in synthetic school and print the five-band table "
        "and the ten pupils most in need of action, with their next steps; with --output, "
        "also write the HTML report of the demo school.",
        epilog=DEMO_EXAMPLES,
    )
    demo.add_argument("--seed", type=_whole, default=0, help="which demo school (default 0)")
    demo.add_argument("--output", type=Path, help="also write the HTML report to this file")
    demo.add_argument(
        "--exports",
        type=Path,
        metavar="FOLDER",
        help="also write sample export files to try the other commands on (marks.csv, "
        "marks.xlsx, marks.parquet, pupils.csv and trust/, a trust's folder of mixed formats)",
    )
    _quiet(demo)


def _classify_parser(sub: argparse._SubParsersAction[_Parser]) -> None:
    """attendance-core classify."""
    cls = sub.add_parser(
        "classify",
        help="attendance figures and band of every pupil",
        description="Read a register (by default the long CSV layout of the API contract: "
        "pupil_id, date, session, code and optional school_id) and print every pupil's "
        "figures and band.",
        epilog=CLASSIFY_EXAMPLES,
    )
    _input_options(cls)
    cls.add_argument(
        "--scheme", default="dfe", help="dfe (default), five-band, or a scheme TOML file"
    )
    cls.add_argument("--from", dest="start", type=_date, help="first date, inclusive")
    cls.add_argument("--until", "--to-date", dest="end", type=_date, help="last date, inclusive")
    _output_options(cls, ("table", "csv", "json", "xlsx"))


def _recommend_parser(sub: argparse._SubParsersAction[_Parser]) -> None:
    """attendance-core recommend."""
    rec = sub.add_parser(
        "recommend",
        help="next steps for every pupil under the stages of support",
        description="Recommend next steps (stage, action, lead, due date and a reason a "
        "parent could read) for every pupil, from the register, the pupils table and any "
        "action plans, as of a date (default: the latest date with a mark).",
        epilog=RECOMMEND_EXAMPLES,
    )
    _input_options(rec)
    rec.add_argument("--as-of", type=_date, help="the day to recommend for (YYYY-MM-DD)")
    rec.add_argument(
        "--plans",
        type=Path,
        action="append",
        help="a pupil action plan (CSV or XLSX) whose items answer steps; "
        "may be given more than once",
    )
    rec.add_argument(
        "--history",
        type=Path,
        metavar="EVENTS.csv",
        help="the case history (CSV with pupil_id, event, date and optional school_id, "
        "parent_id, until, outcome, ...): what has already happened, e.g. notices issued",
    )
    rec.add_argument(
        "--policy", default="england-2024", help="policy id or TOML file (default england-2024)"
    )
    _output_options(rec, ("table", "csv", "json", "xlsx"))
    _casebook_cli.add_recommend_options(rec)


def _report_parser(sub: argparse._SubParsersAction[_Parser]) -> None:
    """attendance-core report."""
    rep = sub.add_parser(
        "report",
        help="HTML report, Targeting Support Meeting pack, or report tables",
        description="Write the self-contained HTML report of the register (bands, weekly "
        "trend, weekday heat map, cohorts, pupils most in need with next steps), the "
        "Targeting Support Meeting pack per school (--tsm), or one of the report tables as "
        "CSV or JSON.",
        epilog=REPORT_EXAMPLES,
    )
    _input_options(rep)
    rep.add_argument(
        "--as-of",
        type=_date,
        help="figures to this day (YYYY-MM-DD; default: the latest date with a mark)",
    )
    rep.add_argument(
        "--scheme",
        default=DEFAULT_SCHEME,
        help="band scheme of the HTML report: five-band (default), dfe, or a TOML file",
    )
    rep.add_argument(
        "--top", type=_positive, default=20, help="pupils listed as most in need (default 20)"
    )
    rep.add_argument("--title", help="title of the HTML report")
    rep.add_argument(
        "--table",
        choices=REPORT_TABLES,
        default="pupils",
        help="table written by --to csv|json: " + ", ".join(REPORT_TABLES) + " (default pupils)",
    )
    rep.add_argument(
        "--tsm",
        type=Path,
        metavar="FOLDER",
        help="write the Targeting Support Meeting pack (HTML, CSV, Excel) here",
    )
    rep.add_argument(
        "--governors",
        type=Path,
        metavar="FILE.html",
        help="also write the governor summary: one printable page a school, no pupil named",
    )
    rep.add_argument(
        "--letters",
        type=Path,
        metavar="FILE.html",
        help="also write the parent letters, one a printed page (see --letters-below)",
    )
    rep.add_argument(
        "--letters-below",
        type=_percent,
        metavar="PERCENT",
        help="letters only for pupils whose attendance is below this percentage (e.g. 90)",
    )
    _output_options(rep, ("html", "csv", "json", "xlsx"))


def _formats_parser(sub: argparse._SubParsersAction[_Parser]) -> None:
    """attendance-core formats."""
    fmt = sub.add_parser(
        "formats",
        help="list the installed MIS adapters",
        description="List the names accepted by --format.",
        epilog="example:\n  attendance-core formats",
    )
    _quiet(fmt)


def _quiet(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--quiet", action="store_true", default=argparse.SUPPRESS, help="print nothing but results"
    )


def _input_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "files",
        type=Path,
        nargs="+",
        metavar="FILE",
        help="the register export(s) to read: a file, several files, or a folder (a trust's "
        "exports become one register; formats are detected from each file's content)",
    )
    p.add_argument(
        "--format",
        help="force one adapter (see `attendance-core formats`); default: detected by content",
    )
    p.add_argument(
        "--option",
        action="append",
        type=_reader_option,
        default=[],
        metavar="NAME=VALUE",
        help="an option for the reader, as ac.load takes it (repeatable; whole numbers are "
        "numbers), e.g. --option max_file_size=4000000000 for an export over 2 GB",
    )
    p.add_argument(
        "--pupils",
        type=Path,
        metavar="PUPILS.csv",
        help="pupils CSV: pupil_id and any of school_id, name, year_group, dates, Y/N cohort flags",
    )
    p.add_argument(
        "--errors",
        choices=("collect", "raise"),
        default="collect",
        help="leave bad rows out and say how many (default, as ac.load) or stop at the first",
    )
    p.add_argument("--rejected", type=Path, help="write rejected rows to this CSV file")
    p.add_argument(
        "--pseudonymise-key-file",
        type=Path,
        metavar="KEYFILE",
        help="replace every pupil id in the output by a keyed pseudonym (HMAC-SHA256; the same "
        "key gives the same pseudonyms) and leave out names, UPNs and dates of birth",
    )
    _quiet(p)


def _output_options(p: argparse.ArgumentParser, kinds: Sequence[str]) -> None:
    p.add_argument(
        "--to",
        dest="to",
        choices=kinds,
        default=kinds[0],
        help=f"output format ({', '.join(kinds)}; default {kinds[0]})",
    )
    p.add_argument("--output", type=Path, help="write to this file instead of stdout")


# ============================================================================ input
def _header(name: str) -> str:
    return re.sub(r"[\s\-]+", "_", name.strip().lower())


def _read_text_csv(path: Path) -> pd.DataFrame:
    """A CSV file of the command line's inputs (pupils, plans, case history) as text cells,
    blank cells as ``""``; a file that cannot be read is an error naming it."""
    try:
        return pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except (OSError, ValueError) as exc:  # ValueError: bad UTF-8, a parser error, empty data
        raise AttendanceError(f"{path.name}: cannot read ({type(exc).__name__})") from exc


def read_pupils_csv(path: str | Path) -> pd.DataFrame:
    """A pupils table from a CSV file, indexed by ``pupil_id`` (as ``load().pupils``).

    Headers are matched ignoring case, spaces and hyphens. Dates (``date_of_birth``,
    ``admission_date``, ``leaving_date``) are ISO (``2025-03-14``), the one date policy of
    :func:`~attendance_core.calendar.as_date` (``14/03/2025`` could be read two ways, so it is
    refused, never guessed); blank is unknown. Flags (``cin``, ``cp``, ``cic``, ``sen``, ``ehcp``,
    ``medical``, ``fsm``, ``youth_justice``, ``ebsa``, ``special_school``) are ``Y``/``N``,
    ``yes``/``no``, ``true``/``false`` or ``1``/``0``; blank is no. Other columns are kept as
    text. A bad cell raises :class:`~attendance_core.AttendanceError` naming the file, line and
    column (never a date value, which may be a date of birth).
    """
    source = Path(path)
    frame = _read_text_csv(source)
    frame.columns = [_header(str(c)) for c in frame.columns]
    if "pupil_id" not in frame.columns:
        raise AttendanceError(f"{source.name}: no pupil_id column")
    lines = np.arange(2, len(frame) + 2)
    ids = frame["pupil_id"].str.strip()
    blank = (ids == "").to_numpy()
    if blank.any():
        raise AttendanceError(f"{source.name}: line {lines[blank][0]}, column pupil_id: no value")
    out = frame.drop(columns=["pupil_id"]).copy()
    for column in out.columns:
        values = out[column].str.strip()
        if column in DATE_COLUMNS:
            parsed: list[dt.date | None] = []
            for line, text in zip(lines, values, strict=True):
                try:
                    parsed.append(as_date(text, column) if text else None)
                except AttendanceError:
                    raise AttendanceError(  # never the value: it may be a date of birth
                        f"{source.name}: line {line}, column {column}: not a date; "
                        "give it as YYYY-MM-DD"
                    ) from None
            out[column] = pd.Series(parsed, index=out.index, dtype=object)
        elif column in FLAG_COLUMNS:
            low = values.str.lower()
            bad = ~(low.isin(TRUE_WORDS) | low.isin(FALSE_WORDS)).to_numpy()
            if bad.any():
                i = int(np.flatnonzero(bad)[0])
                raise AttendanceError(  # the cell is not quoted: it may be a name
                    f"{source.name}: line {lines[i]}, column {column}: not a flag "
                    "(Y/N, yes/no, true/false, 1/0)"
                )
            out[column] = low.isin(TRUE_WORDS).to_numpy(dtype=bool)
        else:
            out[column] = values.astype(object).where(values != "", None)
    out.index = pd.Index(ids.to_numpy(dtype=object), name="pupil_id")
    key = [out.index.to_numpy()]
    if "school_id" in out.columns:
        key.insert(0, out["school_id"].astype(str).to_numpy())
    dup = np.asarray(pd.MultiIndex.from_arrays(key).duplicated()) if len(out) else blank
    if dup.any():
        raise AttendanceError(
            f"{source.name}: line {lines[dup][0]}, column pupil_id: the pupil appears twice"
        )
    return out


def _reader_option(text: str) -> tuple[str, Any]:
    """``NAME=VALUE`` as ``(name, value)``; a whole number is an ``int``, as the readers'
    numeric options (``max_file_size``, ``chunk_size``) take it, anything else the text."""
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE (got {text!r})")
    number = value.strip().replace("_", "")
    return name.strip(), int(number) if number.isdigit() else value


def _load(
    args: argparse.Namespace, progress: Progress | None = None
) -> tuple[Any, pd.DataFrame | None]:
    """The register and the pupils table named by the arguments, read by :func:`ac.load`
    (the one loading path: detection by content, a list of files or a folder, the same
    ``errors`` and the same rejected table), completed by the pupils CSV."""
    from .adapters import load

    for path in args.files:
        if not path.exists():
            raise AttendanceError(f"{path}: no such file")
    pupils: pd.DataFrame | None = None
    if getattr(args, "pupils", None) is not None:
        if not args.pupils.exists():
            raise AttendanceError(f"{args.pupils}: no such file")
        pupils = read_pupils_csv(args.pupils)
    key: bytes | None = None
    if getattr(args, "pseudonymise_key_file", None) is not None:
        from .privacy import pseudonymise_key_file

        key = pseudonymise_key_file(args.pseudonymise_key_file)
    target: Path | list[Path] = args.files[0] if len(args.files) == 1 else list(args.files)
    if progress is not None:
        progress.step(f"reading {_names(args.files)}")
    result = load(
        target,
        format=args.format,
        errors=args.errors,
        pupils=pupils,
        progress=progress is not None and progress.enabled,
        **dict(getattr(args, "option", None) or ()),
    )
    if key is not None:  # after the build: the pupils' dates bound spans by the real ids
        result = _pseudonymised(result, key)
    reg, rejected = result.register, result.rejected
    if len(rejected):
        if args.rejected:
            from .reports import to_csv

            to_csv(rejected, args.rejected)
        total = sum(getattr(reg, "error_counts", {}).values()) or len(rejected)
        cut = f" (the first {len(rejected)} listed)" if total > len(rejected) else ""
        _note(
            args,
            f"{total} row(s) rejected{cut}"
            + (
                f", listed in {args.rejected}"
                if args.rejected
                else " (use --rejected FILE to list them)"
            ),
        )
    _check_dates(args, reg)
    return reg, (result.pupils if len(result.pupils) or pupils is not None else None)


def _names(paths: Sequence[Path]) -> str:
    return paths[0].name if len(paths) == 1 else f"{len(paths)} files"


def _check_dates(args: argparse.Namespace, reg: Any) -> None:
    """``--as-of``, ``--from`` and ``--until`` must fall where the register has dates: a date
    outside them would give an empty or stale report that looks like an answer."""
    if not len(reg.dates):
        return
    first, last = reg.dates[0].astype(object), reg.dates[-1].astype(object)
    where = f"the register runs from {first} to {last}"
    as_of = getattr(args, "as_of", None)
    if as_of is not None and not first <= as_of <= last:
        raise AttendanceError(f"--as-of {as_of} is outside the register's dates: {where}")
    start, end = getattr(args, "start", None), getattr(args, "end", None)
    if start is not None and start > last:
        raise AttendanceError(f"--from {start} is after the register's last date: {where}")
    if end is not None and end < first:
        raise AttendanceError(f"--until {end} is before the register's first date: {where}")
    if start is not None and end is not None and start > end:
        raise AttendanceError(f"--from {start} is after --until {end}")


def _pseudonymised(obj: Any, key: bytes) -> Any:
    """``obj`` with keyed pseudonyms for pupil ids and the personal columns left out."""
    from .privacy import PERSONAL_COLUMNS, pseudonymise

    # every table, the adapter's pupils table in a load result too, loses names, UPNs, dates
    # of birth and raw MIS ids
    return pseudonymise(obj, key, drop=PERSONAL_COLUMNS)


# ============================================================================ output
def _plain_cell(value: Any) -> Any:
    if value is pd.NaT:
        return None  # a missing date of a datetime64 column (steps_frame evidence)
    if isinstance(value, dt.datetime | pd.Timestamp):
        if value.time() == dt.time(0) and value.tzinfo is None:
            return value.date().isoformat()  # a date held as a timestamp
        return value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, np.datetime64):
        return None if np.isnat(value) else str(value.astype("datetime64[D]"))
    if hasattr(value, "name") and hasattr(value, "value") and not isinstance(value, str):
        return value.name  # an enum member (Stage)
    if isinstance(value, dict):
        return {str(k): _plain_cell(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain_cell(v) for v in value]
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return None if np.isnan(value) else float(value)
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, np.bool_):
        return bool(value)
    return value


def _json_text(frame: pd.DataFrame) -> str:
    flat = frame.reset_index() if any(n is not None for n in frame.index.names) else frame
    records = [{str(k): _plain_cell(v) for k, v in rec.items()} for rec in flat.to_dict("records")]
    return json.dumps(records, indent=1, ensure_ascii=False) + "\n"


def _text_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Cells as text for CSV: dates ISO, enums by name, mappings as JSON."""
    out = frame.copy()
    for column in out.columns:
        if out[column].dtype == object:
            out[column] = [
                json.dumps(_plain_cell(v), ensure_ascii=False)
                if isinstance(v, dict | list)
                else _plain_cell(v)
                for v in out[column]
            ]
    return out


def _emit(frame: pd.DataFrame, kind: str, output: Path | None) -> None:
    index = any(n is not None for n in frame.index.names)
    if kind == "xlsx":
        if output is None:
            raise AttendanceError("--to xlsx needs --output FILE.xlsx (a workbook is not text)")
        from .reports import to_excel

        to_excel(frame, output, index=index)
        return
    if kind == "csv":
        frame = _text_frame(frame)
        if output:
            from .reports import to_csv

            to_csv(frame, output, index=index)
            return
        from .io import neutralise_frame

        buffer = io.StringIO()
        neutralise_frame(frame).to_csv(buffer, index=index, lineterminator="\n")
        text = buffer.getvalue()
    elif kind == "json":
        text = _json_text(frame)
    else:
        with pd.option_context(
            "display.max_rows", None, "display.width", 200, "display.max_colwidth", 60
        ):
            text = frame.to_string(index=index) + "\n"
    if output:
        from .io import write_text_atomic

        write_text_atomic(output, text)
    else:
        sys.stdout.write(terminal_text(text))


def _note(args: argparse.Namespace, text: str) -> None:
    """One line on stderr, ``attendance-core: note: …``, unless ``--quiet``."""
    if not args.quiet:
        line = f"attendance-core: note: {' '.join(str(text).split())}"
        print(terminal_text(line), file=sys.stderr)


# ============================================================================ commands
def _cmd_classify(args: argparse.Namespace) -> int:
    from .measures import classify

    with Progress.for_args(args, 2) as progress:
        reg, _ = _load(args, progress)
        progress.step("classifying")
        table = classify(reg, scheme=args.scheme, start=args.start, end=args.end)
    _emit(table, args.to, args.output)
    return 0


def _read_plans(paths: Sequence[Path] | None) -> list[Any] | None:
    if not paths:
        return None
    from .plans import ActionPlan

    plans = []
    for path in paths:
        if not path.exists():
            raise AttendanceError(f"{path}: no such file")
        if path.suffix.lower() in (".xlsx", ".xlsm"):
            try:
                table = pd.read_excel(path, dtype=str).fillna("")
            except (OSError, ValueError) as exc:
                raise AttendanceError(f"{path.name}: cannot read ({type(exc).__name__})") from exc
        else:
            table = _read_text_csv(path)
        plans.append(ActionPlan.from_table(table))
    return plans


def _read_history(path: Path | None) -> Any:
    """The case history CSV as :class:`~attendance_core.CaseHistory` (row labels are the file's
    line numbers, so an error names the line)."""
    if path is None:
        return None
    from .history import CaseHistory

    if not path.exists():
        raise AttendanceError(f"{path}: no such file")
    table = _read_text_csv(path).replace("", None)
    table.index = pd.RangeIndex(2, len(table) + 2)  # line 1 is the header
    try:
        return CaseHistory.from_table(table)
    except AttendanceError as exc:
        raise AttendanceError(f"{path.name}: {exc}") from None


_STEP_TABLE_COLUMNS = ("school_id", "pupil_id", "stage", "action", "lead", "due")


def _cmd_recommend(args: argparse.Namespace) -> int:
    from .escalation import recommend, steps_frame

    with Progress.for_args(args, 2) as progress:
        reg, pupils = _load(args, progress)
        plans = _read_plans(args.plans)
        history = _read_history(args.history)
        progress.step("recommending")
        if args.casebook:  # history read from the casebook (--history added to it), steps saved
            steps = _casebook_cli.recommend_with_casebook(args, reg, pupils, plans, history)
        else:
            steps = recommend(
                reg,
                pupils=pupils,
                plans=plans,
                history=history,
                as_of=args.as_of,
                policy=args.policy,
            )
    frame = steps_frame(steps)  # has the NextStep columns even with no steps
    frame["stage"] = [getattr(s, "name", s) for s in frame["stage"]]
    if args.to == "table":
        shown = frame[[c for c in _STEP_TABLE_COLUMNS if c in frame.columns]]
        if shown["school_id"].isna().all():
            shown = shown.drop(columns=["school_id"])
        _emit(shown, "table", args.output)
    else:
        _emit(frame, args.to, args.output)
    _note(args, f"{len(frame)} step(s) for {frame['pupil_id'].nunique()} pupil(s)")
    return 0


def _report_table(
    name: str, reg: Any, pupils: pd.DataFrame | None, as_of: dt.date, scheme: str
) -> pd.DataFrame:
    from . import patterns
    from .calendar import academic_year_start
    from .reports import band_summary, letter_data

    first = academic_year_start(as_of)
    builders: dict[str, Callable[[], pd.DataFrame]] = {
        "pupils": lambda: patterns.pupil_patterns(reg, as_of, scheme=scheme),
        "letters": lambda: letter_data(reg, as_of, pupils=pupils),
        "bands": lambda: band_summary(
            patterns.pupil_patterns(reg, as_of, scheme=scheme),
            by="school_id" if reg.has_schools else None,
        ),
        "cohorts": lambda: patterns.cohort_summary(
            patterns.pupil_patterns(reg, as_of, scheme=scheme), pupils
        ),
        "spells": lambda: patterns.spells(reg, first, as_of),
        "weekly": lambda: patterns.weekly_attendance(reg, first, as_of, by_school=reg.has_schools),
    }
    return builders[name]()


def _cmd_report(args: argparse.Namespace) -> int:
    from .patterns import resolve_as_of
    from .reports import html_report, tsm_pack, write_tsm_pack

    extras = [args.tsm, args.governors, args.letters]
    if args.to == "html" and args.output is None and all(e is None for e in extras):
        raise _UsageError(
            "report: give --output FILE for the HTML report, --tsm FOLDER for the meeting "
            "pack, --governors or --letters FILE, or --to csv|json for a table"
        )
    stages = 1 + sum(e is not None for e in extras) + (args.output is not None or args.to != "html")
    with Progress.for_args(args, stages) as progress:
        reg, pupils = _load(args, progress)
        if not reg.n_enrolments:
            raise AttendanceError(f"{_names(args.files)}: no marks to report on")
        as_of = resolve_as_of(reg, args.as_of)
        if args.to == "html" and args.output is not None:
            progress.step("writing the HTML report")
            html_report(
                reg,
                args.output,
                pupils=pupils,
                scheme=args.scheme,
                as_of=as_of,
                top=args.top,
                title=args.title,
            )
        elif args.to != "html":
            progress.step(f"building the {args.table} table")
            table = _report_table(args.table, reg, pupils, as_of, args.scheme)
        if args.tsm is not None:
            progress.step("writing the Targeting Support Meeting pack")
            written = write_tsm_pack(tsm_pack(reg, pupils, as_of), args.tsm)
        if args.governors is not None:
            from .printed import governor_summary

            progress.step("writing the governor summary")
            governor_summary(reg, args.governors, pupils=pupils, as_of=as_of, scheme=args.scheme)
        if args.letters is not None:
            from .printed import parent_letters

            progress.step("writing the parent letters")
            below = None if args.letters_below is None else args.letters_below / 100
            parent_letters(reg, args.letters, pupils=pupils, as_of=as_of, below=below)
    if args.to != "html":
        _emit(table, args.to, args.output)
    elif args.output is not None:
        _note(args, f"report written to {args.output}")
    if args.tsm is not None:
        _note(args, f"Targeting Support Meeting pack: {len(written)} file(s) in {args.tsm}")
    for kind, path in (("governor summary", args.governors), ("parent letters", args.letters)):
        if path is not None:
            _note(args, f"{kind} written to {path}")
    return 0


def _cmd_formats(args: argparse.Namespace) -> int:
    from .adapters import formats

    names = formats()
    if not names:
        _note(args, "no adapters installed (reinstall attendance-core: pip install .)")
    for name in names:
        print(terminal_text(name))
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from . import demo
    from .measures import classify
    from .register import Register
    from .reports import _pct, band_summary

    with Progress.for_args(args, 3 + (args.output is not None)) as progress:
        progress.step("building the demo school")
        long, pupils = demo.school(seed=args.seed)
        reg = Register.from_long(long, pupils=pupils)
        progress.step("classifying")
        table = classify(reg, scheme=DEFAULT_SCHEME)
        summary = band_summary(table)
        progress.step("recommending next steps")
        need = most_in_need(reg, table, pupils)
        if args.output:
            progress.step("writing the HTML report")
            from .reports import html_report

            html_report(reg, args.output, pupils=pupils)
    out = _TerminalOut(sys.stdout)
    out.write(
        f"Demo school: {reg.n_enrolments} pupils, {len(reg.dates)} dates "
        f"({reg.dates[0]} to {reg.dates[-1]}), five-band scheme\n\n"
    )
    # the data is a fraction (0.573); only this display shows it as a percentage (57.3%)
    shown = summary.assign(percent=summary["percent"].map(_pct))
    out.write(shown.to_string() + "\n\n")
    out.write("Ten pupils most in need of action\n")
    with pd.option_context("display.width", 200, "display.max_colwidth", 70):
        out.write(need.to_string() + "\n")
    if args.output:
        _note(args, f"report written to {args.output}")
    if args.exports:
        written = demo.write_exports(args.exports)
        _note(args, f"sample exports written to {args.exports}: " + ", ".join(sorted(written)))
    return 0


def most_in_need(
    reg: Any, table: pd.DataFrame, pupils: pd.DataFrame | None, n: int = 10
) -> pd.DataFrame:
    """The ``n`` pupils most in need of action, ranked as in the HTML report (worst band,
    then lowest attendance, then most unauthorised absence), with the most urgent next step
    :func:`recommend` gives when run on the whole register (earliest due, then the most
    escalated stage)."""
    from .bands import band_scheme
    from .reports import _need_rank, _pct, next_steps

    ranked = _need_rank(table, band_scheme(DEFAULT_SCHEME))
    top = ranked.head(n)
    ids = top.index.get_level_values("pupil_id")
    year = (
        pupils["year_group"].reindex(ids).to_numpy()
        if pupils is not None and "year_group" in pupils.columns
        else [""] * len(top)
    )
    view = pd.DataFrame(
        {
            "year": year,
            "attendance": top["attendance_rate"].map(_pct).to_numpy(),
            "unauthorised": top["unauthorised"].to_numpy(),
            "band": top["band"].astype(str).to_numpy(),
        },
        index=top.index,
    )
    steps = next_steps(reg, pupils=pupils)
    first: dict[str, str] = {}
    if len(steps):
        order = steps.assign(_stage=[-int(getattr(s, "order", 0)) for s in steps["stage"]])
        order = order.sort_values(["due", "_stage"], kind="stable")
        for rec in order.to_dict("records"):
            due = "" if pd.isna(rec["due"]) else f", by {pd.Timestamp(rec['due']).date()}"
            first.setdefault(str(rec["pupil_id"]), f"{rec['action']} ({rec['lead']}{due})")
    view["next step"] = [first.get(str(p), "") for p in ids]
    return view


def _warning_line(args: argparse.Namespace) -> Callable[..., None]:
    """A ``warnings.showwarning`` that prints ``attendance-core: note: …`` (once per message,
    on one line) and nothing with ``--quiet``."""
    seen: set[str] = set()

    def show(message: Warning | str, *_: Any, **__: Any) -> None:
        text = " ".join(str(message).split())
        if text not in seen:
            seen.add(text)
            _note(args, text)

    return show


def _shown_error(exc: AttendanceError, args: argparse.Namespace) -> AttendanceError:
    """``exc`` as it may be shown: with ``--pseudonymise-key-file``, an id it quotes (a row
    refused by ``--errors raise``) is shown as its pseudonym."""
    from .errors import RegisterError

    key_file = getattr(args, "pseudonymise_key_file", None)
    if key_file is None or not isinstance(exc, RegisterError):
        return exc
    from .privacy import pseudonymise_error, pseudonymise_key_file

    try:
        return pseudonymise_error(exc, pseudonymise_key_file(key_file))
    except AttendanceError as other:  # the key file itself is at fault
        return other


class _TerminalOut:
    """A stream whose text is escaped for a terminal (:func:`~attendance_core.io.terminal_text`)."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream

    def write(self, text: str) -> int:
        return int(self.stream.write(terminal_text(text)))


class _UsageError(AttendanceError):
    """Bad combination of options."""


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handlers: dict[str, Callable[[argparse.Namespace], int]] = {
        "classify": _cmd_classify,
        "demo": _cmd_demo,
        "formats": _cmd_formats,
        "recommend": _cmd_recommend,
        "report": _cmd_report,
    }
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        handler = handlers.get(args.command) or args.handler  # the extras set their handler
        with warnings.catch_warnings():
            warnings.showwarning = _warning_line(args)  # one clean line, never source code
            code = handler(args)
            sys.stdout.flush()  # a closed pipe shows here, not at interpreter exit
            return code
    except BrokenPipeError:
        # `attendance-core … | head`: the reader has gone; end quietly as cat or grep would
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141
    except AttendanceError as exc:
        message = " ".join(str(_shown_error(exc, args)).split())
        print(terminal_text(f"attendance-core: {message}"), file=sys.stderr)
        return 2
    except OSError as exc:
        where = exc.filename or ""
        print(terminal_text(f"attendance-core: {where}: {exc.strerror or exc}"), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("attendance-core: interrupted", file=sys.stderr)
        return 130
