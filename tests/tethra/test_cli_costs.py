"""``tethra costs`` on a real chat with the offline model and the bundled price table."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest

from tests.cli_demo import demo_db, tethra

__all__ = ["demo_db"]


def test_spend_by_agent_and_per_call_after_a_handed_off_refund(demo_db: str) -> None:
    chat = tethra("chat", "--as", "olivia", "-m", "refund $40 on order 1043")
    assert chat.exit_code == 0, chat.output
    by_agent = tethra("costs", "--by", "agent")
    assert by_agent.exit_code == 0, by_agent.output
    rows = {line.split()[0]: line.split() for line in by_agent.output.splitlines()[1:]}
    assert set(rows) == {"ops", "support"}
    assert rows["ops"][1] == "1"  # ops hands off once; support proposes, then answers
    assert rows["support"][1] == "2"
    per_call = tethra("costs", "--calls")
    assert per_call.exit_code == 0, per_call.output
    costs = [Decimal(m) for m in re.findall(r"\$([0-9.]+)", per_call.output)]
    total = sum(Decimal(r[-1].lstrip("$")) for r in rows.values())
    assert costs
    assert sum(costs) == total  # per call and per agent add up to the same exact amount
    story = tethra("audit", "search", "--kind", "model_call")
    assert "$0.0" in story.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["costs", "--since", "yesterday"], "--since must be a date like 2026-11-24"),
        (["costs", "--by", "colour"], "group costs by one of run, thread"),
        (["eval", "--record", "--replay"], "choose one of --record and --replay"),
    ],
)
def test_bad_options_are_refused_with_a_message(
    demo_db: str, args: list[str], message: str
) -> None:
    result = tethra(*args)
    assert result.exit_code != 0
    assert message in " ".join(str(result.exception or "").split() + result.output.split())
