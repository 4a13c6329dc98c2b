"""How runs and approval requests look in a terminal."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from langchain_core.messages import AIMessage, ToolMessage
from rich.console import Console

from approvals.models import ApprovalRequest
from foundation.db import utcnow
from graph.runtime import RunOutcome

console = Console(highlight=False)


def args_text(args: dict[str, Any]) -> str:
    return json.dumps(args, sort_keys=True)


def time_left(deadline: datetime) -> str:
    seconds = int((deadline - utcnow()).total_seconds())
    if seconds <= 0:
        return "overdue"
    hours, rest = divmod(seconds, 3600)
    return f"{hours}h{rest // 60:02d}m"


def outcome(result: RunOutcome) -> None:
    for message in result.messages:
        if isinstance(message, ToolMessage):
            style = "red" if message.status == "error" else "green"
            console.print(f"  [{style}]{message.name}[/] -> {str(message.content)[:300]}")
        elif isinstance(message, AIMessage) and message.tool_calls:
            for call in message.tool_calls:
                console.print(f"  [cyan]proposes[/] {call['name']} {args_text(call['args'])}")
        elif isinstance(message, AIMessage) and message.content:
            console.print(f"[bold]agent:[/] {message.content}")
    if result.status == "waiting":
        console.print("[yellow]waiting for approval:[/]")
        for p in result.pending:
            console.print(
                f"  {p['approval_id']}  {p['tool']} {args_text(p['args'])}\n"
                f"    rule {p['rule']}: {p['reason']} (needs {p['approvals_required']})"
            )
    elif result.status == "failed":
        console.print(f"[red]run failed:[/] {result.error}")
    elif result.status.startswith("stopped"):
        console.print(f"[red]run stopped:[/] {result.error}")


def requests(rows: list[ApprovalRequest]) -> None:
    """One compact block per request; readable at 80 columns and in logs."""
    for r in rows:
        left = time_left(r.deadline) if r.status == "pending" else "-"
        ran = f" ran: {r.outcome}" if r.outcome else ""  # succeeded, failed, in_doubt, not_run
        console.print(f"[bold]{r.id}[/]  {r.tool}  [yellow]{r.status}{ran}[/]  time left {left}")
        console.print(f"    args  {args_text(r.args)}")
        console.print(f"    rule  {r.rule}: {r.reason} (needs {r.approvals_required})")
        console.print(f"    from  {r.requester} via agent {r.agent}, run {r.run_id}")
