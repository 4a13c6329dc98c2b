"""Every ERP tool, in the order an agent's tool list shows them."""

from __future__ import annotations

from tools.erp.filing import file_invoice
from tools.erp.reads import (
    get_invoice,
    get_purchase_order,
    get_supplier,
    list_invoices,
    list_suppliers,
)
from tools.erp.writes import post_invoice, update_supplier_bank_details
from tools.spec import RegisteredTool

TOOLS: list[RegisteredTool] = [
    get_supplier,
    list_suppliers,
    get_purchase_order,
    get_invoice,
    list_invoices,
    post_invoice,
    file_invoice,
    update_supplier_bank_details,
]
