"""Agents load from their folders; broken files fail at start, naming file and field."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest

from agents.spec import AgentSpec, load_agent, load_agents
from foundation.errors import ConfigError
from tests.agents.tooling import ALL_TOOLS

GOOD_SPEC = """\
name: {name}
description: Test agent.
model: null
tools: [get_order]
max_steps: 3
budget_usd: 0.25
handoffs: {handoffs}
"""


def _write_agent(
    root: Path, name: str, spec: str | None = None, prompt: str = "Be useful.\n"
) -> Path:
    folder = root / name
    folder.mkdir()
    (folder / "spec.yaml").write_text(spec or GOOD_SPEC.format(name=name, handoffs="[]"))
    (folder / "prompt.md").write_text(prompt)
    return folder


def test_bundled_ops_agent_loads() -> None:
    agents = load_agents()
    assert "ops" in agents
    ops = agents["ops"]
    assert re.fullmatch(r"[0-9a-f]{12}", ops.prompt_version)
    prompt_bytes = (Path(__file__).parents[2] / "agents" / "ops" / "prompt.md").read_bytes()
    assert ops.prompt_version == hashlib.sha256(prompt_bytes).hexdigest()[:12]
    assert ops.spec.handoffs == ("finance", "support")
    everyone = {t for a in agents.values() for t in a.spec.tools}
    assert everyone == set(ALL_TOOLS)  # every bundled tool is some agent's
    assert set(agents["finance"].spec.tools) & {"refund_order", "send_email"} == set()
    assert set(agents["support"].spec.tools) & {"pay_invoice", "post_invoice"} == set()
    assert ops.spec.max_steps == 12
    assert ops.spec.model is None
    assert "approv" in ops.prompt
    assert "instructions" in ops.prompt


def test_loads_from_another_root(tmp_path: Path) -> None:
    _write_agent(tmp_path, "finance")
    _write_agent(tmp_path, "triage", GOOD_SPEC.format(name="triage", handoffs="[finance]"))
    (tmp_path / "not_an_agent").mkdir()
    agents = load_agents(tmp_path)
    assert sorted(agents) == ["finance", "triage"]
    assert agents["triage"].spec.handoffs == ("finance",)
    assert agents["finance"].spec.budget_usd == 0.25
    assert agents["finance"].prompt == "Be useful."
    assert agents["finance"].prompt_version == hashlib.sha256(b"Be useful.\n").hexdigest()[:12]


@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        ("name: broken\ndescription: x\ntools: [a]\nmax_steps: 3\ncolour: red\n", "colour"),
        ("name: broken\ndescription: x\ntools: [a]\n", "max_steps"),
        ("name: broken\ndescription: x\ntools: [a]\nmax_steps: '3'\n", "max_steps"),
        ("name: broken\ndescription: x\ntools: [a, a]\nmax_steps: 3\n", "listed more than once"),
        ("name: other\ndescription: x\ntools: [a]\nmax_steps: 3\n", "the folder is 'broken'"),
        ("name: broken\ndescription: [unclosed\n", "not valid YAML"),
        ("- just\n- a list\n", "must be a mapping"),
    ],
)
def test_broken_spec_names_the_file_and_problem(tmp_path: Path, spec: str, problem: str) -> None:
    folder = _write_agent(tmp_path, "broken", spec)
    with pytest.raises(ConfigError) as info:
        load_agents(tmp_path)
    message = str(info.value)
    assert str(folder / "spec.yaml") in message
    assert problem in message


def test_unknown_handoff_is_rejected(tmp_path: Path) -> None:
    _write_agent(tmp_path, "triage", GOOD_SPEC.format(name="triage", handoffs="[ghost]"))
    with pytest.raises(ConfigError, match=r"triage/spec.yaml: handoffs: ghost"):
        load_agents(tmp_path)


def test_missing_or_empty_prompt_is_rejected(tmp_path: Path) -> None:
    _write_agent(tmp_path, "quiet", prompt="  \n")
    with pytest.raises(ConfigError, match=r"quiet/prompt.md: is empty"):
        load_agent("quiet", tmp_path)
    with pytest.raises(ConfigError, match="no agent named 'ghost'"):
        load_agent("ghost", tmp_path)


def test_spec_is_frozen() -> None:
    spec = AgentSpec(name="x", description="d", tools=("a",), max_steps=1)
    with pytest.raises(ValueError, match="frozen"):
        spec.max_steps = 2  # type: ignore[misc]
