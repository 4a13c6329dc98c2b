"""Request and response bodies of the accounts-payable endpoints."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.config import JsonDict

INVOICE_EXAMPLE: JsonDict = {
    "supplier_id": 7,
    "invoice_number": "INV-2026-0042",
    "po_number": "PO-2024-0311",
    "currency": "EUR",
    "invoice_date": "2026-11-20",
    "tax_rate": "0.19",
    "lines": [{"sku": "GE-LED-T8", "qty": 40, "unit_price": "8.40", "amount": "336.00"}],
    "subtotal": "336.00",
    "tax": "63.84",
    "total": "399.84",
}


class InvoiceUpload(BaseModel):
    """One invoice: its fields as an object (``invoice``), or a document's text
    (``content``) in ``format`` csv or text (text is read by the finance agent's model)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"invoice": INVOICE_EXAMPLE}]},
    )

    name: str = Field(default="", max_length=200, description="File name, for the summary")
    format: Literal["json", "csv", "text"] = "json"
    invoice: dict[str, Any] | None = None
    content: str | None = Field(default=None, max_length=200_000)

    @model_validator(mode="after")
    def _one_source(self) -> InvoiceUpload:
        if (self.invoice is None) == (self.content is None):
            raise ValueError("give exactly one of invoice (an object) or content (text)")
        return self


class BatchUpload(BaseModel):
    model_config = ConfigDict(extra="forbid")

    items: list[InvoiceUpload] = Field(min_length=1, max_length=500)


class Finding(BaseModel):
    check: str
    reason: str
    expected: str
    found: str
    tolerance: str
    amount_at_stake: Decimal
    message: str


class OutcomeOut(BaseModel):
    name: str
    status: Literal["filed", "held", "rejected", "failed", "waiting"]
    run_id: str
    reasons: list[str]
    hold_id: str | None
    invoice_id: int | None
    amount_at_stake: Decimal
    currency: str
    findings: list[Finding]
    spot_check_id: str | None
    error: str | None


class BatchOut(BaseModel):
    filed_automatically: int
    held: int
    held_by_reason: dict[str, int]
    amount_at_stake: dict[str, Decimal]
    person_hours_saved: float
    outcomes: list[OutcomeOut]


class HoldOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    status: str
    run_id: str
    attempt: int
    requester: str
    supplier_id: int | None
    invoice_number: str
    currency: str
    total: Decimal | None
    amount_at_stake: Decimal
    reasons: list[str]
    findings: list[Finding]
    invoice: dict[str, Any]
    corrected: dict[str, Any] | None
    decided_by: str | None
    note: str
    created_at: datetime | None
    decided_at: datetime | None


class HoldPage(BaseModel):
    items: list[HoldOut]
    next_cursor: str | None


class ReleaseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=2000, description="Why it may be filed")


class RejectIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(default="", max_length=2000)


class CorrectIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"values": {"total": "399.84"}}]}
    )

    values: dict[str, Any] = Field(description="Invoice fields to change; re-checked")
    note: str = Field(default="", max_length=2000)


class SpotCheckOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    run_id: str
    erp_invoice_id: int
    supplier_id: int
    invoice_number: str
    total: Decimal
    currency: str
    status: str
    reviewer: str | None
    note: str
    created_at: datetime | None
    reviewed_at: datetime | None


class MarkIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    verdict: Literal["correct", "wrong"]
    note: str = Field(default="", max_length=2000)


class ErrorRateOut(BaseModel):
    auto_filed: int
    released_and_filed: int
    sampled: int
    reviewed: int
    wrong: int
    error_rate: float | None = Field(description="wrong / reviewed; null before any review")
    estimated_wrong_auto_filed: float | None
