"""Many invoices at once, and the entry point other parts call for one.

``process_invoice`` is the small, stable API golden cases and scripts use: give it a
workflow (or a runtime) and an invoice, get an ``InvoiceOutcome`` back. ``process_batch``
feeds a folder's worth through one workflow and sums up what a finance team wants to
know: what filed itself, what is held and why, how much money waits on a person, and
how many hours of hand-checking that saved.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from approvals.bus import Handler
from foundation.errors import InvalidInput
from foundation.settings import Settings
from graph.assembly import default_models
from graph.invoices.ingest import Format, detect_format
from graph.invoices.workflow import InvoiceOutcome, InvoiceWorkflow
from graph.runtime import Runtime
from policies.checks.schema import load_checks
from policies.matching.tolerances import Tolerances
from tools.erp.intake import InvoiceDoc

MINUTES_BY_HAND = 6
"""What one invoice takes a person: open it, match it to the PO, check totals, file."""


def workflow_from_settings(runtime: Runtime, settings: Settings) -> InvoiceWorkflow:
    """The workflow as configured: finance's tolerance and check files, the spot-check
    share, and the finance agent's model to read free-text invoices."""
    finance = runtime.agents.get("finance")
    workflow = InvoiceWorkflow(
        runtime,
        checks=load_checks(settings.invoice_checks_file),
        tolerances=Tolerances.from_file(settings.tolerances_file),
        spot_check_share=settings.spot_check_share,
        reader=default_models(settings)(finance) if finance is not None else None,
    )
    runtime.register(workflow)  # its events handled, its runs recovered, with chat's
    return workflow


def worker_handler(runtime: Runtime, workflow: InvoiceWorkflow) -> Handler:
    """What a worker does with each bus event: the chat runtime's handling (an approved
    call is settled and its chat run resumed), then the invoice workflow's (an approved
    or expired filing call, a filing result recorded elsewhere, or a resume asked for by
    recovery continues its invoice run): the workflow registers with the runtime, which
    hands each event on to it and recovers its runs with the chat runs."""
    runtime.register(workflow)
    return runtime.handle


def process_invoice(
    target: InvoiceWorkflow | Runtime,
    invoice: InvoiceDoc | dict[str, Any] | str,
    *,
    requester: str = "ap-batch",
    fmt: Format = "json",
    name: str = "",
) -> InvoiceOutcome:
    """One invoice through the workflow -> ``InvoiceOutcome(status: filed|held|..., reasons)``.

    ``invoice``: a typed ``InvoiceDoc``, a dict of its fields (as a supplier sent them;
    nothing is validated before the checks), or a document's text in ``fmt``."""
    workflow = target if isinstance(target, InvoiceWorkflow) else InvoiceWorkflow(target)
    document = invoice.model_dump(mode="json") if isinstance(invoice, InvoiceDoc) else invoice
    return workflow.process(document, fmt=fmt, requester=requester, name=name)


@dataclass
class BatchSummary:
    outcomes: list[InvoiceOutcome] = field(default_factory=list)

    @property
    def filed(self) -> int:
        return sum(1 for o in self.outcomes if o.status == "filed")

    @property
    def held(self) -> int:
        return sum(1 for o in self.outcomes if o.status == "held")

    @property
    def held_by_reason(self) -> dict[str, int]:
        counts: Counter[str] = Counter(
            r for o in self.outcomes if o.status == "held" for r in o.reasons
        )
        return dict(counts.most_common())

    @property
    def at_stake(self) -> dict[str, Decimal]:
        """Money waiting on a person, per currency (an unreadable currency shows as '?')."""
        sums: dict[str, Decimal] = {}
        for o in self.outcomes:
            if o.status == "held":
                key = o.currency or "?"
                sums[key] = sums.get(key, Decimal("0.00")) + o.amount_at_stake
        return sums

    @property
    def other(self) -> dict[str, int]:
        return dict(Counter(o.status for o in self.outcomes if o.status not in ("filed", "held")))

    @property
    def hours_saved(self) -> float:
        return round(self.filed * MINUTES_BY_HAND / 60, 1)


Document = tuple[str, str, Format]
"""(name, content, format)."""


def read_folder(folder: Path) -> list[Document]:
    """Every invoice file in ``folder`` (not recursive), by name; InvalidInput if none."""
    if not folder.is_dir():
        raise InvalidInput(f"{folder} is not a folder")
    docs: list[Document] = []
    for path in sorted(p for p in folder.iterdir() if p.is_file()):
        try:
            fmt = detect_format(path.name)
        except InvalidInput:
            continue
        docs.append((path.name, path.read_text(encoding="utf-8", errors="replace"), fmt))
    if not docs:
        raise InvalidInput(f"{folder} has no invoice files (.json, .csv or .txt)")
    return docs


def process_batch(
    workflow: InvoiceWorkflow,
    documents: Iterable[Document],
    *,
    requester: str,
    progress: Callable[[InvoiceOutcome], None] | None = None,
) -> BatchSummary:
    """Each document through the workflow in order; one that cannot be read at all
    (not JSON, an empty CSV) ends ``failed`` with the reason, and the batch goes on."""
    summary = BatchSummary()
    for name, content, fmt in documents:
        outcome = workflow.process(content, fmt=fmt, requester=requester, name=name)
        summary.outcomes.append(outcome)
        if progress:
            progress(outcome)
    return summary
