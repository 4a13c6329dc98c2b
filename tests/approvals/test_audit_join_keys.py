"""Approval audit events carry the call's join keys (issue 14): an auditor joins an
approval to the proposal, the policy decision and the execution of the same call by
``tool_call_id`` (and ``call_key``), not by guessing from the run and the tool."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.engine import Engine
from sqlmodel import Session

from approvals.deciding import decide
from approvals.service import expire_overdue, warn_expiring
from audit.queries import search_events
from tests.approvals.factories import make_request


def approval_events(engine: Engine) -> list[tuple[str, str, str | None, str | None]]:
    with Session(engine) as session:
        return [
            (e.kind, e.data["approval_id"], e.data.get("tool_call_id"), e.data.get("call_key"))
            for e in search_events(session, run_id="run_1")
            if e.kind.startswith("approval_")
        ]


def test_every_approval_event_names_its_tool_call(people: Engine) -> None:
    approved = make_request(people, key="k-approved")
    decide(people, approved.id, approver="adam", action="approve", comment="ok")
    denied = make_request(people, key="k-denied")
    decide(people, denied.id, approver="adam", action="deny", comment="no")
    lapsed = make_request(people, key="k-lapsed")
    warn_expiring(people, timedelta(minutes=15), now=lapsed.deadline - timedelta(minutes=5))
    expire_overdue(people, now=lapsed.deadline + timedelta(seconds=1))

    events = approval_events(people)
    assert sorted(kind for kind, *_ in events) == sorted(
        ["approval_requested"] * 3
        + ["approval_decision"] * 2
        + ["approval_expiring", "approval_expired"]
    )
    calls = {
        r.id: (f"call_{key}", key)
        for r, key in [(approved, "k-approved"), (denied, "k-denied"), (lapsed, "k-lapsed")]
    }
    for kind, approval_id, tool_call_id, call_key in events:
        assert (tool_call_id, call_key) == calls[approval_id], kind
