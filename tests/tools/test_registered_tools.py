"""Done-when for registered adapters: a Python adapter, an HTTP adapter (OpenAPI, against a
local server) and an MCP server over stdio are registered, enabled, and called by an
agent; each read runs at once, each write waits for review and runs exactly once after
another user approves it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from audit.models import AuditEvent
from graph.records import ToolCallRecord
from tests.graph.harness import call, say, turn
from tests.tools.registered import (
    TOKEN,
    catalog,
    notes_source,
    open_runtime,
    setup_people,
    tickets_source,
)
from tests.tools.ticket_server import ticket_server
from tools.adapters.definitions import PythonSource
from tools.examples import parcels

READS = (
    call("track_parcel", "c1", tracking_number="PX123456"),
    call("getTicket", "c2", ticket_id=7, verbose=True),
    call("read_note", "c3", title="groceries"),
)
WRITES = (
    call("schedule_pickup", "c4", order_id=1043, day="2026-12-01"),
    call("createTicket", "c5", title="printer on fire", priority="high"),
    call("add_note", "c6", title="todo", body="call the carrier"),
)


def _results(engine: Engine, run_id: str) -> dict[str, Any]:
    """Tool -> result of each call of the run that executed."""
    with Session(engine) as session:
        records = session.exec(
            select(ToolCallRecord).where(
                col(ToolCallRecord.run_id) == run_id, col(ToolCallRecord.status) == "succeeded"
            )
        ).all()
    return {r.tool: r.result for r in records}


def _calls(calls_file: Path) -> list[dict[str, Any]]:
    if not calls_file.exists():
        return []
    return [json.loads(line) for line in calls_file.read_text().splitlines()]


def test_three_kinds_of_adapter_are_governed_from_their_first_call(
    engine: Engine, tmp_path: Path
) -> None:
    setup_people(engine)
    parcels.PICKUPS.clear()
    calls_file = tmp_path / "mcp-calls.jsonl"
    script = [turn(*READS, *WRITES), say("all done")]
    with (
        ticket_server() as (base_url, seen),
        open_runtime(engine, tmp_path, script) as (rt, model),  # started before the tools exist
    ):
        tools = catalog(engine)
        tools.register(PythonSource(module="tools.examples.parcels:TOOLS"), "root")
        tools.register(tickets_source(base_url, ["getTicket", "createTicket"]), "root")
        tools.register(notes_source(calls_file, ["read_note", "add_note"]), "root")

        # Registered tools start disabled; writes (declared, inferred or unknown) review.
        views = {v.name: v for v in tools.tools() if v.kind != "builtin"}
        assert set(views) == {c["name"] for c in (*READS, *WRITES)}
        assert not any(v.enabled for v in views.values())
        assert views["add_note"].effect == "write"
        assert views["add_note"].effect_source == "unknown"
        assert views["createTicket"].effect_source == "inferred"
        for write in WRITES:
            assert views[write["name"]].classification.fallback.tier == "review"
        for read in READS:
            assert views[read["name"]].effect == "read"

        for name in views:
            tools.enable(name, "root")
        outcome = rt.start_run("t-reg", "olivia", "do the six things")

        assert set(model.bound_tool_names) >= set(views)  # the running process saw them
        assert outcome.status == "waiting"
        assert sorted(p["tool"] for p in outcome.pending) == sorted(w["name"] for w in WRITES)
        results = _results(engine, outcome.run_id)
        assert results["track_parcel"] == {"tracking_number": "PX123456", "status": "in transit"}
        assert results["getTicket"]["title"] == "printer on fire"
        assert "remember the milk" in str(results["read_note"])
        assert {w["name"] for w in WRITES}.isdisjoint(results)
        assert parcels.PICKUPS == {}
        assert seen.of("POST", "/tickets") == []
        assert [c["tool"] for c in _calls(calls_file)] == ["read_note"]
        ticket_get = seen.of("GET", "/tickets/7")[0]
        assert ticket_get["authorization"] == f"Bearer {TOKEN}"
        assert ticket_get["query"] == {"verbose": ["true"]}

        for pending in outcome.pending:
            rt.decide(pending["approval_id"], approver="adam", action="approve")
        rt.recover()  # a redelivered resume must not execute anything again
        done = rt.run(outcome.run_id)

    assert done.status == "completed"
    assert set(_results(engine, outcome.run_id)) == {c["name"] for c in (*READS, *WRITES)}
    with Session(engine) as session:
        keys = {
            r.tool: r.key
            for r in session.exec(
                select(ToolCallRecord).where(col(ToolCallRecord.run_id) == outcome.run_id)
            )
        }
        registered = session.exec(
            select(AuditEvent).where(col(AuditEvent.kind).in_(("tool_registered", "tool_enabled")))
        ).all()
    assert len(registered) == 12
    assert {e.actor for e in registered} == {"root"}
    assert list(parcels.PICKUPS) == [keys["schedule_pickup"]]
    posts = seen.of("POST", "/tickets")
    assert len(posts) == 1
    assert posts[0]["idempotency_key"] == keys["createTicket"]
    assert posts[0]["body"] == {"title": "printer on fire", "priority": "high"}
    adds = [c for c in _calls(calls_file) if c["tool"] == "add_note"]
    assert len(adds) == 1
    assert adds[0]["key"] == keys["add_note"]
    assert adds[0]["args"] == {"title": "todo", "body": "call the carrier"}


def test_a_spec_that_does_not_allow_the_system_gets_no_registered_tool(
    engine: Engine, tmp_path: Path
) -> None:
    setup_people(engine)
    tools = catalog(engine)
    tools.register(PythonSource(module="tools.examples.parcels:TOOLS"), "root")
    tools.enable("track_parcel", "root")
    script = [turn(call("track_parcel", "c1", tracking_number="PX123456")), say("ok")]
    with open_runtime(engine, tmp_path, script, systems=("tickets",)) as (rt, model):
        outcome = rt.start_run("t-scope", "olivia", "track it")
    assert "track_parcel" not in model.bound_tool_names
    with Session(engine) as session:
        rec = session.exec(
            select(ToolCallRecord).where(col(ToolCallRecord.run_id) == outcome.run_id)
        ).one()
    assert (rec.status, rec.rule) == ("denied", "agent-scope")


def test_a_disabled_tool_is_gone_from_the_next_run_and_an_approved_call_fails(
    engine: Engine, tmp_path: Path
) -> None:
    setup_people(engine)
    parcels.PICKUPS.clear()
    tools = catalog(engine)
    tools.register(PythonSource(module="tools.examples.parcels:TOOLS"), "root")
    tools.enable("schedule_pickup", "root")
    script = [
        turn(call("schedule_pickup", "c1", order_id=5, day="2026-12-02")),
        say("waiting"),
        say("nothing to do"),
    ]
    with open_runtime(engine, tmp_path, script) as (rt, model):
        first = rt.start_run("t-off", "olivia", "book a pickup")
        assert first.status == "waiting"
        tools.disable("schedule_pickup", "root")
        rt.decide(first.pending[0]["approval_id"], approver="adam", action="approve")
        assert parcels.PICKUPS == {}
        second = rt.start_run("t-off-2", "olivia", "anything else?")
    assert second.status == "completed"
    assert model.call_tools[-1] == []  # the next run was offered no tools
    with Session(engine) as session:
        rec = session.exec(
            select(ToolCallRecord).where(col(ToolCallRecord.run_id) == first.run_id)
        ).one()
    assert rec.status == "failed"
    assert "schedule_pickup" in (rec.error or "")


@pytest.fixture(autouse=True)
def _no_leftover_pickups() -> None:
    parcels.PICKUPS.clear()


def test_an_edit_of_a_registered_tools_call_is_reclassified_and_runs_once(
    engine: Engine, tmp_path: Path
) -> None:
    """The edit re-reads the registry outside the deciding transaction (on SQLite a second
    connection inside it would wait on the lock until it timed out)."""
    setup_people(engine)
    tools = catalog(engine)
    tools.register(PythonSource(module="tools.examples.parcels:TOOLS"), "root")
    tools.enable("schedule_pickup", "root")
    script = [
        turn(call("schedule_pickup", "c1", order_id=5, day="2026-12-02")),
        say("booked"),
    ]
    with open_runtime(engine, tmp_path, script) as (rt, _model):
        first = rt.start_run("t-edit", "olivia", "book a pickup")
        assert first.status == "waiting"
        outcome = rt.decide(
            first.pending[0]["approval_id"],
            approver="adam",
            action="edit",
            edited_args={"order_id": 5, "day": "2026-12-03"},
        )
    assert outcome.request.status == "approved"
    assert [p["day"] for p in parcels.PICKUPS.values()] == ["2026-12-03"]
