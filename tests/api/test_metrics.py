"""``/metrics`` after a scripted approval flow: the figures an operator would graph.

Values are read back with Prometheus's own text parser, so a malformed exposition
fails here before it fails a scrape.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import redis
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import col

from api.main import create_app
from approvals.ap_models import InvoiceHold
from approvals.events import RunResume
from approvals.holds import NewHold, decide_hold, open_hold
from approvals.keys import RedisKeys
from approvals.redis_bus import RedisBus
from audit.trail import Event, record_many, record_now
from foundation.db import session_scope, utcnow
from graph.records import ToolCallRecord
from policies.checks.results import Finding
from tests.api.client import Api
from tests.api.conftest import FAST, OpenApi
from tests.graph.harness import call, executions, open_harness, say, turn

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(api: Api | TestClient) -> Samples:
    client = api.client if isinstance(api, Api) else api
    response = client.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    out: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            out[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return out


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


def test_metrics_follow_a_request_through_approval_and_execution(open_api: OpenApi) -> None:
    script = [
        turn(call("refund", "c1", order_id=7, amount=250)),
        say("Refunded $250."),
        turn(call("refund", "c2", order_id=8, amount=40)),
        say("Refunded $40."),
    ]
    with open_api(script) as api:
        thread = api.new_thread("olivia")
        first = api.send(thread, "refund $250 on order 7")
        assert api.wait_run(first["run_id"])["status"] == "waiting"

        waiting = scrape(api)
        assert value(waiting, "tethra_approvals_pending", tier="review") == 1
        assert (
            value(waiting, "tethra_approvals_pending_oldest_age_seconds", tier="review") or 0
        ) >= 0
        assert value(waiting, "tethra_approvals_pending_age_seconds_gcount", tier="review") == 1
        assert value(waiting, "tethra_approval_decision_seconds_count") == 0
        assert (
            value(waiting, "tethra_tool_executions_total", tool="refund", outcome="succeeded")
            is None
        )
        assert value(waiting, "tethra_model_calls_total", agent="ops", model="scripted") == 1
        assert (
            value(waiting, "tethra_model_tokens_total", agent="ops", model="scripted", type="input")
            or 0
        ) > 0

        pending = api.get("/approvals", "adam").json()["items"]
        decided = api.post(
            f"/approvals/{pending[0]['id']}/decision", "adam", json={"action": "approve"}
        )
        assert decided.status_code == 200, decided.text
        assert api.wait_run(first["run_id"])["status"] == "completed"
        assert executions["refund"] == 1
        second = api.send(thread, "refund $40 on order 8")  # allowed: no approval
        assert api.wait_run(second["run_id"])["status"] == "completed"

        done = scrape(api)
    assert value(done, "tethra_approvals_pending", tier="review") is None  # none left
    assert value(done, "tethra_approval_decision_seconds_count") == 1
    assert value(done, "tethra_approval_decision_seconds_bucket", le="+Inf") == 1
    assert value(done, "tethra_approval_to_execution_seconds_count") == 1
    assert (value(done, "tethra_approval_to_execution_seconds_sum") or -1) >= 0
    assert value(done, "tethra_tool_executions_total", tool="refund", outcome="succeeded") == 2
    assert value(done, "tethra_model_calls_total", agent="ops", model="scripted") == 4
    assert value(done, "tethra_model_calls_unpriced_total", agent="ops", model="scripted") == 4
    assert value(done, "tethra_outbox_unpublished") == 0
    for source in ("approvals", "executions", "models", "alerts", "delivery", "bus"):
        assert value(done, "tethra_metrics_source_up", source=source) == 1, source


def test_cost_cap_warnings_and_holds_are_counted(open_api: OpenApi, engine: Engine) -> None:
    warn = {"scope": "run", "subject": "run_x", "threshold": 85}
    record_now(engine, kind="budget_warning", actor="system", data=warn)
    record_now(engine, kind="budget_warning", actor="system", data={**warn, "threshold": 95})
    record_now(engine, kind="budget_exceeded", actor="system", data={"scope": "agent"})
    first = _hold(engine, "run_h1", ["price_mismatch"], "120.00")
    _hold(engine, "run_h2", ["price_mismatch", "unknown_supplier"], "80.50")
    with open_api([]) as api:
        samples = scrape(api)
        decide_hold(engine, first.id, person="adam", action="reject", note="not ours")
        after = scrape(api)
    assert value(samples, "tethra_cost_cap_warnings_total", scope="run", threshold="85") == 1
    assert value(samples, "tethra_cost_cap_warnings_total", scope="run", threshold="95") == 1
    assert value(samples, "tethra_cost_cap_stops_total", scope="agent") == 1
    assert value(samples, "tethra_holds_total", reason="price_mismatch") == 2
    assert value(samples, "tethra_holds_total", reason="unknown_supplier") == 1
    assert value(samples, "tethra_holds_open", reason="price_mismatch") == 2
    assert value(samples, "tethra_holds_open_amount", currency="EUR") == 200.5
    assert value(after, "tethra_holds_total", reason="price_mismatch") == 2
    assert value(after, "tethra_holds_open", reason="price_mismatch") == 1
    assert value(after, "tethra_holds_open_amount", currency="EUR") == 80.5


def _hold(engine: Engine, run_id: str, reasons: list[str], stake: str) -> InvoiceHold:
    invoice = {"supplier_id": 7, "invoice_number": run_id, "currency": "EUR", "total": stake}
    findings = [Finding(check=r, reason=r, passed=False) for r in reasons]
    events: list[Event] = []
    with session_scope(engine) as session:
        new = NewHold(run_id, "inv-" + run_id, 1, "olivia", invoice, findings, Decimal(stake))
        hold = open_hold(session, new, events)
        record_many(session, events)
    return hold


def test_bus_backlog_dead_letters_and_workers_come_from_redis(
    engine: Engine, redis_client: redis.Redis, redis_keys: RedisKeys, tmp_path: Path
) -> None:
    bus = RedisBus(redis_client, redis_keys)
    bus.ensure_group()
    bus.publish(RunResume(run_id="run_1", thread_id="th_1"))
    bus.publish(RunResume(run_id="run_2", thread_id="th_2"))
    redis_client.xadd(redis_keys.dead_letters, {"event": b"{}", "error": b"poison"})
    redis_client.set(redis_keys.worker_heartbeat("w1"), "1", ex=30)
    url = engine.url.render_as_string(hide_password=False)
    with (
        open_harness(engine, url, tmp_path, [], bus=bus) as rt,
        TestClient(create_app(runtime=rt, options=FAST)) as client,
    ):
        samples = scrape(client)
    assert value(samples, "tethra_bus_backlog", state="undelivered") == 2
    assert value(samples, "tethra_bus_backlog", state="unacked") == 0
    assert value(samples, "tethra_bus_dead_letters") == 1
    assert value(samples, "tethra_workers_alive") == 1


def test_a_call_stranded_past_its_lease_shows_as_stuck(open_api: OpenApi) -> None:
    with open_api([turn(call("refund", "c1", order_id=7, amount=40)), say("ok")]) as api:
        thread = api.new_thread("olivia")
        run = api.send(thread, "refund $40 on order 7")
        assert api.wait_run(run["run_id"])["status"] == "completed"
        assert value(scrape(api), "tethra_tool_calls_stuck", tool="refund") is None
        with session_scope(api.rt.engine) as session:  # its claimant died mid-call
            session.execute(
                update(ToolCallRecord)
                .where(col(ToolCallRecord.run_id) == run["run_id"])
                .values(status="executing", lease_until=utcnow() - timedelta(seconds=5))
            )
        assert value(scrape(api), "tethra_tool_calls_stuck", tool="refund") == 1
