"""A risky chat end to end over HTTP: the stream shows the wait, another person
approves, the call runs exactly once and the run completes."""

from __future__ import annotations

from tests.api.conftest import OpenApi
from tests.graph.harness import call, executions, say, turn


def test_risky_call_waits_streams_and_executes_once_after_approval(open_api: OpenApi) -> None:
    script = [turn(call("refund", "c1", order_id=7, amount=250)), say("Refunded $250.")]
    with open_api(script) as api:
        thread = api.new_thread("olivia")
        accepted = api.send(thread, "refund $250 on order 7")
        assert accepted["thread_id"] == thread
        assert accepted["status_url"] == f"/runs/{accepted['run_id']}"

        waiting = api.events(
            f"/threads/{thread}/stream?until=settled&timeout=10", "olivia", stop="run_waiting"
        )
        kinds = [e.event for e in waiting]
        assert kinds[:2] == ["run_started", "user_message"]
        assert kinds[-1] == "run_waiting"
        requested = next(e for e in waiting if e.event == "approval_requested")
        approval_id = requested.data["data"]["approval_id"]
        assert requested.id == str(requested.data["seq"])
        assert "refund waits for 1 approver approval(s)" in requested.data["text"]
        assert executions["refund"] == 0

        run = api.get(accepted["status_url"], "olivia").json()
        assert run["status"] == "waiting"
        assert [a["id"] for a in run["pending_approvals"]] == [approval_id]

        decision = api.post(
            f"/approvals/{approval_id}/decision",
            "adam",
            json={"action": "approve", "comment": "ok"},
        )
        assert decision.status_code == 200, decision.text
        assert decision.json()["decisions"][0]["approver"] == "adam"

        rest = api.events(
            f"/threads/{thread}/stream?until=end&timeout=10",
            "olivia",
            headers={"Last-Event-ID": str(waiting[-1].id)},
        )
        later = [e.event for e in rest]
        assert later[0] == "approval_decision"
        assert later.count("tool_executed") == 1
        assert later[-1] == "run_completed"
        assert all(int(str(e.id)) > int(str(waiting[-1].id)) for e in rest)
        assert executions["refund"] == 1
        assert api.wait_run(accepted["run_id"])["status"] == "completed"

        # The run's own stream_url replays it from its first event to its end.
        whole = api.events(accepted["stream_url"] + "&timeout=10", "olivia")
        assert (whole[0].event, whole[-1].event) == ("run_started", "run_completed")

        trace = api.get(f"/runs/{accepted['run_id']}/audit", "adam").json()["events"]
        assert [e["kind"] for e in trace].count("tool_executed") == 1
        assert any("adam approved" in e["text"] for e in trace)

        messages = api.get(f"/threads/{thread}/messages", "olivia").json()["messages"]
        assert [m["role"] for m in messages] == ["user", "assistant", "tool", "assistant"]
        assert messages[1]["tool_calls"][0]["name"] == "refund"
        assert (messages[2]["name"], messages[2]["status"]) == ("refund", "success")
        assert messages[-1]["content"] == "Refunded $250."


def test_a_busy_thread_refuses_a_second_message_at_once(open_api: OpenApi) -> None:
    with open_api([turn(call("refund", "c1", order_id=7, amount=250))]) as api:
        thread = api.new_thread()
        first = api.send(thread, "refund $250 on order 7")
        assert api.wait_run(first["run_id"])["status"] == "waiting"
        again = api.post(f"/threads/{thread}/messages", "olivia", json={"text": "and another"})
        assert again.status_code == 409
        assert "waiting" in again.json()["error"]["message"]
