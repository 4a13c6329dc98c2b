"""What a webhook receives: a one-line human summary and the body in either format.

Bodies are built when the event is enqueued, from the approval request as it was
then, and stored in the delivery row. The log then shows exactly what was sent, and a
retry sends the same bytes. Tool arguments come from the model, so the Slack body
escapes them. Otherwise a crafted argument could ping ``<!channel>`` or disguise a
link in the approvers' channel.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from approvals.events import EVENT_ADAPTER, BusEvent
from approvals.models import ApprovalRequest

MAX_ARGS_TEXT = 300
_NEEDS_QUOTES = set(',:{}[]"\n')


def _value_text(value: Any) -> str:
    if isinstance(value, str):
        return json.dumps(value) if (set(value) & _NEEDS_QUOTES or not value) else value
    if isinstance(value, dict):
        return args_text(value)
    return json.dumps(value, default=str)


def args_text(args: dict[str, Any]) -> str:
    """``{order_id: 1042, amount: 250.00}``: keys in their given order, short to read."""
    text = "{" + ", ".join(f"{k}: {_value_text(v)}" for k, v in args.items()) + "}"
    return text if len(text) <= MAX_ARGS_TEXT else text[: MAX_ARGS_TEXT - 2] + "…}"


def _when(moment: datetime) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC"


def _call(event: BusEvent, request: ApprovalRequest | None) -> str:
    if request is not None:
        return f"{request.tool} {args_text(request.args)}"
    return getattr(event, "tool", "a tool call")


def summary(event: BusEvent, request: ApprovalRequest | None = None) -> str:
    """One readable line: what happened, to which call, and the ids to look it up.

    ``request`` adds the arguments, rule and reason of approval events. Without it the
    line is built from the event alone.
    """
    call = _call(event, request)
    rule = f" — rule {request.rule}: {request.reason.rstrip('.')}" if request else ""
    match event.kind:
        case "approval.requested":
            return (
                f"Approval needed: {call}{rule}. Deadline {_when(event.deadline)}. "
                f"{event.approval_id}"
            )
        case "approval.decided":
            verb = "Approved" if event.status == "approved" else "Denied"
            return f"{verb} by {event.approver}: {call}{rule}. {event.approval_id}"
        case "approval.expiring":
            return (
                f"Approval expiring at {_when(event.deadline)}: {call}{rule}. {event.approval_id}"
            )
        case "approval.expired":
            return f"Approval expired, denied by default: {call}{rule}. {event.approval_id}"
        case "run.resume":
            return f"Run {event.run_id} on thread {event.thread_id} resumes."
        case "tool.executed":
            outcome = event.outcome or ("succeeded" if event.ok else "failed")
            outcome = "in doubt (check the system by hand)" if outcome == "in_doubt" else outcome
            return f"Tool {event.tool} {outcome} in run {event.run_id} (call {event.tool_call_id})."
        case "budget.warning":
            return (
                f"Budget warning: {event.scope} {event.subject} reached {event.threshold}% of "
                f"its ${event.cap_usd} cap (${event.spent_usd} spent). Run {event.run_id}."
            )
        case "budget.exceeded":
            return (
                f"Budget exceeded: run {event.run_id} stopped at the ${event.cap_usd} cap of "
                f"{event.scope} {event.subject} (${event.spent_usd} spent)."
            )


def _approval(request: ApprovalRequest) -> dict[str, Any]:
    return {
        "id": request.id,
        "tool": request.tool,
        "args": request.args,
        "rule": request.rule,
        "reason": request.reason,
        "status": request.status,
        "outcome": request.outcome,
        "requester": request.requester,
        "approver_role": request.approver_role,
        "approvals_required": request.approvals_required,
        "deadline": request.deadline.isoformat(),
    }


def tethra_payload(
    event: BusEvent, event_id: str, created_at: datetime, request: ApprovalRequest | None
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": event_id,
        "kind": event.kind,
        "created_at": created_at.isoformat(),
        "event": EVENT_ADAPTER.dump_python(event, mode="json"),
        "text": summary(event, request),
    }
    if request is not None:
        body["approval"] = _approval(request)
    return body


def slack_escape(text: str) -> str:
    """Slack's three control characters; see api.slack.com 'Escaping text'."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_payload(
    event: BusEvent, event_id: str, created_at: datetime, request: ApprovalRequest | None
) -> dict[str, Any]:
    text = slack_escape(summary(event, request))
    context = f"{event.kind} · event {event_id} · {_when(created_at)}"
    return {
        "text": text,
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": text}},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": slack_escape(context)}]},
        ],
    }


def build_payload(
    fmt: str,
    event: BusEvent,
    event_id: str,
    created_at: datetime,
    request: ApprovalRequest | None,
) -> dict[str, Any]:
    build = slack_payload if fmt == "slack" else tethra_payload
    return build(event, event_id, created_at, request)
