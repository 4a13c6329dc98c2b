"""The OpenAPI document is complete: every route, examples, and the security scheme."""

from __future__ import annotations

from typing import Any

from tests.api.conftest import OpenApi

ROUTES = {
    ("/healthz", "get"),
    ("/readyz", "get"),
    ("/metrics", "get"),
    ("/threads", "post"),
    ("/threads/{thread_id}/messages", "post"),
    ("/threads/{thread_id}/messages", "get"),
    ("/threads/{thread_id}/stream", "get"),
    ("/approvals", "get"),
    ("/approvals/{approval_id}", "get"),
    ("/approvals/{approval_id}/decision", "post"),
    ("/runs/{run_id}", "get"),
    ("/runs/{run_id}/audit", "get"),
    ("/runs/{run_id}/cancel", "post"),
    ("/audit/events", "get"),
    ("/audit/verify", "get"),
    ("/costs", "get"),
    ("/costs/calls", "get"),
    ("/invoices", "post"),
    ("/invoices/batch", "post"),
    ("/invoices/holds", "get"),
    ("/invoices/holds/{hold_id}", "get"),
    ("/invoices/holds/{hold_id}/release", "post"),
    ("/invoices/holds/{hold_id}/correct", "post"),
    ("/invoices/holds/{hold_id}/reject", "post"),
    ("/invoices/spot-checks", "get"),
    ("/invoices/spot-checks/{spot_id}", "post"),
    ("/invoices/report", "get"),
    ("/tools", "get"),
    ("/tools", "post"),
    ("/tools/{name}", "get"),
    ("/tools/{name}/enable", "post"),
    ("/tools/{name}/disable", "post"),
    ("/policy/check", "post"),
    ("/users", "post"),
    ("/users", "get"),
    ("/users/me", "get"),
}


def test_openapi_lists_every_route_with_examples_and_security(open_api: OpenApi) -> None:
    with open_api([]) as api:
        response = api.get("/openapi.json", None)
        assert response.status_code == 200
        doc: dict[str, Any] = response.json()
    documented = {(path, method) for path, ops in doc["paths"].items() for method in ops}
    assert documented == ROUTES

    schemes = doc["components"]["securitySchemes"]
    assert schemes["ApiKeyBearer"] == {
        "type": "http",
        "scheme": "bearer",
        "description": schemes["ApiKeyBearer"]["description"],
    }
    assert schemes["ApiKeyHeader"]["in"] == "header"
    keyless = {("/healthz", "get"), ("/readyz", "get"), ("/metrics", "get")}
    for path, method in documented - keyless:
        op = doc["paths"][path][method]
        assert {"ApiKeyBearer": []} in op.get("security", []), (path, method)
        assert op["tags"], (path, method)
        assert op["summary"], (path, method)
    for path, method in keyless:
        assert "security" not in doc["paths"][path][method], path

    def body_examples(path: str) -> dict[str, Any]:
        content = doc["paths"][path]["post"]["requestBody"]["content"]["application/json"]
        examples: dict[str, Any] = content["examples"]
        return examples

    decision = body_examples("/approvals/{approval_id}/decision")
    assert set(decision) == {"approve", "deny", "edit"}
    assert decision["edit"]["value"]["args"]["amount"] == 120
    assert body_examples("/threads/{thread_id}/messages")["refund"]["value"]["text"]

    schemas = doc["components"]["schemas"]
    for name in ("MessageIn", "DecisionIn", "PolicyCheckIn", "UserCreateIn"):
        assert "examples" in schemas[name] or name == "DecisionIn", name
    for name in (
        "RunAccepted",
        "ApprovalOut",
        "RunOut",
        "ToolOut",
        "PolicyCheckOut",
        "AuditEventOut",
        "VerifyOut",
        "UserCreated",
        "ErrorBody",
    ):
        assert schemas[name]["examples"], name
    errors = doc["paths"]["/approvals/{approval_id}/decision"]["post"]["responses"]
    assert {"401", "403", "404", "409", "422"} <= set(errors)
    stream = doc["paths"]["/threads/{thread_id}/stream"]["get"]["responses"]["200"]
    assert "text/event-stream" in stream["content"]
