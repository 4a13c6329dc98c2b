"""``tethra worker``: the entry point around the worker loop (``graph.dispatch``):
signals stop it after the event in hand."""

from __future__ import annotations

import signal
import threading
from types import FrameType

from foundation.logging import get_logger
from graph.dispatch import Worker, WorkerOptions

__all__ = ["Worker", "WorkerOptions", "install_signal_handlers"]
log = get_logger(__name__)


def install_signal_handlers(stop: threading.Event) -> None:
    def _stop(signum: int, _frame: FrameType | None) -> None:
        log.info("stopping after the current event", signal=signum)
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
