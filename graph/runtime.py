"""Start, resume and recover runs; decide approvals and hand the result back to the graph.

A run is one operator message worked through to a final answer. It may pause on
approvals (the graph interrupts, checkpointed) and is resumed when a decision arrives
on the bus, or by ``recover()`` after a restart. One process resumes a run at a time
(a lease on the run row); a decision that lands while a resume is under way is picked
up by the loop in ``resume`` rather than lost.
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from langchain_core.messages import AIMessage, AnyMessage, HumanMessage
from langchain_core.runnables import RunnableConfig
from langgraph.errors import GraphRecursionError
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import Command
from sqlalchemy import or_, update
from sqlmodel import Session, col, select

from agents.spec import AgentDefinition
from approvals.bus import Bus
from approvals.deciding import DecideOutcome, decide
from approvals.events import ApprovalDecided, ApprovalExpired, BusEvent, RunResume
from approvals.models import Action, ApprovalRequest
from approvals.outbox import Observer, publish_after_commit, publish_captured, relay
from approvals.service import expire_overdue, warn_expiring
from audit.events import EventKind
from audit.trail import Event, record, record_many
from graph.execution import settle_approved
from graph.governance import Governance, run_totals
from graph.records import Run, ToolCallRecord
from policies.budgets import BudgetExceeded
from policies.decision import CallFacts, Decision
from tethra.canonical import call_hash
from tethra.db import rows_affected, session_scope, utcnow
from tethra.errors import (
    Conflict,
    ExecutionInProgress,
    InvalidInput,
    NotFound,
    RunFailure,
    TethraError,
)
from tethra.ids import new_id
from tethra.logging import bound_ids, get_logger

log = get_logger(__name__)


@dataclass(frozen=True)
class RunOutcome:
    run_id: str
    thread_id: str
    status: str  # completed | waiting | failed | stopped (at a cost cap)
    messages: list[AnyMessage]
    pending: list[dict[str, Any]]
    error: str | None = None

    @property
    def reply(self) -> str:
        texts = [str(m.content) for m in self.messages if isinstance(m, AIMessage) and m.content]
        return texts[-1] if texts else ""


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

    # --- runs -------------------------------------------------------------------------
    def start_run(self, thread_id: str, requester: str, text: str) -> RunOutcome:
        """Record a run for the operator's message and work it to an answer or a wait."""
        run_id = self.open_run(thread_id, requester, text)
        return self.drive_run(run_id, thread_id, requester, text)

    def open_run(self, thread_id: str, requester: str, text: str) -> str:
        """Validate and record the run (Conflict if the thread waits); returns its id.

        Split from ``drive_run`` so an API can answer at once and drive in the background.
        """
        if not text.strip():
            raise InvalidInput("the message is empty")
        if len(thread_id) > 64 or not thread_id:
            raise InvalidInput("a thread id is 1-64 characters")
        with session_scope(self.gov.engine) as session:
            busy = session.exec(
                select(Run).where(
                    Run.thread_id == thread_id,
                    col(Run.status).in_(("waiting", "running", "stalled")),
                )
            ).first()
            if busy is not None:
                raise Conflict(
                    f"thread {thread_id} is {busy.status} (run {busy.id}); wait for it, or "
                    "decide its approvals, before sending another message"
                )
            run = Run(
                id=new_id("run"),
                thread_id=thread_id,
                requester=requester,
                agent=self.entry_agent,
                lease_owner=self.owner,
                lease_until=utcnow() + self.run_lease,
            )
            session.add(run)
            session.flush()
            record_many(
                session,
                [
                    Event("run_started", requester, {"agent": self.entry_agent}, run.id, thread_id),
                    Event("user_message", requester, {"text": text}, run.id, thread_id),
                ],
            )
        return run.id

    def drive_run(self, run_id: str, thread_id: str, requester: str, text: str) -> RunOutcome:
        payload = {
            # The message id is the run id, so the run's own messages can be told apart.
            "messages": [HumanMessage(content=text, id=run_id)],
            "run_id": run_id,
            "requester": requester,
            "agent": self.entry_agent,  # the operator always talks to the entry agent
            "task": text,
            "steps": 0,
        }
        return self._drive(run_id, thread_id, payload)

    def resume(self, thread_id: str) -> RunOutcome | None:
        """Continue the thread's waiting run; None if there is none or another process has it."""
        while True:
            with session_scope(self.gov.engine) as session:
                run = session.exec(
                    select(Run).where(
                        Run.thread_id == thread_id, col(Run.status).in_(("waiting", "stalled"))
                    )
                ).first()
                if run is None:
                    return None
                now = utcnow()
                took = (
                    rows_affected(
                        session.execute(
                            update(Run)
                            .where(
                                col(Run.id) == run.id,
                                col(Run.status) == run.status,
                                or_(col(Run.lease_owner).is_(None), col(Run.lease_until) < now),
                            )
                            .values(
                                status="running",
                                lease_owner=self.owner,
                                lease_until=now + self.run_lease,
                            )
                        )
                    )
                    == 1
                )
            if not took:
                return None
            # A waiting run was interrupted: it resumes. A stalled one was cut off mid-step
            # (its process died): it re-runs from its last checkpoint.
            payload: Command[Any] | None = Command(resume=True) if run.status == "waiting" else None
            outcome = self._drive(run.id, thread_id, payload)
            if outcome.status != "waiting" or not self._has_news(run.id):
                return outcome

    def _drive(self, run_id: str, thread_id: str, payload: Any) -> RunOutcome:
        config: RunnableConfig = {"configurable": {"thread_id": thread_id}, "recursion_limit": 100}
        self.gov.registry.refresh()  # tools enabled or disabled since the last run
        error: str | None = None
        stopped = False
        values: dict[str, Any] | None = None
        with bound_ids(run_id=run_id, thread_id=thread_id), self._keep_lease(run_id):
            try:
                values = self.graph.invoke(payload, config)
            except GraphRecursionError:
                error = "the run exceeded the graph's recursion limit"
            except BudgetExceeded as exc:  # a cost cap: a clean stop, not a failure
                error, stopped = str(exc), True
            except (TethraError, RunFailure) as exc:
                error = str(exc)
            except Exception as exc:
                log.exception("run failed")
                error = f"{type(exc).__name__}: {exc}"
            if values is None:  # the run failed: read what was checkpointed before it did
                values = dict(self.graph.get_state(config).values)
            return self._settle_run(run_id, thread_id, values, error, stopped)

    def _settle_run(
        self,
        run_id: str,
        thread_id: str,
        values: dict[str, Any],
        error: str | None,
        stopped: bool = False,
    ) -> RunOutcome:
        messages = _messages_of_run(values.get("messages", []), run_id)
        pending = [p for i in values.get("__interrupt__", []) for p in i.value.get("pending", [])]
        status = "failed" if error else ("waiting" if pending else "completed")
        status = "stopped" if stopped else status
        with session_scope(self.gov.engine) as session:
            session.execute(
                update(Run)
                .where(col(Run.id) == run_id)
                .values(
                    status=status,
                    error=error,
                    updated_at=utcnow(),
                    lease_owner=None,
                    lease_until=None,
                )
            )
            kind: EventKind = (
                "run_stopped"
                if stopped
                else "run_failed"
                if error
                else "run_waiting"
                if pending
                else "run_completed"
            )
            data: dict[str, Any] = {"reason": error} if error else {}
            if pending:
                data["approvals"] = [p["approval_id"] for p in pending]
            record(
                session, kind=kind, actor="system", run_id=run_id, thread_id=thread_id, data=data
            )
        self.relay()
        return RunOutcome(run_id, thread_id, status, messages, pending, error)

    @contextmanager
    def _keep_lease(self, run_id: str) -> Iterator[None]:
        """Renew the run's lease while this process drives it, so the lease can be short:
        a process that dies lets go within one lease, one that is merely slow keeps it."""
        stop = threading.Event()

        def renew() -> None:
            while not stop.wait(self.run_lease.total_seconds() / 3):
                with session_scope(self.gov.engine) as session:
                    session.execute(
                        update(Run)
                        .where(col(Run.id) == run_id, col(Run.lease_owner) == self.owner)
                        .values(lease_until=utcnow() + self.run_lease)
                    )

        keeper = threading.Thread(target=renew, name=f"lease-{run_id}", daemon=True)
        keeper.start()
        try:
            yield
        finally:
            stop.set()
            keeper.join()

    def _has_news(self, run_id: str) -> bool:
        """Whether the run can move: a decided approval, or a call left unsettled."""
        with session_scope(self.gov.engine) as session:
            unsettled = session.exec(
                select(ToolCallRecord.key).where(
                    col(ToolCallRecord.run_id) == run_id,
                    col(ToolCallRecord.status).in_(("allowed", "approved", "executing")),
                )
            ).first()
            decided = session.exec(
                select(ApprovalRequest.id)
                .join(ToolCallRecord, col(ToolCallRecord.approval_id) == ApprovalRequest.id)
                .where(
                    col(ToolCallRecord.run_id) == run_id,
                    col(ToolCallRecord.status) == "pending",
                    col(ApprovalRequest.status) != "pending",
                )
            ).first()
        return unsettled is not None or decided is not None

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
        if action == "edit":
            # The tool may have been registered after we started. Read that before the
            # deciding transaction: on SQLite a second connection would wait on its lock.
            self.gov.registry.refresh()
        with publish_after_commit() as committed:
            outcome = decide(
                self.gov.engine,
                approval_id,
                approver=approver,
                action=action,
                comment=comment,
                edited_args=edited_args,
                reclassify=self._reclassify,
            )
        # The decision's bus message committed with it, claimed by us: send it now.
        publish_captured(self.gov.engine, self.bus, committed, observers=self.observers)
        return outcome

    def _reclassify(
        self, session: Session, request: ApprovalRequest, edited: dict[str, Any]
    ) -> tuple[dict[str, Any], str, Decision]:
        registered = self.gov.registry.get(request.tool)
        validated = registered.validate(edited)
        args = registered.canonical_args(validated)
        totals = run_totals(session, request.run_id)
        decision = self.gov.policy.decide(
            CallFacts(
                tool=request.tool,
                system=registered.meta.system,
                effect=registered.meta.effect,
                args=validated.model_dump(mode="python"),
                agent=request.agent,
                requester=request.requester,
                run=totals,
            )
        )
        return args, call_hash(request.tool, args, decision.policy_version), decision

    def handle(self, event: BusEvent) -> None:
        """Bus handler: a decision or expiry means the waiting run can move on.

        An approved call is settled first, straight from SQL (verify the binding, claim,
        execute once), so it does not wait for the graph to be loaded; the resumed graph
        then replays the recorded result like any other settled call.
        """
        if isinstance(event, ApprovalDecided) and event.status == "approved":
            self._settle_approved(event.approval_id, event.call_key)
        if isinstance(event, ApprovalDecided | ApprovalExpired | RunResume):
            self.resume(event.thread_id)

    def _settle_approved(self, approval_id: str, key: str | None) -> None:
        if key is None:  # a message from before events carried the call's key
            with session_scope(self.gov.engine) as session:
                key = session.exec(
                    select(ToolCallRecord.key).where(ToolCallRecord.approval_id == approval_id)
                ).first()
        if key is not None:
            # If another process is executing it, the resumed run will see the result.
            with suppress(ExecutionInProgress):
                settle_approved(self.gov, key)

    def relay(self) -> int:
        """Publish what committed to the outbox (in-process: handled right here)."""
        return relay(self.gov.engine, self.bus, observers=self.observers)

    def sweep(self, warn_within: timedelta = timedelta(minutes=15)) -> None:
        """Warn before deadlines, expire overdue requests (denied by default), relay."""
        warn_expiring(self.gov.engine, warn_within)
        expire_overdue(self.gov.engine)
        self.relay()

    def runs_needing_resume(self) -> list[Run]:
        """Runs that can move on, read from SQL alone: the bus may have lost their news.

        A run whose process died mid-step (its lease ran out) was cut off: it is marked
        stalled and always resumed; a waiting run is resumed if it has news.
        """
        with session_scope(self.gov.engine) as session:
            session.execute(
                update(Run)
                .where(col(Run.status) == "running", col(Run.lease_until) < utcnow())
                .values(status="stalled", lease_owner=None, lease_until=None)
            )
            runs = list(
                session.exec(select(Run).where(col(Run.status).in_(("waiting", "stalled"))))
            )
        return [run for run in runs if run.status == "stalled" or self._has_news(run.id)]

    def reconcile(self) -> int:
        """Rebuild the bus from SQL (after Redis lost data): one resume per run with news."""
        runs = self.runs_needing_resume()
        for run in runs:
            self.bus.publish(RunResume(run_id=run.id, thread_id=run.thread_id))
        return len(runs)

    def recover(self) -> list[RunOutcome]:
        """In one process, after a restart: sweep, then resume every run with news here."""
        self.sweep()
        outcomes = []
        for run in self.runs_needing_resume():
            outcome = self.resume(run.thread_id)
            if outcome is not None:
                outcomes.append(outcome)
        return outcomes

    def run(self, run_id: str) -> Run:
        with session_scope(self.gov.engine) as session:
            run = session.get(Run, run_id)
            if run is None:
                raise NotFound(f"no run {run_id!r}")
            return run


def _messages_of_run(messages: list[AnyMessage], run_id: str) -> list[AnyMessage]:
    """The messages after the run's own user message (whose id is the run id)."""
    for index in range(len(messages) - 1, -1, -1):
        if messages[index].id == run_id:
            return messages[index + 1 :]
    return []
