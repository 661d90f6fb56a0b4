"""The casebook's tables (SQLAlchemy Core), as migration ``0001`` creates them.

The migrations under ``migrations/versions`` are the source of truth for the database; these
table objects are what the queries are written against, and a test checks that the two agree.
"""

from __future__ import annotations

from typing import Any, Final

import sqlalchemy as sa

metadata = sa.MetaData()

#: Id lengths: pupil ids (UPNs, MIS ids or 17-character pseudonyms) and school ids (URNs).
ID = 128

#: Statuses of a step, in lifecycle order; the open ones are those still to act on.
OPEN_STATUSES: Final[tuple[str, ...]] = ("proposed", "accepted")


def _child_key(parent: sa.Column[Any]) -> sa.Column[Any]:
    """The column of a child row that names its parent row by ``parent`` (same name, same
    type): indexed, never null, and the children are deleted with their parent."""
    return sa.Column(
        parent.name,
        parent.type,
        sa.ForeignKey(parent, ondelete="CASCADE"),
        nullable=False,
        index=True,
    )


meta = sa.Table(
    "casebook_meta",
    metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

events = sa.Table(
    "case_events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("event_key", sa.String(64), nullable=False, unique=True),
    sa.Column("school_id", sa.String(ID), nullable=True, index=True),
    sa.Column("pupil_id", sa.String(ID), nullable=False, index=True),
    sa.Column("event", sa.String(64), nullable=False),
    sa.Column("date", sa.Date, nullable=False, index=True),
    sa.Column("until", sa.Date, nullable=True),
    sa.Column("parent_id", sa.String(ID), nullable=True),
    sa.Column("outcome", sa.String(32), nullable=True),
    sa.Column("note", sa.Text, nullable=True),
    sa.Column("step_id", sa.String(32), nullable=True),
    sa.Column("recorded_by", sa.String(200), nullable=False),
    sa.Column("recorded_at", sa.DateTime, nullable=False),
)

steps = sa.Table(
    "steps",
    metadata,
    sa.Column("step_id", sa.String(32), primary_key=True),
    sa.Column("school_key", sa.String(ID), nullable=False),  # school_id or "" (for the index)
    sa.Column("school_id", sa.String(ID), nullable=True, index=True),
    sa.Column("pupil_id", sa.String(ID), nullable=False, index=True),
    sa.Column("stage", sa.String(32), nullable=False),
    sa.Column("action", sa.String(64), nullable=False),
    sa.Column("lead", sa.String(64), nullable=False),
    sa.Column("due", sa.Date, nullable=False),
    sa.Column("rule", sa.String(64), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("evidence", sa.Text, nullable=False),
    sa.Column("step_note", sa.Text, nullable=True),
    sa.Column("as_of", sa.Date, nullable=False),
    sa.Column("status", sa.String(16), nullable=False, index=True),
    sa.Column("updated_by", sa.String(200), nullable=True),
    sa.Column("updated_on", sa.Date, nullable=True),
    sa.Column("note", sa.Text, nullable=True),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("changed_at", sa.DateTime, nullable=False),
)

_OPEN_SQL = "status IN ('proposed', 'accepted')"
# one open step per school, pupil and action: concurrent saves cannot open it twice
sa.Index(
    "ux_steps_open",
    steps.c.school_key,
    steps.c.pupil_id,
    steps.c.action,
    unique=True,
    sqlite_where=sa.text(_OPEN_SQL),
    postgresql_where=sa.text(_OPEN_SQL),
)

step_changes = sa.Table(
    "step_changes",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    _child_key(steps.c.step_id),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("by", sa.String(200), nullable=False),
    sa.Column("on", sa.Date, nullable=False),
    sa.Column("note", sa.Text, nullable=True),
    sa.Column("at", sa.DateTime, nullable=False),
)

plans = sa.Table(
    "plans",
    metadata,
    sa.Column("plan_id", sa.String(64), primary_key=True),
    sa.Column("title", sa.Text, nullable=True),
    sa.Column("school_id", sa.String(ID), nullable=True, index=True),
    sa.Column("saved_by", sa.String(200), nullable=False),
    sa.Column("saved_on", sa.Date, nullable=False),
    sa.Column("saved_at", sa.DateTime, nullable=False),
)

plan_items = sa.Table(
    "plan_items",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    _child_key(plans.c.plan_id),
    sa.Column("position", sa.Integer, nullable=False),
    sa.Column("item_id", sa.Text, nullable=False),
    sa.Column("action", sa.Text, nullable=False),
    sa.Column("action_id", sa.String(64), nullable=True),
    sa.Column("pupil_id", sa.String(ID), nullable=True, index=True),
    sa.Column("area", sa.Text, nullable=True),
    sa.Column("alignment", sa.Text, nullable=True),
    sa.Column("lead", sa.Text, nullable=True),
    sa.Column("resources", sa.Text, nullable=True),
    sa.Column("timeline", sa.Text, nullable=True),
    sa.Column("due", sa.Date, nullable=True),
    sa.Column("recurrence", sa.Text, nullable=True),
    sa.Column("success_measure", sa.Text, nullable=True),
    sa.Column("status", sa.String(16), nullable=True),
    sa.Column("completed_on", sa.Date, nullable=True),
    sa.Column("notes", sa.Text, nullable=True),
)

audit = sa.Table(
    "audit",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", sa.DateTime, nullable=False, index=True),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("action", sa.String(16), nullable=False),  # read, write, delete
    sa.Column("subject", sa.String(16), nullable=False),  # history, steps, plans, tokens, ...
    sa.Column("pupil_id", sa.String(ID), nullable=True, index=True),
    sa.Column("school_id", sa.String(ID), nullable=True),
    sa.Column("detail", sa.Text, nullable=True),
)

tokens = sa.Table(
    "tokens",
    metadata,
    sa.Column("token_hash", sa.String(64), primary_key=True),
    sa.Column("token_id", sa.String(12), nullable=False, unique=True),
    sa.Column("role", sa.String(8), nullable=False),  # school or la
    sa.Column("school_id", sa.String(ID), nullable=True),
    sa.Column("label", sa.String(200), nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("revoked_at", sa.DateTime, nullable=True),
)
