"""People who act on the platform, their roles, and API keys stored only as hashes.

Roles: operator (chats, owns runs), approver (decides approvals), auditor (reads
everything), admin (everything, including users and tools). Separation of duties
lives in ``approvals/``: holding the approver role is necessary, not sufficient.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime
from typing import Literal, get_args

from sqlalchemy import Column
from sqlalchemy.engine import Engine
from sqlmodel import Field, Session, SQLModel, col, select

from foundation.db import UTCDateTime, session_scope, utcnow
from foundation.errors import Conflict, Forbidden, InvalidInput, NotFound

Role = Literal["operator", "approver", "auditor", "admin"]
ROLES: tuple[str, ...] = get_args(Role)
DEMO_USERS: tuple[tuple[str, Role], ...] = (
    ("olivia", "operator"),
    ("adam", "approver"),
    ("erin", "approver"),
    ("aria", "auditor"),
    ("root", "admin"),
)
"""The people `tethra init` seeds for the demo, the golden cases and the browser tests."""


class User(SQLModel, table=True):
    __tablename__ = "users"

    name: str = Field(primary_key=True, max_length=64)
    role: str = Field(max_length=16)
    api_key_hash: str = Field(index=True, unique=True, max_length=64)
    active: bool = True
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime()))


def _hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def has_role(user: User, role: str) -> bool:
    """Admins hold every role; everyone else exactly their own."""
    return role_allows(user.role, role)


def role_allows(held: str, needed: str) -> bool:
    return held in (needed, "admin")


def create_user(engine: Engine, name: str, role: str) -> tuple[User, str]:
    """Create a user and return the API key; it is shown once and stored only hashed."""
    if role not in ROLES:
        raise InvalidInput(f"role must be one of {', '.join(ROLES)}, got {role!r}")
    if not name or len(name) > 64 or not name.replace("-", "").replace("_", "").isalnum():
        raise InvalidInput("user name must be 1-64 letters, digits, '-' or '_'")
    key = _new_key()
    with session_scope(engine) as session:
        if session.get(User, name) is not None:
            raise Conflict(f"user {name!r} already exists")
        user = User(name=name, role=role, api_key_hash=_hash_key(key))
        session.add(user)
    return user, key


def _new_key() -> str:
    return "tk_" + secrets.token_urlsafe(32)


def _existing(session: Session, name: str) -> User:
    user = session.get(User, name)
    if user is None:
        raise NotFound(f"no user named {name!r} (tethra users list shows them)")
    return user


def rotate_key(session: Session, name: str) -> str:
    """Give ``name`` a new API key, returned once; the old key, and every web session
    signed in with it, stops working at once. In the caller's transaction."""
    user = _existing(session, name)
    key = _new_key()
    user.api_key_hash = _hash_key(key)
    session.add(user)
    return key


def set_active(session: Session, name: str, active: bool) -> bool:
    """Deactivate (every key and session refused at once) or reactivate a user; returns
    whether this changed anything. In the caller's transaction."""
    user = _existing(session, name)
    if user.active == active:
        return False
    user.active = active
    session.add(user)
    return True


def list_users(session: Session) -> list[User]:
    return list(session.exec(select(User).order_by(col(User.name))))


def get_user(session: Session, name: str) -> User:
    user = session.get(User, name)
    if user is None or not user.active:
        raise NotFound(f"no active user named {name!r}")
    return user


def authenticate(engine: Engine, key: str) -> User:
    digest = _hash_key(key)
    with Session(engine) as session:
        user = session.exec(select(User).where(User.api_key_hash == digest)).first()
    if user is None or not user.active or not hmac.compare_digest(user.api_key_hash, digest):
        raise Forbidden("unknown or revoked API key")
    return user
