"""Idempotency-Key records for POST requests with effects.

A client that retries a chat message, a decision or a user creation after a timeout
must not cause the effect twice. The first request claims ``(user, key)`` with an
INSERT in its own short transaction (the primary key is the lock, so it works across
API processes); the answer is stored when the effect is done, and a repeat gets that
answer back. A repeat with another body is a client bug (422); a repeat while the first
is still working is told to wait (409). An effect that fails releases the key, so the
client may retry the same key once the cause is fixed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from fastapi import Request, Response
from pydantic import BaseModel
from sqlalchemy import JSON, Column, delete, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Field, Session, SQLModel, col

from tethra.canonical import canonical_json, sha256_hex
from tethra.db import UTCDateTime, rows_affected, session_scope, utcnow
from tethra.errors import Conflict, InvalidInput

STALE_AFTER = timedelta(minutes=10)
"""An in-progress claim older than this is presumed abandoned (its process died)."""
REPLAYED_HEADER = "Idempotent-Replayed"

M = TypeVar("M", bound=BaseModel)


class IdempotencyKey(SQLModel, table=True):
    __tablename__ = "api_idempotency_keys"

    user_name: str = Field(primary_key=True, max_length=64)
    key: str = Field(primary_key=True, max_length=255)
    method: str = Field(max_length=8)
    path: str = Field(max_length=512)
    request_hash: str = Field(max_length=64)
    status: str = Field(default="in_progress", max_length=16)  # in_progress | done
    response_status: int | None = None
    response_body: Any = Field(default=None, sa_column=Column(JSON))
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False, index=True)
    )


@dataclass(frozen=True)
class Stored:
    status: int
    body: Any


def request_hash(method: str, path: str, body: BaseModel) -> str:
    return sha256_hex(canonical_json([method, path, body.model_dump(mode="json")]))


def claim(
    engine: Engine, user: str, key: str, method: str, path: str, digest: str
) -> Stored | None:
    """None: the caller now owns the key and must ``complete`` or ``release`` it."""
    for _ in range(3):
        try:
            with session_scope(engine) as session:
                session.add(
                    IdempotencyKey(
                        user_name=user, key=key, method=method, path=path, request_hash=digest
                    )
                )
            return None
        except IntegrityError:
            pass
        with Session(engine) as session:
            row = session.get(IdempotencyKey, (user, key))
        if row is None:  # released between our INSERT and SELECT: try again
            continue
        if row.request_hash != digest:
            raise InvalidInput(
                f"Idempotency-Key {key!r} was first used for a different request "
                f"({row.method} {row.path} with another body); use a new key"
            )
        if row.status == "done":
            return Stored(row.response_status or 200, row.response_body)
        if row.created_at > utcnow() - STALE_AFTER or not _take_over(engine, row):
            raise Conflict(
                f"a request with Idempotency-Key {key!r} is still in progress; "
                "retry it later to get its answer"
            )
        return None
    raise Conflict(f"Idempotency-Key {key!r} is contended; retry later")


def _take_over(engine: Engine, row: IdempotencyKey) -> bool:
    with session_scope(engine) as session:
        result = session.execute(
            update(IdempotencyKey)
            .where(
                col(IdempotencyKey.user_name) == row.user_name,
                col(IdempotencyKey.key) == row.key,
                col(IdempotencyKey.status) == "in_progress",
                col(IdempotencyKey.created_at) == row.created_at,
            )
            .values(created_at=utcnow())
        )
        return rows_affected(result) == 1


def complete(engine: Engine, user: str, key: str, stored: Stored) -> None:
    with session_scope(engine) as session:
        session.execute(
            update(IdempotencyKey)
            .where(col(IdempotencyKey.user_name) == user, col(IdempotencyKey.key) == key)
            .values(status="done", response_status=stored.status, response_body=stored.body)
        )


def release(engine: Engine, user: str, key: str) -> None:
    with session_scope(engine) as session:
        session.execute(
            delete(IdempotencyKey).where(
                col(IdempotencyKey.user_name) == user,
                col(IdempotencyKey.key) == key,
                col(IdempotencyKey.status) == "in_progress",
            )
        )


def purge(engine: Engine, older_than: timedelta) -> int:
    """Forget finished keys older than ``older_than`` (for a periodic job)."""
    with session_scope(engine) as session:
        result = session.execute(
            delete(IdempotencyKey).where(
                col(IdempotencyKey.status) == "done",
                col(IdempotencyKey.created_at) < utcnow() - older_than,
            )
        )
        return rows_affected(result)


class Idempotency:
    """Per-request helper: ``run(body, Model, produce)`` does the effect at most once."""

    def __init__(
        self, engine: Engine, user: str, key: str | None, request: Request, response: Response
    ) -> None:
        self.engine, self.user, self.key = engine, user, key
        self.request, self.response = request, response

    def run(
        self, body: BaseModel, model: type[M], produce: Callable[[], M], redact: Iterable[str] = ()
    ) -> M:
        """``redact``: fields never stored (e.g. a secret shown once); a replay has them null."""
        if self.key is None:
            return produce()
        method, path = self.request.method, self.request.url.path
        stored = claim(
            self.engine, self.user, self.key, method, path, request_hash(method, path, body)
        )
        if stored is not None:
            self.response.status_code = stored.status
            self.response.headers[REPLAYED_HEADER] = "true"
            return model.model_validate(stored.body)
        try:
            result = produce()
        except BaseException:
            release(self.engine, self.user, self.key)
            raise
        status = getattr(self.request.scope.get("route"), "status_code", None) or 200
        body_json = result.model_dump(mode="json")
        body_json.update(dict.fromkeys(redact))
        complete(self.engine, self.user, self.key, Stored(status, body_json))
        return result
