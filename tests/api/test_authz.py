"""Who may call what: every endpoint x every role, plus separation of duties.

The world: olivia (operator) has a thread whose run waits on a refund
approval; oscar is another operator; adam and erin approve; aria audits; root is admin.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from foundation.ids import new_id
from tests.api.client import Api
from tests.api.conftest import OpenApi
from tests.graph.harness import call, executions, say, turn

WHO = ("olivia", "oscar", "adam", "aria", "root", None)
"""operator (owner), another operator, approver, auditor, admin, no key."""

MATRIX: list[tuple[str, str, dict[str, Any] | None, tuple[int, ...]]] = [
    ("GET", "/healthz", None, (200, 200, 200, 200, 200, 200)),
    ("GET", "/readyz", None, (200, 200, 200, 200, 200, 200)),
    ("GET", "/metrics", None, (200, 200, 200, 200, 200, 200)),
    ("GET", "/openapi.json", None, (200, 200, 200, 200, 200, 200)),
    ("POST", "/threads", None, (201, 201, 403, 403, 201, 401)),
    ("POST", "/threads/{new}/messages", {"text": "hi"}, (202, 202, 403, 403, 202, 401)),
    ("POST", "/threads/{thread}/messages", {"text": "hi"}, (409, 403, 403, 403, 409, 401)),
    ("GET", "/threads/{thread}/messages", None, (200, 403, 200, 200, 200, 401)),
    (
        "GET",
        "/threads/{thread}/stream?until=settled&timeout=5",
        None,
        (200, 403, 200, 200, 200, 401),
    ),
    ("GET", "/runs/{run}", None, (200, 403, 200, 200, 200, 401)),
    ("GET", "/runs/{run}/audit", None, (200, 403, 200, 200, 200, 401)),
    ("GET", "/approvals", None, (403, 403, 200, 200, 200, 401)),
    ("GET", "/approvals/{approval}", None, (403, 403, 200, 200, 200, 401)),
    (
        "POST",
        "/approvals/{approval}/decision",
        {"action": "deny", "comment": "no"},
        (403, 403, 200, 403, 200, 401),
    ),
    ("GET", "/audit/events", None, (403, 403, 403, 200, 200, 401)),
    ("GET", "/audit/verify", None, (403, 403, 403, 200, 200, 401)),
    ("GET", "/tools", None, (200, 200, 200, 200, 200, 401)),
    (
        "POST",
        "/policy/check",
        {"tool": "refund", "args": {"order_id": 1, "amount": 5}},
        (200, 200, 200, 200, 200, 401),
    ),
    ("POST", "/users", {"name": "nina", "role": "auditor"}, (403, 403, 403, 403, 201, 401)),
    ("GET", "/users", None, (403, 403, 403, 403, 200, 401)),
    ("GET", "/users/me", None, (200, 200, 200, 200, 200, 401)),
]
ROLE_INDEX = {who: i for i, who in enumerate(WHO)}


@dataclass
class World:
    api: Api
    ids: dict[str, str]


@pytest.fixture
def world(open_api: OpenApi) -> Iterator[World]:
    script = [turn(call("refund", "c1", order_id=7, amount=250)), say("ok"), say("ok")]
    with open_api(script) as api:
        thread = new_id("thread")
        out = api.rt.start_run(thread, "olivia", "refund $250 on order 7")
        assert out.status == "waiting"
        ids = {"thread": thread, "run": out.run_id, "approval": out.pending[0]["approval_id"]}
        yield World(api, ids)


@pytest.mark.parametrize("who", WHO, ids=str)
def test_every_endpoint_for_every_role(world: World, who: str | None) -> None:
    """One fresh world per role; each row is called once, so the one decision a role may
    make (and the one user root creates) cannot disturb another row's answer."""
    expected: dict[str, int] = {}
    got: dict[str, int] = {}
    for method, path, body, statuses in MATRIX:
        row = f"{method} {path}"
        url = path.format(new=new_id("thread"), **world.ids)
        response = world.api.call(method, url, who, json=body)
        expected[row], got[row] = statuses[ROLE_INDEX[who]], response.status_code
        if response.status_code >= 400:
            assert response.json()["error"]["message"], row
        if response.status_code == 401:
            assert response.headers["www-authenticate"] == "Bearer", row
    assert got == expected


def test_the_requester_never_approves_their_own_call(open_api: OpenApi) -> None:
    with open_api([turn(call("refund", "c1", order_id=7, amount=250)), say("done")]) as api:
        thread = api.new_thread("root")
        run = api.send(thread, "refund $250 on order 7", who="root")
        [pending] = api.wait_run(run["run_id"])["pending_approvals"]
        url = f"/approvals/{pending['id']}/decision"
        own = api.post(url, "root", json={"action": "approve"})
        assert own.status_code == 403
        assert "requester" in own.json()["error"]["message"]
        assert executions["refund"] == 0
        assert api.post(url, "adam", json={"action": "approve"}).status_code == 200
        assert executions["refund"] == 1


def test_two_of_m_needs_two_different_approvers(open_api: OpenApi) -> None:
    with open_api([turn(call("refund", "c1", order_id=7, amount=6000)), say("done")]) as api:
        run = api.send(api.new_thread(), "refund $6000 on order 7")
        [pending] = api.wait_run(run["run_id"])["pending_approvals"]
        assert pending["approvals_required"] == 2
        url = f"/approvals/{pending['id']}/decision"
        first = api.post(url, "adam", json={"action": "approve"})
        assert (first.status_code, first.json()["status"]) == (200, "pending")
        assert first.json()["approvals_so_far"] == 1
        again = api.post(url, "adam", json={"action": "approve"})
        assert again.status_code == 409
        assert "adam has already decided" in again.json()["error"]["message"]
        assert executions["refund"] == 0
        second = api.post(url, "erin", json={"action": "approve"})
        assert second.status_code == 200
        assert second.json()["status"] == "approved"
        assert executions["refund"] == 1
        assert api.wait_run(run["run_id"])["status"] == "completed"
