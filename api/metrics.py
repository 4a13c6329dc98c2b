"""Prometheus metrics, computed at scrape time from SQL (the record) and Redis (the bus).

Why not counters incremented in process: API processes and workers are many and come
and go, and SQL already holds every approval, execution, model call and alert. Reading
the figures from there makes them survive restarts and agree across replicas: every API
instance reports the same global values, so scrape one (or aggregate with ``max``, not
``sum``). Each source is read separately; one that fails is reported through
``tethra_metrics_source_up{source}`` = 0 and the others still answer.

Pending approvals and the bus are gauges; the rest are cumulative since the database
began, as Prometheus counters and histograms expect.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from datetime import timedelta
from typing import Any

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeHistogramMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from sqlalchemy import ColumnElement, and_, case, func, literal
from sqlalchemy import select as sa_select
from sqlalchemy.engine import Engine
from sqlmodel import Session, col

from api.readiness import live_workers
from approvals.ap_models import InvoiceHold
from approvals.models import ApprovalRequest
from approvals.outbox import OutboxMessage
from approvals.redis_bus import RedisBus
from approvals.webhooks.models import WebhookDelivery
from audit.costs import ModelCost
from audit.models import AuditEvent
from audit.prices import PICO_PER_USD
from foundation.db import utcnow
from foundation.logging import get_logger
from graph.records import ToolCallRecord
from graph.runtime import Runtime

log = get_logger(__name__)

PENDING_AGE_BUCKETS = (60.0, 300.0, 900.0, 3600.0, 4 * 3600.0, 86400.0)
DECISION_BUCKETS = (5.0, 30.0, 60.0, 300.0, 900.0, 3600.0, 4 * 3600.0, 86400.0)
EXECUTE_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 15.0, 60.0, 300.0)
Source = Callable[[], Iterable[Metric]]


def _seconds_between(engine: Engine, start: Any, end: Any) -> ColumnElement[Any]:
    """``end - start`` in seconds, in the database's own dialect."""
    if engine.dialect.name == "postgresql":
        return func.extract("epoch", end - start)
    return (func.julianday(end) - func.julianday(start)) * 86400.0


def _histogram(
    session: Session,
    name: str,
    doc: str,
    seconds: ColumnElement[Any],
    where: ColumnElement[bool],
    buckets: Sequence[float],
    join: tuple[Any, ColumnElement[bool]] | None = None,
) -> HistogramMetricFamily:
    """A cumulative histogram of ``seconds`` over the rows matching ``where``, in one query."""
    columns: list[ColumnElement[Any]] = [func.count(), func.coalesce(func.sum(seconds), 0.0)]
    columns += [func.coalesce(func.sum(case((seconds <= b, 1), else_=0)), 0) for b in buckets]
    query = sa_select(*columns).select_from(ApprovalRequest)
    if join is not None:
        query = query.join(*join)
    row = session.execute(query.where(where)).one()
    total, summed, *cumulative = row
    family = HistogramMetricFamily(name, doc, unit="seconds")
    points = [(str(b), float(c)) for b, c in zip(buckets, cumulative, strict=True)]
    family.add_metric([], [*points, ("+Inf", float(total))], float(summed))
    return family


def approvals(engine: Engine) -> list[Metric]:
    now = utcnow()
    tier = func.coalesce(col(ToolCallRecord.tier), literal("review"))
    with Session(engine) as session:
        ages = [
            func.sum(
                case((col(ApprovalRequest.created_at) <= now - timedelta(seconds=b), 1), else_=0)
            )
            for b in PENDING_AGE_BUCKETS
        ]
        rows = session.execute(
            sa_select(tier, func.count(), func.min(col(ApprovalRequest.created_at)), *ages)
            .select_from(ApprovalRequest)
            .join(
                ToolCallRecord,
                col(ToolCallRecord.approval_id) == col(ApprovalRequest.id),
                isouter=True,
            )
            .where(
                col(ApprovalRequest.status) == "pending",
                col(ApprovalRequest.deadline) > utcnow(),  # past it: expired, even unswept
            )
            .group_by(tier)
        ).all()
        decided = col(ApprovalRequest.decided_at).is_not(None)
        decision = _histogram(
            session,
            "tethra_approval_decision",
            "Time from an approval request to its decision (approved or denied; expiry excluded).",
            _seconds_between(
                engine, col(ApprovalRequest.created_at), col(ApprovalRequest.decided_at)
            ),
            and_(decided, col(ApprovalRequest.status).in_(("approved", "denied"))),
            DECISION_BUCKETS,
        )
        execute = _histogram(
            session,
            "tethra_approval_to_execution",
            "Time from an approval decision to the end of the approved call's execution.",
            _seconds_between(
                engine, col(ApprovalRequest.decided_at), col(ToolCallRecord.executed_at)
            ),
            and_(decided, col(ToolCallRecord.executed_at).is_not(None)),
            EXECUTE_BUCKETS,
            join=(ToolCallRecord, col(ToolCallRecord.approval_id) == col(ApprovalRequest.id)),
        )
    pending = GaugeMetricFamily(
        "tethra_approvals_pending", "Approval requests waiting for a decision.", labels=["tier"]
    )
    oldest = GaugeMetricFamily(
        "tethra_approvals_pending_oldest_age",
        "Age of the oldest pending approval request.",
        labels=["tier"],
        unit="seconds",
    )
    by_age = GaugeHistogramMetricFamily(
        "tethra_approvals_pending_age",
        "Pending approval requests by age: each bucket counts those at least that old.",
        labels=["tier"],
        unit="seconds",
    )
    for tier_name, count, first, *older in rows:
        pending.add_metric([tier_name], float(count))
        oldest.add_metric([tier_name], (now - first).total_seconds() if first else 0.0)
        # gauge histogram buckets are "at most this old": count minus those older.
        buckets = [
            (str(b), float(count - (n or 0)))
            for b, n in zip(PENDING_AGE_BUCKETS, older, strict=True)
        ]
        by_age.add_metric([tier_name], [*buckets, ("+Inf", float(count))], float(count))
    return [pending, oldest, by_age, decision, execute]


def executions(engine: Engine) -> list[Metric]:
    with Session(engine) as session:
        rows = session.execute(
            sa_select(col(ToolCallRecord.tool), col(ToolCallRecord.status), func.count())
            .where(col(ToolCallRecord.status).in_(("succeeded", "failed", "in_doubt")))
            .group_by(col(ToolCallRecord.tool), col(ToolCallRecord.status))
        ).all()
    family = CounterMetricFamily(
        "tethra_tool_executions",
        "Tool calls executed by their adapter, by tool and outcome (succeeded | failed | "
        "in_doubt).",
        labels=["tool", "outcome"],
    )
    for tool, outcome, count in rows:
        family.add_metric([tool, outcome], float(count))
    return [family, _stuck(engine)]


def _stuck(engine: Engine) -> Metric:
    """Calls claimed for execution whose claimant's lease lapsed: the next settle takes
    them over (or marks them in doubt); a non-zero value that stays is worth an alert."""
    with Session(engine) as session:
        rows = session.execute(
            sa_select(col(ToolCallRecord.tool), func.count())
            .where(
                col(ToolCallRecord.status) == "executing",
                col(ToolCallRecord.lease_until) < utcnow(),
            )
            .group_by(col(ToolCallRecord.tool))
        ).all()
    stuck = GaugeMetricFamily(
        "tethra_tool_calls_stuck",
        "Tool calls executing past their claimant's execution lease, by tool.",
        labels=["tool"],
    )
    for tool, count in rows:
        stuck.add_metric([tool], float(count))
    return stuck


def models(engine: Engine) -> list[Metric]:
    """From the cost ledger: one row per model call attempt, written with its audit event."""
    with Session(engine) as session:
        rows = session.execute(
            sa_select(
                col(ModelCost.agent),
                col(ModelCost.model),
                func.count(),
                func.coalesce(func.sum(col(ModelCost.input_tokens)), 0),
                func.coalesce(func.sum(col(ModelCost.cached_input_tokens)), 0),
                func.coalesce(func.sum(col(ModelCost.output_tokens)), 0),
                func.coalesce(func.sum(col(ModelCost.cost_pusd)), 0),
                func.count(col(ModelCost.cost_pusd)),
            ).group_by(col(ModelCost.agent), col(ModelCost.model))
        ).all()
    calls = CounterMetricFamily(
        "tethra_model_calls",
        "Model calls (attempts, failed ones included), by agent and model.",
        labels=["agent", "model"],
    )
    tokens = CounterMetricFamily(
        "tethra_model_tokens",
        "Model tokens by agent, model and type (input | cached_input | output); "
        "cached_input is part of input.",
        labels=["agent", "model", "type"],
    )
    usd = CounterMetricFamily(
        "tethra_model_cost_usd",
        "Model spend in USD by agent and model (calls with a known price only).",
        labels=["agent", "model"],
    )
    unpriced = CounterMetricFamily(
        "tethra_model_calls_unpriced",
        "Model calls whose model has no price in the price table.",
        labels=["agent", "model"],
    )
    for agent_name, model_name, count, tokens_in, cached, tokens_out, pusd, priced in rows:
        labels = [agent_name, model_name]
        calls.add_metric(labels, float(count))
        tokens.add_metric([*labels, "input"], float(tokens_in))
        tokens.add_metric([*labels, "cached_input"], float(cached))
        tokens.add_metric([*labels, "output"], float(tokens_out))
        usd.add_metric(labels, int(pusd) / PICO_PER_USD)
        unpriced.add_metric(labels, float(count - priced))
    return [calls, tokens, usd, unpriced]


def alerts(engine: Engine) -> list[Metric]:
    """Cost-cap warnings and stops, from their audit events."""
    data = col(AuditEvent.data)
    scope, threshold = data["scope"].as_string(), data["threshold"].as_string()
    with Session(engine) as session:
        budget = session.execute(
            sa_select(col(AuditEvent.kind), scope, threshold, func.count())
            .where(col(AuditEvent.kind).in_(("budget_warning", "budget_exceeded")))
            .group_by(col(AuditEvent.kind), scope, threshold)
        ).all()
    warnings = CounterMetricFamily(
        "tethra_cost_cap_warnings",
        "Cost-cap warnings (85% / 95% of a cap), by scope (run | agent | workflow).",
        labels=["scope", "threshold"],
    )
    stops = CounterMetricFamily(
        "tethra_cost_cap_stops", "Runs stopped at a cost cap, by scope.", labels=["scope"]
    )
    for kind, scope_name, pct, count in budget:
        if kind == "budget_warning":
            warnings.add_metric([scope_name or "", str(pct or "")], float(count))
        else:
            stops.add_metric([scope_name or ""], float(count))
    return [warnings, stops]


def holds(engine: Engine) -> list[Metric]:
    """Invoice holds from their table: every hold ever opened, and the open ones now."""
    with Session(engine) as session:
        rows = session.execute(
            sa_select(
                col(InvoiceHold.status),
                col(InvoiceHold.reasons),
                col(InvoiceHold.currency),
                col(InvoiceHold.amount_at_stake),
            )
        ).all()
    created: Counter[str] = Counter()
    waiting: Counter[str] = Counter()
    at_stake: dict[str, float] = {}
    for status, reasons, currency, amount in rows:
        names = [str(r) for r in reasons or ["unknown"]]
        created.update(names)
        if status == "open":
            waiting.update(names)
            at_stake[currency or ""] = at_stake.get(currency or "", 0.0) + float(amount)
    total = CounterMetricFamily(
        "tethra_holds",
        "Holds opened (a check failed, a person must decide), by reason; a hold with "
        "several reasons counts once under each.",
        labels=["reason"],
    )
    for reason, count in sorted(created.items()):
        total.add_metric([reason], float(count))
    open_now = GaugeMetricFamily(
        "tethra_holds_open", "Holds waiting for a person now, by reason.", labels=["reason"]
    )
    for reason, count in sorted(waiting.items()):
        open_now.add_metric([reason], float(count))
    stake = GaugeMetricFamily(
        "tethra_holds_open_amount",
        "Invoice amount at stake on open holds, by currency.",
        labels=["currency"],
    )
    for currency, amount in sorted(at_stake.items()):
        stake.add_metric([currency], amount)
    return [total, open_now, stake]


def delivery(engine: Engine) -> list[Metric]:
    with Session(engine) as session:
        unpublished = session.execute(
            sa_select(func.count()).where(col(OutboxMessage.published_at).is_(None))
        ).scalar_one()
        hooks = session.execute(
            sa_select(
                col(WebhookDelivery.status),
                func.count(),
                func.coalesce(func.sum(case((col(WebhookDelivery.attempts) > 0, 1), else_=0)), 0),
            ).group_by(col(WebhookDelivery.status))
        ).all()
    outbox = GaugeMetricFamily(
        "tethra_outbox_unpublished", "Bus messages committed in SQL and not yet relayed."
    )
    outbox.add_metric([], float(unpublished))
    deliveries = GaugeMetricFamily(
        "tethra_webhook_deliveries",
        "Webhook deliveries by status (pending | delivered | dead).",
        labels=["status"],
    )
    retrying = GaugeMetricFamily(
        "tethra_webhook_deliveries_retrying",
        "Pending webhook deliveries that have failed at least once.",
    )
    failing = 0
    for status, count, attempted in hooks:
        deliveries.add_metric([status], float(count))
        if status == "pending":
            failing = int(attempted)
    retrying.add_metric([], float(failing))
    return [outbox, deliveries, retrying]


def bus(rt: Runtime) -> list[Metric]:
    if not isinstance(rt.bus, RedisBus):
        return []
    client, keys = rt.bus.client, rt.bus.keys
    backlog = GaugeMetricFamily(
        "tethra_bus_backlog",
        "Bus events not yet handled: undelivered (lag) or delivered and unacknowledged.",
        labels=["state"],
    )
    lag = 0
    for group in client.xinfo_groups(keys.events) if client.exists(keys.events) else []:
        name = group.get("name", b"")
        if (name.decode() if isinstance(name, bytes) else name) == keys.group:
            lag = int(group.get("lag") or 0)
    backlog.add_metric(["undelivered"], float(lag))
    backlog.add_metric(["unacked"], float(rt.bus.pending_count()))
    dead = GaugeMetricFamily("tethra_bus_dead_letters", "Events no handler could take.")
    dead.add_metric([], float(rt.bus.dead_letter_count()))
    workers = GaugeMetricFamily("tethra_workers_alive", "Workers with a live heartbeat.")
    workers.add_metric([], float(len(live_workers(client, keys))))
    return [backlog, dead, workers]


class TethraCollector(Collector):
    """Registered on a per-app registry; reads every source on each scrape."""

    def __init__(self, rt: Runtime) -> None:
        engine = rt.engine
        self.sources: dict[str, Source] = {
            "approvals": lambda: approvals(engine),
            "executions": lambda: executions(engine),
            "models": lambda: models(engine),
            "alerts": lambda: alerts(engine),
            "holds": lambda: holds(engine),
            "delivery": lambda: delivery(engine),
            "bus": lambda: bus(rt),
        }

    def collect(self) -> Iterable[Metric]:
        up = GaugeMetricFamily(
            "tethra_metrics_source_up",
            "1 when the source answered this scrape, 0 when it failed (see the API log).",
            labels=["source"],
        )
        took = GaugeMetricFamily(
            "tethra_metrics_source_duration",
            "How long each source took to read on this scrape.",
            labels=["source"],
            unit="seconds",
        )
        for name, read in self.sources.items():
            began = time.perf_counter()
            try:
                yield from read()
                up.add_metric([name], 1.0)
            except Exception as exc:
                log.warning("metrics source failed", source=name, error=str(exc))
                up.add_metric([name], 0.0)
            took.add_metric([name], time.perf_counter() - began)
        yield up
        yield took
