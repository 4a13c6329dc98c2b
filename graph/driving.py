"""Driving a run's graph, for every workflow: one step function, one way to end a run.

A workflow (chat, invoices) says what its payload is and what the graph's final values
mean; this module runs the graph under the run's lease and fence, classifies how it
stopped, and records the run's end under the fence with its audit event, the same way
for every workflow:

- the driver lost the run (``LostOwnership``): nothing is written;
- a transient database error cut the step off: the run is stalled (fenced) and a
  resume is put in the outbox, never failed;
- the graph's recursion limit: stopped at the step limit; a cost cap: stopped by
  budget; a Tethra error or a bug: failed, with the reason.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.errors import GraphRecursionError
from langgraph.graph.state import CompiledStateGraph
from sqlalchemy.engine import Engine

from approvals import outbox
from approvals.events import RunResume
from audit.events import EventKind
from audit.trail import record
from foundation.db import is_transient, retry_transient, session_scope
from foundation.errors import LostOwnership, RunFailure, TethraError
from foundation.logging import bound_ids, get_logger
from graph import runs
from graph.records import RunStatus
from graph.runs import Held, LeaseKeeper
from policies.budgets import BudgetExceeded

log = get_logger(__name__)

END_EVENTS: dict[RunStatus, EventKind] = {
    RunStatus.WAITING: "run_waiting",
    RunStatus.COMPLETED: "run_completed",
    RunStatus.FAILED: "run_failed",
    RunStatus.STOPPED_BUDGET: "run_stopped",
    RunStatus.STOPPED_STEP_LIMIT: "run_stopped",
    RunStatus.CANCELLED: "run_stopped",
}


@dataclass(frozen=True)
class Stopped:
    """How one drive of the graph ended, before the workflow reads its values."""

    values: dict[str, Any]
    error: str | None = None
    stop: RunStatus | None = None


@dataclass(frozen=True)
class LetGo:
    """The driver wrote nothing more: it lost the run, or stalled it for a resume."""

    stalled: bool


def drive(
    graph: CompiledStateGraph[Any, Any, Any, Any],
    engine: Engine,
    leases: LeaseKeeper,
    held: Held,
    payload: Any,
    *,
    recursion_limit: int,
    before: Callable[[RunnableConfig], Stopped | None] = lambda _: None,
) -> Stopped | LetGo:
    """Run the graph for a run this process holds, every step checkpointed before the
    next (a killed driver's run goes on from its last step). ``before`` may end the
    drive early (e.g. nothing was ever checkpointed). Releases the run's lease."""
    config: RunnableConfig = {
        "configurable": {"thread_id": held.thread_id},
        "recursion_limit": recursion_limit,
    }
    config = runs.fenced_config(config, held)
    try:
        with bound_ids(run_id=held.run_id, thread_id=held.thread_id):
            early = before(config)
            if early is not None:
                return early
            error: str | None = None
            stop: RunStatus | None = None
            try:
                return Stopped(dict(graph.invoke(payload, config, durability="sync")))
            except LostOwnership:
                log.warning("lost the run to another process; stopping here")
                return LetGo(stalled=False)
            except GraphRecursionError:
                error = "the run exceeded the graph's recursion limit"
                stop = RunStatus.STOPPED_STEP_LIMIT
            except BudgetExceeded as exc:  # a cost cap: a clean stop, not a failure
                error, stop = str(exc), RunStatus.STOPPED_BUDGET
            except (TethraError, RunFailure, ValueError) as exc:
                error = str(exc)
            except Exception as exc:
                if is_transient(exc):
                    stall(engine, held, exc)
                    return LetGo(stalled=True)
                log.exception("run failed")
                error = f"{type(exc).__name__}: {exc}"
            # It ended early: read what was checkpointed before.
            return Stopped(dict(graph.get_state(config).values), error, stop)
    finally:
        leases.release(held.run_id)


def end(
    engine: Engine, held: Held, status: RunStatus, reason: str | None, data: dict[str, Any]
) -> bool:
    """Record the run's end (or its wait) under the driver's fence, with its audit
    event, in one transaction; False (nothing written) if the driver lost the run."""

    def settle() -> bool:
        with session_scope(engine) as session:
            if not runs.finish(session, held, status, reason):
                return False
            record(
                session,
                kind=END_EVENTS[status],
                actor="system",
                run_id=held.run_id,
                thread_id=held.thread_id,
                data=data,
            )
            return True

    if retry_transient(settle, what="record a run's end"):
        return True
    log.warning("lost the run before recording its end; recorded nothing")
    return False


def stall(engine: Engine, held: Held, exc: BaseException) -> None:
    """A transient database error cut the step off: the run is not failed. Let go of it
    (stalled, fenced) with a resume in the outbox, so this or another process re-runs
    it from its last checkpoint; if the database is still away, its lease lapses."""
    log.warning(
        "run interrupted by a transient database error; it will be resumed",
        error=f"{type(exc).__name__}: {str(exc)[:200]}",
    )

    def let_go() -> None:
        with session_scope(engine) as session:
            if runs.stall(session, held):
                outbox.add(session, RunResume(run_id=held.run_id, thread_id=held.thread_id))

    with suppress(Exception):
        retry_transient(let_go, what="stall a run", give_up_after_s=30)
