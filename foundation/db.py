"""The system of record: one SQLAlchemy engine per process, opened at the entry point.

SQLite is the embedded default and PostgreSQL the production database; every table
works on both. On SQLite each transaction starts with ``BEGIN IMMEDIATE`` so that a
compare-and-set (read, then write) never fails half-way with a stale snapshot: writers
queue on the busy timeout instead. Sessions are short: open, do the work, commit.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar, cast

import psycopg
from sqlalchemy import DateTime, Dialect, event, exc
from sqlalchemy.engine import Connection, CursorResult, Engine, Result
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.types import TypeDecorator
from sqlmodel import Session, create_engine

from foundation.logging import get_logger

MIGRATIONS_DIR = Path(__file__).parent.parent / "tethra" / "migrations"
"""The Alembic scripts. They live with the entry points (``tethra.migrations``) because
their env loads every package's models; this module only points Alembic at them (a
path, not an import), installed or not: the packages are siblings either way."""
_T = TypeVar("_T")
_log = get_logger(__name__)


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on both databases (SQLite drops the zone on its own)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use foundation.db.utcnow()")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


IDLE_TRANSACTION_TIMEOUT_S = 15.0
"""PostgreSQL ends a transaction that sat idle this long (its process paused or died)."""
PING_IF_IDLE_S = 2.0
"""A pooled PostgreSQL connection idle longer than this is pinged before it is used."""


def create_db_engine(
    url: str,
    *,
    echo: bool = False,
    ping_if_idle_s: float = PING_IF_IDLE_S,
    idle_transaction_timeout_s: float = IDLE_TRANSACTION_TIMEOUT_S,
) -> Engine:
    if url.startswith("sqlite"):
        path = url.removeprefix("sqlite:///")
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url, echo=echo, connect_args={"check_same_thread": False, "timeout": 30}
        )
        _make_sqlite_transactional(engine)
        return engine
    # LIFO: the connection used last is reused first, so a quiet process keeps one warm
    # connection (its server process awake, its statements prepared) rather than cycling
    # through the pool; the rest idle and are pinged before reuse.
    # A transaction left idle (its process stopped or paused mid-work) is ended by the
    # server, so its row locks never block the other workers for long: no transaction
    # of ours waits on anything slow (adapters and model calls run outside them).
    idle = f"-c idle_in_transaction_session_timeout={int(idle_transaction_timeout_s * 1000)}"
    engine = create_engine(
        url,
        echo=echo,
        pool_size=10,
        max_overflow=10,
        pool_use_lifo=True,
        connect_args={"options": idle},
    )
    _ping_idle_connections(engine, ping_if_idle_s)
    return engine


def _ping_idle_connections(engine: Engine, idle_s: float) -> None:
    """Pessimistic disconnect handling, paid only where it helps.

    A connection that sat in the pool may have been cut (the database restarted, a
    firewall dropped it), so it is pinged before use and replaced if dead, as
    ``pool_pre_ping`` does. One used moments ago is handed out without a ping: on a
    busy process that saves a round trip on every transaction, the approve-to-execute
    path included.
    """

    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_conn: Any, record: ConnectionPoolEntry) -> None:
        record.info[_LAST_USED] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_conn: Any, record: ConnectionPoolEntry, _proxy: Any) -> None:
        last = record.info.get(_LAST_USED)
        if last is not None and time.monotonic() - last < idle_s:
            return
        dialect = engine.dialect
        try:
            alive = dialect.do_ping(dbapi_conn)
        except dialect.loaded_dbapi.Error as error:
            if not dialect.is_disconnect(error, dbapi_conn, None):
                raise
            alive = False
        if not alive:  # the pool discards it and connects afresh
            raise exc.DisconnectionError("a pooled database connection was dead")


_LAST_USED = "tethra.last_used"


def _make_sqlite_transactional(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: sqlite3.Connection, _record: ConnectionPoolEntry) -> None:
        # Let SQLAlchemy, not pysqlite, decide when transactions begin.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A unit of work: commits on success, rolls back on any error."""
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


@contextmanager
def one_statement(engine: Engine) -> Iterator[Connection]:
    """For a statement that is atomic alone: PostgreSQL runs it without the BEGIN and
    COMMIT round trips (autocommit); SQLite in a transaction as usual (its write lock
    taken up front). For hot paths such as claiming an approved call."""
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            yield conn
    else:
        with engine.begin() as conn:
            yield conn


def migrate(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to ``revision`` with Alembic, on the given engine's connection."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def schema_is_current(engine: Engine) -> bool:
    """True when the database is at the newest migration (used by readiness checks)."""
    from alembic.config import Config
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    heads = set(ScriptDirectory.from_config(cfg).get_heads())
    with engine.connect() as conn:
        current = set(MigrationContext.configure(conn).get_current_heads())
    return current == heads


def rows_affected(result: Result[Any]) -> int:
    """Rows an UPDATE/DELETE touched: the outcome of a compare-and-set."""
    return cast(CursorResult[Any], result).rowcount


def is_transient(error: BaseException) -> bool:
    """A database error that a retry may cure: the connection was cut (a terminated
    backend, a restart, a failover), the server is starting or shutting down, or a
    serialization conflict or deadlock. Constraint violations and bugs are not."""
    if isinstance(error, exc.DBAPIError) and error.connection_invalidated:
        return True
    if isinstance(error, exc.OperationalError | exc.InterfaceError | exc.DisconnectionError):
        return True
    # Raised by drivers directly, not wrapped by SQLAlchemy (LangGraph's checkpointers
    # use psycopg and sqlite3 themselves).
    if isinstance(
        error, psycopg.OperationalError | psycopg.InterfaceError | sqlite3.OperationalError
    ):
        return True
    code = getattr(error, "sqlstate", None) or getattr(
        getattr(error, "orig", None), "sqlstate", None
    )
    code = code or ""
    # 08: connection exception; 40: transaction rollback (serialization, deadlock);
    # 57P: operator intervention (admin shutdown, crash shutdown, cannot connect now).
    return isinstance(code, str) and code.startswith(("08", "40", "57P"))


def retry_transient(
    work: Callable[[], _T], *, what: str, give_up_after_s: float = 120.0, first_wait_s: float = 0.05
) -> _T:
    """Run ``work`` (one whole transaction or statement) and retry it with capped
    exponential backoff while the database error is transient, for up to
    ``give_up_after_s``; then the last error propagates. ``work`` must be safe to repeat:
    a compare-and-set or an idempotent write, whose first attempt may have committed."""
    deadline = time.monotonic() + give_up_after_s
    wait = first_wait_s
    attempt = 0
    while True:
        attempt += 1
        try:
            return work()
        except exc.SQLAlchemyError as error:
            if not is_transient(error) or time.monotonic() + wait > deadline:
                raise
            _log.warning(
                "transient database error; retrying",
                what=what,
                attempt=attempt,
                wait_s=round(wait, 3),
                error=f"{type(error).__name__}: {str(error).splitlines()[0][:200]}",
            )
            time.sleep(wait)
            wait = min(wait * 2, 2.0)
