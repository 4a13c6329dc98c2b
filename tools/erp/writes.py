"""ERP write tools: posting a supplier invoice to the ledger, and changing bank details.

Posting refuses what would make the books wrong (numbers that do not add up, a closed
or foreign-currency PO, a blocked supplier, a duplicate still in play). Softer match
exceptions — price or quantity variances, a new supplier, a fresh bank change — are
shown by the read tools and left to policy and the approver.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field, field_validator
from sqlmodel import Session, select

from foundation.db import session_scope, utcnow
from foundation.errors import ToolFailed
from tools.erp.iban import normalize_iban
from tools.erp.invoices import (
    arithmetic_problems,
    book_entry,
    entry_for_invoice,
    entry_view,
    invoice_lines,
    postings_for_key,
    resolve_invoice,
)
from tools.erp.models import BankDetailChange, PurchaseOrder, Supplier, SupplierInvoice
from tools.erp.reads import InvoiceRef, get_supplier_row
from tools.spec import JSONValue, ToolContext, adapter


class BankDetails(BaseModel):
    supplier_id: int = Field(gt=0, description="ERP supplier id, e.g. 7")
    iban: str = Field(min_length=15, max_length=42, description="New IBAN (spaces allowed)")

    @field_validator("iban")
    @classmethod
    def _valid_iban(cls, value: str) -> str:
        return normalize_iban(value)


def check_postable(
    session: Session, invoice: SupplierInvoice, copies: list[SupplierInvoice]
) -> None:
    label = (
        f"invoice {invoice.invoice_number!r} (id {invoice.id}) from supplier {invoice.supplier_id}"
    )
    live = [c for c in copies if c.status != "rejected"]
    if live:
        seen = ", ".join(f"id {c.id} ({c.status})" for c in live)
        raise ToolFailed(f"{label} is a duplicate of {seen}; reject the extra copy before posting")
    if invoice.status != "received":
        raise ToolFailed(f"{label} is {invoice.status}; only received invoices can be posted")
    supplier = get_supplier_row(session, invoice.supplier_id)
    if supplier.status == "blocked":
        raise ToolFailed(f"{label}: supplier {supplier.name!r} is blocked")
    if invoice.po_number:
        po = session.get(PurchaseOrder, invoice.po_number)
        if po is None or po.status != "open":
            status = "missing" if po is None else po.status
            raise ToolFailed(f"{label} bills PO {invoice.po_number}, which is {status}, not open")
        if po.currency != invoice.currency:
            raise ToolFailed(
                f"{label} is in {invoice.currency} but PO {po.po_number} is in {po.currency}"
            )
    problems = arithmetic_problems(invoice, invoice_lines(session, invoice))
    if problems:
        raise ToolFailed(f"{label} does not add up: " + "; ".join(problems))


def _posting_result(
    invoice: SupplierInvoice, entry: dict[str, Any], *, replayed: bool
) -> JSONValue:
    return {"invoice": invoice.model_dump(mode="json"), **entry, "replayed": replayed}


@adapter(
    name="post_invoice",
    description=(
        "Post a received supplier invoice to the ledger (debit inventory or expense and "
        "input tax, credit accounts payable) and mark it posted."
    ),
    args=InvoiceRef,
    system="erp",
    effect="write",
    idempotent=True,
    owner="finance",
)
def post_invoice(args: InvoiceRef, ctx: ToolContext) -> JSONValue:
    with session_scope(ctx.engine) as session:
        invoice, copies = resolve_invoice(
            session, args.invoice_number, args.supplier_id, args.invoice_id, lock=True
        )
        done = postings_for_key(session, ctx.idempotency_key)
        if done:
            booked = session.get(SupplierInvoice, done[0].invoice_id)
            assert booked is not None
            return _posting_result(booked, entry_view(done), replayed=True)
        check_postable(session, invoice, copies)
        lines = invoice_lines(session, invoice)
        postings = book_entry(
            session, invoice, entry_for_invoice(invoice, lines), ctx.idempotency_key
        )
        invoice.status = "posted"
        session.add(invoice)
        return _posting_result(invoice, entry_view(postings), replayed=False)


@adapter(
    name="update_supplier_bank_details",
    description=(
        "Change the IBAN future payments to a supplier go to. Records who changed it and when."
    ),
    args=BankDetails,
    system="erp",
    effect="irreversible",
    idempotent=True,
    owner="finance",
)
def update_supplier_bank_details(args: BankDetails, ctx: ToolContext) -> JSONValue:
    with session_scope(ctx.engine) as session:
        supplier = get_supplier_row(session, args.supplier_id, lock=True)
        change = session.exec(
            select(BankDetailChange).where(BankDetailChange.idempotency_key == ctx.idempotency_key)
        ).first()
        if change is not None:
            return _bank_result(session, change, replayed=True)
        if supplier.iban == args.iban:
            raise ToolFailed(
                f"supplier {supplier.id} already has IBAN {args.iban}; nothing to change"
            )
        now = utcnow()
        change = BankDetailChange(
            supplier_id=supplier.id,
            old_iban=supplier.iban,
            new_iban=args.iban,
            requested_by=ctx.requester,
            changed_at=now,
            idempotency_key=ctx.idempotency_key,
        )
        supplier.iban = args.iban
        supplier.bank_changed_at = now
        session.add_all([supplier, change])
        session.flush()
        return _bank_result(session, change, replayed=False)


def _bank_result(session: Session, change: BankDetailChange, *, replayed: bool) -> JSONValue:
    supplier = session.get(Supplier, change.supplier_id)
    assert supplier is not None
    return {
        "supplier": supplier.model_dump(mode="json"),
        "change": change.model_dump(mode="json", exclude={"idempotency_key"}),
        "replayed": replayed,
    }
