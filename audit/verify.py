"""Re-checking the audit chain end to end, so tampering is found, not assumed absent.

Every event is re-hashed from its stored fields and compared with its stored hash
(catches changed fields and swapped contents), its ``prev_hash`` is compared with
the previous event's hash and its ``seq`` with the previous seq plus one (catches
removed, inserted and reordered events), and the last event is compared with the
chain-head row (catches a truncated tail and events appended behind the trail's back).

Events are streamed in keyset batches, each in its own short transaction, so a
million-row trail needs bounded memory and never holds the SQLite write lock (taken
by ``BEGIN IMMEDIATE``) for long. Verification may run while agents keep appending:
the head row is read only after the first full pass, and any event committed before
that read must then be visible, so a concurrent append is never mistaken for tampering.

The chain is unkeyed: someone who can rewrite the database can rewrite every hash and
the head row consistently. Publishing ``last_hash`` elsewhere (a log, a ticket, a
signed checkpoint) is what pins history; ``VerifyReport.last_hash`` is that anchor.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from audit.models import GENESIS_HASH, AuditChainHead, AuditEvent
from audit.trail import event_hash


@dataclass(frozen=True)
class VerifyReport:
    """``ok`` only if there is no problem; each problem names the seq it concerns."""

    ok: bool
    checked: int
    problems: list[str] = field(default_factory=list)
    last_seq: int = 0
    last_hash: str = GENESIS_HASH


@dataclass
class _Walker:
    """Checks events one at a time against what came before them."""

    max_problems: int
    checked: int = 0
    last_seq: int = 0
    last_hash: str = GENESIS_HASH
    problems: list[str] = field(default_factory=list)
    suppressed: int = 0

    def problem(self, text: str) -> None:
        if len(self.problems) < self.max_problems:
            self.problems.append(text)
        else:
            self.suppressed += 1

    def _check_seq(self, seq: int) -> None:
        first = self.last_seq + 1
        if seq < first:  # cannot happen with seq as primary key and ORDER BY seq
            self.problem(f"seq {seq}: out of place after seq {self.last_seq}")
        elif seq > first:
            missing = f"{first}" if seq == first + 1 else f"{first}..{seq - 1}"
            self.problem(f"seq {missing}: missing (chain jumps from seq {self.last_seq} to {seq})")

    def check(self, event: AuditEvent) -> None:
        self._check_seq(event.seq)
        if event.prev_hash != self.last_hash:
            before = f"seq {self.last_seq}" if self.last_seq else "the genesis hash"
            self.problem(
                f"seq {event.seq}: prev_hash does not match the hash of {before} "
                "(an event before it was removed, inserted or changed)"
            )
        recomputed = event_hash(
            prev_hash=event.prev_hash,
            seq=event.seq,
            id=event.id,
            ts=event.ts,
            kind=event.kind,
            run_id=event.run_id,
            thread_id=event.thread_id,
            actor=event.actor,
            data=event.data,
        )
        if recomputed != event.hash:
            self.problem(f"seq {event.seq}: content does not match its hash (event was altered)")
        self.checked += 1
        self.last_seq = event.seq
        self.last_hash = event.hash

    def stream(self, engine: Engine, batch_size: int, upto: int | None = None) -> None:
        """Check every event after ``last_seq`` (up to ``upto``) in short transactions."""
        while True:
            stmt = select(AuditEvent).where(col(AuditEvent.seq) > self.last_seq)
            if upto is not None:
                stmt = stmt.where(col(AuditEvent.seq) <= upto)
            stmt = stmt.order_by(col(AuditEvent.seq)).limit(batch_size)
            try:
                with Session(engine) as session:
                    batch = list(session.exec(stmt).all())
            except Exception as exc:  # a tampered row may not even decode
                self.problem(f"seq {self.last_seq + 1}: unreadable event(s) after it: {exc}")
                raise _Unreadable from exc
            for event in batch:
                self.check(event)
            if len(batch) < batch_size:
                return


class _Unreadable(Exception):
    """Stop walking: the rest of the chain cannot be read."""


def _read_head(engine: Engine) -> AuditChainHead | None:
    with Session(engine) as session:
        return session.get(AuditChainHead, 1)


def verify_chain(
    engine: Engine, *, batch_size: int = 1000, max_problems: int = 100
) -> VerifyReport:
    """Walk the whole chain and report every break found (up to ``max_problems``)."""
    if batch_size < 1 or max_problems < 1:
        raise ValueError("batch_size and max_problems must be positive")
    walker = _Walker(max_problems=max_problems)
    try:
        walker.stream(engine, batch_size)
        head = _read_head(engine)
        if head is not None and head.last_seq > walker.last_seq:
            # Events up to head.last_seq committed before we read the head: catch up.
            walker.stream(engine, batch_size, upto=head.last_seq)
    except _Unreadable:
        head = None
        walker.problem("verification stopped early: the chain could not be read to its end")
    else:
        _check_head(walker, head)
    if walker.suppressed:
        walker.problems.append(f"... and {walker.suppressed} more problem(s)")
    return VerifyReport(
        ok=not walker.problems,
        checked=walker.checked,
        problems=walker.problems,
        last_seq=walker.last_seq,
        last_hash=walker.last_hash,
    )


def _check_head(walker: _Walker, head: AuditChainHead | None) -> None:
    if head is None:
        if walker.last_seq:
            walker.problem(f"seq {walker.last_seq}: events exist but the chain head row is missing")
        return
    if head.last_seq > walker.last_seq:
        walker.problem(
            f"seq {walker.last_seq + 1}: missing — the head says the chain ends at seq "
            f"{head.last_seq} but it ends at seq {walker.last_seq} (tail truncated)"
        )
    elif head.last_seq < walker.last_seq:
        walker.problem(
            f"seq {head.last_seq + 1}: beyond the chain head (last_seq {head.last_seq}); "
            "events were added without going through the trail"
        )
    elif head.last_hash != walker.last_hash:
        walker.problem(
            f"seq {walker.last_seq}: hash differs from the head's last_hash (the tail was replaced)"
        )
