"""The one worker loop: consumes the bus and moves runs forward. ``tethra worker`` runs
it against Redis (as many processes as needed); without Redis the API process runs the
same loop on a background thread against its in-memory queue (``LocalQueueBus``).

Each loop handles at most one bus event (resume the thread it names). Housekeeping
runs on timers, not per event, so a backlog of events drains without a SQL round trip
between each two (a decision waiting behind other events is the latency people feel):
heartbeat and a check for lost Redis data about every second; relay the outbox when
idle and at least every ``relay_every_s``; every few seconds sweep deadlines (warn,
then expire and deny by default); now and then look in SQL for runs the bus forgot (a
dead worker's run, an event lost with Redis's data). Every step is idempotent and keyed
in SQL, so any number of workers may run, and a killed worker's unacked event is
reclaimed by another.

Graceful shutdown (SIGTERM/SIGINT): the event in hand is finished and acknowledged,
then the loop stops; nothing is half-done because nothing is acknowledged early.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from dataclasses import dataclass
from datetime import timedelta

import httpx

from approvals.bus import Handler, LocalQueueBus
from approvals.redis_bus import RedisBus
from approvals.webhooks.service import deliver_due
from foundation.errors import ConfigError
from foundation.logging import bound_ids, get_logger
from graph.runtime import Runtime

log = get_logger(__name__)


@dataclass(frozen=True)
class WorkerOptions:
    sweep_every_s: float = 5.0
    reconcile_every_s: float = 30.0
    """How often to look in SQL for runs the bus forgot (a dead worker's, a lost event)."""
    warn_within: timedelta = timedelta(minutes=15)
    heartbeat_ttl_s: int = 30
    block_ms: int = 1000
    webhook_every_s: float = 2.0
    relay_every_s: float = 0.5
    """The outbox's safety net: processes that commit messages relay them themselves."""
    housekeeping_every_s: float = 1.0
    """Heartbeat, lost-data check and reclaiming stale events from dead consumers."""


class Worker:
    def __init__(
        self,
        runtime: Runtime,
        worker_id: str | None = None,
        options: WorkerOptions | None = None,
        handler: Handler | None = None,
    ) -> None:
        if not isinstance(runtime.bus, RedisBus | LocalQueueBus):
            raise ConfigError(
                "tethra worker needs the Redis bus: set TETHRA_REDIS_URL. Without Redis the "
                "API process runs this loop itself, on a background thread."
            )
        self.runtime = runtime
        self.bus: RedisBus | LocalQueueBus = runtime.bus
        self.redis: RedisBus | None = runtime.bus if isinstance(runtime.bus, RedisBus) else None
        self.id = worker_id or f"{socket.gethostname()}-{os.getpid()}"
        self.options = options or WorkerOptions()
        self.handled = 0
        self.handler: Handler = handler or runtime.handle

    def run(self, stop: threading.Event) -> None:
        with bound_ids(worker_id=self.id):
            log.info("worker started")
            notifier = threading.Thread(
                target=self._deliver_webhooks, args=(stop,), name="webhooks", daemon=True
            )
            notifier.start()
            if self.redis is None or self.redis.ensure_group():
                self._rebuild("bus set up" if self.redis else "process started")
            last_sweep = last_reconcile = time.monotonic()
            last_relay = last_housekeeping = float("-inf")
            failures = 0
            idle = True
            while not stop.is_set():
                try:
                    now = time.monotonic()
                    housekeeping = now - last_housekeeping >= self.options.housekeeping_every_s
                    if housekeeping and self.redis is not None:
                        self._heartbeat(self.redis)
                        # Only the worker that re-marks the epoch rebuilds; others see it set.
                        if self.redis.epoch_missing() and self.redis.ensure_group():
                            self._rebuild("Redis lost its data")
                    if housekeeping:
                        last_housekeeping = now
                    if idle or now - last_relay >= self.options.relay_every_s:
                        self.runtime.relay()
                        last_relay = now
                    if now - last_sweep >= self.options.sweep_every_s:
                        self.runtime.sweep(self.options.warn_within)
                        last_sweep = now
                    if now - last_reconcile >= self.options.reconcile_every_s:
                        self.runtime.reconcile()
                        last_reconcile = now
                    handled = self.bus.consume(
                        self.handler,
                        consumer=self.id,
                        block_ms=self.options.block_ms,
                        count=1,
                        reclaim=housekeeping,
                    )
                    self.handled += handled
                    idle = handled == 0
                    failures = 0
                except Exception:
                    failures += 1
                    idle = True
                    log.exception("worker loop failed; retrying", failures=failures)
                    stop.wait(min(30.0, 0.5 * 2 ** min(failures, 6)))
            notifier.join(15)
            if self.redis is not None:
                self.redis.client.delete(self.redis.keys.worker_heartbeat(self.id))
            log.info("worker stopped", handled=self.handled)

    def _deliver_webhooks(self, stop: threading.Event) -> None:
        """On its own thread: a slow receiver must not hold up resuming runs."""
        with httpx.Client(follow_redirects=False) as client:
            while not stop.wait(self.options.webhook_every_s):
                try:
                    deliver_due(self.runtime.engine, client)
                except Exception:
                    log.exception("webhook delivery failed; retrying")

    def _heartbeat(self, bus: RedisBus) -> None:
        bus.client.set(
            bus.keys.worker_heartbeat(self.id), str(time.time()), ex=self.options.heartbeat_ttl_s
        )

    def _rebuild(self, why: str) -> None:
        count = self.runtime.reconcile()
        log.warning("rebuilt the bus from SQL", reason=why, runs_resumed=count)
