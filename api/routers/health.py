"""Operations endpoints: liveness, readiness and Prometheus metrics. None needs a key.

Probes and scrapers do not carry API keys, and nothing here reveals more than counts
and dependency states; keep these paths off the public internet all the same (see
docs/runbook.md). ``/healthz`` touches nothing, so a slow database never gets a live
process restarted; ``/readyz`` checks every dependency and answers 503 until each is
reachable, so a load balancer sends no traffic to an instance that cannot serve it.
"""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.process_collector import ProcessCollector
from pydantic import BaseModel, ConfigDict

from api.deps import ContextDep
from api.errors import readiness_status
from api.metrics import TethraCollector
from api.readiness import Readiness, check_readiness

router = APIRouter(tags=["health"])


class Health(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"status": "ok"}]})

    status: str


@router.get("/healthz", summary="Liveness: the process is up (no key needed)")
def healthz() -> Health:
    return Health(status="ok")


@router.get(
    "/readyz",
    summary="Readiness: database, Redis and checkpointer reachable, migrations current",
    response_model=Readiness,
    responses={503: {"model": Readiness, "description": "Not ready: a check is failing"}},
)
def readyz(ctx: ContextDep) -> JSONResponse:
    report = check_readiness(ctx.runtime, ctx.options.ready_timeout_s)
    return JSONResponse(
        report.model_dump(mode="json", exclude_none=True),
        status_code=readiness_status(report.ready),
    )


@router.get(
    "/metrics",
    summary="Prometheus metrics (text exposition format)",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Metrics"}},
)
def metrics(ctx: ContextDep) -> Response:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(TethraCollector(ctx.runtime))
    ProcessCollector(registry=registry)
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
