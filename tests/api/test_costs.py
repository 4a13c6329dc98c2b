"""GET /costs and /costs/calls: spend by any key, for auditors; bad input is a 422."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from audit.costs import CallCost, add_cost
from audit.models import AuditEvent
from audit.prices import TokenUsage
from foundation.db import session_scope
from tests.api.conftest import OpenApi
from tests.graph.harness import say


def test_spend_by_key_and_per_call_for_auditors(open_api: OpenApi, engine: Engine) -> None:
    with open_api([say("hello")]) as api:
        thread = api.new_thread()
        run_id = api.send(thread, "hi")["run_id"]
        assert api.wait_run(run_id)["status"] == "completed"
        with session_scope(engine) as session:  # a priced call on another day, by finance
            add_cost(
                session,
                CallCost(
                    "run_x",
                    "th_x",
                    "finance",
                    "invoice",
                    "offline",
                    "v1",
                    True,
                    TokenUsage(1000, 100, 400),
                    1_240_000_000,
                ),
                "evt_priced",
                datetime(2026, 1, 15, 9, tzinfo=UTC),
            )

        by_agent = api.get("/costs", "aria", params={"by": "agent"})
        assert by_agent.status_code == 200, by_agent.text
        rows = {r["key"]: r for r in by_agent.json()["rows"]}
        assert rows["finance"]["cost_usd"] == "0.00124"
        assert rows["finance"]["cached_input_tokens"] == 400
        assert rows["ops"]["unpriced_calls"] == 1  # the harness's scripted model has no price
        assert rows["ops"]["cost_usd"] == "0"

        by_day = api.get("/costs", "root", params={"by": "day", "until": "2026-01-15"}).json()
        assert [r["key"] for r in by_day["rows"]] == ["2026-01-15"]

        per_call = api.get("/costs/calls", "aria", params={"run_id": run_id})
        assert per_call.status_code == 200, per_call.text
        [call] = per_call.json()
        assert call["cost_usd"] is None
        with Session(engine) as session:
            event = session.exec(
                select(AuditEvent).where(col(AuditEvent.id) == call["event_id"])
            ).one()
        assert event.kind == "model_call"
        assert event.data["input_tokens"] == call["input_tokens"]

        assert api.get("/costs", "olivia").status_code == 403
        assert api.get("/costs", None).status_code == 401
        bad = api.get("/costs", "aria", params={"by": "colour"})
        assert bad.status_code == 422
        assert api.get("/costs", "aria", params={"since": "yesterday"}).status_code == 422
        assert api.get("/costs/calls", "aria", params={"limit": 0}).status_code == 422
