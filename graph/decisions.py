"""Deciding approvals for the entry points: the decision commits with its bus message
(outbox), which is sent at once; a send that fails is the relay's to retry."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlmodel import Session

from approvals.bus import Bus
from approvals.deciding import DecideOutcome, decide
from approvals.models import Action, ApprovalRequest
from approvals.outbox import Observer, publish_after_commit, publish_captured
from foundation.canonical import call_hash
from graph.governance import Governance, run_totals
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
