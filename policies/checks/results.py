"""What a check or a match says about one value: the vocabulary holds are written in.

A finding names the rule, the exception kind (``reason``, a stable code people and
golden cases filter on), what was expected and what was found, the tolerance applied
and the money at stake, so the person reading a hold does not have to redo the work.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from decimal import Decimal
from typing import Any, Literal

Severity = Literal["block", "warn"]

REASONS = (
    "invalid_field",
    "arithmetic_error",
    "unknown_supplier",
    "duplicate_invoice",
    "missing_po",
    "closed_po",
    "currency_mismatch",
    "bank_details_changed",
    "price_mismatch",
    "quantity_mismatch",
    "qty_over_received",
    "unmatched_line",
)
"""Every exception kind a hold can carry."""


@dataclass(frozen=True)
class Finding:
    check: str
    reason: str
    passed: bool
    severity: Severity = "block"
    expected: str = ""
    found: str = ""
    tolerance: str = "none"
    amount_at_stake: Decimal = Decimal("0.00")
    message: str = ""
    where: str = ""

    @property
    def blocks(self) -> bool:
        return not self.passed and self.severity == "block"

    def as_data(self) -> dict[str, Any]:
        data = asdict(self)
        data["amount_at_stake"] = str(self.amount_at_stake)
        return data

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> Finding:
        return cls(**{**data, "amount_at_stake": Decimal(str(data.get("amount_at_stake", 0)))})


def blocking(findings: list[Finding]) -> list[Finding]:
    return [f for f in findings if f.blocks]


def reasons_of(findings: list[Finding]) -> list[str]:
    """Distinct blocking reasons, in the order the checks found them."""
    return list(dict.fromkeys(f.reason for f in findings if f.blocks))
