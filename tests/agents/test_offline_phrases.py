"""Each documented phrasing yields exactly the documented tool call(s) and args."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.messages import HumanMessage

from agents.models.offline_parser import parse_message
from agents.models.offline_phrasebook import PHRASES, Phrase
from tests.agents.tooling import offline

Expected = list[tuple[str, dict[str, Any]]]
REFUND_40 = {"order_id": 1042, "amount": 40.0, "reason": "customer request"}

CASES: list[tuple[str, Expected]] = [
    ("look up customer 311", [("get_customer", {"customer_id": 311})]),
    ("Please show customer #311.", [("get_customer", {"customer_id": 311})]),
    ("find customer 311", [("get_customer", {"customer_id": 311})]),
    ("find customers named Dana Reyes", [("find_customers", {"query": "Dana Reyes"})]),
    ("search customers Reyes", [("find_customers", {"query": "Reyes"})]),
    ("look up order 1042", [("get_order", {"order_id": 1042})]),
    ("Show order 1042 please", [("get_order", {"order_id": 1042})]),
    ("list orders for customer 311", [("list_orders", {"customer_id": 311})]),
    ("notes for customer 311", [("list_customer_notes", {"customer_id": 311})]),
    (
        "add a note to customer 311: Called back, issue resolved.",
        [("add_customer_note", {"customer_id": 311, "text": "Called back, issue resolved."})],
    ),
    ("refund $40 on order 1042", [("refund_order", REFUND_40)]),
    ("refund 40.00 for order 1042", [("refund_order", REFUND_40)]),
    ("please refund $40 on order 1042.", [("refund_order", REFUND_40)]),
    (
        "refund order 1042 for $40 because the parcel arrived damaged.",
        [("refund_order", {**REFUND_40, "reason": "the parcel arrived damaged"})],
    ),
    (
        "refund $1,250.50 on order 77",
        [("refund_order", {"order_id": 77, "amount": 1250.5, "reason": "customer request"})],
    ),
    ("refund order 1042", [("get_order", {"order_id": 1042})]),
    ("list refunds for order 1042", [("list_refunds", {"order_id": 1042})]),
    (
        "payments for invoice INV-2024-118",
        [("list_payments", {"invoice_number": "INV-2024-118"})],
    ),
    (
        "Was invoice INV-2024-118 paid twice?",
        [("list_payments", {"invoice_number": "INV-2024-118"})],
    ),
    ("look up invoice ACME-1234", [("get_invoice", {"invoice_number": "ACME-1234"})]),
    ("show invoice ACME-1234", [("get_invoice", {"invoice_number": "ACME-1234"})]),
    ("list invoices", [("list_invoices", {})]),
    ("list invoices with status held", [("list_invoices", {"status": "held"})]),
    ("list held invoices", [("list_invoices", {"status": "held"})]),
    ("post invoice ACME-1234", [("post_invoice", {"invoice_number": "ACME-1234"})]),
    ("pay invoice ACME-1234", [("pay_invoice", {"invoice_number": "ACME-1234"})]),
    ("show supplier 7", [("get_supplier", {"supplier_id": 7})]),
    ("list suppliers", [("list_suppliers", {})]),
    (
        "show purchase order PO-2024-0311",
        [("get_purchase_order", {"po_number": "PO-2024-0311"})],
    ),
    (
        "change bank details of supplier 7 to DE89 3704 0044 0532 0130 00",
        [("update_supplier_bank_details", {"supplier_id": 7, "iban": "DE89370400440532013000"})],
    ),
    ("email customer 311: sorry for the delay", [("get_customer", {"customer_id": 311})]),
    (
        "email dana@example.com subject Your order: it has shipped and is on its way.",
        [
            (
                "send_email",
                {
                    "to": "dana@example.com",
                    "subject": "Your order",
                    "body": "it has shipped and is on its way.",
                },
            )
        ],
    ),
    ("show outbox", [("list_outbox", {})]),
    ("I'd like you to show supplier 7", [("get_supplier", {"supplier_id": 7})]),
    ("show PO-2024-0311", [("get_purchase_order", {"po_number": "PO-2024-0311"})]),
    (
        "then show order 5; list suppliers",
        [("get_order", {"order_id": 5}), ("list_suppliers", {})],
    ),
    (
        "refund $20 on order 1043 and refund $30 on order 1044",
        [
            ("refund_order", {"order_id": 1043, "amount": 20.0, "reason": "customer request"}),
            ("refund_order", {"order_id": 1044, "amount": 30.0, "reason": "customer request"}),
        ],
    ),
    (
        "refund $20 on order 1043 and email customer 311: sorry",
        [
            ("refund_order", {"order_id": 1043, "amount": 20.0, "reason": "customer request"}),
            ("get_customer", {"customer_id": 311}),
        ],
    ),
    (
        "show order 1042 and show supplier 7",
        [("get_order", {"order_id": 1042}), ("get_supplier", {"supplier_id": 7})],
    ),
]


@pytest.mark.parametrize(("text", "expected"), CASES, ids=[c[0][:50] for c in CASES])
def test_phrase_produces_expected_calls(text: str, expected: Expected) -> None:
    turn = offline().invoke([HumanMessage(text)])
    assert [(c["name"], c["args"]) for c in turn.tool_calls] == expected
    assert all(c["type"] == "tool_call" for c in turn.tool_calls)
    assert turn.content == ""


def test_free_text_keeps_and_when_the_rest_is_no_request() -> None:
    requests = parse_message("add a note to customer 311: called and left a voicemail")
    assert requests is not None
    assert [r.first.args for r in requests] == [
        {"customer_id": 311, "text": "called and left a voicemail"}
    ]


@pytest.mark.parametrize("phrase", PHRASES, ids=[p.example for p in PHRASES])
def test_every_documented_example_parses_to_its_own_tools(phrase: Phrase) -> None:
    requests = parse_message(phrase.example)
    assert requests is not None
    assert len(requests) == 1
    assert requests[0].tools == phrase.tools


@pytest.mark.parametrize(
    "text",
    [
        "refund order",
        "show order abc",
        "change bank details of supplier 7 to not-an-iban",
        "what is the weather",
        "refund $40 on order 1042 and dance",
    ],
)
def test_unparseable_text_is_not_understood(text: str) -> None:
    turn = offline().invoke([HumanMessage(text)])
    assert turn.tool_calls == []
    assert isinstance(turn.content, str)
    assert turn.content.startswith("I did not understand")
    assert '"look up customer 311"' in turn.content
