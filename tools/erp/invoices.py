"""Finding a supplier invoice by the number people quote, and booking it to the ledger.

Supplier invoice numbers are not unique, so every tool that takes one resolves it here
the same way: narrow by supplier (and optionally the internal id), refuse to guess
between suppliers, and report other copies from the same supplier as duplicates.
Posting (``tools.erp.writes``) and paying (``tools.payments``) both book through
``book_entry`` so every journal entry balances and carries its tool call's key.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlmodel import Session, col, select

from foundation.db import utcnow
from foundation.errors import ToolFailed
from tools.erp.models import InvoiceLine, LedgerPosting, SupplierInvoice

INVENTORY = "1300 Inventory"
EXPENSES = "6100 Operating expenses"
INPUT_TAX = "1410 Input tax"
PAYABLES = "2000 Accounts payable"
BANK = "1010 Bank"
ZERO = Decimal("0.00")


def resolve_invoice(
    session: Session,
    invoice_number: str,
    supplier_id: int | None = None,
    invoice_id: int | None = None,
    *,
    lock: bool = False,
) -> tuple[SupplierInvoice, list[SupplierInvoice]]:
    """Return the invoice meant and the other copies of it from the same supplier.

    Without ``invoice_id`` the newest copy is meant: it is the one waiting to be handled."""
    stmt = select(SupplierInvoice).where(SupplierInvoice.invoice_number == invoice_number)
    if supplier_id is not None:
        stmt = stmt.where(SupplierInvoice.supplier_id == supplier_id)
    stmt = stmt.order_by(col(SupplierInvoice.id))
    rows = list(session.exec(stmt.with_for_update() if lock else stmt).all())
    scope = "" if supplier_id is None else f" from supplier {supplier_id}"
    if not rows:
        raise ToolFailed(f"no supplier invoice numbered {invoice_number!r}{scope} exists")
    if invoice_id is not None:
        chosen = next((r for r in rows if r.id == invoice_id), None)
        if chosen is None:
            found = ", ".join(str(r.id) for r in rows)
            raise ToolFailed(
                f"invoice id {invoice_id} is not invoice {invoice_number!r}{scope}; "
                f"that number has ids {found}"
            )
    else:
        suppliers = sorted({r.supplier_id for r in rows})
        if len(suppliers) > 1:
            raise ToolFailed(
                f"invoice number {invoice_number!r} exists for suppliers "
                f"{', '.join(map(str, suppliers))}; pass supplier_id to say which"
            )
        chosen = rows[-1]
    copies = [r for r in rows if r.supplier_id == chosen.supplier_id and r.id != chosen.id]
    return chosen, copies


def invoice_lines(session: Session, invoice: SupplierInvoice) -> Sequence[InvoiceLine]:
    return session.exec(
        select(InvoiceLine)
        .where(InvoiceLine.invoice_id == invoice.id)
        .order_by(col(InvoiceLine.line_no))
    ).all()


def arithmetic_problems(invoice: SupplierInvoice, lines: Sequence[InvoiceLine]) -> list[str]:
    """Why the invoice's own numbers do not add up (empty when they do)."""
    problems = [
        f"line {ln.line_no}: {ln.qty} x {ln.unit_price} = {ln.qty * ln.unit_price}, "
        f"invoice says {ln.amount}"
        for ln in lines
        if ln.qty * ln.unit_price != ln.amount
    ]
    lines_sum = sum((ln.amount for ln in lines), ZERO)
    if lines_sum != invoice.subtotal:
        problems.append(f"lines sum to {lines_sum}, subtotal says {invoice.subtotal}")
    if invoice.subtotal + invoice.tax != invoice.total:
        problems.append(
            f"subtotal {invoice.subtotal} + tax {invoice.tax} = "
            f"{invoice.subtotal + invoice.tax}, total says {invoice.total}"
        )
    return problems


def book_entry(
    session: Session,
    invoice: SupplierInvoice,
    sides: Sequence[tuple[str, Decimal, Decimal]],
    idempotency_key: str,
    posted_at: datetime | None = None,
) -> list[LedgerPosting]:
    """Write one journal entry of (account, debit, credit) sides; refuse if unbalanced."""
    debit = sum((d for _, d, _ in sides), ZERO)
    credit = sum((c for _, _, c in sides), ZERO)
    if debit != credit:
        raise ToolFailed(
            f"journal entry for invoice {invoice.invoice_number} does not balance: "
            f"debit {debit}, credit {credit}"
        )
    assert invoice.id is not None
    when = posted_at or utcnow()
    postings = [
        LedgerPosting(
            invoice_id=invoice.id,
            invoice_number=invoice.invoice_number,
            account=account,
            debit=d,
            credit=c,
            posted_at=when,
            idempotency_key=idempotency_key,
        )
        for account, d, c in sides
    ]
    session.add_all(postings)
    session.flush()
    return postings


def entry_for_invoice(
    invoice: SupplierInvoice, lines: Sequence[InvoiceLine]
) -> list[tuple[str, Decimal, Decimal]]:
    """The accrual: goods to inventory (or expense without a PO) and tax, owed to the supplier."""
    account = INVENTORY if invoice.po_number else EXPENSES
    sides = [(account, ln.amount, ZERO) for ln in lines]
    if invoice.tax:
        sides.append((INPUT_TAX, invoice.tax, ZERO))
    sides.append((PAYABLES, ZERO, invoice.total))
    return sides


def entry_for_payment(invoice: SupplierInvoice) -> list[tuple[str, Decimal, Decimal]]:
    """Paying clears what was owed to the supplier out of the bank account."""
    return [(PAYABLES, invoice.total, ZERO), (BANK, ZERO, invoice.total)]


def entry_view(postings: Sequence[LedgerPosting]) -> dict[str, Any]:
    return {
        "postings": [p.model_dump(mode="json", exclude={"idempotency_key"}) for p in postings],
        "total_debit": str(sum((p.debit for p in postings), ZERO)),
        "total_credit": str(sum((p.credit for p in postings), ZERO)),
    }


def postings_for_key(session: Session, idempotency_key: str) -> Sequence[LedgerPosting]:
    return session.exec(
        select(LedgerPosting)
        .where(LedgerPosting.idempotency_key == idempotency_key)
        .order_by(col(LedgerPosting.id))
    ).all()
