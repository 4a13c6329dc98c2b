"""The bus interface and its in-process transport (one process, no Redis).

Publishing happens after the SQL commit; a handler failing is logged, never raised
to the publisher, because the decision is already durable and recovery rebuilds
the work from SQL.
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
    def publish(self, event: BusEvent) -> None: ...

    def subscribe(self, handler: Handler) -> None: ...


class InProcessBus:
    def __init__(self) -> None:
        self._handlers: list[Handler] = []
        self.published: deque[BusEvent] = deque(maxlen=1000)  # recent, for inspection

    def publish(self, event: BusEvent) -> None:
        self.published.append(event)
        for handler in list(self._handlers):
            try:
                handler(event)
            except Exception:
                log.exception("bus handler failed", event_kind=event.kind)

    def subscribe(self, handler: Handler) -> None:
        self._handlers.append(handler)
