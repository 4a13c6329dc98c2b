"""``tethra tools``: register from a file or a module, review, enable, disable."""

from __future__ import annotations

from pathlib import Path

import yaml

from tests.cli_demo import demo_db, runner, tethra
from tests.tools.ticket_server import ticket_server
from tethra.cli import app

__all__ = ["demo_db"]


def test_register_review_enable_and_disable_from_the_command_line(
    demo_db: str, tmp_path: Path
) -> None:
    with ticket_server() as (base_url, _):
        source = tmp_path / "close-ticket.yaml"
        source.write_text(
            yaml.safe_dump(
                {
                    "kind": "http",
                    "name": "close_ticket",
                    "description": "Close a ticket.",
                    "method": "POST",
                    "url": base_url + "/tickets/{ticket_id}/close",
                    "args": {
                        "type": "object",
                        "properties": {"ticket_id": {"type": "integer"}},
                        "required": ["ticket_id"],
                    },
                    "system": "tickets",
                    "owner": "support-platform",
                }
            )
        )
        refused = tethra("tools", "add", str(source), "--as", "olivia")
        assert refused.exit_code != 0
        assert "only an admin" in str(refused.exception)

        added = tethra("tools", "add", str(source), "--as", "root")
        assert added.exit_code == 0, added.output
        assert "registered close_ticket (disabled)" in added.output
        assert "effect write (inferred)" in added.output

        listed = tethra("tools", "list")
        assert listed.exit_code == 0, listed.output
        line = next(x for x in listed.output.splitlines() if x.startswith("close_ticket"))
        assert "DISABLED" in line
        assert "otherwise review" in line

        declined = runner.invoke(
            app, ["tools", "enable", "close_ticket", "--as", "root"], input="n\n"
        )
        assert declined.exit_code == 1
        assert "otherwise default-review: review" in declined.output  # shown before asking
        assert "DISABLED" in tethra("tools", "show", "close_ticket").output

        enabled = tethra("tools", "enable", "close_ticket", "--as", "root", "--yes")
        assert enabled.exit_code == 0
        assert "enabled close_ticket" in enabled.output
        assert "http, enabled" in tethra("tools", "show", "close_ticket").output

        assert tethra("tools", "disable", "close_ticket", "--as", "root").exit_code == 0
        assert "DISABLED" in tethra("tools", "show", "close_ticket").output

    bad = tethra("tools", "add", "--module", "tools.examples.nothing_here", "--as", "root")
    assert bad.exit_code != 0
    assert "cannot import" in str(bad.exception)
    module = tethra("tools", "add", "--module", "tools.examples.parcels:TOOLS", "--as", "root")
    assert module.exit_code == 0
    assert "registered track_parcel" in module.output
