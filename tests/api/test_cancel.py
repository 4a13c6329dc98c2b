"""Cancelling a run: it ends as cancelled with who and why, nothing of it runs
afterwards, its pending requests are withdrawn, and only its requester or an admin may."""

from __future__ import annotations

from tests.api.conftest import OpenApi
from tests.graph.harness import call, executions, say, turn


def test_a_cancelled_run_runs_nothing_more(open_api: OpenApi) -> None:
    script = [turn(call("refund", "r1", order_id=7, amount=500)), say("should not be said")]
    with open_api(script) as api:
        thread = api.new_thread("olivia")
        sent = api.send(thread, "refund 500 on order 7")
        run = api.wait_run(sent["run_id"])
        assert run["status"] == "waiting"
        approval = run["pending_approvals"][0]["id"]

        assert api.post(f"/runs/{run['id']}/cancel", "oscar").status_code == 403
        assert api.post(f"/runs/{run['id']}/cancel", "adam").status_code == 403
        cancelled = api.post(
            f"/runs/{run['id']}/cancel", "olivia", json={"reason": "customer withdrew"}
        )
        assert cancelled.status_code == 200, cancelled.text
        body = cancelled.json()
        assert body["status"] == "cancelled"
        assert body["error"] == "cancelled by olivia: customer withdrew"
        assert body["pending_approvals"] == []

        assert api.get(f"/approvals/{approval}", "adam").json()["status"] == "withdrawn"
        late = api.post(f"/approvals/{approval}/decision", "adam", json={"action": "approve"})
        assert late.status_code == 409
        assert executions["refund"] == 0
        again = api.post(f"/runs/{run['id']}/cancel", "root")
        assert again.status_code == 409
        kinds = [e["kind"] for e in api.get(f"/runs/{run['id']}/audit", "aria").json()["events"]]
        assert kinds.count("run_stopped") == 1
        assert "approval_withdrawn" in kinds
        # The thread is free again.
        assert api.send(thread, "hello again")["status"] == "queued"
