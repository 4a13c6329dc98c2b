"""The run lifecycle: every transition of a run's status, each written once.

    queued -> running <-> waiting -> completed | failed | stopped_step_limit |
    stopped_budget | cancelled;   running -(lease lapsed)-> stalled -> running

Whoever holds a run holds its lease and its fencing token (``runs.fence``). Taking a
run (starting it, resuming it, taking over a stalled one) bumps the fence; every write
a driver makes afterwards (model calls, proposed tool calls, the run's end) checks the
fence in the same transaction, so a driver that stalled past its lease and lost the
run appends nothing. Making a run terminal also bumps the fence: nothing of it runs
afterwards. Queued runs hold a lease too (renewed by the process that queued them), so
recovery never ends a run that a live process is about to start.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from langchain_core.runnables import RunnableConfig
from sqlalchemy import Table, and_, bindparam, or_, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from approvals.service import withdraw_for_run
from foundation.db import rows_affected, session_scope, utcnow
from foundation.errors import Conflict, LostOwnership
from foundation.logging import get_logger
from graph.records import ACTIVE_RUN_STATUSES, TERMINAL_RUN_STATUSES, Run, RunStatus

log = get_logger(__name__)

RUNS: Table = Run.__table__  # type: ignore[attr-defined]
FENCE_KEY = "run_fence"
"""Where a driver's fence travels in the graph's config (``configurable``)."""


@dataclass(frozen=True)
class Held:
    """This process drives ``run_id`` under ``fence`` while its lease is renewed."""

    run_id: str
    thread_id: str
    fence: int
    previous: RunStatus


def open_queued(session: Session, run: Run, owner: str, lease: timedelta) -> Held:
    """Record a new run, queued and leased to ``owner``. A thread has at most one
    active run (a unique index, so two messages at the same instant cannot both
    start one): Conflict names the active one."""
    run.status, run.fence = RunStatus.QUEUED, 1
    run.lease_owner, run.lease_until = owner, utcnow() + lease
    try:
        with session.begin_nested():
            session.add(run)
            session.flush()
    except IntegrityError:
        busy = session.exec(
            select(Run).where(  # type: ignore[call-overload]
                RUNS.c.thread_id == run.thread_id,
                RUNS.c.status.in_([s.value for s in ACTIVE_RUN_STATUSES]),
            )
        ).first()
        what = f"{busy[0].status} (run {busy[0].id})" if busy else "busy"
        raise Conflict(
            f"thread {run.thread_id} is {what}; wait for it, or decide its approvals, "
            "before sending another message"
        ) from None
    return Held(run.id, run.thread_id, 1, RunStatus.QUEUED)


def start(session: Session, held: Held, owner: str, lease: timedelta) -> bool:
    """queued -> running, by the process that queued it (same fence); False if the run
    was ended meanwhile (recovery found its owner dead)."""
    result = session.execute(
        update(RUNS)
        .where(
            RUNS.c.id == held.run_id,
            RUNS.c.status == RunStatus.QUEUED,
            RUNS.c.fence == held.fence,
        )
        .values(
            status=RunStatus.RUNNING,
            lease_owner=owner,
            lease_until=utcnow() + lease,
            updated_at=utcnow(),
        )
    )
    return rows_affected(result) == 1


def take(session: Session, run: Run, owner: str, lease: timedelta) -> Held | None:
    """waiting | stalled -> running under a new fence; None if someone else has it."""
    now = utcnow()
    result = session.execute(
        update(RUNS)
        .where(
            RUNS.c.id == run.id,
            RUNS.c.status == run.status,
            RUNS.c.fence == run.fence,
            or_(RUNS.c.lease_owner.is_(None), RUNS.c.lease_until < now),
        )
        .values(
            status=RunStatus.RUNNING,
            fence=RUNS.c.fence + 1,
            lease_owner=owner,
            lease_until=now + lease,
            updated_at=now,
        )
    )
    if rows_affected(result) != 1:
        return None
    return Held(run.id, run.thread_id, run.fence + 1, RunStatus(run.status))


_RENEW = (
    update(RUNS)
    .where(
        RUNS.c.id == bindparam("run"),
        RUNS.c.fence == bindparam("held_fence"),
        RUNS.c.status.in_((RunStatus.QUEUED.value, RunStatus.RUNNING.value)),
    )
    .values(lease_until=bindparam("until"))
)


def renew(session: Session, held: list[Held], lease: timedelta) -> set[str]:
    """Extend the leases of runs this process holds; returns the ids it no longer holds
    because another process took them (a new fence). A run this process just moved on
    itself (waiting, ended) under its own fence is not lost: it is simply not renewed."""
    lost: set[str] = set()
    until = utcnow() + lease
    for h in held:
        params = {"run": h.run_id, "held_fence": h.fence, "until": until}
        if rows_affected(session.execute(_RENEW, params)) != 1:
            fence = session.execute(select(RUNS.c.fence).where(RUNS.c.id == h.run_id)).scalar()
            if fence != h.fence:
                lost.add(h.run_id)
    return lost


def finish(session: Session, held: Held, status: RunStatus, reason: str | None = None) -> bool:
    """running -> waiting or a terminal state, under the driver's fence; releases the
    lease. A terminal state also bumps the fence. False (nothing written) if the driver
    lost the run."""
    assert status == RunStatus.WAITING or status in TERMINAL_RUN_STATUSES
    bump = 1 if status in TERMINAL_RUN_STATUSES else 0
    result = session.execute(
        update(RUNS)
        .where(
            RUNS.c.id == held.run_id,
            RUNS.c.status == RunStatus.RUNNING,
            RUNS.c.fence == held.fence,
        )
        .values(**_let_go(status, bump=bump), error=reason)
    )
    if rows_affected(result) != 1:
        return False
    if bump:
        withdraw_for_run(session, held.run_id, f"the run ended ({status.value})")
    return True


def end(
    session: Session, run_id: str, status: RunStatus, reason: str, *, only_from: set[RunStatus]
) -> bool:
    """An active run -> a terminal state by someone who does not drive it (cancelled by
    a person; a queued run whose process died). Bumps the fence: its driver, if any,
    writes nothing more."""
    assert status in TERMINAL_RUN_STATUSES
    result = session.execute(
        update(RUNS)
        .where(RUNS.c.id == run_id, RUNS.c.status.in_([s.value for s in only_from]))
        .values(**_let_go(status), error=reason)
    )
    if rows_affected(result) != 1:
        return False
    withdraw_for_run(session, run_id, f"the run ended ({status.value}): {reason}")
    return True


def _let_go(status: RunStatus, *, bump: int = 1, now: datetime | None = None) -> dict[str, Any]:
    """The columns every transition that releases a run sets: its new status, no lease,
    and (unless it only waits) a new fence, so whoever held it writes nothing more."""
    return {
        "status": status,
        "fence": RUNS.c.fence + bump,
        "lease_owner": None,
        "lease_until": None,
        "updated_at": now or utcnow(),
    }


def stall_lapsed(session: Session, workflow: str, now: datetime | None = None) -> list[str]:
    """running runs whose lease lapsed -> stalled (their driver died or stopped), under a
    new fence so the old driver writes nothing if it comes back. Returns their ids."""
    now = now or utcnow()
    rows = session.execute(
        update(RUNS)
        .where(
            RUNS.c.workflow == workflow,
            RUNS.c.status == RunStatus.RUNNING,
            RUNS.c.lease_until < now,
        )
        .values(**_let_go(RunStatus.STALLED, now=now))
        .returning(RUNS.c.id)
    ).all()
    return [r[0] for r in rows]


def lapsed_queued(session: Session, workflow: str, now: datetime | None = None) -> list[str]:
    """Queued runs whose process died before starting them (their lease lapsed)."""
    rows = session.execute(
        select(RUNS.c.id).where(
            and_(
                RUNS.c.workflow == workflow,
                RUNS.c.status == RunStatus.QUEUED,
                RUNS.c.lease_until < (now or utcnow()),
            )
        )
    ).all()
    return [r[0] for r in rows]


def check(session: Session, config: RunnableConfig | None, run_id: str) -> None:
    """Raise ``LostOwnership`` unless the driver whose config this is still holds the
    run: called inside the transaction of every write a driver makes."""
    fence = ((config or {}).get("configurable") or {}).get(FENCE_KEY)
    if fence is None:
        return  # a node driven outside a run driver (tests, evals)
    row = session.execute(select(RUNS.c.fence, RUNS.c.status).where(RUNS.c.id == run_id)).first()
    if row is None or row[0] != fence or row[1] != RunStatus.RUNNING:
        raise LostOwnership(f"run {run_id} is no longer held by this driver")


def fenced_config(config: RunnableConfig, held: Held) -> RunnableConfig:
    configurable: dict[str, Any] = {**(config.get("configurable") or {}), FENCE_KEY: held.fence}
    return {**config, "configurable": configurable}


def stall(session: Session, held: Held) -> bool:
    """running -> stalled by its own driver (a transient error cut the step off), under
    a new fence: whoever resumes it re-runs the step from the last checkpoint."""
    result = session.execute(
        update(RUNS)
        .where(
            RUNS.c.id == held.run_id,
            RUNS.c.status == RunStatus.RUNNING,
            RUNS.c.fence == held.fence,
        )
        .values(**_let_go(RunStatus.STALLED))
    )
    return rows_affected(result) == 1


class LeaseKeeper:
    """Renews the leases of every run this process holds (queued or running) on one
    background thread, so leases can be short: a process that dies lets go within one
    lease, one that is merely slow keeps its runs."""

    def __init__(self, engine: Engine, lease: timedelta) -> None:
        self.engine, self.lease = engine, lease
        self._held: dict[str, Held] = {}
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def hold(self, held: Held) -> None:
        with self._lock:
            self._held[held.run_id] = held
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name="run-leases", daemon=True)
                self._thread.start()

    def get(self, run_id: str) -> Held | None:
        with self._lock:
            return self._held.get(run_id)

    def release(self, run_id: str) -> None:
        with self._lock:
            self._held.pop(run_id, None)

    def renew_now(self) -> None:
        with self._lock:
            held = list(self._held.values())
        if not held:
            return
        with session_scope(self.engine) as session:
            lost = renew(session, held, self.lease)
        with self._lock:  # a run released meanwhile ended normally: not lost
            lost = {r for r in lost if r in self._held}
            for run_id in lost:
                self._held.pop(run_id, None)
        for run_id in lost:
            log.warning("a run's lease was lost to another process", run_id=run_id)

    def _loop(self) -> None:
        every = max(self.lease.total_seconds() / 3, 0.05)
        while True:
            time.sleep(every)
            with self._lock:
                if not self._held:
                    self._thread = None
                    return
            try:
                self.renew_now()
            except Exception as exc:  # the next round tries again; the lease is longer
                log.warning("renewing run leases failed", error=str(exc)[:200])
