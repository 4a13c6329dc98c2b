"""typed call and run lifecycles: fencing tokens, execution leases, approval outcome (issue 14)

Approval status and execution outcome become separate facts: a request stays
``approved`` and its ``outcome`` says what the execution did. A tool call's successful
end is ``succeeded``; ``in_doubt`` is new. Runs and calls carry a fencing token, and a
thread has at most one active run (a partial unique index, so two messages sent at
the same instant cannot both start one).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04 16:40:00
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import foundation.db

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ACTIVE = "status IN ('queued', 'running', 'waiting', 'stalled')"


def upgrade() -> None:
    with op.batch_alter_table("tool_calls", schema=None) as batch_op:
        batch_op.add_column(sa.Column("fence", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(
            sa.Column("lease_until", foundation.db.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"))
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("fence", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(
            sa.Column(
                "workflow",
                sqlmodel.sql.sqltypes.AutoString(length=32),
                nullable=False,
                server_default="chat",
            )
        )
        batch_op.alter_column(
            "status",
            existing_type=sqlmodel.sql.sqltypes.AutoString(length=16),
            type_=sqlmodel.sql.sqltypes.AutoString(length=24),
        )
    with op.batch_alter_table("approval_requests", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("outcome", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True)
        )
    op.execute("UPDATE tool_calls SET status = 'succeeded' WHERE status = 'executed'")
    op.execute("UPDATE tool_calls SET status = 'executing' WHERE status IN ('allowed', 'approved')")
    # Claims from before leases: lease_until NULL counts as lapsed (taken over or in doubt).
    op.execute(
        "UPDATE approval_requests SET status = 'approved', outcome = ("
        " SELECT tool_calls.status FROM tool_calls"
        " WHERE tool_calls.key = approval_requests.call_key"
        " AND tool_calls.status IN ('succeeded', 'failed'))"
        " WHERE status = 'executed'"
    )
    op.execute("UPDATE runs SET status = 'stopped_budget' WHERE status = 'stopped'")
    op.execute("UPDATE runs SET workflow = 'invoices' WHERE thread_id LIKE 'inv-%'")
    op.execute("UPDATE runs SET status = 'waiting' WHERE status IN ('held', 'paused')")
    # Before the unique index: an older release could leave two active runs on a thread.
    op.execute(
        "UPDATE runs SET status = 'failed', error = 'superseded: another run of this thread "
        "was active at the upgrade' WHERE " + _ACTIVE + " AND id NOT IN ("
        " SELECT MAX(r2.id) FROM runs r2 WHERE r2." + _ACTIVE
        + " GROUP BY r2.thread_id)"
    )
    op.create_index(
        "ux_runs_one_active_per_thread",
        "runs",
        ["thread_id"],
        unique=True,
        sqlite_where=sa.text(_ACTIVE),
        postgresql_where=sa.text(_ACTIVE),
    )


def downgrade() -> None:
    op.drop_index("ux_runs_one_active_per_thread", table_name="runs")
    op.execute("UPDATE runs SET status = 'stopped' WHERE status LIKE 'stopped_%'")
    op.execute(
        "UPDATE approval_requests SET status = 'executed' "
        "WHERE status = 'approved' AND outcome IS NOT NULL"
    )
    op.execute("UPDATE tool_calls SET status = 'executed' WHERE status = 'succeeded'")
    op.execute("UPDATE tool_calls SET status = 'failed' WHERE status = 'in_doubt'")
    with op.batch_alter_table("approval_requests", schema=None) as batch_op:
        batch_op.drop_column("outcome")
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.drop_column("workflow")
        batch_op.drop_column("fence")
    with op.batch_alter_table("tool_calls", schema=None) as batch_op:
        batch_op.drop_column("attempts")
        batch_op.drop_column("lease_until")
        batch_op.drop_column("fence")
