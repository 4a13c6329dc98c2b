"""invoice holds, spot checks and auto-filed invoices (issue 5)

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24 18:20:00
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import foundation.db

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _s(length: int) -> sqlmodel.sql.sqltypes.AutoString:
    return sqlmodel.sql.sqltypes.AutoString(length=length)


def upgrade() -> None:
    op.create_table(
        "invoice_holds",
        sa.Column("id", _s(32), nullable=False),
        sa.Column("run_id", _s(32), nullable=False),
        sa.Column("thread_id", _s(128), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("requester", _s(64), nullable=False),
        sa.Column("supplier_id", sa.Integer(), nullable=True),
        sa.Column("invoice_number", _s(64), nullable=False),
        sa.Column("currency", _s(3), nullable=False),
        sa.Column("total", sa.Numeric(14, 2), nullable=True),
        sa.Column("amount_at_stake", sa.Numeric(14, 2), nullable=False),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("findings", sa.JSON(), nullable=False),
        sa.Column("invoice", sa.JSON(), nullable=False),
        sa.Column("corrected", sa.JSON(), nullable=True),
        sa.Column("status", _s(16), nullable=False),
        sa.Column("decided_by", _s(64), nullable=True),
        sa.Column("note", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("created_at", foundation.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("decided_at", foundation.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("run_id", "attempt"),
    )
    op.create_index("ix_invoice_holds_status_id", "invoice_holds", ["status", "id"])
    op.create_index(
        "ix_invoice_holds_supplier_number", "invoice_holds", ["supplier_id", "invoice_number"]
    )
    op.create_table(
        "spot_checks",
        sa.Column("id", _s(32), nullable=False),
        sa.Column("run_id", _s(32), nullable=False),
        sa.Column("erp_invoice_id", sa.Integer(), nullable=False),
        sa.Column("supplier_id", sa.Integer(), nullable=False),
        sa.Column("invoice_number", _s(64), nullable=False),
        sa.Column("total", sa.Numeric(14, 2), nullable=False),
        sa.Column("currency", _s(3), nullable=False),
        sa.Column("status", _s(16), nullable=False),
        sa.Column("reviewer", _s(64), nullable=True),
        sa.Column("note", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("created_at", foundation.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("reviewed_at", foundation.db.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("run_id"),
    )
    op.create_index("ix_spot_checks_status_id", "spot_checks", ["status", "id"])
    op.create_table(
        "invoices_autofiled",
        sa.Column("run_id", _s(32), nullable=False),
        sa.Column("erp_invoice_id", sa.Integer(), nullable=False),
        sa.Column("amount", sa.Numeric(14, 2), nullable=False),
        sa.Column("released_by", _s(64), nullable=True),
        sa.Column("filed_at", foundation.db.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("run_id"),
    )


def downgrade() -> None:
    op.drop_table("invoices_autofiled")
    op.drop_index("ix_spot_checks_status_id", table_name="spot_checks")
    op.drop_table("spot_checks")
    op.drop_index("ix_invoice_holds_supplier_number", table_name="invoice_holds")
    op.drop_index("ix_invoice_holds_status_id", table_name="invoice_holds")
    op.drop_table("invoice_holds")
