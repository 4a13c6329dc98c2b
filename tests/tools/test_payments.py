"""Refunds and supplier payouts move money: each must happen once, within the rules."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest

from foundation.errors import InvalidInput, ToolFailed
from tests.tools.conftest import Call, Count
from tools.erp.models import LedgerPosting
from tools.payments.models import Payout, Refund


def test_refund_creates_one_refund_and_lowers_the_remainder(call: Call, count: Count) -> None:
    before = count(Refund)
    result = call(
        "refund_order", {"order_id": 1042, "amount": "1249.00", "reason": "charged twice"}
    )
    assert result["refund"]["amount"] == "1249.00"
    assert count(Refund) == before + 1
    order = call("get_order", {"order_id": 1042})
    assert (order["paid"], order["refunded"], order["refundable"]) == (
        "2498.00",
        "1249.00",
        "1249.00",
    )


def test_same_key_twice_refunds_once_and_returns_the_same_refund(call: Call, count: Count) -> None:
    before = count(Refund)
    args = {"order_id": 1043, "amount": "10.00", "reason": "late delivery"}
    first = call("refund_order", args, key="refund-key")
    again = call("refund_order", args, key="refund-key")
    assert again["refund"]["id"] == first["refund"]["id"]
    assert again["replayed"] is True
    assert count(Refund) == before + 1


def test_over_refund_fails_and_writes_nothing(call: Call, count: Count) -> None:
    before = count(Refund)
    with pytest.raises(ToolFailed, match=r"at most 42\.50 is refundable"):
        call("refund_order", {"order_id": 1043, "amount": "5000.00", "reason": "see note"})
    assert count(Refund) == before
    assert call("get_order", {"order_id": 1043})["refunded"] == "0.00"


def test_refund_amount_must_be_positive_with_cents(call: Call) -> None:
    for amount in ("0", "-5", "1.234"):
        with pytest.raises(InvalidInput):
            call("refund_order", {"order_id": 1043, "amount": amount, "reason": "typo"})


def test_pay_invoice_refuses_an_unposted_invoice(call: Call, count: Count) -> None:
    before = count(Payout)
    with pytest.raises(ToolFailed, match="only posted invoices can be paid"):
        call("pay_invoice", {"invoice_number": "KPD-2270"})
    assert count(Payout) == before


def test_pay_invoice_pays_once_to_the_iban_on_file(call: Call, count: Count) -> None:
    supplier = call("get_supplier", {"supplier_id": 5})
    paid = call("pay_invoice", {"invoice_number": "EOS-5521"}, key="pay-1")
    assert paid["payout"]["iban"] == supplier["iban"]
    assert Decimal(paid["payout"]["amount"]) == Decimal(paid["invoice"]["total"])
    assert call("get_invoice", {"invoice_number": "EOS-5521"})["status"] == "paid"
    payouts, postings = count(Payout), count(LedgerPosting)
    assert call("pay_invoice", {"invoice_number": "EOS-5521"}, key="pay-1")["replayed"] is True
    with pytest.raises(ToolFailed, match="already paid"):
        call("pay_invoice", {"invoice_number": "EOS-5521"}, key="pay-2")
    assert (count(Payout), count(LedgerPosting)) == (payouts, postings)


def test_list_payments_needs_a_filter_and_shows_the_double_charge(call: Call) -> None:
    with pytest.raises(InvalidInput, match="invoice_number or customer_id"):
        call("list_payments", {})
    charges = call("list_payments", {"invoice_number": "INV-2024-118"})["payments"]
    assert [p["amount"] for p in charges] == ["1249.00", "1249.00"]


def test_concurrent_retries_with_one_key_refund_once(call: Call, count: Count) -> None:
    before = count(Refund)
    args = {"order_id": 1042, "amount": "1249.00", "reason": "charged twice"}
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda _: call("refund_order", args, key="race"), range(4)))
    assert len({r["refund"]["id"] for r in results}) == 1
    assert count(Refund) == before + 1
