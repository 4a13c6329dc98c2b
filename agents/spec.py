"""Agents as files: ``agents/<name>/prompt.md`` plus ``agents/<name>/spec.yaml``.

Prompts and tool allowances live in the owner's repository so they are reviewed like
code, and ``prompt_version`` (a hash of the prompt bytes) goes into every audited model
call so a behaviour change can be traced to the prompt edit that caused it. A broken
file fails loudly at start with the file and the field named.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictFloat,
    StrictInt,
    StrictStr,
    ValidationError,
    field_validator,
)

from foundation.errors import ConfigError

AGENTS_ROOT = Path(__file__).parent
SPEC_FILE = "spec.yaml"
PROMPT_FILE = "prompt.md"

Name = Annotated[StrictStr, Field(pattern=r"^[a-z][a-z0-9_-]{0,63}$")]


class AgentSpec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: Name
    description: Annotated[StrictStr, Field(min_length=1)]
    model: StrictStr | None = None
    """A ``make_chat_model`` spec; None means the configured default (TETHRA_MODEL)."""
    tools: tuple[Annotated[StrictStr, Field(min_length=1)], ...]
    max_steps: Annotated[StrictInt, Field(ge=1, le=200)]
    budget_usd: Annotated[StrictFloat, Field(gt=0)] | None = None
    handoffs: tuple[Name, ...] = ()
    systems: tuple[Annotated[StrictStr, Field(min_length=1)], ...] = ()
    """Systems whose tools this agent may call besides ``tools``: any tool of a listed
    system, built in or registered later and enabled (see docs/add-a-tool-adapter.md)."""

    @field_validator("tools", "handoffs", "systems")
    @classmethod
    def _no_duplicates(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        repeated = sorted({v for v in value if value.count(v) > 1})
        if repeated:
            raise ValueError(f"listed more than once: {', '.join(repeated)}")
        return value


class AgentDefinition(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    spec: AgentSpec
    prompt: str
    prompt_version: str
    """First 12 hex digits of sha256 over the prompt file's bytes."""

    @property
    def name(self) -> str:
        return self.spec.name


def _describe(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or '(file)'}: {e['msg']}" for e in exc.errors()
    )


def _read_spec(path: Path) -> AgentSpec:
    try:
        raw: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: must be a mapping of keys (name, description, tools, ...)")
    try:
        return AgentSpec.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"{path}: {_describe(exc)}") from exc


def load_agent(name: str, root: Path | None = None) -> AgentDefinition:
    folder = (root or AGENTS_ROOT) / name
    spec_path, prompt_path = folder / SPEC_FILE, folder / PROMPT_FILE
    if not spec_path.is_file():
        raise ConfigError(f"no agent named {name!r}: {spec_path} does not exist")
    spec = _read_spec(spec_path)
    if spec.name != name:
        raise ConfigError(f"{spec_path}: name is {spec.name!r} but the folder is {name!r}")
    if not prompt_path.is_file():
        raise ConfigError(f"{prompt_path}: missing; every agent needs a prompt file")
    data = prompt_path.read_bytes()
    try:
        prompt = data.decode("utf-8").strip()
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{prompt_path}: not UTF-8 text ({exc})") from exc
    if not prompt:
        raise ConfigError(f"{prompt_path}: is empty")
    version = hashlib.sha256(data).hexdigest()[:12]
    return AgentDefinition(spec=spec, prompt=prompt, prompt_version=version)


def load_agents(root: Path | None = None) -> dict[str, AgentDefinition]:
    """Every folder under ``root`` with a spec.yaml; hand-offs must name loaded agents."""
    base = root or AGENTS_ROOT
    agents = {
        folder.name: load_agent(folder.name, base)
        for folder in sorted(base.iterdir())
        if (folder / SPEC_FILE).is_file()
    }
    for agent in agents.values():
        unknown = [h for h in agent.spec.handoffs if h not in agents or h == agent.name]
        if unknown:
            raise ConfigError(
                f"{base / agent.name / SPEC_FILE}: handoffs: {', '.join(unknown)} "
                f"is not another agent (known: {', '.join(sorted(agents))})"
            )
    return agents
