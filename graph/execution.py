"""Settling one recorded call: wait, verify an approval, or execute it exactly once.

``settle`` returns a typed outcome: ``Done`` (the call's final message for the agent),
``AwaitingApproval`` or ``InFlight`` (another process holds the call right now). In
flight means wait, never fail: the run pauses and moves on when the call's result is
recorded (its ``tool.executed`` event) or when the claimant's lease lapses and the call
is taken over. A call whose claimant died is run again only for adapters that honour
the idempotency key; any other becomes ``in_doubt`` for a person to check.

Transitions are ``graph.calls``'; each runs with transient database errors retried, so
a terminated connection or a restart delays a call and never strands it.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from langchain_core.messages import ToolMessage
from sqlmodel import Session

from approvals import outbox
from approvals.events import ToolExecuted
from approvals.models import ApprovalDecision, ApprovalRequest, Outcome
from approvals.service import approvals_so_far, expire_request, record_outcome
from audit.trail import record
from foundation.canonical import call_hash
from foundation.db import is_transient, one_statement, retry_transient, session_scope, utcnow
from foundation.errors import NotFound, ToolFailed, UserError
from foundation.logging import bound_ids, get_logger
from graph import calls
from graph.calls import Claim
from graph.governance import Governance
from graph.records import FINAL_CALL_STATUSES, CallStatus, ToolCallRecord
from graph.tracing import refused, tool_outcome, tool_span
from tools.spec import ToolContext

log = get_logger(__name__)


@dataclass(frozen=True)
class Done:
    message: ToolMessage


@dataclass(frozen=True)
class AwaitingApproval:
    approval: dict[str, Any]


@dataclass(frozen=True)
class InFlight:
    key: str
    tool: str
    tool_call_id: str
    lease_until: datetime | None


Settled = Done | AwaitingApproval | InFlight

ADAPTER_RETRIES = 3
"""Attempts for an idempotent adapter that failed on a transient database error."""

_ALTERED = (
    "The approved arguments do not match the approval's hash; the request was altered "
    "after approval, so it is refused."
)


def settle(gov: Governance, key: str) -> Settled:
    """Where the call stands, moving it on if this process can."""
    claim, rec, request = retry_transient(lambda: _advance(gov, key), what="settle a call")
    if claim is not None:
        return run_claimed(gov, claim)
    if rec.status in FINAL_CALL_STATUSES:
        return Done(message_for(rec))
    if rec.status == CallStatus.PENDING:
        assert request is not None
        return AwaitingApproval(_pending(request))
    return _executing(gov, rec)


def settle_approved(gov: Governance, key: str) -> Settled:
    """``settle`` for a call whose approval was just decided: the worker's path from a
    decision to the tool running. The common case (approved under the current policy)
    is claimed in one statement outside a transaction; anything else goes through
    ``settle``, which says why."""
    claim = retry_transient(lambda: _claim_approved(gov, key), what="claim an approved call")
    if claim is None:
        return settle(gov, key)
    if claim.rec.status != CallStatus.EXECUTING:
        return Done(message_for(claim.rec))
    return run_claimed(gov, claim)


def _claim_approved(gov: Governance, key: str) -> Claim | None:
    """The claim statement also reads the tool registrations' version, so a tool
    disabled since the approval is refused rather than run from a stale registry."""
    version = gov.registry.version_query()
    with one_statement(gov.engine) as conn:
        claim, seen = calls.claim_approved_reading(
            conn, key, gov.policy.version, gov.execution_lease, version
        )
    if version is not None and not (claim is not None and gov.registry.is_current(seen)):
        gov.registry.refresh()  # its tool may have been enabled or disabled since
    if claim is None:
        return None
    rec = claim.rec
    if call_hash(rec.tool, rec.args, gov.policy.version) != rec.args_hash:
        with session_scope(gov.engine) as session:
            if calls.refuse_claimed(session, claim, _ALTERED):
                if rec.approval_id:
                    record_outcome(session, rec.approval_id, "not_run")
                _record_refusal(session, rec, "denied", _ALTERED, rec.approval_id)
        rec.status, rec.reason = CallStatus.DENIED, _ALTERED
    return claim


def _advance(
    gov: Governance, key: str
) -> tuple[Claim | None, ToolCallRecord, ApprovalRequest | None]:
    """One transaction: read the call and, if its approval was decided, carry that over
    (claiming it if approved). Safe to repeat after a transient error."""
    with session_scope(gov.engine) as session:
        rec = session.get(ToolCallRecord, key)
        if rec is None:
            raise UserError(f"no record for tool call {key}; propose() must run first")
        request = session.get(ApprovalRequest, rec.approval_id) if rec.approval_id else None
        claim = None
        if rec.status == CallStatus.PENDING and request is not None:
            claim = _apply_approval(session, gov, rec, request)
    return claim, rec, request


def _apply_approval(
    session: Session, gov: Governance, rec: ToolCallRecord, request: ApprovalRequest
) -> Claim | None:
    """Carry a decided approval over to the call: a claim if it was approved and still
    binds (then the caller runs it), a recorded refusal otherwise."""
    now = utcnow()
    if request.status == "pending" and request.deadline <= now:
        expire_request(session, request, now)
        session.refresh(request)
    ended = calls.run_ended(session.connection(), rec.run_id)
    if ended is not None and request.status == "approved":
        status, reason = (
            CallStatus.DENIED,
            (
                f"The run ended ({ended}) before this approved call could run; it was not "
                "executed. Ask again in a new message if it is still wanted."
            ),
        )
    elif request.status == "approved":
        refusal = _verify(gov, request)
        if refusal is None:
            claim = calls.claim_approved(
                session.connection(), rec.key, gov.policy.version, gov.execution_lease
            )
            if claim is None:
                session.refresh(rec)
            return claim
        status, reason = CallStatus.DENIED, refusal
    elif request.status == "denied":
        decisions = approvals_so_far(session, request)
        last: ApprovalDecision | None = decisions[-1] if decisions else None
        who = last.approver if last else "an approver"
        note = f": {last.comment}" if last and last.comment else ""
        status, reason = CallStatus.DENIED, f"Denied by {who}{note}"
    elif request.status == "withdrawn":
        status, reason = CallStatus.DENIED, "Not decided: the run ended first; nothing ran."
    elif request.status == "expired":
        status = CallStatus.EXPIRED
        reason = (
            f"No decision before the deadline {request.deadline.isoformat()}; denied by default."
        )
    else:
        return None
    if calls.refuse(session, rec.key, status, reason):
        rec.status, rec.reason = status, reason
        if request.status == "approved":  # approved, yet it will never run: say so
            record_outcome(session, request.id, "not_run")
        _record_refusal(session, rec, status, reason, request.id)
    else:
        session.refresh(rec)  # someone else carried it over first: see what they did
    return None


def _verify(gov: Governance, request: ApprovalRequest) -> str | None:
    """Why the approval no longer binds these args under the current policy, or None."""
    if call_hash(request.tool, request.args, request.policy_version) != request.args_hash:
        return _ALTERED
    if request.policy_version != gov.policy.version:
        return (
            f"The policy changed since approval "
            f"({request.policy_version} -> {gov.policy.version}); ask again to re-review."
        )
    return None


def _record_refusal(
    session: Session, rec: ToolCallRecord, status: str, reason: str, approval_id: str | None
) -> None:
    record(
        session,
        kind="tool_denied",
        actor="system",
        run_id=rec.run_id,
        thread_id=rec.thread_id,
        data={
            "tool": rec.tool,
            "tool_call_id": rec.tool_call_id,
            "rule": rec.rule,
            "reason": reason,
            "approval_id": approval_id,
        },
    )
    refused(rec, status, reason)


def _executing(gov: Governance, rec: ToolCallRecord) -> Settled:
    """A call claimed by someone: wait while their lease holds; after it, take over."""
    if not calls.lease_lapsed(rec):
        return InFlight(rec.key, rec.tool, rec.tool_call_id, rec.lease_until)
    try:
        idempotent = gov.registry.get(rec.tool).meta.idempotent
    except NotFound:
        idempotent = False
    with one_statement(gov.engine) as conn:
        if calls.run_ended(conn, rec.run_id) is not None:
            idempotent = False  # the run was fenced: nothing of it runs again
    with session_scope(gov.engine) as session:
        claim = calls.take_over(session, rec, gov.execution_lease)
        if claim is not None and not idempotent:
            reason = (
                f"In doubt: the process executing {rec.tool} stopped before recording the "
                "result, and this tool cannot be safely repeated. Check the system by hand "
                "and record what happened."
            )
            _finish(
                session, claim, {"status": CallStatus.IN_DOUBT, "error": reason}, actor="system"
            )
            rec.status, rec.error = CallStatus.IN_DOUBT, reason
            return Done(message_for(rec))
    if claim is None:  # someone else moved it first: see where it stands now
        return _after_lost_claim(gov, rec)
    log.warning(
        "taking over a call whose claimant stopped",
        tool=rec.tool,
        tool_call_id=rec.tool_call_id,
        attempt=claim.rec.attempts,
    )
    return run_claimed(gov, claim)


def run_claimed(gov: Governance, claim: Claim) -> Done | InFlight:
    """Run the adapter for a call this process has claimed, and record the outcome
    under the claim's fence (or, if the claim was lost meanwhile, nothing). A claim
    that is not fresh (its process was slow or stopped since) is re-checked first."""
    rec = claim.rec
    if not claim.fresh() and not retry_transient(
        lambda: _still_held(gov, claim), what="check a claim"
    ):
        # Stalled past its lease before the adapter ran, and another took the call over:
        # this process runs nothing and records nothing.
        log.warning("lost the claim before executing; not running it", tool=rec.tool)
        return _after_lost_claim(gov, rec)
    with bound_ids(tool_call_id=rec.tool_call_id), tool_span(gov.engine, rec) as span:
        with _keep_claim(gov, claim):
            changes = _run_adapter(gov, rec)
        recorded = retry_transient(
            lambda: record_result(gov, claim, changes), what="record a tool result"
        )
        tool_outcome(span, changes["status"], changes.get("error"))
    if not recorded:
        log.warning("lost the claim while executing; recorded nothing", tool=rec.tool)
        return _after_lost_claim(gov, rec)
    for field, value in changes.items():
        setattr(rec, field, value)
    return Done(message_for(rec))


def _still_held(gov: Governance, claim: Claim) -> bool:
    """Renew the lease right before the adapter runs: one statement that fails if the
    claim was lost (the fence moved on)."""
    with one_statement(gov.engine) as conn:
        return calls.renew(conn, claim, gov.execution_lease)


def _after_lost_claim(gov: Governance, rec: ToolCallRecord) -> Done | InFlight:
    with session_scope(gov.engine) as session:
        now = session.get(ToolCallRecord, rec.key)
    assert now is not None
    if now.status in FINAL_CALL_STATUSES:
        return Done(message_for(now))
    return InFlight(now.key, now.tool, now.tool_call_id, now.lease_until)


@contextmanager
def _keep_claim(gov: Governance, claim: Claim) -> Iterator[None]:
    """Renew the execution lease while the adapter runs: a slow adapter keeps its call;
    a process that died or stopped lets go within one lease."""
    stop = threading.Event()
    every = max(gov.execution_lease.total_seconds() / 3, 0.05)

    def renew() -> None:
        while not stop.wait(every):
            try:
                with one_statement(gov.engine) as conn:
                    if not calls.renew(conn, claim, gov.execution_lease):
                        return
            except Exception as exc:  # the next renewal tries again; the lease is long
                log.warning("renewing an execution lease failed", error=str(exc)[:200])

    keeper = threading.Thread(target=renew, name=f"claim-{claim.rec.key[:8]}", daemon=True)
    keeper.start()
    try:
        yield
    finally:
        stop.set()
        keeper.join()


def _run_adapter(gov: Governance, rec: ToolCallRecord) -> dict[str, Any]:
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
    status = CallStatus.SUCCEEDED
    try:
        registered = gov.registry.get(rec.tool)  # NotFound if it was disabled meanwhile
    except NotFound as exc:
        registered, error, status = None, str(exc), CallStatus.FAILED
    for attempt in range(1, ADAPTER_RETRIES + 1):
        if registered is None:
            break
        try:
            result = _jsonable(registered.execute(registered.validate(rec.args), ctx))
            break
        except ToolFailed as exc:
            error, status = str(exc), CallStatus.FAILED
            break
        except Exception as exc:
            transient = is_transient(exc)
            if transient and registered.meta.idempotent and attempt < ADAPTER_RETRIES:
                log.warning("adapter hit a transient database error; retrying", attempt=attempt)
                time.sleep(0.2 * 2**attempt)
                continue
            if transient and not registered.meta.idempotent:
                # Its own transaction may or may not have committed: nobody can tell.
                error = (
                    f"In doubt: {rec.tool} lost its database connection mid-call "
                    f"({type(exc).__name__}) and cannot be safely repeated. Check the system "
                    "by hand and record what happened."
                )
                status = CallStatus.IN_DOUBT
            else:
                if not transient:
                    log.exception("adapter raised", tool=rec.tool)
                error, status = f"{type(exc).__name__}: {exc}", CallStatus.FAILED
            break
    return {
        "status": status,
        "result": result if status == CallStatus.SUCCEEDED else None,
        "error": error,
        "executed_at": utcnow(),
        "latency_ms": round((time.perf_counter() - began) * 1000, 3),
    }


def record_result(gov: Governance, claim: Claim, changes: dict[str, Any]) -> bool:
    """Record what the adapter did, under the claim's fence; False if the claim was lost
    (then nothing is written: whoever took the call over records it)."""
    with session_scope(gov.engine) as session:
        return _finish(session, claim, changes, actor=claim.rec.agent)


def _finish(session: Session, claim: Claim, changes: dict[str, Any], *, actor: str) -> bool:
    """Record the outcome under the claim's fence, with the approval's outcome, the bus
    message and the audit event, in one transaction. False (and nothing written) if the
    claim was lost."""
    rec = claim.rec
    if not calls.finish(session, claim, changes):
        return False
    status = CallStatus(changes["status"])
    if rec.approval_id:
        outcome: Outcome = status.value  # type: ignore[assignment]
        record_outcome(session, rec.approval_id, outcome)
    outbox.add(
        session,
        ToolExecuted(
            run_id=rec.run_id,
            thread_id=rec.thread_id,
            tool=rec.tool,
            tool_call_id=rec.tool_call_id,
            ok=status == CallStatus.SUCCEEDED,
            outcome=status.value,
            approval_id=rec.approval_id,
        ),
    )
    # The audit append comes last: it takes the chain-head lock, and every writer
    # takes its row locks before that one, so no two transactions wait on each other.
    data: dict[str, Any] = {
        "tool": rec.tool,
        "tool_call_id": rec.tool_call_id,
        "approval_id": rec.approval_id,
        "attempt": rec.attempts,
    }
    if status == CallStatus.SUCCEEDED:
        data |= {"result": changes["result"], "latency_ms": changes.get("latency_ms")}
    else:
        data |= {"error": changes.get("error"), "outcome": status.value}
    record(
        session,
        kind="tool_executed" if status == CallStatus.SUCCEEDED else "tool_failed",
        actor=actor,
        run_id=rec.run_id,
        thread_id=rec.thread_id,
        data=data,
    )
    return True


def _pending(request: ApprovalRequest) -> dict[str, Any]:
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
    if rec.status == CallStatus.SUCCEEDED:
        content = json.dumps(rec.result, default=str, sort_keys=True)
        return ToolMessage(content=content, tool_call_id=rec.tool_call_id, name=rec.tool)
    if rec.status == CallStatus.INVALID:
        text = f"Not executed: {rec.error}"
    elif rec.status == CallStatus.DENIED:
        text = f"Not executed: denied (rule {rec.rule}). {rec.reason}"
    elif rec.status == CallStatus.EXPIRED:
        text = f"Not executed: approval expired. {rec.reason}"
    elif rec.status == CallStatus.IN_DOUBT:
        text = f"Outcome unknown: {rec.error}"
    else:
        text = f"Tool failed: {rec.error}"
    return ToolMessage(content=text, tool_call_id=rec.tool_call_id, name=rec.tool, status="error")
