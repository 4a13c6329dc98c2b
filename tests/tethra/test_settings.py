"""Bad configuration fails at start and says which variable to set."""

from __future__ import annotations

import pytest

from tethra.errors import ConfigError
from tethra.settings import load_settings


def test_bad_database_url_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TETHRA_DATABASE_URL", "mysql://nope")
    with pytest.raises(ConfigError, match=r"set TETHRA_DATABASE_URL: .*sqlite:///"):
        load_settings()


def test_every_bad_variable_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TETHRA_REDIS_URL", "http://localhost")
    monkeypatch.setenv("TETHRA_LOG_LEVEL", "LOUD")
    with pytest.raises(ConfigError) as err:
        load_settings()
    assert "TETHRA_REDIS_URL" in str(err.value)
    assert "TETHRA_LOG_LEVEL" in str(err.value)


def test_plain_postgresql_url_gets_the_psycopg_driver(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TETHRA_DATABASE_URL", "postgresql://u@h/db")
    settings = load_settings()
    assert settings.database_url == "postgresql+psycopg://u@h/db"
    assert not settings.is_sqlite


def test_sqlite_checkpoints_live_beside_the_database(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TETHRA_DATABASE_URL", "sqlite:///data/x.db")
    assert str(load_settings().sqlite_checkpoint_path) == "data/x-checkpoints.sqlite"
