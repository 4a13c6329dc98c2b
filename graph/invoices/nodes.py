"""The workflow's steps. Each is safe to re-run: LangGraph re-runs an interrupted node
from the top, so the hold and the filing record are keyed by run (and attempt) in SQL.

ingest -> check (output checks, then the three-way match) -> file -> governed tool node
-> filed; a blocking finding routes to hold, which waits for a person: released ->
file, corrected -> check again, rejected -> end.

Every step that writes checks, in the transaction of its write, that its driver still
holds the run (``runs.check`` on the fence in the config): a driver that lost the run
(its lease lapsed and another process took over, or the run was ended) writes nothing
and stops with ``LostOwnership``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, ToolMessage
from langchain_core.runnables import RunnableConfig
from langgraph.types import interrupt
from sqlalchemy.engine import Engine

from agents.models.factory import model_id
from approvals.holds import NewHold, get_hold, open_hold, open_holds_for
from approvals.spot_checks import Filed, record_filed
from audit.trail import Event, record_many
from foundation.db import session_scope
from foundation.errors import InvalidInput
from graph import runs
from graph.invoices.ingest import read_structured, read_text
from graph.invoices.state import InvoiceState
from policies.checks.engine import number, run_checks
from policies.checks.results import Finding, blocking
from policies.checks.schema import CheckFile
from policies.matching.three_way import match_lines
from policies.matching.tolerances import Tolerances
from tools.erp.intake import reference_facts

FILE_TOOL = "file_invoice"


@dataclass(frozen=True)
class InvoiceSteps:
    engine: Engine
    checks: CheckFile
    tolerances: Tolerances
    spot_check_share: float
    reader: BaseChatModel | None = None
    """The model that reads free-text invoices (the finance agent's model)."""

    # --- ingest ------------------------------------------------------------------------
    def ingest(self, state: InvoiceState, config: RunnableConfig) -> dict[str, Any]:
        if state["fmt"] != "text":
            draft = read_structured(state["document"], state["fmt"])  # type: ignore[arg-type]
            return {"draft": draft, "attempt": 1}
        if self.reader is None:
            raise InvalidInput("text invoices need a model to read them; none is configured")
        with session_scope(self.engine) as session:
            runs.check(session, config, state["run_id"])  # no model call for a lost run
        draft, reply = read_text(self.reader, state["document"])
        usage = getattr(reply, "usage_metadata", None) or {}
        with session_scope(self.engine) as session:
            runs.check(session, config, state["run_id"])
            record_many(
                session,
                [
                    Event(
                        "model_call",
                        state["agent"],
                        {
                            "agent": state["agent"],
                            "model": model_id(self.reader),
                            "purpose": "read_invoice",
                            "input_tokens": usage.get("input_tokens", 0),
                            "output_tokens": usage.get("output_tokens", 0),
                            "tool_calls": [c["name"] for c in getattr(reply, "tool_calls", [])],
                        },
                        state["run_id"],
                        _thread(state),
                    )
                ],
            )
        return {"draft": draft, "attempt": 1}

    # --- checks and match ----------------------------------------------------------------
    def check(self, state: InvoiceState, config: RunnableConfig) -> dict[str, Any]:
        draft, attempt = state.get("draft") or {}, state.get("attempt", 1)
        total = number(draft.get("total")) or Decimal("0.00")
        events: list[Event] = []
        with session_scope(self.engine) as session:
            runs.check(session, config, state["run_id"])
            facts = reference_facts(
                session,
                draft.get("supplier_id"),
                draft.get("invoice_number"),
                draft.get("po_number"),
            )
            if isinstance(draft.get("supplier_id"), int) and draft.get("invoice_number"):
                facts["duplicates"] += open_holds_for(
                    session, draft["supplier_id"], str(draft["invoice_number"]), state["run_id"]
                )
            report = run_checks(self.checks, {"invoice": draft, "facts": facts}, total)
            findings = list(report.findings)
            readable = not any(f.reason == "invalid_field" for f in report.failed)
            if readable and facts["po"] is not None and isinstance(draft.get("supplier_id"), int):
                findings += match_lines(draft, facts["po"], self.tolerances)
            events += self._check_events(state, findings, report.skipped)
            failed = blocking(findings)
            hold_id = None
            if failed:
                hold = open_hold(
                    session,
                    NewHold(
                        run_id=state["run_id"],
                        thread_id=_thread(state),
                        attempt=attempt,
                        requester=state["requester"],
                        invoice=draft,
                        findings=failed,
                        amount_at_stake=_at_stake(failed, total),
                    ),
                    events,
                )
                hold_id = hold.id
            record_many(session, events)
        return {"findings": [f.as_data() for f in failed], "hold_id": hold_id}

    def _check_events(
        self, state: InvoiceState, findings: list[Finding], skipped: list[str]
    ) -> list[Event]:
        """One event per failed check (with expected vs found), one for all that passed."""
        run_id, thread = state["run_id"], _thread(state)
        events = [
            Event(
                "check_result",
                "system",
                {
                    "tool": FILE_TOOL,
                    "check": f.check,
                    "passed": False,
                    "severity": f.severity,
                    "reason": f.reason,
                    "expected": f.expected,
                    "found": f.found,
                    "tolerance": f.tolerance,
                    "amount_at_stake": str(f.amount_at_stake),
                    "message": f.message,
                    "checks_version": self.checks.version,
                    "tolerances_version": self.tolerances.version,
                },
                run_id,
                thread,
            )
            for f in findings
            if not f.passed
        ]
        passed = sorted(
            {f.check for f in findings if f.passed} - {f.check for f in findings if not f.passed}
        )
        events.append(
            Event(
                "check_result",
                "system",
                {
                    "tool": FILE_TOOL,
                    "check": "invoice-checks",
                    "passed": not any(f.blocks for f in findings),
                    "message": f"{len(passed)} checks passed, {len(events)} findings",
                    "checks_passed": passed,
                    "checks_skipped": skipped,
                    "checks_version": self.checks.version,
                    "tolerances_version": self.tolerances.version,
                },
                run_id,
                thread,
            )
        )
        return events

    # --- hold ----------------------------------------------------------------------------
    def hold(self, state: InvoiceState, config: RunnableConfig) -> dict[str, Any]:
        hold_id = state.get("hold_id")
        assert hold_id is not None
        while True:
            with session_scope(self.engine) as session:
                runs.check(session, config, state["run_id"])  # a lost run goes no further
                hold = get_hold(session, hold_id)
            if hold.status == "released":
                return {"released_by": hold.decided_by, "hold_id": None}
            if hold.status == "corrected":
                return {
                    "draft": read_structured(hold.corrected or {}, "json"),
                    "attempt": hold.attempt + 1,
                    "hold_id": None,
                }
            if hold.status == "rejected":
                return {
                    "outcome": {"status": "rejected", "hold_id": hold.id, "reasons": hold.reasons}
                }
            # Pauses the run (checkpointed); a decision resumes it and this re-reads SQL.
            interrupt({"kind": "invoice_hold", "hold_id": hold.id, "reasons": hold.reasons})

    # --- filing --------------------------------------------------------------------------
    def propose_filing(self, state: InvoiceState) -> dict[str, Any]:
        """The filing call, proposed as the finance agent would: the governed node decides."""
        call = {
            "name": FILE_TOOL,
            "args": dict(state.get("draft") or {}),
            "id": f"file-{state.get('attempt', 1)}",
            "type": "tool_call",
        }
        return {"messages": [AIMessage(content="", tool_calls=[call])]}

    def filed(self, state: InvoiceState, config: RunnableConfig) -> dict[str, Any]:
        last = state["messages"][-1]
        if not isinstance(last, ToolMessage):
            return {"outcome": {"status": "failed", "error": "no result from the filing call"}}
        if last.status == "error":
            return {"outcome": {"status": "failed", "error": str(last.content)}}
        result = json.loads(str(last.content))
        invoice = result["invoice"]
        events: list[Event] = []
        with session_scope(self.engine) as session:
            runs.check(session, config, state["run_id"])
            spot = record_filed(
                session,
                Filed(
                    run_id=state["run_id"],
                    thread_id=_thread(state),
                    erp_invoice_id=invoice["id"],
                    supplier_id=invoice["supplier_id"],
                    invoice_number=invoice["invoice_number"],
                    total=Decimal(str(invoice["total"])),
                    currency=invoice["currency"],
                    released_by=state.get("released_by"),
                ),
                self.spot_check_share,
                events,
            )
            events.insert(
                0,
                Event(
                    "invoice_filed",
                    "system",
                    {
                        "invoice_id": invoice["id"],
                        "invoice_number": invoice["invoice_number"],
                        "supplier_id": invoice["supplier_id"],
                        "total": str(invoice["total"]),
                        "automatic": state.get("released_by") is None,
                        "released_by": state.get("released_by"),
                    },
                    state["run_id"],
                    _thread(state),
                ),
            )
            record_many(session, events)
        return {
            "outcome": {
                "status": "filed",
                "invoice_id": invoice["id"],
                "spot_check_id": None if spot is None else spot.id,
            }
        }


def _thread(state: InvoiceState) -> str:
    return "inv-" + state["run_id"].removeprefix("run_")


def _at_stake(failed: list[Finding], total: Decimal) -> Decimal:
    """What a wrong filing would cost at most: the variances, capped at the invoice total;
    the whole invoice when a finding concerns all of it (unknown supplier, duplicate...)."""
    line_level = {"price_mismatch", "quantity_mismatch", "qty_over_received", "unmatched_line"}
    if any(f.reason not in line_level for f in failed):
        return total.quantize(Decimal("0.01"))
    stake = sum((f.amount_at_stake for f in failed), Decimal("0.00"))
    return min(stake, total).quantize(Decimal("0.01")) if total > 0 else stake
