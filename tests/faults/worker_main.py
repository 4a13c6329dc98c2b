"""A real worker (or API) process for the fault tests: ``python -m tests.faults.worker_main``.

Fault modes, each at one crash point of an approved call's way to its outcome:

- ``kill-before-ack``: SIGKILL as soon as a decision was read, before handling or
  acknowledging it (before the claim);
- ``kill-after-claim``: SIGKILL right after the call was claimed (``executing``, fenced,
  leased), before the adapter ran;
- ``kill-after-adapter``: SIGKILL right after the payment adapter returned, before the
  result is recorded;
- ``kill-before-answer``: SIGKILL in the model call that follows a recorded result,
  while this process drives the run (the run is ``running`` under its lease);
- ``pause-after-claim`` / ``pause-after-adapter``: SIGSTOP itself at those points (the
  test continues it with SIGCONT after another worker took the call over).

``--leases shipped`` runs with the shipped lease and timer defaults instead of the short
ones; ``--adapter once`` registers the payment adapter as not idempotent.
``--role api --port N`` serves the HTTP API (``api.main.create_app``) on the fault
runtime instead of running a worker: the process that decides. Its fault mode
``slow-publish`` waits 1 s between a decision's commit and its publish, so a SIGKILL
mid-burst lands in that window (committed, not published, not answered).
"""

from __future__ import annotations

import argparse
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.runnables import RunnableConfig
from langchain_core.tools import StructuredTool

import graph.execution
from agents.models.scripted import ScriptedChatModel
from approvals.events import BusEvent
from foundation.logging import configure_logging
from graph.calls import Claim
from graph.execution import Done, InFlight
from graph.governance import Governance
from tests.faults.app import (
    LEASES,
    PAY,
    PAY_ONCE,
    PayArgs,
    fault_settings,
    open_fault_runtime,
    respond,
)
from tethra.worker import Worker, WorkerOptions, install_signal_handlers
from tools.registry import ToolRegistry
from tools.spec import RegisteredTool

FAULTS = (
    "none",
    "kill-before-ack",
    "kill-after-claim",
    "kill-after-adapter",
    "kill-before-answer",
    "pause-after-claim",
    "pause-after-adapter",
    "slow-publish",
)
SHORT_TIMERS = WorkerOptions(sweep_every_s=0.5, reconcile_every_s=1.0, block_ms=200)


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def pause() -> None:
    """Stop the whole process (every thread, the lease renewers too) until SIGCONT."""
    os.kill(os.getpid(), signal.SIGSTOP)


def pay_then(fault: str, base: RegisteredTool) -> RegisteredTool:
    """The payment adapter, then die or pause before the result is recorded."""

    def run(config: RunnableConfig, **kwargs: Any) -> Any:
        result = base.tool.invoke(kwargs, config=config)
        if fault == "kill-after-adapter":
            die()
        pause()
        return result

    tool = StructuredTool.from_function(
        func=run, name="pay_vendor", description="Pay.", args_schema=PayArgs, infer_schema=False
    )
    return RegisteredTool(name="pay_vendor", tool=tool, meta=base.meta, args_schema=PayArgs)


def stop_after_claim(fault: str) -> None:
    """Die or pause once a call is claimed, before the adapter runs: ``run_claimed`` is
    what every claim (of an approved call, or a takeover) goes on to."""
    original = graph.execution.run_claimed

    def run_claimed(gov: Governance, claim: Claim) -> Done | InFlight:
        if fault == "kill-after-claim":
            die()
        pause()
        return original(gov, claim)

    graph.execution.run_claimed = run_claimed


def die_before_answering() -> ScriptedChatModel:
    """The fault model, but the turn after a tool result kills the process."""

    def turn(messages: list[BaseMessage]) -> AIMessage:
        if not isinstance(messages[-1], HumanMessage):
            die()
        return respond(messages)

    return ScriptedChatModel([turn] * 1_000_000)


def slow_publish() -> None:
    """Decide, commit, then wait before publishing the decision's bus message."""
    import approvals.outbox
    import graph.decisions

    assert hasattr(graph.decisions, "publish_captured"), "deciding publishes elsewhere now"
    original = approvals.outbox.publish_captured

    def publish_later(*args: Any, **kwargs: Any) -> Any:
        time.sleep(1.0)
        return original(*args, **kwargs)

    graph.decisions.publish_captured = publish_later


def serve_api(args: argparse.Namespace) -> None:
    import uvicorn

    from api.main import create_app

    if args.fault == "slow-publish":
        slow_publish()
    leases = LEASES[args.leases]
    tmp = Path(args.tmp)
    with open_fault_runtime(args.db, args.redis, args.prefix, tmp, leases=leases) as rt:
        app = create_app(fault_settings(args.db, args.redis, args.prefix, tmp), runtime=rt)
        uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", required=True)
    parser.add_argument("--redis", required=True)
    parser.add_argument("--prefix", required=True)
    parser.add_argument("--tmp", required=True)
    parser.add_argument("--id", required=True)
    parser.add_argument("--fault", default="none", choices=FAULTS)
    parser.add_argument("--leases", default="short", choices=sorted(LEASES))
    parser.add_argument("--adapter", default="idempotent", choices=["idempotent", "once"])
    parser.add_argument("--role", default="worker", choices=["worker", "api"])
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    configure_logging("WARNING", "json")
    if args.role == "api":
        serve_api(args)
        return
    fault: str = args.fault
    base = PAY if args.adapter == "idempotent" else PAY_ONCE
    adapter = pay_then(fault, base) if fault.endswith("-after-adapter") else base
    if fault.endswith("-after-claim"):
        stop_after_claim(fault)
    leases = LEASES[args.leases]
    with open_fault_runtime(
        args.db,
        args.redis,
        args.prefix,
        Path(args.tmp),
        ToolRegistry([adapter]),
        leases=leases,
        chat_model=die_before_answering() if fault == "kill-before-answer" else None,
    ) as rt:

        def handler(event: BusEvent) -> None:
            if fault == "kill-before-ack" and event.kind == "approval.decided":
                die()
            rt.handle(event)

        stop = threading.Event()
        install_signal_handlers(stop)
        options = SHORT_TIMERS if leases.worker_timers else WorkerOptions()
        Worker(rt, args.id, options, handler=handler).run(stop)


if __name__ == "__main__":
    main()
