"""Accounts-payable review tables: holds (invoices stopped by a check, waiting for a
person) and spot checks (a sample of auto-filed invoices a person re-reads).

``version`` is the compare-and-set counter every decision bumps, as for approvals.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from sqlalchemy import JSON, Column, Index, Numeric, UniqueConstraint
from sqlmodel import Field, SQLModel

from foundation.db import UTCDateTime, utcnow

HoldStatus = Literal["open", "released", "corrected", "rejected"]
SpotStatus = Literal["open", "correct", "wrong"]


class InvoiceHold(SQLModel, table=True):
    __tablename__ = "invoice_holds"
    __table_args__ = (
        UniqueConstraint("run_id", "attempt"),
        Index("ix_invoice_holds_status_id", "status", "id"),
        Index("ix_invoice_holds_supplier_number", "supplier_id", "invoice_number"),
    )

    id: str = Field(primary_key=True, max_length=32)
    run_id: str = Field(max_length=32)
    thread_id: str = Field(max_length=128)
    attempt: int = 1
    """1 for the invoice as received; each correction that still fails holds it again."""
    requester: str = Field(max_length=64)
    supplier_id: int | None = None
    invoice_number: str = Field(default="", max_length=64)
    currency: str = Field(default="", max_length=3)
    total: Decimal | None = Field(default=None, sa_column=Column(Numeric(14, 2)))
    amount_at_stake: Decimal = Field(sa_column=Column(Numeric(14, 2), nullable=False))
    reasons: list[str] = Field(sa_column=Column(JSON, nullable=False))
    findings: list[dict[str, Any]] = Field(sa_column=Column(JSON, nullable=False))
    invoice: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    """The invoice as it was checked (a correction replaces it in ``corrected``)."""
    corrected: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    status: str = Field(default="open", max_length=16)
    decided_by: str | None = Field(default=None, max_length=64)
    note: str = ""
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime()))
    decided_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    version: int = 0


class SpotCheck(SQLModel, table=True):
    __tablename__ = "spot_checks"
    __table_args__ = (Index("ix_spot_checks_status_id", "status", "id"),)

    id: str = Field(primary_key=True, max_length=32)
    run_id: str = Field(unique=True, max_length=32)
    erp_invoice_id: int
    supplier_id: int
    invoice_number: str = Field(max_length=64)
    total: Decimal = Field(sa_column=Column(Numeric(14, 2), nullable=False))
    currency: str = Field(max_length=3)
    status: str = Field(default="open", max_length=16)
    reviewer: str | None = Field(default=None, max_length=64)
    note: str = ""
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime()))
    reviewed_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))


class FiledInvoice(SQLModel, table=True):
    """One row per invoice the workflow filed on its own: the population spot checks
    sample from, so the error rate has a denominator."""

    __tablename__ = "invoices_autofiled"

    run_id: str = Field(primary_key=True, max_length=32)
    erp_invoice_id: int
    amount: Decimal = Field(sa_column=Column(Numeric(14, 2), nullable=False))
    released_by: str | None = Field(default=None, max_length=64)
    """Set when a person released a hold first (not counted as automatic)."""
    filed_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime()))
