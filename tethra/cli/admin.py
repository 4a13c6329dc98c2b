"""Setting up a database and managing users."""

from __future__ import annotations

from typing import Annotated

import typer
from sqlmodel import Session

from audit.events import EventKind
from audit.trail import record
from foundation.db import create_db_engine, migrate, session_scope
from foundation.users import DEMO_USERS, User, create_user, list_users, rotate_key, set_active
from tethra.cli.context import engine_only, settings
from tools.seed import seed_demo_data

users_app = typer.Typer(no_args_is_help=True)


def init(
    demo: Annotated[bool, typer.Option(help="Seed demo business data and demo users.")] = True,
) -> None:
    """Create or upgrade the schema (Alembic); seed the demo data and users once."""
    s = settings()
    engine = create_db_engine(s.database_url)
    try:
        migrate(engine)
        typer.echo("schema is at the newest migration")
        if not demo:
            return
        typer.echo(
            "demo business data seeded"
            if seed_demo_data(engine)
            else "demo business data already present"
        )
        with Session(engine) as session:
            missing = [(n, r) for n, r in DEMO_USERS if session.get(User, n) is None]
        for name, role in missing:
            _, key = create_user(engine, name, role)
            typer.echo(f"user {name:<7} role {role:<9} API key {key}")
        if missing:
            typer.echo("(keys are shown once; the CLI identifies users with --as NAME)")
    finally:
        engine.dispose()


@users_app.command("create")
def create(
    name: str,
    role: Annotated[str, typer.Option(help="operator, approver, auditor or admin")],
) -> None:
    """Create a user and print their API key once (it is stored only as a hash)."""
    with engine_only() as engine:
        user, key = create_user(engine, name, role)
    typer.echo(f"created {user.name} ({user.role}); API key (shown once): {key}")


@users_app.command("list")
def list_() -> None:
    """Users, their roles and whether they are active (keys are never shown)."""
    with engine_only() as engine, Session(engine) as session:
        for user in list_users(session):
            state = "active" if user.active else "deactivated"
            typer.echo(f"{user.name:<16} {user.role:<9} {state}")


@users_app.command("rotate-key")
def rotate(name: str) -> None:
    """Give a user a new API key, printed once; the old key and its web sessions stop
    working at once (audited)."""
    with engine_only() as engine, session_scope(engine) as session:
        key = rotate_key(session, name)
        record(session, kind="user_key_rotated", actor="cli", data={"user": name})
    typer.echo(f"new API key for {name} (shown once; the old one no longer works): {key}")


@users_app.command("deactivate")
def deactivate(name: str) -> None:
    """Refuse a user's key and web sessions at once; what they did stays in the trail."""
    _set_active(name, False)


@users_app.command("activate")
def activate(name: str) -> None:
    """Let a deactivated user act again, with the key they had."""
    _set_active(name, True)


def _set_active(name: str, active: bool) -> None:
    with engine_only() as engine, session_scope(engine) as session:
        changed = set_active(session, name, active)
        if changed:
            kind: EventKind = "user_activated" if active else "user_deactivated"
            record(session, kind=kind, actor="cli", data={"user": name})
    state = "active" if active else "deactivated"
    typer.echo(f"{name} is {state}" + ("" if changed else " (it already was)"))
