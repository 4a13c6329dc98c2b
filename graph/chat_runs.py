"""Chat runs: start, drive and resume them, one operator message worked to an answer.

A run may pause on approvals (the graph interrupts, checkpointed) and is resumed when
a decision arrives on the bus, or by recovery after a restart. One process drives a
run at a time (its lease and fence, ``graph.runs``); a decision that lands while a
resume is under way is picked up by the loop in ``resume`` rather than lost.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from langchain_core.messages import AIMessage, AnyMessage, HumanMessage
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import Command
from sqlalchemy import select as sa_select
from sqlmodel import col, select

from approvals.bus import Bus
from approvals.models import ApprovalRequest
from approvals.outbox import Observer, relay
from audit.trail import Event, record, record_many
from foundation.db import retry_transient, session_scope, utcnow
from foundation.errors import (
    Conflict,
    InvalidInput,
    NotFound,
)
from foundation.ids import new_id
from foundation.logging import get_logger
from graph import driving, runs
from graph.governance import Governance
from graph.records import ACTIVE_RUN_STATUSES, CallStatus, Run, RunStatus, ToolCallRecord
from graph.runs import Held

log = get_logger(__name__)
CHAT = "chat"
"""The workflow these runs belong to (invoice runs have their own driver)."""
STEP_LIMIT = "step_limit"
"""``state["stopped"]`` when an agent reached its step limit."""


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
class ChatRuns:
    gov: Governance
    graph: CompiledStateGraph[Any, Any, Any, Any]
    bus: Bus
    entry_agent: str
    run_lease: timedelta
    observers: tuple[Observer, ...]
    owner: str
    leases: runs.LeaseKeeper = field(init=False)

    def __post_init__(self) -> None:
        self.leases = runs.LeaseKeeper(self.gov.engine, self.run_lease)

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

        self.leases.hold(retry_transient(create, what="open a run"))
        return run.id

    def drive_run(self, run_id: str, thread_id: str, requester: str, text: str) -> RunOutcome:
        """Start a run this process queued; if it was ended meanwhile, run nothing."""
        held = self.leases.get(run_id) or runs.Held(run_id, thread_id, 1, RunStatus.QUEUED)

        def begin() -> bool:
            with session_scope(self.gov.engine) as session:
                return runs.start(session, held, self.owner, self.run_lease)

        if not retry_transient(begin, what="start a run"):
            self.leases.release(run_id)
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
            self.leases.hold(held)
            # A waiting run was interrupted: it resumes. A stalled one was cut off mid-step
            # (its process died): it re-runs from its last checkpoint.
            waiting = held.previous == RunStatus.WAITING
            payload: Command[Any] | None = Command(resume=True) if waiting else None
            outcome = self._drive(held, payload)
            if outcome.status != RunStatus.WAITING or not self.has_news(held.run_id):
                return outcome

    def _drive(self, held: runs.Held, payload: Any) -> RunOutcome:
        self.gov.registry.refresh()  # tools enabled or disabled since the last run
        ran = driving.drive(
            self.graph, self.gov.engine, self.leases, held, payload, recursion_limit=100
        )
        if isinstance(ran, driving.LetGo):
            return self._outcome_from_sql(held.run_id, held.thread_id)
        values, error, stop = ran.values, ran.error, ran.stop
        if stop is None and values.get("stopped") == STEP_LIMIT:
            stop, error = RunStatus.STOPPED_STEP_LIMIT, _reply_of(values, held.run_id)
        return self._settle_run(held, values, error, stop)

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
        data: dict[str, Any] = {"reason": error} if error else {}
        if status in (RunStatus.STOPPED_BUDGET, RunStatus.STOPPED_STEP_LIMIT):
            data["stopped"] = status.value
        if pending:
            data["approvals"] = [p["approval_id"] for p in pending]
        if not driving.end(self.gov.engine, held, status, error, data):
            return self._outcome_from_sql(run_id, thread_id)
        relay(self.gov.engine, self.bus, observers=self.observers)
        return RunOutcome(run_id, thread_id, status, messages, pending, error)

    def _outcome_from_sql(self, run_id: str, thread_id: str) -> RunOutcome:
        """What the record says about a run this process does not (or no longer) drive."""
        run = retry_transient(lambda: self.run(run_id), what="read a run")
        return RunOutcome(run_id, thread_id, RunStatus(run.status), [], [], run.error)

    def has_news(self, run_id: str) -> bool:
        """Whether a waiting run can move: a call it waits on was decided, finished, or
        lost its claimant; or nothing blocks it any more."""
        return run_id in retry_transient(lambda: self.news_of([run_id]), what="look for news")

    def news_of(self, run_ids: list[str]) -> set[str]:
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

    def cancel(self, run_id: str, by: str, reason: str = "") -> Run:
        """Any active run -> cancelled, by a person. Fenced at once: a driver working on
        it writes nothing more, none of its calls is claimed afterwards, and its pending
        approval requests are withdrawn. A call already executing finishes and is
        recorded (it cannot be called back). Conflict if the run has ended."""
        why = f"cancelled by {by}" + (f": {reason}" if reason else "")

        def end() -> bool:
            with session_scope(self.gov.engine) as session:
                run = session.get(Run, run_id)
                if run is None:
                    raise NotFound(f"no run {run_id!r}")
                if not runs.end(
                    session, run_id, RunStatus.CANCELLED, why, only_from=set(ACTIVE_RUN_STATUSES)
                ):
                    return False
                record(
                    session,
                    kind="run_stopped",
                    actor=by,
                    run_id=run_id,
                    thread_id=run.thread_id,
                    data={"reason": why, "stopped": RunStatus.CANCELLED.value},
                )
                return True

        if not retry_transient(end, what="cancel a run"):
            ended = self.run(run_id)
            raise Conflict(f"run {run_id} has already ended ({ended.status})")
        self.leases.release(run_id)
        return self.run(run_id)

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
