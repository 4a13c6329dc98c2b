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

from langchain_core.messages import AIMessage, AnyMessage, ToolCall, ToolMessage
from langchain_core.runnables import RunnableConfig
from langgraph.types import interrupt
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from approvals.service import NewRequest, create_request
from audit.trail import record
from graph.execution import settle
from graph.governance import MOVED_MONEY, Governance, amount_of, idempotency_key, run_totals
from graph.records import ToolCallRecord
from graph.state import OpsState
from policies.decision import CallFacts, Decision, RunTotals
from tethra.canonical import call_hash
from tethra.db import session_scope
from tethra.errors import InvalidInput, NotFound
from tethra.logging import bound_ids, get_logger

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
        self.propose(scope, last.tool_calls)
        while True:
            messages: list[AnyMessage] = []
            pending: list[dict[str, Any]] = []
            for call in last.tool_calls:
                outcome = settle(self.gov, idempotency_key(scope.thread_id, call["id"] or ""))
                if isinstance(outcome, ToolMessage):
                    messages.append(outcome)
                else:
                    pending.append(outcome)
            if not pending:
                return {"messages": messages}
            # Pauses the graph; on resume the node re-runs from the top and everything
            # above replays from SQL. The resume value carries nothing: SQL is the truth.
            interrupt({"kind": "approvals_pending", "pending": pending})

    def propose(self, scope: CallScope, calls: list[ToolCall]) -> None:
        """Validate, decide and record every new call of the turn, in order, once."""
        with session_scope(self.gov.engine) as session:
            totals = run_totals(session, scope.run_id)
        for call in calls:
            key = idempotency_key(scope.thread_id, call["id"] or "")
            with bound_ids(tool_call_id=call["id"]):
                try:
                    with session_scope(self.gov.engine) as session:
                        if session.get(ToolCallRecord, key) is not None:
                            continue
                        rec = self._decide_and_record(session, scope, call, key, totals)
                except IntegrityError:
                    continue  # another process recorded this call first; settle() reads it
            if rec.effect == "money" and rec.status in (*MOVED_MONEY, "pending"):
                totals = RunTotals(
                    tool_calls=totals.tool_calls + 1,
                    money_moved=totals.money_moved + float(amount_of(rec.args)),
                )

    def _decide_and_record(
        self,
        session: Session,
        scope: CallScope,
        call: ToolCall,
        key: str,
        totals: RunTotals,
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
            status="invalid",
        )
        audit = {"run_id": scope.run_id, "thread_id": scope.thread_id}
        record(
            session,
            kind="tool_proposed",
            actor=scope.agent,
            **audit,
            data={"tool": call["name"], "tool_call_id": rec.tool_call_id, "args": rec.args},
        )
        try:
            registered = gov.registry.get(call["name"])
            rec.effect = registered.meta.effect
            args = registered.canonical_args(registered.validate(rec.args))
        except (NotFound, InvalidInput) as exc:
            rec.error = str(exc)
            record(
                session,
                kind="check_result",
                actor="system",
                **audit,
                data={
                    "tool": rec.tool,
                    "check": "args_schema",
                    "passed": False,
                    "message": rec.error,
                },
            )
            session.add(rec)
            return rec
        rec.args = args
        record(
            session,
            kind="check_result",
            actor="system",
            **audit,
            data={"tool": rec.tool, "check": "args_schema", "passed": True, "message": "valid"},
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
                    args=registered.validate(args).model_dump(mode="python"),
                    agent=scope.agent,
                    requester=scope.requester,
                    run=totals,
                )
            )
        rec.tier, rec.rule, rec.reason = decision.tier, decision.rule, decision.reason
        rec.policy_version = decision.policy_version
        rec.args_hash = call_hash(rec.tool, args, decision.policy_version)
        record(
            session,
            kind="policy_decision",
            actor="policy",
            **audit,
            data={"tool": rec.tool, "tool_call_id": rec.tool_call_id, **decision.as_audit()},
        )
        if decision.tier == "deny":
            rec.status = "denied"
            record(
                session,
                kind="tool_denied",
                actor="policy",
                **audit,
                data={"tool": rec.tool, "rule": decision.rule, "reason": decision.reason},
            )
        elif decision.tier == "allow":
            rec.status = "allowed"
        else:
            rec.status = "pending"
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
            )
            rec.approval_id = request.id
        session.add(rec)
        log.info("tool call decided", tool=rec.tool, tier=decision.tier, rule=decision.rule)
        return rec
