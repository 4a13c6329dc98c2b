"""Periodic work the API process does itself.

Always: forget old Idempotency-Key records. On a synchronous in-process bus (an app
given a runtime built that way, as tests and embedders do) the API process also sweeps
deadlines, resumes runs the bus forgot and delivers webhooks; otherwise the worker loop
does that (Redis workers, or the server's own worker thread on its in-memory queue).
"""

from __future__ import annotations

import threading
from datetime import timedelta

import httpx

from api.idempotency import purge
from approvals.bus import InProcessBus
from approvals.webhooks.service import deliver_due
from foundation.logging import get_logger
from graph.runtime import Runtime

log = get_logger(__name__)


class Housekeeping:
    def __init__(
        self, runtime: Runtime, every_s: float = 5.0, keep_keys: timedelta = timedelta(days=1)
    ) -> None:
        self.runtime = runtime
        self.every_s = every_s
        self.keep_keys = keep_keys
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="housekeeping", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(30)

    def _loop(self) -> None:
        alone = isinstance(self.runtime.bus, InProcessBus)
        with httpx.Client(follow_redirects=False) as client:
            while not self._stop.wait(self.every_s):
                try:
                    purge(self.runtime.engine, self.keep_keys)
                    if alone:
                        self.runtime.recover()
                        deliver_due(self.runtime.engine, client)
                except Exception:
                    log.exception("housekeeping failed; will retry")
