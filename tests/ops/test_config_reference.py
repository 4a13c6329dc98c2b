"""docs/configuration.md is generated from the settings class and must not go stale."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from foundation import config_reference
from foundation.settings import Settings
from tethra.cli import app


def test_the_committed_reference_matches_the_settings_class() -> None:
    committed = config_reference.DOC_PATH.read_text(encoding="utf-8")
    assert committed == config_reference.render(), (
        "docs/configuration.md is stale: run `tethra config reference --write`"
    )


def test_every_setting_is_documented_with_its_variable() -> None:
    assert config_reference.undocumented() == []
    text = config_reference.render()
    for name in config_reference.variables():
        assert f"| `{name}` |" in text
    assert "OTEL_EXPORTER_OTLP_ENDPOINT" in config_reference.variables()
    assert len(config_reference.variables()) == len(Settings.model_fields)


def test_check_fails_on_a_stale_file_and_write_fixes_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    doc = tmp_path / "configuration.md"
    doc.write_text(config_reference.render().replace("TETHRA_REDIS_URL", "TETHRA_REDIS"))
    monkeypatch.setattr(config_reference, "DOC_PATH", doc)
    runner = CliRunner()

    stale = runner.invoke(app, ["config", "reference", "--check"])
    assert stale.exit_code != 0
    assert "stale" in str(stale.exception)

    assert runner.invoke(app, ["config", "reference", "--write"]).exit_code == 0
    assert doc.read_text() == config_reference.render()
    fresh = runner.invoke(app, ["config", "reference", "--check"])
    assert fresh.exit_code == 0, fresh.output
    assert "up to date" in fresh.output
