"""Model spend for auditors: totals by agent and model, and daily spend by agent as an
inline SVG chart drawn on the server (no chart library, nothing to load)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse
from sqlmodel import Session

from api.deps import EngineDep
from api.web.deps import AuditReader
from api.web.render import WebRoute, page
from audit.costs import CostFilter, spend_by

router = APIRouter(prefix="/web/costs", route_class=WebRoute, include_in_schema=False)

COLORS = ("#2856c8", "#e58e3c", "#1f7a4a", "#a77bf0", "#b42318", "#0e8a9b", "#6b7385")
WIDTH, HEIGHT, LEFT, BOTTOM, TOP = 760, 260, 64, 28, 12


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    color: str
    title: str


@dataclass(frozen=True)
class Chart:
    bars: list[Bar]
    ticks: list[tuple[float, str]]
    """(y, label) of horizontal grid lines."""
    days: list[tuple[float, str]]
    """(x, label) under the bars; every few days so the labels do not collide."""
    legend: list[tuple[str, str]]
    width: int = WIDTH
    height: int = HEIGHT


def daily_chart(days: list[date], by_agent: dict[str, dict[str, Decimal]]) -> Chart:
    """Stacked bars: one per day, one segment per agent."""
    totals = [
        sum((s.get(d.isoformat(), Decimal(0)) for s in by_agent.values()), Decimal(0)) for d in days
    ]
    top = max(totals, default=Decimal(0)) or Decimal(1)
    plot_h = HEIGHT - TOP - BOTTOM
    slot = (WIDTH - LEFT) / max(len(days), 1)
    colors = {agent: COLORS[i % len(COLORS)] for i, agent in enumerate(sorted(by_agent))}
    bars: list[Bar] = []
    for i, day in enumerate(days):
        base = float(HEIGHT - BOTTOM)
        for agent in sorted(by_agent):
            usd = by_agent[agent].get(day.isoformat(), Decimal(0))
            if not usd:
                continue
            h = float(usd / top) * plot_h
            base -= h
            title = f"{day.isoformat()} · {agent}: ${usd:.6f}"
            bars.append(
                Bar(LEFT + i * slot + slot * 0.15, base, slot * 0.7, h, colors[agent], title)
            )
    ticks = [(HEIGHT - BOTTOM - plot_h * k / 4, f"${top * k / 4:.4f}") for k in range(5)]
    step = max(1, len(days) // 8)
    labels = [
        (LEFT + i * slot + slot / 2, d.strftime("%m-%d"))
        for i, d in enumerate(days)
        if i % step == 0
    ]
    return Chart(bars, ticks, labels, [(a, colors[a]) for a in sorted(by_agent)])


@router.get("")
def costs(
    request: Request,
    session: AuditReader,
    engine: EngineDep,
    days: Annotated[int, Query(ge=1, le=90)] = 14,
) -> HTMLResponse:
    today = datetime.now(UTC).date()
    since = today - timedelta(days=days - 1)
    window = CostFilter(since=since, until=today)
    with Session(engine) as db:
        agents = spend_by(db, "agent", window)
        models = spend_by(db, "model", window)
        per_agent = {
            a.key: {
                s.key: s.cost_usd
                for s in spend_by(db, "day", CostFilter(agent=a.key, since=since, until=today))
            }
            for a in agents
        }
    span = [since + timedelta(days=i) for i in range(days)]
    total = sum((a.cost_usd for a in agents), Decimal(0))
    context = {
        "agents": agents,
        "models": models,
        "chart": daily_chart(span, per_agent),
        "days": days,
        "total": total,
        "calls": sum(a.calls for a in agents),
        "unpriced": sum(a.unpriced_calls for a in agents),
    }
    return page(request, "costs.html", session, context)
