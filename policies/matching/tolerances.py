"""Match tolerances as real AP systems have them, from a YAML file finance owns.

A tolerance has an absolute and/or a percentage limit, combined by ``and`` (both must
hold) or ``or`` (either is enough), and a direction: ``both`` checks any variance,
``over`` only an invoice above the PO (paying less than agreed is not an exception),
``under`` only below. Scopes, most specific first: per item (SKU), per supplier, then
the default. A tolerance left blank blocks any variance rather than allowing anything.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from foundation.errors import ConfigError

DEFAULT_FILE = Path(__file__).parents[1] / "tolerances.yaml"
Measure = Literal["price", "quantity"]


class Tolerance(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    absolute: Decimal | None = Field(default=None, ge=0)
    percent: Decimal | None = Field(default=None, ge=0, le=100)
    combine: Literal["and", "or"] = "and"
    direction: Literal["both", "over", "under"] = "both"

    @property
    def blank(self) -> bool:
        return self.absolute is None and self.percent is None

    def allows(self, variance: Decimal, base: Decimal) -> bool:
        """Whether ``variance`` (invoice minus PO) is within this tolerance of ``base``."""
        if variance == 0:
            return True
        if (self.direction == "over" and variance < 0) or (
            self.direction == "under" and variance > 0
        ):
            return True
        if self.blank:
            return False
        size = abs(variance)
        tests = []
        if self.absolute is not None:
            tests.append(size <= self.absolute)
        if self.percent is not None:
            tests.append(size <= abs(base) * self.percent / 100)
        return all(tests) if self.combine == "and" else any(tests)

    def describe(self) -> str:
        if self.blank:
            return "blank (no variance allowed)"
        parts = []
        if self.absolute is not None:
            parts.append(f"±{self.absolute}")
        if self.percent is not None:
            parts.append(f"±{self.percent}%")
        text = f" {self.combine} ".join(parts)
        return text if self.direction == "both" else f"{text} ({self.direction} only)"


BLANK = Tolerance()


class Scope(BaseModel):
    """The tolerances of one scope; a measure not mentioned falls to the next scope."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    price: Tolerance | None = None
    quantity: Tolerance | None = None


class Tolerances(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: str = "unversioned"
    default: Scope = Scope()
    suppliers: dict[int, Scope] = {}
    items: dict[str, Scope] = {}

    def for_line(self, measure: Measure, supplier_id: int, sku: str) -> tuple[Tolerance, str]:
        """The tolerance that applies and where it came from (for the hold's write-up)."""
        for scope, name in (
            (self.items.get(sku), f"item {sku}"),
            (self.suppliers.get(supplier_id), f"supplier {supplier_id}"),
            (self.default, "default"),
        ):
            if scope is not None and measure in scope.model_fields_set:
                found: Tolerance | None = getattr(scope, measure)
                return (found or BLANK), name
        return BLANK, "none set"

    @classmethod
    def from_data(cls, raw: Any, source: str = "tolerances") -> Tolerances:
        try:
            return cls.model_validate(_blanks(raw if raw is not None else {}))
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or '(file)'}: {e['msg']}"
                for e in exc.errors()
            )
            raise ConfigError(f"{source}: {problems}") from exc

    @classmethod
    def from_file(cls, path: Path | None = None) -> Tolerances:
        source = path or DEFAULT_FILE
        try:
            raw = yaml.safe_load(source.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"{source}: cannot read the tolerance file: {exc}") from exc
        return cls.from_data(raw, str(source))


def _blanks(raw: Any) -> Any:
    """``price:`` with nothing after it is YAML null: keep it as a blank tolerance (which
    blocks), distinct from not mentioning the measure at all (which falls through)."""
    if not isinstance(raw, dict):
        return raw
    out = dict(raw)
    scopes = [
        out.get("default"),
        *(out.get("suppliers") or {}).values(),
        *(out.get("items") or {}).values(),
    ]
    for scope in scopes:
        if isinstance(scope, dict):
            for measure in ("price", "quantity"):
                if measure in scope and scope[measure] is None:
                    scope[measure] = {}
    return out
