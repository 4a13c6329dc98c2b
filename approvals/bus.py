"""The bus interface and its in-process transport (one process, no Redis).

The bus carries notifications that something changed in SQL; it is never the record.
Events reach the bus through the transactional outbox (``approvals.outbox``), so a
crash between the SQL commit and the publish loses nothing: the relay publishes it
later. Delivery is at least once; every handler is idempotent (it re-reads SQL).

Two ways to receive: ``subscribe`` pushes each event to a handler in the publishing
process (the in-process transport); ``consume`` pulls a batch as one consumer of a
group (Redis Streams: each event goes to one worker, is acknowledged after the handler
returns, redelivered if the worker dies, and dead-lettered after too many failures).
"""

from __future__ import annotations

import queue
import threading
from collections import deque
from collections.abc import Callable
from typing import Protocol

from approvals.events import BusEvent
from foundation.errors import ConfigError
from foundation.logging import get_logger

Handler = Callable[[BusEvent], None]
log = get_logger(__name__)


class Bus(Protocol):
    def publish(self, event: BusEvent) -> str:
        """Send one event; returns its message id on the transport."""
        ...

    def subscribe(self, handler: Handler) -> None:
        """Push every event published by this process to ``handler`` (in-process only)."""
        ...

    def consume(
        self, handler: Handler, *, consumer: str, block_ms: int = 1000, count: int = 10
    ) -> int:
        """Pull and handle up to ``count`` events as ``consumer``; returns how many."""
        ...


class InProcessBus:
    """Single process: publish calls the subscribed handlers at once, in order.

    A handler that raises is retried up to ``max_deliveries`` times, then the event is
    dead-lettered (kept in ``dead_letters`` and logged); the publisher never sees it.
    """

    def __init__(self, max_deliveries: int = 3) -> None:
        self._handlers: list[Handler] = []
        self.max_deliveries = max_deliveries
        self.dead_letters: deque[tuple[BusEvent, str]] = deque(maxlen=1000)
        self._count = 0

    def publish(self, event: BusEvent) -> str:
        self._count += 1
        for handler in list(self._handlers):
            self._deliver(handler, event)
        return str(self._count)

    def _deliver(self, handler: Handler, event: BusEvent) -> None:
        deliver(handler, event, self.max_deliveries, self.dead_letters)

    def subscribe(self, handler: Handler) -> None:
        self._handlers.append(handler)

    def consume(
        self, handler: Handler, *, consumer: str, block_ms: int = 1000, count: int = 10
    ) -> int:
        return 0  # push-based: events were handled when they were published


class LocalQueueBus:
    """One process without Redis, as a server: publish only enqueues, and the same
    worker loop that drains Redis drains this queue on a background thread
    (``tethra.worker.Worker``). So deciding over HTTP returns as soon as the decision
    commits; the tool, the resume and the next model calls run on the worker thread.

    Delivery is at least once like Redis's: a handler that raises is retried up to
    ``max_deliveries`` times, then the event is dead-lettered (kept and logged). Events
    still queued when the process stops are rebuilt from SQL at the next start (the
    worker reconciles on start), as after losing Redis.
    """

    def __init__(self, max_deliveries: int = 3) -> None:
        self._queue: queue.Queue[BusEvent] = queue.Queue()
        self.max_deliveries = max_deliveries
        self.dead_letters: deque[tuple[BusEvent, str]] = deque(maxlen=1000)
        self._count = 0
        self._lock = threading.Lock()

    def publish(self, event: BusEvent) -> str:
        with self._lock:
            self._count += 1
            number = self._count
        self._queue.put(event)
        return str(number)

    def subscribe(self, handler: Handler) -> None:
        raise ConfigError(
            "LocalQueueBus is drained by a worker loop (tethra.worker.Worker); handlers "
            "are given to the worker, not subscribed"
        )

    def consume(
        self,
        handler: Handler,
        *,
        consumer: str,
        block_ms: int = 1000,
        count: int = 10,
        reclaim: bool = True,
    ) -> int:
        handled = 0
        timeout = max(block_ms, 0) / 1000
        while handled < count:
            try:
                event = (
                    self._queue.get(timeout=timeout) if handled == 0 else self._queue.get_nowait()
                )
            except queue.Empty:
                break
            self._deliver(handler, event)
            handled += 1
        return handled

    def backlog(self) -> int:
        return self._queue.qsize()

    def _deliver(self, handler: Handler, event: BusEvent) -> None:
        deliver(handler, event, self.max_deliveries, self.dead_letters)


def deliver(
    handler: Handler,
    event: BusEvent,
    max_deliveries: int,
    dead_letters: deque[tuple[BusEvent, str]],
) -> None:
    """Call ``handler``, retrying up to ``max_deliveries`` times; then dead-letter it."""
    error = ""
    for _ in range(max_deliveries):
        try:
            handler(event)
            return
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
            log.exception("bus handler failed", event_kind=event.kind)
    dead_letters.append((event, error))
    log.error("event dead-lettered", event_kind=event.kind, error=error)
