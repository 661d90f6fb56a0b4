"""The ``attendance-core`` command line.

Exit code 0 on success, 2 on bad usage or unreadable input, with one clear line on stderr.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

import pandas as pd

from .errors import AttendanceError

__all__ = ["main"]

EXAMPLES = """\
examples:
  attendance-core demo
  attendance-core classify marks.csv --scheme five-band --from 2024-09-01 --to-date 2025-07-31
  attendance-core classify marks.csv --to csv --output bands.csv
  attendance-core formats
"""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"attendance-core: {message}\n")


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for documentation and tests)."""
    parser = _Parser(
        prog="attendance-core",
        description="School attendance for England: bands, stages of support, next steps.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quiet", action="store_true", help="print nothing but results")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    demo = sub.add_parser("demo", help="run the main job on the built-in demo school",
                          description="Classify the built-in synthetic school and print the "
                          "five-band table and the ten pupils most in need of action.")
    demo.add_argument("--seed", type=int, default=0, help="which demo school (default 0)")
    demo.add_argument("--output", type=Path, help="also write the HTML report to this file")

    cls = sub.add_parser(
        "classify", help="attendance figures and band of every pupil",
        description="Read a register (by default the long CSV layout of the API contract: "
        "pupil_id, date, session, code and optional school_id) and print every pupil's "
        "figures and band.",
        epilog="example: attendance-core classify marks.csv --scheme five-band --to csv",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _input_options(cls)
    cls.add_argument("--scheme", default="dfe",
                     help="dfe (default), five-band, or a scheme TOML file")
    cls.add_argument("--from", dest="start", type=_date, help="first date, inclusive")
    cls.add_argument("--to-date", "--until", dest="end", type=_date,
                     help="last date, inclusive")
    _output_options(cls, ("table", "csv", "json"))

    sub.add_parser("formats", help="list the installed MIS adapters")
    return parser


def _input_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", type=Path, help="the register export to read")
    p.add_argument("--format", help="adapter name (see `attendance-core formats`); "
                   "default: the long CSV layout, or detection when adapters are installed")
    p.add_argument("--errors", choices=("raise", "collect"), default="raise",
                   help="stop at the first bad row (default) or leave bad rows out")
    p.add_argument("--rejected", type=Path, help="write rejected rows to this CSV file")


def _output_options(p: argparse.ArgumentParser, kinds: Sequence[str]) -> None:
    p.add_argument("--to", dest="to", choices=kinds, default=kinds[0],
                   help=f"output format ({', '.join(kinds)}; default {kinds[0]})")
    p.add_argument("--output", type=Path, help="write to this file instead of stdout")


def read_long_csv(path: Path, errors: str = "raise") -> Any:
    """A register from a CSV in the long layout of the API contract (``row`` = file line)."""
    from .register import Register

    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise AttendanceError(f"{path.name}: cannot read ({type(exc).__name__})") from exc
    frame.index = pd.RangeIndex(2, len(frame) + 2)  # line 1 is the header
    return Register.from_long(frame, errors=errors,  # type: ignore[arg-type]
                              source=path.name)


def _load(args: argparse.Namespace) -> Any:
    if not args.file.exists():
        raise AttendanceError(f"{args.file}: no such file")
    if args.format:
        from .adapters import load

        result = load(args.file, format=args.format, errors=args.errors)
        reg, rejected = result.register, result.rejected
    else:
        reg = read_long_csv(args.file, args.errors)
        rejected = reg.rejected
    if len(rejected):
        if args.rejected:
            from .reports import to_csv

            to_csv(rejected, args.rejected)
        if not args.quiet:
            print(f"attendance-core: {len(rejected)} row(s) rejected"
                  + (f", listed in {args.rejected}" if args.rejected else
                     " (use --rejected FILE to list them)"), file=sys.stderr)
    return reg


def _emit(frame: pd.DataFrame, kind: str, output: Path | None) -> None:
    if kind == "csv":
        if output:
            from .reports import to_csv

            to_csv(frame, output)
            return
        buffer = io.StringIO()
        frame.to_csv(buffer)
        text = buffer.getvalue()
    elif kind == "json":
        text = frame.reset_index().to_json(orient="records", date_format="iso", indent=1) + "\n"
    else:
        text = frame.to_string() + "\n"
    if output:
        from .io import write_text_atomic

        write_text_atomic(output, text)
    else:
        sys.stdout.write(text)


def _cmd_classify(args: argparse.Namespace) -> int:
    from .measures import classify

    reg = _load(args)
    table = classify(reg, scheme=args.scheme, start=args.start, end=args.end)
    _emit(table, args.to, args.output)
    return 0


def _cmd_formats(args: argparse.Namespace) -> int:
    from .adapters import formats

    names = formats()
    if not names and not args.quiet:
        print("no adapters installed (pip install ./adapters/generic ...)", file=sys.stderr)
    for name in names:
        print(name)
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from . import demo
    from .measures import classify
    from .register import Register
    from .reports import band_summary

    long, pupils = demo.school(seed=args.seed)
    reg = Register.from_long(long, pupils=pupils)
    table = classify(reg, scheme="five-band")
    summary = band_summary(table)
    out = sys.stdout
    out.write(f"Demo school: {reg.n_enrolments} pupils, {len(reg.dates)} dates "
              f"({reg.dates[0]} to {reg.dates[-1]}), five-band scheme\n\n")
    shown = summary.assign(percent=summary["percent"].round(1))
    out.write(shown.to_string() + "\n\n")
    need = most_in_need(reg, table, pupils)
    out.write("Ten pupils most in need of action\n")
    out.write(need.to_string() + "\n")
    if args.output:
        from .reports import html_report

        html_report(reg, args.output, pupils=pupils)
        if not args.quiet:
            print(f"attendance-core: report written to {args.output}", file=sys.stderr)
    return 0


def most_in_need(reg: Any, table: pd.DataFrame, pupils: pd.DataFrame, n: int = 10
                 ) -> pd.DataFrame:
    """The ``n`` pupils most in need of action: lowest attendance first, then most
    unauthorised absence, with the first recommended next step when recommend is available."""
    ranked = table[table["possible"] > 0].sort_values(
        ["attendance_rate", "unauthorised"], ascending=[True, False], kind="stable")
    top = ranked.head(n)
    view = pd.DataFrame({
        "year": pupils["year_group"].reindex(top.index.get_level_values("pupil_id")).to_numpy()
        if "year_group" in pupils.columns else "",
        "attendance": (100 * top["attendance_rate"]).round(1).map("{:.1f}%".format).to_numpy(),
        "unauthorised": top["unauthorised"].to_numpy(),
        "band": top["band"].astype(str).to_numpy(),
    }, index=top.index)
    try:
        from .escalation import recommend
    except ImportError:
        return view
    steps = recommend(reg.select(pupils=list(top.index.get_level_values("pupil_id"))),
                      pupils=pupils)
    first: dict[str, str] = {}
    for step in steps:
        first.setdefault(step.pupil_id, f"{step.action} ({step.lead})")
    view["next step"] = [first.get(p, "") for p in top.index.get_level_values("pupil_id")]
    return view


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handlers = {"classify": _cmd_classify, "demo": _cmd_demo, "formats": _cmd_formats}
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        return handlers[args.command](args)
    except AttendanceError as exc:
        print(f"attendance-core: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"attendance-core: {exc.filename or ''}: {exc.strerror}", file=sys.stderr)
        return 2
