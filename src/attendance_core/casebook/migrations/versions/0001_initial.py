"""The first casebook schema: case events, steps and their changes, plans, audit, tokens.

Revision ID: 0001
Revises:
Create Date: 2026-12-03
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

ID = 128
_OPEN_SQL = "status IN ('proposed', 'accepted')"

# The tables as this revision creates them, frozen: a later revision changes the schema by
# operations of its own, never by editing these. A column is (name, type, *flags), never null
# unless flagged "null"; the other flags are "pk" (the primary key; an integer one
# autoincrements), "unique", "index" (an index named ix_<table>_<column>) and a foreign key.
_TABLES: dict[str, tuple[tuple[Any, ...], ...]] = {
    "casebook_meta": (
        ("key", sa.String(64), "pk"),
        ("value", sa.Text),
    ),
    "case_events": (
        ("id", sa.Integer, "pk"),
        ("event_key", sa.String(64), "unique"),
        ("school_id", sa.String(ID), "null", "index"),
        ("pupil_id", sa.String(ID), "index"),
        ("event", sa.String(64)),
        ("date", sa.Date, "index"),
        ("until", sa.Date, "null"),
        ("parent_id", sa.String(ID), "null"),
        ("outcome", sa.String(32), "null"),
        ("note", sa.Text, "null"),
        ("step_id", sa.String(32), "null"),
        ("recorded_by", sa.String(200)),
        ("recorded_at", sa.DateTime),
    ),
    "steps": (
        ("step_id", sa.String(32), "pk"),
        ("school_key", sa.String(ID)),
        ("school_id", sa.String(ID), "null", "index"),
        ("pupil_id", sa.String(ID), "index"),
        ("stage", sa.String(32)),
        ("action", sa.String(64)),
        ("lead", sa.String(64)),
        ("due", sa.Date),
        ("rule", sa.String(64)),
        ("reason", sa.Text),
        ("evidence", sa.Text),
        ("step_note", sa.Text, "null"),
        ("as_of", sa.Date),
        ("status", sa.String(16), "index"),
        ("updated_by", sa.String(200), "null"),
        ("updated_on", sa.Date, "null"),
        ("note", sa.Text, "null"),
        ("created_at", sa.DateTime),
        ("changed_at", sa.DateTime),
    ),
    "step_changes": (
        ("id", sa.Integer, "pk"),
        ("step_id", sa.String(32), sa.ForeignKey("steps.step_id", ondelete="CASCADE"), "index"),
        ("status", sa.String(16)),
        ("by", sa.String(200)),
        ("on", sa.Date),
        ("note", sa.Text, "null"),
        ("at", sa.DateTime),
    ),
    "plans": (
        ("plan_id", sa.String(64), "pk"),
        ("title", sa.Text, "null"),
        ("school_id", sa.String(ID), "null", "index"),
        ("saved_by", sa.String(200)),
        ("saved_on", sa.Date),
        ("saved_at", sa.DateTime),
    ),
    "plan_items": (
        ("id", sa.Integer, "pk"),
        ("plan_id", sa.String(64), sa.ForeignKey("plans.plan_id", ondelete="CASCADE"), "index"),
        ("position", sa.Integer),
        ("item_id", sa.Text),
        ("action", sa.Text),
        ("action_id", sa.String(64), "null"),
        ("pupil_id", sa.String(ID), "null", "index"),
        ("area", sa.Text, "null"),
        ("alignment", sa.Text, "null"),
        ("lead", sa.Text, "null"),
        ("resources", sa.Text, "null"),
        ("timeline", sa.Text, "null"),
        ("due", sa.Date, "null"),
        ("recurrence", sa.Text, "null"),
        ("success_measure", sa.Text, "null"),
        ("status", sa.String(16), "null"),
        ("completed_on", sa.Date, "null"),
        ("notes", sa.Text, "null"),
    ),
    "audit": (
        ("id", sa.Integer, "pk"),
        ("at", sa.DateTime, "index"),
        ("actor", sa.String(200)),
        ("action", sa.String(16)),
        ("subject", sa.String(16)),
        ("pupil_id", sa.String(ID), "null", "index"),
        ("school_id", sa.String(ID), "null"),
        ("detail", sa.Text, "null"),
    ),
    "tokens": (
        ("token_hash", sa.String(64), "pk"),
        ("token_id", sa.String(12), "unique"),
        ("role", sa.String(8)),
        ("school_id", sa.String(ID), "null"),
        ("label", sa.String(200)),
        ("created_at", sa.DateTime),
        ("revoked_at", sa.DateTime, "null"),
    ),
}


def _column(name: str, type_: Any, *flags: Any) -> sa.Column[Any]:
    keys = [flag for flag in flags if isinstance(flag, sa.ForeignKey)]
    if "pk" in flags:
        return sa.Column(name, type_, *keys, primary_key=True)
    return sa.Column(name, type_, *keys, nullable="null" in flags, unique="unique" in flags)


def upgrade() -> None:
    for table, columns in _TABLES.items():
        op.create_table(table, *(_column(*spec) for spec in columns))
        for name, *flags in columns:
            if "index" in flags:
                op.create_index(f"ix_{table}_{name}", table, [name])
    # one open step per school, pupil and action: concurrent saves cannot open it twice
    op.create_index(
        "ux_steps_open",
        "steps",
        ["school_key", "pupil_id", "action"],
        unique=True,
        sqlite_where=sa.text(_OPEN_SQL),
        postgresql_where=sa.text(_OPEN_SQL),
    )


def downgrade() -> None:
    for table in reversed(_TABLES):
        op.drop_table(table)
