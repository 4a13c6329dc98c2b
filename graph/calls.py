"""The tool-call lifecycle: every transition of a call's status, each written once.

A transition is a compare-and-set in SQL: it names the states it leaves and, for a
claimed call, the fencing token of the claim. Claiming a call for execution bumps its
fence and sets an execution lease; only the holder of the current fence may record the
outcome, so a worker that stalled past its lease and lost the call to another records
nothing. Nobody but this module writes ``tool_calls.status``.

    proposed -> invalid | denied | pending | executing (allowed: claimed at once)
    pending  -> executing (approved, args verified) | denied | expired
    executing -> succeeded | failed | in_doubt;  executing -> executing (a takeover)
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy import ScalarSelect, Table, bindparam, or_, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.sql.dml import ReturningUpdate
from sqlmodel import Session

from approvals.models import ApprovalRequest
from foundation.db import rows_affected, utcnow
from graph.records import ACTIVE_RUN_STATUSES, CallStatus, Run, ToolCallRecord

CALLS: Table = ToolCallRecord.__table__  # type: ignore[attr-defined]
REQUESTS: Table = ApprovalRequest.__table__  # type: ignore[attr-defined]
RUNS: Table = Run.__table__  # type: ignore[attr-defined]
_RUN_ACTIVE = (
    select(RUNS.c.id)
    .where(
        RUNS.c.id == CALLS.c.run_id,
        RUNS.c.status.in_([s.value for s in ACTIVE_RUN_STATUSES]),
    )
    .exists()
)
"""Whoever made a run terminal fenced it: none of its calls is claimed afterwards."""


FRESH_CLAIM_S = 0.5
"""A claim younger than this is not re-checked before its adapter runs: nobody can have
taken it over (that needs its lease to lapse) and the check would cost a round trip on
the approve-to-execute path. An older one (its process was slow or stopped) is."""


@dataclass(frozen=True)
class Claim:
    """This process holds the call for execution under ``fence`` until the lease ends."""

    rec: ToolCallRecord
    fence: int
    taken_at: float = field(default_factory=time.monotonic)
    """When this process took it (monotonic: a process stopped meanwhile sees the time
    it was stopped for)."""

    def fresh(self, within_s: float = FRESH_CLAIM_S) -> bool:
        return time.monotonic() - self.taken_at < within_s


CLAIM_APPROVED = (
    update(CALLS)
    .where(
        CALLS.c.key == bindparam("call_key"),
        CALLS.c.status == CallStatus.PENDING,
        CALLS.c.approval_id == REQUESTS.c.id,
        REQUESTS.c.status == "approved",
        REQUESTS.c.policy_version == bindparam("policy"),
        _RUN_ACTIVE,
    )
    .values(
        status=CallStatus.EXECUTING,
        exec_started_at=bindparam("started"),
        lease_until=bindparam("lease"),
        fence=CALLS.c.fence + 1,
        attempts=CALLS.c.attempts + 1,
        args=REQUESTS.c.args,
        args_hash=REQUESTS.c.args_hash,
    )
    .returning(*CALLS.c)
)
"""pending -> executing: carry an approval (with the args as approved) over to its call
and claim it, in one statement."""

_TAKE_OVER = (
    update(CALLS)
    .where(
        CALLS.c.key == bindparam("call_key"),
        CALLS.c.status == CallStatus.EXECUTING,
        CALLS.c.fence == bindparam("old_fence"),
        or_(CALLS.c.lease_until.is_(None), CALLS.c.lease_until < bindparam("now")),
    )
    .values(
        fence=CALLS.c.fence + 1,
        attempts=CALLS.c.attempts + 1,
        exec_started_at=bindparam("now"),
        lease_until=bindparam("lease"),
    )
)
_RENEW = (
    update(CALLS)
    .where(
        CALLS.c.key == bindparam("call_key"),
        CALLS.c.status == CallStatus.EXECUTING,
        CALLS.c.fence == bindparam("held_fence"),
        _RUN_ACTIVE,
    )
    .values(lease_until=bindparam("lease"))
)
_CAS = update(CALLS).where(
    CALLS.c.key == bindparam("cas_key"),
    CALLS.c.status.in_(bindparam("cas_expected", expanding=True)),
)
_CAS_FENCED = update(CALLS).where(
    CALLS.c.key == bindparam("cas_key"),
    CALLS.c.status == CallStatus.EXECUTING,
    CALLS.c.fence == bindparam("cas_fence"),
)


def claim_approved(
    conn: Connection, key: str, policy_version: str, lease: timedelta
) -> Claim | None:
    """pending -> executing for an approved call under the current policy; None if the
    call is not in that state (denied, expired, the policy changed, claimed already)."""
    return claim_approved_reading(conn, key, policy_version, lease, None)[0]


def claim_approved_reading(
    conn: Connection,
    key: str,
    policy_version: str,
    lease: timedelta,
    also: ScalarSelect[Any] | None,
) -> tuple[Claim | None, Any]:
    """``claim_approved``, also reading ``also`` in the same statement (e.g. the tool
    registrations' version); returns the claim and what ``also`` read."""
    now = utcnow()
    params = {"call_key": key, "policy": policy_version, "started": now, "lease": now + lease}
    row = conn.execute(_claim_statement(also), params).first()
    if row is None:
        return None, None
    rec = ToolCallRecord(**{c.name: row._mapping[c] for c in CALLS.c})
    return Claim(rec, rec.fence), (row[-1] if also is not None else None)


@lru_cache(maxsize=4)
def _claim_statement(also: ScalarSelect[Any] | None) -> ReturningUpdate[Any]:
    """Built once per extra query (a registry hands out one object; the bound keeps one
    that does not from growing this without end)."""
    return CLAIM_APPROVED if also is None else CLAIM_APPROVED.returning(also)


def take_over(session: Session, rec: ToolCallRecord, lease: timedelta) -> Claim | None:
    """executing -> executing under a new fence, when the claimant's lease ran out."""
    now = utcnow()
    params = {"call_key": rec.key, "old_fence": rec.fence, "now": now, "lease": now + lease}
    if rows_affected(session.execute(_TAKE_OVER, params)) != 1:
        return None
    rec.fence, rec.attempts = rec.fence + 1, rec.attempts + 1
    rec.exec_started_at, rec.lease_until = now, now + lease
    return Claim(rec, rec.fence)


def renew(conn: Connection, claim: Claim, lease: timedelta) -> bool:
    """Extend the execution lease; False if the claim was lost (another took over) or
    its run ended (fenced: a claimant that has not started the adapter never will)."""
    params = {"call_key": claim.rec.key, "held_fence": claim.fence, "lease": utcnow() + lease}
    return rows_affected(conn.execute(_RENEW, params)) == 1


def finish(session: Session, claim: Claim, changes: dict[str, Any]) -> bool:
    """executing -> succeeded | failed | in_doubt, only under the claim's fence."""
    params = {**changes, "lease_until": None, "cas_key": claim.rec.key, "cas_fence": claim.fence}
    return rows_affected(session.execute(_CAS_FENCED, params)) == 1


def refuse(session: Session, key: str, status: CallStatus, reason: str) -> bool:
    """pending -> denied | expired (the approval said no, or nobody decided in time)."""
    assert status in (CallStatus.DENIED, CallStatus.EXPIRED)
    params = {"status": status, "reason": reason, "cas_key": key, "cas_expected": ["pending"]}
    return rows_affected(session.execute(_CAS, params)) == 1


def refuse_claimed(session: Session, claim: Claim, reason: str) -> bool:
    """executing -> denied, before the adapter ran (the approved args were altered)."""
    changes = {"status": CallStatus.DENIED, "reason": reason, "exec_started_at": None}
    return finish(session, claim, changes)


def run_ended(conn: Connection, run_id: str) -> str | None:
    """The run's terminal status if it ended (then none of its calls may run), else None."""
    status = conn.execute(select(RUNS.c.status).where(RUNS.c.id == run_id)).scalar()
    return None if status is None or status in ACTIVE_RUN_STATUSES else str(status)


def lease_lapsed(rec: ToolCallRecord, now: datetime | None = None) -> bool:
    """No lease (a claim from before leases were recorded) counts as lapsed."""
    return rec.lease_until is None or rec.lease_until < (now or utcnow())
