"""The HTTP API: ``create_app`` builds it; resources open in the lifespan, never at import.

Serve with ``uvicorn --factory api.main:create_app`` (settings from ``TETHRA_*``). Tests
pass a prebuilt runtime, which the app then uses and leaves open.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack, asynccontextmanager, contextmanager

from fastapi import FastAPI

import foundation
from api.deps import ApiContext, ApiOptions
from api.driver import RunDriver
from api.errors import install_error_handlers
from api.housekeeping import Housekeeping
from api.routers import (
    approvals,
    audit,
    costs,
    health,
    invoices,
    policy,
    runs,
    threads,
    tools,
    users,
)
from api.web import install as install_web
from approvals.bus import LocalQueueBus
from foundation.db import schema_is_current
from foundation.errors import ConfigError
from foundation.logging import configure_logging
from foundation.settings import Settings, load_settings
from foundation.telemetry import configure_tracing, shutdown_tracing
from graph.assembly import open_runtime
from graph.dispatch import Worker
from graph.runtime import Runtime

DESCRIPTION = """
Chat with the operations agent, decide the risky calls it proposes, and read what
happened and why.

Every request except `/healthz`, `/readyz` and `/metrics` needs an API key:
`Authorization: Bearer <key>` (or `X-API-Key: <key>`). Roles: **operator** (chat; their
own threads and runs), **approver** (approval requests; the runs they are asked about),
**auditor** (read everything, decide nothing), **admin** (everything, including users).

Errors are always `{"error": {"type", "message", "details"?}}`. POSTs with effects accept
an `Idempotency-Key` header: a repeat returns the first answer.
"""

TAGS = [
    {"name": "threads", "description": "Chat with the operations agent; follow runs live."},
    {"name": "approvals", "description": "The approval inbox and decisions."},
    {"name": "runs", "description": "Run status and audit traces."},
    {"name": "audit", "description": "Search and verify the hash-chained trail."},
    {"name": "tools", "description": "Registered tools and how the policy treats them."},
    {"name": "policy", "description": "Dry-run the policy for a call."},
    {"name": "costs", "description": "Model spend by run, thread, agent, workflow, day or model."},
    {"name": "invoices", "description": "Accounts payable: invoices, holds, spot checks."},
    {"name": "users", "description": "Users and API keys."},
    {"name": "health", "description": "Liveness, readiness and Prometheus metrics."},
]


@contextmanager
def _local_worker(rt: Runtime) -> Iterator[None]:
    """Without Redis: the one worker loop, on a background thread of this process, so
    deciding returns as soon as the decision commits and the run moves on here."""
    stop = threading.Event()
    thread = threading.Thread(
        target=Worker(rt, "api-local").run, args=(stop,), name="tethra-worker", daemon=True
    )
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(60)


@contextmanager
def _runtime_from(settings: Settings | None) -> Iterator[Runtime]:
    s = settings or load_settings()
    configure_logging(s.log_level, s.log_format)
    configure_tracing(s)
    try:
        # Without Redis the server drains its own in-memory queue on a worker thread.
        with open_runtime(s, bus=None if s.redis_url else LocalQueueBus()) as rt:
            if not schema_is_current(rt.engine):
                raise ConfigError("the database schema is not current; run `tethra init` first")
            yield rt
    finally:
        shutdown_tracing()  # flushes spans still queued for export


def create_app(
    settings: Settings | None = None,
    runtime: Runtime | None = None,
    *,
    options: ApiOptions | None = None,
) -> FastAPI:
    """The app. With ``runtime`` it is used as given (and not closed); otherwise one is
    opened from ``settings`` (default: the environment) when the app starts."""
    opts = options or ApiOptions()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        with ExitStack() as stack:
            rt = runtime if runtime is not None else stack.enter_context(_runtime_from(settings))
            driver = RunDriver(rt, opts.run_workers)
            stack.callback(driver.shutdown)  # runs in flight finish before rt closes
            if isinstance(rt.bus, LocalQueueBus):
                stack.enter_context(_local_worker(rt))
            if opts.housekeeping:
                chores = Housekeeping(rt)
                chores.start()
                stack.callback(chores.stop)
            app.state.tethra = ApiContext(runtime=rt, driver=driver, options=opts)
            try:
                yield
            finally:
                app.state.tethra = None

    app = FastAPI(
        title="Tethra API",
        version=foundation.__version__,
        description=DESCRIPTION,
        openapi_tags=TAGS,
        lifespan=lifespan,
    )
    install_error_handlers(app)
    for module in (threads, approvals, runs, audit, costs, invoices, tools, policy, users):
        app.include_router(module.router)
    app.include_router(health.router)
    install_web(app, settings or load_settings())
    return app
