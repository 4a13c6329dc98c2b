"""A real `tethra serve` on a free port with its own SQLite database, and Chromium.

The app runs in a subprocess exactly as deployed (offline model, in-process bus, demo
business data), so the browser exercises the same code paths a person would. Chromium
is Debian's (``/usr/bin/chromium``, installed by ``.ci/run``): Playwright downloads no
browser of its own.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from foundation.db import create_db_engine, migrate
from foundation.users import DEMO_USERS, create_user
from tests.databases import scratch_database
from tethra.migrations import load_all_models
from tools.seed import seed_demo_data

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path(os.environ.get("TETHRA_TEST_CHROMIUM", "/usr/bin/chromium"))


@dataclass(frozen=True)
class Server:
    base: str
    keys: dict[str, str]
    database_url: str
    log: Path

    def url(self, path: str) -> str:
        return self.base + path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(tmp: Path, url: str | None = None) -> tuple[subprocess.Popen[bytes], Server]:
    """``url``: an empty database to use (default: a new SQLite file in ``tmp``)."""
    url = url or f"sqlite:///{tmp}/tethra.db"
    engine = create_db_engine(url)
    migrate(engine)
    load_all_models().create_all(engine)
    seed_demo_data(engine)
    keys = {name: create_user(engine, name, role)[1] for name, role in DEMO_USERS}
    engine.dispose()
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TETHRA_", "OTEL_"))}
    env |= {
        "TETHRA_DATABASE_URL": url,
        "TETHRA_MODEL": "offline",
        "TETHRA_LOG_FORMAT": "json",
        "TETHRA_LOG_LEVEL": "WARNING",
        "TETHRA_SESSION_SECRET": "test-secret-" + "x" * 32,
    }
    log = tmp / "server.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "tethra.cli", "serve", "--port", str(port)],
        cwd=tmp,
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    server = Server(f"http://127.0.0.1:{port}", keys, url, log)
    for _ in range(300):
        if proc.poll() is not None:
            break
        try:
            if httpx.get(server.url("/healthz"), timeout=1).status_code == 200:
                return proc, server
        except httpx.TransportError:
            time.sleep(0.1)
    proc.kill()
    raise AssertionError("tethra serve did not come up:\n" + log.read_text()[-3000:])


@contextmanager
def own_pg_database() -> Iterator[str]:
    """A PostgreSQL database of its own (the shared test database is emptied after
    every test, which would pull the rug from under a server running a whole module)."""
    with scratch_database("tethra_web") as url:
        yield url


@contextmanager
def running(tmp: Path, url: str | None = None) -> Iterator[Server]:
    proc, srv = start_server(tmp, url)
    try:
        yield srv
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One server per test module on SQLite, the embedded default (the module's tests
    share its database, as people would)."""
    with running(tmp_path_factory.mktemp("web")) as srv:
        yield srv


@pytest.fixture(scope="module")
def pg_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The same on PostgreSQL, as deployed with several processes."""
    with own_pg_database() as url, running(tmp_path_factory.mktemp("web-pg"), url) as srv:
        yield srv


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: run .ci/run (it installs Debian's chromium)")
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        yield b
        b.close()


def signed_in(browser: Browser, server: Server, who: str) -> Page:
    """A fresh browser context (its own cookies) signed in as ``who``."""
    context = browser.new_context(base_url=server.base, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.goto("/web/sign-in")
    page.fill("input[name=api_key]", server.keys[who])
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/sign-in" not in url)
    return page
