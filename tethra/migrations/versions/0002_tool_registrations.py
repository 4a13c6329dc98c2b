"""tool registrations (issue 7)

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 18:30:00
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import foundation.db

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _s(length: int | None = None) -> sqlmodel.sql.sqltypes.AutoString:
    return sqlmodel.sql.sqltypes.AutoString(length=length)


def upgrade() -> None:
    op.create_table(
        "tool_registrations",
        sa.Column("name", _s(64), nullable=False),
        sa.Column("kind", _s(16), nullable=False),
        sa.Column("description", _s(), nullable=False),
        sa.Column("system", _s(64), nullable=False),
        sa.Column("effect", _s(32), nullable=False),
        sa.Column("effect_source", _s(16), nullable=False),
        sa.Column("idempotent", sa.Boolean(), nullable=False),
        sa.Column("owner", _s(64), nullable=False),
        sa.Column("source", _s(512), nullable=False),
        sa.Column("definition", sa.JSON(), nullable=False),
        sa.Column("args_schema", sa.JSON(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_by", _s(64), nullable=False),
        sa.Column("created_at", foundation.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("changed_by", _s(64), nullable=False),
        sa.Column("changed_at", foundation.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )


def downgrade() -> None:
    op.drop_table("tool_registrations")
