"""``tethra webhooks``: register endpoints, read the delivery log, and deliver from a terminal.

The secret is printed once, by ``add`` and ``rotate``. ``list`` never shows it,
because the receiver needs it and a terminal log should not hold it.
"""

from __future__ import annotations

import time
from typing import Annotated

import httpx
import typer

from approvals.webhooks.service import (
    EVENT_KINDS,
    create_webhook,
    deliver_due,
    disable_webhook,
    list_deliveries,
    list_webhooks,
    rotate_secret,
)
from tethra.cli import render
from tethra.cli.context import engine_only

app = typer.Typer(no_args_is_help=True)
console = render.console


def _kinds(events: str | None) -> list[str]:
    return [k.strip() for k in (events or "").split(",") if k.strip()]


@app.command()
def add(
    url: str,
    user: Annotated[str, typer.Option("--as", envvar="TETHRA_USER", help="Admin registering.")],
    events: Annotated[
        str | None,
        typer.Option(help=f"Comma-separated kinds (default: all): {', '.join(EVENT_KINDS)}"),
    ] = None,
    fmt: Annotated[str, typer.Option("--format", help="tethra (signed JSON) or slack.")] = "tethra",
) -> None:
    """Register a webhook and print its signing secret (shown once)."""
    with engine_only() as engine:
        hook, secret = create_webhook(engine, url, _kinds(events), created_by=user, fmt=fmt)
    console.print(f"webhook {hook.id} -> {hook.url} ({hook.format})")
    console.print(f"events  {', '.join(hook.kinds) or 'all'}")
    typer.echo(f"secret (shown once; verify X-Tethra-Signature with it): {secret}")


@app.command("list")
def list_() -> None:
    """Every webhook, active or not; secrets are not shown."""
    with engine_only() as engine:
        hooks = list_webhooks(engine)
    if not hooks:
        console.print("no webhooks")
    for h in hooks:
        state = "active" if h.active else "disabled"
        console.print(f"[bold]{h.id}[/]  {state}  {h.format}  {h.url}")
        console.print(f"    events {', '.join(h.kinds) or 'all'}; by {h.created_by}")


@app.command()
def disable(webhook_id: str) -> None:
    """Stop sending to a webhook; its pending deliveries are marked dead."""
    with engine_only() as engine:
        hook = disable_webhook(engine, webhook_id)
    console.print(f"webhook {hook.id} disabled")


@app.command()
def rotate(webhook_id: str) -> None:
    """Replace the signing secret now and print the new one (shown once)."""
    with engine_only() as engine:
        secret = rotate_secret(engine, webhook_id)
    typer.echo(f"new secret for {webhook_id} (shown once; the old one stops working): {secret}")


@app.command()
def deliveries(
    status: Annotated[str | None, typer.Option(help="pending, delivered or dead")] = None,
    webhook: Annotated[str | None, typer.Option(help="Only this webhook id.")] = None,
    limit: int = 50,
) -> None:
    """The delivery log, newest first."""
    with engine_only() as engine:
        rows = list_deliveries(engine, status=status, webhook_id=webhook, limit=limit)
    if not rows:
        console.print(f"no {status or ''} deliveries".replace("  ", " "))
    for d in rows:
        code = d.last_status_code if d.last_status_code is not None else "-"
        console.print(
            f"{d.id}  {d.status}  {d.kind}  event {d.event_id}  webhook {d.webhook_id}  "
            f"attempts {d.attempts}  HTTP {code}"
        )
        if d.status == "pending":
            console.print(f"    next attempt {d.next_attempt_at.isoformat()}")
        if d.last_error:
            console.print(f"    last error {d.last_error}")


@app.command()
def deliver(
    watch: Annotated[bool, typer.Option(help="Keep delivering until Ctrl-C.")] = False,
    every: Annotated[float, typer.Option(help="Seconds between rounds with --watch.")] = 2.0,
) -> None:
    """Send due deliveries now (the worker does this too); safe beside other deliverers."""
    with engine_only() as engine, httpx.Client(follow_redirects=False) as client:
        try:
            while True:
                report = deliver_due(engine, client)
                if report.delivered or report.retried or report.dead or not watch:
                    console.print(
                        f"delivered {report.delivered}, retrying {report.retried}, "
                        f"dead {report.dead}"
                    )
                if not watch:
                    return
                time.sleep(every)
        except KeyboardInterrupt:
            return
