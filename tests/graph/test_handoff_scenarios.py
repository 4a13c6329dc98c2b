"""The bundled hand-off scenarios end to end: real tools, demo data, the CLI.

The offline model plays every agent: ops hands the request to the specialist that has
the tools, the specialist acts, policy sends the money movement to an approver, and
``tethra audit show`` tells who did what, each hand-off and why, and which prompt
version was behind each model call.
"""

from __future__ import annotations

import re
from decimal import Decimal

from sqlmodel import Session, select

from agents.spec import load_agents
from foundation.db import create_db_engine
from tests.cli_demo import demo_db, refunds, tethra
from tools.erp.models import SupplierInvoice

DUPLICATE = "customer 311 says invoice INV-2024-118 was paid twice — check and refund the duplicate"


def waiting_run(output: str) -> tuple[str, str]:
    """(approval id, run id) of a chat that stopped at an approval."""
    assert "waiting for approval" in output, output
    approval = re.search(r"(apr_[0-9a-f]+)", output)
    assert approval is not None, output
    shown = tethra("approvals", "show", approval.group(1)).output
    run = re.search(r"run (run_[0-9a-f]+)", shown)
    assert run is not None, shown
    return approval.group(1), run.group(1)


def test_duplicate_charge_is_handed_to_support_and_refunded_once_after_approval(
    demo_db: str,
) -> None:
    chat = tethra("chat", "--as", "olivia", "--no-wait", "-m", DUPLICATE)
    assert chat.exit_code == 0, chat.output
    approval_id, run_id = waiting_run(chat.output)
    shown = tethra("approvals", "show", approval_id).output
    for expected in ("refund_order", "1249", "support"):
        assert expected in shown, shown
    assert refunds(demo_db, 1042) == []

    approved = tethra("approvals", "approve", approval_id, "--as", "adam", "-c", "duplicate")
    assert approved.exit_code == 0, approved.output
    assert f"run {run_id} is completed" in approved.output
    assert refunds(demo_db, 1042) == [Decimal("1249.00")]
    again = tethra("approvals", "approve", approval_id, "--as", "erin")
    assert again.exit_code != 0
    assert refunds(demo_db, 1042) == [Decimal("1249.00")]

    story = tethra("audit", "show", run_id)
    assert story.exit_code == 0, story.output
    text = " ".join(story.output.split())
    agents = load_agents()
    for expected in (
        "handoff ops -> support (needs list_payments, refund_order, which support has)",
        f"ops called offline (prompt {agents['ops'].prompt_version};",
        f"support called offline (prompt {agents['support'].prompt_version};",
        "list_payments(invoice_number=INV-2024-118)",
        "refund_order(amount=1249.0, order_id=1042",
        "refund-large",
        "Refunded 1,249.00 on order 1042",
    ):
        assert expected in text, (expected, story.output)


def test_supplier_payment_is_handed_to_finance_and_waits_for_approval(demo_db: str) -> None:
    chat = tethra("chat", "--as", "olivia", "--no-wait", "-m", "pay invoice EOS-5521")
    assert chat.exit_code == 0, chat.output
    approval_id, run_id = waiting_run(chat.output)
    story = " ".join(tethra("audit", "show", run_id).output.split())
    assert "handoff ops -> finance (needs pay_invoice, which finance has)" in story, story
    assert "supplier-payout" in story
    approved = tethra("approvals", "approve", approval_id, "--as", "adam")
    assert f"run {run_id} is completed" in approved.output, approved.output
    engine = create_db_engine(demo_db)
    with Session(engine) as session:
        invoice = session.exec(
            select(SupplierInvoice).where(SupplierInvoice.invoice_number == "EOS-5521")
        ).one()
    engine.dispose()
    assert invoice.status == "paid"


def test_ops_answers_lookups_itself_without_a_handoff(demo_db: str) -> None:
    chat = tethra("chat", "--as", "olivia", "-m", "look up customer 311")
    assert chat.exit_code == 0, chat.output
    assert "Northwind Bistro" in chat.output
    story = tethra("audit", "search", "--kind", "handoff")
    assert "->" not in story.output


__all__ = ["demo_db"]  # the fixture, imported for this module
