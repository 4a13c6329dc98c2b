"""Every Redis key name Tethra uses, in one place (as arq keeps them in ``constants.py``).

Keeping the names here means a deployment's whole footprint is visible at a glance, two
deployments can share one Redis by choosing different prefixes (``TETHRA_REDIS_PREFIX``),
and tests can give each test its own prefix and delete exactly what they made.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RedisKeys:
    """Key names under one prefix; build it once from ``Settings.redis_prefix``."""

    prefix: str

    def __post_init__(self) -> None:
        if not self.prefix or any(c in self.prefix for c in "*?[]"):
            raise ValueError(
                f"redis prefix {self.prefix!r} must be non-empty and free of glob characters"
            )

    @property
    def events(self) -> str:
        """The approval bus stream: every event is one entry, read by the ``group``."""
        return f"{self.prefix}:bus:events"

    @property
    def group(self) -> str:
        """Consumer group of the workers; each event goes to one of its consumers.

        Not a key, but named here so no module spells it differently.
        """
        return "workers"

    @property
    def dead_letters(self) -> str:
        """Stream of events no handler could take (unparseable or failed too often).

        Kept apart so a poison event stops being retried, yet stays inspectable.
        """
        return f"{self.prefix}:bus:dead"

    @property
    def epoch(self) -> str:
        """Marker written when the bus is set up.

        Redis runs without persistence: if this key is gone, Redis lost its data since
        the marker was written, so pending notifications are gone too and the worker
        must rebuild the bus from SQL (the system of record).
        """
        return f"{self.prefix}:bus:epoch"

    def worker_heartbeat(self, worker_id: str) -> str:
        """Per-worker liveness key (with a TTL), so operators and peers see who is alive."""
        return f"{self.prefix}:workers:{worker_id}"

    @property
    def worker_pattern(self) -> str:
        """SCAN pattern matching every ``worker_heartbeat`` key."""
        return f"{self.prefix}:workers:*"

    def lock(self, name: str) -> str:
        """A named mutual-exclusion lock (e.g. one expiry sweeper at a time)."""
        return f"{self.prefix}:lock:{name}"

    @property
    def pattern(self) -> str:
        """SCAN pattern matching every key under this prefix (tests, operator cleanup)."""
        return f"{self.prefix}:*"
