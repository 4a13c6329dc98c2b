"""Settings, logging and the runtime for one CLI invocation."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.engine import Engine

from foundation.db import create_db_engine, schema_is_current
from foundation.errors import ConfigError
from foundation.logging import configure_logging
from foundation.settings import Settings, load_settings
from graph.assembly import open_runtime
from graph.runtime import Runtime


def settings(*, interactive: bool = True) -> Settings:
    """Load settings and set up logging. Interactive commands print their own output to
    the terminal, so routine INFO lines are held back there; long-running processes
    (``serve``, ``worker``) log at the configured level."""
    s = load_settings()
    level = "WARNING" if interactive and s.log_level == "INFO" else s.log_level
    configure_logging(level, s.log_format)
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
def runtime(*, interactive: bool = True) -> Iterator[Runtime]:
    with open_runtime(settings(interactive=interactive)) as rt:
        _require_schema(rt.engine)
        yield rt
