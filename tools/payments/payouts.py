"""Paying a supplier invoice: the one tool that sends company money out.

The payout goes to the IBAN on file at the moment of payment and is recorded with it,
so a later bank-detail change can never redirect money already sent, and an auditor can
see exactly where it went. The ERP invoice is marked paid and the payable cleared in
the same transaction.
"""

from __future__ import annotations

from sqlmodel import Session, select

from foundation.db import session_scope
from foundation.errors import ToolFailed
from tools.erp.invoices import book_entry, entry_for_payment, resolve_invoice
from tools.erp.models import SupplierInvoice
from tools.erp.reads import InvoiceRef, get_supplier_row
from tools.payments.models import Payout
from tools.spec import JSONValue, ToolContext, adapter


def _check_payable(
    session: Session, invoice: SupplierInvoice, copies: list[SupplierInvoice]
) -> None:
    label = (
        f"invoice {invoice.invoice_number!r} (id {invoice.id}) from supplier {invoice.supplier_id}"
    )
    if invoice.status == "paid":
        raise ToolFailed(f"{label} is already paid")
    if invoice.status != "posted":
        raise ToolFailed(f"{label} is {invoice.status}; only posted invoices can be paid")
    paid_copies = [c for c in copies if c.status == "paid"]
    if paid_copies:
        raise ToolFailed(
            f"{label} duplicates invoice id {paid_copies[0].id}, which is already paid"
        )
    earlier = session.exec(select(Payout).where(Payout.invoice_id == invoice.id)).first()
    if earlier is not None:
        raise ToolFailed(f"{label} already has payout {earlier.id}")
    supplier = get_supplier_row(session, invoice.supplier_id)
    if supplier.status == "blocked":
        raise ToolFailed(f"{label}: supplier {supplier.name!r} is blocked; payments are stopped")


@adapter(
    name="pay_invoice",
    description=(
        "Pay a posted supplier invoice in full to the supplier's IBAN on file, and mark it "
        "paid. Fails if the invoice is not posted or already paid."
    ),
    args=InvoiceRef,
    system="payments",
    effect="money",
    idempotent=True,
    owner="finance",
)
def pay_invoice(args: InvoiceRef, ctx: ToolContext) -> JSONValue:
    with session_scope(ctx.engine) as session:
        invoice, copies = resolve_invoice(
            session, args.invoice_number, args.supplier_id, args.invoice_id, lock=True
        )
        payout = session.exec(
            select(Payout).where(Payout.idempotency_key == ctx.idempotency_key)
        ).first()
        replayed = payout is not None
        if payout is None:
            _check_payable(session, invoice, copies)
            supplier = get_supplier_row(session, invoice.supplier_id)
            assert invoice.id is not None
            payout = Payout(
                supplier_id=supplier.id,
                invoice_id=invoice.id,
                invoice_number=invoice.invoice_number,
                amount=invoice.total,
                currency=invoice.currency,
                iban=supplier.iban,
                requested_by=ctx.requester,
                idempotency_key=ctx.idempotency_key,
            )
            session.add(payout)
            book_entry(session, invoice, entry_for_payment(invoice), ctx.idempotency_key)
            invoice.status = "paid"
            session.add(invoice)
            session.flush()
        else:
            invoice = session.get(SupplierInvoice, payout.invoice_id) or invoice
        return {
            "payout": payout.model_dump(mode="json", exclude={"idempotency_key"}),
            "invoice": invoice.model_dump(mode="json"),
            "replayed": replayed,
        }
