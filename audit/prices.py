"""The price table: what one model call costs, from its token usage.

Money is counted in integer pico-USD (10^-12 USD) so that a cost, and any sum of costs,
is exact on SQLite and PostgreSQL alike and reconciles to the token counts in the audit
trail digit for digit; floats would drift. Prices are USD per million tokens with at
most six decimals, which is exactly one integer pico-USD per token step.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from foundation.canonical import sha256_hex
from foundation.errors import ConfigError

DEFAULT_PRICES_FILE = Path(__file__).parent / "prices.yaml"
PICO_PER_USD = 10**12
_PICO_PER_TOKEN = Decimal(10**6)
"""USD per million tokens -> pico-USD per token."""

Price = Annotated[Decimal, Field(ge=0, le=100_000)]


class ModelPrice(BaseModel):
    """USD per million tokens; cache prices default to the input price."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    input: Price
    output: Price
    cached_input: Price | None = None
    cache_write: Price | None = None

    @field_validator("input", "output", "cached_input", "cache_write", mode="before")
    @classmethod
    def _decimal(cls, value: Any) -> Any:
        # YAML gives floats; their shortest repr is what the owner wrote.
        return Decimal(repr(value)) if isinstance(value, float) else value

    @field_validator("input", "output", "cached_input", "cache_write")
    @classmethod
    def _six_decimals(cls, value: Decimal | None) -> Decimal | None:
        if value is not None and (value * _PICO_PER_TOKEN) % 1 != 0:
            raise ValueError("at most 6 decimals (USD per million tokens)")
        return value

    def per_token(self) -> tuple[int, int, int, int]:
        """(input, cached input, cache write, output) in pico-USD per token."""

        def pico(price: Decimal) -> int:
            return int(price * _PICO_PER_TOKEN)

        return (
            pico(self.input),
            pico(self.cached_input if self.cached_input is not None else self.input),
            pico(self.cache_write if self.cache_write is not None else self.input),
            pico(self.output),
        )


class PriceFile(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    version: str = Field(min_length=1)
    models: dict[str, ModelPrice]


@dataclass(frozen=True)
class TokenUsage:
    """One call's tokens as providers report them: ``input_tokens`` includes the cached
    and cache-written tokens (LangChain's ``usage_metadata`` convention)."""

    input_tokens: int = 0
    output_tokens: int = 0
    cached_input_tokens: int = 0
    cache_write_tokens: int = 0

    @classmethod
    def of(cls, usage: Mapping[str, Any] | None) -> TokenUsage:
        """From ``usage_metadata`` (missing or malformed counts read as zero)."""

        def count(source: Mapping[str, Any] | None, key: str) -> int:
            value = (source or {}).get(key)
            return value if isinstance(value, int) and value > 0 else 0

        details = (usage or {}).get("input_token_details")
        details = details if isinstance(details, Mapping) else None
        return cls(
            input_tokens=count(usage, "input_tokens"),
            output_tokens=count(usage, "output_tokens"),
            cached_input_tokens=count(details, "cache_read"),
            cache_write_tokens=count(details, "cache_creation"),
        )

    def cost(self, price: ModelPrice) -> int:
        """pico-USD: uncached input, cache reads, cache writes and output at their rates."""
        p_in, p_cached, p_write, p_out = price.per_token()
        uncached = max(0, self.input_tokens - self.cached_input_tokens - self.cache_write_tokens)
        return (
            uncached * p_in
            + self.cached_input_tokens * p_cached
            + self.cache_write_tokens * p_write
            + self.output_tokens * p_out
        )


def usd(pico: int | None) -> Decimal | None:
    """pico-USD -> exact USD (None stays None: an unknown cost is never zero)."""
    return None if pico is None else Decimal(pico).scaleb(-12).normalize()


def usd_text(pico: int | None) -> str | None:
    amount = usd(pico)
    return None if amount is None else format(amount, "f")


def to_pico(amount_usd: float | Decimal) -> int:
    return int((Decimal(str(amount_usd)) * PICO_PER_USD).to_integral_value())


@dataclass(frozen=True)
class PriceTable:
    prices: Mapping[str, ModelPrice]
    version: str
    source: str

    def price(self, model: str) -> ModelPrice | None:
        return self.prices.get(model)

    def cost(self, model: str, usage: TokenUsage) -> int | None:
        """pico-USD, or None when the model has no price (never counted as free)."""
        price = self.price(model)
        return None if price is None else usage.cost(price)

    @classmethod
    def from_file(cls, path: Path | None = None) -> PriceTable:
        path = path or DEFAULT_PRICES_FILE
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"TETHRA_PRICES_FILE: cannot read {path} ({exc.strerror})") from exc
        return cls.from_text(text, source=str(path))

    @classmethod
    def from_text(cls, text: str, source: str = "<prices>") -> PriceTable:
        try:
            raw = yaml.safe_load(text)
            parsed = PriceFile.model_validate(raw)
        except yaml.YAMLError as exc:
            raise ConfigError(f"TETHRA_PRICES_FILE {source}: not valid YAML: {exc}") from exc
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or '(file)'}: {e['msg']}"
                for e in exc.errors()
            )
            raise ConfigError(f"TETHRA_PRICES_FILE {source}: {problems}") from exc
        digest = sha256_hex(text)[:12]
        return cls(parsed.models, f"{parsed.version}+{digest}", source)
