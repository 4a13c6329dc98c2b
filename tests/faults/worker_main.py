"""A real worker process for the fault tests: ``python -m tests.faults.worker_main``.

``--fault kill-before-ack`` SIGKILLs the process as soon as it has read a decision
(before handling or acknowledging it); ``--fault kill-after-adapter`` SIGKILLs it right
after the payment adapter returned, before the result is recorded.
"""

from __future__ import annotations

import argparse
import os
import signal
import threading
from pathlib import Path
from typing import Any

from langchain_core.runnables import RunnableConfig
from langchain_core.tools import StructuredTool

from approvals.events import BusEvent
from foundation.logging import configure_logging
from tests.faults.app import PAY, PayArgs, open_fault_runtime
from tethra.worker import Worker, WorkerOptions, install_signal_handlers
from tools.registry import ToolRegistry
from tools.spec import RegisteredTool


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def pay_then_die() -> RegisteredTool:
    def run(config: RunnableConfig, **kwargs: Any) -> Any:
        result = PAY.tool.invoke(kwargs, config=config)
        die()
        return result

    tool = StructuredTool.from_function(
        func=run, name="pay_vendor", description="Pay.", args_schema=PayArgs, infer_schema=False
    )
    return RegisteredTool(name="pay_vendor", tool=tool, meta=PAY.meta, args_schema=PayArgs)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", required=True)
    parser.add_argument("--redis", required=True)
    parser.add_argument("--prefix", required=True)
    parser.add_argument("--tmp", required=True)
    parser.add_argument("--id", required=True)
    parser.add_argument(
        "--fault", default="none", choices=["none", "kill-before-ack", "kill-after-adapter"]
    )
    args = parser.parse_args()
    configure_logging("WARNING", "json")
    registry = ToolRegistry([pay_then_die() if args.fault == "kill-after-adapter" else PAY])
    with open_fault_runtime(
        args.db, args.redis, args.prefix, Path(args.tmp), registry, min_idle_ms=1000
    ) as rt:

        def handler(event: BusEvent) -> None:
            if args.fault == "kill-before-ack" and event.kind == "approval.decided":
                die()
            rt.handle(event)

        stop = threading.Event()
        install_signal_handlers(stop)
        options = WorkerOptions(sweep_every_s=0.5, reconcile_every_s=1.0, block_ms=200)
        Worker(rt, args.id, options, handler=handler).run(stop)


if __name__ == "__main__":
    main()
