"""Spans for agent steps, model calls and tool executions, named by the OpenTelemetry
GenAI semantic conventions (``invoke_agent``, ``chat``, ``execute_tool``, ``gen_ai.*``).

The policy decision and the approval ride on the ``execute_tool`` span as ``tethra.*``
attributes, so a trace shows why a call ran (or did not) without opening the audit
trail, which stays the record. A call refused outright (denied, invalid, expired)
gets an ``execute_tool`` span too, marked as an error: nothing ran, and the span says
why. Work that is only needed for a span (reading the approvers) is skipped when no
exporter is installed.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from langchain_core.messages import AIMessage
from opentelemetry.trace import Span, Status, StatusCode
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from approvals.models import ApprovalDecision, ApprovalRequest
from foundation.telemetry import AttributeValue, span
from graph.records import ToolCallRecord


@contextmanager
def agent_span(agent: str, run_id: str, thread_id: str) -> Iterator[Span]:
    """One step of an agent: its model call and what it decided to do next."""
    with span(
        f"invoke_agent {agent}",
        {
            "gen_ai.operation.name": "invoke_agent",
            "gen_ai.agent.name": agent,
            "gen_ai.conversation.id": thread_id,
            "tethra.run.id": run_id,
        },
        run_id=run_id,
    ) as opened:
        yield opened


@contextmanager
def model_span(model_id: str, prompt_version: str, run_id: str) -> Iterator[Span]:
    provider, _, _ = model_id.partition(":")
    with span(
        f"chat {model_id}",
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": provider,
            "gen_ai.request.model": model_id,
            "tethra.prompt.version": prompt_version,
        },
        run_id=run_id,
    ) as opened:
        yield opened


def record_response(opened: Span, response: AIMessage) -> None:
    usage: Mapping[str, Any] = response.usage_metadata or {}
    opened.set_attribute("gen_ai.usage.input_tokens", int(usage.get("input_tokens", 0)))
    opened.set_attribute("gen_ai.usage.output_tokens", int(usage.get("output_tokens", 0)))
    opened.set_attribute(
        "gen_ai.response.finish_reasons", ["tool_calls" if response.tool_calls else "stop"]
    )
    if response.id:
        opened.set_attribute("gen_ai.response.id", response.id)


def _call_attributes(rec: ToolCallRecord) -> dict[str, AttributeValue | None]:
    return {
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": rec.tool,
        "gen_ai.tool.call.id": rec.tool_call_id,
        "gen_ai.tool.type": "function",
        "gen_ai.agent.name": rec.agent,
        "gen_ai.conversation.id": rec.thread_id,
        "tethra.run.id": rec.run_id,
        "tethra.policy.tier": rec.tier,
        "tethra.policy.rule": rec.rule,
        "tethra.policy.version": rec.policy_version,
        "tethra.policy.reason": rec.reason,
        "tethra.approval.id": rec.approval_id,
    }


def _approval_attributes(engine: Engine, approval_id: str) -> dict[str, AttributeValue]:
    with Session(engine) as session:
        request = session.get(ApprovalRequest, approval_id)
        approvers = session.exec(
            select(ApprovalDecision.approver)
            .where(
                col(ApprovalDecision.approval_id) == approval_id,
                col(ApprovalDecision.action) != "deny",
            )
            .order_by(col(ApprovalDecision.id))
        ).all()
    if request is None:
        return {}
    return {"tethra.approval.status": request.status, "tethra.approval.approvers": list(approvers)}


@contextmanager
def tool_span(engine: Engine, rec: ToolCallRecord) -> Iterator[Span]:
    """The execution of a claimed call; ``tool_outcome`` marks how it ended."""
    with span(f"execute_tool {rec.tool}", _call_attributes(rec), run_id=rec.run_id) as opened:
        if rec.approval_id and opened.is_recording():
            opened.set_attributes(_approval_attributes(engine, rec.approval_id))
        yield opened


def tool_outcome(opened: Span, status: str, error: str | None) -> None:
    opened.set_attribute("tethra.tool.status", status)
    if error:
        opened.set_status(Status(StatusCode.ERROR, error[:500]))


def refused(rec: ToolCallRecord, status: str, reason: str | None) -> None:
    """A zero-length ``execute_tool`` span for a call that will never run."""
    with span(f"execute_tool {rec.tool}", _call_attributes(rec), run_id=rec.run_id) as opened:
        if opened.is_recording():
            tool_outcome(opened, status, f"not executed ({status}): {reason or rec.error or ''}")


def refused_at_proposal(records: list[ToolCallRecord]) -> None:
    for rec in records:
        if rec.status in ("denied", "invalid"):
            refused(rec, rec.status, rec.reason)
