"""Who may see which thread and run: the ownership rules behind the role checks.

A thread has no table of its own: it exists once a message was sent to it, and it
belongs to whoever sent its first message. Operators see their own threads and runs;
approvers see those they are asked to decide on (a run with an approval request);
auditors and admins see everything.
"""

from __future__ import annotations

from sqlmodel import Session, col, select

from approvals.models import ApprovalRequest
from foundation.errors import Forbidden, NotFound
from foundation.users import User, has_role
from graph.records import Run


def thread_owner(session: Session, thread_id: str) -> str | None:
    """The requester of the thread's first run; None if no message was sent to it yet."""
    return session.exec(
        select(Run.requester).where(Run.thread_id == thread_id).order_by(col(Run.id)).limit(1)
    ).first()


def _asked_to_decide(
    session: Session, *, run_id: str | None = None, thread_id: str | None = None
) -> bool:
    query = select(ApprovalRequest.id)
    if run_id is not None:
        query = query.where(ApprovalRequest.run_id == run_id)
    if thread_id is not None:
        query = query.where(ApprovalRequest.thread_id == thread_id)
    return session.exec(query.limit(1)).first() is not None


def check_thread_readable(session: Session, user: User, thread_id: str) -> None:
    owner = thread_owner(session, thread_id)
    if owner is None:
        raise NotFound(f"no thread {thread_id!r} (a thread exists once a message is sent to it)")
    if has_role(user, "auditor"):
        return
    if user.role == "operator" and owner == user.name:
        return
    if user.role == "approver" and _asked_to_decide(session, thread_id=thread_id):
        return
    raise Forbidden(f"{user.name} may not read thread {thread_id}")


def check_thread_writable(session: Session, user: User, thread_id: str) -> None:
    """Only the thread's owner (or an admin) continues a conversation."""
    owner = thread_owner(session, thread_id)
    if owner is None or owner == user.name or user.role == "admin":
        return
    raise Forbidden(f"thread {thread_id} belongs to another user; start a thread of your own")


def readable_run(session: Session, user: User, run_id: str) -> Run:
    run = session.get(Run, run_id)
    if run is None:
        raise NotFound(f"no run {run_id!r}")
    if has_role(user, "auditor"):
        return run
    if user.role == "operator" and run.requester == user.name:
        return run
    if user.role == "approver" and _asked_to_decide(session, run_id=run_id):
        return run
    raise Forbidden(f"{user.name} may not read run {run_id}")
