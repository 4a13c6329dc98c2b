"""Registering: bad definitions fail with a clear message and change nothing; effects are
inferred as documented; HTTP calls retry only when idempotent and carry the key."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pydantic import BaseModel, SecretStr
from sqlalchemy.engine import Engine
from sqlmodel import Session, func, select

from audit.models import AuditEvent
from foundation.errors import Conflict, Forbidden, InvalidInput, ToolFailed, UserError
from tests.tools.registered import (
    SERVER_SCRIPT,
    catalog,
    notes_source,
    setup_people,
    tickets_source,
)
from tests.tools.ticket_server import ticket_server
from tools.adapters.definitions import (
    EndpointSource,
    HttpOperation,
    McpServer,
    McpSource,
    PythonSource,
    SecretRef,
)
from tools.adapters.http import call
from tools.adapters.loading import build
from tools.adapters.schema import model_from_schema
from tools.registrations import ToolRegistration
from tools.spec import ToolContext


def _nothing_stored(engine: Engine) -> None:
    with Session(engine) as session:
        assert session.exec(select(func.count()).select_from(ToolRegistration)).one() == 0
        assert session.exec(select(func.count()).select_from(AuditEvent)).one() == 0


@pytest.mark.parametrize(
    ("source", "message"),
    [
        (PythonSource(module="no_such_package.tools"), "cannot import 'no_such_package.tools'"),
        (PythonSource(module="tools.examples.parcels:NOPE"), "has no attribute 'NOPE'"),
        (PythonSource(module="tools.examples.parcels:SYSTEM"), "is not a tool"),
        (PythonSource(entry_point="nobody-ships-this"), "no installed package"),
        (
            PythonSource(module="tools.examples.parcels:TOOLS", tools=["fly"]),
            "has no tool fly",
        ),
        (
            EndpointSource(
                name="bad_schema",
                description="x",
                method="POST",
                url="http://127.0.0.1:9/x",
                args={"type": "object", "properties": {"n": {"type": "decimal"}}},
                system="s",
                owner="o",
            ),
            "bad_schema.n: unknown type 'decimal'",
        ),
        (
            EndpointSource(
                name="bad_path",
                description="x",
                method="GET",
                url="http://127.0.0.1:9/x/{id}",
                system="s",
                owner="o",
            ),
            "url names id, not among args",
        ),
    ],
)
def test_a_bad_definition_says_what_is_wrong_and_stores_nothing(
    engine: Engine, source: PythonSource | EndpointSource, message: str
) -> None:
    setup_people(engine)
    with pytest.raises(InvalidInput, match=message):
        catalog(engine).register(source, "root")
    _nothing_stored(engine)


def test_an_unreachable_spec_or_server_stores_nothing(engine: Engine, tmp_path: Path) -> None:
    setup_people(engine)
    tools = catalog(engine)
    with pytest.raises(InvalidInput, match="cannot fetch the OpenAPI document"):
        tools.register(tickets_source("http://127.0.0.1:9", ["getTicket"]), "root")
    with pytest.raises(InvalidInput, match="cannot read the OpenAPI document"):
        tools.register(tickets_source(str(tmp_path / "missing"), ["x"]).model_copy(), "root")
    broken = notes_source(tmp_path / "calls.jsonl")
    broken = broken.model_copy(
        update={
            "server": broken.server.model_copy(
                update={"args": ["-c", "raise SystemExit(3)"], "timeout_s": 10}
            )
        }
    )
    with pytest.raises(InvalidInput, match="cannot list the MCP server's tools"):
        tools.register(broken, "root")
    _nothing_stored(engine)


def test_unknown_operations_and_duplicate_names_change_nothing(engine: Engine) -> None:
    setup_people(engine)
    tools = catalog(engine)
    with ticket_server() as (base_url, _):
        with pytest.raises(InvalidInput, match="no operation 'nope'; it has: broken, createTicket"):
            tools.register(tickets_source(base_url, ["getTicket", "nope"]), "root")
        _nothing_stored(engine)
        tools.register(tickets_source(base_url, ["getTicket"]), "root")
        with pytest.raises(Conflict, match="'getTicket' is already registered"):
            tools.register(tickets_source(base_url, ["createTicket", "getTicket"]), "root")
    with pytest.raises(Conflict, match="'refund_order' already exists"):
        tools.register(
            EndpointSource(
                name="refund_order",
                description="shadowing a built-in tool",
                method="POST",
                url="http://127.0.0.1:9/refund",
                system="payments",
                owner="o",
            ),
            "root",
        )
    with Session(engine) as session:
        assert [r.name for r in session.exec(select(ToolRegistration))] == ["getTicket"]


def test_only_admins_change_the_catalogue(engine: Engine) -> None:
    setup_people(engine)
    tools = catalog(engine)
    with pytest.raises(Forbidden, match="only an admin"):
        tools.register(PythonSource(module="tools.examples.parcels:TOOLS"), "adam")
    tools.register(PythonSource(module="tools.examples.parcels:TOOLS"), "root")
    with pytest.raises(Forbidden):
        tools.enable("track_parcel", "olivia")
    with pytest.raises(Conflict, match="look at the tool's classification again"):
        tools.enable("track_parcel", "root", reviewed_policy="an-older-policy")
    with pytest.raises(InvalidInput, match="built in"):
        tools.disable("refund_order", "root")
    assert not tools.show("track_parcel").enabled


def test_mcp_effects_come_from_annotations(engine: Engine, tmp_path: Path) -> None:
    setup_people(engine)
    views = catalog(engine).register(notes_source(tmp_path / "calls.jsonl"), "root")
    effects = {v.name: (v.effect, v.effect_source) for v in views}
    assert effects == {
        "add_note": ("write", "unknown"),
        "purge_notes": ("irreversible", "inferred"),
        "read_note": ("read", "inferred"),
    }


def test_http_retries_only_idempotent_operations_and_sends_the_key() -> None:
    with ticket_server() as (base_url, seen):
        flaky = HttpOperation(method="GET", url=f"{base_url}/flaky", retries=2)
        assert call(flaky, {}, "key-1", {}, retry=True) == {"tries": 3}
        assert [r["idempotency_key"] for r in seen.of("GET", "/flaky")] == ["key-1"] * 3

        broken = HttpOperation(method="POST", url=f"{base_url}/broken", retries=2)
        with pytest.raises(ToolFailed, match="answered 503"):
            call(broken, {}, "key-2", {}, retry=False)
        assert len(seen.of("POST", "/broken")) == 1

        secured = HttpOperation(
            method="GET", url=f"{base_url}/tickets/{{id}}", path_params=["id"],
            auth=SecretRef(secret="MISSING"),
        )  # fmt: skip
        with pytest.raises(ToolFailed, match="secret 'MISSING' is not configured"):
            call(secured, {"id": 1}, "key-3", {}, retry=True)
        header = secured.model_copy(
            update={"auth": SecretRef(secret="T", scheme="header", header="X-Token")}
        )
        call(header, {"id": 1}, "key-4", {"T": SecretStr("v")}, retry=True)
    assert seen.of("GET", "/tickets/1")[0]["authorization"] is None


def test_a_json_schema_becomes_a_strict_model_keeping_property_names() -> None:
    model = model_from_schema(
        "t",
        {
            "type": "object",
            "properties": {
                "order-id": {"type": "integer", "minimum": 1},
                "tags": {"type": "array", "items": {"type": "string"}},
                "mode": {"enum": ["a", "b"]},
            },
            "required": ["order-id"],
        },
    )
    parsed: BaseModel = model.model_validate({"order-id": 5, "mode": "a"})
    assert parsed.model_dump(mode="json") == {"order-id": 5, "tags": None, "mode": "a"}
    for bad in ({"order-id": 0}, {"order-id": 1, "mode": "c"}, {"order-id": 1, "extra": 1}, {}):
        with pytest.raises(ValueError, match="validation error"):
            model.model_validate(bad)
    with pytest.raises(UserError, match="required but not described: x"):
        model_from_schema("t", {"type": "object", "properties": {}, "required": ["x"]})


def test_an_mcp_server_over_streamable_http(engine: Engine, tmp_path: Path) -> None:
    setup_people(engine)
    calls = tmp_path / "calls.jsonl"
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen([sys.executable, str(SERVER_SCRIPT), str(calls), str(port)])
    try:
        _wait_for_port(port)
        source = McpSource(
            server=McpServer(transport="http", url=f"http://127.0.0.1:{port}/mcp", timeout_s=20),
            tools=["read_note"],
            system="notes",
            owner="docs-team",
        )
        (view,) = catalog(engine).register(source, "root")
        assert (view.effect, view.effect_source) == ("read", "inferred")
        with Session(engine) as session:
            row = session.exec(select(ToolRegistration)).one()
        tool = build(row, {})
        ctx = ToolContext("key-9", engine, "run", "thread", "call", "ops", "olivia")
        result = tool.execute(tool.validate({"title": "x"}), ctx)
    finally:
        server.terminate()
        server.wait(timeout=10)
    assert "remember the milk" in str(result)
    assert [json.loads(line)["key"] for line in calls.read_text().splitlines()] == ["key-9"]


def _wait_for_port(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise AssertionError(f"the MCP server did not listen on {port} within {timeout}s")
