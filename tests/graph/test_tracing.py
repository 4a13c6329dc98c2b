"""Spans with the OpenTelemetry GenAI names, captured by an in-memory exporter.

A run that waits for an approval and is resumed is one trace: the agent steps, the
model calls and the tool executions all carry the run's trace id, and the
``execute_tool`` span names the policy rule and the approver.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from foundation import telemetry
from foundation.settings import Settings
from tests.graph.conftest import OpenRuntime
from tests.graph.harness import call, say, turn


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    telemetry.install(provider)
    yield exporter
    telemetry.shutdown_tracing()


def named(spans: InMemorySpanExporter, prefix: str) -> list[ReadableSpan]:
    return [s for s in spans.get_finished_spans() if s.name.startswith(prefix)]


def test_an_approved_run_is_one_trace_of_agent_model_and_tool_spans(
    open_rt: OpenRuntime, thread: str, spans: InMemorySpanExporter
) -> None:
    script = [turn(call("refund", "c1", order_id=7, amount=250)), say("Refunded $250.")]
    with open_rt(script) as rt:
        out = rt.start_run(thread, "olivia", "refund $250 on order 7")
        assert out.status == "waiting"
        assert named(spans, "execute_tool") == []  # nothing ran before the approval
        rt.decide(out.pending[0]["approval_id"], approver="adam", action="approve", comment="ok")
        assert rt.run(out.run_id).status == "completed"

    agents = named(spans, "invoke_agent ")
    models = named(spans, "chat ")
    (tool,) = named(spans, "execute_tool ")
    assert [s.name for s in agents] == ["invoke_agent ops", "invoke_agent ops"]
    assert len(models) == 2
    trace_ids = {s.context.trace_id for s in [*agents, *models, tool] if s.context}
    assert trace_ids == {telemetry.run_trace_id(out.run_id)}

    chat = models[0]
    assert chat.attributes is not None
    assert chat.attributes["gen_ai.operation.name"] == "chat"
    assert chat.attributes["gen_ai.request.model"] == "scripted"
    assert int(str(chat.attributes["gen_ai.usage.input_tokens"])) > 0
    assert "gen_ai.usage.output_tokens" in chat.attributes
    assert chat.attributes["gen_ai.response.finish_reasons"] == ("tool_calls",)
    assert chat.parent is not None
    assert chat.parent.span_id == agents[0].context.span_id

    attrs = tool.attributes
    assert attrs is not None
    assert tool.name == "execute_tool refund"
    assert attrs["gen_ai.operation.name"] == "execute_tool"
    assert attrs["gen_ai.tool.name"] == "refund"
    assert attrs["gen_ai.tool.call.id"] == "c1"
    assert (attrs["tethra.policy.tier"], attrs["tethra.policy.rule"]) == ("review", "large")
    assert attrs["tethra.approval.id"] == out.pending[0]["approval_id"]
    assert attrs["tethra.approval.approvers"] == ("adam",)
    assert attrs["tethra.tool.status"] == "succeeded"
    assert tool.status.status_code is not StatusCode.ERROR


def test_a_denied_call_gets_an_error_span_naming_the_rule(
    open_rt: OpenRuntime, thread: str, spans: InMemorySpanExporter
) -> None:
    script = [turn(call("refund", "c1", order_id=7, amount=20000)), say("I can't.")]
    with open_rt(script) as rt:
        rt.start_run(thread, "olivia", "refund $20000 on order 7")

    (tool,) = named(spans, "execute_tool ")
    assert tool.attributes is not None
    assert (tool.attributes["tethra.policy.tier"], tool.attributes["tethra.policy.rule"]) == (
        "deny",
        "huge",
    )
    assert tool.attributes["tethra.tool.status"] == "denied"
    assert tool.status.status_code is StatusCode.ERROR
    assert "never automated" in (tool.status.description or "")


def test_without_an_endpoint_nothing_is_installed_or_recorded() -> None:
    assert telemetry.configure_tracing(Settings()) is None
    with telemetry.span("probe", {"a": 1}) as probe:
        assert not probe.is_recording()


def test_an_endpoint_installs_an_otlp_exporter() -> None:
    settings = Settings.model_validate(
        {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9/", "OTEL_SERVICE_NAME": "tethra-api"}
    )
    provider = telemetry.configure_tracing(settings)
    try:
        assert provider is not None
        assert provider.resource.attributes["service.name"] == "tethra-api"
        assert telemetry.tracer() is not None
    finally:
        telemetry.install(None)
        assert provider is not None
        provider.shutdown()
