"""The invoice sub-graph and its driver: one run per invoice, as the finance agent.

Each invoice gets a run record (workflow ``invoices``) and its own thread; the graph
runs to ``filed``, ``rejected`` or a wait. A wait is either a hold (a person decides
it, then ``decide`` continues the run at once) or, if the policy sends filing to
review, an approval (the decision on the bus resumes it here).

Invoice runs follow the same lifecycle as chat runs (``graph.runs``): queued ->
running <-> waiting -> one terminal state. The driver holds the run's lease (renewed
by a ``LeaseKeeper``) and its fence travels in the graph's config, so every write a
node makes checks that this driver still holds the run: a driver that stalled past
its lease and lost the run writes nothing. ``recover`` (and ``reconcile``, for
workers) finds from SQL alone the runs that can move on: a run whose driver died is
stalled and driven again from its last checkpoint (every step is checkpointed before
the next starts, and every step is safe to re-run), a queued run whose process died
is failed with the reason, and a waiting run whose hold or filing approval was decided
is resumed.
"""

from __future__ import annotations

import json
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from langchain_core.language_models import BaseChatModel
from langchain_core.runnables import RunnableConfig
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import Command
from sqlalchemy import ColumnElement, Table, and_, exists, not_, or_, select
from sqlmodel import Session, col

from approvals.ap_models import InvoiceHold
from approvals.events import ApprovalDecided, ApprovalExpired, BusEvent, RunResume, ToolExecuted
from approvals.holds import HoldAction, decide_hold
from approvals.models import ApprovalRequest
from audit.trail import Event, record, record_many
from foundation.db import retry_transient, session_scope, utcnow
from foundation.errors import NotFound
from foundation.ids import new_id
from foundation.logging import get_logger
from graph import driving, runs
from graph.governed import GovernedToolNode
from graph.invoices.ingest import Format
from graph.invoices.nodes import InvoiceSteps
from graph.invoices.state import InvoiceState
from graph.records import TERMINAL_RUN_STATUSES, CallStatus, Run, RunStatus, ToolCallRecord
from graph.runs import Held
from graph.runtime import Runtime
from policies.checks.schema import CheckFile, load_checks
from policies.matching.tolerances import Tolerances

log = get_logger(__name__)
AGENT = "finance"
WORKFLOW = "invoices"
THREAD_PREFIX = "inv-"
Status = Literal["filed", "held", "rejected", "failed", "waiting"]

RUNS: Table = Run.__table__  # type: ignore[attr-defined]
HOLDS: Table = InvoiceHold.__table__  # type: ignore[attr-defined]
CALLS: Table = ToolCallRecord.__table__  # type: ignore[attr-defined]
REQUESTS: Table = ApprovalRequest.__table__  # type: ignore[attr-defined]
NO_CHECKPOINT = (
    "its process stopped before the first step was saved, so it cannot be continued: "
    "upload the invoice again"
)
NOT_STARTED = (
    "not started: the process that accepted the invoice stopped before starting it; "
    "nothing was done, upload it again"
)


@dataclass(frozen=True)
class InvoiceOutcome:
    """What happened to one invoice. ``reasons`` are the exception kinds of its hold."""

    status: Status
    run_id: str
    reasons: list[str] = field(default_factory=list)
    hold_id: str | None = None
    invoice_id: int | None = None
    amount_at_stake: Decimal = Decimal("0.00")
    findings: list[dict[str, Any]] = field(default_factory=list)
    spot_check_id: str | None = None
    error: str | None = None
    name: str = ""
    currency: str = ""


class InvoiceWorkflow:
    def __init__(
        self,
        runtime: Runtime,
        *,
        checks: CheckFile | None = None,
        tolerances: Tolerances | None = None,
        spot_check_share: float = 0.05,
        reader: BaseChatModel | None = None,
    ) -> None:
        self.runtime = runtime
        self.engine = runtime.engine
        self.owner, self.lease = runtime.owner, runtime.run_lease
        self._leases = runs.LeaseKeeper(self.engine, self.lease)
        self.steps = InvoiceSteps(
            engine=self.engine,
            checks=checks or load_checks(),
            tolerances=tolerances or Tolerances.from_file(),
            spot_check_share=spot_check_share,
            reader=reader,
        )
        self.graph = self._build(runtime)

    def _build(self, runtime: Runtime) -> CompiledStateGraph[Any, Any, Any, Any]:
        s = self.steps
        builder = StateGraph(InvoiceState)
        builder.add_node("ingest", s.ingest)
        builder.add_node("check", s.check)
        builder.add_node("hold", s.hold)
        builder.add_node("file", s.propose_filing)
        builder.add_node("tools", GovernedToolNode(runtime.gov))
        builder.add_node("filed", s.filed)
        builder.add_edge(START, "ingest")
        builder.add_edge("ingest", "check")
        builder.add_conditional_edges(
            "check", lambda st: "hold" if st.get("hold_id") else "file", ["hold", "file"]
        )
        builder.add_conditional_edges("hold", _after_hold, ["check", "file", END])
        builder.add_edge("file", "tools")
        builder.add_edge("tools", "filed")
        builder.add_edge("filed", END)
        return builder.compile(checkpointer=runtime.graph.checkpointer)

    # --- running ---------------------------------------------------------------------
    def process(
        self, document: str | dict[str, Any], *, fmt: Format, requester: str, name: str = ""
    ) -> InvoiceOutcome:
        """Take one invoice through the workflow; returns once it is filed, held or failed."""
        run_id = new_id("run")
        thread_id = _thread_of(run_id)
        text = document if isinstance(document, str) else json.dumps(document, default=str)
        run = Run(
            id=run_id, thread_id=thread_id, requester=requester, agent=AGENT, workflow=WORKFLOW
        )

        def create() -> Held:
            with session_scope(self.engine) as session:
                held = runs.open_queued(session, run, self.owner, self.lease)
                record_many(
                    session,
                    [
                        Event(
                            "run_started",
                            requester,
                            {"agent": AGENT, "workflow": WORKFLOW},
                            run_id,
                            thread_id,
                        ),
                        Event(
                            "user_message",
                            requester,
                            {
                                "text": f"process invoice {name or '(upload)'} ({fmt})",
                                "document": name,
                            },
                            run_id,
                            thread_id,
                        ),
                    ],
                )
                return held

        held = retry_transient(create, what="open an invoice run")
        self._leases.hold(held)

        def begin() -> bool:
            with session_scope(self.engine) as session:
                return runs.start(session, held, self.owner, self.lease)

        try:
            started = retry_transient(begin, what="start an invoice run")
        except BaseException:
            self._leases.release(run_id)  # its lease lapses; recovery fails it
            raise
        if not started:
            self._leases.release(run_id)  # ended meanwhile (its lease was found lapsed)
            return self._from_sql(run_id, name)
        payload: dict[str, Any] = {
            "messages": [],
            "run_id": run_id,
            "requester": requester,
            "agent": AGENT,
            "steps": 0,
            "workflow": WORKFLOW,
            "document": text,
            "fmt": "json" if isinstance(document, dict) else fmt,
        }
        return self._run(held, payload, name)

    def decide(
        self,
        hold_id: str,
        *,
        person: str,
        action: HoldAction,
        note: str = "",
        values: dict[str, Any] | None = None,
    ) -> InvoiceOutcome:
        """Record a person's decision on a hold, then continue the waiting run at once.
        If another process holds the run right now, it picks the decision up itself:
        the decision stands and the answer says where the invoice is."""
        hold = decide_hold(
            self.engine, hold_id, person=person, action=action, note=note, values=values
        )
        outcome = self.resume(hold.run_id)
        return outcome if outcome is not None else self._from_sql(hold.run_id)

    def resume(self, run_id: str, name: str = "") -> InvoiceOutcome | None:
        """Continue a waiting or stalled invoice run; None if it is neither (or another
        process has it)."""
        held = self._take(run_id)
        if held is None:
            return None
        return self._run(held, _payload(held), name)

    def handle(self, event: BusEvent) -> None:
        """Bus handler: an approval on a filing call was decided or expired, its result
        was recorded elsewhere, or recovery asks for a run to move on: continue that
        invoice's run."""
        if not isinstance(event, ApprovalDecided | ApprovalExpired | RunResume | ToolExecuted):
            return
        if not event.thread_id.startswith(THREAD_PREFIX):
            return  # a chat run's event: the runtime handles it
        with suppress(NotFound):
            self.resume(event.run_id)

    # --- recovery --------------------------------------------------------------------
    def runs_needing_resume(self, now: datetime | None = None) -> list[Run]:
        """Invoice runs that can move on, read from SQL alone (the bus may have lost their
        news, or no process was up when it came).

        A running run whose lease lapsed was cut off (its process died or stopped): it is
        marked stalled under a new fence and always driven again. A queued run whose
        process died before starting it is failed with that reason (nothing of it ran).
        A waiting run is resumed once nothing blocks it: its hold was decided, its filing
        approval was decided or is past its deadline, or its filing call's claimant died.
        """

        def scan() -> list[Run]:
            at = now or utcnow()
            with session_scope(self.engine) as session:
                for run_id in runs.stall_lapsed(session, WORKFLOW, at):
                    log.warning("invoice run stalled: its driver's lease lapsed", run_id=run_id)
                for run_id in runs.lapsed_queued(session, WORKFLOW, at):
                    self._fail_unstarted(session, run_id)
                stalled = RUNS.c.status == RunStatus.STALLED
                movable = and_(RUNS.c.status == RunStatus.WAITING, _unblocked(at))
                found = session.scalars(
                    select(Run)
                    .where(col(Run.workflow) == WORKFLOW, or_(stalled, movable))
                    .order_by(col(Run.updated_at))
                )
                return list(found)

        return retry_transient(scan, what="look for invoice runs to resume")

    def recover(self) -> list[InvoiceOutcome]:
        """In one process (after a restart, and periodically without Redis): drive every
        invoice run that can move on here."""
        outcomes = []
        for run in self.runs_needing_resume():
            try:
                outcome = self.resume(run.id)
            except Exception:  # one run's trouble must not keep the others waiting
                log.exception("recovering an invoice run failed", run_id=run.id)
                continue
            if outcome is not None:
                outcomes.append(outcome)
        return outcomes

    def reconcile(self) -> int:
        """With workers: one resume event per invoice run that can move on (after Redis
        lost data, or a worker died); whichever worker takes it drives the run."""
        found = self.runs_needing_resume()
        for run in found:
            self.runtime.bus.publish(RunResume(run_id=run.id, thread_id=run.thread_id))
        return len(found)

    def _fail_unstarted(self, session: Session, run_id: str) -> None:
        if runs.end(session, run_id, RunStatus.FAILED, NOT_STARTED, only_from={RunStatus.QUEUED}):
            record(
                session,
                kind="run_failed",
                actor="system",
                run_id=run_id,
                thread_id=_thread_of(run_id),
                data={"workflow": WORKFLOW, "invoice": "failed", "reason": NOT_STARTED},
            )

    # --- driving ---------------------------------------------------------------------
    def _take(self, run_id: str) -> Held | None:
        def take() -> Held | None:
            with session_scope(self.engine) as session:
                run = session.get(Run, run_id)
                if run is None:
                    raise NotFound(f"no run {run_id!r}")
                if run.workflow != WORKFLOW or run.status not in (
                    RunStatus.WAITING,
                    RunStatus.STALLED,
                ):
                    return None
                return runs.take(session, run, self.owner, self.lease)

        held = retry_transient(take, what="take an invoice run")
        if held is not None:
            self._leases.hold(held)
        return held

    def _run(self, held: Held, payload: Any, name: str) -> InvoiceOutcome:
        """Drive the run; while it settles waiting on something already decided (a hold
        decided while the run was on its way to waiting for it), take it again."""
        while True:
            outcome, waits = self._drive(held, payload, name)
            if not waits or not self._has_news(held.run_id):
                return outcome
            again = self._take(held.run_id)
            if again is None:  # another process took it: it carries on there
                return outcome
            held, payload = again, _payload(again)

    def _drive(self, held: Held, payload: Any, name: str) -> tuple[InvoiceOutcome, bool]:
        """Run the graph under the lease and the fence (``graph.driving``); returns the
        outcome and whether this driver left the run waiting."""

        def nothing_to_resume(config: RunnableConfig) -> driving.Stopped | None:
            if payload is None and not self.graph.get_state(config).values:
                return driving.Stopped({}, NO_CHECKPOINT)
            return None

        ran = driving.drive(
            self.graph,
            self.engine,
            self._leases,
            held,
            payload,
            recursion_limit=50,
            before=nothing_to_resume,
        )
        if isinstance(ran, driving.LetGo):
            if ran.stalled:
                reason = "interrupted by a database error; the run will be resumed"
                out = InvoiceOutcome(status="waiting", run_id=held.run_id, error=reason, name=name)
                return out, False
            return self._from_sql(held.run_id, name), False
        return self._settle(held, ran.values, ran.error, ran.stop, name)

    def _settle(
        self,
        held: Held,
        values: dict[str, Any],
        error: str | None,
        stop: RunStatus | None,
        name: str,
    ) -> tuple[InvoiceOutcome, bool]:
        """Record the run's end (or its wait) under the driver's fence, with its event."""
        run_id = held.run_id
        interrupts = [i.value for i in values.get("__interrupt__", [])]
        hold_pause = next((i for i in interrupts if i.get("kind") == "invoice_hold"), None)
        outcome = values.get("outcome") or {}
        status: Status
        if error is not None or stop is not None:
            status = "failed"
        elif hold_pause is not None:
            status = "held"
        elif interrupts:
            status = "waiting"
        else:
            status = outcome.get("status", "failed")
            error = outcome.get("error")
            if status == "failed" and not error:
                error = "the invoice workflow ended without an outcome"
        run_status = stop or {
            "held": RunStatus.WAITING,
            "waiting": RunStatus.WAITING,
            "failed": RunStatus.FAILED,
        }.get(status, RunStatus.COMPLETED)
        hold_id = hold_pause["hold_id"] if hold_pause else outcome.get("hold_id")
        data: dict[str, Any] = {"workflow": WORKFLOW, "invoice": status}
        if hold_id:
            data["hold_id"] = hold_id
        if error:
            data["reason"] = error
        if stop is not None:
            data["stopped"] = stop.value

        if not driving.end(self.engine, held, run_status, error, data):
            return self._from_sql(run_id, name), False
        hold = self._hold(hold_id)
        self.runtime.relay()
        result = _outcome(status, run_id, hold, outcome, error, name)
        return result, run_status == RunStatus.WAITING

    def _hold(self, hold_id: str | None) -> InvoiceHold | None:
        if hold_id is None:
            return None
        with session_scope(self.engine) as session:
            return session.get(InvoiceHold, hold_id)

    def _has_news(self, run_id: str) -> bool:
        """Whether a waiting run can move on (nothing blocks it any more)."""

        def look() -> bool:
            with session_scope(self.engine) as session:
                found = session.execute(
                    select(RUNS.c.id).where(
                        RUNS.c.id == run_id,
                        RUNS.c.status == RunStatus.WAITING,
                        _unblocked(utcnow()),
                    )
                ).first()
                return found is not None

        return retry_transient(look, what="look for news of an invoice run")

    def _from_sql(self, run_id: str, name: str = "") -> InvoiceOutcome:
        """What the record says about a run this process does not (or no longer) drive."""

        def read() -> tuple[Run, InvoiceHold | None]:
            with session_scope(self.engine) as session:
                run = session.get(Run, run_id)
                if run is None:
                    raise NotFound(f"no run {run_id!r}")
                hold = session.scalars(
                    select(InvoiceHold)
                    .where(col(InvoiceHold.run_id) == run_id)
                    .order_by(col(InvoiceHold.attempt).desc())
                ).first()
                return run, hold

        run, hold = retry_transient(read, what="read an invoice run")
        status: Status
        outcome: dict[str, Any] = {}
        if run.status == RunStatus.COMPLETED:
            status = "rejected" if hold is not None and hold.status == "rejected" else "filed"
            if status == "filed":
                config: RunnableConfig = {"configurable": {"thread_id": run.thread_id}}
                outcome = self.graph.get_state(config).values.get("outcome") or {}
        elif run.status in TERMINAL_RUN_STATUSES:
            status = "failed"
        else:  # queued, running or stalled elsewhere, or waiting
            status = "held" if hold is not None and hold.status == "open" else "waiting"
        shown = hold if status in ("held", "rejected") else None
        return _outcome(status, run_id, shown, outcome, run.error, name)


def _after_hold(state: InvoiceState) -> str:
    """Rejected: done. Released: file as it is. Corrected: check the corrected invoice."""
    if state.get("outcome"):
        return END
    return "file" if state.get("released_by") else "check"


def _thread_of(run_id: str) -> str:
    """Each invoice run has its own thread, named after it."""
    return THREAD_PREFIX + run_id.removeprefix("run_")


def _payload(held: Held) -> Command[Any] | None:
    """A waiting run was interrupted: it resumes. A stalled one was cut off mid-step (its
    process died): it runs again from its last checkpoint."""
    return Command(resume=True) if held.previous == RunStatus.WAITING else None


def _unblocked(now: datetime) -> ColumnElement[bool]:
    """For a row of ``runs``: nothing it waits on is still undecided or in hand. An open
    hold blocks it; so does a filing call pending an undecided approval within its
    deadline, or executing under a live claim elsewhere."""
    open_hold = exists().where(HOLDS.c.run_id == RUNS.c.id, HOLDS.c.status == "open")
    undecided = and_(
        CALLS.c.status == CallStatus.PENDING,
        REQUESTS.c.status == "pending",
        REQUESTS.c.deadline > now,
    )
    in_hand = and_(CALLS.c.status == CallStatus.EXECUTING, CALLS.c.lease_until >= now)
    blocking_call = (
        select(CALLS.c.key)
        .select_from(CALLS.outerjoin(REQUESTS, CALLS.c.approval_id == REQUESTS.c.id))
        .where(CALLS.c.run_id == RUNS.c.id, or_(undecided, in_hand))
        .exists()
    )
    return and_(not_(open_hold), not_(blocking_call))


def _outcome(
    status: Status,
    run_id: str,
    hold: InvoiceHold | None,
    outcome: dict[str, Any],
    error: str | None,
    name: str,
) -> InvoiceOutcome:
    return InvoiceOutcome(
        status=status,
        run_id=run_id,
        reasons=list(hold.reasons) if hold else [],
        hold_id=hold.id if hold else outcome.get("hold_id"),
        invoice_id=outcome.get("invoice_id"),
        amount_at_stake=hold.amount_at_stake if hold else Decimal("0.00"),
        findings=list(hold.findings) if hold else [],
        spot_check_id=outcome.get("spot_check_id"),
        error=error,
        name=name,
        currency=hold.currency if hold else "",
    )
