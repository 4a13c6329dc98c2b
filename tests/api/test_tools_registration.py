"""POST /tools and enable/disable: admins only, disabled at first, classification shown,
bad definitions a clear 4xx that stores nothing."""

from __future__ import annotations

from typing import Any

from tests.api.conftest import OpenApi

PARCELS = {"kind": "python", "module": "tools.examples.parcels:TOOLS"}


def _error(body: dict[str, Any]) -> str:
    message: str = body["error"]["message"]
    return message


def test_an_admin_registers_reviews_and_enables_a_tool(open_api: OpenApi) -> None:
    with open_api([]) as api:
        assert api.post("/tools", "olivia", json=PARCELS).status_code == 403
        assert api.post("/tools", "adam", json=PARCELS).status_code == 403

        created = api.post("/tools", "root", json=PARCELS, headers={"Idempotency-Key": "k1"})
        assert created.status_code == 201, created.text
        tools = {t["name"]: t for t in created.json()["tools"]}
        assert set(tools) == {"track_parcel", "schedule_pickup"}
        assert not any(t["enabled"] for t in tools.values())
        again = api.post("/tools", "root", json=PARCELS, headers={"Idempotency-Key": "k1"})
        assert again.status_code == 201
        assert again.json() == created.json()

        shown = api.get("/tools/schedule_pickup", "olivia").json()
        assert shown["kind"] == "python"
        assert shown["created_by"] == "root"
        assert (shown["effect"], shown["effect_source"]) == ("write", "declared")
        assert shown["policy"]["fallback"]["tier"] == "review"  # no rule: a person reviews
        assert shown["args_schema"]["required"] == ["order_id", "day"]
        listed = {t["name"]: t["enabled"] for t in api.get("/tools", "aria").json()}
        assert listed["schedule_pickup"] is False
        assert listed["lookup"] is True

        stale = api.post(
            "/tools/schedule_pickup/enable", "root", json={"policy_version": "old+000000000000"}
        )
        assert stale.status_code == 409
        assert "classification again" in _error(stale.json())
        assert api.post("/tools/schedule_pickup/enable", "adam").status_code == 403
        version = shown["policy"]["policy_version"]
        enabled = api.post(
            "/tools/schedule_pickup/enable", "root", json={"policy_version": version}
        )
        assert enabled.status_code == 200
        assert enabled.json()["enabled"] is True
        assert api.get("/tools/schedule_pickup", "aria").json()["changed_by"] == "root"

        disabled = api.post("/tools/schedule_pickup/disable", "root")
        assert disabled.json()["enabled"] is False
        kinds = [
            e["kind"]
            for e in api.get("/audit/events", "aria", params={"kind": "tool_enabled"}).json()[
                "items"
            ]
        ]
        assert kinds == ["tool_enabled"]


def test_bad_definitions_are_a_clear_4xx_and_store_nothing(open_api: OpenApi) -> None:
    with open_api([]) as api:
        cases = [
            ({"kind": "python", "module": "nowhere.at_all"}, 422, "cannot import"),
            ({"kind": "python"}, 422, "exactly one of module"),
            ({"kind": "ftp", "url": "x"}, 422, "kind"),
            (
                {
                    "kind": "openapi",
                    "spec": "http://127.0.0.1:9/openapi.json",
                    "operations": ["x"],
                    "system": "s",
                    "owner": "o",
                },
                422,
                "cannot fetch the OpenAPI document",
            ),
            (
                {
                    "kind": "http",
                    "name": "lookup",
                    "description": "clashes with a tool that exists",
                    "method": "GET",
                    "url": "http://127.0.0.1:9/",
                    "system": "s",
                    "owner": "o",
                },
                409,
                "'lookup' already exists",
            ),
        ]
        for body, status, message in cases:
            response = api.post("/tools", "root", json=body)
            assert response.status_code == status, (body, response.text)
            assert message in response.text, response.text
        assert all(t["kind"] == "builtin" for t in api.get("/tools", "aria").json())
        missing = api.post("/tools/nothing/enable", "root")
        assert missing.status_code == 404
        assert api.get("/tools/nothing", "aria").status_code == 404
