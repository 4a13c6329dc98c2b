"""The SSE stream reads the trail, so it shows work done outside this request (another
process's resume), resumes from a cursor, and keeps idle connections alive."""

from __future__ import annotations

import threading

from foundation.ids import new_id
from tests.api.conftest import OpenApi
from tests.graph.harness import call, executions, say, turn


def test_stream_shows_a_resume_done_elsewhere_while_it_is_open(open_api: OpenApi) -> None:
    with open_api([turn(call("refund", "c1", order_id=7, amount=250)), say("done")]) as api:
        thread = new_id("thread")
        out = api.rt.start_run(thread, "olivia", "refund $250 on order 7")
        waited = api.events(f"/threads/{thread}/stream?until=settled&timeout=10", "olivia")
        last = waited[-1].id
        # Another process decides and resumes (here: the runtime, not this API request),
        # shortly after the client has connected.
        timer = threading.Timer(
            0.3,
            lambda: api.rt.decide(out.pending[0]["approval_id"], approver="erin", action="approve"),
        )
        timer.start()
        try:
            rest = api.events(f"/threads/{thread}/stream?after={last}&until=end&timeout=10", "aria")
        finally:
            timer.join()
        assert [e.event for e in rest] == [
            "approval_decision",
            "tool_executed",
            "model_call",
            "agent_message",
            "run_completed",
        ]
        assert executions["refund"] == 1
        assert rest[0].data["actor"] == "erin"


def test_an_idle_stream_sends_heartbeats_and_ends_at_its_timeout(open_api: OpenApi) -> None:
    with open_api([say("hi")]) as api:
        thread = new_id("thread")
        assert api.rt.start_run(thread, "olivia", "hello").status == "completed"
        with api.client.stream(
            "GET", f"/threads/{thread}/stream?timeout=0.7", headers=api.auth("olivia")
        ) as response:
            lines = list(response.iter_lines())
        events = [line for line in lines if line.startswith("event: ")]
        assert events[-1] == "event: run_completed"
        assert ": keep-alive" in lines
        assert "retry: 2000" in lines
        last_id = [line for line in lines if line.startswith("id: ")][-1].removeprefix("id: ")
        with api.client.stream(
            "GET",
            f"/threads/{thread}/stream?timeout=0.1",
            headers={**api.auth("olivia"), "Last-Event-ID": last_id},
        ) as response:
            assert not [line for line in response.iter_lines() if line.startswith("event: ")]
