"""Drive runs in the background so a chat message is answered (202) at once.

A dedicated pool rather than FastAPI's ``BackgroundTasks``: a run can hold a thread for
as long as a model takes, and those threads must not be the ones serving requests. The
run's outcome is persisted by the runtime, so nothing here reports back; shutting down
waits for runs in flight, so the runtime is never closed under them.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor

from foundation.logging import bound_ids, get_logger
from graph.runtime import RunOutcome, Runtime

log = get_logger(__name__)


class RunDriver:
    def __init__(self, runtime: Runtime, workers: int = 4) -> None:
        self._runtime = runtime
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="tethra-run")

    def submit(self, run_id: str, thread_id: str, requester: str, text: str) -> Future[RunOutcome]:
        """Work an opened run (``Runtime.open_run``) to an answer or an approval wait."""
        return self._pool.submit(self._drive, run_id, thread_id, requester, text)

    def _drive(self, run_id: str, thread_id: str, requester: str, text: str) -> RunOutcome:
        with bound_ids(run_id=run_id, thread_id=thread_id):
            try:
                return self._runtime.drive_run(run_id, thread_id, requester, text)
            except Exception:
                # drive_run records failures itself; reaching here means it could not
                # (e.g. the database went away). The run's lease expires and
                # Runtime.recover() picks it up.
                log.exception("driving a run failed")
                raise

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True)
