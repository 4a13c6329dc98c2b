"""Deciding approvals for the entry points: the decision commits with its bus message
(outbox), which is sent at once; a send that fails is the relay's to retry."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlmodel import Session, col

from approvals.bus import Bus
from approvals.deciding import DecideOutcome, decide
from approvals.models import Action, ApprovalRequest
from approvals.outbox import Observer, publish_after_commit, publish_captured
from foundation.canonical import call_hash
from foundation.db import one_statement
from foundation.errors import Conflict
from graph.governance import Governance, run_totals
from graph.records import TERMINAL_RUN_STATUSES, Run
from policies.decision import CallFacts, Decision


@dataclass
class Decisions:
    gov: Governance
    bus: Bus
    observers: tuple[Observer, ...]

    def decide(
        self,
        approval_id: str,
        *,
        approver: str,
        action: Action,
        comment: str = "",
        edited_args: dict[str, Any] | None = None,
    ) -> DecideOutcome:
        self._refuse_if_run_ended(approval_id)
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

    def _refuse_if_run_ended(self, approval_id: str) -> None:
        """Approving a call of a run that has ended would do nothing (the run was fenced):
        say so instead of recording a decision that looks as if it will run."""
        with one_statement(self.gov.engine) as conn:
            row = conn.execute(
                select(col(Run.status), col(Run.id), col(ApprovalRequest.status))
                .join(ApprovalRequest, col(ApprovalRequest.run_id) == col(Run.id))
                .where(col(ApprovalRequest.id) == approval_id)
            ).first()
        # Decided already: the deciding service says by whom.
        if row is not None and row[0] in TERMINAL_RUN_STATUSES and row[2] == "pending":
            raise Conflict(
                f"run {row[1]} has ended ({row[0]}): none of its calls will run, so this "
                "request can no longer be decided"
            )

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
