"""Settings, logging and the runtime for one CLI invocation."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.engine import Engine

from graph.assembly import open_runtime
from graph.runtime import Runtime
from tethra.db import create_db_engine, schema_is_current
from tethra.errors import ConfigError
from tethra.logging import configure_logging
from tethra.settings import Settings, load_settings


def settings() -> Settings:
    s = load_settings()
    configure_logging("WARNING" if s.log_level == "INFO" else s.log_level, s.log_format)
    return s


def _require_schema(engine: Engine) -> None:
    if not schema_is_current(engine):
        raise ConfigError("the database schema is not current; run `tethra init` first")


@contextmanager
def engine_only() -> Iterator[Engine]:
    engine = create_db_engine(settings().database_url)
    try:
        _require_schema(engine)
        yield engine
    finally:
        engine.dispose()


@contextmanager
def runtime() -> Iterator[Runtime]:
    with open_runtime(settings()) as rt:
        _require_schema(rt.gov.engine)
        yield rt
