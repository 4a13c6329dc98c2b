"""compose.yaml and the Dockerfile agree with the code (Docker does not run here, so the
files are read, not run).

Every variable the Tethra services set is a settings field (a typo such as
TETHRA_REDIS_ULR would otherwise be ignored silently), the values compose passes
validate, required values fail fast, and the image contains every package.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from foundation.config_reference import variables
from foundation.settings import Settings
from tethra.cli import app

ROOT = Path(__file__).resolve().parents[2]
COMPOSE: dict[str, Any] = yaml.safe_load((ROOT / "compose.yaml").read_text())
SERVICES: dict[str, Any] = COMPOSE["services"]
TETHRA_SERVICES = ("migrate", "api", "worker")
REFERENCE = re.compile(r"\$\{(?P<name>[A-Z0-9_]+)(?P<op>:[-?])?(?P<arg>[^}]*)\}")


def env_of(service: str) -> dict[str, str]:
    env = SERVICES[service].get("environment", {})
    assert isinstance(env, dict), f"{service}: write environment as a mapping"
    return {str(k): str(v) for k, v in env.items()}


def interpolate(value: str) -> str:
    """What compose would pass, with every required variable given a sample value."""

    def one(match: re.Match[str]) -> str:
        return match["arg"] if match["op"] == ":-" else "sample"

    return REFERENCE.sub(one, value)


@pytest.mark.parametrize("service", TETHRA_SERVICES)
def test_every_variable_a_service_sets_is_a_setting(service: str) -> None:
    declared = variables()
    undeclared = sorted(set(env_of(service)) - declared)
    assert undeclared == [], f"{service} sets variables the settings never read: {undeclared}"


@pytest.mark.parametrize("service", TETHRA_SERVICES)
def test_the_values_compose_passes_are_valid_settings(
    service: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in variables():
        monkeypatch.delenv(name, raising=False)
    for name, value in env_of(service).items():
        monkeypatch.setenv(name, interpolate(value))
    settings = Settings(_env_file=None)
    assert settings.database_url.startswith("postgresql+psycopg://tethra:sample@postgres")
    if service != "migrate":
        assert settings.redis_url == "redis://redis:6379/0"
        assert settings.log_format == "json"


def test_secrets_are_required_and_every_reference_fails_fast_or_has_a_default() -> None:
    lines = (ROOT / "compose.yaml").read_text().splitlines()
    text = "\n".join(line for line in lines if not line.lstrip().startswith("#"))
    refs = list(REFERENCE.finditer(text))
    assert refs
    bare = sorted({m["name"] for m in refs if m["op"] is None})
    assert bare == [], f"use ${{VAR:?message}} or ${{VAR:-default}}, not bare: {bare}"
    required = {m["name"] for m in refs if m["op"] == ":?"}
    assert "POSTGRES_PASSWORD" in required
    assert all(m["arg"].strip() for m in refs if m["op"] == ":?"), "say what to set"
    documented = (ROOT / ".env.example").read_text()
    missing = sorted({m["name"] for m in refs} - set(re.findall(r"[A-Z0-9_]+(?==)", documented)))
    assert missing == [], f".env.example does not mention {missing}"


def test_migrations_run_first_and_workers_scale() -> None:
    assert SERVICES["migrate"]["command"][:2] == ["tethra", "init"]
    for service in ("api", "worker"):
        needs = SERVICES[service]["depends_on"]
        assert needs["migrate"] == {"condition": "service_completed_successfully"}
        assert needs["postgres"]["condition"] == "service_healthy"
        assert needs["redis"]["condition"] == "service_healthy"
    assert "replicas" in SERVICES["worker"]["deploy"]
    assert "ports" not in SERVICES["worker"], "a published port would stop --scale worker=N"
    assert "container_name" not in SERVICES["worker"]
    assert "/readyz" in " ".join(SERVICES["api"]["healthcheck"]["test"])


def test_redis_keeps_an_append_only_file_on_a_volume() -> None:
    redis = SERVICES["redis"]
    command = redis["command"]
    assert command[command.index("--appendonly") + 1] == "yes"
    assert any(v.endswith(":/data") for v in redis["volumes"])
    assert any(v.endswith(":/var/lib/postgresql/data") for v in SERVICES["postgres"]["volumes"])


@pytest.mark.parametrize("service", TETHRA_SERVICES)
def test_service_commands_exist_with_those_options(service: str) -> None:
    command: list[str] = SERVICES[service]["command"]
    assert command[0] == "tethra"
    words = command[1:]
    subcommand = [w for w in words if not w.startswith("-")][:1]
    result = CliRunner().invoke(app, [*subcommand, "--help"])
    assert result.exit_code == 0, result.output
    for option in (w for w in words if w.startswith("--")):
        assert option in result.output, f"`tethra {subcommand[0]}` has no {option}"


def test_the_image_contains_every_package() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    packages = {p.removesuffix("*") for p in patterns}
    dockerfile = (ROOT / "Dockerfile").read_text()
    copied = set(re.findall(r"^COPY (\w+) ", dockerfile, flags=re.MULTILINE))
    assert packages <= copied, f"Dockerfile does not copy {sorted(packages - copied)}"
    assert re.search(r"^USER (?!root)", dockerfile, flags=re.MULTILINE), "run as non-root"
    assert "HEALTHCHECK" in dockerfile
