"""Without Redis the server runs the one worker loop on a background thread: deciding
over HTTP answers as soon as the decision commits, and the tool, the resume and the
next model call happen on the worker thread afterwards."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from fastapi.testclient import TestClient
from langchain_core.messages import AIMessage, BaseMessage
from sqlalchemy.engine import Engine

from agents.models.scripted import ScriptedTurn
from api.main import create_app
from approvals.bus import LocalQueueBus
from foundation.users import create_user
from tests.api.client import USERS, Api
from tests.api.conftest import FAST
from tests.graph.harness import call, executions, open_harness, turn


def test_deciding_answers_before_the_run_moves_on(engine: Engine, tmp_path: Path) -> None:
    keys = {name: create_user(engine, name, role)[1] for name, role in USERS}
    url = engine.url.render_as_string(hide_password=False)
    released = threading.Event()
    called = threading.Event()

    def slow_model(_: list[BaseMessage]) -> AIMessage:
        called.set()
        released.wait(60)  # the model is slow until the test has its answer
        return AIMessage(content="refunded 500.00")

    script: list[ScriptedTurn] = [turn(call("refund", "r1", order_id=7, amount=500)), slow_model]
    with (
        open_harness(engine, url, tmp_path, script, bus=LocalQueueBus()) as rt,
        TestClient(create_app(runtime=rt, options=FAST)) as client,
    ):
        api = Api(client, rt, keys)
        thread = api.new_thread()
        sent = api.send(thread, "refund 500 on order 7")
        run = api.wait_run(sent["run_id"])
        assert run["status"] == "waiting", run
        approval = run["pending_approvals"][0]["id"]

        decided = api.post(f"/approvals/{approval}/decision", "adam", json={"action": "approve"})
        assert decided.status_code == 200, decided.text
        assert decided.json()["status"] == "approved"
        assert called.wait(30), "the worker thread never resumed the run"
        # The answer came back while the run's next model call is still under way.
        assert api.get(f"/runs/{sent['run_id']}", "aria").json()["status"] == "running"
        released.set()
        deadline = time.monotonic() + 30
        while api.get(f"/runs/{sent['run_id']}", "aria").json()["status"] != "completed":
            assert time.monotonic() < deadline, "the run did not complete on the worker thread"
            time.sleep(0.05)
        assert executions["refund"] == 1
