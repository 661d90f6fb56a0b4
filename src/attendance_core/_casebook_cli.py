"""Command-line parts of the casebook and the LA service: ``serve``, ``token``, ``casebook``
(purge, audit) and ``recommend --casebook``. Registered by
:func:`attendance_core.cli.build_parser`; nothing here imports SQLAlchemy or FastAPI until a
command runs, so the CLI works without the extras.

The casebook URL may also come from ``$ATTENDANCE_CORE_CASEBOOK`` (keeps a PostgreSQL password
out of the process list and the shell history).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
from pathlib import Path
from typing import Any

from .errors import AttendanceError

__all__ = ["add_commands", "add_recommend_options", "recommend_with_casebook"]

ENV_URL = "ATTENDANCE_CORE_CASEBOOK"

SERVE_EXAMPLES = """\
examples:
  attendance-core serve --casebook sqlite:///cases.db
  ATTENDANCE_CORE_CASEBOOK=postgresql+psycopg://attendance@db/cases \\
      attendance-core serve --host 127.0.0.1 --port 8080
"""

ACCESS_EXAMPLES = """\
examples:
  attendance-core token add --casebook sqlite:///cases.db --school 100001
  attendance-core token add --casebook sqlite:///cases.db --la --label "LA attendance team"
  attendance-core token list --casebook sqlite:///cases.db
  attendance-core token revoke --casebook sqlite:///cases.db 3f2a9c01b7de
"""


CASEBOOK_EXAMPLES = """\
examples:
  attendance-core casebook purge --casebook sqlite:///cases.db --before 2023-09-01
  attendance-core casebook audit --casebook sqlite:///cases.db --pupil A123456789012
"""


def date_argument(text: str) -> dt.date:
    """A command-line date by the one date policy (:func:`~attendance_core.calendar.as_date`:
    ISO, within the register's bounds); an argparse error naming the fault otherwise."""
    from .calendar import as_date

    try:
        return as_date(text)
    except AttendanceError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix("date: ")) from None


class _MissingExtra(AttendanceError):
    """An optional dependency is not installed."""


def _casebook_option(p: argparse.ArgumentParser, required_help: str) -> None:
    p.add_argument(
        "--casebook",
        metavar="URL",
        default=None,
        help=required_help + f" (default: ${ENV_URL})",
    )


def add_recommend_options(rec: argparse.ArgumentParser) -> None:
    """``recommend --casebook URL``: history read from the casebook, steps saved to it."""
    rec.add_argument(
        "--casebook",
        metavar="URL",
        default=None,
        help="read the case history and plans from this casebook (SQLAlchemy URL, e.g. "
        "sqlite:///cases.db) and save the steps to it; --history's events are added to it "
        "first; with --pseudonymise-key-file the casebook's pseudonyms are made with that key",
    )


def add_commands(sub: Any) -> None:
    """Add ``serve`` and ``token`` to the subcommands ``sub`` (an argparse subparsers)."""
    serve = sub.add_parser(
        "serve",
        help="run the LA service over a casebook (extra: service)",
        description="Serve the casebook over HTTP: registers in, next steps out, step "
        "statuses and case history kept; every request needs a token from `token add`.",
        epilog=SERVE_EXAMPLES,
    )
    _casebook_option(serve, "the casebook's SQLAlchemy URL")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="port to listen on (8000)")
    serve.add_argument(
        "--key-file",
        type=Path,
        metavar="KEYFILE",
        help="pseudonymous mode: the key file the casebook's pseudonyms are made with",
    )
    serve.add_argument(
        "--max-upload-mb",
        type=int,
        default=64,
        help="largest register export accepted, in MiB (default 64)",
    )
    serve.set_defaults(handler=_cmd_serve)

    token = sub.add_parser(
        "token",
        help="make, list or revoke the service's bearer tokens (extra: casebook)",
        description="Bearer tokens for the LA service. A school's token sees only that "
        "school's pupils; an LA token sees all. Tokens are stored hashed: `token add` prints "
        "the token once.",
        epilog=ACCESS_EXAMPLES,
    )
    actions = token.add_subparsers(dest="token_command", metavar="ACTION", required=True)
    add = actions.add_parser("add", help="make a token and print it")
    _casebook_option(add, "the casebook's SQLAlchemy URL")
    who = add.add_mutually_exclusive_group(required=True)
    who.add_argument("--school", metavar="ID", help="a token for this school (its URN or id)")
    who.add_argument("--la", action="store_true", help="a token for the LA: every school")
    add.add_argument("--label", help="who holds the token (shown in the audit)")
    add.set_defaults(handler=_cmd_token_add)
    lst = actions.add_parser("list", help="list the tokens (never the tokens themselves)")
    _casebook_option(lst, "the casebook's SQLAlchemy URL")
    lst.set_defaults(handler=_cmd_token_list)
    rev = actions.add_parser("revoke", help="revoke a token by its id (from `token list`)")
    _casebook_option(rev, "the casebook's SQLAlchemy URL")
    rev.add_argument("token_id", help="the token's id")
    rev.set_defaults(handler=_cmd_token_revoke)
    book = sub.add_parser(
        "casebook",
        help="retention and audit of a casebook (extra: casebook)",
        description="Delete pupil data older than a date (the deletion is audited), or show "
        "who read or changed which pupil's record.",
        epilog=CASEBOOK_EXAMPLES,
    )
    tasks = book.add_subparsers(dest="casebook_command", metavar="ACTION", required=True)
    purge = tasks.add_parser("purge", help="delete pupil data older than --before")
    _casebook_option(purge, "the casebook's SQLAlchemy URL")
    purge.add_argument(
        "--before", required=True, type=date_argument, help="first day kept (YYYY-MM-DD)"
    )
    purge.set_defaults(handler=_cmd_purge)
    audit = tasks.add_parser("audit", help="the audit trail, oldest first")
    _casebook_option(audit, "the casebook's SQLAlchemy URL")
    audit.add_argument("--pupil", metavar="ID", help="only this pupil's record")
    audit.add_argument("--since", type=date_argument, help="only from this day (YYYY-MM-DD)")
    audit.add_argument(
        "--output", type=Path, help="write CSV here (safe to open in Excel) instead of printing"
    )
    audit.set_defaults(handler=_cmd_audit)
    for p in (serve, token, add, lst, rev, book, purge, audit):
        p.add_argument(
            "--quiet", action="store_true", default=argparse.SUPPRESS, help="print only results"
        )


def _url(args: argparse.Namespace) -> str:
    url = args.casebook or os.environ.get(ENV_URL)
    if not url:
        raise AttendanceError(f"give --casebook URL (or set ${ENV_URL})")
    return str(url)


def _open(url: str, key: Any = None) -> Any:
    try:
        from .casebook import Casebook
    except ImportError as exc:
        raise _MissingExtra(
            f"the casebook needs {exc.name or 'SQLAlchemy'}: "
            "pip install 'attendance-core[casebook]'"
        ) from None
    try:
        return Casebook(url, key=key)
    except ImportError as exc:
        if exc.name in ("alembic", "sqlalchemy", "mako"):
            raise _MissingExtra(
                f"the casebook needs {exc.name}: pip install 'attendance-core[casebook]'"
            ) from None
        raise _MissingExtra(  # a database driver (psycopg) is missing
            f"the casebook URL needs the driver {exc.name or 'of its database'}: "
            "pip install 'attendance-core[postgresql]' for PostgreSQL"
        ) from None
    except Exception as exc:
        import sqlalchemy as sa

        if isinstance(exc, sa.exc.ArgumentError):
            raise AttendanceError(f"not a database URL: {url[:60]!r}") from None
        raise


def _cmd_serve(args: argparse.Namespace) -> int:
    url = _url(args)
    try:
        from .service import serve
    except ImportError as exc:
        raise _MissingExtra(
            f"the service needs {exc.name or 'FastAPI'}: pip install 'attendance-core[service]'"
        ) from None
    if args.max_upload_mb < 1:
        raise AttendanceError("--max-upload-mb must be at least 1")
    serve(
        url,
        host=args.host,
        port=args.port,
        key=args.key_file,
        max_upload_bytes=args.max_upload_mb * 1024 * 1024,
    )
    return 0


def _cmd_token_add(args: argparse.Namespace) -> int:
    cb = _open(_url(args))
    try:
        token = cb.add_token(school_id=args.school, la=bool(args.la), label=args.label)
    finally:
        cb.close()
    print(token)
    if not getattr(args, "quiet", False):
        print(
            "attendance-core: keep this token safe; it is shown only now (stored hashed)",
            file=sys.stderr,
        )
    return 0


def _cmd_token_list(args: argparse.Namespace) -> int:
    cb = _open(_url(args))
    try:
        frame = cb.tokens()
    finally:
        cb.close()
    print(frame.to_string(index=False) if len(frame) else "no tokens")
    return 0


def _cmd_token_revoke(args: argparse.Namespace) -> int:
    cb = _open(_url(args))
    try:
        cb.revoke_token(args.token_id)
    finally:
        cb.close()
    return 0


def _cmd_purge(args: argparse.Namespace) -> int:
    cb = _open(_url(args))
    try:
        counts = cb.purge(before=args.before)
    finally:
        cb.close()
    print(", ".join(f"{n} {kind} deleted" for kind, n in counts.items()))
    return 0


def _cmd_audit(args: argparse.Namespace) -> int:
    cb = _open(_url(args))
    try:
        frame = cb.audit(pupil_id=args.pupil, since=args.since)
    finally:
        cb.close()
    if args.output is not None:
        from .reports import to_csv

        to_csv(frame, args.output)
    else:
        print(frame.to_string(index=False) if len(frame) else "no audit rows")
    return 0


def recommend_with_casebook(
    args: argparse.Namespace, reg: Any, pupils: Any, plans: Any, history: Any = None
) -> list[Any]:
    """``recommend --casebook``: the steps recommended with the casebook's history and plans,
    saved to it; ``history`` (from ``--history``) is added to the casebook first. The register
    was pseudonymised already when a key file was given."""
    key = getattr(args, "pseudonymise_key_file", None)
    cb = _open(str(args.casebook), key=key)
    try:
        if history is not None:
            cb.add_history(history)
        steps, ids = cb.recommend_steps(
            reg, pupils, plans, args.as_of, args.policy, pseudonymised=key is not None
        )
    finally:
        cb.close()
    if not getattr(args, "quiet", False):
        print(f"attendance-core: {len(set(ids))} step(s) saved to the casebook", file=sys.stderr)
    return list(steps)
