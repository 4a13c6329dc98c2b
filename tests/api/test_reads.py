"""What the read endpoints show: the inbox with filters and cursors, an approval's
context, audit search and verification, the tool catalogue and the policy dry-run."""

from __future__ import annotations

from foundation.ids import new_id
from tests.api.conftest import OpenApi
from tests.graph.harness import call, turn


def test_approval_inbox_filters_pages_and_shows_context(open_api: OpenApi) -> None:
    script = [turn(call("refund", f"c{i}", order_id=7, amount=200 + i)) for i in range(3)]
    with open_api(script) as api:
        for requester in ("olivia", "olivia", "root"):
            assert api.rt.start_run(new_id("thread"), requester, "refund").status == "waiting"
        first = api.get("/approvals?limit=2", "aria").json()
        assert len(first["items"]) == 2
        rest = api.get(f"/approvals?limit=2&cursor={first['next_cursor']}", "aria").json()
        assert (len(rest["items"]), rest["next_cursor"]) == (1, None)
        ids = [a["id"] for a in first["items"] + rest["items"]]
        assert ids == sorted(ids)
        assert len(api.get("/approvals?requester=root", "adam").json()["items"]) == 1
        assert api.get("/approvals?tool=lookup", "adam").json()["items"] == []
        assert api.get("/approvals?status=approved", "adam").json()["items"] == []
        assert len(api.get("/approvals?status=all&agent=ops", "adam").json()["items"]) == 3

        detail = api.get(f"/approvals/{ids[0]}", "adam").json()
        assert (detail["tier"], detail["rule"], detail["tool"]) == ("review", "large", "refund")
        assert detail["args"] == {"order_id": 7, "amount": "200.00"}
        assert (detail["requester"], detail["approvals_so_far"], detail["decisions"]) == (
            "olivia",
            0,
            [],
        )
        assert [m["role"] for m in detail["thread_context"]] == ["user", "assistant"]
        assert detail["thread_context"][1]["tool_calls"][0]["name"] == "refund"

        edited = api.post(
            f"/approvals/{ids[0]}/decision",
            "adam",
            json={"action": "edit", "args": {"order_id": 7, "amount": 150}, "comment": "less"},
        ).json()
        assert edited["original_args"] == {"order_id": 7, "amount": "200.00"}
        assert edited["args"]["amount"] == "150.00"


def test_audit_search_pages_by_seq_and_the_chain_verifies(open_api: OpenApi) -> None:
    with open_api([turn(call("refund", "c1", order_id=7, amount=250))]) as api:
        out = api.rt.start_run(new_id("thread"), "olivia", "refund")
        page = api.get(f"/audit/events?run_id={out.run_id}&limit=3", "aria").json()
        assert [e["kind"] for e in page["items"]] == ["run_started", "user_message", "model_call"]
        nxt = api.get(f"/audit/events?run_id={out.run_id}&cursor={page['next_cursor']}", "aria")
        kinds = [e["kind"] for e in nxt.json()["items"]]
        assert kinds[-1] == "run_waiting"
        assert nxt.json()["next_cursor"] is None
        decisions = api.get("/audit/events?kind=policy_decision", "root").json()["items"]
        assert "refund -> review (rule large" in decisions[0]["text"]
        assert api.get("/audit/events?since=2999-01-01T00:00:00Z", "aria").json()["items"] == []
        report = api.get("/audit/verify", "aria").json()
        assert (report["ok"], report["problems"]) == (True, [])
        assert report["checked"] == report["last_seq"] > 0


def test_tools_show_their_classification_and_policy_check_dry_runs(open_api: OpenApi) -> None:
    with open_api([]) as api:
        tools = {t["name"]: t for t in api.get("/tools", "olivia").json()}
        refund = tools["refund"]
        assert (refund["system"], refund["effect"], refund["owner"]) == ("test", "money", "tests")
        assert set(refund["args_schema"]["properties"]) == {"order_id", "amount"}
        rules = {r["id"]: r for r in refund["policy"]["rules"]}
        assert set(rules) == {"small", "large", "double", "huge"}
        assert (rules["double"]["tier"], rules["double"]["approvals_required"]) == ("review", 2)
        assert refund["policy"]["fallback"]["id"] == "default-review"
        assert tools["lookup"]["policy"]["fallback"]["tier"] == "allow"
        assert tools["mystery_write"]["policy"]["rules"] == []

        def check(body: dict[str, object]) -> dict[str, object]:
            response = api.post("/policy/check", "olivia", json=body)
            assert response.status_code == 200, response.text
            result: dict[str, object] = response.json()
            return result

        large = check({"tool": "refund", "args": {"order_id": 1, "amount": 250}})
        assert (large["tier"], large["rule"], large["approvals_required"]) == ("review", "large", 1)
        assert str(large["policy_version"]).startswith("test+")
        assert (
            check({"tool": "refund", "args": {"order_id": 1, "amount": 6000}})["rule"] == "double"
        )
        assert check({"tool": "refund", "args": {"order_id": 1, "amount": 20000}})["tier"] == "deny"
        other = check({"tool": "teleport", "effect": "write"})
        assert (other["tier"], other["rule"], other["registered"]) == (
            "review",
            "default-review",
            False,
        )
        assert api.get("/audit/events?kind=policy_decision", "aria").json()["items"] == []
