"""Bad input is a 4xx JSON error that says what is wrong, never a 500."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.routers import tools as tools_router
from foundation.errors import ConfigError
from tests.api.client import Api
from tests.api.conftest import OpenApi
from tests.graph.harness import call, turn

APR = "/approvals/{approval}/decision"
# (method, path, who, request kwargs, status, words the message must contain)
BAD: list[tuple[str, str, str | None, dict[str, Any], int, str]] = [
    (
        "POST",
        "/threads/{thread}/messages",
        "olivia",
        {"content": b"{not json", "headers": {"content-type": "application/json"}},
        422,
        "not valid JSON",
    ),
    ("POST", "/threads/{thread}/messages", "olivia", {"json": {"text": 5}}, 422, "body.text"),
    (
        "POST",
        "/threads/{thread}/messages",
        "olivia",
        {"json": {}},
        422,
        "body.text: Field required",
    ),
    ("POST", "/threads/{thread}/messages", "olivia", {"json": {"text": "   "}}, 422, "empty"),
    ("POST", "/threads/bad%20id/messages", "olivia", {"json": {"text": "x"}}, 422, "thread_id"),
    ("POST", APR, "adam", {"json": {"action": "maybe"}}, 422, "body.action"),
    ("POST", APR, "adam", {"json": {"action": "edit"}}, 422, "needs the edited 'args'"),
    ("POST", APR, "adam", {"json": {"action": "approve", "argz": {}}}, 422, "body.argz"),
    (
        "POST",
        APR,
        "adam",
        {"json": {"action": "edit", "args": {"order_id": "x"}}},
        422,
        "invalid arguments for refund",
    ),
    (
        "POST",
        "/approvals/apr_0000000000000000ffffffff/decision",
        "adam",
        {"json": {"action": "approve"}},
        404,
        "no approval request",
    ),
    ("GET", "/approvals/apr_nope", "adam", {}, 404, "no approval request 'apr_nope'"),
    ("GET", "/approvals?cursor=xyz", "adam", {}, 422, "query.cursor"),
    ("GET", "/approvals?limit=0", "adam", {}, 422, "query.limit"),
    ("GET", "/approvals?limit=201", "adam", {}, 422, "query.limit"),
    ("GET", "/approvals?status=lost", "adam", {}, 422, "query.status"),
    ("GET", "/audit/events?cursor=abc", "aria", {}, 422, "query.cursor"),
    ("GET", "/audit/events?since=2026-01-01T00:00:00", "aria", {}, 422, "timezone-aware"),
    ("GET", "/runs/run_nope", "aria", {}, 404, "no run 'run_nope'"),
    ("GET", "/threads/thread_nope/messages", "aria", {}, 404, "no thread"),
    (
        "GET",
        "/threads/{thread}/stream",
        "olivia",
        {"headers": {"Last-Event-ID": "x"}},
        422,
        "last-event-id",
    ),
    (
        "POST",
        "/policy/check",
        "aria",
        {"json": {"tool": "teleport", "args": {}}},
        422,
        "'teleport' is not registered",
    ),
    (
        "POST",
        "/policy/check",
        "aria",
        {"json": {"tool": "refund", "args": {"amount": -1}}},
        422,
        "invalid arguments for refund",
    ),
    (
        "POST",
        "/policy/check",
        "aria",
        {"json": {"tool": "teleport", "effect": "magic", "args": {}}},
        422,
        "effect must be one of",
    ),
    ("POST", "/users", "root", {"json": {"name": "x y", "role": "auditor"}}, 422, "body.name"),
    ("POST", "/users", "root", {"json": {"name": "nina", "role": "king"}}, 422, "body.role"),
    (
        "POST",
        "/users",
        "root",
        {"json": {"name": "adam", "role": "auditor"}},
        409,
        "already exists",
    ),
    ("GET", "/users/me", None, {"headers": {"Authorization": "Bearer tk_wrong"}}, 401, "unknown"),
    ("GET", "/users/me", None, {}, 401, "missing API key"),
    ("GET", "/nowhere", "aria", {}, 404, "Not Found"),
    ("DELETE", "/tools", "aria", {}, 405, "Method Not Allowed"),
]


@pytest.fixture
def waiting(open_api: OpenApi) -> Iterator[tuple[Api, dict[str, str]]]:
    """A thread whose run waits on an approval, to aim bad requests at."""
    with open_api([turn(call("refund", "c1", order_id=7, amount=250))]) as api:
        thread = api.new_thread()
        run = api.send(thread, "refund $250 on order 7")
        [pending] = api.wait_run(run["run_id"])["pending_approvals"]
        yield api, {"thread": thread, "approval": pending["id"]}


def test_bad_input_is_a_4xx_that_says_what_is_wrong(waiting: tuple[Api, dict[str, str]]) -> None:
    api, ids = waiting
    problems = []
    for method, path, who, kwargs, status, words in BAD:
        url = path.format(**ids)
        response = api.call(method, url, who, **kwargs)
        error = response.json().get("error", {})
        if response.status_code != status or words.lower() not in error.get("message", "").lower():
            problems.append((method, url, response.status_code, error))
    assert problems == []


def test_server_errors_are_json_and_only_config_errors_explain_themselves(
    open_api: OpenApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_: object) -> None:
        raise RuntimeError("password=hunter2")

    def misconfigured(*_: object) -> None:
        raise ConfigError("policy file /etc/tethra/policy.yaml: rule 'x' does not compile")

    with open_api([]) as api:
        client = TestClient(api.client.app, raise_server_exceptions=False)
        headers = api.auth("aria")
        monkeypatch.setattr(tools_router, "tool_out", broken)
        bug = client.get("/tools", headers=headers)
        assert (bug.status_code, bug.json()["error"]["type"]) == (500, "InternalError")
        assert "hunter2" not in bug.text
        monkeypatch.setattr(tools_router, "tool_out", misconfigured)
        config = client.get("/tools", headers=headers)
        assert (config.status_code, config.json()["error"]["type"]) == (500, "ConfigError")
        assert "does not compile" in config.json()["error"]["message"]
