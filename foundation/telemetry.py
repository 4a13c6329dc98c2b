"""OpenTelemetry tracing, set up once per process at its entry point (API, worker).

The audit trail is the system of record; traces are for operators asking where the
time went. Spans are exported over OTLP/HTTP only when ``OTEL_EXPORTER_OTLP_ENDPOINT``
is set. Otherwise nothing is installed and every span is a no-op (not even recorded),
unless the embedding application set a global provider of its own, which is then used.

All spans of one run share a trace id derived from the run id: a run that waits for an
approval and is resumed hours later by a worker on another machine is still one trace,
with no context to carry through SQL or the bus.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import NonRecordingSpan, Span, SpanContext, TraceFlags

from foundation.settings import Settings

INSTRUMENTATION = "tethra"
AttributeValue = str | bool | int | float | Sequence[str]


@dataclass
class _Installed:
    provider: TracerProvider | None = None


_installed = _Installed()
"""The provider this process installed (process-wide, like the logging configuration)."""


def configure_tracing(settings: Settings) -> TracerProvider | None:
    """Install an exporting provider when an OTLP endpoint is configured; else do nothing.

    Returns the provider so the entry point can ``shutdown_tracing()`` on exit (which
    flushes the spans still queued for export)."""
    if settings.otlp_endpoint is None:
        return None
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    provider = TracerProvider(
        resource=Resource.create({"service.name": settings.otel_service_name})
    )
    endpoint = settings.otlp_endpoint.rstrip("/") + "/v1/traces"
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
    install(provider)
    return provider


def install(provider: TracerProvider | None) -> None:
    """Make ``provider`` the one Tethra's spans go to (None: back to the global one).

    Kept apart from OpenTelemetry's global provider, which can be set only once per
    process: tests install an in-memory exporter per test this way."""
    _installed.provider = provider


def shutdown_tracing() -> None:
    provider, _installed.provider = _installed.provider, None
    if provider is not None:
        provider.shutdown()


def tracer() -> trace.Tracer:
    if _installed.provider is not None:
        return _installed.provider.get_tracer(INSTRUMENTATION)
    return trace.get_tracer(INSTRUMENTATION)


def run_trace_id(run_id: str) -> int:
    """The trace id of every span of ``run_id`` (128 bits of its SHA-256)."""
    return int(hashlib.sha256(run_id.encode()).hexdigest()[:32], 16)


def _run_parent(run_id: str) -> otel_context.Context:
    digest = hashlib.sha256(run_id.encode()).hexdigest()
    parent = SpanContext(
        trace_id=int(digest[:32], 16),
        span_id=int(digest[32:48], 16) or 1,
        is_remote=True,
        trace_flags=TraceFlags(TraceFlags.SAMPLED),
    )
    return trace.set_span_in_context(NonRecordingSpan(parent))


@contextmanager
def span(
    name: str,
    attributes: Mapping[str, AttributeValue | None],
    *,
    run_id: str | None = None,
) -> Iterator[Span]:
    """A span under the current one; with no current span, under the run's trace.

    Attributes whose value is None are left out. An exception escaping the block is
    recorded on the span and marks it as an error (OpenTelemetry's default)."""
    current = trace.get_current_span().get_span_context()
    parent = _run_parent(run_id) if run_id and not current.is_valid else None
    attrs = {key: value for key, value in attributes.items() if value is not None}
    with tracer().start_as_current_span(name, context=parent, attributes=attrs) as opened:
        yield opened
