"""Posting and bank changes: the ledger stays balanced and the AP rules hold."""

from __future__ import annotations

from decimal import Decimal

import pytest

from foundation.errors import InvalidInput, ToolFailed
from tests.tools.conftest import Call, Count
from tools.erp.models import BankDetailChange, LedgerPosting


def test_post_invoice_books_a_balanced_entry_once(call: Call, count: Count) -> None:
    before = count(LedgerPosting)
    result = call("post_invoice", {"invoice_number": "KPD-2270"}, key="post-1")
    debit = sum(Decimal(p["debit"]) for p in result["postings"])
    credit = sum(Decimal(p["credit"]) for p in result["postings"])
    assert debit == credit == Decimal(result["invoice"]["total"])
    assert result["invoice"]["status"] == "posted"
    assert call("post_invoice", {"invoice_number": "KPD-2270"}, key="post-1")["replayed"] is True
    assert count(LedgerPosting) == before + len(result["postings"])


@pytest.mark.parametrize(
    ("invoice", "reason"),
    [
        ("IM-77190", "which is closed"),
        ("KPD-2291", "lines sum to 1020.00, subtotal says 1120.00"),
        ("DF-88213", "duplicate"),
        ("HCR-3342", "in USD but PO PO-2024-0318 is in EUR"),
        ("EOS-5521", "is posted"),
    ],
)
def test_post_invoice_refuses_what_would_break_the_books(
    call: Call, count: Count, invoice: str, reason: str
) -> None:
    before = count(LedgerPosting)
    with pytest.raises(ToolFailed, match=reason):
        call("post_invoice", {"invoice_number": invoice})
    assert count(LedgerPosting) == before


def test_read_tools_show_the_match_facts(call: Call) -> None:
    po = call("get_purchase_order", {"po_number": "PO-2024-0317"})
    assert [(ln["qty"], ln["qty_received"]) for ln in po["lines"]] == [(500, 300), (80, 80)]
    duplicate = call("get_invoice", {"invoice_number": "DF-88213"})
    assert [d["status"] for d in duplicate["duplicates"]] == ["paid"]
    supplier = call("get_supplier", {"supplier_id": 7})
    assert supplier["bank_changed_at"] is not None
    assert len(supplier["bank_changes"]) == 1


def test_bank_change_is_recorded_once_and_bad_ibans_are_refused(call: Call, count: Count) -> None:
    before = count(BankDetailChange)
    args = {"supplier_id": 3, "iban": "gb82 west 1234 5698 7654 32"}
    first = call("update_supplier_bank_details", args, key="bank-1")
    assert first["supplier"]["iban"] == "GB82WEST12345698765432"
    assert first["supplier"]["bank_changed_at"] is not None
    assert call("update_supplier_bank_details", args, key="bank-1")["replayed"] is True
    assert count(BankDetailChange) == before + 1
    with pytest.raises(InvalidInput, match="checksum"):
        call("update_supplier_bank_details", {"supplier_id": 3, "iban": "GB82WEST12345698765433"})
