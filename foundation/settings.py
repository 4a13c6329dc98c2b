"""All configuration in one validated class, read from ``TETHRA_*`` environment variables.

Bad configuration fails at start with a message naming the variable to set, rather
than surfacing later as an obscure driver error.
"""

from __future__ import annotations

import re
import typing
from datetime import timedelta
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict, SettingsError

from foundation.errors import ConfigError


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="TETHRA_", env_file=".env", extra="ignore", frozen=True
    )

    database_url: str = Field(
        default="sqlite:///.tethra/tethra.db",
        description="SQLAlchemy URL of the system of record: sqlite:///PATH or "
        "postgresql+psycopg://USER@HOST:PORT/DB.",
    )
    checkpoint_path: Path | None = Field(
        default=None,
        description="SQLite file for LangGraph checkpoints when the database is SQLite "
        "(default: beside the database file). PostgreSQL keeps checkpoints in the database.",
    )
    redis_url: str | None = Field(
        default=None,
        description="redis://HOST:PORT/DB. When set, the approval bus runs on Redis Streams; "
        "otherwise an in-process bus serves a single process.",
    )
    redis_prefix: str = Field(default="tethra", description="Prefix of every Redis key.")
    model: str = Field(
        default="offline",
        description="Chat model: 'offline' (deterministic, no network) or any "
        "init_chat_model spec such as 'openai:gpt-4.1'.",
    )
    policy_file: Path | None = Field(
        default=None, description="Policy YAML file (default: the bundled policies/default.yaml)."
    )
    prices_file: Path | None = Field(
        default=None,
        description="Model price table (YAML, USD per million tokens) used by the cost "
        "ledger and budget caps (default: the bundled audit/prices.yaml).",
    )
    run_budget_usd: float | None = Field(
        default=1.0,
        gt=0,
        description="Cost cap of one run in USD (all its model calls); unset = no run cap.",
    )
    workflow_budgets_usd: dict[str, float] = Field(
        default_factory=dict,
        description='Daily cost caps per workflow in USD as JSON, e.g. {"chat": 20}. '
        "Per-agent daily caps are budget_usd in agents/<name>/spec.yaml.",
    )
    spot_check_share: float = Field(
        default=0.05,
        ge=0,
        le=1,
        description="Share (0-1) of automatically filed invoices sent to the spot-check queue.",
    )
    tolerances_file: Path | None = Field(
        default=None,
        description="Three-way match tolerances YAML owned by finance "
        "(default: the bundled policies/tolerances.yaml).",
    )
    invoice_checks_file: Path | None = Field(
        default=None,
        description="Output checks YAML for invoices (default: policies/checks/invoice.yaml).",
    )
    execution_lease: timedelta = Field(
        default=timedelta(seconds=120),
        description="How long an in-flight tool execution is presumed alive before it is "
        "treated as in doubt.",
    )
    secrets: dict[str, SecretStr] = Field(
        default_factory=dict,
        description='Named secrets for tool adapters as JSON, e.g. {"CRM_TOKEN": "..."}. '
        "A registered HTTP or MCP tool names the secret it authenticates with; the value "
        "is read here at call time and never stored with the tool.",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO",
        description="Lowest level logged by long-running processes (interactive commands "
        "hold routine INFO lines back).",
    )
    log_format: Literal["auto", "json", "console"] = Field(
        default="auto", description="'auto' prints JSON unless stderr is a terminal."
    )
    session_secret: SecretStr | None = Field(
        default=None,
        min_length=32,
        description="Key (32+ characters) signing the web pages' session cookies. Unset: a "
        "random key per API process, so sign-ins end on restart; set it when several API "
        "processes serve the pages.",
    )
    session_hours: float = Field(
        default=12.0, gt=0, le=24 * 30, description="How long a web sign-in lasts, in hours."
    )
    otlp_endpoint: str | None = Field(
        default=None,
        validation_alias="OTEL_EXPORTER_OTLP_ENDPOINT",
        description="OpenTelemetry collector base URL (OTLP over HTTP), e.g. "
        "http://otel-collector:4318; traces go to its /v1/traces. Unset = no tracing export. "
        "The standard OpenTelemetry variable name, so collectors' docs apply as written.",
    )
    otel_service_name: str = Field(
        default="tethra",
        min_length=1,
        validation_alias="OTEL_SERVICE_NAME",
        description="service.name on exported spans (e.g. tethra-api, tethra-worker).",
    )

    @field_validator("*", mode="before")
    @classmethod
    def _durations_in_seconds(cls, value: object, info: ValidationInfo) -> object:
        """Every duration takes plain seconds (``120``, ``0.5``) as the configuration
        reference documents, as well as an ISO 8601 duration (``PT2M``)."""
        if not isinstance(value, str) or info.field_name is None:
            return value
        if not _is_duration(cls.model_fields[info.field_name].annotation):
            return value
        try:
            return timedelta(seconds=float(value.strip()))
        except (ValueError, OverflowError):  # not a number: pydantic parses it (or says why)
            return value

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, value: str) -> str:
        if not value.startswith(("sqlite:///", "postgresql")):
            raise ValueError(
                "must start with sqlite:/// or postgresql (e.g. postgresql+psycopg://user@host/db)"
            )
        if value.startswith("postgresql://"):
            value = "postgresql+psycopg://" + value.removeprefix("postgresql://")
        return value

    @field_validator("run_budget_usd", mode="before")
    @classmethod
    def _optional_budget(cls, value: object) -> object:
        return None if value in ("", "none", "None") else value

    @field_validator("workflow_budgets_usd")
    @classmethod
    def _positive_budgets(cls, value: dict[str, float]) -> dict[str, float]:
        bad = sorted(name for name, usd in value.items() if not usd > 0)
        if bad:
            raise ValueError(f"every cap must be a positive number of USD ({', '.join(bad)})")
        return value

    @field_validator("otlp_endpoint")
    @classmethod
    def _http_endpoint(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL (OTLP over HTTP)")
        return value

    @field_validator("redis_url")
    @classmethod
    def _known_redis(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        if not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must start with redis://, rediss:// or unix://")
        return value

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def sqlite_checkpoint_path(self) -> Path:
        if self.checkpoint_path is not None:
            return self.checkpoint_path
        db_file = Path(self.database_url.removeprefix("sqlite:///"))
        return db_file.with_name(db_file.stem + "-checkpoints.sqlite")


def _is_duration(annotation: object) -> bool:
    """``timedelta``, optional or not."""
    return annotation is timedelta or timedelta in typing.get_args(annotation)


def load_settings(**overrides: object) -> Settings:
    """Build settings, turning validation errors into one message that names each variable."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            field = ".".join(str(p) for p in err["loc"]) or "?"
            lines.append(f"  set {env_name(field)}: {err['msg']}")
        raise ConfigError("invalid configuration:\n" + "\n".join(lines)) from exc
    except SettingsError as exc:  # a JSON variable that does not parse
        named = re.search(r'field "([^"]+)"', str(exc))
        where = env_name(named.group(1)) if named else "a TETHRA_* variable"
        raise ConfigError(f"invalid configuration:\n  set {where}: not valid JSON") from exc


def env_name(field: str) -> str:
    """The environment variable that sets ``field`` (a field name or its alias)."""
    info = Settings.model_fields.get(field)
    if info is not None and isinstance(info.validation_alias, str):
        return info.validation_alias
    if field.isupper():  # already an alias, as validation errors report it
        return field
    return f"TETHRA_{field.upper()}"
