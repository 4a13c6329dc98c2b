"""The cost and budget events read as sentences in `tethra audit show`."""

from __future__ import annotations

from audit import describe
from tests.audit.test_timeline import _event


def test_budget_events_and_priced_model_calls_read_as_sentences() -> None:
    warning = _event(
        "budget_warning",
        {
            "scope": "run",
            "subject": "run_1",
            "threshold": 85,
            "spent_usd": "0.4",
            "projected_usd": "0.43",
            "cap_usd": "0.5",
        },
    )
    assert describe(warning) == (
        "budget  warning: run run_1 at 85% of its $0.5 cap ($0.4 spent, $0.43 with the next call)"
    )
    stop = _event("budget_exceeded", {"scope": "agent", "subject": "ops", "reason": "over $1"})
    assert describe(stop) == "budget  STOP: over $1"
    assert describe(_event("run_stopped", {"reason": "over $1"})) == "run     stopped: over $1"
    call = _event(
        "model_call",
        {
            "agent": "ops",
            "model": "offline",
            "prompt_version": "abc",
            "input_tokens": 120,
            "cached_input_tokens": 100,
            "output_tokens": 7,
            "latency_ms": 3.0,
            "cost_usd": "0.000058",
            "tool_calls": [],
        },
    )
    assert describe(call) == (
        "model   ops called offline (prompt abc; 120 in (100 cached) / 7 out tokens; 3.0 ms; "
        "$0.000058) -> answered"
    )
    failed = _event(
        "model_call",
        {
            "agent": "ops",
            "model": "offline",
            "status": "failed",
            "error": "Timeout: slow",
            "input_tokens": 0,
            "output_tokens": 0,
        },
    )
    assert describe(failed).endswith("-> FAILED: Timeout: slow")
