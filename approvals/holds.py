"""Holds: an invoice that failed a check waits here for a person, with the write-up.

A person with the approver role (never whoever submitted the invoice) releases it with
a reason, corrects values (the workflow checks the corrected invoice again), or rejects
it. Each decision is a compare-and-set on ``version`` in one transaction with its audit
event, so of two people deciding at once exactly one wins and the other is told who.
The workflow that owns the paused run resumes it after the decision commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from approvals.ap_models import InvoiceHold
from audit.trail import Event, record
from foundation.db import rows_affected, session_scope, utcnow
from foundation.errors import Conflict, Forbidden, InvalidInput, NotFound
from foundation.ids import new_id
from foundation.users import get_user, has_role
from policies.checks.results import Finding, reasons_of
from tools.erp.intake import InvoiceDoc

HoldAction = Literal["release", "correct", "reject"]
DONE = {"release": "released", "correct": "corrected", "reject": "rejected"}
CORRECTABLE = frozenset(InvoiceDoc.model_fields)


@dataclass(frozen=True)
class NewHold:
    run_id: str
    thread_id: str
    attempt: int
    requester: str
    invoice: dict[str, Any]
    findings: Sequence[Finding]
    amount_at_stake: Decimal


def open_hold(session: Session, new: NewHold, events: list[Event]) -> InvoiceHold:
    """The run's hold for this attempt, created once; its audit event goes to ``events``."""
    existing = session.exec(
        select(InvoiceHold).where(
            InvoiceHold.run_id == new.run_id, InvoiceHold.attempt == new.attempt
        )
    ).first()
    if existing is not None:
        return existing
    failed = [f for f in new.findings if f.blocks]
    inv = new.invoice
    hold = InvoiceHold(
        id=new_id("hld"),
        run_id=new.run_id,
        thread_id=new.thread_id,
        attempt=new.attempt,
        requester=new.requester,
        supplier_id=inv.get("supplier_id") if isinstance(inv.get("supplier_id"), int) else None,
        invoice_number=str(inv.get("invoice_number") or "")[:64],
        currency=str(inv.get("currency") or "")[:3],
        total=_amount(inv.get("total")),
        amount_at_stake=new.amount_at_stake,
        reasons=reasons_of(failed),
        findings=[f.as_data() for f in failed],
        invoice=inv,
    )
    session.add(hold)
    session.flush()
    events.append(
        Event(
            "hold_created",
            "system",
            {
                "hold_id": hold.id,
                "invoice_number": hold.invoice_number,
                "supplier_id": hold.supplier_id,
                "reasons": hold.reasons,
                "amount_at_stake": str(hold.amount_at_stake),
                "findings": [f"{f.check}: {f.message}" for f in failed],
            },
            new.run_id,
            new.thread_id,
        )
    )
    return hold


def _amount(value: Any) -> Decimal | None:
    try:
        return Decimal(str(value)).quantize(Decimal("0.01")) if value is not None else None
    except ArithmeticError:
        return None


def get_hold(session: Session, hold_id: str) -> InvoiceHold:
    hold = session.get(InvoiceHold, hold_id)
    if hold is None:
        raise NotFound(f"no invoice hold {hold_id!r}")
    return hold


def list_holds(
    session: Session,
    *,
    status: str | None = "open",
    reason: str | None = None,
    after: str | None = None,
    limit: int = 50,
) -> list[InvoiceHold]:
    """Oldest first; ``reason`` filters on the exception kind (in Python: reasons is JSON)."""
    stmt = select(InvoiceHold)
    if status is not None:
        stmt = stmt.where(InvoiceHold.status == status)
    if after is not None:
        stmt = stmt.where(col(InvoiceHold.id) > after)
    stmt = stmt.order_by(col(InvoiceHold.id))
    if reason is None:
        return list(session.exec(stmt.limit(limit)).all())
    return [h for h in session.exec(stmt).all() if reason in h.reasons][:limit]


def open_holds_for(
    session: Session, supplier_id: int, invoice_number: str, run_id: str
) -> list[str]:
    """Other runs' open holds on the same supplier invoice number (a duplicate in flight)."""
    rows = session.exec(
        select(InvoiceHold.id).where(
            InvoiceHold.supplier_id == supplier_id,
            InvoiceHold.invoice_number == invoice_number,
            InvoiceHold.status == "open",
            InvoiceHold.run_id != run_id,
        )
    ).all()
    return [f"hold {h} (open)" for h in rows]


def decide_hold(
    engine: Engine,
    hold_id: str,
    *,
    person: str,
    action: HoldAction,
    note: str = "",
    values: dict[str, Any] | None = None,
) -> InvoiceHold:
    """Record one person's decision on an open hold; the caller then resumes the run."""
    if action not in DONE:
        raise InvalidInput(f"action must be release, correct or reject, got {action!r}")
    if action == "release" and not note.strip():
        raise InvalidInput("releasing a hold needs a reason (it goes in the audit trail)")
    if action == "correct":
        _check_values(values)
    with session_scope(engine) as session:
        hold = get_hold(session, hold_id)
        user = get_user(session, person)
        if not has_role(user, "approver"):
            raise Forbidden(f"deciding a hold needs the approver role; {person} is {user.role}")
        if person == hold.requester:
            raise Forbidden(f"{person} submitted this invoice and cannot decide its hold")
        if hold.status != "open":
            raise Conflict(f"hold {hold.id} is already {hold.status} (by {hold.decided_by})")
        corrected = {**hold.invoice, **(values or {})} if action == "correct" else None
        changed = session.execute(
            update(InvoiceHold)
            .where(col(InvoiceHold.id) == hold.id, col(InvoiceHold.version) == hold.version)
            .values(
                status=DONE[action],
                decided_by=person,
                note=note,
                corrected=corrected,
                decided_at=utcnow(),
                version=hold.version + 1,
            )
        )
        if rows_affected(changed) != 1:
            raise Conflict(f"hold {hold_id} was decided by someone else just now; reload it")
        record(
            session,
            kind="hold_decided",
            actor=person,
            run_id=hold.run_id,
            thread_id=hold.thread_id,
            data={
                "hold_id": hold.id,
                "action": action,
                "note": note,
                "changed": sorted((values or {}).keys()) if action == "correct" else [],
            },
        )
        session.flush()
        session.refresh(hold)
        return hold


def _check_values(values: dict[str, Any] | None) -> None:
    if not isinstance(values, dict) or not values:
        raise InvalidInput("a correction needs the changed invoice fields as an object")
    unknown = sorted(set(values) - CORRECTABLE)
    if unknown:
        raise InvalidInput(
            f"cannot correct {', '.join(unknown)}; "
            f"invoice fields are {', '.join(sorted(CORRECTABLE))}"
        )
