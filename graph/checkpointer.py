"""LangGraph checkpointers: SQLite beside the embedded database, PostgreSQL in production."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.postgres import PostgresSaver
from langgraph.checkpoint.sqlite import SqliteSaver
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from foundation.settings import Settings


@contextmanager
def open_checkpointer(settings: Settings) -> Iterator[BaseCheckpointSaver[str]]:
    if settings.is_sqlite:
        path = settings.sqlite_checkpoint_path
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(str(path), check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        try:
            saver = SqliteSaver(conn)
            saver.setup()
            yield saver
        finally:
            conn.close()
        return
    conninfo = settings.database_url.replace("postgresql+psycopg://", "postgresql://", 1)
    with ConnectionPool(
        conninfo,
        min_size=1,
        max_size=8,
        kwargs={"autocommit": True, "prepare_threshold": 0, "row_factory": dict_row},
        # A connection the server terminated (a restart, a failover, an admin) is
        # replaced before it is handed out, not failed on by a run.
        check=ConnectionPool.check_connection,
    ) as pool:
        pg_saver = PostgresSaver(pool)  # type: ignore[arg-type]
        pg_saver.setup()
        yield pg_saver
