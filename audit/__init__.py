"""The audit trail: an append-only, hash-chained record of everything that happened.

Invariant 4: user messages, model calls, proposed tool calls, checks, policy
decisions, approvals and execution results are all recorded here, in the same
transaction as the change they describe, and the chain can be re-verified at any time.
"""

from __future__ import annotations

from audit.events import EVENT_KINDS, AuditRecord, EventKind
from audit.queries import events_for_run, run_ids_for_thread, search_events
from audit.timeline import describe
from audit.trail import record, record_now
from audit.verify import VerifyReport, verify_chain

__all__ = [
    "EVENT_KINDS",
    "AuditRecord",
    "EventKind",
    "VerifyReport",
    "describe",
    "events_for_run",
    "record",
    "record_now",
    "run_ids_for_thread",
    "search_events",
    "verify_chain",
]
