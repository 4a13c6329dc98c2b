"""Moving runs forward from outside a driver: handling bus events, relaying the
outbox, sweeping deadlines, and finding in SQL what the bus forgot (recovery). The
worker loop (``graph.dispatch``) calls these on both bus modes."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Protocol

from sqlalchemy import and_, or_
from sqlmodel import col, select

from approvals.bus import Bus
from approvals.events import ApprovalDecided, ApprovalExpired, BusEvent, RunResume, ToolExecuted
from approvals.models import ApprovalRequest
from approvals.outbox import Observer, relay
from approvals.service import expire_overdue, warn_expiring
from audit.trail import record
from foundation.db import retry_transient, session_scope, utcnow
from foundation.logging import get_logger
from graph import runs
from graph.chat_runs import CHAT, ChatRuns, RunOutcome
from graph.execution import settle_approved
from graph.governance import Governance
from graph.records import CallStatus, Run, RunStatus, ToolCallRecord

log = get_logger(__name__)


class Workflow(Protocol):
    """What recovery needs of another workflow: its bus handling and recovery."""

    def handle(self, event: BusEvent) -> None: ...

    def recover(self) -> object: ...

    def reconcile(self) -> int: ...


@dataclass
class Progress:
    gov: Governance
    bus: Bus
    observers: tuple[Observer, ...]
    runs: ChatRuns
    workflows: list[Workflow] = field(default_factory=list)
    """Other registered workflows, recovered alongside chat runs (``register``)."""

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
            self.runs.resume(event.thread_id)
        elif isinstance(event, ApprovalDecided | ApprovalExpired | RunResume | ToolExecuted):
            self.runs.resume(event.thread_id)
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
        news = retry_transient(lambda: self.runs.news_of(waiting), what="look for news")
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
        """Approved calls not run yet, and claimed calls whose claimant's lease lapsed
        (whatever became of their run: an ended run's call still needs its outcome)."""
        with session_scope(self.gov.engine) as session:
            rows = session.exec(
                select(ToolCallRecord.run_id, ToolCallRecord.thread_id, ToolCallRecord.key)
                .join(ApprovalRequest, col(ToolCallRecord.approval_id) == ApprovalRequest.id)
                .where(
                    or_(
                        and_(
                            col(ToolCallRecord.status) == CallStatus.PENDING,
                            col(ApprovalRequest.status) == "approved",
                        ),
                        and_(
                            col(ToolCallRecord.status) == CallStatus.EXECUTING,
                            col(ToolCallRecord.lease_until) < utcnow(),
                        ),
                    )
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
            outcome = self.runs.resume(run.thread_id)
            if outcome is not None:
                outcomes.append(outcome)
        for workflow in self.workflows:
            workflow.recover()
        return outcomes
