"""One agent's model call: checked against the cost caps first, then priced and audited.

Before the call, the projected spend (spent so far + an estimate of this call) is
checked against every cap that applies (the run, the agent's day, the workflow's day):
warnings at 85% and 95% are recorded and announced once, and a call that would exceed
a cap is not made (``BudgetExceeded``: the run stops). After it, every underlying
attempt the model made — retries and failures included, seen through a callback —
gets a ``model_call`` audit event and a cost-ledger row in one transaction.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import AIMessage, AnyMessage, BaseMessage
from langchain_core.outputs import LLMResult
from langchain_core.runnables import Runnable, RunnableConfig
from langchain_core.runnables.config import merge_configs
from sqlalchemy.engine import Engine
from sqlmodel import Session

from agents.models.common import estimate_tokens, message_chars
from agents.spec import AgentDefinition
from approvals import outbox
from approvals.events import BudgetExceeded as BudgetExceededEvent
from approvals.events import BudgetWarning
from audit import costs
from audit.prices import PriceTable, TokenUsage, to_pico, usd_text
from audit.trail import Event, record_many
from foundation.db import session_scope, utcnow
from graph import runs
from policies.budgets import (
    BudgetExceeded,
    Caps,
    Crossing,
    PriceUnknown,
    Scope,
    check,
    claim_alert,
)

DEFAULT_WORKFLOW = "chat"
MIN_OUTPUT_ESTIMATE = 100
"""Output tokens assumed for the next call when the run has produced fewer so far."""


@dataclass(frozen=True)
class Metering:
    """Prices and caps, assembled once at the entry point. Without a price table every
    call is recorded with an unknown cost (and no cap can be enforced)."""

    prices: PriceTable | None = None
    caps: Caps = field(default_factory=Caps)


@dataclass(frozen=True)
class Attempt:
    ok: bool
    usage: TokenUsage
    latency_ms: float
    error: str | None = None


class AttemptCollector(BaseCallbackHandler):
    """Every chat-model attempt within one invoke, retries included, in order."""

    def __init__(self) -> None:
        self.attempts: list[Attempt] = []
        self._started: dict[UUID, float] = {}

    def on_chat_model_start(
        self,
        serialized: dict[str, Any],
        messages: list[list[BaseMessage]],
        *,
        run_id: UUID,
        **kwargs: Any,
    ) -> None:
        self._started[run_id] = time.perf_counter()

    def _latency(self, run_id: UUID) -> float:
        began = self._started.pop(run_id, time.perf_counter())
        return round((time.perf_counter() - began) * 1000, 3)

    def on_llm_end(self, response: LLMResult, *, run_id: UUID, **kwargs: Any) -> None:
        usage = TokenUsage()
        for generations in response.generations:
            for generation in generations:
                message = getattr(generation, "message", None)
                if isinstance(message, AIMessage):
                    usage = TokenUsage.of(message.usage_metadata)
        self.attempts.append(Attempt(True, usage, self._latency(run_id)))

    def on_llm_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        # Providers that bill a failed call say so on the error (or its response).
        reported = getattr(error, "usage_metadata", None) or getattr(
            getattr(error, "response", None), "usage_metadata", None
        )
        usage = TokenUsage.of(reported if isinstance(reported, dict) else None)
        text = f"{type(error).__name__}: {error}"[:500]
        self.attempts.append(Attempt(False, usage, self._latency(run_id), text))


class ModelCaller:
    def __init__(
        self, definition: AgentDefinition, model_id: str, engine: Engine, metering: Metering
    ) -> None:
        self.definition = definition
        self.model_id = model_id
        self.engine = engine
        self.metering = metering

    # --- before ---------------------------------------------------------------------
    def check_budget(
        self, messages: Sequence[BaseMessage], run_id: str, thread_id: str, workflow: str
    ) -> None:
        """Record warnings; raise ``BudgetExceeded``/``PriceUnknown`` if the call must not
        be made. Events commit before the raise, so the trail says why the run stopped."""
        agent = self.definition.spec
        day = utcnow().date().isoformat()
        daily = None if agent.budget_usd is None else to_pico(agent.budget_usd)
        caps = self.metering.caps.applying(
            run_id=run_id, agent=agent.name, agent_daily_pusd=daily, workflow=workflow, day=day
        )
        if not caps:
            return
        prices = self.metering.prices
        price = prices.price(self.model_id) if prices is not None else None
        if price is None:
            where = prices.source if prices is not None else "the price table"
            raise PriceUnknown(
                f"model {self.model_id!r} has no price in {where}, and {caps[0].describe()} "
                "applies, so the call was refused (an unpriced call is never counted as "
                "free). Add the model to the price table (TETHRA_PRICES_FILE)."
            )
        with session_scope(self.engine) as session:
            spent = costs.spent(
                session, run_id=run_id, agent=agent.name, workflow=workflow, day=day
            )
            guess = TokenUsage(
                input_tokens=estimate_tokens(sum(message_chars(m) for m in messages)),
                output_tokens=max(spent.largest_output, MIN_OUTPUT_ESTIMATE),
            )
            by_scope: dict[Scope, int] = {
                "run": spent.run,
                "agent": spent.agent_today,
                "workflow": spent.workflow_today,
            }
            verdict = check(caps, by_scope, guess.cost(price))
            events: list[Event] = []
            for crossing in verdict.warnings:
                if claim_alert(session, crossing, run_id):
                    self._announce(session, events, crossing, run_id, thread_id)
            if verdict.stop is not None:
                self._announce(session, events, verdict.stop, run_id, thread_id)
            record_many(session, events)
        if verdict.stop is not None:
            raise BudgetExceeded(_stop_reason(verdict.stop))

    def _announce(
        self,
        session: Session,
        events: list[Event],
        crossing: Crossing,
        run_id: str,
        thread_id: str,
    ) -> None:
        cap = crossing.cap
        data: dict[str, Any] = {
            "scope": cap.scope,
            "subject": cap.subject,
            "spent_usd": usd_text(crossing.spent_pusd),
            "projected_usd": usd_text(crossing.projected_pusd),
            "cap_usd": usd_text(cap.limit_pusd),
        }
        common = {
            "run_id": run_id,
            "thread_id": thread_id,
            "scope": cap.scope,
            "subject": cap.subject,
            "spent_usd": str(data["spent_usd"]),
            "cap_usd": str(data["cap_usd"]),
        }
        if crossing.threshold < 100:
            data["threshold"] = crossing.threshold
            events.append(Event("budget_warning", "system", data, run_id, thread_id))
            outbox.add(session, BudgetWarning(threshold=crossing.threshold, **common))
        else:
            data["reason"] = _stop_reason(crossing)
            events.append(Event("budget_exceeded", "system", data, run_id, thread_id))
            outbox.add(session, BudgetExceededEvent(**common))

    # --- the call -------------------------------------------------------------------
    def invoke(
        self,
        bound: Runnable[list[AnyMessage], Any],
        messages: list[AnyMessage],
        config: RunnableConfig,
        *,
        run_id: str,
        thread_id: str,
        workflow: str,
    ) -> AIMessage:
        """Call the model; audit and price every attempt, whether it succeeds or not."""
        collector = AttemptCollector()
        began = time.perf_counter()
        try:
            response = bound.invoke(messages, merge_configs(config, {"callbacks": [collector]}))
        except Exception as exc:
            attempts = collector.attempts or [
                Attempt(False, TokenUsage(), _since(began), f"{type(exc).__name__}: {exc}")
            ]
            self._record(attempts, None, run_id, thread_id, workflow, config)
            raise
        if not isinstance(response, AIMessage):
            response = AIMessage(content=str(getattr(response, "content", response)))
        attempts = collector.attempts or [
            Attempt(True, TokenUsage.of(response.usage_metadata), _since(began))
        ]
        self._record(attempts, response, run_id, thread_id, workflow, config)
        return response

    def _record(
        self,
        attempts: list[Attempt],
        response: AIMessage | None,
        run_id: str,
        thread_id: str,
        workflow: str,
        config: RunnableConfig | None = None,
    ) -> None:
        """Audit and price the attempts, only while this driver still holds the run: a
        driver that lost it (stalled past its lease) appends nothing."""
        spec = self.definition.spec
        prices = self.metering.prices
        priced: list[costs.CallCost] = []
        events: list[Event] = []
        for index, attempt in enumerate(attempts):
            final = response is not None and index == len(attempts) - 1
            cost = prices.cost(self.model_id, attempt.usage) if prices is not None else None
            priced.append(
                costs.CallCost(
                    run_id=run_id,
                    thread_id=thread_id,
                    agent=spec.name,
                    workflow=workflow,
                    model=self.model_id,
                    prompt_version=self.definition.prompt_version,
                    ok=attempt.ok,
                    usage=attempt.usage,
                    cost_pusd=cost,
                )
            )
            data: dict[str, Any] = {
                "agent": spec.name,
                "model": self.model_id,
                "prompt_version": self.definition.prompt_version,
                "input_tokens": attempt.usage.input_tokens,
                "cached_input_tokens": attempt.usage.cached_input_tokens,
                "output_tokens": attempt.usage.output_tokens,
                "latency_ms": attempt.latency_ms,
                "cost_usd": usd_text(cost),
                "tool_calls": [c["name"] for c in response.tool_calls]
                if final and response
                else [],
            }
            if attempt.usage.cache_write_tokens:
                data["cache_write_tokens"] = attempt.usage.cache_write_tokens
            if not attempt.ok:
                data["status"] = "failed"
                data["error"] = attempt.error
            events.append(Event("model_call", spec.name, data, run_id, thread_id))
        if response is not None and not response.tool_calls:
            text = str(response.content)
            events.append(
                Event(
                    "agent_message",
                    spec.name,
                    {"agent": spec.name, "text": text},
                    run_id,
                    thread_id,
                )
            )
        with session_scope(self.engine) as session:
            runs.check(session, config, run_id)
            stored = record_many(session, events)
            for call, event in zip(priced, stored, strict=False):
                costs.add_cost(session, call, event.id, event.ts)


def _since(began: float) -> float:
    return round((time.perf_counter() - began) * 1000, 3)


def _stop_reason(crossing: Crossing) -> str:
    return (
        f"stopped before the next model call: it would take {crossing.cap.describe()} over "
        f"${usd_text(crossing.cap.limit_pusd)} (${usd_text(crossing.spent_pusd)} spent, "
        f"${usd_text(crossing.projected_pusd)} with the next call)"
    )
