"""All configuration in one validated class, read from ``TETHRA_*`` environment variables.

Bad configuration fails at start with a message naming the variable to set, rather
than surfacing later as an obscure driver error.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from tethra.errors import ConfigError


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
    execution_lease: timedelta = Field(
        default=timedelta(seconds=120),
        description="How long an in-flight tool execution is presumed alive before it is "
        "treated as in doubt.",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["auto", "json", "console"] = Field(
        default="auto", description="'auto' prints JSON unless stderr is a terminal."
    )

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


def load_settings(**overrides: object) -> Settings:
    """Build settings, turning validation errors into one message that names each variable."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            field = ".".join(str(p) for p in err["loc"]) or "?"
            lines.append(f"  set TETHRA_{field.upper()}: {err['msg']}")
        raise ConfigError("invalid configuration:\n" + "\n".join(lines)) from exc
