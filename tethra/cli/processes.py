"""Long-running processes: the HTTP API and the bus workers."""

from __future__ import annotations

import threading
from typing import Annotated

import typer

from tethra.cli.context import runtime, settings


def serve(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
) -> None:
    """Run the HTTP API (FastAPI + uvicorn). Resources open in the app's lifespan."""
    import uvicorn

    from api.main import create_app

    # An open SSE stream would otherwise hold shutdown until its client leaves.
    uvicorn.run(
        create_app(settings(interactive=False)),
        host=host,
        port=port,
        log_config=None,
        timeout_graceful_shutdown=5,
    )


def worker(
    worker_id: Annotated[str | None, typer.Option("--id", help="Name in heartbeats.")] = None,
) -> None:
    """Consume the Redis bus: resume runs after decisions, sweep deadlines, relay the outbox."""
    from foundation.telemetry import configure_tracing, shutdown_tracing
    from graph.invoices.batch import worker_handler, workflow_from_settings
    from tethra.worker import Worker, install_signal_handlers

    stop = threading.Event()
    install_signal_handlers(stop)
    configure_tracing(settings(interactive=False))
    try:
        with runtime(interactive=False) as rt:
            invoices = workflow_from_settings(rt, settings(interactive=False))
            Worker(rt, worker_id, handler=worker_handler(rt, invoices)).run(stop)
    finally:
        shutdown_tracing()  # flushes spans still queued for export
