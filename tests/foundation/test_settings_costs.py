"""Cost settings: caps and the price file are validated at start, naming the variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from foundation.errors import ConfigError
from foundation.settings import load_settings
from graph.assembly import metering_from


def test_bad_caps_name_their_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TETHRA_RUN_BUDGET_USD", "-2")
    monkeypatch.setenv("TETHRA_WORKFLOW_BUDGETS_USD", '{"chat": 0}')
    with pytest.raises(ConfigError) as err:
        load_settings()
    assert "set TETHRA_RUN_BUDGET_USD" in str(err.value)
    assert "set TETHRA_WORKFLOW_BUDGETS_USD: Value error, every cap must be a positive" in str(
        err.value
    )


def test_caps_become_pico_dollars_and_an_empty_run_cap_turns_it_off(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TETHRA_WORKFLOW_BUDGETS_USD", '{"invoice": 2.5}')
    metering = metering_from(load_settings())
    assert metering.caps.run_pusd == 10**12  # the default: $1 per run
    assert metering.caps.workflow_daily_pusd == {"invoice": 2_500_000_000_000}
    monkeypatch.setenv("TETHRA_RUN_BUDGET_USD", "")
    assert metering_from(load_settings()).caps.run_pusd is None


def test_a_missing_price_file_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("TETHRA_PRICES_FILE", str(tmp_path / "nope.yaml"))
    with pytest.raises(ConfigError, match="TETHRA_PRICES_FILE: cannot read"):
        metering_from(load_settings())
