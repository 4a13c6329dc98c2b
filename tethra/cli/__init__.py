"""The ``tethra`` command: chat, approvals, audit, policy, users, setup.

Every command opens its resources here, at the entry point, and closes them on exit.
``UserError`` messages are printed plainly with exit code 2; nothing else is caught.
"""

from __future__ import annotations

import sys

import typer

from foundation.errors import UserError
from tethra.cli import admin, approvals, audit, chat, config, policy, processes, webhooks
from tethra.cli import costs as costs_cli
from tethra.cli import evals as evals_cli
from tethra.cli import invoices as invoices_cli
from tethra.cli import tools as tools_cli

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)
app.add_typer(approvals.app, name="approvals", help="List and decide approval requests.")
app.add_typer(audit.app, name="audit", help="Read and verify the audit trail.")
app.add_typer(policy.app, name="policy", help="Ask the policy about a hypothetical call.")
app.add_typer(
    tools_cli.app, name="tools", help="Tools: list, show; register, enable, disable (admins)."
)
app.add_typer(admin.users_app, name="users", help="Manage users and API keys.")
app.add_typer(webhooks.app, name="webhooks", help="Webhook notifications and their delivery log.")
app.add_typer(config.app, name="config", help="Generate docs/configuration.md.")
app.command("init")(admin.init)
app.command("chat")(chat.chat)
app.command("serve")(processes.serve)
app.command("worker")(processes.worker)
app.add_typer(
    evals_cli.app, name="eval", help="Run the golden cases; `eval promote` sets the baseline."
)
app.command("costs")(costs_cli.costs)
app.add_typer(
    invoices_cli.app, name="invoices", help="Accounts payable: invoices, holds, spot checks."
)


def main() -> None:
    try:
        app()
    except UserError as exc:
        typer.secho(f"error: {exc}", fg="red", err=True)
        sys.exit(2)
