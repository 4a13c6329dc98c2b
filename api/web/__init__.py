"""Server-rendered pages (Jinja2 + htmx) for approvers, operators and auditors.

Another face of the same API: the pages call the same services under the same role
rules, with a signed session cookie (made from an API key) instead of a bearer key.
``install`` adds them to an app; nothing is opened at import.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from api.web import ap, catalog, chat, costs, inbox, runs, signin
from api.web.deps import WebState
from api.web.render import make_templates
from api.web.session import Signer
from foundation.settings import Settings

STATIC = Path(__file__).parent / "static"


def install(app: FastAPI, settings: Settings) -> None:
    app.state.tethra_web = WebState(
        signer=Signer.from_settings(settings),
        templates=make_templates(),
        session_hours=settings.session_hours,
    )
    app.mount("/web/static", StaticFiles(directory=STATIC), name="web-static")
    for module in (signin, inbox, chat, runs, catalog, ap, costs):
        app.include_router(module.router)
