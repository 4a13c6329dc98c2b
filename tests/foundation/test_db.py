"""Pooled PostgreSQL connections: a dead idle one is replaced unseen; a busy one is not
pinged, so the hot path pays no round trip for it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import exc, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError

from foundation.db import create_db_engine, session_scope


@pytest.fixture
def admin(pg_url: str) -> Iterator[Engine]:
    engine = create_db_engine(pg_url)
    yield engine
    engine.dispose()


def pooled_backend(engine: Engine) -> int:
    """Use the pool's one connection and return its server process id."""
    with session_scope(engine) as session:
        return int(session.execute(text("select pg_backend_pid()")).scalar_one())


def kill(admin: Engine, pid: int) -> None:
    with session_scope(admin) as session:
        session.execute(text("select pg_terminate_backend(:pid)"), {"pid": pid})


def test_a_dead_idle_connection_is_replaced_before_use(pg_url: str, admin: Engine) -> None:
    engine = create_db_engine(pg_url, ping_if_idle_s=0.0)  # every checkout counts as idle
    try:
        first = pooled_backend(engine)
        kill(admin, first)  # the database restarted, or a firewall cut the connection
        assert pooled_backend(engine) != first  # replaced, and the caller never knew
    finally:
        engine.dispose()


def test_a_connection_used_moments_ago_is_handed_out_without_a_ping(
    pg_url: str, admin: Engine
) -> None:
    engine = create_db_engine(pg_url, ping_if_idle_s=3600.0)
    try:
        first = pooled_backend(engine)
        kill(admin, first)
        with pytest.raises(OperationalError):  # not pinged: the one use finds it dead
            pooled_backend(engine)
        assert pooled_backend(engine) != first  # and the pool reconnects for the next
    finally:
        engine.dispose()


def test_transient_errors_are_told_from_mistakes() -> None:
    """A cut connection or a server shutting down is retried, whoever raised it (the
    checkpointers use the drivers directly); a constraint violation never is."""
    import sqlite3

    import psycopg
    from sqlalchemy import exc

    from foundation.db import is_transient

    assert is_transient(psycopg.errors.AdminShutdown("terminating connection"))
    assert is_transient(psycopg.OperationalError("server closed the connection"))
    assert is_transient(sqlite3.OperationalError("database is locked"))
    assert is_transient(exc.OperationalError("SELECT 1", {}, Exception("gone")))
    assert not is_transient(exc.IntegrityError("INSERT", {}, Exception("duplicate key")))
    assert not is_transient(psycopg.errors.UniqueViolation("duplicate key"))
    assert not is_transient(ValueError("a bug"))


@pytest.mark.postgres
def test_a_paused_process_cannot_hold_row_locks(pg_url: str) -> None:
    """A process stopped inside a transaction (SIGSTOP mid-adapter) holds its row locks
    only until the server ends the idle transaction; the other workers then go on."""
    import time

    from sqlalchemy import text

    from foundation.db import create_db_engine

    engine = create_db_engine(pg_url, idle_transaction_timeout_s=1.0)
    other = create_db_engine(pg_url)
    try:
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE IF NOT EXISTS lock_probe (id int primary key, n int)"))
            conn.execute(text("INSERT INTO lock_probe VALUES (1, 0) ON CONFLICT DO NOTHING"))
        paused = engine.connect()
        paused.begin()
        paused.execute(text("UPDATE lock_probe SET n = n + 1 WHERE id = 1"))  # then it stops
        began = time.monotonic()
        with other.begin() as conn:
            conn.execute(text("SET LOCAL lock_timeout = '30s'"))
            conn.execute(text("UPDATE lock_probe SET n = n + 10 WHERE id = 1"))
        waited = time.monotonic() - began
        assert waited < 10, f"another worker waited {waited:.1f} s for the paused one's lock"
        with pytest.raises(exc.DBAPIError):  # the paused transaction was ended, not applied
            paused.commit()
        paused.close()
        with other.connect() as conn:
            assert conn.execute(text("SELECT n FROM lock_probe WHERE id = 1")).scalar() == 10
    finally:
        with other.begin() as conn:
            conn.execute(text("DROP TABLE IF EXISTS lock_probe"))
        engine.dispose()
        other.dispose()
