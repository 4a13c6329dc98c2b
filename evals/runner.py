"""Run golden cases against the configured model, prompts and policy.

Every case run gets its own copy of one seeded SQLite database (demo data anchored at a
fixed date, demo users), the real tool registry, the policy and agents under test, and
an in-process bus, so cases are independent and a run is reproducible. The model is
the configured one (``live``), the configured one with its answers stored (``record``),
or only those stored answers (``replay``: no network, no key).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from langchain_core.language_models import BaseChatModel
from sqlalchemy.engine import Engine
from sqlmodel import Session

from agents.models.factory import make_chat_model, model_id
from agents.models.recording import Cassette, RecordingChatModel
from agents.spec import AgentDefinition, load_agents
from approvals.bus import InProcessBus
from approvals.service import list_requests
from audit.prices import PriceTable
from evals.checks import Failure, check
from evals.grading import grade
from evals.observe import Observation, observe
from evals.report import CaseResult, FailureOut, SuiteReport
from evals.schema import Case, load_cases
from foundation.db import create_db_engine, migrate, utcnow
from foundation.errors import ConfigError
from foundation.ids import new_id
from foundation.settings import Settings
from foundation.users import DEMO_USERS, create_user
from graph.agent_node import ModelProvider
from graph.assembly import assemble, metering_from
from graph.checkpointer import open_checkpointer
from graph.runtime import Runtime
from policies.engine import PolicyEngine
from tools.catalog import default_registry
from tools.seed import seed_demo_data

Mode = Literal["live", "record", "replay"]
RECORDINGS_DIR = Path(__file__).parent / "recordings"
DEMO_NOW = datetime(2026, 1, 15, 9, 0, tzinfo=UTC)
"""Demo data is anchored here so dates in tool results never change between runs."""


@dataclass(frozen=True)
class InvoiceResult:
    outcome: str
    """filed | held | rejected | failed | waiting"""
    reasons: tuple[str, ...] = ()
    thread_id: str | None = None
    """The invoice run's thread, so its tool calls are checked like a chat's."""


InvoiceProcessor = Callable[[Runtime, dict[str, Any], str], InvoiceResult]
"""(runtime, invoice input, requester) -> what the invoice workflow did."""


@dataclass(frozen=True)
class EvalConfig:
    settings: Settings
    cases_dir: Path | None = None
    agents_dir: Path | None = None
    policy_file: Path | None = None
    """Default: the settings' policy file (itself defaulting to the bundled one)."""
    recordings_dir: Path = RECORDINGS_DIR
    mode: Mode = "live"
    repeat: int = 1
    only: tuple[str, ...] = ()
    grader: BaseChatModel | None = None
    models: ModelProvider | None = None
    """Live models per agent; default ``make_chat_model(spec.model or TETHRA_MODEL)``."""
    invoice_processor: InvoiceProcessor | None = None


class _Suite:
    def __init__(self, config: EvalConfig, workdir: Path) -> None:
        if config.repeat < 1:
            raise ConfigError("--repeat must be at least 1")
        self.config = config
        self.workdir = workdir
        self.agents = load_agents(config.agents_dir)
        self.policy_path = config.policy_file or config.settings.policy_file
        self.policy = PolicyEngine.from_file(self.policy_path)
        self.metering = metering_from(config.settings)
        self.model = self._configured_model_id()
        self.template = workdir / "template.db"
        self._runs = 0

    def _configured_model_id(self) -> str:
        if self.config.mode == "replay":  # no provider is created: no key, no network
            spec = self.config.settings.model.strip()
            return "offline" if spec.lower() == "offline" else spec
        return model_id(self._live(next(iter(self.agents.values()))))

    def _live(self, definition: AgentDefinition) -> BaseChatModel:
        if self.config.models is not None:
            return self.config.models(definition)
        return make_chat_model(definition.spec.model or self.config.settings.model)

    # --- databases ------------------------------------------------------------------
    def prepare(self) -> None:
        engine = create_db_engine(f"sqlite:///{self.template}")
        try:
            migrate(engine)
            seed_demo_data(engine, now=DEMO_NOW)
            for name, role in DEMO_USERS:
                create_user(engine, name, role)
        finally:
            engine.dispose()

    @contextmanager
    def runtime(self, provider: ModelProvider) -> Iterator[Runtime]:
        self._runs += 1
        db = self.workdir / f"case-{self._runs}.db"
        shutil.copyfile(self.template, db)
        url = f"sqlite:///{db}"
        settings = Settings(database_url=url, checkpoint_path=db.with_suffix(".checkpoints"))
        engine: Engine = create_db_engine(url)
        try:
            with open_checkpointer(settings) as saver:
                yield assemble(
                    engine=engine,
                    registry=default_registry(),
                    policy=self.policy,
                    agents=self.agents,
                    models=provider,
                    entry_agent="ops",
                    checkpointer=saver,
                    bus=InProcessBus(),
                    metering=self.metering,
                )
        finally:
            engine.dispose()
            for path in self.workdir.glob(f"case-{self._runs}.*"):
                path.unlink(missing_ok=True)

    # --- recordings -----------------------------------------------------------------
    def cassette_path(self, case: Case) -> Path:
        return self.config.recordings_dir / f"{case.id}.json"

    def stale(self, case: Case) -> str | None:
        """Why the case's recording cannot be replayed, or None if it can."""
        path = self.cassette_path(case)
        if not path.exists():
            return f"needs re-recording: no recording at {path}"
        cassette = Cassette.model_validate_json(path.read_text(encoding="utf-8"))
        if cassette.model != self.model:
            return f"needs re-recording: recorded with {cassette.model}, configured {self.model}"
        changed = [
            f"{name} {cassette.prompt_versions.get(name, '(none)')} -> {a.prompt_version}"
            for name, a in sorted(self.agents.items())
            if cassette.prompt_versions.get(name) != a.prompt_version
        ]
        if changed:
            return "needs re-recording: prompt changed since recording (" + "; ".join(changed) + ")"
        tools = self._agent_tools()
        retooled = [
            f"{name} {' '.join(_delta(cassette.agent_tools.get(name, []), now))}"
            for name, now in sorted(tools.items())
            if sorted(cassette.agent_tools.get(name, [])) != sorted(now)
        ]
        if retooled:
            return "needs re-recording: tools changed since recording (" + "; ".join(retooled) + ")"
        return None

    def _agent_tools(self) -> dict[str, list[str]]:
        return {
            name: sorted([*a.spec.tools, *(f"transfer_to_{h}" for h in a.spec.handoffs)])
            for name, a in self.agents.items()
        }

    def provider(self, case: Case) -> tuple[ModelProvider, Cassette | None]:
        mode = self.config.mode
        if mode == "live":
            return self._live, None
        if mode == "replay":
            path = self.cassette_path(case)
            cassette = Cassette.model_validate_json(path.read_text(encoding="utf-8"))
        else:
            versions = {name: a.prompt_version for name, a in self.agents.items()}
            cassette = Cassette(
                model=self.model, prompt_versions=versions, agent_tools=self._agent_tools()
            )
        models: dict[str, BaseChatModel] = {}

        def provide(definition: AgentDefinition) -> BaseChatModel:
            if definition.name not in models:
                inner = self._live(definition) if mode == "record" else None
                models[definition.name] = RecordingChatModel(
                    cassette=cassette,
                    mode=mode,
                    inner=inner,
                    tethra_model_id=model_id(inner) if inner is not None else self.model,
                )
            return models[definition.name]

        return provide, cassette

    # --- one case -------------------------------------------------------------------
    def run_once(self, case: Case, provider: ModelProvider) -> tuple[Observation, list[Failure]]:
        with self.runtime(provider) as rt:
            thread = new_id("eval")
            if case.input.invoice is not None:
                seen = self._invoice(rt, case)
            else:
                for text in case.input.chat:
                    rt.start_run(thread, case.requester, text)
                if case.decide is not None:
                    self._decide(rt, thread, case)
                seen = observe(rt.gov.engine, thread)
        return seen, check(case, seen)

    def _invoice(self, rt: Runtime, case: Case) -> Observation:
        if self.config.invoice_processor is None:
            raise ConfigError(
                "this case needs the invoice workflow, and no invoice entry point is available"
            )
        invoice = dict(case.input.invoice or {})
        result = self.config.invoice_processor(rt, invoice, case.requester)
        seen = observe(rt.gov.engine, result.thread_id) if result.thread_id else Observation()
        seen.invoice_outcome, seen.held = result.outcome, result.reasons
        return seen

    def _decide(self, rt: Runtime, thread: str, case: Case) -> None:
        for _ in range(10):  # a decision may lead to another approval
            with Session(rt.gov.engine) as session:
                pending = [
                    r for r in list_requests(session, status="pending") if r.thread_id == thread
                ]
            if not pending:
                return
            for request in pending:
                rt.decide(
                    request.id,
                    approver=case.approver,
                    action="approve" if case.decide == "approve" else "deny",
                    comment="golden case",
                )

    def run_case(self, case: Case) -> CaseResult:
        result = CaseResult(
            id=case.id, description=case.description, status="pass", runs=0, passes=0
        )
        if self.config.mode == "replay":
            why = self.stale(case)
            if why is not None:
                return result.model_copy(update={"status": "needs-rerecording", "message": why})
        seen: Observation | None = None
        for _ in range(self.config.repeat):
            provider, cassette = self.provider(case)
            try:
                seen, failures = self.run_once(case, provider)
            except ConfigError as exc:
                return result.model_copy(update={"status": "error", "message": str(exc)})
            if cassette is not None and self.config.mode == "record":
                self.config.recordings_dir.mkdir(parents=True, exist_ok=True)
                self.cassette_path(case).write_text(cassette.model_dump_json(indent=1) + "\n")
            result.runs += 1
            rerecord = [e for e in seen.run_errors if "needs re-recording" in e]
            if rerecord:
                result.status, result.message = "needs-rerecording", rerecord[0]
            elif failures:
                if result.status == "pass":
                    result.status = "fail"
                    result.failures = [FailureOut(**f.__dict__) for f in failures]
            else:
                result.passes += 1
            result.outcome, result.answer = seen.outcome, seen.answer
        if case.grade and self.config.grader is not None and seen is not None:
            request = " / ".join(case.input.chat) or "process this invoice"
            result.advisory = grade(self.config.grader, case.grade, request, seen.answer)
        return result


def _delta(before: list[str], after: list[str]) -> list[str]:
    return [f"+{t}" for t in sorted(set(after) - set(before))] + [
        f"-{t}" for t in sorted(set(before) - set(after))
    ]


def run_suite(config: EvalConfig, workdir: Path) -> SuiteReport:
    """Run the selected cases (all by default) and return the tagged report."""
    started = utcnow()
    cases = load_cases(config.cases_dir)
    if config.only:
        unknown = sorted(set(config.only) - {c.id for c in cases})
        if unknown:
            raise ConfigError(f"no golden case named {', '.join(unknown)}")
        cases = [c for c in cases if c.id in config.only]
    workdir.mkdir(parents=True, exist_ok=True)
    suite = _Suite(config, workdir)
    suite.prepare()
    results = [suite.run_case(case) for case in cases]
    prices: PriceTable | None = suite.metering.prices
    return SuiteReport(
        started_at=started,
        model=suite.model,
        mode=config.mode,
        prompt_versions={name: a.prompt_version for name, a in suite.agents.items()},
        policy_version=suite.policy.version,
        prices_version=prices.version if prices is not None else "-",
        repeat=config.repeat,
        cases=results,
    )
