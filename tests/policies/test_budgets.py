"""Budget arithmetic: which caps apply, when each warning fires, when a call must stop."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from policies.budgets import Cap, Caps, Crossing, check, claim_alert


def spent(run: int = 0, agent: int = 0, workflow: int = 0) -> dict:  # type: ignore[type-arg]
    return {"run": run, "agent": agent, "workflow": workflow}


def test_caps_that_apply_to_a_call() -> None:
    caps = Caps(run_pusd=100, workflow_daily_pusd={"invoice": 500})
    found = caps.applying(
        run_id="run_1", agent="finance", agent_daily_pusd=300, workflow="invoice", day="2026-11-24"
    )
    assert [(c.scope, c.subject, c.period, c.limit_pusd) for c in found] == [
        ("run", "run_1", "", 100),
        ("agent", "finance", "2026-11-24", 300),
        ("workflow", "invoice", "2026-11-24", 500),
    ]
    assert (
        Caps().applying(run_id="r", agent="a", agent_daily_pusd=None, workflow="chat", day="d")
        == []
    )


@pytest.mark.parametrize(
    ("already", "next_call", "warnings", "stops"),
    [
        (0, 84, [], False),
        (0, 85, [85], False),
        (90, 5, [85, 95], False),
        (90, 10, [85, 95], False),  # exactly at the cap is allowed
        (90, 11, [85, 95], True),  # one pico-dollar over is not
        (101, 0, [85, 95], True),
    ],
)
def test_warnings_at_85_and_95_percent_and_a_stop_over_the_cap(
    already: int, next_call: int, warnings: list[int], stops: bool
) -> None:
    verdict = check([Cap("run", "r", "", 100)], spent(run=already), next_call)
    assert [w.threshold for w in verdict.warnings] == warnings
    assert (verdict.stop is not None) == stops


def test_the_first_cap_that_would_be_exceeded_is_named() -> None:
    caps = [Cap("run", "r", "", 1000), Cap("agent", "ops", "d", 50)]
    verdict = check(caps, spent(run=10, agent=45), 10)
    assert verdict.stop is not None
    assert verdict.stop.cap.scope == "agent"
    assert verdict.stop.projected_pusd == 55


def test_each_alert_is_claimed_once(engine: Engine) -> None:
    crossing = Crossing(Cap("agent", "ops", "2026-11-24", 100), 85, 80, 86)
    with Session(engine) as session:
        assert claim_alert(session, crossing, "run_1")
        assert not claim_alert(session, crossing, "run_2")
        next_day = Crossing(Cap("agent", "ops", "2026-11-25", 100), 85, 80, 86)
        assert claim_alert(session, next_day, "run_3")
        session.commit()
