"""Throwaway PostgreSQL databases: one per test session, server-backed module or bench run,
so concurrent runs on the shared server never see each other's rows."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import create_engine, text

PG_ADMIN_URL = os.environ.get(
    "TETHRA_TEST_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


@contextmanager
def scratch_database(prefix: str, admin_url: str = PG_ADMIN_URL) -> Iterator[str]:
    """Create a database named ``<prefix>_<pid>_<random>``, yield its URL, drop it after
    (forcing out connections a killed process left behind)."""
    name = f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    # pool_pre_ping: the server may have restarted meanwhile (a fault test restarts it).
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT", pool_pre_ping=True)
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield admin_url.rsplit("/", 1)[0] + f"/{name}"
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()
