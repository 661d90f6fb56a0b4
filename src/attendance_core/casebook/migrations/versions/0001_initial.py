"""The first casebook schema: case events, steps and their changes, plans, audit, tokens.

Revision ID: 0001
Revises:
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

ID = 128
_OPEN_SQL = "status IN ('proposed', 'accepted')"


def upgrade() -> None:
    op.create_table(
        "casebook_meta",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )
    op.create_table(
        "case_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("event_key", sa.String(64), nullable=False, unique=True),
        sa.Column("school_id", sa.String(ID), nullable=True),
        sa.Column("pupil_id", sa.String(ID), nullable=False),
        sa.Column("event", sa.String(64), nullable=False),
        sa.Column("date", sa.Date, nullable=False),
        sa.Column("until", sa.Date, nullable=True),
        sa.Column("parent_id", sa.String(ID), nullable=True),
        sa.Column("outcome", sa.String(32), nullable=True),
        sa.Column("note", sa.Text, nullable=True),
        sa.Column("step_id", sa.String(32), nullable=True),
        sa.Column("recorded_by", sa.String(200), nullable=False),
        sa.Column("recorded_at", sa.DateTime, nullable=False),
    )
    op.create_index("ix_case_events_school_id", "case_events", ["school_id"])
    op.create_index("ix_case_events_pupil_id", "case_events", ["pupil_id"])
    op.create_index("ix_case_events_date", "case_events", ["date"])

    op.create_table(
        "steps",
        sa.Column("step_id", sa.String(32), primary_key=True),
        sa.Column("school_key", sa.String(ID), nullable=False),
        sa.Column("school_id", sa.String(ID), nullable=True),
        sa.Column("pupil_id", sa.String(ID), nullable=False),
        sa.Column("stage", sa.String(32), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("lead", sa.String(64), nullable=False),
        sa.Column("due", sa.Date, nullable=False),
        sa.Column("rule", sa.String(64), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("evidence", sa.Text, nullable=False),
        sa.Column("step_note", sa.Text, nullable=True),
        sa.Column("as_of", sa.Date, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("updated_by", sa.String(200), nullable=True),
        sa.Column("updated_on", sa.Date, nullable=True),
        sa.Column("note", sa.Text, nullable=True),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("changed_at", sa.DateTime, nullable=False),
    )
    op.create_index("ix_steps_school_id", "steps", ["school_id"])
    op.create_index("ix_steps_pupil_id", "steps", ["pupil_id"])
    op.create_index("ix_steps_status", "steps", ["status"])
    op.create_index(
        "ux_steps_open",
        "steps",
        ["school_key", "pupil_id", "action"],
        unique=True,
        sqlite_where=sa.text(_OPEN_SQL),
        postgresql_where=sa.text(_OPEN_SQL),
    )

    op.create_table(
        "step_changes",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "step_id",
            sa.String(32),
            sa.ForeignKey("steps.step_id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("by", sa.String(200), nullable=False),
        sa.Column("on", sa.Date, nullable=False),
        sa.Column("note", sa.Text, nullable=True),
        sa.Column("at", sa.DateTime, nullable=False),
    )
    op.create_index("ix_step_changes_step_id", "step_changes", ["step_id"])

    op.create_table(
        "plans",
        sa.Column("plan_id", sa.String(64), primary_key=True),
        sa.Column("title", sa.Text, nullable=True),
        sa.Column("school_id", sa.String(ID), nullable=True),
        sa.Column("saved_by", sa.String(200), nullable=False),
        sa.Column("saved_on", sa.Date, nullable=False),
        sa.Column("saved_at", sa.DateTime, nullable=False),
    )
    op.create_index("ix_plans_school_id", "plans", ["school_id"])
    op.create_table(
        "plan_items",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "plan_id",
            sa.String(64),
            sa.ForeignKey("plans.plan_id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("item_id", sa.Text, nullable=False),
        sa.Column("action", sa.Text, nullable=False),
        sa.Column("action_id", sa.String(64), nullable=True),
        sa.Column("pupil_id", sa.String(ID), nullable=True),
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
    op.create_index("ix_plan_items_plan_id", "plan_items", ["plan_id"])
    op.create_index("ix_plan_items_pupil_id", "plan_items", ["pupil_id"])

    op.create_table(
        "audit",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", sa.DateTime, nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("subject", sa.String(16), nullable=False),
        sa.Column("pupil_id", sa.String(ID), nullable=True),
        sa.Column("school_id", sa.String(ID), nullable=True),
        sa.Column("detail", sa.Text, nullable=True),
    )
    op.create_index("ix_audit_at", "audit", ["at"])
    op.create_index("ix_audit_pupil_id", "audit", ["pupil_id"])

    op.create_table(
        "tokens",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("token_id", sa.String(12), nullable=False, unique=True),
        sa.Column("role", sa.String(8), nullable=False),
        sa.Column("school_id", sa.String(ID), nullable=True),
        sa.Column("label", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("revoked_at", sa.DateTime, nullable=True),
    )


def downgrade() -> None:
    for table in (
        "tokens",
        "audit",
        "plan_items",
        "plans",
        "step_changes",
        "steps",
        "case_events",
        "casebook_meta",
    ):
        op.drop_table(table)
