"""Prices: exact costs per token kind, and a price file that is wrong fails at start."""

from __future__ import annotations

from decimal import Decimal

import pytest

from audit.prices import PriceTable, TokenUsage, usd
from foundation.errors import ConfigError

TABLE = PriceTable.from_text(
    """
version: t
models:
  m: {input: 3.00, cached_input: 0.30, cache_write: 3.75, output: 15.00}
  plain: {input: 2, output: 8}
"""
)


def test_cached_and_cache_write_tokens_are_priced_at_their_own_rates() -> None:
    usage = TokenUsage(
        input_tokens=10_000,
        output_tokens=1_000,
        cached_input_tokens=6_000,
        cache_write_tokens=2_000,
    )
    # 2,000 uncached x $3 + 6,000 x $0.30 + 2,000 x $3.75 + 1,000 x $15 (per million)
    assert usd(TABLE.cost("m", usage)) == Decimal("0.0303")
    # Without cache prices, cached tokens cost as much as any input token.
    assert usd(TABLE.cost("plain", usage)) == Decimal("0.028")


def test_usage_metadata_is_read_the_langchain_way() -> None:
    usage = TokenUsage.of(
        {
            "input_tokens": 120,
            "output_tokens": 7,
            "total_tokens": 127,
            "input_token_details": {"cache_read": 100, "cache_creation": 5},
        }
    )
    assert usage == TokenUsage(120, 7, 100, 5)
    assert TokenUsage.of(None) == TokenUsage()
    assert TokenUsage.of({"input_tokens": -3, "output_tokens": "x"}) == TokenUsage()


def test_an_unknown_model_has_no_cost_never_zero() -> None:
    assert TABLE.cost("unknown:model", TokenUsage(100, 100)) is None
    assert usd(None) is None


def test_the_bundled_table_prices_the_offline_model() -> None:
    table = PriceTable.from_file()
    assert table.price("offline") is not None
    assert table.version.startswith("2026.11+")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("version: t\nmodels: {m: {input: 1}}", r"models\.m\.output"),
        ("version: t\nmodels: {m: {input: 0.0000001, output: 1}}", "at most 6 decimals"),
        ("version: t\nmodels: {m: {input: -1, output: 1}}", "greater than or equal to 0"),
        ("models: [", "not valid YAML"),
    ],
)
def test_a_bad_price_file_names_the_setting_and_the_problem(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match="TETHRA_PRICES_FILE") as caught:
        PriceTable.from_text(text)
    assert caught.match(message)
