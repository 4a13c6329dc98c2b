"""A thin test client: requests as a named user, run polling and SSE reading.

SSE streams are read with a bounded ``timeout`` query parameter as well as a stop
condition, so a missing event fails the test instead of hanging it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx2
from fastapi.testclient import TestClient

from graph.runtime import Runtime

USERS = (
    ("olivia", "operator"),
    ("oscar", "operator"),
    ("adam", "approver"),
    ("erin", "approver"),
    ("aria", "auditor"),
    ("root", "admin"),
)


@dataclass(frozen=True)
class SseEvent:
    id: str | None
    event: str | None
    data: dict[str, Any]


@dataclass
class Api:
    client: TestClient
    rt: Runtime
    keys: dict[str, str]

    def auth(self, who: str | None) -> dict[str, str]:
        return {} if who is None else {"Authorization": f"Bearer {self.keys[who]}"}

    def call(
        self,
        method: str,
        path: str,
        who: str | None,
        *,
        headers: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> httpx2.Response:
        return self.client.request(
            method, path, headers={**self.auth(who), **(headers or {})}, **kwargs
        )

    def get(self, path: str, who: str | None, **kwargs: Any) -> httpx2.Response:
        return self.call("GET", path, who, **kwargs)

    def post(self, path: str, who: str | None, **kwargs: Any) -> httpx2.Response:
        return self.call("POST", path, who, **kwargs)

    def new_thread(self, who: str = "olivia") -> str:
        response = self.post("/threads", who)
        assert response.status_code == 201, response.text
        thread_id: str = response.json()["thread_id"]
        return thread_id

    def send(self, thread: str, text: str, who: str = "olivia") -> dict[str, Any]:
        response = self.post(f"/threads/{thread}/messages", who, json={"text": text})
        assert response.status_code == 202, response.text
        body: dict[str, Any] = response.json()
        return body

    def wait_run(self, run_id: str, who: str = "aria", timeout: float = 15.0) -> dict[str, Any]:
        """Poll until the run stops running (background driving is asynchronous)."""
        deadline = time.monotonic() + timeout
        while True:
            response = self.get(f"/runs/{run_id}", who)
            assert response.status_code == 200, response.text
            run: dict[str, Any] = response.json()
            if run["status"] not in ("queued", "running", "stalled") or time.monotonic() > deadline:
                return run
            time.sleep(0.02)

    def events(
        self, url: str, who: str, *, stop: str | None = None, headers: dict[str, str] | None = None
    ) -> list[SseEvent]:
        """Read events until one of kind ``stop`` (then disconnect) or the stream ends."""
        out: list[SseEvent] = []
        with self.client.stream("GET", url, headers={**self.auth(who), **(headers or {})}) as r:
            assert r.status_code == 200, r.read()
            assert r.headers["content-type"].startswith("text/event-stream")
            for event in parse_sse(r.iter_lines()):
                out.append(event)
                if event.event == stop:
                    break
        return out


def parse_sse(lines: Iterator[str]) -> Iterator[SseEvent]:
    fields: dict[str, str] = {}
    for line in lines:
        if line == "":
            if "data" in fields:
                yield SseEvent(fields.get("id"), fields.get("event"), json.loads(fields["data"]))
            fields = {}
        elif not line.startswith(":"):
            name, _, value = line.partition(":")
            fields[name] = value.removeprefix(" ")
