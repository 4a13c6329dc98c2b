"""Spot checks: a share of what the workflow filed on its own goes to a person anyway.

Sampling is by a hash of the run id, so it is reproducible and cannot be steered by
the invoice's content. Reviewers mark each sampled invoice correct or wrong with a
note; the observed error rate of automatic filing (wrong / reviewed) is reported with
the counts behind it, so nobody reads a rate off three reviews.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from sqlalchemy import func, update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from approvals.ap_models import FiledInvoice, SpotCheck
from audit.trail import Event, record
from foundation.db import rows_affected, session_scope, utcnow
from foundation.errors import Conflict, Forbidden, InvalidInput, NotFound
from foundation.ids import new_id
from foundation.users import get_user, has_role

Verdict = Literal["correct", "wrong"]


def sampled(run_id: str, share: float) -> bool:
    """Whether this run's invoice is in the sample (``share`` of all runs, 0..1)."""
    bucket = int.from_bytes(hashlib.sha256(run_id.encode()).digest()[:4], "big") / 2**32
    return bucket < share


@dataclass(frozen=True)
class Filed:
    run_id: str
    thread_id: str
    erp_invoice_id: int
    supplier_id: int
    invoice_number: str
    total: Decimal
    currency: str
    released_by: str | None


def record_filed(
    session: Session, filed: Filed, share: float, events: list[Event]
) -> SpotCheck | None:
    """Note an invoice the workflow filed; if it was automatic and sampled, queue a review."""
    if session.get(FiledInvoice, filed.run_id) is not None:
        return session.exec(select(SpotCheck).where(SpotCheck.run_id == filed.run_id)).first()
    session.add(
        FiledInvoice(
            run_id=filed.run_id,
            erp_invoice_id=filed.erp_invoice_id,
            amount=filed.total,
            released_by=filed.released_by,
        )
    )
    if filed.released_by is not None or not sampled(filed.run_id, share):
        session.flush()
        return None
    spot = SpotCheck(
        id=new_id("spc"),
        run_id=filed.run_id,
        erp_invoice_id=filed.erp_invoice_id,
        supplier_id=filed.supplier_id,
        invoice_number=filed.invoice_number,
        total=filed.total,
        currency=filed.currency,
    )
    session.add(spot)
    session.flush()
    events.append(
        Event(
            "spot_check_created",
            "system",
            {"spot_check_id": spot.id, "invoice_number": spot.invoice_number, "share": share},
            filed.run_id,
            filed.thread_id,
        )
    )
    return spot


def list_spot_checks(
    session: Session, *, status: str | None = "open", after: str | None = None, limit: int = 50
) -> list[SpotCheck]:
    stmt = select(SpotCheck)
    if status is not None:
        stmt = stmt.where(SpotCheck.status == status)
    if after is not None:
        stmt = stmt.where(col(SpotCheck.id) > after)
    return list(session.exec(stmt.order_by(col(SpotCheck.id)).limit(limit)).all())


def mark(
    engine: Engine, spot_id: str, *, reviewer: str, verdict: Verdict, note: str = ""
) -> SpotCheck:
    if verdict not in ("correct", "wrong"):
        raise InvalidInput(f"a spot check is marked correct or wrong, not {verdict!r}")
    if verdict == "wrong" and not note.strip():
        raise InvalidInput("say what was wrong in the note; it is what fixes the checks")
    with session_scope(engine) as session:
        spot = session.get(SpotCheck, spot_id)
        if spot is None:
            raise NotFound(f"no spot check {spot_id!r}")
        user = get_user(session, reviewer)
        if not has_role(user, "approver"):
            raise Forbidden(f"reviewing needs the approver role; {reviewer} is {user.role}")
        changed = session.execute(
            update(SpotCheck)
            .where(col(SpotCheck.id) == spot_id, col(SpotCheck.status) == "open")
            .values(status=verdict, reviewer=reviewer, note=note, reviewed_at=utcnow())
        )
        if rows_affected(changed) != 1:
            raise Conflict(
                f"spot check {spot_id} is already marked {spot.status} by {spot.reviewer}"
            )
        record(
            session,
            kind="spot_check_marked",
            actor=reviewer,
            run_id=spot.run_id,
            data={"spot_check_id": spot_id, "verdict": verdict, "note": note},
        )
        session.flush()
        session.refresh(spot)
        return spot


@dataclass(frozen=True)
class ErrorRate:
    auto_filed: int
    released_and_filed: int
    sampled: int
    reviewed: int
    wrong: int

    @property
    def rate(self) -> float | None:
        """Observed share of reviewed auto-filed invoices that were wrong (None: no reviews)."""
        return self.wrong / self.reviewed if self.reviewed else None

    @property
    def estimated_wrong(self) -> float | None:
        rate = self.rate
        return None if rate is None else round(rate * self.auto_filed, 1)


def error_rate(session: Session) -> ErrorRate:
    filed = dict(
        session.exec(
            select(col(FiledInvoice.released_by).is_(None), func.count()).group_by(
                col(FiledInvoice.released_by).is_(None)
            )
        ).all()
    )
    spots = dict(
        session.exec(select(SpotCheck.status, func.count()).group_by(col(SpotCheck.status))).all()
    )
    reviewed = spots.get("correct", 0) + spots.get("wrong", 0)
    return ErrorRate(
        auto_filed=filed.get(True, 0),
        released_and_filed=filed.get(False, 0),
        sampled=sum(spots.values()),
        reviewed=reviewed,
        wrong=spots.get("wrong", 0),
    )
