"""Bad configuration fails at start and says which variable to set."""

from __future__ import annotations

import typing
from datetime import timedelta

import pytest

from foundation.errors import ConfigError
from foundation.settings import Settings, env_name, load_settings


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


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("120", 120.0), ("0.5", 0.5), (" 30 ", 30.0), ("PT2M", 120.0), ("P1D", 86_400.0)],
)
def test_durations_take_plain_seconds_or_iso_8601(
    monkeypatch: pytest.MonkeyPatch, value: str, seconds: float
) -> None:
    """The configuration reference documents seconds (issue 14: `TETHRA_EXECUTION_LEASE=120`
    was refused at start)."""
    monkeypatch.setenv("TETHRA_EXECUTION_LEASE", value)
    assert load_settings().execution_lease.total_seconds() == seconds


def test_every_duration_setting_takes_plain_seconds(monkeypatch: pytest.MonkeyPatch) -> None:
    durations = [
        name
        for name, info in Settings.model_fields.items()
        if info.annotation is timedelta or timedelta in typing.get_args(info.annotation)
    ]
    assert durations, "no duration settings left: this test checks nothing"
    for name in durations:
        monkeypatch.setenv(env_name(name), "45")
    settings = load_settings()
    assert {name: getattr(settings, name) for name in durations} == dict.fromkeys(
        durations, timedelta(seconds=45)
    )


def test_a_duration_that_is_neither_is_refused_with_its_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TETHRA_EXECUTION_LEASE", "two minutes")
    with pytest.raises(ConfigError, match="set TETHRA_EXECUTION_LEASE"):
        load_settings()
