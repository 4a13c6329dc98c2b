"""Idempotency-Key records for POST requests with effects.

A client that retries a chat message, a decision or a user creation after a timeout
must not cause the effect twice. The first request claims ``(user, key)`` with an
INSERT in its own short transaction (the primary key is the lock, so it works across
API processes); the answer is stored when the effect is done, and a repeat gets that
answer back. A repeat with another body is a client bug (422); a repeat while the first
is still working is told to wait (409). An effect that fails releases the key, so the
client may retry the same key once the cause is fixed.

A claim names its owner (host, pid, a random id per process and where its pids are
comparable) and is a lease: while the effect runs, the owner renews it every
``RENEW_EVERY``. A repeat takes the key over as soon as the owner is known dead, so a
retry after an API crash is not refused for long: at once when the owner ran on this
host (its pid is gone, or reused by another process, e.g. the restarted API itself),
otherwise once the owner stopped renewing for ``LEASE``. A taken-over request does
its effect again; the effects are compare-and-set, so one that had committed is
refused, and the endpoint may read its outcome back (``Idempotency.taken_over``). A
live owner's key stays in progress (409).

No column of its own: while the key is in progress ``created_at`` is the owner's last
renewal (and the fencing token of its claim) and ``response_body`` names the owner.
"""

from __future__ import annotations

import os
import socket
import threading
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any, TypeVar

from fastapi import Request, Response
from pydantic import BaseModel
from sqlalchemy import JSON, Column, delete, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Field, Session, SQLModel, col

from foundation.canonical import canonical_json, sha256_hex
from foundation.db import UTCDateTime, rows_affected, session_scope, utcnow
from foundation.errors import Conflict, InvalidInput
from foundation.logging import get_logger

log = get_logger(__name__)

LEASE = timedelta(seconds=20)
"""An in-progress key whose owner has not renewed it for this long is presumed abandoned."""
RENEW_EVERY = timedelta(seconds=5)
"""How often an owner renews its claim while the effect runs (well inside ``LEASE``)."""
UNOWNED_STALE_AFTER = timedelta(minutes=10)
"""A claim that names no owner (written before owners were recorded) is never renewed;
it is presumed abandoned after this long."""
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
    """done: the answer. in_progress: ``{"owner": {...}}``, who is producing it."""
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False, index=True)
    )
    """When claimed; while in progress, the owner's last renewal (its claim's fence)."""


@dataclass(frozen=True)
class Stored:
    status: int
    body: Any


@dataclass(frozen=True)
class Owner:
    """Who holds a claim. ``scope`` says where ``pid`` means something: this machine's
    boot and pid namespace (None where that cannot be known: then only the lease tells)."""

    host: str
    pid: int
    boot: str
    scope: str | None
    started: str | None
    """The process's start time (clock ticks since boot), to tell a reused pid."""

    def as_json(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "pid": self.pid,
            "boot": self.boot,
            "scope": self.scope,
            "started": self.started,
        }

    @classmethod
    def from_json(cls, value: Any) -> Owner | None:
        if not isinstance(value, dict) or not isinstance(value.get("owner"), dict):
            return None
        o = value["owner"]
        try:
            return cls(
                str(o["host"]), int(o["pid"]), str(o["boot"]), o.get("scope"), o.get("started")
            )
        except (KeyError, TypeError, ValueError):
            return None


def _read(path: str) -> str | None:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return None


def _stat(pid: int) -> list[str]:
    """Fields 3 onwards of ``/proc/<pid>/stat`` (the name in parentheses may hold spaces)."""
    stat = _read(f"/proc/{pid}/stat")
    return [] if stat is None else stat.rsplit(")", 1)[-1].split()


def _start_time(pid: int) -> str | None:
    fields = _stat(pid)
    return fields[19] if len(fields) > 19 else None  # field 22 of proc(5)


@cache
def _me(pid: int) -> Owner:
    """This process (keyed by pid: a forked child is another owner, with its own id)."""
    boot_id = _read("/proc/sys/kernel/random/boot_id")
    try:
        pid_ns: str | None = os.readlink("/proc/self/ns/pid")
    except OSError:
        pid_ns = None
    scope = f"{boot_id}/{pid_ns}" if boot_id and pid_ns else None
    return Owner(socket.gethostname(), pid, uuid.uuid4().hex, scope, _start_time(pid))


def this_process() -> Owner:
    return _me(os.getpid())


def owner_is_dead(owner: Owner) -> bool:
    """True only when certain: the owner ran where this process can see its pid (same
    machine boot and pid namespace) and that pid is gone or now another process."""
    me = this_process()
    if me.scope is None or owner.scope != me.scope or owner.host != me.host:
        return False
    if owner.pid == me.pid:
        return owner.boot != me.boot  # a former process with our pid (e.g. restarted)
    try:
        os.kill(owner.pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, another user's
        pass
    fields = _stat(owner.pid)
    if fields[:1] == ["Z"]:  # exited, not yet reaped by its parent
        return True
    started = fields[19] if len(fields) > 19 else None
    return owner.started is not None and started is not None and started != owner.started


def abandoned(row: IdempotencyKey, now: datetime) -> bool:
    """Whether an in-progress key's owner is gone: known dead, or silent for ``LEASE``."""
    owner = Owner.from_json(row.response_body)
    if owner is None:
        return row.created_at <= now - UNOWNED_STALE_AFTER
    return row.created_at <= now - LEASE or owner_is_dead(owner)


@dataclass
class Claim:
    """A key this process holds: ``stamp`` is its fence (the row's ``created_at``)."""

    user: str
    key: str
    stamp: datetime
    taken_over: bool = False
    """The key was taken from an owner that died mid-way: its effect may have happened."""
    lost: bool = field(default=False)


def request_hash(method: str, path: str, body: BaseModel) -> str:
    return sha256_hex(canonical_json([method, path, body.model_dump(mode="json")]))


def _owned_by_me() -> dict[str, Any]:
    return {"owner": this_process().as_json()}


def claim(
    engine: Engine, user: str, key: str, method: str, path: str, digest: str
) -> Stored | Claim:
    """A ``Claim``: the caller now owns the key and must ``complete`` or ``release`` it."""
    for _ in range(3):
        now = utcnow()
        try:
            with session_scope(engine) as session:
                session.add(
                    IdempotencyKey(
                        user_name=user,
                        key=key,
                        method=method,
                        path=path,
                        request_hash=digest,
                        response_body=_owned_by_me(),
                        created_at=now,
                    )
                )
            return Claim(user, key, now)
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
        if abandoned(row, utcnow()):
            taken = _take_over(engine, row)
            if taken is not None:
                log.warning(
                    "Idempotency-Key taken over from an owner that is gone",
                    key=key,
                    owner=row.response_body,
                )
                return taken
            continue  # someone else moved first: look again
        raise Conflict(
            f"a request with Idempotency-Key {key!r} is still in progress; "
            "retry it later to get its answer"
        )
    raise Conflict(f"Idempotency-Key {key!r} is contended; retry later")


def _take_over(engine: Engine, row: IdempotencyKey) -> Claim | None:
    now = utcnow()
    with session_scope(engine) as session:
        result = session.execute(
            update(IdempotencyKey)
            .where(
                col(IdempotencyKey.user_name) == row.user_name,
                col(IdempotencyKey.key) == row.key,
                col(IdempotencyKey.status) == "in_progress",
                col(IdempotencyKey.created_at) == row.created_at,
            )
            .values(created_at=now, response_body=_owned_by_me())
        )
        if rows_affected(result) != 1:
            return None
    return Claim(row.user_name, row.key, now, taken_over=True)


def _mine(held: Claim) -> list[Any]:
    return [
        col(IdempotencyKey.user_name) == held.user,
        col(IdempotencyKey.key) == held.key,
        col(IdempotencyKey.status) == "in_progress",
        col(IdempotencyKey.created_at) == held.stamp,
    ]


def renew(engine: Engine, held: Claim) -> bool:
    """Extend the claim's lease; False if it was lost (taken over after a long stall)."""
    now = utcnow()
    with session_scope(engine) as session:
        result = session.execute(update(IdempotencyKey).where(*_mine(held)).values(created_at=now))
        if rows_affected(result) != 1:
            held.lost = True
            return False
    held.stamp = now
    return True


def complete(engine: Engine, held: Claim, stored: Stored) -> None:
    with session_scope(engine) as session:
        result = session.execute(
            update(IdempotencyKey)
            .where(*_mine(held))
            .values(status="done", response_status=stored.status, response_body=stored.body)
        )
        if rows_affected(result) != 1:
            log.warning("Idempotency-Key lost before its answer was stored", key=held.key)


def release(engine: Engine, held: Claim) -> None:
    with session_scope(engine) as session:
        session.execute(delete(IdempotencyKey).where(*_mine(held)))


class _Renewer:
    """Renews a claim on a thread of its own while the effect runs."""

    def __init__(self, engine: Engine, held: Claim) -> None:
        self.engine, self.held = engine, held
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="idempotency-lease", daemon=True)

    def __enter__(self) -> _Renewer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(RENEW_EVERY.total_seconds()):
            try:
                if not renew(self.engine, self.held):
                    log.warning("Idempotency-Key lost to another request", key=self.held.key)
                    return
            except Exception as exc:  # the database away: try again; the lease may lapse
                log.warning("renewing an Idempotency-Key failed", error=f"{type(exc).__name__}")


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
    """Per-request helper: ``run(body, Model, produce)`` does the effect at most once.

    ``taken_over`` is True inside ``produce`` when the key was taken from a request whose
    process died: its effect may have committed, so ``produce`` may read it back."""

    def __init__(
        self, engine: Engine, user: str, key: str | None, request: Request, response: Response
    ) -> None:
        self.engine, self.user, self.key = engine, user, key
        self.request, self.response = request, response
        self.taken_over = False

    def run(
        self, body: BaseModel, model: type[M], produce: Callable[[], M], redact: Iterable[str] = ()
    ) -> M:
        """``redact``: fields never stored (e.g. a secret shown once); a replay has them null."""
        if self.key is None:
            return produce()
        method, path = self.request.method, self.request.url.path
        held = claim(
            self.engine, self.user, self.key, method, path, request_hash(method, path, body)
        )
        if isinstance(held, Stored):
            self.response.status_code = held.status
            self.response.headers[REPLAYED_HEADER] = "true"
            return model.model_validate(held.body)
        self.taken_over = held.taken_over
        try:
            with _Renewer(self.engine, held):  # stopped before the key is released
                result = produce()
        except BaseException:
            _quietly(release, self.engine, held)
            raise
        status = getattr(self.request.scope.get("route"), "status_code", None) or 200
        body_json = result.model_dump(mode="json")
        body_json.update(dict.fromkeys(redact))
        # The effect is done: failing to store its answer must not turn it into an error.
        _quietly(complete, self.engine, held, Stored(status, body_json))
        return result


def _quietly(step: Callable[..., None], *args: Any) -> None:
    """Book-keeping around the effect: a failure is logged; the key's lease then lapses."""
    try:
        step(*args)
    except Exception as exc:
        log.warning(
            "Idempotency-Key book-keeping failed",
            step=step.__name__,
            error=f"{type(exc).__name__}: {str(exc)[:200]}",
        )
