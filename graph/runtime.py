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
from collections.abc import Mapping
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Protocol

from langchain_core.messages import AIMessage, AnyMessage, HumanMessage
from langchain_core.runnables import RunnableConfig
from langgraph.errors import GraphRecursionError
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import Command
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from agents.spec import AgentDefinition
from approvals import outbox
from approvals.bus import Bus
from approvals.deciding import DecideOutcome, decide
from approvals.events import ApprovalDecided, ApprovalExpired, BusEvent, RunResume, ToolExecuted
from approvals.models import Action, ApprovalRequest
from approvals.outbox import Observer, publish_after_commit, publish_captured, relay
from approvals.service import expire_overdue, warn_expiring
from audit.events import EventKind
from audit.trail import Event, record, record_many
from graph import runs
from graph.execution import settle_approved
from graph.governance import Governance, run_totals
from graph.records import CallStatus, Run, RunStatus, ToolCallRecord
from graph.runs import Held
from policies.budgets import BudgetExceeded
from policies.decision import CallFacts, Decision
from tethra.canonical import call_hash
from tethra.db import is_transient, retry_transient, session_scope, utcnow
from tethra.errors import InvalidInput, LostOwnership, NotFound, RunFailure, TethraError
from tethra.ids import new_id
from tethra.logging import bound_ids, get_logger

log = get_logger(__name__)
CHAT = "chat"
"""The workflow this runtime drives (invoice runs have their own)."""
STEP_LIMIT = "step_limit"
"""``state["stopped"]`` when an agent reached its step limit."""
_END_EVENTS: dict[RunStatus, EventKind] = {
    RunStatus.WAITING: "run_waiting",
    RunStatus.COMPLETED: "run_completed",
    RunStatus.FAILED: "run_failed",
    RunStatus.STOPPED_BUDGET: "run_stopped",
    RunStatus.STOPPED_STEP_LIMIT: "run_stopped",
    RunStatus.CANCELLED: "run_stopped",
}


class Workflow(Protocol):
    """What the runtime needs of another workflow: its bus handling and recovery."""

    def handle(self, event: BusEvent) -> None: ...

    def recover(self) -> object: ...

    def reconcile(self) -> int: ...


@dataclass(frozen=True)
class RunOutcome:
    run_id: str
    thread_id: str
    status: RunStatus
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
    workflows: list[Workflow] = field(default_factory=list)
    """Other registered workflows, recovered alongside chat runs (``register``)."""

    def __post_init__(self) -> None:
        self._leases = runs.LeaseKeeper(self.gov.engine, self.run_lease)

    # --- runs -------------------------------------------------------------------------
    def start_run(self, thread_id: str, requester: str, text: str) -> RunOutcome:
        """Record a run for the operator's message and work it to an answer or a wait."""
        run_id = self.open_run(thread_id, requester, text)
        return self.drive_run(run_id, thread_id, requester, text)

    def open_run(self, thread_id: str, requester: str, text: str) -> str:
        """Validate and record the run, queued and leased to this process (Conflict if
        the thread has an active run); returns its id. Split from ``drive_run`` so an
        API can answer at once and drive in the background: the lease is renewed while
        the run waits for a free driver, so recovery never ends it under us."""
        if not text.strip():
            raise InvalidInput("the message is empty")
        if len(thread_id) > 64 or not thread_id:
            raise InvalidInput("a thread id is 1-64 characters")
        run = Run(
            id=new_id("run"), thread_id=thread_id, requester=requester, agent=self.entry_agent
        )

        def create() -> Held:
            with session_scope(self.gov.engine) as session:
                held = runs.open_queued(session, run, self.owner, self.run_lease)
                record_many(
                    session,
                    [
                        Event(
                            "run_started", requester, {"agent": self.entry_agent}, run.id, thread_id
                        ),
                        Event("user_message", requester, {"text": text}, run.id, thread_id),
                    ],
                )
                return held

        self._leases.hold(retry_transient(create, what="open a run"))
        return run.id

    def drive_run(self, run_id: str, thread_id: str, requester: str, text: str) -> RunOutcome:
        """Start a run this process queued; if it was ended meanwhile, run nothing."""
        held = self._leases.get(run_id) or runs.Held(run_id, thread_id, 1, RunStatus.QUEUED)

        def begin() -> bool:
            with session_scope(self.gov.engine) as session:
                return runs.start(session, held, self.owner, self.run_lease)

        if not retry_transient(begin, what="start a run"):
            self._leases.release(run_id)
            return self._outcome_from_sql(run_id, thread_id)
        payload = {
            # The message id is the run id, so the run's own messages can be told apart.
            "messages": [HumanMessage(content=text, id=run_id)],
            "run_id": run_id,
            "requester": requester,
            "agent": self.entry_agent,  # the operator always talks to the entry agent
            "task": text,
            "steps": 0,
            "stopped": "",
        }
        return self._drive(held, payload)

    def resume(self, thread_id: str) -> RunOutcome | None:
        """Continue the thread's waiting or stalled run; None if there is none or another
        process has it. A decision that lands while this process drives the run is
        picked up by the loop here (``_has_news``) rather than lost."""
        while True:

            def take() -> runs.Held | None:
                with session_scope(self.gov.engine) as session:
                    run = session.exec(
                        select(Run).where(
                            Run.thread_id == thread_id,
                            Run.workflow == CHAT,
                            col(Run.status).in_((RunStatus.WAITING, RunStatus.STALLED)),
                        )
                    ).first()
                    if run is None:
                        return None
                    return runs.take(session, run, self.owner, self.run_lease)

            held = retry_transient(take, what="take a run")
            if held is None:
                return None
            self._leases.hold(held)
            # A waiting run was interrupted: it resumes. A stalled one was cut off mid-step
            # (its process died): it re-runs from its last checkpoint.
            waiting = held.previous == RunStatus.WAITING
            payload: Command[Any] | None = Command(resume=True) if waiting else None
            outcome = self._drive(held, payload)
            if outcome.status != RunStatus.WAITING or not self._has_news(held.run_id):
                return outcome

    def _drive(self, held: runs.Held, payload: Any) -> RunOutcome:
        run_id, thread_id = held.run_id, held.thread_id
        config: RunnableConfig = {"configurable": {"thread_id": thread_id}, "recursion_limit": 100}
        config = runs.fenced_config(config, held)
        self.gov.registry.refresh()  # tools enabled or disabled since the last run
        error: str | None = None
        stop: RunStatus | None = None
        values: dict[str, Any] | None = None
        try:
            with bound_ids(run_id=run_id, thread_id=thread_id):
                try:
                    values = self.graph.invoke(payload, config, durability="sync")
                except LostOwnership:
                    log.warning("lost the run to another process; stopping here")
                    return self._outcome_from_sql(run_id, thread_id)
                except GraphRecursionError:
                    error = "the run exceeded the graph's recursion limit"
                    stop = RunStatus.STOPPED_STEP_LIMIT
                except BudgetExceeded as exc:  # a cost cap: a clean stop, not a failure
                    error, stop = str(exc), RunStatus.STOPPED_BUDGET
                except (TethraError, RunFailure) as exc:
                    error = str(exc)
                except Exception as exc:
                    if is_transient(exc):
                        return self._stall(held, exc)
                    log.exception("run failed")
                    error = f"{type(exc).__name__}: {exc}"
                if values is None:  # it ended early: read what was checkpointed before
                    values = dict(self.graph.get_state(config).values)
                if stop is None and values.get("stopped") == STEP_LIMIT:
                    stop, error = RunStatus.STOPPED_STEP_LIMIT, _reply_of(values, run_id)
                return self._settle_run(held, values, error, stop)
        finally:
            self._leases.release(run_id)

    def _settle_run(
        self,
        held: runs.Held,
        values: dict[str, Any],
        error: str | None,
        stop: RunStatus | None = None,
    ) -> RunOutcome:
        run_id, thread_id = held.run_id, held.thread_id
        messages = _messages_of_run(values.get("messages", []), run_id)
        interrupts = [i.value for i in values.get("__interrupt__", [])]
        pending = [p for i in interrupts for p in i.get("pending", [])]
        waits = bool(pending) or any(i.get("in_flight") for i in interrupts)
        if stop is not None:
            status = stop
        elif error:
            status = RunStatus.FAILED
        else:
            status = RunStatus.WAITING if waits else RunStatus.COMPLETED
        kind: EventKind = _END_EVENTS[status]
        data: dict[str, Any] = {"reason": error} if error else {}
        if status in (RunStatus.STOPPED_BUDGET, RunStatus.STOPPED_STEP_LIMIT):
            data["stopped"] = status.value
        if pending:
            data["approvals"] = [p["approval_id"] for p in pending]

        def settle() -> bool:
            with session_scope(self.gov.engine) as session:
                if not runs.finish(session, held, status, error):
                    return False
                record(
                    session,
                    kind=kind,
                    actor="system",
                    run_id=run_id,
                    thread_id=thread_id,
                    data=data,
                )
                return True

        if not retry_transient(settle, what="record a run's end"):
            log.warning("lost the run before recording its end; recorded nothing")
            return self._outcome_from_sql(run_id, thread_id)
        self.relay()
        return RunOutcome(run_id, thread_id, status, messages, pending, error)

    def _stall(self, held: runs.Held, exc: BaseException) -> RunOutcome:
        """A transient database error cut the step off: the run is not failed. Let go of
        it (stalled, fenced) so this or another process re-runs it from its checkpoint."""
        log.warning(
            "run interrupted by a transient database error; it will be resumed",
            error=f"{type(exc).__name__}: {str(exc)[:200]}",
        )

        def stall() -> None:
            with session_scope(self.gov.engine) as session:
                if runs.stall(session, held):
                    outbox.add(session, RunResume(run_id=held.run_id, thread_id=held.thread_id))

        with suppress(Exception):  # the database is still away: the lease lapses instead
            retry_transient(stall, what="stall a run", give_up_after_s=30)
        return self._outcome_from_sql(held.run_id, held.thread_id)

    def _outcome_from_sql(self, run_id: str, thread_id: str) -> RunOutcome:
        """What the record says about a run this process does not (or no longer) drive."""
        run = retry_transient(lambda: self.run(run_id), what="read a run")
        return RunOutcome(run_id, thread_id, RunStatus(run.status), [], [], run.error)

    def _has_news(self, run_id: str) -> bool:
        """Whether a waiting run can move: a call it waits on was decided, finished, or
        lost its claimant; or nothing blocks it any more."""
        return run_id in retry_transient(lambda: self._news_of([run_id]), what="look for news")

    def _news_of(self, run_ids: list[str]) -> set[str]:
        """Which of these runs have news, in one query per thousand runs."""
        now = utcnow()
        ready: set[str] = set()
        blocked: set[str] = set()
        for start in range(0, len(run_ids), 1000):
            with session_scope(self.gov.engine) as session:
                rows = session.execute(
                    sa_select(
                        col(ToolCallRecord.run_id),
                        col(ToolCallRecord.status),
                        col(ToolCallRecord.lease_until),
                        col(ApprovalRequest.status),
                        col(ApprovalRequest.deadline),
                    )
                    .join(
                        ApprovalRequest,
                        col(ToolCallRecord.approval_id) == ApprovalRequest.id,
                        isouter=True,
                    )
                    .where(col(ToolCallRecord.run_id).in_(run_ids[start : start + 1000]))
                ).all()
            for run_id, status, lease_until, approval, deadline in rows:
                if status == CallStatus.PENDING:
                    if approval != "pending" or (deadline is not None and deadline <= now):
                        ready.add(run_id)
                    else:
                        blocked.add(run_id)
                elif status == CallStatus.EXECUTING:
                    if lease_until is None or lease_until < now:
                        ready.add(run_id)
                    else:
                        blocked.add(run_id)
        return {r for r in run_ids if r in ready or r not in blocked}

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
        if isinstance(event, RunResume) and event.call_key is not None:
            # Rebuilt after a loss: run the approved call now; its tool.executed event
            # (or the plain resume that follows) moves the run on.
            settle_approved(self.gov, event.call_key)
        elif isinstance(event, ApprovalDecided) and event.status == "approved":
            self._settle_approved(event.approval_id, event.call_key)
            self.resume(event.thread_id)
        elif isinstance(event, ApprovalDecided | ApprovalExpired | RunResume | ToolExecuted):
            self.resume(event.thread_id)
        for workflow in self.workflows:  # each ignores the runs of other workflows
            workflow.handle(event)

    def _settle_approved(self, approval_id: str, key: str | None) -> None:
        if key is None:  # a message from before events carried the call's key
            with session_scope(self.gov.engine) as session:
                key = session.exec(
                    select(ToolCallRecord.key).where(ToolCallRecord.approval_id == approval_id)
                ).first()
        if key is not None:
            # If another process is executing it, the resumed run waits for its result.
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

        A running run whose lease lapsed was cut off (its process died or stopped): it
        is marked stalled under a new fence, and always resumed. A queued run whose
        process died before starting it is failed with that reason (nothing of it ran).
        A waiting run is resumed if it has news.
        """

        def scan() -> list[Run]:
            with session_scope(self.gov.engine) as session:
                for run_id in runs.stall_lapsed(session, CHAT):
                    log.warning("run stalled: its driver's lease lapsed", run_id=run_id)
                for run_id in runs.lapsed_queued(session, CHAT):
                    reason = (
                        "not started: the process that accepted the message stopped before "
                        "starting it; nothing was done, send the message again"
                    )
                    if runs.end(
                        session, run_id, RunStatus.FAILED, reason, only_from={RunStatus.QUEUED}
                    ):
                        record(
                            session,
                            kind="run_failed",
                            actor="system",
                            run_id=run_id,
                            thread_id=None,
                            data={"reason": reason},
                        )
                return list(
                    session.exec(
                        select(Run).where(
                            Run.workflow == CHAT,
                            col(Run.status).in_((RunStatus.WAITING, RunStatus.STALLED)),
                        )
                    )
                )

        found = retry_transient(scan, what="look for runs to resume")
        waiting = [r.id for r in found if r.status == RunStatus.WAITING]
        news = retry_transient(lambda: self._news_of(waiting), what="look for news")
        return [r for r in found if r.status == RunStatus.STALLED or r.id in news]

    def reconcile(self) -> int:
        """Rebuild the bus from SQL (after Redis lost data). First one event per approved
        call still to run, so the workers execute those calls straight from SQL before
        any run is resumed (a resume costs a model call; the calls are what people
        approved and wait for); then one resume per run with news, for chat runs and
        every registered workflow's runs."""
        ready = retry_transient(self._approved_not_run, what="look for approved calls")
        for run_id, thread_id, key in ready:
            self.bus.publish(RunResume(run_id=run_id, thread_id=thread_id, call_key=key))
        runs = self.runs_needing_resume()
        for run in runs:
            self.bus.publish(RunResume(run_id=run.id, thread_id=run.thread_id))
        return len(runs) + sum(w.reconcile() for w in self.workflows)

    def _approved_not_run(self) -> list[tuple[str, str, str]]:
        with session_scope(self.gov.engine) as session:
            rows = session.exec(
                select(ToolCallRecord.run_id, ToolCallRecord.thread_id, ToolCallRecord.key)
                .join(ApprovalRequest, col(ToolCallRecord.approval_id) == ApprovalRequest.id)
                .where(
                    col(ToolCallRecord.status) == CallStatus.PENDING,
                    col(ApprovalRequest.status) == "approved",
                )
                .order_by(col(ToolCallRecord.created_at))
            ).all()
        return [(r, t, k) for r, t, k in rows]

    def register(self, workflow: Workflow) -> None:
        """Another workflow (invoices): its events handled, its runs recovered and
        reconciled with the chat runs, so a worker or the in-process housekeeping moves
        every kind of run the same way. Registering twice changes nothing."""
        if all(w is not workflow for w in self.workflows):
            self.workflows.append(workflow)

    def recover(self) -> list[RunOutcome]:
        """In one process, after a restart: sweep, then resume every run with news here."""
        self.sweep()
        outcomes = []
        for run in self.runs_needing_resume():
            outcome = self.resume(run.thread_id)
            if outcome is not None:
                outcomes.append(outcome)
        for workflow in self.workflows:
            workflow.recover()
        return outcomes

    def run(self, run_id: str) -> Run:
        with session_scope(self.gov.engine) as session:
            run = session.get(Run, run_id)
            if run is None:
                raise NotFound(f"no run {run_id!r}")
            return run


def _reply_of(values: dict[str, Any], run_id: str) -> str:
    texts = [
        str(m.content)
        for m in _messages_of_run(values.get("messages", []), run_id)
        if isinstance(m, AIMessage) and m.content
    ]
    return texts[-1] if texts else "stopped at the step limit"


def _messages_of_run(messages: list[AnyMessage], run_id: str) -> list[AnyMessage]:
    """The messages after the run's own user message (whose id is the run id)."""
    for index in range(len(messages) - 1, -1, -1):
        if messages[index].id == run_id:
            return messages[index + 1 :]
    return []
