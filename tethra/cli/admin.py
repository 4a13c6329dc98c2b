"""Setting up a database and managing users."""

from __future__ import annotations

from typing import Annotated

import typer
from sqlmodel import Session

from tethra.cli.context import engine_only, settings
from tethra.db import create_db_engine, migrate
from tethra.users import DEMO_USERS, User, create_user
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
