"""``tethra webhooks`` in-process on a fresh SQLite database (the sub-app, before it is
registered on the main command)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog
from typer.testing import CliRunner, Result

from foundation.db import create_db_engine, migrate
from foundation.errors import Forbidden, InvalidInput
from foundation.users import create_user
from tethra.cli.webhooks import app
from tethra.migrations import load_all_models

runner = CliRunner()


def webhooks(*args: str) -> Result:
    return runner.invoke(app, list(args), catch_exceptions=True)


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    url = f"sqlite:///{tmp_path}/tethra.db"
    monkeypatch.setenv("TETHRA_DATABASE_URL", url)
    engine = create_db_engine(url)
    migrate(engine)
    load_all_models().create_all(engine)  # until a migration creates the webhook tables
    create_user(engine, "root", "admin")
    create_user(engine, "adam", "approver")
    engine.dispose()
    # The CLI configures structlog to write to CliRunner's stderr, which closes after
    # the command; put back the configuration so later tests can still log.
    saved = structlog.get_config()
    yield
    structlog.configure(**saved)


@pytest.mark.usefixtures("db")
def test_add_list_rotate_disable_and_the_delivery_log() -> None:
    added = webhooks(
        "add",
        "https://hooks.example.test/x",
        "--as",
        "root",
        "--events",
        "approval.requested, approval.expired",
        "--format",
        "slack",
    )
    assert added.exit_code == 0, added.output
    hook_id = re.search(r"webhook (whk_\w+)", added.output).group(1)  # type: ignore[union-attr]
    secret = re.search(r"(whsec_\S+)", added.output).group(1)  # type: ignore[union-attr]
    assert "approval.expired, approval.requested" in added.output

    listed = webhooks("list")
    assert hook_id in listed.output
    assert "active" in listed.output
    assert "whsec_" not in listed.output  # the secret is shown once, never listed

    rotated = webhooks("rotate", hook_id)
    new = re.search(r"(whsec_\S+)", rotated.output).group(1)  # type: ignore[union-attr]
    assert new != secret

    assert "no dead deliveries" in webhooks("deliveries", "--status", "dead").output
    assert webhooks("disable", hook_id).exit_code == 0
    assert "disabled" in webhooks("list").output
    assert "delivered 0, retrying 0, dead 0" in webhooks("deliver").output


@pytest.mark.usefixtures("db")
def test_mistakes_are_user_errors() -> None:
    bad = webhooks("add", "https://h.test/x", "--as", "root", "--events", "approval.maybe")
    assert isinstance(bad.exception, InvalidInput)
    not_admin = webhooks("add", "https://h.test/x", "--as", "adam")
    assert isinstance(not_admin.exception, Forbidden)
    assert isinstance(webhooks("deliveries", "--status", "lost").exception, InvalidInput)
