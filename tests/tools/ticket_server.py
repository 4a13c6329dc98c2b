"""A local HTTP server for the adapter tests: a ticket system with an OpenAPI document.

It records every request (method, path, query, body, Idempotency-Key, Authorization) so
a test can assert what reached the system and how often.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

OPENAPI: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "tickets", "version": "1"},
    "paths": {
        "/tickets/{ticket_id}": {
            "parameters": [
                {"name": "ticket_id", "in": "path", "required": True, "schema": {"type": "integer"}}
            ],
            "get": {
                "operationId": "getTicket",
                "summary": "Read a ticket.",
                "parameters": [{"name": "verbose", "in": "query", "schema": {"type": "boolean"}}],
            },
        },
        "/tickets": {
            "post": {
                "operationId": "createTicket",
                "summary": "Open a ticket.",
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/NewTicket"}}
                    },
                },
            }
        },
        "/flaky": {"get": {"operationId": "flaky", "summary": "Fails twice, then answers."}},
        "/broken": {"post": {"operationId": "broken", "summary": "Always fails."}},
    },
    "components": {
        "schemas": {
            "NewTicket": {
                "type": "object",
                "properties": {
                    "title": {"type": "string", "minLength": 3},
                    "priority": {"type": "string", "enum": ["low", "high"]},
                },
                "required": ["title"],
            }
        }
    },
}


@dataclass
class Seen:
    requests: list[dict[str, Any]] = field(default_factory=list)

    def of(self, method: str, path_start: str) -> list[dict[str, Any]]:
        return [
            r for r in self.requests if r["method"] == method and r["path"].startswith(path_start)
        ]


@contextmanager
def ticket_server() -> Iterator[tuple[str, Seen]]:
    """Serve on a free local port; yields the base URL and what it has seen."""
    seen = Seen()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _record(self) -> dict[str, Any]:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            entry = {
                "method": self.command,
                "path": parts.path,
                "query": parse_qs(parts.query),
                "body": json.loads(raw) if raw else None,
                "idempotency_key": self.headers.get("Idempotency-Key"),
                "authorization": self.headers.get("Authorization"),
            }
            seen.requests.append(entry)
            return entry

        def _send(self, status: int, body: Any) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            if self.path == "/openapi.json":
                self._send(200, OPENAPI)
                return
            entry = self._record()
            if entry["path"] == "/flaky":
                tries = len(seen.of("GET", "/flaky"))
                self._send(503 if tries < 3 else 200, {"tries": tries})
                return
            ticket = entry["path"].rsplit("/", 1)[-1]
            self._send(200, {"id": int(ticket), "title": "printer on fire", "status": "open"})

        def do_POST(self) -> None:
            entry = self._record()
            if entry["path"] == "/broken":
                self._send(503, {"error": "down"})
                return
            self._send(201, {"id": 77, **(entry["body"] or {})})

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
