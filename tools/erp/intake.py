"""A supplier invoice as it arrives, and the ERP facts the accounts-payable checks need.

``InvoiceDoc`` is the typed form every ingest path (JSON, CSV, text read by a model)
ends in and the argument of ``file_invoice``. ``reference_facts`` reads, in one short
session, everything the checks compare an invoice against: the supplier, the purchase
order with its lines and received quantities, and earlier copies of the invoice number.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import Session, col, func, select

from foundation.db import utcnow
from tools.erp.models import (
    GoodsReceipt,
    PurchaseOrder,
    PurchaseOrderLine,
    Supplier,
    SupplierInvoice,
)

Amount = Decimal
BANK_CHANGE_WINDOW = timedelta(days=30)
"""A supplier whose bank account changed this recently is checked by a person."""


class InvoiceLineDoc(BaseModel):
    model_config = ConfigDict(extra="ignore")

    line_no: int = Field(ge=1, description="Position on the invoice, from 1")
    sku: str = Field(min_length=1, max_length=64)
    description: str = Field(default="", max_length=200)
    qty: int = Field(gt=0)
    unit_price: Decimal = Field(ge=0, max_digits=14, decimal_places=2)
    amount: Decimal = Field(max_digits=14, decimal_places=2)


class InvoiceDoc(BaseModel):
    """One supplier invoice, as the supplier sent it (numbers are not re-computed)."""

    model_config = ConfigDict(extra="ignore")

    supplier_id: int = Field(gt=0, description="ERP supplier id")
    invoice_number: str = Field(min_length=1, max_length=64)
    po_number: str | None = Field(default=None, max_length=32)
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    invoice_date: date
    due_date: date | None = None
    iban: str | None = Field(default=None, max_length=42, description="Pay-to account printed")
    tax_rate: Decimal = Field(default=Decimal(0), ge=0, le=1, max_digits=6, decimal_places=4)
    lines: list[InvoiceLineDoc] = Field(min_length=1, max_length=500)
    subtotal: Decimal = Field(max_digits=14, decimal_places=2)
    tax: Decimal = Field(ge=0, max_digits=14, decimal_places=2)
    total: Decimal = Field(max_digits=14, decimal_places=2)


def reference_facts(
    session: Session, supplier_id: Any, invoice_number: Any, po_number: Any
) -> dict[str, Any]:
    """What the ERP knows about this invoice's supplier, PO and number, as plain data.

    Missing things are ``None`` (unknown supplier, no such PO), so a check can say
    what it expected and what it found. Inputs are as the invoice gave them; ids that
    are not well-formed simply find nothing."""
    facts: dict[str, Any] = {"supplier": None, "po": None, "duplicates": []}
    sid = (
        supplier_id if isinstance(supplier_id, int) and not isinstance(supplier_id, bool) else None
    )
    if sid is not None and sid > 0:
        supplier = session.get(Supplier, sid)
        if supplier is not None:
            changed = supplier.bank_changed_at
            facts["supplier"] = {
                "id": supplier.id,
                "name": supplier.name,
                "status": supplier.status,
                "currency": supplier.currency,
                "iban": supplier.iban,
                "bank_changed_recently": changed is not None
                and utcnow() - changed < BANK_CHANGE_WINDOW,
            }
        if isinstance(invoice_number, str) and invoice_number:
            rows = session.exec(
                select(SupplierInvoice.id, SupplierInvoice.status).where(
                    SupplierInvoice.invoice_number == invoice_number,
                    SupplierInvoice.supplier_id == sid,
                    col(SupplierInvoice.status) != "rejected",
                )
            ).all()
            facts["duplicates"] = [f"invoice id {i} ({s})" for i, s in rows]
    if isinstance(po_number, str) and po_number:
        facts["po"] = _po_facts(session, po_number)
    return facts


def _po_facts(session: Session, po_number: str) -> dict[str, Any] | None:
    po = session.get(PurchaseOrder, po_number)
    if po is None:
        return None
    lines = session.exec(
        select(PurchaseOrderLine)
        .where(PurchaseOrderLine.po_number == po_number)
        .order_by(col(PurchaseOrderLine.line_no))
    ).all()
    got = dict(
        session.exec(
            select(GoodsReceipt.po_line_id, func.sum(GoodsReceipt.qty_received))
            .where(col(GoodsReceipt.po_line_id).in_([ln.id for ln in lines]))
            .group_by(col(GoodsReceipt.po_line_id))
        ).all()
    )
    return {
        "po_number": po.po_number,
        "supplier_id": po.supplier_id,
        "status": po.status,
        "currency": po.currency,
        "lines": [
            {
                "line_no": ln.line_no,
                "sku": ln.sku,
                "qty": ln.qty,
                "unit_price": str(ln.unit_price),
                "qty_received": int(got.get(ln.id or 0) or 0),
            }
            for ln in lines
        ],
    }
