"""Managing people's API keys from the CLI: rotate, deactivate, reactivate, list."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from audit.models import AuditEvent
from foundation.db import create_db_engine
from foundation.errors import Forbidden, NotFound
from foundation.users import authenticate
from tests.cli_demo import demo_db, tethra

__all__ = ["demo_db"]  # the fixture, imported for this module


@pytest.fixture
def db(demo_db: str) -> Iterator[Engine]:
    engine = create_db_engine(demo_db)
    yield engine
    engine.dispose()


def created_key(name: str) -> str:
    result = tethra("users", "create", name, "--role", "approver")
    assert result.exit_code == 0, result.output
    return result.output.rsplit(" ", 1)[-1].strip()


def audited(engine: Engine, kind: str) -> list[dict[str, object]]:
    with Session(engine) as session:
        rows = session.exec(
            select(AuditEvent).where(AuditEvent.kind == kind).order_by(col(AuditEvent.seq))
        )
        return [dict(row.data) | {"actor": row.actor} for row in rows]


def test_a_rotated_key_replaces_the_old_one_at_once(db: Engine) -> None:
    old = created_key("dana")
    assert authenticate(db, old).name == "dana"

    result = tethra("users", "rotate-key", "dana")
    assert result.exit_code == 0, result.output
    new = re.search(r"(tk_\S+)", result.output).group(1)  # type: ignore[union-attr]
    assert new != old
    assert authenticate(db, new).name == "dana"
    with pytest.raises(Forbidden):
        authenticate(db, old)
    assert audited(db, "user_key_rotated") == [{"user": "dana", "actor": "cli"}]


def test_a_deactivated_user_is_refused_until_reactivated(db: Engine) -> None:
    key = created_key("dana")

    assert tethra("users", "deactivate", "dana").output.strip() == "dana is deactivated"
    with pytest.raises(Forbidden):
        authenticate(db, key)
    again = tethra("users", "deactivate", "dana")
    assert "already was" in again.output
    assert "dana             approver  deactivated" in tethra("users", "list").output

    assert tethra("users", "activate", "dana").exit_code == 0
    assert authenticate(db, key).name == "dana"  # the key they had works again
    assert [e["user"] for e in audited(db, "user_deactivated")] == ["dana"]  # once
    assert [e["user"] for e in audited(db, "user_activated")] == ["dana"]


def test_list_shows_roles_and_never_keys(db: Engine) -> None:
    key = created_key("dana")
    listing = tethra("users", "list").output
    assert "adam             approver  active" in listing
    assert "dana" in listing
    assert key not in listing
    assert "tk_" not in listing


def test_an_unknown_user_is_named_in_the_error(db: Engine) -> None:
    result = tethra("users", "rotate-key", "nobody")
    assert isinstance(result.exception, NotFound)
    assert "no user named 'nobody'" in str(result.exception)
