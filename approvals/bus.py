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

from collections import deque
from collections.abc import Callable
from typing import Protocol

from approvals.events import BusEvent
from tethra.logging import get_logger

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
        error = ""
        for _ in range(self.max_deliveries):
            try:
                handler(event)
                return
            except Exception as exc:
                error = f"{type(exc).__name__}: {exc}"
                log.exception("bus handler failed", event_kind=event.kind)
        self.dead_letters.append((event, error))
        log.error("event dead-lettered", event_kind=event.kind, error=error)

    def subscribe(self, handler: Handler) -> None:
        self._handlers.append(handler)

    def consume(
        self, handler: Handler, *, consumer: str, block_ms: int = 1000, count: int = 10
    ) -> int:
        return 0  # push-based: events were handled when they were published
