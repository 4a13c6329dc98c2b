"""The invoice sub-graph and its driver: one run per invoice, as the finance agent.

Each invoice gets a run record and its own thread; the graph runs to ``filed``,
``rejected`` or a pause. A pause is either a hold (a person decides it, then
``resume`` continues the run) or, if the policy sends filing to review, an approval
(the decision on the bus resumes it here). Invoice runs use the run statuses ``held``
and ``paused`` so the chat runtime never tries to resume them with its own graph.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

from langchain_core.language_models import BaseChatModel
from langchain_core.runnables import RunnableConfig
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import Command
from sqlalchemy import update
from sqlmodel import col, select

from approvals.ap_models import InvoiceHold
from approvals.events import ApprovalDecided, ApprovalExpired, BusEvent
from approvals.holds import HoldAction, decide_hold
from audit.trail import Event, record_many
from graph.governed import GovernedToolNode
from graph.invoices.ingest import Format
from graph.invoices.nodes import InvoiceSteps
from graph.invoices.state import InvoiceState
from graph.records import Run
from graph.runtime import Runtime
from policies.checks.schema import CheckFile, load_checks
from policies.matching.tolerances import Tolerances
from tethra.db import rows_affected, session_scope, utcnow
from tethra.errors import Conflict, NotFound, TethraError
from tethra.ids import new_id
from tethra.logging import bound_ids, get_logger

log = get_logger(__name__)
AGENT = "finance"
WORKFLOW = "invoices"
Status = Literal["filed", "held", "rejected", "failed", "waiting"]


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
        self.engine = runtime.gov.engine
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
        thread_id = "inv-" + run_id.removeprefix("run_")
        text = document if isinstance(document, str) else json.dumps(document, default=str)
        with session_scope(self.engine) as session:
            session.add(Run(id=run_id, thread_id=thread_id, requester=requester, agent=AGENT))
            session.flush()
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
                        {"text": f"process invoice {name or '(upload)'} ({fmt})", "document": name},
                        run_id,
                        thread_id,
                    ),
                ],
            )
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
        return self._drive(run_id, payload, name)

    def decide(
        self,
        hold_id: str,
        *,
        person: str,
        action: HoldAction,
        note: str = "",
        values: dict[str, Any] | None = None,
    ) -> InvoiceOutcome:
        """Record a person's decision on a hold, then continue the paused run at once."""
        hold = decide_hold(
            self.engine, hold_id, person=person, action=action, note=note, values=values
        )
        outcome = self.resume(hold.run_id)
        if outcome is None:
            raise Conflict(f"run {hold.run_id} of hold {hold_id} is being resumed elsewhere")
        return outcome

    def resume(self, run_id: str) -> InvoiceOutcome | None:
        """Continue a held or paused invoice run; None if it is not paused (or taken)."""
        with session_scope(self.engine) as session:
            run = session.get(Run, run_id)
            if run is None:
                raise NotFound(f"no run {run_id!r}")
            took = session.execute(
                update(Run)
                .where(col(Run.id) == run_id, col(Run.status).in_(("held", "paused")))
                .values(status="running", updated_at=utcnow())
            )
            if rows_affected(took) != 1:
                return None
        return self._drive(run_id, Command(resume=True), "")

    def handle(self, event: BusEvent) -> None:
        """Bus handler: an approval on a filing call was decided; continue that invoice."""
        if not isinstance(event, ApprovalDecided | ApprovalExpired):
            return
        with session_scope(self.engine) as session:
            run = session.exec(
                select(Run).where(Run.thread_id == event.thread_id, Run.status == "paused")
            ).first()
        if run is not None:
            self.resume(run.id)

    def _drive(self, run_id: str, payload: Any, name: str) -> InvoiceOutcome:
        thread_id = "inv-" + run_id.removeprefix("run_")
        config: RunnableConfig = {"configurable": {"thread_id": thread_id}, "recursion_limit": 50}
        error: str | None = None
        values: dict[str, Any] = {}
        with bound_ids(run_id=run_id, thread_id=thread_id):
            try:
                values = self.graph.invoke(payload, config, durability="exit")
            except (TethraError, ValueError) as exc:
                error = str(exc)
            except Exception as exc:
                log.exception("invoice run failed")
                error = f"{type(exc).__name__}: {exc}"
            if error is not None:
                values = dict(self.graph.get_state(config).values)
        return self._settle(run_id, thread_id, values, error, name)

    def _settle(
        self, run_id: str, thread_id: str, values: dict[str, Any], error: str | None, name: str
    ) -> InvoiceOutcome:
        interrupts = [i.value for i in values.get("__interrupt__", [])]
        hold_pause = next((i for i in interrupts if i.get("kind") == "invoice_hold"), None)
        outcome = values.get("outcome") or {}
        if error is not None:
            status: Status = "failed"
        elif hold_pause is not None:
            status = "held"
        elif interrupts:
            status = "waiting"
        else:
            status = outcome.get("status", "failed")
            error = outcome.get("error")
        run_status = {"held": "held", "waiting": "paused", "failed": "failed"}.get(
            status, "completed"
        )
        hold_id = hold_pause["hold_id"] if hold_pause else outcome.get("hold_id")
        with session_scope(self.engine) as session:
            session.execute(
                update(Run)
                .where(col(Run.id) == run_id)
                .values(status=run_status, error=error, updated_at=utcnow())
            )
            kind = {"held": "run_waiting", "waiting": "run_waiting", "failed": "run_failed"}.get(
                status, "run_completed"
            )
            data: dict[str, Any] = {"workflow": WORKFLOW, "invoice": status}
            if hold_id:
                data["hold_id"] = hold_id
            if error:
                data["reason"] = error
            record_many(session, [Event(kind, "system", data, run_id, thread_id)])  # type: ignore[arg-type]
            hold = session.get(InvoiceHold, hold_id) if hold_id else None
        self.runtime.relay()
        if status == "held" and hold is not None and hold.status != "open":
            # Decided while the run was still pausing: the decider's resume found it
            # running, so it continues here.
            resumed = self.resume(run_id)
            if resumed is not None:
                return resumed
        return InvoiceOutcome(
            status=status,
            run_id=run_id,
            reasons=list(hold.reasons) if hold else [],
            hold_id=hold_id,
            invoice_id=outcome.get("invoice_id"),
            amount_at_stake=hold.amount_at_stake if hold else Decimal("0.00"),
            findings=list(hold.findings) if hold else [],
            spot_check_id=outcome.get("spot_check_id"),
            error=error,
            name=name,
            currency=hold.currency if hold else "",
        )


def _after_hold(state: InvoiceState) -> str:
    """Rejected: done. Released: file as it is. Corrected: check the corrected invoice."""
    if state.get("outcome"):
        return END
    return "file" if state.get("released_by") else "check"
