"""ERP tables: the accounts-payable side of the demo company.

Suppliers, their purchase orders and goods receipts, the invoices they send, and the
ledger those invoices post to. The data is shaped so a three-way match (PO, receipt,
invoice) can find real exceptions; the adapters in ``tools.erp`` read and write it.
Business ids that people quote (supplier 7, "PO-2024-0311") are primary keys set by
the seed; rows the tools create get database-assigned ids.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Column, Date, Numeric, UniqueConstraint
from sqlmodel import Field, SQLModel

from foundation.db import UTCDateTime, utcnow


class Supplier(SQLModel, table=True):
    __tablename__ = "erp_suppliers"

    id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    name: str = Field(max_length=200)
    country: str = Field(max_length=2)
    currency: str = Field(max_length=3)
    iban: str = Field(max_length=34)
    bank_changed_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    # active | blocked | new (onboarded, not yet vetted)
    status: str = Field(default="active", max_length=16)
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )


class BankDetailChange(SQLModel, table=True):
    """History of IBAN changes: the fraud signal reviewers look for, and the idempotency
    record for ``update_supplier_bank_details``."""

    __tablename__ = "erp_bank_detail_changes"

    id: int | None = Field(default=None, primary_key=True)
    supplier_id: int = Field(foreign_key="erp_suppliers.id", index=True)
    old_iban: str = Field(max_length=34)
    new_iban: str = Field(max_length=34)
    requested_by: str = Field(max_length=64)
    changed_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )
    idempotency_key: str = Field(max_length=200, unique=True)


class PurchaseOrder(SQLModel, table=True):
    __tablename__ = "erp_purchase_orders"

    po_number: str = Field(primary_key=True, max_length=32)
    supplier_id: int = Field(foreign_key="erp_suppliers.id", index=True)
    status: str = Field(default="open", max_length=16)  # open | closed
    currency: str = Field(max_length=3)
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )


class PurchaseOrderLine(SQLModel, table=True):
    __tablename__ = "erp_po_lines"
    __table_args__ = (UniqueConstraint("po_number", "line_no"),)

    id: int | None = Field(default=None, primary_key=True)
    po_number: str = Field(foreign_key="erp_purchase_orders.po_number", index=True, max_length=32)
    line_no: int
    sku: str = Field(max_length=64)
    description: str = Field(max_length=200)
    qty: int
    unit_price: Decimal = Field(sa_column=Column(Numeric(14, 2), nullable=False))


class GoodsReceipt(SQLModel, table=True):
    __tablename__ = "erp_goods_receipts"

    id: int | None = Field(default=None, primary_key=True)
    po_line_id: int = Field(foreign_key="erp_po_lines.id", index=True)
    qty_received: int
    received_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class SupplierInvoice(SQLModel, table=True):
    """An invoice as the supplier sent it. The number is the supplier's, so it is not
    unique: two suppliers may reuse one, and a supplier may send the same one twice."""

    __tablename__ = "erp_supplier_invoices"

    id: int | None = Field(default=None, primary_key=True)
    invoice_number: str = Field(max_length=64, index=True)
    supplier_id: int = Field(foreign_key="erp_suppliers.id", index=True)
    po_number: str | None = Field(
        default=None, foreign_key="erp_purchase_orders.po_number", max_length=32
    )
    currency: str = Field(max_length=3)
    subtotal: Decimal = Field(sa_column=Column(Numeric(14, 2), nullable=False))
    tax: Decimal = Field(sa_column=Column(Numeric(14, 2), nullable=False))
    total: Decimal = Field(sa_column=Column(Numeric(14, 2), nullable=False))
    invoice_date: date = Field(sa_column=Column(Date(), nullable=False))
    due_date: date = Field(sa_column=Column(Date(), nullable=False))
    # received | posted | paid | held | rejected
    status: str = Field(default="received", max_length=16)


class InvoiceLine(SQLModel, table=True):
    __tablename__ = "erp_invoice_lines"
    __table_args__ = (UniqueConstraint("invoice_id", "line_no"),)

    id: int | None = Field(default=None, primary_key=True)
    invoice_id: int = Field(foreign_key="erp_supplier_invoices.id", index=True)
    line_no: int
    sku: str = Field(max_length=64)
    description: str = Field(default="", max_length=200)
    qty: int
    unit_price: Decimal = Field(sa_column=Column(Numeric(14, 2), nullable=False))
    amount: Decimal = Field(sa_column=Column(Numeric(14, 2), nullable=False))


class LedgerPosting(SQLModel, table=True):
    """One side of a journal entry. All postings of one entry share an idempotency key,
    so a repeated post or payment finds its earlier entry instead of booking twice."""

    __tablename__ = "erp_ledger_postings"

    id: int | None = Field(default=None, primary_key=True)
    invoice_id: int = Field(foreign_key="erp_supplier_invoices.id", index=True)
    invoice_number: str = Field(max_length=64)
    account: str = Field(max_length=64)
    debit: Decimal = Field(sa_column=Column(Numeric(14, 2), nullable=False))
    credit: Decimal = Field(sa_column=Column(Numeric(14, 2), nullable=False))
    posted_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )
    idempotency_key: str = Field(max_length=200, index=True)
