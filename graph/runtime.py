"""The run engine's services, built once at the entry point and handed to the API, the
CLI and the worker: chat runs (``runs``), decisions (``decisions``) and progress from
outside a driver (``progress``: bus events, relay, sweeps, recovery). ``Runtime`` only
wires them; its few methods pass through to the service that owns the work, so the
entry points call one object and never reach into the services' internals.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from langgraph.graph.state import CompiledStateGraph
from sqlalchemy.engine import Engine

from agents.spec import AgentDefinition
from approvals.bus import Bus
from approvals.deciding import DecideOutcome
from approvals.events import BusEvent
from approvals.models import Action
from approvals.outbox import Observer
from graph.chat_runs import CHAT, ChatRuns, RunOutcome
from graph.decisions import Decisions
from graph.governance import Governance
from graph.progress import Progress, Workflow
from graph.records import Run

__all__ = ["CHAT", "RunOutcome", "Runtime", "Workflow"]


@dataclass
class Runtime:
    gov: Governance
    agents: Mapping[str, AgentDefinition]
    graph: CompiledStateGraph[Any, Any, Any, Any]
    bus: Bus
    entry_agent: str = "ops"
    run_lease: timedelta = timedelta(seconds=30)
    observers: tuple[Observer, ...] = ()
    """Run for every relayed event in the relay's transaction (e.g. webhook deliveries)."""
    owner: str = field(default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}")
    runs: ChatRuns = field(init=False)
    decisions: Decisions = field(init=False)
    progress: Progress = field(init=False)

    def __post_init__(self) -> None:
        self.runs = ChatRuns(
            gov=self.gov,
            graph=self.graph,
            bus=self.bus,
            entry_agent=self.entry_agent,
            run_lease=self.run_lease,
            observers=self.observers,
            owner=self.owner,
        )
        self.decisions = Decisions(gov=self.gov, bus=self.bus, observers=self.observers)
        self.progress = Progress(
            gov=self.gov, bus=self.bus, observers=self.observers, runs=self.runs
        )

    @property
    def engine(self) -> Engine:
        return self.gov.engine

    def use_governance(self, gov: Governance) -> None:
        """Swap the policy or registry the services settle calls with (a process that
        runs a newer policy than the approver saw, say)."""
        self.gov = self.runs.gov = self.decisions.gov = self.progress.gov = gov

    # --- runs -------------------------------------------------------------------------
    def start_run(self, thread_id: str, requester: str, text: str) -> RunOutcome:
        return self.runs.start_run(thread_id, requester, text)

    def open_run(self, thread_id: str, requester: str, text: str) -> str:
        return self.runs.open_run(thread_id, requester, text)

    def drive_run(self, run_id: str, thread_id: str, requester: str, text: str) -> RunOutcome:
        return self.runs.drive_run(run_id, thread_id, requester, text)

    def resume(self, thread_id: str) -> RunOutcome | None:
        return self.runs.resume(thread_id)

    def run(self, run_id: str) -> Run:
        return self.runs.run(run_id)

    def cancel(self, run_id: str, by: str, reason: str = "") -> Run:
        return self.runs.cancel(run_id, by, reason)

    # --- approvals --------------------------------------------------------------------
    def decide(
        self,
        approval_id: str,
        *,
        approver: str,
        action: Action,
        comment: str = "",
        edited_args: dict[str, Any] | None = None,
    ) -> DecideOutcome:
        return self.decisions.decide(
            approval_id, approver=approver, action=action, comment=comment, edited_args=edited_args
        )

    # --- progress from outside a driver -------------------------------------------------
    def handle(self, event: BusEvent) -> None:
        self.progress.handle(event)

    def relay(self) -> int:
        return self.progress.relay()

    def sweep(self, warn_within: timedelta = timedelta(minutes=15)) -> None:
        self.progress.sweep(warn_within)

    def reconcile(self) -> int:
        return self.progress.reconcile()

    def recover(self) -> list[RunOutcome]:
        return self.progress.recover()

    def runs_needing_resume(self) -> list[Run]:
        return self.progress.runs_needing_resume()

    def register(self, workflow: Workflow) -> None:
        self.progress.register(workflow)

    @property
    def workflows(self) -> list[Workflow]:
        return self.progress.workflows
