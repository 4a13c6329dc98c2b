"""``file_invoice``: record a supplier invoice that passed the accounts-payable checks and
post it to the ledger, in one transaction.

The AP workflow calls it through the governed tool node like any other write, so the
policy decides and the audit trail records it. The ERP still refuses anything that would
make the books wrong (``check_postable``) even if a person released a hold on it.
A repeated execution (same idempotency key) returns the first entry instead of booking
again.
"""

from __future__ import annotations

from foundation.db import session_scope
from foundation.errors import ToolFailed
from tools.erp.intake import InvoiceDoc
from tools.erp.invoices import (
    book_entry,
    entry_for_invoice,
    entry_view,
    postings_for_key,
    resolve_invoice,
)
from tools.erp.models import InvoiceLine, Supplier, SupplierInvoice
from tools.erp.writes import check_postable
from tools.spec import JSONValue, ToolContext, adapter


@adapter(
    name="file_invoice",
    description=(
        "Record a received supplier invoice (its lines and totals as sent) and post it to "
        "the ledger: debit inventory or expense and input tax, credit accounts payable."
    ),
    args=InvoiceDoc,
    system="erp",
    effect="write",
    idempotent=True,
    owner="finance",
)
def file_invoice(args: InvoiceDoc, ctx: ToolContext) -> JSONValue:
    with session_scope(ctx.engine) as session:
        done = postings_for_key(session, ctx.idempotency_key)
        if done:
            booked = session.get(SupplierInvoice, done[0].invoice_id)
            assert booked is not None
            return {"invoice": booked.model_dump(mode="json"), **entry_view(done), "replayed": True}
        if session.get(Supplier, args.supplier_id) is None:
            raise ToolFailed(f"no supplier with id {args.supplier_id} exists in the ERP")
        invoice = SupplierInvoice(
            invoice_number=args.invoice_number,
            supplier_id=args.supplier_id,
            po_number=args.po_number,
            currency=args.currency,
            subtotal=args.subtotal,
            tax=args.tax,
            total=args.total,
            invoice_date=args.invoice_date,
            due_date=args.due_date or args.invoice_date,
            status="received",
        )
        session.add(invoice)
        session.flush()
        assert invoice.id is not None
        lines = [
            InvoiceLine(
                invoice_id=invoice.id,
                line_no=ln.line_no,
                sku=ln.sku,
                description=ln.description,
                qty=ln.qty,
                unit_price=ln.unit_price,
                amount=ln.amount,
            )
            for ln in args.lines
        ]
        session.add_all(lines)
        session.flush()
        _, copies = resolve_invoice(
            session, args.invoice_number, args.supplier_id, invoice.id, lock=True
        )
        check_postable(session, invoice, copies)
        postings = book_entry(
            session, invoice, entry_for_invoice(invoice, lines), ctx.idempotency_key
        )
        invoice.status = "posted"
        session.add(invoice)
        return {
            "invoice": invoice.model_dump(mode="json"),
            **entry_view(postings),
            "replayed": False,
        }
