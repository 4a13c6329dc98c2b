"""Payments tables: money in (customer charges), money back (refunds), money out
(supplier payouts). Refunds and payouts are created only by tools, each carrying the
idempotency key of the tool call that made it, so a retried call cannot move money twice.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import Column, Numeric
from sqlmodel import Field, SQLModel

from foundation.db import UTCDateTime, utcnow


class Payment(SQLModel, table=True):
    """A charge captured from a customer against an order's invoice."""

    __tablename__ = "payments_charges"

    id: int | None = Field(default=None, primary_key=True)
    customer_id: int = Field(foreign_key="crm_customers.id", index=True)
    order_id: int = Field(foreign_key="crm_orders.id", index=True)
    invoice_number: str = Field(max_length=32, index=True)
    amount: Decimal = Field(sa_column=Column(Numeric(14, 2), nullable=False))
    currency: str = Field(max_length=3)
    received_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    reference: str = Field(max_length=64)  # the card processor's charge reference


class Refund(SQLModel, table=True):
    __tablename__ = "payments_refunds"

    id: int | None = Field(default=None, primary_key=True)
    order_id: int = Field(foreign_key="crm_orders.id", index=True)
    amount: Decimal = Field(sa_column=Column(Numeric(14, 2), nullable=False))
    currency: str = Field(max_length=3)
    reason: str = Field(max_length=500)
    status: str = Field(default="completed", max_length=16)
    requested_by: str = Field(max_length=64)
    idempotency_key: str = Field(max_length=200, unique=True)
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )


class Payout(SQLModel, table=True):
    """Money sent to a supplier for one ERP invoice, to the IBAN on file at that moment."""

    __tablename__ = "payments_payouts"

    id: int | None = Field(default=None, primary_key=True)
    supplier_id: int = Field(foreign_key="erp_suppliers.id", index=True)
    invoice_id: int = Field(foreign_key="erp_supplier_invoices.id", index=True)
    invoice_number: str = Field(max_length=64)
    amount: Decimal = Field(sa_column=Column(Numeric(14, 2), nullable=False))
    currency: str = Field(max_length=3)
    iban: str = Field(max_length=34)
    requested_by: str = Field(max_length=64)
    idempotency_key: str = Field(max_length=200, unique=True)
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )
