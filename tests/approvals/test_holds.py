"""Deciding holds: who may, what a decision needs, and two people at once."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from approvals.ap_models import InvoiceHold
from approvals.holds import NewHold, decide_hold, list_holds, open_hold
from audit.models import AuditEvent
from audit.trail import Event, record_many
from foundation.db import session_scope
from foundation.errors import Conflict, Forbidden, InvalidInput, NotFound
from policies.checks.results import Finding
from tests.graph.harness import people

FINDING = Finding(
    check="price-match",
    reason="price_mismatch",
    passed=False,
    expected="unit price 10.00 (PO)",
    found="unit price 12.00",
    tolerance="±5.00 and ±2% [default]",
    amount_at_stake=Decimal("20.00"),
    message="line 1: PO price 10.00, invoiced 12.00",
)


@pytest.fixture(autouse=True)
def _people(engine: Engine) -> None:
    people(engine)


def make_hold(engine: Engine, run_id: str = "run_1", requester: str = "olivia") -> InvoiceHold:
    events: list[Event] = []
    new = NewHold(
        run_id=run_id,
        thread_id="inv-1",
        attempt=1,
        requester=requester,
        invoice={"supplier_id": 7, "invoice_number": "INV-9", "currency": "EUR", "total": "120.00"},
        findings=[FINDING, Finding(check="ok", reason="missing_po", passed=True)],
        amount_at_stake=Decimal("20.00"),
    )
    with session_scope(engine) as session:
        hold = open_hold(session, new, events)
        again = open_hold(session, new, events)  # a re-run node: the same hold
        assert again.id == hold.id
        record_many(session, events)
    return hold


def test_a_hold_carries_the_write_up(engine: Engine) -> None:
    hold = make_hold(engine)
    assert hold.reasons == ["price_mismatch"]
    [finding] = hold.findings
    assert finding["expected"] == "unit price 10.00 (PO)"
    assert finding["tolerance"].startswith("±5.00")
    assert hold.amount_at_stake == Decimal("20.00")
    assert hold.total == Decimal("120.00")
    with Session(engine) as session:
        assert [h.id for h in list_holds(session, reason="price_mismatch")] == [hold.id]
        assert list_holds(session, reason="duplicate_invoice") == []
        kinds = session.exec(select(AuditEvent.kind).where(AuditEvent.run_id == "run_1")).all()
    assert list(kinds) == ["hold_created"]


def test_only_another_approver_decides(engine: Engine) -> None:
    hold = make_hold(engine)
    with pytest.raises(Forbidden, match="approver role; olivia is operator"):
        decide_hold(engine, hold.id, person="olivia", action="reject")
    own = make_hold(engine, run_id="run_2", requester="adam")
    with pytest.raises(Forbidden, match="adam submitted this invoice"):
        decide_hold(engine, own.id, person="adam", action="reject")
    with pytest.raises(Forbidden, match="approver role"):
        decide_hold(engine, hold.id, person="aria", action="reject")
    with pytest.raises(NotFound):
        decide_hold(engine, "hld_nope", person="adam", action="reject")


def test_a_decision_needs_what_it_changes(engine: Engine) -> None:
    hold = make_hold(engine)
    with pytest.raises(InvalidInput, match="reason"):
        decide_hold(engine, hold.id, person="adam", action="release", note="  ")
    with pytest.raises(InvalidInput, match="cannot correct colour"):
        decide_hold(engine, hold.id, person="adam", action="correct", values={"colour": "red"})
    with pytest.raises(InvalidInput):
        decide_hold(engine, hold.id, person="adam", action="correct", values={})
    with Session(engine) as session:
        fresh = session.get(InvoiceHold, hold.id)
    assert fresh is not None
    assert (fresh.status, fresh.version) == ("open", 0)  # bad input changed nothing


def test_a_correction_keeps_the_original_and_records_the_new(engine: Engine) -> None:
    hold = make_hold(engine)
    done = decide_hold(
        engine, hold.id, person="adam", action="correct", values={"total": "100.00"}, note="typo"
    )
    assert done.status == "corrected"
    assert done.invoice["total"] == "120.00"
    assert done.corrected is not None
    assert done.corrected["total"] == "100.00"
    assert done.corrected["invoice_number"] == "INV-9"


def test_the_second_of_two_decisions_is_told_who_won(engine: Engine) -> None:
    hold = make_hold(engine)
    decide_hold(engine, hold.id, person="adam", action="release", note="agreed by phone")
    with pytest.raises(Conflict, match="released \\(by adam\\)"):
        decide_hold(engine, hold.id, person="erin", action="reject")
