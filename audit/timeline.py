"""One readable line per audit event: what happened and why, for auditors and the CLI.

The trace viewer and ``tethra`` CLI show these lines so someone who did not build the
agents can follow a run. Each known kind has a sentence built from its conventional
``data`` keys; any key a renderer does not use is appended as ``key=value`` so nothing
recorded is hidden, and unknown kinds fall back to ``key=value`` entirely. A missing
key never raises: an old or partial event still renders.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from audit.events import AuditRecord
from foundation.canonical import canonical_json

LABEL_WIDTH = 7
MAX_TEXT = 160

Data = Mapping[str, Any]


def _short(value: Any, limit: int = MAX_TEXT) -> str:
    """A value as compact single-line text, cut at ``limit`` characters."""
    text = value if isinstance(value, str) else canonical_json(value)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _get(data: Data, key: str, default: str = "?") -> str:
    value = data.get(key)
    return default if value is None else _short(value)


def _why(data: Data) -> str:
    """'rule R: reason', or whichever of the two is known."""
    rule, reason = data.get("rule"), data.get("reason")
    if rule and reason:
        return f"rule {_short(rule)}: {_short(reason)}"
    if rule:
        return f"rule {_short(rule)}"
    return _short(reason) if reason else "no reason given"


def _args(value: Any) -> str:
    if isinstance(value, Mapping):
        return ", ".join(f"{k}={_short(v, 40)}" for k, v in sorted(value.items()))
    return "" if value is None else _short(value)


def _run(word: str) -> Callable[[Data], str]:
    def render(d: Data) -> str:
        return f"{word}: {_short(d['reason'])}" if d.get("reason") else word

    return render


def _model_call(d: Data) -> str:
    tools = d.get("tool_calls") or []
    outcome = f"wants {', '.join(map(str, tools))}" if tools else "answered"
    cost = f"; ${d['cost_usd']}" if d.get("cost_usd") is not None else ""
    cached = f" ({d['cached_input_tokens']} cached)" if d.get("cached_input_tokens") else ""
    if d.get("status") == "failed":
        outcome = f"FAILED: {_get(d, 'error')}"
    return (
        f"{_get(d, 'agent')} called {_get(d, 'model')} (prompt {_get(d, 'prompt_version')}; "
        f"{_get(d, 'input_tokens')} in{cached} / {_get(d, 'output_tokens')} out tokens; "
        f"{_get(d, 'latency_ms')} ms{cost}) -> {outcome}"
    )


def _check(d: Data) -> str:
    verdict = "passed" if d.get("passed") else "FAILED"
    message = f" — {_short(d['message'])}" if d.get("message") else ""
    return f"{_get(d, 'tool')} {_get(d, 'check')} {verdict}{message}"


def _policy(d: Data) -> str:
    error = f" [classifier error: {_short(d['error'])}]" if d.get("error") else ""
    return f"{_get(d, 'tool')} -> {_get(d, 'tier')} ({_why(d)}){error}"


def _approval_requested(d: Data) -> str:
    return (
        f"{_get(d, 'tool')} waits for {_get(d, 'approvals_required', '1')} "
        f"{_get(d, 'approver_role', 'approver')} approval(s) by {_get(d, 'deadline')} "
        f"({_why(d)}) [{_get(d, 'approval_id')}]"
    )


_DECISIONS = {"approve": "approved", "deny": "denied", "edit": "edited and approved"}


def _approval_decision(d: Data) -> str:
    decision = str(d.get("decision"))
    verb = _DECISIONS.get(decision, f"decided {decision}")
    comment = f': "{_short(d["comment"])}"' if d.get("comment") else ""
    bound = f" (args {str(d['args_hash'])[:12]})" if d.get("args_hash") else ""
    return f"{_get(d, 'approver')} {verb} {_get(d, 'approval_id')}{bound}{comment}"


def _expired(d: Data) -> str:
    deadline = f" {_short(d['deadline'])}" if d.get("deadline") else ""
    return f"{_get(d, 'approval_id')} passed its deadline{deadline}; denied by default"


def _tool_executed(d: Data) -> str:
    replayed = " (replayed, not re-run)" if d.get("replayed") else ""
    return (
        f"{_get(d, 'tool')} ran in {_get(d, 'latency_ms')} ms{replayed} "
        f"-> {_short(d.get('result'), 80)}"
    )


# kind -> (label, data keys the sentence uses, renderer)
_RENDERERS: dict[str, tuple[str, frozenset[str], Callable[[Data], str]]] = {
    "run_started": (
        "run",
        frozenset({"agent"}),
        lambda d: f"started with agent {_short(d['agent'])}" if d.get("agent") else "started",
    ),
    "user_message": ("user", frozenset({"text"}), lambda d: _get(d, "text", "")),
    "model_call": (
        "model",
        frozenset(
            {"agent", "model", "prompt_version", "input_tokens", "output_tokens"}
            | {"latency_ms", "tool_calls", "cost_usd", "status", "error"}
            | {"cached_input_tokens", "cache_write_tokens"}
        ),
        _model_call,
    ),
    "handoff": (
        "handoff",
        frozenset({"from_agent", "to_agent", "reason", "task"}),
        lambda d: (
            f"{_get(d, 'from_agent')} -> {_get(d, 'to_agent')} ({_get(d, 'reason', '')})"
            + (f": {_short(d['task'])}" if d.get("task") else "")
        ),
    ),
    "tool_proposed": (
        "propose",
        frozenset({"tool", "tool_call_id", "args"}),
        lambda d: f"{_get(d, 'tool')}({_args(d.get('args'))}) [{_get(d, 'tool_call_id')}]",
    ),
    "check_result": ("check", frozenset({"tool", "check", "passed", "message"}), _check),
    "policy_decision": (
        "policy",
        # The approval terms of a review decision are shown on the approval_requested line.
        frozenset(
            {"tool", "tool_call_id", "tier", "rule", "reason", "policy_version", "error"}
            | {"approver_role", "approvals_required", "deadline_s"}
        ),
        _policy,
    ),
    "approval_requested": (
        "request",
        frozenset(
            {
                "approval_id",
                "tool",
                "tier",
                "rule",
                "reason",
                "deadline",
                "tool_call_id",
                "call_key",
            }
            | {"approvals_required", "approver_role"}
        ),
        _approval_requested,
    ),
    "approval_decision": (
        "verdict",
        frozenset(
            {
                "approval_id",
                "decision",
                "approver",
                "comment",
                "args_hash",
                "tool_call_id",
                "call_key",
            }
        ),
        _approval_decision,
    ),
    "approval_withdrawn": (
        "withdrawn",
        frozenset({"approval_id", "reason", "tool_call_id"}),
        lambda d: f"{_get(d, 'approval_id')} withdrawn: {_get(d, 'reason')}",
    ),
    "approval_expired": (
        "expired",
        frozenset({"approval_id", "deadline", "tool_call_id", "call_key"}),
        _expired,
    ),
    "tool_executed": (
        "execute",
        frozenset(
            {"tool", "tool_call_id", "result", "latency_ms", "replayed", "approval_id", "attempt"}
        ),
        _tool_executed,
    ),
    "tool_failed": (
        "failed",
        frozenset({"tool", "error", "tool_call_id", "approval_id", "attempt"}),
        lambda d: f"{_get(d, 'tool')}: {_get(d, 'error')}",
    ),
    "tool_denied": (
        "denied",
        frozenset({"tool", "reason", "rule", "tool_call_id", "approval_id"}),
        lambda d: f"{_get(d, 'tool')} ({_why(d)})",
    ),
    "agent_message": (
        "agent",
        frozenset({"agent", "text"}),
        lambda d: f"{_get(d, 'agent')}: {_get(d, 'text', '')}",
    ),
    "run_completed": ("run", frozenset({"reason"}), _run("completed")),
    "run_failed": ("run", frozenset({"reason"}), _run("failed")),
    "run_waiting": ("run", frozenset({"reason"}), _run("waiting")),
    "budget_warning": (
        "budget",
        frozenset({"scope", "subject", "threshold", "spent_usd", "projected_usd", "cap_usd"}),
        lambda d: (
            f"warning: {_get(d, 'scope')} {_get(d, 'subject')} at {_get(d, 'threshold')}% of "
            f"its ${_get(d, 'cap_usd')} cap (${_get(d, 'spent_usd')} spent, "
            f"${_get(d, 'projected_usd')} with the next call)"
        ),
    ),
    "budget_exceeded": (
        "budget",
        frozenset({"scope", "subject", "spent_usd", "projected_usd", "cap_usd", "reason"}),
        lambda d: f"STOP: {_get(d, 'reason')}",
    ),
    "run_stopped": ("run", frozenset({"reason", "stopped"}), _run("stopped")),
    "approval_expiring": (
        "expiring",
        frozenset({"approval_id", "deadline", "tool_call_id", "call_key"}),
        lambda d: f"{_get(d, 'approval_id')} is due by {_get(d, 'deadline')}",
    ),
    "error": ("error", frozenset(), lambda d: ""),
}


def _extras(data: Data, used: frozenset[str]) -> str:
    return " ".join(f"{k}={_short(v, 60)}" for k, v in sorted(data.items()) if k not in used)


def describe(event: AuditRecord) -> str:
    """One line: a short label, then what happened and why. For example::

    policy  refund_order -> review (rule refund-large: Refunds over $100 need an approver)
    """
    label, used, render = _RENDERERS.get(event.kind, (event.kind, frozenset(), lambda d: ""))
    body = render(event.data)
    if event.kind == "user_message":
        body = f"{event.actor}: {body}"
    elif event.kind == "run_started":
        body = body.replace("started", f"started by {event.actor}", 1)
    extras = _extras(event.data, used)
    text = " ".join(part for part in (body, extras) if part)
    return f"{label:<{LABEL_WIDTH}} {text}".rstrip()
