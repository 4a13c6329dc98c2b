"""The tool set other parts of Tethra (policies, the offline model) rely on by name."""

from __future__ import annotations

from sqlalchemy.engine import Engine

from tests.tools.conftest import NOW, Count
from tools.catalog import builtin_tools, default_registry
from tools.erp.models import Supplier
from tools.mail.models import OutboxMessage
from tools.seed import seed_demo_data

EXPECTED = {
    "get_customer": ("crm", "read"),
    "find_customers": ("crm", "read"),
    "get_order": ("crm", "read"),
    "list_orders": ("crm", "read"),
    "list_customer_notes": ("crm", "read"),
    "add_customer_note": ("crm", "write"),
    "list_payments": ("payments", "read"),
    "list_refunds": ("payments", "read"),
    "refund_order": ("payments", "money"),
    "pay_invoice": ("payments", "money"),
    "get_supplier": ("erp", "read"),
    "list_suppliers": ("erp", "read"),
    "get_purchase_order": ("erp", "read"),
    "get_invoice": ("erp", "read"),
    "list_invoices": ("erp", "read"),
    "post_invoice": ("erp", "write"),
    "file_invoice": ("erp", "write"),
    "update_supplier_bank_details": ("erp", "irreversible"),
    "send_email": ("mail", "external_message"),
    "list_outbox": ("mail", "read"),
}


def test_every_tool_has_the_promised_system_and_effect() -> None:
    registry = default_registry()
    assert set(registry.names()) == set(EXPECTED)
    for tool in builtin_tools():
        assert (tool.meta.system, tool.meta.effect) == EXPECTED[tool.name], tool.name
        assert tool.meta.idempotent
        assert tool.meta.owner == ("support" if tool.meta.system in ("crm", "mail") else "finance")


def test_seeding_twice_changes_nothing(seeded: Engine, count: Count) -> None:
    suppliers = count(Supplier)
    assert seed_demo_data(seeded, now=NOW) is False
    assert count(Supplier) == suppliers == 12
    assert count(OutboxMessage) == 0
