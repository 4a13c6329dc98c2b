"""What a case's runs actually did, read back from the system of record.

Observations come from the audit trail and the run and tool-call records, not from
the model's messages, so a case checks what the platform decided and executed — the
same facts an auditor would see — rather than what the model claimed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from audit.models import AuditEvent
from graph.records import Run, ToolCallRecord


@dataclass
class ObservedCall:
    tool: str
    args: dict[str, Any]
    tier: str | None = None
    rule: str | None = None
    status: str | None = None

    def describe(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in sorted(self.args.items()))
        why = f" {self.tier}" + (f" (rule {self.rule})" if self.rule else "") if self.tier else ""
        return f"{self.tool}({args}){why} -> {self.status or '?'}"


@dataclass
class Observation:
    calls: list[ObservedCall] = field(default_factory=list)
    run_statuses: list[str] = field(default_factory=list)
    run_errors: list[str] = field(default_factory=list)
    answer: str = ""
    models: set[str] = field(default_factory=set)
    held: tuple[str, ...] = ()
    invoice_outcome: str | None = None

    @property
    def outcome(self) -> str:
        """The one word a case expects; precedence follows what matters most to a user."""
        if self.invoice_outcome is not None:
            return self.invoice_outcome
        if any(s.startswith("stopped") for s in self.run_statuses):
            return "stopped"
        if "failed" in self.run_statuses:
            return "failed"
        governed = [c for c in self.calls if c.tier != "handoff"]
        statuses = {c.status for c in governed}
        if "pending" in statuses or "waiting" in self.run_statuses:
            return "review"
        if statuses & {"denied", "expired"}:
            return "denied"
        if "succeeded" in statuses:  # the case vocabulary says "executed"
            return "executed"
        return "refused"


def observe(engine: Engine, thread_id: str) -> Observation:
    seen = Observation()
    with Session(engine) as session:
        runs = session.exec(
            select(Run).where(Run.thread_id == thread_id).order_by(col(Run.started_at))
        ).all()
        seen.run_statuses = [r.status for r in runs]
        seen.run_errors = [r.error for r in runs if r.error]
        records = {
            r.tool_call_id: r
            for r in session.exec(
                select(ToolCallRecord).where(ToolCallRecord.thread_id == thread_id)
            )
        }
        events = session.exec(
            select(AuditEvent)
            .where(AuditEvent.thread_id == thread_id)
            .order_by(col(AuditEvent.seq))
        ).all()
    by_id: dict[str, ObservedCall] = {}
    for event in events:
        data = event.data
        if event.kind == "handoff":
            seen.calls.append(
                ObservedCall(
                    f"transfer_to_{data.get('to_agent')}",
                    {"reason": data.get("reason"), "task": data.get("task")},
                    tier="handoff",
                    status="handed-off",
                )
            )
        elif event.kind == "tool_proposed":
            call = ObservedCall(str(data.get("tool")), dict(data.get("args") or {}))
            by_id[str(data.get("tool_call_id"))] = call
            seen.calls.append(call)
        elif event.kind == "policy_decision" and str(data.get("tool_call_id")) in by_id:
            call = by_id[str(data.get("tool_call_id"))]
            call.tier, call.rule = data.get("tier"), data.get("rule")
        elif event.kind == "agent_message":
            seen.answer = str(data.get("text") or "")
        elif event.kind == "model_call":
            seen.models.add(str(data.get("model")))
    for call_id, call in by_id.items():
        record = records.get(call_id)
        if record is not None:
            call.status = record.status
    return seen
