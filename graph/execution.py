"""Settling one recorded call: wait, verify an approval, or execute it exactly once.

Execution is claimed with a compare-and-set (``allowed``/``approved`` -> ``executing``)
before the adapter runs, and the adapter gets the call's idempotency key, so neither a
re-run node nor a second process can execute a call twice. A claim whose process died
is taken over only after the execution lease, and only for adapters that honour the
idempotency key; any other in-doubt call is failed loudly for a person to check.
"""

from __future__ import annotations

import json
import time
from datetime import datetime
from functools import lru_cache
from typing import Any

from langchain_core.messages import ToolMessage
from sqlalchemy import ScalarSelect, Table, bindparam, update
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.sql.dml import ReturningUpdate
from sqlmodel import Session, col

from approvals import outbox
from approvals.events import ToolExecuted
from approvals.models import ApprovalDecision, ApprovalRequest
from approvals.service import approvals_so_far, expire_request, mark_executed
from audit.trail import record
from graph.governance import Governance
from graph.records import FINAL_CALL_STATUSES, ToolCallRecord
from graph.tracing import refused, tool_outcome, tool_span
from tethra.canonical import call_hash
from tethra.db import one_statement, rows_affected, session_scope, utcnow
from tethra.errors import ExecutionInProgress, NotFound, ToolFailed, UserError
from tethra.logging import get_logger
from tools.spec import ToolContext

log = get_logger(__name__)
Pending = dict[str, Any]


def settle(gov: Governance, key: str) -> ToolMessage | Pending:
    """Return the call's final message, or a description of the approval it waits for."""
    claimed = False
    with session_scope(gov.engine) as session:
        rec = session.get(ToolCallRecord, key)
        if rec is None:
            raise UserError(f"no record for tool call {key}; propose() must run first")
        request = session.get(ApprovalRequest, rec.approval_id) if rec.approval_id else None
        if rec.status == "pending" and request is not None:
            applied = _apply_approval(session, gov, rec, request)
            for field, value in (applied or {}).items():  # the row now holds exactly these
                set_committed_value(rec, field, value)
            claimed = applied is not None and applied["status"] == "executing"
    if claimed:
        return run_claimed(gov, rec)  # approved, verified and claimed just now, by us
    if rec.status in FINAL_CALL_STATUSES:
        return message_for(rec)
    if rec.status == "pending":
        assert request is not None
        return _pending(request)
    if rec.status in ("allowed", "approved"):
        return _execute(gov, rec, claim_from=("allowed", "approved"))
    return _take_over(gov, rec)


def settle_approved(gov: Governance, key: str) -> ToolMessage | Pending:
    """``settle`` for a call whose approval was just decided: the worker's path from a
    decision to the tool running.

    The common case, approved under the current policy, is claimed in one statement
    (``_claim_approved``), verified, and run. Anything else (denied, expired, the policy
    changed, claimed already) goes through ``settle``, which says why.
    """
    rec = _claim_approved(gov, key)
    if rec is None:
        return settle(gov, key)
    return run_claimed(gov, rec) if rec.status == "executing" else message_for(rec)


def _claim_approved(gov: Governance, key: str) -> ToolCallRecord | None:
    """Carry the approval over to the call and claim it, in one statement that also
    reads the tool registrations' version; then verify the args still hash to what was
    approved (if not, the claim is turned into a refusal: it never runs). The statement
    is atomic on its own, so on PostgreSQL it runs outside a transaction: no BEGIN or
    COMMIT round trips on the path from a decision to the tool running.
    """
    version = gov.registry.version_query()
    claim = _claim_reading(version)
    params = {"call_key": key, "policy": gov.policy.version, "started": utcnow()}
    with one_statement(gov.engine) as conn:
        row = conn.execute(claim, params).first()
    if version is not None and not (row is not None and gov.registry.is_current(row[-1])):
        gov.registry.refresh()  # its tool may have been enabled or disabled since
    if row is None:
        return None
    rec = ToolCallRecord(**{c.name: row._mapping[c] for c in _CALLS.c})
    if call_hash(rec.tool, rec.args, gov.policy.version) != rec.args_hash:
        with session_scope(gov.engine) as session:
            refusal = {"status": "denied", "reason": _ALTERED, "exec_started_at": None}
            if _cas(session, rec.key, ("executing",), refusal):
                _record_refusal(session, rec, "denied", _ALTERED, rec.approval_id)
        rec.status, rec.reason = "denied", _ALTERED
    return rec


@lru_cache(maxsize=4)
def _claim_reading(version: ScalarSelect[Any] | None) -> ReturningUpdate[Any]:
    """The claim statement, also reading ``version``: built once per version query (a
    registry hands out one object; the bound keeps a registry that does not from
    growing this without end)."""
    return _CLAIM_APPROVED if version is None else _CLAIM_APPROVED.returning(version)


_ALTERED = (
    "The approved arguments do not match the approval's hash; the request was altered "
    "after approval, so it is refused."
)
_CALLS: Table = ToolCallRecord.__table__  # type: ignore[attr-defined]
_REQUESTS: Table = ApprovalRequest.__table__  # type: ignore[attr-defined]
_CLAIM_APPROVED = (
    update(_CALLS)
    .where(
        _CALLS.c.key == bindparam("call_key"),
        _CALLS.c.status == "pending",
        _CALLS.c.approval_id == _REQUESTS.c.id,
        _REQUESTS.c.status.in_(("approved", "executed")),
        _REQUESTS.c.policy_version == bindparam("policy"),
    )
    .values(
        status="executing",
        exec_started_at=bindparam("started"),
        args=_REQUESTS.c.args,
        args_hash=_REQUESTS.c.args_hash,
    )
    .returning(*_CALLS.c)
)
"""Carry an approval over to its call (with the args as approved) and claim it."""
_CAS = update(_CALLS).where(
    _CALLS.c.key == bindparam("cas_key"),
    _CALLS.c.status.in_(bindparam("cas_expected", expanding=True)),
)
"""Built once; the columns to set come with the parameters (SET only those given)."""


def _apply_approval(
    session: Session, gov: Governance, rec: ToolCallRecord, request: ApprovalRequest
) -> dict[str, Any] | None:
    """Carry a decided approval over to the call; returns the changes this made to it
    (status ``executing``: claimed for execution by us), or None if it changed nothing."""
    now = utcnow()
    if request.status == "pending" and request.deadline <= now:
        expire_request(session, request, now)
        session.refresh(request)
    changes: dict[str, Any]
    if request.status in ("approved", "executed"):
        changes = _verified(gov, request)
    elif request.status == "denied":
        decisions = approvals_so_far(session, request)
        last: ApprovalDecision | None = decisions[-1] if decisions else None
        who = last.approver if last else "an approver"
        note = f": {last.comment}" if last and last.comment else ""
        changes = {"status": "denied", "reason": f"Denied by {who}{note}"}
    elif request.status == "expired":
        changes = {
            "status": "expired",
            "reason": f"No decision before the deadline {request.deadline.isoformat()}; "
            "denied by default.",
        }
    else:
        return None
    if not _cas(session, rec.key, ("pending",), changes):
        session.refresh(rec)  # someone else carried it over first: see what they did
        return None
    if changes["status"] in ("denied", "expired"):
        _record_refusal(session, rec, changes["status"], changes["reason"], request.id)
    return changes


def _record_refusal(
    session: Session, rec: ToolCallRecord, status: str, reason: str, approval_id: str | None
) -> None:
    record(
        session,
        kind="tool_denied",
        actor="system",
        run_id=rec.run_id,
        thread_id=rec.thread_id,
        data={"tool": rec.tool, "rule": rec.rule, "reason": reason, "approval_id": approval_id},
    )
    refused(rec, status, reason)


def _verified(gov: Governance, request: ApprovalRequest) -> dict[str, Any]:
    """Re-verify the approval binds to exactly these args under the current policy."""
    if call_hash(request.tool, request.args, request.policy_version) != request.args_hash:
        return {"status": "denied", "reason": _ALTERED}
    if request.policy_version != gov.policy.version:
        return {
            "status": "denied",
            "reason": f"The policy changed since approval "
            f"({request.policy_version} -> {gov.policy.version}); ask again to re-review.",
        }
    # Verified: claim it for execution in the same transaction (one commit fewer).
    return {
        "status": "executing",
        "exec_started_at": utcnow(),
        "args": request.args,
        "args_hash": request.args_hash,
    }


def _cas(session: Session, key: str, expected: tuple[str, ...], changes: dict[str, Any]) -> bool:
    params = {**changes, "cas_key": key, "cas_expected": list(expected)}
    return bool(rows_affected(session.execute(_CAS, params)) == 1)


def _execute(
    gov: Governance,
    rec: ToolCallRecord,
    claim_from: tuple[str, ...],
    started: datetime | None = None,
) -> ToolMessage | Pending:
    with session_scope(gov.engine) as session:
        claim = update(ToolCallRecord).where(
            col(ToolCallRecord.key) == rec.key, col(ToolCallRecord.status).in_(claim_from)
        )
        if started is not None:  # taking over: only if nobody took over first
            claim = claim.where(col(ToolCallRecord.exec_started_at) == started)
        now = utcnow()
        claimed = (
            rows_affected(session.execute(claim.values(status="executing", exec_started_at=now)))
            == 1
        )
    if not claimed:
        return settle(gov, rec.key)
    rec.status, rec.exec_started_at = "executing", now
    return run_claimed(gov, rec)


def run_claimed(gov: Governance, rec: ToolCallRecord) -> ToolMessage:
    """Run the adapter for a call this process has claimed, and record the outcome."""
    with tool_span(gov.engine, rec) as span:
        message = _run_claimed(gov, rec)
        tool_outcome(span, rec.status, rec.error)
    return message


def _run_claimed(gov: Governance, rec: ToolCallRecord) -> ToolMessage:
    ctx = ToolContext(
        idempotency_key=rec.key,
        engine=gov.engine,
        run_id=rec.run_id,
        thread_id=rec.thread_id,
        tool_call_id=rec.tool_call_id,
        agent=rec.agent,
        requester=rec.requester,
    )
    began = time.perf_counter()
    result: Any = None
    error: str | None = None
    try:
        registered = gov.registry.get(rec.tool)  # NotFound if it was disabled meanwhile
        result = _jsonable(registered.execute(registered.validate(rec.args), ctx))
    except (ToolFailed, NotFound) as exc:
        error = str(exc)
    except Exception as exc:
        log.exception("adapter raised", tool=rec.tool)
        error = f"{type(exc).__name__}: {exc}"
    changes = {
        "status": "failed" if error else "executed",
        "result": result,
        "error": error,
        "executed_at": utcnow(),
        "latency_ms": round((time.perf_counter() - began) * 1000, 3),
    }
    with session_scope(gov.engine) as session:
        _cas(session, rec.key, ("executing",), changes)
        if rec.approval_id:
            mark_executed(session, rec.approval_id)
        outbox.add(
            session,
            ToolExecuted(
                run_id=rec.run_id,
                thread_id=rec.thread_id,
                tool=rec.tool,
                tool_call_id=rec.tool_call_id,
                ok=error is None,
            ),
        )
        # The audit append comes last: it takes the chain-head lock, and every writer
        # takes its row locks before that one, so no two transactions wait on each other.
        base = {"tool": rec.tool, "tool_call_id": rec.tool_call_id}
        if error:
            data = {**base, "error": error}
        else:
            data = {**base, "result": result, "latency_ms": changes["latency_ms"]}
        record(
            session,
            kind="tool_failed" if error else "tool_executed",
            actor=rec.agent,
            run_id=rec.run_id,
            thread_id=rec.thread_id,
            data=data,
        )
    for field, value in changes.items():
        setattr(rec, field, value)
    return message_for(rec)


def _take_over(gov: Governance, rec: ToolCallRecord) -> ToolMessage | Pending:
    """An ``executing`` claim from a process that may have died."""
    started = rec.exec_started_at or utcnow()
    if utcnow() - started < gov.execution_lease:
        raise ExecutionInProgress(f"{rec.tool} call {rec.tool_call_id} is executing elsewhere")
    if gov.registry.get(rec.tool).meta.idempotent:
        return _execute(gov, rec, claim_from=("executing",), started=rec.exec_started_at)
    with session_scope(gov.engine) as session:
        reason = (
            f"In doubt: the process executing {rec.tool} stopped before recording the "
            "result, and this tool cannot be safely repeated. Check the system by hand."
        )
        if _cas(session, rec.key, ("executing",), {"status": "failed", "error": reason}):
            record(
                session,
                kind="tool_failed",
                actor="system",
                run_id=rec.run_id,
                thread_id=rec.thread_id,
                data={"tool": rec.tool, "error": reason},
            )
        final = session.get(ToolCallRecord, rec.key)
        assert final is not None
        session.refresh(final)
    return message_for(final)


def _pending(request: ApprovalRequest) -> Pending:
    return {
        "approval_id": request.id,
        "tool": request.tool,
        "args": request.args,
        "rule": request.rule,
        "reason": request.reason,
        "deadline": request.deadline.isoformat(),
        "approvals_required": request.approvals_required,
    }


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str)) if value is not None else None


def message_for(rec: ToolCallRecord) -> ToolMessage:
    """What the agent is told about a settled call."""
    if rec.status == "executed":
        content = json.dumps(rec.result, default=str, sort_keys=True)
        return ToolMessage(content=content, tool_call_id=rec.tool_call_id, name=rec.tool)
    if rec.status == "invalid":
        text = f"Not executed: {rec.error}"
    elif rec.status == "denied":
        text = f"Not executed: denied (rule {rec.rule}). {rec.reason}"
    elif rec.status == "expired":
        text = f"Not executed: approval expired. {rec.reason}"
    else:
        text = f"Tool failed: {rec.error}"
    return ToolMessage(content=text, tool_call_id=rec.tool_call_id, name=rec.tool, status="error")
