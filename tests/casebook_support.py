"""Databases for the casebook and service tests: a SQLite file, and a fresh database on the
PostgreSQL server named by ``$ATTENDANCE_CORE_TEST_PG`` (started by ``.ci/postgres.sh``).

Without that variable the PostgreSQL cases are skipped on a developer's machine and fail in CI
(``CI`` set): CI must test both databases, never quietly one.
"""

from __future__ import annotations

import datetime as dt
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

import attendance_core as ac
from builders import frame, week

PG_ENV = "ATTENDANCE_CORE_TEST_PG"
BACKENDS = ("sqlite", "postgresql")


def pg_server_url() -> str:
    url = os.environ.get(PG_ENV, "").strip()
    if not url:
        message = (
            f"${PG_ENV} is not set: start a server with `export {PG_ENV}=$(bash .ci/postgres.sh)`"
        )
        if os.environ.get("CI"):
            pytest.fail("CI must run the PostgreSQL tests: " + message)
        pytest.skip(message)
    return url


def database_url(backend: str, tmp_path: Path) -> Iterator[str]:
    """A URL of an empty database of ``backend``, dropped afterwards."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'cases.db'}"
        return
    server = sa.engine.make_url(pg_server_url())
    name = f"acb_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as c:
            c.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


MONDAYS = [dt.date(2025, 1, 6) + dt.timedelta(weeks=k) for k in range(6)]
AS_OF = dt.date(2025, 2, 14)  # the Friday of the last week


def pupil_rows(pupil_id: str, school_id: str, bad_weeks: int) -> list[dict[str, object]]:
    """Six weeks: present, then ``bad_weeks`` weeks of unauthorised absence (``O``)."""
    rows: list[dict[str, object]] = []
    for k, monday in enumerate(MONDAYS):
        marks = "O" * 10 if k >= len(MONDAYS) - bad_weeks else "/\\" * 5
        rows.extend(week(pupil_id, monday, marks, school_id))
    return rows


def two_schools() -> ac.Register:
    """Pupil A at S1 and B at S2 each absent two weeks (threshold met, a run of 10 days); C at
    S1 present throughout."""
    return ac.Register.from_long(
        frame(pupil_rows("A", "S1", 2), pupil_rows("B", "S2", 2), pupil_rows("C", "S1", 0))
    )


def two_schools_csv() -> bytes:
    return (
        frame(pupil_rows("A", "S1", 2), pupil_rows("B", "S2", 2), pupil_rows("C", "S1", 0))
        .to_csv(index=False)
        .encode()
    )
