"""The accounts-payable workflow on the real finance agent, ERP tools and shipped policy.

``open_ap`` yields an ``InvoiceWorkflow`` on the test database (SQLite or PostgreSQL)
with the people of the graph harness; ``clean_invoice`` makes one generated invoice
that passes every check, for tests that then break one thing on purpose.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from langchain_core.language_models import BaseChatModel
from sqlalchemy.engine import Engine

from agents.models.factory import make_chat_model
from agents.spec import load_agents
from approvals.bus import Bus, InProcessBus
from foundation.db import session_scope
from foundation.settings import Settings
from graph.assembly import assemble
from graph.checkpointer import open_checkpointer
from graph.invoices.workflow import InvoiceWorkflow
from policies.engine import PolicyEngine
from policies.matching.tolerances import Tolerances
from tests.graph.harness import people
from tools.catalog import default_registry
from tools.erp.invoice_gen import GeneratedInvoice, generate


@contextmanager
def open_ap(
    engine: Engine,
    tmp: Path,
    *,
    tolerances: Tolerances | None = None,
    share: float = 0.05,
    reader: BaseChatModel | None = None,
    policy: PolicyEngine | None = None,
    with_people: bool = True,
    bus: Bus | None = None,
) -> Iterator[InvoiceWorkflow]:
    """The workflow on the bundled agents; with ``bus`` (Redis) nothing handles events
    until the test consumes them, as a worker would."""
    if with_people:
        people(engine)
    url = engine.url.render_as_string(hide_password=False)
    settings = Settings(database_url=url, checkpoint_path=tmp / "checkpoints.sqlite")
    in_process = InProcessBus()
    with open_checkpointer(settings) as saver:
        rt = assemble(
            engine=engine,
            registry=default_registry(),
            policy=policy or PolicyEngine.from_file(None),
            agents=load_agents(),
            models=lambda _: make_chat_model("offline"),
            checkpointer=saver,
            bus=bus if bus is not None else in_process,
        )
        workflow = InvoiceWorkflow(rt, tolerances=tolerances, spot_check_share=share, reader=reader)
        if bus is None:
            in_process.subscribe(workflow.handle)
        yield workflow


def invoices(engine: Engine, n: int, *, seed: int, share: float = 0.0) -> list[GeneratedInvoice]:
    with session_scope(engine) as session:
        return generate(session, n, seed=seed, exception_share=share)


def clean_invoice(engine: Engine, seed: int) -> dict[str, Any]:
    """A generated invoice with no exception (its PO and receipts are in the ERP)."""
    return invoices(engine, 1, seed=seed)[0].invoice
