"""The casebook: case history, steps and their lifecycle, plans and an audit trail in a database.

``Casebook(url)`` opens any SQLAlchemy URL — a SQLite file is the embedded default
(``sqlite:///cases.db``), PostgreSQL the deployment target (``postgresql+psycopg://…``) — and
creates or migrates its schema with Alembic (the migrations ship inside this package). Needs the
extra ``attendance-core[casebook]``.

What it keeps and why:

* **history** (:meth:`Casebook.add_history`, :meth:`Casebook.history`): the
  :class:`~attendance_core.CaseEvent` rows enforcement depends on; the same event added twice is
  one row;
* **steps** (:meth:`Casebook.save_steps`, :meth:`Casebook.steps`, :meth:`Casebook.set_status`):
  every recommended step with a stable ``step_id`` and a status (``proposed`` → ``accepted`` →
  ``done`` or ``dismissed``), who changed it and when; a step marked ``done`` records the history
  event it stands for (:data:`DONE_EVENTS`), so the next ``recommend(history=cb.history())`` does
  not ask for it again;
* **plans** (:meth:`Casebook.save_plan`, :meth:`Casebook.plans`) for ``recommend(plans=...)``;
* **audit** (:meth:`Casebook.audit`): who read or changed which pupil's record, and when;
* **tokens** for the LA service (:meth:`Casebook.add_token`), stored as SHA-256 hashes.

Roles: ``cb.for_school(school_id, user)`` is a view of the casebook that reads only that school's
rows and refuses to write another school's (a step of another school is "not found"); the
casebook itself (and an LA token in the service) sees every school. With ``key=`` the casebook
stores keyed pseudonyms (:mod:`attendance_core.privacy`) instead of pupil and parent ids: ids
given to it are pseudonymised on the way in, and what it returns carries the pseudonyms. The key
stays outside the database; a fingerprint of it is kept so a casebook cannot be opened with the
wrong key (or none).
"""

from __future__ import annotations

import datetime as dt
import getpass
import hashlib
import hmac
import json
import os
import secrets
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final

import attrs
import numpy as np
import pandas as pd

try:
    import sqlalchemy as sa
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    from ..errors import AttendanceError

    class MissingExtraError(AttendanceError, ImportError):
        """An optional dependency of attendance-core is not installed."""

    raise MissingExtraError(
        "the casebook needs SQLAlchemy and Alembic: pip install 'attendance-core[casebook]'"
    ) from exc

from ..errors import AttendanceError
from ..history import EVENTS, CaseEvent, CaseHistory, as_history
from . import _schema as t

__all__ = [
    "DONE_EVENTS",
    "STATUSES",
    "TRANSITIONS",
    "Casebook",
    "CasebookError",
    "NotPermittedError",
    "StepNotFoundError",
    "TokenInfo",
    "TransitionError",
]

#: Step statuses, in lifecycle order.
STATUSES: Final[tuple[str, ...]] = ("proposed", "accepted", "done", "dismissed")

#: The statuses a step may move to from each status. ``done`` is final: it has recorded its
#: history event, and undoing that is a correction of the history, not of the step.
TRANSITIONS: Final[Mapping[str, frozenset[str]]] = {
    "proposed": frozenset({"accepted", "done", "dismissed"}),
    "accepted": frozenset({"proposed", "done", "dismissed"}),
    "done": frozenset(),
    "dismissed": frozenset({"proposed"}),
}

#: The history event a step records when it is marked ``done`` (api.md, "Casebook"). Steps not
#: listed record none: doing them is not a fact the rules read.
DONE_EVENTS: Final[Mapping[str, str]] = {
    "notify_la_continuous_absence": "la_notified_continuous_absence",
    "notify_la_illness_15_days": "la_notified_illness",
    "consult_attendance_officer": "attendance_officer_consulted",
    "agree_with_social_worker": "social_worker_agreed",
    "notice_to_improve": "notice_to_improve",
}


_HEAD: Final[str] = "0001"
_ROLES: Final[frozenset[str]] = frozenset({"school", "la"})
_CHUNK: Final[int] = 500
_TOKEN_PREFIX: Final[str] = "acb_"  # noqa: S105 - a marker, not a secret
_KEY_CHECK: Final[bytes] = b"attendance-core casebook key check v1"
_LOCK_ID: Final[int] = 0x61632D636173  # "ac-cas": the migration's advisory lock


class CasebookError(AttendanceError, ValueError):
    """The casebook cannot do what was asked: a bad status, a foreign school, a wrong key."""


class StepNotFoundError(CasebookError, LookupError):
    """No step with this id (or none the caller may see)."""


class NotPermittedError(CasebookError, PermissionError):
    """The view may not do this: another school's data, or a whole-casebook task."""


class TransitionError(CasebookError):
    """A status change the step lifecycle does not allow (:data:`TRANSITIONS`)."""


@attrs.frozen(kw_only=True)
class TokenInfo:
    """Who a bearer token speaks for: ``role`` ``school`` (with its ``school_id``) or ``la``."""

    token_id: str
    role: str
    school_id: str | None
    label: str

    @property
    def user(self) -> str:
        """The name the audit records for this token's requests."""
        return f"token:{self.token_id}:{self.label}"


def _now() -> dt.datetime:
    # stored naive in UTC: SQLite keeps no zone and PostgreSQL's timestamp is compared as is
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def _digest(*parts: str | None) -> str:
    text = "\x1f".join("\x00" if p is None else p for p in parts)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _iso(day: dt.date | None) -> str | None:
    return None if day is None else day.isoformat()


def _day(value: Any, name: str) -> dt.date:
    from ..calendar import as_date

    return as_date(value, name)


def _chunks(values: Sequence[Any], size: int = _CHUNK) -> Iterator[Sequence[Any]]:
    for i in range(0, len(values), size):
        yield values[i : i + size]


# ------------------------------------------------------------------------------ evidence
def _to_json(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return {"$date": value.date().isoformat()}
    if isinstance(value, dt.date):
        return {"$date": value.isoformat()}
    if isinstance(value, Mapping):
        return {str(k): _to_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset | np.ndarray):
        return [_to_json(v) for v in value]
    if isinstance(value, np.generic):
        return _to_json(value.item())
    if isinstance(value, float) and np.isnan(value):
        return None
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def _from_json(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"$date"}:
            return dt.date.fromisoformat(value["$date"])
        return {k: _from_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_from_json(v) for v in value]
    return value


def evidence_json(evidence: Mapping[str, Any]) -> str:
    """A step's evidence as JSON text (dates as ``{"$date": "YYYY-MM-DD"}``, sorted keys)."""
    return json.dumps(_to_json(dict(evidence)), sort_keys=True)


def evidence_from_json(text: str) -> dict[str, Any]:
    """The evidence mapping back from :func:`evidence_json`."""
    value = _from_json(json.loads(text))
    return value if isinstance(value, dict) else {}


# ------------------------------------------------------------------------------ engine
def _engine(url: str | sa.engine.URL, echo: bool) -> sa.engine.Engine:
    parsed = sa.engine.make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return sa.create_engine(parsed, echo=echo, pool_pre_ping=True)
    database = parsed.database or ""
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    if not database or database == ":memory:":
        # one connection shared by every thread, or each would see its own empty database
        engine = sa.create_engine(
            parsed,
            echo=echo,
            connect_args={"check_same_thread": False},
            poolclass=sa.pool.StaticPool,
        )
    else:
        engine = sa.create_engine(parsed, echo=echo, connect_args={"timeout": 60})

    @sa.event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        # let SQLAlchemy (below) issue BEGIN, so that it can be BEGIN IMMEDIATE
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA busy_timeout = 60000")
        if database and database != ":memory:":
            cursor.execute("PRAGMA journal_mode = WAL")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _begin(connection: sa.Connection) -> None:
        # take the write lock at the start: two writers that both read first would otherwise
        # deadlock on the upgrade, and one of them fail with "database is locked"
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def _migrate(engine: sa.engine.Engine) -> None:
    from alembic import command
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", "attendance_core.casebook:migrations")
    script = ScriptDirectory.from_config(config)
    known = {rev.revision for rev in script.walk_revisions()}
    with engine.connect() as connection:
        inspector = sa.inspect(connection)
        if inspector.has_table("alembic_version"):
            current = connection.execute(sa.text("SELECT version_num FROM alembic_version"))
            for (revision,) in current:
                if revision not in known:
                    raise CasebookError(
                        f"the casebook database is at schema revision {revision!r}, newer than "
                        "this attendance-core knows; upgrade attendance-core"
                    )
        connection.commit()
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            # several service workers may open the casebook at once: one migrates, the others
            # wait and find it done (SQLite's BEGIN IMMEDIATE does the same there)
            connection.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_ID})
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def _pseudonymiser(key: Any) -> Any:
    if key is None:
        return None
    from ..privacy import Pseudonymiser, pseudonymise_key_file

    if isinstance(key, os.PathLike):
        key = pseudonymise_key_file(key)
    return Pseudonymiser(key)


@attrs.frozen
class _Scope:
    user: str
    school_id: str | None  # None: every school (the LA)


class Casebook:
    """Case history, steps, plans and audit in a SQL database (see the module notes).

    ``url`` is any SQLAlchemy URL (default ``sqlite:///cases.db``); the schema is created or
    migrated on open. ``key`` (bytes, text or a key file path) turns on pseudonymous mode.
    ``user`` names who acts, for the audit and the step lifecycle (default: the login name).
    ``policy`` (default ``england-2024``) gives a notice to improve marked done its improvement
    period and is the policy :meth:`recommend` uses unless told otherwise.
    """

    def __init__(
        self,
        url: str | sa.engine.URL = "sqlite:///cases.db",
        *,
        key: bytes | str | os.PathLike[str] | None = None,
        user: str | None = None,
        policy: Any = "england-2024",
        echo: bool = False,
    ) -> None:
        from ..policy import resolve_policy

        self._policy = resolve_policy(policy)
        self._engine = _engine(url, echo)
        try:
            _migrate(self._engine)
        except sa.exc.OperationalError as exc:
            self._engine.dispose()
            raise CasebookError(
                f"cannot open the casebook database: {type(exc.orig).__name__}"
            ) from None
        self._pseudo = _pseudonymiser(key)
        self._scope = _Scope(user=user or _login(), school_id=None)
        self._check_key()

    # ------------------------------------------------------------------------ views
    @classmethod
    def _view(cls, parent: Casebook, scope: _Scope) -> Casebook:
        view = cls.__new__(cls)
        view._engine = parent._engine
        view._policy = parent._policy
        view._pseudo = parent._pseudo
        view._scope = scope
        return view

    def for_school(self, school_id: str, user: str | None = None) -> Casebook:
        """A view that reads only ``school_id``'s rows and writes only for that school."""
        if not isinstance(school_id, str) or not school_id.strip():
            raise CasebookError("for_school needs a school id")
        return Casebook._view(self, _Scope(user=user or self._scope.user, school_id=school_id))

    def as_user(self, user: str) -> Casebook:
        """The same view acting as ``user`` (for the audit and the step lifecycle)."""
        return Casebook._view(self, attrs.evolve(self._scope, user=user))

    @property
    def school_id(self) -> str | None:
        """The school this view is limited to, or None for every school."""
        return self._scope.school_id

    @property
    def user(self) -> str:
        """Who this view acts as."""
        return self._scope.user

    @property
    def pseudonymous(self) -> bool:
        """True when pupil and parent ids are stored as keyed pseudonyms."""
        return self._pseudo is not None

    @property
    def engine(self) -> sa.engine.Engine:
        """The SQLAlchemy engine (for backups and inspection; write through the methods)."""
        return self._engine

    def close(self) -> None:
        """Close the database connections."""
        self._engine.dispose()

    def __enter__(self) -> Casebook:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        url = self._engine.url.render_as_string(hide_password=True)
        where = "every school" if self._scope.school_id is None else self._scope.school_id
        return f"Casebook({url!r}, {where}, user={self._scope.user!r})"

    # ------------------------------------------------------------------------ internals
    @contextmanager
    def _tx(self) -> Iterator[sa.Connection]:
        with self._engine.begin() as connection:
            yield connection

    def _check_key(self) -> None:
        mark = (
            "none"
            if self._pseudo is None
            else hmac.new(self._pseudo.key, _KEY_CHECK, hashlib.sha256).hexdigest()
        )
        with self._tx() as c:
            row = c.execute(sa.select(t.meta.c.value).where(t.meta.c.key == "key_check")).first()
            if row is None:
                c.execute(
                    self._insert(t.meta).values(key="key_check", value=mark)
                )  # first open decides the mode
                row = c.execute(
                    sa.select(t.meta.c.value).where(t.meta.c.key == "key_check")
                ).first()
        assert row is not None
        stored = str(row[0])
        if stored == mark:
            return
        self._engine.dispose()
        if stored == "none":
            raise CasebookError(
                "this casebook stores pupil ids, not pseudonyms: open it without a key"
            )
        if self._pseudo is None:
            raise CasebookError("this casebook stores pseudonyms: open it with its key")
        raise CasebookError("this is not the key this casebook's pseudonyms were made with")

    def _insert(self, table: sa.Table) -> Any:
        """INSERT that leaves a row alone when a unique key already holds it."""
        name = self._engine.dialect.name
        if name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            return pg_insert(table).on_conflict_do_nothing()
        if name == "sqlite":
            from sqlalchemy.dialects.sqlite import insert as sqlite_insert

            return sqlite_insert(table).on_conflict_do_nothing()
        return None

    def _insert_new(
        self, c: sa.Connection, table: sa.Table, rows: Sequence[dict[str, Any]]
    ) -> None:
        if not rows:
            return
        stmt = self._insert(table)
        if stmt is not None:
            c.execute(stmt, list(rows))
            return
        for row in rows:  # other databases: one savepoint per row
            try:
                with c.begin_nested():
                    c.execute(table.insert().values(**row))
            except sa.exc.IntegrityError:
                continue

    def _id(self, value: str | None) -> str | None:
        if value is None or self._pseudo is None:
            return value
        return str(self._pseudo(value))

    def _lookup_ids(self, value: str) -> list[str]:
        """The stored ids a caller's pupil id may be: itself, and its pseudonym in that mode."""
        if self._pseudo is None:
            return [value]
        return sorted({value, str(self._pseudo(value))})

    def _school_for_write(self, school_id: str | None, what: str) -> str | None:
        own = self._scope.school_id
        if own is None:
            return school_id
        if school_id is not None and school_id != own:
            raise NotPermittedError(
                f"{what} of school {school_id!r}: this view is for school {own!r}"
            )
        return own

    def _scoped(self, stmt: Any, column: Any, school_id: str | None) -> Any:
        own = self._scope.school_id
        if own is not None:
            if school_id is not None and school_id != own:
                return stmt.where(sa.false())
            return stmt.where(column == own)
        if school_id is not None:
            return stmt.where(column == school_id)
        return stmt

    def _select(
        self,
        table: sa.Table,
        columns: Sequence[str] | None,
        school_id: str | None,
        pupil_id: str | None,
    ) -> Any:
        """``columns`` of ``table`` (every column when None) that the view may see, only
        ``school_id``'s and only ``pupil_id``'s when they are given."""
        stmt = sa.select(table) if columns is None else sa.select(*(table.c[k] for k in columns))
        stmt = self._scoped(stmt, table.c.school_id, school_id)
        if pupil_id is not None:
            stmt = stmt.where(table.c.pupil_id.in_(self._lookup_ids(pupil_id)))
        return stmt

    def _audit(
        self,
        c: sa.Connection,
        action: str,
        subject: str,
        pupils: Iterable[tuple[str | None, str | None]] = (),
        detail: str | None = None,
        *,
        always: bool = False,
    ) -> None:
        at = _now()
        rows = [
            {
                "at": at,
                "actor": self._scope.user,
                "action": action,
                "subject": subject,
                "pupil_id": pupil,
                "school_id": school,
                "detail": detail,
            }
            for school, pupil in sorted(set(pupils), key=lambda p: (p[0] or "", p[1] or ""))
        ]
        if not rows and always:
            rows = [
                {
                    "at": at,
                    "actor": self._scope.user,
                    "action": action,
                    "subject": subject,
                    "pupil_id": None,
                    "school_id": self._scope.school_id,
                    "detail": detail,
                }
            ]
        for chunk in _chunks(rows):
            c.execute(t.audit.insert(), list(chunk))

    # ------------------------------------------------------------------------ history
    def add_history(self, history: CaseHistory | pd.DataFrame | Iterable[CaseEvent]) -> int:
        """Store the events of ``history`` (a :class:`~attendance_core.CaseHistory`, its table
        or events); returns how many were new (an event already stored is kept once).

        In a school's view an event must be of that school or name none (it is then recorded
        as that school's)."""
        events = as_history(history).events
        rows = []
        at = _now()
        for event in events:
            school = self._school_for_write(event.school_id, "an event")
            rows.append(self._event_row(event, school, at))
        return self._store_events(rows, "history")

    def _event_row(
        self, event: CaseEvent, school: str | None, at: dt.datetime, step_id: str | None = None
    ) -> dict[str, Any]:
        pupil = self._id(event.pupil_id)
        parent = self._id(event.parent_id)
        return {
            "event_key": _digest(
                school,
                pupil,
                event.event,
                event.date.isoformat(),
                _iso(event.until),
                parent,
                event.outcome,
                event.note,
            ),
            "school_id": school,
            "pupil_id": pupil,
            "event": event.event,
            "date": event.date,
            "until": event.until,
            "parent_id": parent,
            "outcome": event.outcome,
            "note": event.note,
            "step_id": step_id,
            "recorded_by": self._scope.user,
            "recorded_at": at,
        }

    def _store_events(
        self, rows: Sequence[dict[str, Any]], subject: str, c: sa.Connection | None = None
    ) -> int:
        if c is None:
            with self._tx() as conn:
                return self._store_events(rows, subject, conn)
        keys = [r["event_key"] for r in rows]
        before = self._count_keys(c, keys)
        for chunk in _chunks(list(rows)):
            self._insert_new(c, t.events, chunk)
        added = self._count_keys(c, keys) - before
        self._audit(
            c,
            "write",
            subject,
            ((r["school_id"], r["pupil_id"]) for r in rows),
            f"{added} event(s) added",
        )
        return added

    @staticmethod
    def _count_keys(c: sa.Connection, keys: Sequence[str]) -> int:
        total = 0
        for chunk in _chunks(sorted(set(keys))):
            total += int(
                c.execute(
                    sa.select(sa.func.count()).where(t.events.c.event_key.in_(chunk))
                ).scalar_one()
            )
        return total

    def history(self, school_id: str | None = None, *, pupil_id: str | None = None) -> CaseHistory:
        """The stored events as a :class:`~attendance_core.CaseHistory`, ordered by school,
        pupil, date and event; only ``school_id``'s with it, only ``pupil_id``'s with it.

        A school's view sees only events recorded for that school."""
        from ..history import COLUMNS  # the event table holds a case history's columns

        stmt = self._select(t.events, COLUMNS, school_id, pupil_id)
        stmt = stmt.order_by(
            sa.func.coalesce(t.events.c.school_id, ""),
            t.events.c.pupil_id,
            t.events.c.date,
            t.events.c.event,
            t.events.c.id,
        )
        with self._tx() as c:
            rows = c.execute(stmt).all()
            self._audit(c, "read", "history", ((r.school_id, r.pupil_id) for r in rows))
        return CaseHistory(
            events=[
                CaseEvent(
                    pupil_id=r.pupil_id,
                    school_id=r.school_id,
                    event=r.event,
                    date=r.date,
                    until=r.until,
                    parent_id=r.parent_id,
                    outcome=r.outcome,
                    note=r.note,
                )
                for r in rows
            ]
        )

    # ------------------------------------------------------------------------ steps
    def save_steps(self, steps: Iterable[Any], as_of: Any) -> list[str]:
        """Store recommended steps (:class:`~attendance_core.NextStep`) as of ``as_of``, each
        with status ``proposed``; returns their ``step_id`` in the order given.

        A step is one row per school, pupil and action while it is open (``proposed`` or
        ``accepted``): saving it again, or saving a later recommendation of it, gives the same
        id and leaves its status alone. Once it is ``done`` or ``dismissed``, a recommendation
        as of a later day than it was closed opens a new step; one as of that day or before is
        still the closed step."""
        day = _day(as_of, "as_of")
        return self._save_steps(list(steps), day, ids_given=False)

    def _save_steps(self, steps: list[Any], day: dt.date, *, ids_given: bool) -> list[str]:
        from ..escalation import NextStep

        prepared = []
        for i, step in enumerate(steps):
            if not isinstance(step, NextStep):
                raise CasebookError(f"step {i}: expected a NextStep (got {type(step).__name__})")
            school = self._school_for_write(step.school_id, "a step")
            pupil = step.pupil_id if ids_given else self._id(step.pupil_id)
            assert pupil is not None
            prepared.append((step, school, pupil))
        now = _now()
        ids: list[str] = []
        with self._tx() as c:
            found = self._existing_steps(c, {(s or "", p) for _, s, p in prepared}, day)
            new_rows: list[dict[str, Any]] = []
            for step, school, pupil in prepared:
                key = (school or "", pupil, step.action)
                if key in found:
                    continue
                step_id = _digest(*key, day.isoformat())[:32]
                found[key] = step_id
                new_rows.append(
                    {
                        "step_id": step_id,
                        "school_key": school or "",
                        "school_id": school,
                        "pupil_id": pupil,
                        "stage": str(getattr(step.stage, "value", step.stage)),
                        "action": step.action,
                        "lead": step.lead,
                        "due": step.due,
                        "rule": step.rule,
                        "reason": step.reason,
                        "evidence": evidence_json(step.evidence),
                        "step_note": getattr(step, "note", None),
                        "as_of": day,
                        "status": "proposed",
                        "updated_by": self._scope.user,
                        "updated_on": day,
                        "note": None,
                        "created_at": now,
                        "changed_at": now,
                    }
                )
            inserted = self._insert_steps(c, new_rows)
            if new_rows:
                # a concurrent save may have opened the same step first: read back the winner
                winners = self._existing_steps(
                    c, {(str(r["school_key"]), str(r["pupil_id"])) for r in new_rows}, day
                )
                for row in new_rows:
                    key = (str(row["school_key"]), str(row["pupil_id"]), str(row["action"]))
                    found[key] = winners.get(key, str(row["step_id"]))
            if inserted:
                c.execute(
                    t.step_changes.insert(),
                    [
                        {
                            "step_id": sid,
                            "status": "proposed",
                            "by": self._scope.user,
                            "on": day,
                            "note": None,
                            "at": now,
                        }
                        for sid in inserted
                    ],
                )
            for step, school, pupil in prepared:
                ids.append(found[(school or "", pupil, step.action)])
            self._audit(
                c,
                "write",
                "steps",
                ((s, p) for _, s, p in prepared),
                f"{len(prepared)} step(s) saved as of {day.isoformat()}",
            )
        return ids

    def _insert_steps(self, c: sa.Connection, rows: Sequence[dict[str, Any]]) -> list[str]:
        """Insert new step rows, leaving alone those an open step (or the same id) holds;
        returns the ids actually inserted."""
        stmt = self._insert(t.steps)
        inserted: list[str] = []
        if stmt is not None:
            for chunk in _chunks(list(rows)):
                for one in chunk:  # RETURNING per row: portable across driver versions
                    got = c.execute(stmt.values(**one).returning(t.steps.c.step_id)).first()
                    if got is not None:
                        inserted.append(str(got[0]))
            return inserted
        for one in rows:
            try:
                with c.begin_nested():
                    c.execute(t.steps.insert().values(**one))
                inserted.append(one["step_id"])
            except sa.exc.IntegrityError:
                continue
        return inserted

    @staticmethod
    def _existing_steps(
        c: sa.Connection, keys: set[tuple[str, str]], day: dt.date
    ) -> dict[tuple[str, str, str], str]:
        """Step ids by (school key, pupil, action) that a recommendation as of ``day`` is: the
        open step, else the step closed on or after ``day``."""
        found: dict[tuple[str, str, str], str] = {}
        closed: dict[tuple[str, str, str], tuple[dt.datetime, str]] = {}
        pupils = sorted({p for _, p in keys})
        for chunk in _chunks(pupils):
            stmt = sa.select(
                t.steps.c.step_id,
                t.steps.c.school_key,
                t.steps.c.pupil_id,
                t.steps.c.action,
                t.steps.c.status,
                t.steps.c.updated_on,
                t.steps.c.changed_at,
            ).where(t.steps.c.pupil_id.in_(chunk))
            for r in c.execute(stmt):
                if (r.school_key, r.pupil_id) not in keys:
                    continue
                key = (r.school_key, r.pupil_id, r.action)
                if r.status in t.OPEN_STATUSES:
                    found[key] = r.step_id
                elif r.updated_on is not None and r.updated_on >= day:
                    best = closed.get(key)
                    if best is None or r.changed_at > best[0]:
                        closed[key] = (r.changed_at, r.step_id)
        for key, (_, step_id) in closed.items():
            found.setdefault(key, step_id)
        return found

    def steps(
        self,
        school_id: str | None = None,
        status: str | Iterable[str] | None = None,
        *,
        pupil_id: str | None = None,
        step_ids: Sequence[str] | None = None,
    ) -> pd.DataFrame:
        """The stored steps: the :func:`~attendance_core.steps_frame` columns plus ``step_id``,
        ``status``, ``updated_by``, ``updated_on`` (date) and ``note`` (the note given with the
        last status change), ordered as ``recommend`` orders steps. ``status`` is one status or
        several; ``step_ids`` picks steps by id. ``as_of`` is the day the step was first
        recommended. A step's own ``note`` (for staff, from the policy) is ``step_note`` here."""
        from ..escalation import NextStep, Stage, steps_frame

        stmt = self._select(t.steps, None, school_id, pupil_id)
        if status is not None:
            wanted = [status] if isinstance(status, str) else list(status)
            for s in wanted:
                _check_status(s)
            stmt = stmt.where(t.steps.c.status.in_(wanted))
        with self._tx() as c:
            if step_ids is None:
                rows = list(c.execute(stmt).all())
            else:
                rows = []
                for chunk in _chunks(sorted(set(step_ids))):
                    rows.extend(c.execute(stmt.where(t.steps.c.step_id.in_(chunk))).all())
            self._audit(c, "read", "steps", ((r.school_id, r.pupil_id) for r in rows))
        rows.sort(key=lambda r: (r.school_key, r.pupil_id, Stage(r.stage).order, r.action))
        fields = {f.name for f in attrs.fields(NextStep)}
        built = []
        for r in rows:
            values: dict[str, Any] = {
                "pupil_id": r.pupil_id,
                "school_id": r.school_id,
                "stage": Stage(r.stage),
                "action": r.action,
                "lead": r.lead,
                "due": r.due,
                "rule": r.rule,
                "reason": r.reason,
                "evidence": evidence_from_json(r.evidence),
            }
            if "note" in fields:
                values["note"] = r.step_note
            built.append(NextStep(**values))
        frame = steps_frame(built)
        if "note" in frame.columns:
            frame = frame.rename(columns={"note": "step_note"})
        frame["step_id"] = pd.Series([r.step_id for r in rows], dtype=object)
        frame["status"] = pd.Series([r.status for r in rows], dtype=object)
        frame["updated_by"] = pd.Series([r.updated_by for r in rows], dtype=object)
        frame["updated_on"] = pd.Series([r.updated_on for r in rows], dtype=object)
        frame["note"] = pd.Series([r.note for r in rows], dtype=object)
        frame["as_of"] = pd.Series([r.as_of for r in rows], dtype=object)
        return frame

    def step_changes(self, step_id: str) -> pd.DataFrame:
        """The lifecycle of one step: ``status``, ``by``, ``on``, ``note``, ``at`` (UTC), oldest
        first."""
        with self._tx() as c:
            row = self._visible_step(c, step_id)
            changes = c.execute(
                sa.select(
                    t.step_changes.c.status,
                    t.step_changes.c.by,
                    t.step_changes.c.on,
                    t.step_changes.c.note,
                    t.step_changes.c.at,
                )
                .where(t.step_changes.c.step_id == step_id)
                .order_by(t.step_changes.c.id)
            ).all()
            self._audit(c, "read", "steps", [(row.school_id, row.pupil_id)])
        return pd.DataFrame(
            [tuple(r) for r in changes], columns=["status", "by", "on", "note", "at"], dtype=object
        )

    def _visible_step(self, c: sa.Connection, step_id: str, *, lock: bool = False) -> Any:
        stmt = self._scoped(
            sa.select(t.steps).where(t.steps.c.step_id == str(step_id)), t.steps.c.school_id, None
        )
        if lock:  # PostgreSQL: two changes of one step run one after the other (SQLite: BEGIN
            stmt = stmt.with_for_update()  # IMMEDIATE already does)
        row = c.execute(stmt).first()
        if row is None:
            raise StepNotFoundError(f"no step {str(step_id)[:40]!r}")
        return row

    def set_status(
        self,
        step_id: str,
        status: str,
        by: str | None = None,
        on: Any = None,
        note: str | None = None,
        *,
        until: Any = None,
    ) -> CaseEvent | None:
        """Move a step to ``status`` (see :data:`TRANSITIONS`), recording ``by`` (default: this
        view's user), ``on`` (default today) and ``note``.

        A step marked ``done`` records its history event where one exists
        (:data:`DONE_EVENTS`), dated ``on``; a notice to improve's improvement period runs to
        ``until`` (default: the policy's shortest period after ``on``, 3 weeks in
        ``england-2024``). Returns the event recorded, or None."""
        _check_status(status)
        day = dt.date.today() if on is None else _day(on, "on")
        end = None if until is None else _day(until, "until")
        who = by or self._scope.user
        if note is not None and not isinstance(note, str):
            raise CasebookError("note must be text")
        with self._tx() as c:
            row = self._visible_step(c, step_id, lock=True)
            if status not in TRANSITIONS[row.status]:
                raise TransitionError(
                    f"step {row.step_id!r} is {row.status}: it cannot become {status}"
                    + (
                        f" (it can become {', '.join(sorted(TRANSITIONS[row.status]))})"
                        if TRANSITIONS[row.status]
                        else ""
                    )
                )
            now = _now()
            c.execute(
                t.steps.update()
                .where(t.steps.c.step_id == row.step_id)
                .values(status=status, updated_by=who, updated_on=day, note=note, changed_at=now)
            )
            c.execute(
                t.step_changes.insert().values(
                    step_id=row.step_id, status=status, by=who, on=day, note=note, at=now
                )
            )
            event: CaseEvent | None = None
            name = DONE_EVENTS.get(row.action) if status == "done" else None
            if name is not None:
                if name == "notice_to_improve":
                    weeks = self._policy.framework.improvement_period_weeks[0]
                    end = end if end is not None else day + dt.timedelta(weeks=weeks)
                else:
                    end = None
                event = CaseEvent(
                    pupil_id=row.pupil_id,
                    school_id=row.school_id,
                    event=name,
                    date=day,
                    until=end,
                    note=note,
                )
                stored = self._event_row(event, row.school_id, now, row.step_id)
                stored["pupil_id"] = row.pupil_id  # already stored as the casebook keeps ids
                stored["event_key"] = _digest(
                    row.school_id, row.pupil_id, name, day.isoformat(), _iso(end), None, None, note
                )
                self._insert_new(c, t.events, [stored])
                self._audit(
                    c,
                    "write",
                    "history",
                    [(row.school_id, row.pupil_id)],
                    f"{name} recorded by step {row.step_id}",
                )
            self._audit(
                c,
                "write",
                "steps",
                [(row.school_id, row.pupil_id)],
                f"step {row.step_id} {row.status} -> {status}",
            )
        return event

    # ------------------------------------------------------------------------ plans
    def save_plan(
        self, plan: Any, *, plan_id: str | None = None, school_id: str | None = None
    ) -> str:
        """Store an :class:`~attendance_core.ActionPlan` (replacing the plan of the same
        ``plan_id``); returns its id (a new random one by default)."""
        from ..plans import ActionPlan

        if not isinstance(plan, ActionPlan):
            raise CasebookError(f"save_plan takes an ActionPlan (got {type(plan).__name__})")
        school = self._school_for_write(school_id, "a plan")
        pid = plan_id or uuid.uuid4().hex
        if len(pid) > 64:
            raise CasebookError("plan_id is longer than 64 characters")
        now = _now()
        with self._tx() as c:
            old = c.execute(sa.select(t.plans.c.school_id).where(t.plans.c.plan_id == pid)).first()
            if old is not None:
                self._school_for_write(old.school_id, "a plan")
                c.execute(t.plan_items.delete().where(t.plan_items.c.plan_id == pid))
                c.execute(t.plans.delete().where(t.plans.c.plan_id == pid))
            c.execute(
                t.plans.insert().values(
                    plan_id=pid,
                    title=plan.title,
                    school_id=school,
                    saved_by=self._scope.user,
                    saved_on=now.date(),
                    saved_at=now,
                )
            )
            rows = [
                _item_row(pid, k, item, self._id(item.pupil_id))
                for k, item in enumerate(plan.items)
            ]
            for chunk in _chunks(rows):
                c.execute(t.plan_items.insert(), list(chunk))
            self._audit(
                c,
                "write",
                "plans",
                ((school, r["pupil_id"]) for r in rows if r["pupil_id"] is not None),
                f"plan {pid} saved ({len(rows)} item(s))",
                always=True,
            )
        return pid

    def plans(self, school_id: str | None = None) -> list[Any]:
        """The stored plans (:class:`~attendance_core.ActionPlan`), in the order saved."""
        from ..plans import ActionPlan

        stmt = self._scoped(sa.select(t.plans), t.plans.c.school_id, school_id).order_by(
            t.plans.c.saved_at, t.plans.c.plan_id
        )
        with self._tx() as c:
            heads = c.execute(stmt).all()
            items: dict[str, list[Any]] = {h.plan_id: [] for h in heads}
            for chunk in _chunks(list(items)):
                for r in c.execute(
                    sa.select(t.plan_items)
                    .where(t.plan_items.c.plan_id.in_(chunk))
                    .order_by(t.plan_items.c.plan_id, t.plan_items.c.position)
                ):
                    items[r.plan_id].append(r)
            self._audit(
                c,
                "read",
                "plans",
                (
                    (h.school_id, r.pupil_id)
                    for h in heads
                    for r in items[h.plan_id]
                    if r.pupil_id is not None
                ),
            )
        return [
            ActionPlan(items=[_item(r) for r in items[h.plan_id]], title=h.title) for h in heads
        ]

    # ------------------------------------------------------------------------ recommend
    def recommend(
        self,
        reg: Any,
        pupils: pd.DataFrame | None = None,
        plans: Any = None,
        as_of: Any = None,
        policy: Any = None,
        *,
        pseudonymised: bool = False,
    ) -> pd.DataFrame:
        """Recommend with the stored history and plans (and ``plans``), save the steps, and
        return them as :meth:`steps` gives them (in ``recommend``'s order).

        In pseudonymous mode the register, pupils and ``plans`` are pseudonymised first, so
        that the stored history matches them (``pseudonymised=True``: they already are, by
        :meth:`pseudonymise`). In a school's view the register must hold only that school's
        pupils (a register without school ids is taken as that school's)."""
        _steps, ids = self.recommend_steps(
            reg, pupils, plans, as_of, policy, pseudonymised=pseudonymised
        )
        return self._steps_by_id(ids)

    def pseudonymise(self, obj: Any) -> Any:
        """``obj`` (a register, a :func:`~attendance_core.load` result, a frame or an id) with
        this casebook's pseudonyms and without the personal columns
        (:data:`~attendance_core.privacy.PERSONAL_COLUMNS`); unchanged when the casebook stores
        plain ids."""
        if self._pseudo is None:
            return obj
        from ..privacy import PERSONAL_COLUMNS, pseudonymise

        return pseudonymise(obj, self._pseudo.key, drop=PERSONAL_COLUMNS)

    def recommend_steps(
        self,
        reg: Any,
        pupils: pd.DataFrame | None = None,
        plans: Any = None,
        as_of: Any = None,
        policy: Any = None,
        *,
        pseudonymised: bool = False,
    ) -> tuple[list[Any], list[str]]:
        """As :meth:`recommend`, returning the :class:`~attendance_core.NextStep` list and
        their step ids. ``pseudonymised=True`` says the register, pupils and plans already
        carry this casebook's pseudonyms (e.g. read with the same key file)."""
        from ..calendar import as_date
        from ..escalation import recommend

        if self._pseudo is not None and not pseudonymised:
            from ..privacy import PERSONAL_COLUMNS, pseudonymise

            reg = pseudonymise(reg, self._pseudo.key)
            if pupils is not None:
                drop = [c for c in PERSONAL_COLUMNS if c in pupils.columns]
                pupils = pseudonymise(pupils, self._pseudo.key, drop=drop)
            if plans is not None:
                plans = [self._pseudonymised_plan(p) for p in _plan_list(plans)]
        own = self._scope.school_id
        if own is not None:
            given_ids = reg.school_ids if reg.school_ids is not None else ()
            schools = {str(s) for s in given_ids if not pd.isna(s)}
            foreign = sorted(schools - {own})
            if foreign:
                raise NotPermittedError(
                    f"the register holds pupils of school {foreign[0]!r}: this view is for "
                    f"school {own!r}"
                )
        if reg.n_enrolments == 0 or len(reg.dates) == 0:
            return [], []
        day = as_date(reg.dates[-1]) if as_of is None else as_date(as_of, "as_of")
        given = _plan_list(plans)
        stored = self.plans()
        steps = recommend(
            reg,
            pupils=pupils,
            plans=[*stored, *given] or None,
            history=self.history(),
            as_of=day,
            policy=self._policy if policy is None else policy,
        )
        return steps, self._save_steps(steps, day, ids_given=True)

    def _steps_by_id(self, ids: Sequence[str]) -> pd.DataFrame:
        frame = self.steps(step_ids=ids)
        order = {sid: k for k, sid in enumerate(dict.fromkeys(ids))}
        frame["_order"] = frame["step_id"].map(order)
        return frame.sort_values("_order").drop(columns="_order").reset_index(drop=True)

    def _pseudonymised_plan(self, plan: Any) -> Any:
        from ..plans import ActionPlan

        if not isinstance(plan, ActionPlan):
            return plan
        return ActionPlan(
            items=[attrs.evolve(i, pupil_id=self._id(i.pupil_id)) for i in plan.items],
            title=plan.title,
        )

    # ------------------------------------------------------------------------ audit
    def audit(
        self, pupil_id: str | None = None, since: Any = None, *, school_id: str | None = None
    ) -> pd.DataFrame:
        """The audit trail: ``at`` (UTC), ``actor``, ``action`` (``read``, ``write``,
        ``delete``), ``subject``, ``pupil_id``, ``school_id``, ``detail``; oldest first. Reading
        the audit is not itself audited."""
        columns = ("at", "actor", "action", "subject", "pupil_id", "school_id", "detail")
        stmt = self._select(t.audit, columns, school_id, pupil_id)
        if since is not None:
            day = _day(since, "since")
            stmt = stmt.where(t.audit.c.at >= dt.datetime.combine(day, dt.time()))
        stmt = stmt.order_by(t.audit.c.id)
        with self._tx() as c:
            rows = c.execute(stmt).all()
        return pd.DataFrame([tuple(r) for r in rows], columns=list(columns), dtype=object)

    # ------------------------------------------------------------------------ retention
    def purge(self, before: Any) -> dict[str, int]:
        """Delete pupil data older than ``before`` (retention): events dated before it, steps
        recommended and last changed before it (with their changes), plans saved before it.
        The deletion itself is audited (counts, no pupil ids); the audit is kept. Returns the
        number of rows deleted per kind. Only the whole casebook (the LA) may purge."""
        if self._scope.school_id is not None:
            raise NotPermittedError(
                "only the whole casebook (the LA) can purge, not a school's view"
            )
        day = _day(before, "before")
        with self._tx() as c:
            n_events = c.execute(t.events.delete().where(t.events.c.date < day)).rowcount
            old = sa.select(t.steps.c.step_id).where(
                t.steps.c.as_of < day,
                sa.or_(t.steps.c.updated_on.is_(None), t.steps.c.updated_on < day),
            )
            c.execute(t.step_changes.delete().where(t.step_changes.c.step_id.in_(old)))
            n_steps = c.execute(t.steps.delete().where(t.steps.c.step_id.in_(old))).rowcount
            old_plans = sa.select(t.plans.c.plan_id).where(t.plans.c.saved_on < day)
            c.execute(t.plan_items.delete().where(t.plan_items.c.plan_id.in_(old_plans)))
            n_plans = c.execute(t.plans.delete().where(t.plans.c.saved_on < day)).rowcount
            counts = {"events": int(n_events), "steps": int(n_steps), "plans": int(n_plans)}
            self._audit(
                c,
                "delete",
                "purge",
                detail=f"purged before {day.isoformat()}: "
                + ", ".join(f"{v} {k}" for k, v in counts.items()),
                always=True,
            )
        return counts

    # ------------------------------------------------------------------------ tokens
    def add_token(
        self, *, school_id: str | None = None, la: bool = False, label: str | None = None
    ) -> str:
        """A new bearer token for the service: a school's (``school_id``) or the LA's
        (``la=True``). Only its SHA-256 hash is stored; the token is shown this once."""
        if la == (school_id is not None):
            raise CasebookError(
                "a token is either a school's (school_id=...) or the LA's (la=True)"
            )
        if self._scope.school_id is not None:
            raise NotPermittedError("tokens are made on the whole casebook, not a school's view")
        token = _TOKEN_PREFIX + secrets.token_urlsafe(32)
        digest = hashlib.sha256(token.encode()).hexdigest()
        token_id = digest[:12]
        role = "la" if la else "school"
        with self._tx() as c:
            c.execute(
                t.tokens.insert().values(
                    token_hash=digest,
                    token_id=token_id,
                    role=role,
                    school_id=school_id,
                    label=label or (f"school {school_id}" if school_id else "LA"),
                    created_at=_now(),
                    revoked_at=None,
                )
            )
            self._audit(
                c, "write", "tokens", detail=f"token {token_id} added ({role})", always=True
            )
        return token

    def check_token(self, token: str | None) -> TokenInfo | None:
        """Who ``token`` speaks for, or None when it is unknown or revoked."""
        if not token or not isinstance(token, str) or not token.startswith(_TOKEN_PREFIX):
            return None
        digest = hashlib.sha256(token.encode()).hexdigest()
        with self._engine.connect() as c:
            row = c.execute(
                sa.select(t.tokens).where(
                    t.tokens.c.token_hash == digest, t.tokens.c.revoked_at.is_(None)
                )
            ).first()
        if row is None or row.role not in _ROLES:
            return None
        return TokenInfo(
            token_id=row.token_id, role=row.role, school_id=row.school_id, label=row.label
        )

    def tokens(self) -> pd.DataFrame:
        """The tokens (never their hashes): ``token_id``, ``role``, ``school_id``, ``label``,
        ``created_at``, ``revoked_at``."""
        with self._engine.connect() as c:
            rows = c.execute(
                sa.select(
                    t.tokens.c.token_id,
                    t.tokens.c.role,
                    t.tokens.c.school_id,
                    t.tokens.c.label,
                    t.tokens.c.created_at,
                    t.tokens.c.revoked_at,
                ).order_by(t.tokens.c.created_at)
            ).all()
        columns = ["token_id", "role", "school_id", "label", "created_at", "revoked_at"]
        return pd.DataFrame([tuple(r) for r in rows], columns=columns, dtype=object)

    def revoke_token(self, token_id: str) -> None:
        """Revoke the token with this ``token_id`` (as :meth:`tokens` lists it)."""
        with self._tx() as c:
            done = c.execute(
                t.tokens.update()
                .where(t.tokens.c.token_id == token_id, t.tokens.c.revoked_at.is_(None))
                .values(revoked_at=_now())
            ).rowcount
            if not done:
                raise CasebookError(f"no token {token_id[:20]!r} to revoke")
            self._audit(c, "write", "tokens", detail=f"token {token_id} revoked", always=True)


# ------------------------------------------------------------------------------ helpers
def _login() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no login name (some containers)
        return "unknown"


def _check_status(status: Any) -> None:
    if status not in STATUSES:
        raise CasebookError(
            f"unknown status {str(status)[:40]!r}: expected one of {', '.join(STATUSES)}"
        )


def _plan_list(plans: Any) -> list[Any]:
    if plans is None:
        return []
    if isinstance(plans, list | tuple):
        return list(plans)
    return [plans]


# the plan_items columns that hold the ActionPlanItem field of the same name as it is (the
# id, pupil id, recurrence and status are converted by _item_row and _item)
_ITEM_COLUMNS = (
    "action",
    "action_id",
    "area",
    "alignment",
    "lead",
    "resources",
    "timeline",
    "due",
    "success_measure",
    "completed_on",
    "notes",
)


def _item_row(plan_id: str, position: int, item: Any, pupil: str | None) -> dict[str, Any]:
    return {
        "plan_id": plan_id,
        "position": position,
        "item_id": item.id,
        "pupil_id": pupil,
        "recurrence": None if item.recurrence is None else str(item.recurrence),
        "status": None if item.status is None else item.status.name,
        **{name: getattr(item, name) for name in _ITEM_COLUMNS},
    }


def _rrule(text: str | None) -> Any:
    from dateutil.rrule import rrule, rrulestr

    if text is None:
        return None
    rule = rrulestr(text)
    return rule if isinstance(rule, rrule) else None


def _item(r: Any) -> Any:
    from ..plans import RAG, ActionPlanItem

    return ActionPlanItem(
        id=r.item_id,
        pupil_id=r.pupil_id,
        recurrence=_rrule(r.recurrence),
        status=None if r.status is None else RAG[r.status],
        **{name: getattr(r, name) for name in _ITEM_COLUMNS},
    )


# the event ids DONE_EVENTS names must be events the history knows
assert set(DONE_EVENTS.values()) <= set(EVENTS)
