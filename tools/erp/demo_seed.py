"""Writes the ERP demo data (``tools.erp.demo_data``) into the database.

Dates are relative to the seeding moment so "bank details changed last week" and
"supplier onboarded three days ago" stay true whenever the demo is started. Invoices
already posted or paid get their ledger entries and payouts, so the books balance.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from sqlmodel import Session

from tools.erp.demo_data import (
    BBAN_DIGITS,
    CURRENCY_OVERRIDE,
    INVOICES,
    ITEMS,
    POS,
    SUBTOTAL_OVERRIDE,
    SUPPLIERS,
    InvoiceSpec,
)
from tools.erp.iban import with_check_digits
from tools.erp.invoices import book_entry, entry_for_invoice, entry_for_payment
from tools.erp.models import (
    BankDetailChange,
    GoodsReceipt,
    InvoiceLine,
    PurchaseOrder,
    PurchaseOrderLine,
    Supplier,
    SupplierInvoice,
)
from tools.payments.models import Payout

CENT = Decimal("0.01")


def seed_erp(session: Session, now: datetime) -> None:
    for sid, (name, country, currency, _, _, status) in SUPPLIERS.items():
        created = now - timedelta(days=3 if status == "new" else 400 + sid * 11)
        supplier = Supplier(
            id=sid,
            name=name,
            country=country,
            currency=currency,
            iban=_iban(sid),
            status=status,
            created_at=created,
        )
        session.add(supplier)
    session.flush()
    _bank_change(session, now)
    for suffix, (sid, days, status, lines) in POS.items():
        po = PurchaseOrder(
            po_number=f"PO-2024-{suffix}",
            supplier_id=sid,
            status=status,
            currency=SUPPLIERS[sid][2],
            created_at=now - timedelta(days=days),
        )
        session.add(po)
        session.flush()
        for n, (sku, qty, received) in enumerate(lines, start=1):
            line = PurchaseOrderLine(
                po_number=po.po_number,
                line_no=n,
                sku=sku,
                description=ITEMS[sku][0],
                qty=qty,
                unit_price=Decimal(ITEMS[sku][1]),
            )
            session.add(line)
            session.flush()
            if received and line.id is not None:
                when = now - timedelta(days=max(days - 4, 1), hours=3)
                session.add(
                    GoodsReceipt(po_line_id=line.id, qty_received=received, received_at=when)
                )
    for spec in INVOICES:
        _invoice(session, now, spec)


def _iban(supplier_id: int, salt: int = 0) -> str:
    """A valid, made-up IBAN; the same every run, so demo payouts are reproducible."""
    country, bank = SUPPLIERS[supplier_id][1], SUPPLIERS[supplier_id][4]
    rng = random.Random(supplier_id * 1000 + salt)
    digits = "".join(str(rng.randrange(10)) for _ in range(BBAN_DIGITS[country]))
    return with_check_digits(country, bank + digits)


def _bank_change(session: Session, now: datetime) -> None:
    """Supplier 7 "asked" by email six days ago to be paid to a new account."""
    supplier = session.get(Supplier, 7)
    assert supplier is not None
    changed, new_iban = now - timedelta(days=6), _iban(7, salt=1)
    session.add(
        BankDetailChange(
            supplier_id=7,
            old_iban=supplier.iban,
            new_iban=new_iban,
            requested_by="ap.clerk",
            changed_at=changed,
            idempotency_key="seed:bank:7",
        )
    )
    supplier.iban, supplier.bank_changed_at = new_iban, changed
    session.add(supplier)


def _invoice(session: Session, now: datetime, spec: InvoiceSpec) -> None:
    number, sid, po, days, status, explicit = spec
    billed = explicit or tuple((sku, got, ITEMS[sku][1]) for sku, _, got in POS[po][3])
    amounts = [qty * Decimal(price) for _, qty, price in billed]
    subtotal = SUBTOTAL_OVERRIDE.get(number, sum(amounts, Decimal("0.00")))
    tax = (subtotal * Decimal(SUPPLIERS[sid][3])).quantize(CENT, rounding=ROUND_HALF_UP)
    issued = (now - timedelta(days=days)).date()
    invoice = SupplierInvoice(
        invoice_number=number,
        supplier_id=sid,
        po_number=f"PO-2024-{po}" if po else None,
        currency=CURRENCY_OVERRIDE.get(number, SUPPLIERS[sid][2]),
        subtotal=subtotal,
        tax=tax,
        total=subtotal + tax,
        invoice_date=issued,
        due_date=issued + timedelta(days=30),
        status=status,
    )
    session.add(invoice)
    session.flush()
    assert invoice.id is not None
    lines = [
        InvoiceLine(
            invoice_id=invoice.id,
            line_no=n,
            sku=sku,
            description=ITEMS[sku][0],
            qty=qty,
            unit_price=Decimal(price),
            amount=amount,
        )
        for n, ((sku, qty, price), amount) in enumerate(zip(billed, amounts, strict=True), 1)
    ]
    session.add_all(lines)
    if status in ("posted", "paid"):
        book_entry(
            session,
            invoice,
            entry_for_invoice(invoice, lines),
            f"seed:post:{invoice.id}",
            posted_at=now - timedelta(days=days - 2),
        )
    if status == "paid":
        paid_at, key = now - timedelta(days=max(days - 28, 7)), f"seed:pay:{invoice.id}"
        book_entry(session, invoice, entry_for_payment(invoice), key, posted_at=paid_at)
        # Every seeded payment predates supplier 7's bank change, so the original IBAN.
        session.add(
            Payout(
                supplier_id=sid,
                invoice_id=invoice.id,
                invoice_number=number,
                amount=invoice.total,
                currency=invoice.currency,
                iban=_iban(sid),
                requested_by="ap.clerk",
                idempotency_key=key,
                created_at=paid_at,
            )
        )
