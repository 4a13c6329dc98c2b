"""Alembic environment: runs on the connection ``foundation.db.migrate`` hands over, or on
``TETHRA_DATABASE_URL`` when invoked as ``alembic -c tethra/migrations/alembic.ini``."""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from foundation.db import create_db_engine
from foundation.settings import load_settings
from tethra.migrations import load_all_models, owned_by_tethra

target_metadata = load_all_models()


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        include_name=owned_by_tethra,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    engine = create_db_engine(load_settings().database_url)
    with engine.begin() as conn:
        _run(conn)
    engine.dispose()
