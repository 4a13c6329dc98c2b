"""``tethra config``: the configuration reference, generated from the settings class."""

from __future__ import annotations

from typing import Annotated

import typer

from foundation import config_reference
from foundation.errors import ConfigError

app = typer.Typer(no_args_is_help=True, add_completion=False)


@app.command("reference")
def reference(
    write: Annotated[
        bool, typer.Option("--write", help="Write docs/configuration.md instead of printing.")
    ] = False,
    check: Annotated[
        bool, typer.Option("--check", help="Fail (exit 2) if docs/configuration.md is stale.")
    ] = False,
) -> None:
    """Every TETHRA_* (and OTEL_*) variable with its type, default and meaning."""
    text = config_reference.render()
    missing = config_reference.undocumented()
    if missing:
        raise ConfigError(f"settings without a description: {', '.join(missing)}")
    path = config_reference.DOC_PATH
    if check:
        current = path.read_text(encoding="utf-8") if path.exists() else ""
        if current != text:
            raise ConfigError(f"{path} is stale: run `tethra config reference --write`")
        typer.echo(f"{path} is up to date")
    elif write:
        path.write_text(text, encoding="utf-8")
        typer.echo(f"wrote {path}")
    else:
        typer.echo(text, nl=False)
