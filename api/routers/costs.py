"""Model spend from the cost ledger, grouped or call by call (auditors and admins).

Amounts are decimal strings in USD, exact to the pico-dollar, so a client can add them
up and reconcile with the token counts in the audit trail without float drift.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from api.deps import Auditor, SessionDep
from api.errors import error_responses
from audit.costs import CostFilter, calls, spend_by
from audit.prices import usd_text

router = APIRouter(prefix="/costs", tags=["costs"])
Text = Annotated[str | None, Query(max_length=128)]


class SpendOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "key": "support",
                    "calls": 4,
                    "failed_calls": 0,
                    "unpriced_calls": 0,
                    "input_tokens": 5120,
                    "cached_input_tokens": 0,
                    "output_tokens": 212,
                    "cost_usd": "0.005968",
                }
            ]
        }
    )

    key: str = Field(description="The run id, thread id, agent, workflow, day or model.")
    calls: int
    failed_calls: int
    unpriced_calls: int = Field(description="Calls to a model with no price: not in cost_usd.")
    input_tokens: int
    cached_input_tokens: int
    cache_write_tokens: int
    output_tokens: int
    cost_usd: str


class SpendPage(BaseModel):
    by: str
    rows: list[SpendOut]


class CallCostOut(BaseModel):
    event_id: str = Field(description="The model_call audit event this cost belongs to.")
    ts: datetime
    run_id: str
    thread_id: str
    agent: str
    workflow: str
    model: str
    prompt_version: str
    status: str
    input_tokens: int
    cached_input_tokens: int
    cache_write_tokens: int
    output_tokens: int
    cost_usd: str | None = Field(description="Null when the model has no price.")


def _filter(
    run_id: str | None,
    thread_id: str | None,
    agent: str | None,
    workflow: str | None,
    model: str | None,
    since: date | None,
    until: date | None,
) -> CostFilter:
    return CostFilter(run_id, thread_id, agent, workflow, model, since, until)


@router.get(
    "",
    summary="Spend grouped by run, thread, agent, workflow, day or model",
    description="Largest spend first; every given filter must match. Failed model calls "
    "and retries are included; calls to unpriced models are counted in `unpriced_calls`.",
    responses=error_responses(401, 403, 422),
)
def spend(
    user: Auditor,
    session: SessionDep,
    by: Literal["run", "thread", "agent", "workflow", "day", "model"] = "day",
    run_id: Text = None,
    thread_id: Text = None,
    agent: Text = None,
    workflow: Text = None,
    model: Text = None,
    since: Annotated[date | None, Query(description="First UTC day, inclusive.")] = None,
    until: Annotated[date | None, Query(description="Last UTC day, inclusive.")] = None,
) -> SpendPage:
    where = _filter(run_id, thread_id, agent, workflow, model, since, until)
    rows = [
        SpendOut(
            key=r.key,
            calls=r.calls,
            failed_calls=r.failed_calls,
            unpriced_calls=r.unpriced_calls,
            input_tokens=r.input_tokens,
            cached_input_tokens=r.cached_input_tokens,
            cache_write_tokens=r.cache_write_tokens,
            output_tokens=r.output_tokens,
            cost_usd=usd_text(r.cost_pusd) or "0",
        )
        for r in spend_by(session, by, where)
    ]
    return SpendPage(by=by, rows=rows)


@router.get(
    "/calls",
    summary="Model calls and their cost, one by one",
    description="Oldest first. Each row names its `model_call` audit event.",
    responses=error_responses(401, 403, 422),
)
def model_calls(
    user: Auditor,
    session: SessionDep,
    run_id: Text = None,
    thread_id: Text = None,
    agent: Text = None,
    workflow: Text = None,
    model: Text = None,
    since: Annotated[date | None, Query(description="First UTC day, inclusive.")] = None,
    until: Annotated[date | None, Query(description="Last UTC day, inclusive.")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[CallCostOut]:
    where = _filter(run_id, thread_id, agent, workflow, model, since, until)
    return [
        CallCostOut(
            **row.model_dump(exclude={"id", "day", "cost_pusd"}), cost_usd=usd_text(row.cost_pusd)
        )
        for row in calls(session, where, limit)
    ]
