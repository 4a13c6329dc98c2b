"""The check file's shape: each check has a name, a kind, the paths it reads, a severity,
the exception kind it raises and a message template with ``{expected}`` and ``{found}``.

Loaded once at start; a broken file fails with the file and the check named.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator

from foundation.errors import ConfigError
from policies.checks.results import REASONS, Severity

DEFAULT_FILE = Path(__file__).with_name("invoice.yaml")
DEFAULT_MESSAGE = "{name}: expected {expected}, found {found}"


class _Base(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z][a-z0-9-]{0,63}$")
    reason: str
    severity: Severity = "block"
    message: str = DEFAULT_MESSAGE
    requires: tuple[str, ...] = ()
    """Skip this check when any of these earlier checks failed (one cause, one finding)."""

    @model_validator(mode="after")
    def _known_reason(self) -> _Base:
        if self.reason not in REASONS:
            raise ValueError(f"reason {self.reason!r} is not one of {', '.join(REASONS)}")
        return self


class Required(_Base):
    kind: Literal["required"]
    fields: tuple[str, ...] = Field(min_length=1)


class Format(_Base):
    kind: Literal["format"]
    fields: tuple[str, ...] = Field(min_length=1)
    format: Literal["date", "currency", "amount", "integer", "pattern"]
    pattern: str | None = None


class Range(_Base):
    kind: Literal["range"]
    fields: tuple[str, ...] = Field(min_length=1)
    min: Decimal | None = None
    max: Decimal | None = None


class Equation(_Base):
    """``value`` equals the sum or product of other values, within ``rounding``.
    With ``each`` (a list path) the paths are relative to every element."""

    kind: Literal["equation"]
    value: str
    sum: tuple[str, ...] = ()
    product: tuple[str, ...] = ()
    each: str | None = None
    rounding: Decimal = Decimal(0)

    @model_validator(mode="after")
    def _one_operation(self) -> Equation:
        if bool(self.sum) == bool(self.product):
            raise ValueError("give exactly one of sum or product")
        return self


class Compare(_Base):
    """A value against a literal list, another value, or presence. ``optional``: a
    missing value is not checked (some other check requires it)."""

    kind: Literal["compare"]
    value: str
    op: Literal["present", "empty", "equals", "in", "is_false"]
    to: str | None = None
    values: tuple[str, ...] = ()
    optional: bool = False
    describe: str | None = None
    """How to show the expected side (default: the literal values or the compared path)."""


CheckDef = Annotated[Required | Format | Range | Equation | Compare, Field(discriminator="kind")]


class CheckFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: str
    checks: tuple[CheckDef, ...]

    @model_validator(mode="after")
    def _names(self) -> CheckFile:
        seen: set[str] = set()
        for check in self.checks:
            if check.name in seen:
                raise ValueError(f"check {check.name!r} is defined twice")
            unknown = [r for r in check.requires if r not in seen]
            if unknown:
                raise ValueError(
                    f"check {check.name!r} requires {', '.join(unknown)}, which must come before it"
                )
            seen.add(check.name)
        return self


def load_checks(path: Path | None = None) -> CheckFile:
    source = path or DEFAULT_FILE
    try:
        raw: Any = yaml.safe_load(source.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{source}: cannot read the check file: {exc}") from exc
    try:
        return TypeAdapter(CheckFile).validate_python(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(file)'}: {e['msg']}" for e in exc.errors()
        )
        raise ConfigError(f"{source}: {problems}") from exc
