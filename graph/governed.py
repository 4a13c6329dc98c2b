"""The governed tool node: LangGraph's ToolNode, with a policy decision before every call.

For each call the model proposed: validate the args against the tool's schema, decide
(allow | review | deny), and act. ``allow`` executes at once with an idempotency key;
``review`` persists an approval request and the graph interrupts (checkpointed);
``deny`` tells the agent why. Calls in one model turn are handled independently, and
the node may be re-run any number of times (LangGraph re-runs an interrupted node on
resume): every step is recorded in SQL first and replayed from there, so an adapter
runs at most once and never before its approval.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from langchain_core.messages import AIMessage, AnyMessage, ToolCall
from langchain_core.runnables import RunnableConfig
from langgraph.types import interrupt
from sqlalchemy import func, insert
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from approvals.service import NewRequest, create_request
from audit.events import EventKind
from audit.trail import Event, record_many
from foundation.canonical import call_hash
from foundation.db import session_scope, utcnow
from foundation.errors import InvalidInput, NotFound
from foundation.logging import bound_ids, get_logger
from graph import runs
from graph.calls import Claim
from graph.execution import AwaitingApproval, Done, InFlight, run_claimed, settle
from graph.governance import MOVED_MONEY, Governance, amount_of, idempotency_key, run_totals
from graph.records import CallStatus, ToolCallRecord
from graph.state import OpsState
from graph.tracing import refused_at_proposal
from policies.decision import CallFacts, Decision, RunTotals

log = get_logger(__name__)


@dataclass(frozen=True)
class CallScope:
    run_id: str
    thread_id: str
    agent: str
    requester: str


class GovernedToolNode:
    """Callable as a LangGraph node: ``(state, config) -> {"messages": [ToolMessage, ...]}``."""

    def __init__(self, gov: Governance) -> None:
        self.gov = gov

    def __call__(self, state: OpsState, config: RunnableConfig) -> dict[str, list[AnyMessage]]:
        last = state["messages"][-1]
        if not isinstance(last, AIMessage) or not last.tool_calls:
            return {"messages": []}
        scope = CallScope(
            run_id=state["run_id"],
            thread_id=(config.get("configurable") or {})["thread_id"],
            agent=state.get("agent", "ops"),
            requester=state["requester"],
        )
        done: dict[str, Done | InFlight] = {}
        for rec in self.propose(scope, last.tool_calls, config):
            # Allowed now, claimed at proposal: run without a re-read.
            done[rec.key] = run_claimed(self.gov, Claim(rec, rec.fence))
        while True:
            messages: list[AnyMessage] = []
            pending: list[dict[str, Any]] = []
            in_flight: list[dict[str, Any]] = []
            for call in last.tool_calls:
                key = idempotency_key(scope.thread_id, call["id"] or "")
                outcome = done.get(key) or settle(self.gov, key)
                if isinstance(outcome, Done):
                    messages.append(outcome.message)
                elif isinstance(outcome, AwaitingApproval):
                    pending.append(outcome.approval)
                else:
                    in_flight.append({"tool": outcome.tool, "tool_call_id": outcome.tool_call_id})
            if not pending and not in_flight:
                return {"messages": messages}
            # Pauses the graph; on resume the node re-runs from the top and everything
            # above replays from SQL. The resume value carries nothing: SQL is the truth.
            # A call in flight elsewhere is waited for the same way: its recorded result
            # (or its claimant's lapsed lease) resumes the run.
            interrupt({"kind": "approvals_pending", "pending": pending, "in_flight": in_flight})
            done = {}

    def propose(
        self, scope: CallScope, calls: list[ToolCall], config: RunnableConfig | None = None
    ) -> list[ToolCallRecord]:
        """Validate, decide and record every new call of the turn, in order, once.

        One transaction for the turn; allowed calls are recorded already claimed for
        execution (``executing``), and returned so the caller runs them straight away.
        A re-run of the node (after an interrupt) finds every call recorded and decides
        nothing again; a concurrent proposer of the same calls makes this one roll back
        and read theirs.
        """
        keys = [idempotency_key(scope.thread_id, call["id"] or "") for call in calls]
        try:
            with session_scope(self.gov.engine) as session:
                runs.check(session, config, scope.run_id)  # a late driver proposes nothing
                recorded = select(func.count()).where(col(ToolCallRecord.key).in_(keys))
                if session.exec(recorded).one() == len(keys):
                    return []  # a re-run (after an interrupt): nothing new to decide
                totals = self._totals(session, scope, calls)
                events: list[Event] = []
                records: list[ToolCallRecord] = []
                for call, key in zip(calls, keys, strict=True):
                    with bound_ids(tool_call_id=call["id"]):
                        rec = self._decide_and_record(session, scope, call, key, totals, events)
                    records.append(rec)
                    if rec.effect == "money" and rec.status in (*MOVED_MONEY, "pending"):
                        totals = RunTotals(
                            tool_calls=totals.tool_calls + 1,
                            money_moved=totals.money_moved + float(amount_of(rec.args)),
                            cost_usd=totals.cost_usd,
                        )
                # A turn's calls are recorded together or not at all: if they exist
                # (a re-run after an interrupt, or another process), this insert fails.
                session.execute(insert(ToolCallRecord), [r.model_dump() for r in records])
                record_many(session, events)  # last: the audit head lock is taken last
        except IntegrityError:
            return []  # recorded before; settle() replays each call from its record
        refused_at_proposal(records)
        return [r for r in records if r.status == CallStatus.EXECUTING]

    def _totals(self, session: Session, scope: CallScope, calls: list[ToolCall]) -> RunTotals:
        """Run totals, queried only when some rule for these tools reads them."""
        policy, registry = self.gov.policy, self.gov.registry
        for call in calls:
            if call["name"] in registry:
                meta = registry.get(call["name"]).meta
                if policy.reads_run_totals(call["name"], meta.system, meta.effect):
                    return run_totals(session, scope.run_id)
        return RunTotals()

    def _decide_and_record(
        self,
        session: Session,
        scope: CallScope,
        call: ToolCall,
        key: str,
        totals: RunTotals,
        events: list[Event],
    ) -> ToolCallRecord:
        gov = self.gov
        rec = ToolCallRecord(
            key=key,
            run_id=scope.run_id,
            thread_id=scope.thread_id,
            tool_call_id=call["id"] or "",
            agent=scope.agent,
            requester=scope.requester,
            tool=call["name"],
            args=dict(call["args"]),
            status=CallStatus.INVALID,
        )

        def note(kind: EventKind, actor: str, **data: Any) -> None:
            events.append(Event(kind, actor, data, scope.run_id, scope.thread_id))

        note(
            "tool_proposed",
            scope.agent,
            tool=call["name"],
            tool_call_id=rec.tool_call_id,
            args=rec.args,
        )
        try:
            registered = gov.registry.get(call["name"])
            rec.effect = registered.meta.effect
            validated = registered.validate(rec.args)
            args = registered.canonical_args(validated)
        except (NotFound, InvalidInput) as exc:
            rec.error = str(exc)
            note(
                "check_result",
                "system",
                tool=rec.tool,
                check="args_schema",
                passed=False,
                message=rec.error,
            )
            return rec
        rec.args = args
        note(
            "check_result",
            "system",
            tool=rec.tool,
            check="args_schema",
            passed=True,
            message="valid",
        )
        if rec.tool not in gov.agent_tools.get(scope.agent, frozenset()):
            decision = Decision(
                tier="deny",
                rule="agent-scope",
                reason=f"Agent {scope.agent!r} is not allowed to use {rec.tool!r}.",
                policy_version=gov.policy.version,
            )
        else:
            decision = gov.policy.decide(
                CallFacts(
                    tool=rec.tool,
                    system=registered.meta.system,
                    effect=registered.meta.effect,
                    args=validated.model_dump(mode="python"),
                    agent=scope.agent,
                    requester=scope.requester,
                    run=totals,
                )
            )
        rec.tier, rec.rule, rec.reason = decision.tier, decision.rule, decision.reason
        rec.policy_version = decision.policy_version
        rec.args_hash = call_hash(rec.tool, args, decision.policy_version)
        note(
            "policy_decision",
            "policy",
            tool=rec.tool,
            tool_call_id=rec.tool_call_id,
            **decision.as_audit(),
        )
        if decision.tier == "deny":
            rec.status = CallStatus.DENIED
            note("tool_denied", "policy", tool=rec.tool, rule=decision.rule, reason=decision.reason)
        elif decision.tier == "allow":
            # Claimed for execution by this node, under the first fence.
            now = utcnow()
            rec.status, rec.exec_started_at = CallStatus.EXECUTING, now
            rec.lease_until, rec.fence, rec.attempts = now + gov.execution_lease, 1, 1
        else:
            rec.status = CallStatus.PENDING
            request = create_request(
                session,
                NewRequest(
                    call_key=key,
                    run_id=scope.run_id,
                    thread_id=scope.thread_id,
                    tool_call_id=rec.tool_call_id,
                    agent=scope.agent,
                    requester=scope.requester,
                    tool=rec.tool,
                    args=args,
                    args_hash=rec.args_hash,
                    decision=decision,
                ),
                events=events,
            )
            rec.approval_id = request.id
        log.debug("tool call decided", tool=rec.tool, tier=decision.tier, rule=decision.rule)
        return rec
