"""Golden invoice cases through the accounts-payable workflow (``graph.invoices``).

A case's ``invoice:`` is either a document as the workflow accepts it (JSON fields),
or ``{generate: {kind: <exception kind>, seed: N}}``: the invoice generator writes the
ERP side (supplier, purchase order, receipts) into the case's database and seeds exactly
that exception, so each exception kind has a case without hand-written ERP fixtures.
"""

from __future__ import annotations

from typing import Any

from evals.runner import InvoiceResult
from foundation.db import session_scope
from foundation.errors import ConfigError
from graph.invoices.workflow import InvoiceWorkflow
from graph.runtime import Runtime
from tools.erp.invoice_gen import KINDS, generate


def _document(rt: Runtime, invoice: dict[str, Any]) -> tuple[dict[str, Any], str]:
    spec = invoice.get("generate")
    if spec is None:
        return invoice, str(invoice.get("invoice_number", "(golden case)"))
    if not isinstance(spec, dict):
        raise ConfigError("invoice.generate must be a mapping: {kind: <exception kind>, seed: N}")
    kind, seed = spec.get("kind"), spec.get("seed", 0)
    if kind is not None and kind not in KINDS:
        raise ConfigError(f"invoice.generate.kind {kind!r} is not one of {', '.join(KINDS)}")
    if not isinstance(seed, int):
        raise ConfigError("invoice.generate.seed must be an integer")
    with session_scope(rt.gov.engine) as session:
        [made] = generate(
            session,
            1,
            seed=seed,
            exception_share=1.0 if kind else 0.0,
            kinds=(kind,) if kind else KINDS,
        )
    return made.invoice, made.name


def process_invoice(rt: Runtime, invoice: dict[str, Any], requester: str) -> InvoiceResult:
    workflow = InvoiceWorkflow(rt)
    rt.bus.subscribe(workflow.handle)
    document, name = _document(rt, invoice)
    outcome = workflow.process(document, fmt="json", requester=requester, name=name)
    thread_id = rt.run(outcome.run_id).thread_id
    return InvoiceResult(outcome.status, tuple(outcome.reasons), thread_id)
