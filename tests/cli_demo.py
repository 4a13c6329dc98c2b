"""Running the real `tethra` commands in-process on a fresh SQLite demo database."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from sqlmodel import Session, select
from typer.testing import CliRunner, Result

from foundation.db import create_db_engine
from tethra.cli import app
from tools.payments.models import Refund

runner = CliRunner()


def tethra(*args: str) -> Result:
    return runner.invoke(app, list(args), catch_exceptions=True)


@pytest.fixture
def demo_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """`tethra init` (schema, demo data, demo users) on a fresh SQLite file; its URL."""
    url = f"sqlite:///{tmp_path}/tethra.db"
    monkeypatch.setenv("TETHRA_DATABASE_URL", url)
    monkeypatch.setenv("TETHRA_MODEL", "offline")
    result = tethra("init")
    assert result.exit_code == 0, result.output
    assert "user adam" in result.output
    return url


def refunds(url: str, order_id: int) -> list[Decimal]:
    """The amounts refunded on an order, in the order they were made."""
    engine = create_db_engine(url)
    with Session(engine) as session:
        rows = [r.amount for r in session.exec(select(Refund).where(Refund.order_id == order_id))]
    engine.dispose()
    return rows
