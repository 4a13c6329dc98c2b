"""Signing webhook requests, and the verifier receivers copy (standard library only).

Every request carries three headers. ``X-Tethra-Timestamp`` is Unix seconds at send
time. ``X-Tethra-Signature`` is ``v1=<hex HMAC-SHA256 of "{timestamp}.{body}">``.
``X-Tethra-Event-Id`` is stable across retries. The timestamp is inside the MAC, so an
old request cannot be re-dated. The tolerance bounds how long a captured request
stays usable, and the seen-set stops it being replayed within that window. A retry
is signed afresh but keeps its event id, so the verifier reports it as ``Replayed``.
A receiver should answer 2xx to that: it already accepted this event. A receiver
whose handler failed calls ``forget(event_id)`` so that the retry is accepted.

This module depends on nothing outside the standard library, so a receiver can copy
it as it is. docs/webhooks.md shows how.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections import OrderedDict
from collections.abc import Mapping
from typing import Protocol

TIMESTAMP_HEADER = "X-Tethra-Timestamp"
SIGNATURE_HEADER = "X-Tethra-Signature"
EVENT_ID_HEADER = "X-Tethra-Event-Id"
SCHEME = "v1"


def sign(secret: str, timestamp: int | str, body: str | bytes) -> str:
    """Hex HMAC-SHA256 over ``f"{timestamp}.{body}"`` (the body as sent, UTF-8)."""
    raw = body.encode("utf-8") if isinstance(body, str) else body
    message = str(timestamp).encode("ascii") + b"." + raw
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def signed_headers(secret: str, event_id: str, body: str | bytes, now: float) -> dict[str, str]:
    """The headers for one delivery attempt, signed at ``now`` (Unix seconds)."""
    timestamp = int(now)
    return {
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: f"{SCHEME}={sign(secret, timestamp, body)}",
        EVENT_ID_HEADER: event_id,
    }


class VerificationError(Exception):
    """A request failed verification. ``reason`` is a short code safe to log."""

    reason = "invalid"

    def __init__(self, detail: str) -> None:
        super().__init__(f"{self.reason}: {detail}")
        self.detail = detail


class MissingHeader(VerificationError):
    reason = "missing_header"


class MalformedHeader(VerificationError):
    reason = "malformed_header"


class BadSignature(VerificationError):
    reason = "bad_signature"


class StaleTimestamp(VerificationError):
    reason = "stale_timestamp"


class FutureTimestamp(VerificationError):
    reason = "future_timestamp"


class Replayed(VerificationError):
    """This event id was already accepted within the window. Answer 2xx and do nothing."""

    reason = "replayed"


class SeenStore(Protocol):
    """Remembers event ids until they expire. Share one store (e.g. Redis SET NX EX)
    between the processes of a receiver, or each process accepts a replay once."""

    def add(self, event_id: str, expires_at: float, now: float) -> bool:
        """Record ``event_id``; False if it is already there and not expired."""
        ...

    def discard(self, event_id: str) -> None: ...


class MemorySeen:
    """A bounded in-process seen-set. When full it forgets the oldest entry first, so a
    flood of valid requests can make an old event id acceptable again within its window."""

    def __init__(self, max_entries: int = 10_000) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[str, float] = OrderedDict()

    def add(self, event_id: str, expires_at: float, now: float) -> bool:
        while self._entries:
            oldest, until = next(iter(self._entries.items()))
            if until > now and len(self._entries) < self.max_entries:
                break
            del self._entries[oldest]
        known = self._entries.get(event_id)
        if known is not None and known > now:
            return False
        self._entries[event_id] = expires_at
        self._entries.move_to_end(event_id)
        return True

    def discard(self, event_id: str) -> None:
        self._entries.pop(event_id, None)


def _header(headers: Mapping[str, str], name: str) -> str:
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted and value.strip():
            return value.strip()
    raise MissingHeader(f"no {name} header")


class Verifier:
    """Checks signature, age and uniqueness of incoming webhook requests."""

    def __init__(self, secret: str, tolerance_s: int = 300, seen: SeenStore | None = None) -> None:
        if not secret:
            raise ValueError("the webhook secret is empty")
        self.secret = secret
        self.tolerance_s = tolerance_s
        self.seen: SeenStore = seen if seen is not None else MemorySeen()

    def verify(
        self, headers: Mapping[str, str], body: str | bytes, now: float | None = None
    ) -> str:
        """Return the event id, or raise a ``VerificationError`` subclass.

        ``body`` must be the raw bytes received, not re-encoded JSON.
        """
        now = time.time() if now is None else now
        stamp = _header(headers, TIMESTAMP_HEADER)
        given = _header(headers, SIGNATURE_HEADER)
        event_id = _header(headers, EVENT_ID_HEADER)
        if not stamp.isdigit():
            raise MalformedHeader(f"{TIMESTAMP_HEADER} is not Unix seconds: {stamp[:32]!r}")
        expected = sign(self.secret, stamp, body)
        candidates = [
            part.strip().removeprefix(f"{SCHEME}=")
            for part in given.split(",")
            if part.strip().startswith(f"{SCHEME}=")
        ]
        # compare_digest takes the same time wherever the strings differ.
        if not any(hmac.compare_digest(c, expected) for c in candidates):
            raise BadSignature("the signature does not match this body and secret")
        timestamp = int(stamp)
        if timestamp < now - self.tolerance_s:
            raise StaleTimestamp(f"signed {int(now - timestamp)}s ago")
        if timestamp > now + self.tolerance_s:
            raise FutureTimestamp(f"signed {int(timestamp - now)}s in the future")
        if not self.seen.add(event_id, timestamp + self.tolerance_s, now):
            raise Replayed(f"event {event_id} was already accepted")
        return event_id

    def forget(self, event_id: str) -> None:
        """Allow ``event_id`` again, e.g. because handling it failed and it will be retried."""
        self.seen.discard(event_id)
