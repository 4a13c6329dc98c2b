"""The migrations build exactly the schema the models describe, on both databases."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Engine

from foundation.db import migrate, schema_is_current
from tethra.migrations import load_all_models, owned_by_tethra


def test_migrated_schema_matches_the_models(engine: Engine) -> None:
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "include_name": owned_by_tethra}
        )
        diff = compare_metadata(context, load_all_models())
    assert diff == [], f"models changed without a migration: {diff}"


def test_schema_is_reported_current_and_migrate_is_idempotent(engine: Engine) -> None:
    assert schema_is_current(engine)
    migrate(engine)
    assert schema_is_current(engine)


def test_an_empty_database_is_not_current(tmp_path: object) -> None:
    from foundation.db import create_db_engine

    fresh = create_db_engine(f"sqlite:///{tmp_path}/empty.db")
    assert not schema_is_current(fresh)
    fresh.dispose()


def test_migrations_form_one_line() -> None:
    """Two migrations branching from one parent would leave `tethra init` with two heads."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from foundation.db import MIGRATIONS_DIR

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    heads = ScriptDirectory.from_config(cfg).get_heads()
    assert len(heads) == 1, f"migrations branch: heads {heads}; chain the newest onto the last"
