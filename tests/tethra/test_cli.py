"""The CLI story from the README: small refund runs, large refund waits for another person.

Runs the real commands in-process on a fresh SQLite database with the offline model
and the seeded demo data.
"""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

import pytest
from sqlmodel import Session, select
from typer.testing import CliRunner, Result

from tethra.cli import app
from tethra.db import create_db_engine
from tethra.errors import Forbidden
from tools.payments.models import Refund

runner = CliRunner()


def tethra(*args: str) -> Result:
    return runner.invoke(app, list(args), catch_exceptions=True)


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path}/tethra.db"
    monkeypatch.setenv("TETHRA_DATABASE_URL", url)
    monkeypatch.setenv("TETHRA_MODEL", "offline")
    result = tethra("init")
    assert result.exit_code == 0, result.output
    assert "user adam" in result.output
    return url


def refunds(url: str, order_id: int) -> list[Refund]:
    engine = create_db_engine(url)
    with Session(engine) as session:
        rows = list(session.exec(select(Refund).where(Refund.order_id == order_id)))
    engine.dispose()
    return rows


def test_small_refund_runs_large_waits_for_another_person(db: str) -> None:
    small = tethra("chat", "--as", "olivia", "-m", "refund $40 on order 1043")
    assert small.exit_code == 0, small.output
    assert [r.amount for r in refunds(db, 1043)] == [Decimal("40.00")]

    large = tethra("chat", "--as", "olivia", "--no-wait", "-m", "refund $300 on order 1042")
    assert "waiting for approval" in large.output, large.output
    approval_id = re.search(r"(apr_[0-9a-f]+)", large.output).group(1)  # type: ignore[union-attr]
    run_id = re.search(r"run (run_[0-9a-f]+)", tethra("approvals", "show", approval_id).output)
    assert run_id is not None
    assert approval_id in tethra("approvals", "list").output
    assert refunds(db, 1042) == []

    own = tethra("approvals", "approve", approval_id, "--as", "olivia")
    assert isinstance(own.exception, Forbidden)
    assert refunds(db, 1042) == []

    approved = tethra("approvals", "approve", approval_id, "--as", "adam", "-c", "dup charge")
    assert approved.exit_code == 0, approved.output
    assert f"run {run_id.group(1)} is completed" in approved.output
    assert [r.amount for r in refunds(db, 1042)] == [Decimal("300.00")]

    again = tethra("approvals", "approve", approval_id, "--as", "erin")
    assert "already executed" in str(again.exception)
    assert len(refunds(db, 1042)) == 1

    story = tethra("audit", "show", run_id.group(1))
    assert story.exit_code == 0, story.output
    for expected in ("refund-large", "adam", "dup charge", "refund_order"):
        assert expected in story.output
    verified = tethra("audit", "verify")
    assert "audit chain intact" in verified.output


def test_a_denial_is_explained_to_the_agent(db: str) -> None:
    large = tethra("chat", "--as", "olivia", "--no-wait", "-m", "refund $300 on order 1042")
    approval_id = re.search(r"(apr_[0-9a-f]+)", large.output).group(1)  # type: ignore[union-attr]
    denied = tethra("approvals", "deny", approval_id, "--as", "erin", "-c", "bank refunded it")
    assert denied.exit_code == 0, denied.output
    assert refunds(db, 1042) == []
    history = tethra("audit", "search", "--kind", "tool_denied")
    assert "bank refunded it" in history.output


def test_policy_check_answers_for_a_hypothetical_call(db: str) -> None:
    out = tethra(
        "policy",
        "check",
        "refund_order",
        "--args",
        '{"order_id": 1042, "amount": 250, "reason": "dup"}',
    )
    assert out.exit_code == 0, out.output
    assert "tier    review" in out.output
    assert "rule    refund-large" in out.output
    unknown = tethra("policy", "check", "wire_money", "--effect", "money")
    assert "default-review" in unknown.output
