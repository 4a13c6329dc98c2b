"""The receiver in docs/webhooks.md works as written: run it against signed requests."""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from approvals.webhooks import signing
from approvals.webhooks.service import EVENT_KINDS
from approvals.webhooks.signing import signed_headers

DOC = Path(__file__).parents[3] / "docs" / "webhooks.md"
SECRET = "whsec_docs"


def receiver_block() -> str:
    blocks: list[str] = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.DOTALL)
    [block] = [b for b in blocks if "def handle(" in b]
    return block


def test_the_documented_receiver_accepts_rejects_and_lets_retries_through(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "tethra_signing", signing)
    monkeypatch.setenv("TETHRA_WEBHOOK_SECRET", SECRET)
    processed: list[dict[str, Any]] = []
    failing = {"on": False}

    def process(payload: dict[str, Any]) -> None:
        if failing["on"]:
            raise RuntimeError("receiver's database is down")
        processed.append(payload)

    namespace: dict[str, Any] = {"process": process}
    exec(compile(receiver_block(), str(DOC), "exec"), namespace)  # noqa: S102 - our own doc
    handle = namespace["handle"]
    body = b'{"id":"outbox-1","kind":"run.resume"}'

    assert handle(signed_headers(SECRET, "outbox-1", body, time.time()), body) == 200
    assert handle(signed_headers(SECRET, "outbox-1", body, time.time()), body) == 200
    assert len(processed) == 1  # the retry was acknowledged, not processed again
    assert handle(signed_headers("whsec_wrong", "outbox-2", body, time.time()), body) == 401
    assert handle(signed_headers(SECRET, "outbox-2", body, time.time()), body + b" ") == 401

    failing["on"] = True
    assert handle(signed_headers(SECRET, "outbox-3", body, time.time()), body) == 500
    failing["on"] = False
    assert handle(signed_headers(SECRET, "outbox-3", body, time.time()), body) == 200
    assert len(processed) == 2


def test_the_doc_lists_every_event_kind() -> None:
    text = DOC.read_text()
    assert all(f"`{kind}`" in text for kind in EVENT_KINDS)
