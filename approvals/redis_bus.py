"""The approval bus on Redis Streams: one stream, one consumer group of workers.

Why Streams and not pub/sub: a stream keeps each event until a worker acknowledges it,
so a worker that dies mid-event does not lose it (another worker reclaims it with
XAUTOCLAIM once it has been idle for ``min_idle_ms``), and a poison event stops being
retried after ``max_deliveries`` and lands in a dead-letter stream for inspection.

Redis is the transport, never the record (SQL is). Redis runs without persistence, so
it can lose everything; two defences follow:

* ``consume`` recreates a vanished consumer group (NOGROUP) and keeps going;
* ``ensure_group`` writes an epoch marker; when the marker is missing
  (``epoch_missing()``), the worker rebuilds the bus from SQL.

redis-py's reply types are loose (``Any``, RESP2 vs RESP3 shapes, bytes vs str), so every
reply is narrowed here by small parsers rather than trusted.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import NoReturn

import redis
from pydantic import ValidationError

from approvals.bus import Handler
from approvals.events import EVENT_ADAPTER, BusEvent
from approvals.keys import RedisKeys
from foundation.errors import UserError
from foundation.logging import get_logger

log = get_logger(__name__)

EVENT_FIELD = "event"


@dataclass(frozen=True)
class StreamMessage:
    """One stream entry as read: ``fields`` is None when Redis trimmed the entry."""

    id: str
    fields: dict[str, bytes] | None


@dataclass(frozen=True)
class DeadLetter:
    """An event no handler could take, as stored in ``keys.dead_letters``."""

    message_id: str
    payload: bytes
    error: str
    deliveries: int


class RedisBus:
    """The ``Bus`` protocol on Redis Streams, pulled by workers with ``consume``.

    ``min_idle_ms`` is how long a delivered, unacknowledged event waits before another
    consumer may reclaim it. It MUST be longer than the slowest handler: otherwise a
    second worker takes over an event that is still being handled and it runs twice
    (harmless for idempotent handlers, but wasted work and a skewed delivery count).
    """

    def __init__(
        self,
        client: redis.Redis,
        keys: RedisKeys,
        *,
        max_deliveries: int = 5,
        min_idle_ms: int = 60_000,
        maxlen: int = 100_000,
    ) -> None:
        if max_deliveries < 1 or min_idle_ms < 0 or maxlen < 1:
            raise ValueError("need max_deliveries >= 1, min_idle_ms >= 0 and maxlen >= 1")
        self.client = client  # owned by the caller; the worker also uses it for heartbeats
        self.keys = keys
        self.max_deliveries = max_deliveries
        self.min_idle_ms = min_idle_ms
        self.maxlen = maxlen
        self._last_seen: dict[str, str] = {}  # consumer -> highest id it received
        self._claim_cursor: dict[str, str] = {}  # consumer -> XAUTOCLAIM cursor

    # --- producing -----------------------------------------------------------------------
    def publish(self, event: BusEvent) -> str:
        """XADD the event's JSON; old entries are trimmed approximately beyond ``maxlen``."""
        payload = EVENT_ADAPTER.dump_json(event)
        reply = self.client.xadd(self.keys.events, {EVENT_FIELD: payload}, maxlen=self.maxlen)
        return _text(reply)

    def subscribe(self, handler: Handler) -> None:
        """Refused: push delivery would run the handler in every process, not one worker.

        Failing loudly beats silently accepting a handler that is never called.
        """
        raise UserError(
            "the Redis bus has no push subscriptions: run a worker that calls "
            "bus.consume(handler, consumer=...) in a loop (use InProcessBus for one process)"
        )

    # --- setup and loss detection --------------------------------------------------------
    def ensure_group(self) -> bool:
        """Create the stream and group if absent; return True if the epoch marker was missing.

        SET NX makes exactly one caller see True after a data loss (or on a fresh Redis),
        so exactly one worker rebuilds the bus from SQL.
        """
        self._create_group("0")
        stamp = datetime.now(UTC).isoformat()
        return bool(self.client.set(self.keys.epoch, stamp, nx=True))

    def epoch_missing(self) -> bool:
        """Cheap check (one EXISTS) for "Redis lost its data since ``ensure_group``"."""
        return self.client.exists(self.keys.epoch) == 0

    def _create_group(self, start_id: str) -> None:
        try:
            self.client.xgroup_create(self.keys.events, self.keys.group, id=start_id, mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    # --- consuming -----------------------------------------------------------------------
    def consume(
        self,
        handler: Handler,
        *,
        consumer: str,
        block_ms: int = 1000,
        count: int = 10,
        reclaim: bool = True,
    ) -> int:
        """Handle up to ``count`` events as ``consumer``; returns how many were settled.

        Settled = acknowledged: handled successfully or dead-lettered. A handler failure
        below ``max_deliveries`` leaves the event pending; it comes back through
        XAUTOCLAIM after ``min_idle_ms``. Stale pending events are reclaimed first, then
        new ones read (waiting up to ``block_ms``; ``block_ms <= 0`` does not wait, since
        Redis would read BLOCK 0 as "forever"). ``reclaim=False`` skips the reclaiming,
        for a caller that reclaims on a timer rather than on every call.
        """
        try:
            return self._consume_once(handler, consumer, block_ms, count, reclaim)
        except redis.ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            start = self._recovery_start(consumer)
            log.warning(
                "bus consumer group missing (Redis restarted or flushed); recreating it",
                stream=self.keys.events,
                group=self.keys.group,
                start_id=start,
            )
            self._claim_cursor.pop(consumer, None)
            self._create_group(start)
            return self._consume_once(handler, consumer, block_ms, count, reclaim)

    def _recovery_start(self, consumer: str) -> str:
        """Where a recreated group starts: neither replay the world nor drop new events.

        Epoch marker gone = Redis lost its data, so the stream is new and every entry in it
        is unseen: start at "0" (comparing ids with the old stream would be meaningless).
        Otherwise only the group vanished: start after the last id this consumer saw.
        """
        last = self._last_seen.get(consumer)
        return "0" if last is None or self.epoch_missing() else last

    def _consume_once(
        self, handler: Handler, consumer: str, block_ms: int, count: int, reclaim: bool
    ) -> int:
        batch = self._reclaim(consumer, count) if reclaim else []
        room = count - len(batch)
        if room > 0:
            reply = self.client.xreadgroup(
                self.keys.group,
                consumer,
                {self.keys.events: ">"},
                count=room,
                block=block_ms if block_ms > 0 and not batch else None,
            )
            batch.extend((message, 1) for message in _entries(reply))
        settled = 0
        for message, deliveries in batch:
            self._see(consumer, message.id)
            settled += self._settle(handler, consumer, message, deliveries)
        return settled

    def _reclaim(self, consumer: str, count: int) -> list[tuple[StreamMessage, int]]:
        """XAUTOCLAIM idle pending events, with their delivery counts (from XPENDING)."""
        cursor = self._claim_cursor.get(consumer, "0-0")
        reply = self.client.xautoclaim(
            self.keys.events, self.keys.group, consumer, self.min_idle_ms, cursor, count=count
        )
        if not isinstance(reply, list) or len(reply) < 2:
            _unexpected("XAUTOCLAIM", reply)
        self._claim_cursor[consumer] = _text(reply[0])
        if len(reply) > 2 and reply[2]:
            log.warning("pending bus events were trimmed before being handled", count=len(reply[2]))
        claimed: list[tuple[StreamMessage, int]] = []
        for message in _entries(reply[1]):
            deliveries = self._deliveries(message.id)
            if deliveries is not None:  # None: another consumer took it meanwhile
                claimed.append((message, deliveries))
        return claimed

    def _deliveries(self, message_id: str) -> int | None:
        rows = self.client.xpending_range(
            self.keys.events, self.keys.group, message_id, message_id, 1
        )
        for row in rows:
            value = row.get("times_delivered")
            if isinstance(value, int):
                return value
        return None

    def _settle(
        self, handler: Handler, consumer: str, message: StreamMessage, deliveries: int
    ) -> int:
        """Run one event through ``handler``; return 1 if it was acknowledged, else 0."""
        if message.fields is None:  # trimmed by MAXLEN while pending: nothing to handle
            self.client.xack(self.keys.events, self.keys.group, message.id)
            return 1
        payload = message.fields.get(EVENT_FIELD)
        if payload is None:
            self._dead_letter(message, b"", f"no {EVENT_FIELD!r} field", deliveries)
            return 1
        try:
            event = EVENT_ADAPTER.validate_json(payload)
        except ValidationError as exc:
            self._dead_letter(message, payload, f"unparseable event: {exc}", deliveries)
            return 1
        if deliveries > self.max_deliveries:  # workers died while handling it, repeatedly
            error = f"delivered {deliveries} times without an ack (worker died while handling?)"
            self._dead_letter(message, payload, error, deliveries)
            return 1
        try:
            handler(event)
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
            if deliveries >= self.max_deliveries:
                log.exception("bus handler failed; dead-lettering", event_kind=event.kind)
                self._dead_letter(message, payload, error, deliveries)
                return 1
            log.exception(
                "bus handler failed; will be redelivered",
                event_kind=event.kind,
                consumer=consumer,
                deliveries=deliveries,
                retry_after_ms=self.min_idle_ms,
            )
            return 0
        self.client.xack(self.keys.events, self.keys.group, message.id)
        return 1

    def _dead_letter(
        self, message: StreamMessage, payload: bytes, error: str, deliveries: int
    ) -> None:
        """Move the event to the dead-letter stream and ack it, atomically (MULTI)."""
        with self.client.pipeline(transaction=True) as pipe:
            pipe.xadd(
                self.keys.dead_letters,
                {
                    EVENT_FIELD: payload,
                    "error": error,
                    "message_id": message.id,
                    "deliveries": deliveries,
                },
                maxlen=self.maxlen,
            )
            pipe.xack(self.keys.events, self.keys.group, message.id)
            pipe.execute()
        log.error("bus event dead-lettered", message_id=message.id, error=error)

    def _see(self, consumer: str, message_id: str) -> None:
        previous = self._last_seen.get(consumer)
        if previous is None or _id_key(message_id) > _id_key(previous):
            self._last_seen[consumer] = message_id

    # --- metrics -------------------------------------------------------------------------
    def pending_count(self) -> int:
        """Events delivered but not yet acknowledged (0 when the group does not exist)."""
        try:
            summary = self.client.xpending(self.keys.events, self.keys.group)
        except redis.ResponseError as exc:
            if "NOGROUP" in str(exc):
                return 0
            raise
        value = summary.get("pending")
        return value if isinstance(value, int) else 0

    def dead_letter_count(self) -> int:
        return self.client.xlen(self.keys.dead_letters)

    def dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        """The oldest ``limit`` dead letters, for operators and tests."""
        reply = self.client.xrange(self.keys.dead_letters, count=limit)
        letters = []
        for entry in _entries(reply):
            fields = entry.fields or {}
            letters.append(
                DeadLetter(
                    message_id=fields.get("message_id", b"").decode(),
                    payload=fields.get(EVENT_FIELD, b""),
                    error=fields.get("error", b"").decode(),
                    deliveries=int(fields.get("deliveries", b"0")),
                )
            )
        return letters


# --- narrowing redis-py replies ------------------------------------------------------------
def _unexpected(command: str, reply: object) -> NoReturn:
    raise TypeError(f"unexpected {command} reply from Redis: {reply!r:.200}")


def _text(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, str):
        return value
    _unexpected("id", value)


def _raw(value: object) -> bytes:
    return value.encode() if isinstance(value, str) else value if isinstance(value, bytes) else b""


def _id_key(message_id: str) -> tuple[int, int]:
    ms, _, seq = message_id.partition("-")
    return int(ms), int(seq or 0)


def _entries(reply: object) -> list[StreamMessage]:
    """Stream entries anywhere in a reply: RESP2 ``[[name, entries]]``, RESP3
    ``{name: [entries]}``, XRANGE / XAUTOCLAIM ``entries``; bytes or decoded str."""
    found: list[StreamMessage] = []
    _collect(reply, found)
    return found


def _collect(node: object, found: list[StreamMessage]) -> None:
    if isinstance(node, dict):
        for child in node.values():
            _collect(child, found)
    elif isinstance(node, list | tuple):
        if (
            len(node) == 2
            and isinstance(node[0], bytes | str)
            and (node[1] is None or isinstance(node[1], dict))
        ):
            fields = None if node[1] is None else {_text(k): _raw(v) for k, v in node[1].items()}
            found.append(StreamMessage(_text(node[0]), fields))
        else:
            for child in node:
                _collect(child, found)
