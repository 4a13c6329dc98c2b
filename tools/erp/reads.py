"""ERP read tools: what finance (and the accounts-payable checks) look at before acting.

Results carry the facts a three-way match needs — ordered, received and invoiced
quantities and prices, the supplier's status and latest bank change, other copies of an
invoice — and leave the judgement to the workflow and the people approving it.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field
from sqlmodel import Session, col, select

from foundation.db import session_scope
from foundation.errors import ToolFailed
from tools.erp.invoices import ZERO, invoice_lines, resolve_invoice
from tools.erp.models import (
    BankDetailChange,
    GoodsReceipt,
    LedgerPosting,
    PurchaseOrder,
    PurchaseOrderLine,
    Supplier,
    SupplierInvoice,
)
from tools.spec import JSONValue, ToolContext, adapter

InvoiceStatus = Literal["received", "posted", "paid", "held", "rejected"]


class SupplierId(BaseModel):
    supplier_id: int = Field(gt=0, description="ERP supplier id, e.g. 7")


class NoArgs(BaseModel):
    pass


class PoNumber(BaseModel):
    po_number: str = Field(min_length=1, max_length=32, description="e.g. PO-2024-0311")


class InvoiceRef(BaseModel):
    invoice_number: str = Field(
        min_length=1, max_length=64, description="The supplier's invoice number"
    )
    supplier_id: int | None = Field(
        default=None, gt=0, description="Needed when two suppliers use the same number"
    )
    invoice_id: int | None = Field(
        default=None, gt=0, description="Internal id, to pick one copy of a duplicated invoice"
    )


class InvoiceFilter(BaseModel):
    status: InvoiceStatus | None = Field(default=None, description="Only invoices in this status")
    supplier_id: int | None = Field(default=None, gt=0, description="Only this supplier's")
    limit: int = Field(default=100, ge=1, le=500, description="At most this many, newest first")


def get_supplier_row(session: Session, supplier_id: int, *, lock: bool = False) -> Supplier:
    stmt = select(Supplier).where(Supplier.id == supplier_id)
    found = session.exec(stmt.with_for_update() if lock else stmt).first()
    if found is None:
        raise ToolFailed(f"no supplier with id {supplier_id} exists in the ERP")
    return found


@adapter(
    name="get_supplier",
    description="Look up one supplier: status, currency, bank account and its change history.",
    args=SupplierId,
    system="erp",
    effect="read",
    idempotent=True,
    owner="finance",
)
def get_supplier(args: SupplierId, ctx: ToolContext) -> JSONValue:
    with session_scope(ctx.engine) as session:
        supplier = get_supplier_row(session, args.supplier_id)
        changes = session.exec(
            select(BankDetailChange)
            .where(BankDetailChange.supplier_id == supplier.id)
            .order_by(col(BankDetailChange.changed_at))
        ).all()
        history = [c.model_dump(mode="json", exclude={"idempotency_key"}) for c in changes]
        return {**supplier.model_dump(mode="json"), "bank_changes": history}


@adapter(
    name="list_suppliers",
    description="List all suppliers with their status and currency.",
    args=NoArgs,
    system="erp",
    effect="read",
    idempotent=True,
    owner="finance",
)
def list_suppliers(args: NoArgs, ctx: ToolContext) -> JSONValue:
    with session_scope(ctx.engine) as session:
        rows = session.exec(select(Supplier).order_by(col(Supplier.id))).all()
        return {"suppliers": [s.model_dump(mode="json") for s in rows]}


@adapter(
    name="get_purchase_order",
    description=(
        "Look up a purchase order: its lines with ordered and received quantities, "
        "and the invoices billed against it."
    ),
    args=PoNumber,
    system="erp",
    effect="read",
    idempotent=True,
    owner="finance",
)
def get_purchase_order(args: PoNumber, ctx: ToolContext) -> JSONValue:
    with session_scope(ctx.engine) as session:
        po = session.get(PurchaseOrder, args.po_number)
        if po is None:
            raise ToolFailed(f"no purchase order {args.po_number!r} exists in the ERP")
        lines = session.exec(
            select(PurchaseOrderLine)
            .where(PurchaseOrderLine.po_number == po.po_number)
            .order_by(col(PurchaseOrderLine.line_no))
        ).all()
        receipts = session.exec(
            select(GoodsReceipt)
            .where(col(GoodsReceipt.po_line_id).in_([ln.id for ln in lines]))
            .order_by(col(GoodsReceipt.received_at))
        ).all()
        invoices = session.exec(
            select(SupplierInvoice)
            .where(SupplierInvoice.po_number == po.po_number)
            .order_by(col(SupplierInvoice.id))
        ).all()
        line_views = []
        for ln in lines:
            mine = [r for r in receipts if r.po_line_id == ln.id]
            line_views.append(
                {
                    **ln.model_dump(mode="json", exclude={"id", "po_number"}),
                    "qty_received": sum(r.qty_received for r in mine),
                    "receipts": [
                        r.model_dump(mode="json", include={"qty_received", "received_at"})
                        for r in mine
                    ],
                }
            )
        total = sum((ln.qty * ln.unit_price for ln in lines), ZERO)
        return {
            **po.model_dump(mode="json"),
            "total": str(total),
            "lines": line_views,
            "invoices": [i.model_dump(mode="json") for i in invoices],
        }


@adapter(
    name="get_invoice",
    description=(
        "Look up a supplier invoice with its lines, the supplier, its purchase order, "
        "ledger postings, and any other copies the same supplier sent with that number."
    ),
    args=InvoiceRef,
    system="erp",
    effect="read",
    idempotent=True,
    owner="finance",
)
def get_invoice(args: InvoiceRef, ctx: ToolContext) -> JSONValue:
    with session_scope(ctx.engine) as session:
        invoice, copies = resolve_invoice(
            session, args.invoice_number, args.supplier_id, args.invoice_id
        )
        lines = invoice_lines(session, invoice)
        supplier = get_supplier_row(session, invoice.supplier_id)
        po = session.get(PurchaseOrder, invoice.po_number) if invoice.po_number else None
        postings = session.exec(
            select(LedgerPosting)
            .where(LedgerPosting.invoice_id == invoice.id)
            .order_by(col(LedgerPosting.id))
        ).all()
        return {
            **invoice.model_dump(mode="json"),
            "lines": [ln.model_dump(mode="json", exclude={"id", "invoice_id"}) for ln in lines],
            "lines_sum": str(sum((ln.amount for ln in lines), ZERO)),
            "supplier": supplier.model_dump(mode="json"),
            "purchase_order": None if po is None else po.model_dump(mode="json"),
            "duplicates": [c.model_dump(mode="json") for c in copies],
            "postings": [p.model_dump(mode="json", exclude={"idempotency_key"}) for p in postings],
        }


@adapter(
    name="list_invoices",
    description="List supplier invoices, newest first, optionally by status and/or supplier.",
    args=InvoiceFilter,
    system="erp",
    effect="read",
    idempotent=True,
    owner="finance",
)
def list_invoices(args: InvoiceFilter, ctx: ToolContext) -> JSONValue:
    stmt = select(SupplierInvoice)
    if args.status is not None:
        stmt = stmt.where(SupplierInvoice.status == args.status)
    if args.supplier_id is not None:
        stmt = stmt.where(SupplierInvoice.supplier_id == args.supplier_id)
    stmt = stmt.order_by(col(SupplierInvoice.invoice_date).desc(), col(SupplierInvoice.id).desc())
    with session_scope(ctx.engine) as session:
        rows = session.exec(stmt.limit(args.limit)).all()
        return {"invoices": [i.model_dump(mode="json") for i in rows]}
